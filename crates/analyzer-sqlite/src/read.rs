//! Readers: counts for `/api/stats`, keyset-paginated loads for the in-memory store, and
//! the "rows newer than a watermark" queries for following another writer.

use analyzer_db::time::rfc3339;
use analyzer_db::{
    DbResult, NeighborEdgeRow, NodeRow, ObservationRow, ObserverRow, StoreStats, TransmissionPage,
    TransmissionPageQuery, TransmissionRow, UnixSecs, Watermark,
};
use rusqlite::{Connection, Row, params};

use crate::cells::{int, real, text};
use crate::map_err;

const TX_COLUMNS: &str = "id, hash, raw_hex, first_seen, last_seen, route_type, payload_type, \
     payload_version, decoded_json, channel_hash, scope_name, from_pubkey";

pub(crate) const OBS_COLUMNS: &str = "id, transmission_id, observer_idx, direction, snr, rssi, score, \
     path_json, resolved_path, timestamp";

pub(crate) fn tx_row(r: &Row<'_>) -> rusqlite::Result<TransmissionRow> {
    Ok(TransmissionRow {
        id: r.get(0)?,
        hash: text(r, 1)?.unwrap_or_default(),
        raw_hex: text(r, 2)?.unwrap_or_default(),
        first_seen: text(r, 3)?.unwrap_or_default(),
        last_seen: int(r, 4)?.unwrap_or(0),
        route_type: int(r, 5)?,
        payload_type: int(r, 6)?,
        payload_version: int(r, 7)?,
        decoded_json: text(r, 8)?,
        channel_hash: text(r, 9)?,
        scope_name: text(r, 10)?,
        from_pubkey: text(r, 11)?,
        observations: Vec::new(),
    })
}

pub(crate) fn obs_row(r: &Row<'_>) -> rusqlite::Result<ObservationRow> {
    Ok(ObservationRow {
        id: r.get(0)?,
        transmission_id: r.get(1)?,
        observer_idx: int(r, 2)?,
        direction: text(r, 3)?,
        snr: real(r, 4)?,
        rssi: real(r, 5)?,
        score: int(r, 6)?,
        path_json: text(r, 7)?,
        resolved_path: text(r, 8)?,
        timestamp: int(r, 9)?.unwrap_or(0),
    })
}

fn count(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> DbResult<u64> {
    let n: i64 = conn
        .prepare_cached(sql)
        .map_err(map_err)?
        .query_row(p, |r| r.get(0))
        .map_err(map_err)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) fn stats(conn: &Connection, now: UnixSecs) -> DbResult<StoreStats> {
    let week_ago = rfc3339(now - 7 * 86_400);
    let mut s = StoreStats {
        transmissions: count(conn, "SELECT COUNT(*) FROM transmissions", [])?,
        observations: count(conn, "SELECT COUNT(*) FROM observations", [])?,
        nodes_active_7d: count(
            conn,
            "SELECT COUNT(*) FROM nodes WHERE last_seen >= ?1",
            [&week_ago],
        )?,
        nodes_all_time: count(conn, "SELECT COUNT(*) FROM nodes", [])?,
        observers: count(
            conn,
            "SELECT COUNT(*) FROM observers WHERE inactive IS NULL OR inactive = 0",
            [],
        )?,
        observations_last_hour: count(
            conn,
            "SELECT COUNT(*) FROM observations WHERE timestamp > ?1",
            [now - 3600],
        )?,
        observations_last_24h: count(
            conn,
            "SELECT COUNT(*) FROM observations WHERE timestamp > ?1",
            [now - 86_400],
        )?,
        signature_drops: count(
            conn,
            "SELECT COUNT(*) FROM dropped_packets WHERE reason = 'invalid signature'",
            [],
        )?,
        ..StoreStats::default()
    };
    let mut stmt = conn
        .prepare_cached("SELECT role, COUNT(*) FROM nodes GROUP BY role")
        .map_err(map_err)?;
    let mut rows = stmt.query([]).map_err(map_err)?;
    while let Some(row) = rows.next().map_err(map_err)? {
        let role: Option<String> = row.get(0).map_err(map_err)?;
        let n = u64::try_from(row.get::<_, i64>(1).map_err(map_err)?).unwrap_or(0);
        match role.as_deref() {
            Some("repeater") => s.repeaters = n,
            Some("room") => s.rooms = n,
            Some("companion") => s.companions = n,
            Some("sensor") => s.sensors = n,
            _ => {}
        }
    }
    Ok(s)
}

pub(crate) fn watermark(conn: &Connection) -> DbResult<Watermark> {
    let tx: i64 = conn
        .query_row("SELECT COALESCE(MAX(id), 0) FROM transmissions", [], |r| {
            r.get(0)
        })
        .map_err(map_err)?;
    let obs: i64 = conn
        .query_row("SELECT COALESCE(MAX(id), 0) FROM observations", [], |r| {
            r.get(0)
        })
        .map_err(map_err)?;
    Ok(Watermark {
        transmission_id: tx,
        observation_id: obs,
    })
}

/// Attaches observations of transmissions with ids in `[lo, hi]` to `txs` (any order).
fn attach_observations(conn: &Connection, txs: &mut [TransmissionRow]) -> DbResult<()> {
    let (Some(lo), Some(hi)) = (
        txs.iter().map(|t| t.id).min(),
        txs.iter().map(|t| t.id).max(),
    ) else {
        return Ok(());
    };
    let mut index: Vec<(i64, usize)> = txs.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    index.sort_unstable();
    let sql = format!(
        "SELECT {OBS_COLUMNS} FROM observations WHERE transmission_id BETWEEN ?1 AND ?2
         ORDER BY transmission_id, timestamp DESC, id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let mut rows = stmt.query(params![lo, hi]).map_err(map_err)?;
    while let Some(row) = rows.next().map_err(map_err)? {
        let obs = obs_row(row).map_err(map_err)?;
        if let Ok(pos) = index.binary_search_by_key(&obs.transmission_id, |(id, _)| *id) {
            txs[index[pos].1].observations.push(obs);
        }
    }
    Ok(())
}

/// The bind values of the `last_seen` window test both page loads use: `last_seen >= ?`,
/// or for rows never backfilled (`last_seen = 0`) `first_seen >= ?` as RFC 3339 text.
/// `None` (no window) admits every row.
fn window_bounds(min_last_seen: Option<UnixSecs>) -> (i64, String) {
    match min_last_seen {
        Some(t) => (t, rfc3339(t)),
        None => (i64::MIN, String::new()),
    }
}

pub(crate) fn load_transmissions(
    conn: &Connection,
    q: &TransmissionPageQuery,
) -> DbResult<TransmissionPage> {
    // One read transaction: the page, its cursor and its observations are one snapshot.
    let snapshot = conn.unchecked_transaction().map_err(map_err)?;
    let conn: &Connection = &snapshot;
    let before = q.before_id.unwrap_or(i64::MAX);
    let scan = i64::try_from(q.scan_limit.max(1)).unwrap_or(i64::MAX);
    // The page covers the id range `[lowest, top]`, `scan` ids wide below the cursor. Both
    // ends are found by seeks (no row is read for them), and the rows are read in
    // ascending id order: a forward walk over the table's pages is what the kernel's
    // read-ahead serves, where a descending one waits for each page on a cold cache
    // (a hot load over a cold 2.5 GB file spent 4 s in descending scans of chunks that
    // held nothing of the window).
    let top: Option<i64> = conn
        .prepare_cached("SELECT MAX(id) FROM transmissions WHERE id < ?1")
        .map_err(map_err)?
        .query_row(params![before], |r| r.get(0))
        .map_err(map_err)?;
    let Some(top) = top else {
        return Ok(TransmissionPage::default());
    };
    let lowest = top.saturating_sub(scan - 1);
    let (min_last_seen, min_first_seen) = window_bounds(q.min_last_seen);
    let sql = format!(
        "SELECT {TX_COLUMNS} FROM transmissions WHERE id >= ?1 AND id <= ?2
           AND (last_seen >= ?3 OR (last_seen = 0 AND first_seen >= ?4))
         ORDER BY id"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let mut txs = stmt
        .query_map(params![lowest, top, min_last_seen, min_first_seen], tx_row)
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    txs.reverse();
    attach_observations(conn, &mut txs)?;
    let more: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM transmissions WHERE id < ?1)",
            [lowest],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    Ok(TransmissionPage {
        transmissions: txs,
        next_before_id: more.then_some(lowest),
    })
}

/// Ids below `below_id` of transmissions with an observation at or after `since`, newest
/// first. The query is a plain range of the timestamp index (the window's observations,
/// whose pages a hot load has just read); with `DISTINCT` or the id bound in SQL the
/// planner walks the whole `(transmission_id, timestamp)` index instead (2.8 s on a cold
/// 2.5 GB file against 0.65 s).
pub(crate) fn transmission_ids_heard_since(
    conn: &Connection,
    below_id: i64,
    since: UnixSecs,
) -> DbResult<Vec<i64>> {
    let mut stmt = conn
        .prepare_cached("SELECT transmission_id FROM observations WHERE timestamp >= ?1")
        .map_err(map_err)?;
    let mut rows = stmt.query(params![since]).map_err(map_err)?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next().map_err(map_err)? {
        if let Some(id) = row.get::<_, Option<i64>>(0).map_err(map_err)?
            && id < below_id
        {
            ids.push(id);
        }
    }
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.dedup();
    Ok(ids)
}

/// Most ids bound into one `IN (…)` list.
const IDS_PER_QUERY: usize = 500;

/// The transmissions with these ids inside the `last_seen` window, newest id first, each
/// with all its observations; one read transaction.
pub(crate) fn load_transmissions_by_ids(
    conn: &Connection,
    ids: &[i64],
    min_last_seen: Option<UnixSecs>,
) -> DbResult<Vec<TransmissionRow>> {
    let snapshot = conn.unchecked_transaction().map_err(map_err)?;
    let conn: &Connection = &snapshot;
    let (min_last_seen, min_first_seen) = window_bounds(min_last_seen);
    let mut out = Vec::with_capacity(ids.len());
    for part in ids.chunks(IDS_PER_QUERY) {
        let list = vec!["?"; part.len()].join(",");
        let sql = format!(
            "SELECT {TX_COLUMNS} FROM transmissions WHERE id IN ({list})
               AND (last_seen >= ? OR (last_seen = 0 AND first_seen >= ?))"
        );
        let mut values: Vec<rusqlite::types::Value> = part.iter().map(|&id| id.into()).collect();
        values.push(min_last_seen.into());
        values.push(min_first_seen.clone().into());
        let mut stmt = conn.prepare(&sql).map_err(map_err)?;
        let mut txs = stmt
            .query_map(rusqlite::params_from_iter(values), tx_row)
            .map_err(map_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err)?;
        attach_observations_of(conn, &mut txs)?;
        out.append(&mut txs);
    }
    out.sort_unstable_by_key(|t| std::cmp::Reverse(t.id));
    Ok(out)
}

/// Attaches the observations of `txs` looked up by id (for scattered ids, where the range
/// of [`attach_observations`] would read everything in between).
fn attach_observations_of(conn: &Connection, txs: &mut [TransmissionRow]) -> DbResult<()> {
    let sql = format!(
        "SELECT {OBS_COLUMNS} FROM observations WHERE transmission_id = ?1
         ORDER BY timestamp DESC, id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    for tx in txs.iter_mut() {
        let rows = stmt
            .query_map([tx.id], obs_row)
            .map_err(map_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err)?;
        tx.observations = rows;
    }
    Ok(())
}

pub(crate) fn transmissions_after(
    conn: &Connection,
    after_id: i64,
    limit: usize,
) -> DbResult<Vec<TransmissionRow>> {
    let sql = format!("SELECT {TX_COLUMNS} FROM transmissions WHERE id > ?1 ORDER BY id LIMIT ?2");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let snapshot = conn.unchecked_transaction().map_err(map_err)?;
    let conn: &Connection = &snapshot;
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let mut txs = stmt
        .query_map(params![after_id, limit], tx_row)
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    attach_observations(conn, &mut txs)?;
    Ok(txs)
}

pub(crate) fn observations_after(
    conn: &Connection,
    after_id: i64,
    limit: usize,
) -> DbResult<Vec<ObservationRow>> {
    let sql = format!("SELECT {OBS_COLUMNS} FROM observations WHERE id > ?1 ORDER BY id LIMIT ?2");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let rows = stmt
        .query_map(params![after_id, limit], obs_row)
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    Ok(rows)
}

pub(crate) fn transmission_by_hash(conn: &Connection, hash: &str) -> DbResult<TransmissionRow> {
    let sql = format!("SELECT {TX_COLUMNS} FROM transmissions WHERE hash = ?1");
    let mut tx = conn
        .prepare_cached(&sql)
        .map_err(map_err)?
        .query_row([hash.to_ascii_lowercase()], tx_row)
        .map_err(map_err)?;
    let sql = format!(
        "SELECT {OBS_COLUMNS} FROM observations WHERE transmission_id = ?1
         ORDER BY timestamp DESC, id DESC"
    );
    tx.observations = conn
        .prepare_cached(&sql)
        .map_err(map_err)?
        .query_map([tx.id], obs_row)
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    Ok(tx)
}

pub(crate) fn observers(conn: &Connection) -> DbResult<Vec<ObserverRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT rowid, id, name, iata, last_seen, first_seen, packet_count, model, firmware,
                    client_version, radio, battery_mv, uptime_secs, noise_floor, inactive,
                    last_packet_at, clock_skew_seconds, clock_skew_count_24h,
                    clock_last_naive_at, can_relay, can_relay_seen
             FROM observers ORDER BY rowid",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(ObserverRow {
                idx: r.get(0)?,
                id: text(r, 1)?.unwrap_or_default(),
                name: text(r, 2)?,
                iata: text(r, 3)?,
                last_seen: text(r, 4)?,
                first_seen: text(r, 5)?,
                packet_count: int(r, 6)?.unwrap_or(0),
                model: text(r, 7)?,
                firmware: text(r, 8)?,
                client_version: text(r, 9)?,
                radio: text(r, 10)?,
                battery_mv: int(r, 11)?,
                uptime_secs: int(r, 12)?,
                noise_floor: real(r, 13)?,
                inactive: int(r, 14)?.unwrap_or(0) != 0,
                last_packet_at: text(r, 15)?,
                clock_skew_seconds: int(r, 16)?,
                clock_skew_count_24h: int(r, 17)?.unwrap_or(0),
                clock_last_naive_at: text(r, 18)?,
                can_relay: int(r, 19)?.unwrap_or(1) != 0,
                can_relay_seen: int(r, 20)?.unwrap_or(0) != 0,
            })
        })
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    Ok(rows)
}

pub(crate) fn nodes(conn: &Connection) -> DbResult<Vec<NodeRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT public_key, name, role, lat, lon, last_seen, first_seen, advert_count,
                    battery_mv, temperature_c, foreign_advert, default_scope, multibyte_sup,
                    multibyte_evidence
             FROM nodes ORDER BY public_key",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(NodeRow {
                public_key: text(r, 0)?.unwrap_or_default(),
                name: text(r, 1)?,
                role: text(r, 2)?,
                lat: real(r, 3)?,
                lon: real(r, 4)?,
                last_seen: text(r, 5)?,
                first_seen: text(r, 6)?,
                advert_count: int(r, 7)?.unwrap_or(0),
                battery_mv: int(r, 8)?,
                temperature_c: real(r, 9)?,
                foreign_advert: int(r, 10)?.unwrap_or(0) != 0,
                default_scope: text(r, 11)?,
                multibyte_sup: int(r, 12)?.unwrap_or(0),
                multibyte_evidence: text(r, 13)?,
            })
        })
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    Ok(rows)
}

pub(crate) fn neighbor_edges(conn: &Connection) -> DbResult<Vec<NeighborEdgeRow>> {
    let mut stmt = conn
        .prepare_cached("SELECT node_a, node_b, count, last_seen FROM neighbor_edges")
        .map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(NeighborEdgeRow {
                node_a: text(r, 0)?.unwrap_or_default(),
                node_b: text(r, 1)?.unwrap_or_default(),
                count: int(r, 2)?.unwrap_or(1),
                last_seen: text(r, 3)?,
            })
        })
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    Ok(rows)
}
