//! Reads behind the channel endpoints when the server's memory does not hold every
//! transmission: per-channel counts and newest messages (`/api/channels`).

use analyzer_db::{ChannelSummaryRow, DbResult};
use rusqlite::types::Value;
use rusqlite::{Row, params_from_iter};

use crate::cells::text;
use crate::map_err;

/// GRP_TXT channels with their message count and newest (highest id) message, in no
/// particular order. The grouping uses the partial index on `channel_hash`.
pub(crate) fn channel_summaries(
    conn: &rusqlite::Connection,
    observers: Option<&[i64]>,
) -> DbResult<Vec<ChannelSummaryRow>> {
    let (region, values): (String, Vec<Value>) = match observers {
        None => (String::new(), Vec::new()),
        Some([]) => return Ok(Vec::new()),
        Some(keys) => (
            format!(
                " AND EXISTS (SELECT 1 FROM observations o WHERE o.transmission_id = t.id \
                 AND o.observer_idx IN ({}))",
                vec!["?"; keys.len()].join(",")
            ),
            keys.iter().map(|&k| Value::Integer(k)).collect(),
        ),
    };
    let sql = format!(
        "SELECT g.channel_hash, g.n, last.first_seen, last.decoded_json
         FROM (SELECT t.channel_hash, COUNT(*) AS n, MAX(t.id) AS last_id
               FROM transmissions t
               WHERE t.payload_type = 5 AND t.channel_hash IS NOT NULL{region}
               GROUP BY t.channel_hash) g
         JOIN transmissions last ON last.id = g.last_id"
    );
    let mut stmt = conn.prepare(&sql).map_err(map_err)?;
    let rows = stmt
        .query_map(params_from_iter(values.iter()), summary_row)
        .map_err(map_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
}

fn summary_row(r: &Row<'_>) -> rusqlite::Result<ChannelSummaryRow> {
    Ok(ChannelSummaryRow {
        channel: text(r, 0)?.unwrap_or_default(),
        message_count: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        last_first_seen: text(r, 2)?.unwrap_or_default(),
        last_decoded_json: text(r, 3)?,
    })
}
