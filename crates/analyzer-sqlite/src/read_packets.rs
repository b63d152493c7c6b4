//! The packet list answered from the database (`/api/packets` when the query reaches
//! before the server's in-memory window) and lookups of one transmission by id or by
//! observation id (`/api/packets/{id}` when it is not in memory).

use analyzer_db::time::rfc3339;
use analyzer_db::{DbResult, TransmissionRow, TxFilter, TxListPage, TxListQuery, TxSort};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use crate::map_err;
use crate::read::{OBS_COLUMNS, obs_row, tx_row};

const TX_COLUMNS: &str = "t.id, t.hash, t.raw_hex, t.first_seen, t.last_seen, t.route_type, \
     t.payload_type, t.payload_version, t.decoded_json, t.channel_hash, t.scope_name, \
     t.from_pubkey";

/// Most values one statement binds (SQLite's default limit is 32766).
const MAX_BOUND: usize = 30_000;

/// A WHERE clause under construction with its bound values.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    values: Vec<Value>,
    /// Set when a predicate can match nothing (an empty key list).
    never: bool,
}

impl Where {
    fn push(&mut self, clause: String, values: impl IntoIterator<Item = Value>) {
        self.clauses.push(clause);
        self.values.extend(values);
    }

    fn placeholders(n: usize) -> String {
        vec!["?"; n].join(",")
    }

    /// `EXISTS` an observation of `t` from one of `keys`.
    fn observed_by(&mut self, keys: &[i64]) {
        if keys.is_empty() {
            self.never = true;
            return;
        }
        self.push(
            format!(
                "EXISTS (SELECT 1 FROM observations o WHERE o.transmission_id = t.id \
                 AND o.observer_idx IN ({}))",
                Self::placeholders(keys.len())
            ),
            keys.iter().map(|&k| Value::Integer(k)),
        );
    }

    fn build(filter: &TxFilter) -> Self {
        let mut w = Self::default();
        if let Some(t) = filter.payload_type {
            w.push("t.payload_type = ?".into(), [Value::Integer(t)]);
        }
        if let Some(t) = filter.route_type {
            w.push("t.route_type = ?".into(), [Value::Integer(t)]);
        }
        if let Some(h) = &filter.hash {
            w.push("t.hash = ?".into(), [Value::Text(h.to_ascii_lowercase())]);
        }
        if let Some(keys) = &filter.observers {
            w.observed_by(keys);
        }
        if let Some(keys) = &filter.region_observers {
            w.observed_by(keys);
        }
        if let Some(c) = &filter.channel {
            w.push("t.channel_hash = ?".into(), [Value::Text(c.clone())]);
        }
        let (gt, lt) = if filter.inclusive_bounds {
            (">=", "<=")
        } else {
            (">", "<")
        };
        if let Some(s) = filter.since {
            w.push(format!("t.first_seen {gt} ?"), [Value::Text(rfc3339(s))]);
        }
        if let Some(u) = filter.until {
            w.push(format!("t.first_seen {lt} ?"), [Value::Text(rfc3339(u))]);
        }
        if let Some(keys) = &filter.originators {
            if keys.is_empty() {
                w.never = true;
            } else {
                w.push(
                    format!("t.from_pubkey IN ({})", Self::placeholders(keys.len())),
                    keys.iter().map(|k| Value::Text(k.to_ascii_lowercase())),
                );
            }
        }
        if let Some(nodes) = &filter.nodes {
            w.nodes(nodes);
        }
        if w.values.len() > MAX_BOUND {
            // Too many keys for one statement: refuse rather than fail in the driver.
            w.never = true;
        }
        w
    }

    /// ADVERTs from one of `keys`, or an observation path holding a hop that is a prefix
    /// of one of them (hops are stored upper case; `LIKE` ignores ASCII case).
    fn nodes(&mut self, keys: &[String]) {
        let keys: Vec<String> = keys
            .iter()
            .map(|k| k.trim().to_ascii_lowercase())
            .filter(|k| !k.is_empty())
            .collect();
        if keys.is_empty() {
            self.never = true;
            return;
        }
        let mut hops: Vec<String> = keys
            .iter()
            .filter(|k| k.bytes().all(|b| b.is_ascii_hexdigit()))
            .flat_map(|k| (1..=k.len().min(8) / 2).filter_map(|n| k.get(..2 * n)))
            .map(|h| format!("%\"{h}\"%"))
            .collect();
        hops.sort_unstable();
        hops.dedup();
        let mut clause = format!("(t.from_pubkey IN ({})", Self::placeholders(keys.len()));
        let mut values: Vec<Value> = keys.into_iter().map(Value::Text).collect();
        if !hops.is_empty() {
            let likes = vec!["o.path_json LIKE ?"; hops.len()].join(" OR ");
            clause.push_str(&format!(
                " OR EXISTS (SELECT 1 FROM observations o WHERE o.transmission_id = t.id \
                 AND ({likes}))"
            ));
            values.extend(hops.into_iter().map(Value::Text));
        }
        clause.push(')');
        self.push(clause, values);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

pub(crate) fn query_transmissions(conn: &Connection, q: &TxListQuery) -> DbResult<TxListPage> {
    let w = Where::build(&q.filter);
    if w.never {
        return Ok(TxListPage::default());
    }
    // One read transaction: the count, the page and its observations are one snapshot.
    let snapshot = conn.unchecked_transaction().map_err(map_err)?;
    let conn: &Connection = &snapshot;
    let where_sql = w.sql();
    let total: i64 = conn
        .prepare(&format!("SELECT COUNT(*) FROM transmissions t{where_sql}"))
        .map_err(map_err)?
        .query_row(params_from_iter(w.values.iter()), |r| r.get(0))
        .map_err(map_err)?;
    let order = match q.sort {
        TxSort::NewestFirst => "t.id DESC",
        TxSort::OldestFirst => "t.id ASC",
        TxSort::LatestHeardFirst => "t.last_seen DESC, t.id DESC",
    };
    let mut values = w.values.clone();
    values.push(Value::Integer(i64::try_from(q.limit).unwrap_or(i64::MAX)));
    values.push(Value::Integer(i64::try_from(q.offset).unwrap_or(i64::MAX)));
    let mut transmissions = conn
        .prepare(&format!(
            "SELECT {TX_COLUMNS} FROM transmissions t{where_sql} ORDER BY {order} \
             LIMIT ? OFFSET ?"
        ))
        .map_err(map_err)?
        .query_map(params_from_iter(values.iter()), tx_row)
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    attach_observations(conn, &mut transmissions)?;
    Ok(TxListPage {
        total: u64::try_from(total).unwrap_or(0),
        transmissions,
    })
}

pub(crate) fn transmission_by_id(conn: &Connection, id: i64) -> DbResult<TransmissionRow> {
    let snapshot = conn.unchecked_transaction().map_err(map_err)?;
    let conn: &Connection = &snapshot;
    let tx = conn
        .prepare_cached(&format!(
            "SELECT {TX_COLUMNS} FROM transmissions t WHERE t.id = ?1"
        ))
        .map_err(map_err)?
        .query_row([id], tx_row)
        .map_err(map_err)?;
    let mut txs = vec![tx];
    attach_observations(conn, &mut txs)?;
    Ok(txs.remove(0))
}

pub(crate) fn transmission_id_of_observation(
    conn: &Connection,
    observation_id: i64,
) -> DbResult<i64> {
    conn.prepare_cached("SELECT transmission_id FROM observations WHERE id = ?1")
        .map_err(map_err)?
        .query_row([observation_id], |r| r.get(0))
        .map_err(map_err)
}

/// Attaches every observation of `txs` (newest first within a transmission).
fn attach_observations(conn: &Connection, txs: &mut [TransmissionRow]) -> DbResult<()> {
    if txs.is_empty() {
        return Ok(());
    }
    let mut index: Vec<(i64, usize)> = txs.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    index.sort_unstable();
    for ids in index.chunks(1000) {
        let sql = format!(
            "SELECT {OBS_COLUMNS} FROM observations WHERE transmission_id IN ({})
             ORDER BY transmission_id, timestamp DESC, id DESC",
            Where::placeholders(ids.len())
        );
        let mut stmt = conn.prepare(&sql).map_err(map_err)?;
        let mut rows = stmt
            .query(params_from_iter(ids.iter().map(|(id, _)| *id)))
            .map_err(map_err)?;
        while let Some(row) = rows.next().map_err(map_err)? {
            let obs = obs_row(row).map_err(map_err)?;
            if let Ok(pos) = index.binary_search_by_key(&obs.transmission_id, |(id, _)| *id) {
                txs[index[pos].1].observations.push(obs);
            }
        }
    }
    Ok(())
}
