//! Retention (spec ingest.md §7) in small steps, and incremental vacuum.
//!
//! Each [`prune_step`] is one short transaction that touches at most `max_rows` rows per
//! job, so the writer can run batches between steps. Differences from the reference:
//!
//! * packet retention is keyed on `transmissions.last_seen` (newest observation), not
//!   `first_seen`: a packet heard again recently is kept (rows never backfilled, with
//!   `last_seen = 0`, fall back to `first_seen`);
//! * dropped packets are compared as times (`datetime()`), not as mixed-format strings;
//! * observers that only ever sent a retained status (no `last_seen`) age out by
//!   `first_seen`.

use analyzer_db::time::rfc3339;
use analyzer_db::{DbResult, PruneReport, RetentionPolicy, UnixSecs, VacuumReport};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use crate::map_err;
use crate::schema::NODE_COLUMN_LIST;

/// Where the current packet-retention pass is in the id space.
#[derive(Debug, Default)]
pub(crate) struct PruneState {
    /// Last transmission id examined by the pass in progress (0 = start a new pass).
    packet_cursor: i64,
}

/// Transmission ids examined per step (cheap: two integer columns by rowid).
const PACKET_SCAN_IDS: i64 = 20_000;

const DAY: i64 = 86_400;

pub(crate) fn prune_step(
    conn: &mut Connection,
    state: &mut PruneState,
    policy: &RetentionPolicy,
    now: UnixSecs,
    max_rows: usize,
) -> DbResult<PruneReport> {
    let limit = i64::try_from(max_rows.max(1)).unwrap_or(i64::MAX);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let mut report = PruneReport::default();
    let mut more = false;
    let cutoff = |days: u32| now - i64::from(days) * DAY;

    if let Some(days) = policy.packet_days {
        more |= prune_packets(&tx, state, cutoff(days), limit, &mut report).map_err(map_err)?;
    }
    if let Some(days) = policy.node_days {
        let c = rfc3339(cutoff(days));
        let keys: Vec<String> = tx
            .prepare_cached("SELECT public_key FROM nodes WHERE last_seen < ?1 LIMIT ?2")
            .and_then(|mut s| {
                s.query_map(params![c, limit], |r| r.get(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(map_err)?;
        let copy = format!(
            "INSERT OR REPLACE INTO inactive_nodes ({NODE_COLUMN_LIST})
             SELECT {NODE_COLUMN_LIST} FROM nodes WHERE public_key = ?1"
        );
        for key in &keys {
            tx.prepare_cached(&copy)
                .and_then(|mut s| s.execute([key]))
                .map_err(map_err)?;
            tx.prepare_cached("DELETE FROM nodes WHERE public_key = ?1")
                .and_then(|mut s| s.execute([key]))
                .map_err(map_err)?;
        }
        report.nodes_retired = keys.len() as u64;
        more |= keys.len() as i64 >= limit;
    }
    if let Some(days) = policy.observer_days {
        let c = rfc3339(cutoff(days));
        let n = tx
            .execute(
                "UPDATE observers SET inactive = 1 WHERE rowid IN (
                     SELECT rowid FROM observers
                     WHERE (inactive IS NULL OR inactive = 0)
                       AND (last_seen < ?1 OR (last_seen IS NULL AND first_seen < ?1))
                     LIMIT ?2)",
                params![c, limit],
            )
            .map_err(map_err)?;
        report.observers_retired = n as u64;
        let m = tx
            .execute(
                "DELETE FROM observer_metrics WHERE rowid IN (
                     SELECT m.rowid FROM observers o
                     JOIN observer_metrics m ON m.observer_id = o.id
                     WHERE o.inactive = 1 LIMIT ?1)",
                [limit],
            )
            .map_err(map_err)?;
        report.metrics += m as u64;
        more |= n as i64 >= limit || m as i64 >= limit;
    }
    if let Some(days) = policy.metrics_days {
        let c = cutoff(days);
        let m = tx
            .execute(
                "DELETE FROM observer_metrics WHERE rowid IN (
                     SELECT rowid FROM observer_metrics WHERE timestamp < ?1 LIMIT ?2)",
                params![rfc3339(c), limit],
            )
            .map_err(map_err)?;
        let d = tx
            .execute(
                "DELETE FROM dropped_packets WHERE id IN (
                     SELECT id FROM dropped_packets
                     WHERE datetime(dropped_at) < datetime(?1, 'unixepoch') LIMIT ?2)",
                params![c, limit],
            )
            .map_err(map_err)?;
        report.metrics += m as u64;
        report.dropped_packets = d as u64;
        more |= m as i64 >= limit || d as i64 >= limit;
    }
    if let Some(days) = policy.client_rx_days {
        let c = rfc3339(cutoff(days));
        let r = tx
            .execute(
                "DELETE FROM client_receptions WHERE id IN (
                     SELECT id FROM client_receptions WHERE rx_at < ?1 LIMIT ?2)",
                params![c, limit],
            )
            .map_err(map_err)?;
        let o = tx
            .execute(
                "DELETE FROM client_observers WHERE rowid IN (
                     SELECT rowid FROM client_observers WHERE last_seen < ?1 LIMIT ?2)",
                params![c, limit],
            )
            .map_err(map_err)?;
        report.client_rx = (r + o) as u64;
        more |= r as i64 >= limit || o as i64 >= limit;
    }
    if let Some(days) = policy.neighbor_edge_days {
        let c = rfc3339(cutoff(days));
        let e = tx
            .execute(
                "DELETE FROM neighbor_edges WHERE rowid IN (
                     SELECT rowid FROM neighbor_edges WHERE last_seen < ?1 LIMIT ?2)",
                params![c, limit],
            )
            .map_err(map_err)?;
        report.neighbor_edges = e as u64;
        more |= e as i64 >= limit;
    }
    tx.commit().map_err(map_err)?;
    report.more = more;
    Ok(report)
}

/// Walks the next slice of transmission ids and deletes at most `limit` expired
/// transmissions with their observations. Returns true while the pass is unfinished.
fn prune_packets(
    tx: &Transaction<'_>,
    state: &mut PruneState,
    cutoff: UnixSecs,
    limit: i64,
    report: &mut PruneReport,
) -> rusqlite::Result<bool> {
    let cutoff_text = rfc3339(cutoff);
    let mut stmt = tx.prepare_cached(
        "SELECT id, (last_seen > 0 AND last_seen < ?2) OR (last_seen = 0 AND first_seen < ?3)
         FROM transmissions WHERE id > ?1 ORDER BY id LIMIT ?4",
    )?;
    let mut rows = stmt.query(params![
        state.packet_cursor,
        cutoff,
        cutoff_text,
        PACKET_SCAN_IDS
    ])?;
    let mut doomed = Vec::new();
    let mut last = None;
    let mut scanned = 0i64;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        scanned += 1;
        last = Some(id);
        if row.get::<_, bool>(1)? {
            doomed.push(id);
            if doomed.len() as i64 >= limit {
                break;
            }
        }
    }
    drop(rows);
    drop(stmt);
    for id in &doomed {
        report.observations += tx
            .prepare_cached("DELETE FROM observations WHERE transmission_id = ?1")?
            .execute([id])? as u64;
        report.transmissions += tx
            .prepare_cached("DELETE FROM transmissions WHERE id = ?1")?
            .execute([id])? as u64;
    }
    let finished = last.is_none() || (scanned < PACKET_SCAN_IDS && (doomed.len() as i64) < limit);
    state.packet_cursor = if finished { 0 } else { last.unwrap_or(0) };
    Ok(!finished)
}

pub(crate) fn incremental_vacuum(conn: &Connection, max_pages: u32) -> DbResult<VacuumReport> {
    let free = |c: &Connection| -> DbResult<u64> {
        let n: i64 = c
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .map_err(map_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(map_err)?;
    let before = free(conn)?;
    if max_pages > 0 && before > 0 {
        // The pragma frees pages as it is stepped: run it to completion.
        let mut stmt = conn
            .prepare(&format!("PRAGMA incremental_vacuum({max_pages})"))
            .map_err(map_err)?;
        let mut rows = stmt.query([]).map_err(map_err)?;
        while rows.next().map_err(map_err)?.is_some() {}
    }
    Ok(VacuumReport {
        free_pages_before: before,
        free_pages_after: free(conn)?,
        page_size: u64::try_from(page_size).unwrap_or(0),
    })
}
