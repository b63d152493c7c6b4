//! Reads behind the observer endpoints: `observer_metrics` samples
//! (`/api/observers/{id}/metrics`, `/api/observers/metrics/summary`).

use analyzer_db::time::rfc3339;
use analyzer_db::{DbResult, ObserverMetricRow, UnixSecs};
use rusqlite::{Connection, Row};

use crate::cells::{self, int, text};
use crate::map_err;

const COLUMNS: &str = "observer_id, timestamp, noise_floor, tx_air_secs, rx_air_secs, \
     recv_errors, battery_mv, packets_sent, packets_recv";

/// `observer_metrics` rows in `[since, until]`, oldest first, of one observer or of all
/// (then by observer id). Times are RFC3339 text in the table, compared as strings, which
/// is correct because the writer always uses the same `YYYY-MM-DDTHH:MM:SSZ` shape.
pub(crate) fn observer_metrics(
    conn: &Connection,
    observer_id: Option<&str>,
    since: UnixSecs,
    until: Option<UnixSecs>,
) -> DbResult<Vec<ObserverMetricRow>> {
    let since = rfc3339(since);
    // No upper bound: the largest string any RFC3339 time sorts below.
    let until = until.map_or_else(|| "9".to_owned(), rfc3339);
    let sql = match observer_id {
        Some(_) => format!(
            "SELECT {COLUMNS} FROM observer_metrics
             WHERE observer_id = ?3 AND timestamp >= ?1 AND timestamp <= ?2
             ORDER BY timestamp"
        ),
        None => format!(
            "SELECT {COLUMNS} FROM observer_metrics
             WHERE timestamp >= ?1 AND timestamp <= ?2
             ORDER BY observer_id, timestamp"
        ),
    };
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let rows = match observer_id {
        Some(id) => stmt.query_map(rusqlite::params![since, until, id], metric_row),
        None => stmt.query_map(rusqlite::params![since, until], metric_row),
    }
    .map_err(map_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
}

fn metric_row(r: &Row<'_>) -> rusqlite::Result<ObserverMetricRow> {
    Ok(ObserverMetricRow {
        observer_id: text(r, 0)?.unwrap_or_default(),
        timestamp: text(r, 1)?.unwrap_or_default(),
        noise_floor: real(r, 2)?,
        tx_air_secs: int(r, 3)?,
        rx_air_secs: int(r, 4)?,
        recv_errors: int(r, 5)?,
        battery_mv: int(r, 6)?,
        packets_sent: int(r, 7)?,
        packets_recv: int(r, 8)?,
    })
}

/// A finite float of any numeric storage class or numeric text.
fn real(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<f64>> {
    Ok(cells::real(r, i)?.filter(|f| f.is_finite()))
}
