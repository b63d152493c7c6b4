//! The batched writer: one `IMMEDIATE` transaction per [`WriteBatch`], cached prepared
//! statements, and the reference's per-message writes (spec ingest.md §4.6–§4.11) with its
//! known defects fixed:
//!
//! * the observer row is upserted *before* its observation, so the first packet of a new
//!   observer is linked to it (reference: `observer_idx = NULL`);
//! * empty names and regions never overwrite stored ones (`NULLIF` before `COALESCE`);
//! * retained status messages update metadata only: no `last_seen`, no re-activation, no
//!   packet count, no metrics sample;
//! * a status without any metric writes no all-NULL `observer_metrics` row;
//! * a node that retention moved to `inactive_nodes` is moved back with its history
//!   (first_seen, advert_count) instead of starting a second, fresh row.
//!
//! `observations.raw_hex` is stored only when it differs from the transmission's `raw_hex`
//! (it differs when the path differs); `packets_v` falls back to the transmission's value,
//! so readers see the same text while the file stays much smaller.

use analyzer_db::time::{parse_time, rfc3339, sqlite_datetime};
use analyzer_db::{
    BatchOutcome, ClientReception, ClockSkewEvent, DbResult, DroppedPacket, ObservationWrite,
    ObserverStatus, PacketObservation, PacketWrite, RecordKind, Rejected, UnixSecs, WriteBatch,
    WriteCounters,
};
use std::collections::HashMap;

use analyzer_db::{ContentHash, NeighborEdge};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::map_err;

const LOOKUP_TX: &str = "SELECT id, first_seen, last_seen FROM transmissions WHERE hash = ?1";

const INSERT_TX: &str = "INSERT INTO transmissions (raw_hex, hash, first_seen, route_type,
        payload_type, payload_version, decoded_json, channel_hash, scope_name, from_pubkey,
        last_seen)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

const UPDATE_TX_FIRST_SEEN: &str = "UPDATE transmissions SET first_seen = ?2 WHERE id = ?1";

const BUMP_TX_LAST_SEEN: &str =
    "UPDATE transmissions SET last_seen = ?2 WHERE id = ?1 AND last_seen < ?2";

// Observers are touched with UPDATE first and INSERT only when absent: an upsert on an
// AUTOINCREMENT table consumes a sequence number even when it ends up updating, which
// would make observer keys grow with every packet.
const TOUCH_OBSERVER_PACKET: &str = "UPDATE observers SET
        name = COALESCE(NULLIF(?2, ''), name),
        iata = COALESCE(NULLIF(upper(trim(?3)), ''), iata),
        last_seen = ?4,
        last_packet_at = ?4,
        packet_count = COALESCE(packet_count, 0) + 1,
        inactive = 0
    WHERE id = ?1
    RETURNING rowid";

const INSERT_OBSERVER_PACKET: &str = "INSERT INTO observers (id, name, iata, first_seen,
        last_seen, last_packet_at, packet_count, inactive)
    VALUES (?1, NULLIF(?2, ''), NULLIF(upper(trim(?3)), ''), ?4, ?4, ?4, 1, 0)
    RETURNING rowid";

const UPSERT_OBSERVATION: &str = "INSERT INTO observations (transmission_id, observer_idx,
        direction, snr, rssi, score, path_json, timestamp, raw_hex, resolved_path)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
            NULLIF(?9, (SELECT raw_hex FROM transmissions WHERE id = ?1)), ?10)
    ON CONFLICT(transmission_id, observer_idx, COALESCE(path_json, '')) DO UPDATE SET
        snr = COALESCE(excluded.snr, snr),
        rssi = COALESCE(excluded.rssi, rssi),
        score = COALESCE(excluded.score, score),
        raw_hex = COALESCE(excluded.raw_hex, raw_hex),
        resolved_path = COALESCE(excluded.resolved_path, resolved_path)
    RETURNING id";

const RESTORE_NODE: &str = "INSERT OR IGNORE INTO nodes (public_key, name, role, lat, lon,
        last_seen, first_seen, advert_count, battery_mv, temperature_c, foreign_advert,
        default_scope, multibyte_sup, multibyte_evidence)
    SELECT public_key, name, role, lat, lon, last_seen, first_seen, advert_count, battery_mv,
        temperature_c, foreign_advert, default_scope, multibyte_sup, multibyte_evidence
    FROM inactive_nodes WHERE public_key = ?1";

const DELETE_INACTIVE_NODE: &str = "DELETE FROM inactive_nodes WHERE public_key = ?1";

const UPSERT_NODE: &str = "INSERT INTO nodes (public_key, name, role, lat, lon, last_seen,
        first_seen, advert_count, battery_mv, temperature_c, foreign_advert, default_scope)
    VALUES (?1, NULLIF(?2, ''), NULLIF(?3, ''), ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, NULLIF(?11, ''))
    ON CONFLICT(public_key) DO UPDATE SET
        name = COALESCE(excluded.name, name),
        role = COALESCE(excluded.role, role),
        lat = COALESCE(excluded.lat, lat),
        lon = COALESCE(excluded.lon, lon),
        last_seen = excluded.last_seen,
        advert_count = COALESCE(advert_count, 0) + excluded.advert_count,
        battery_mv = COALESCE(excluded.battery_mv, battery_mv),
        temperature_c = COALESCE(excluded.temperature_c, temperature_c),
        foreign_advert = MAX(COALESCE(foreign_advert, 0), excluded.foreign_advert),
        default_scope = COALESCE(excluded.default_scope, default_scope)";

const TOUCH_OBSERVER_STATUS: &str = "UPDATE observers SET
        name = COALESCE(NULLIF(?2, ''), name),
        iata = COALESCE(NULLIF(upper(trim(?3)), ''), iata),
        last_seen = CASE WHEN ?5 THEN last_seen ELSE ?4 END,
        packet_count = COALESCE(packet_count, 0) + (CASE WHEN ?5 THEN 0 ELSE 1 END),
        model = COALESCE(NULLIF(?6, ''), model),
        firmware = COALESCE(NULLIF(?7, ''), firmware),
        client_version = COALESCE(NULLIF(?8, ''), client_version),
        radio = COALESCE(NULLIF(?9, ''), radio),
        battery_mv = COALESCE(?10, battery_mv),
        uptime_secs = COALESCE(?11, uptime_secs),
        noise_floor = COALESCE(?12, noise_floor),
        can_relay = CASE WHEN ?13 IS NOT NULL THEN ?13 ELSE can_relay END,
        can_relay_seen = CASE WHEN ?13 IS NOT NULL THEN 1 ELSE can_relay_seen END,
        inactive = CASE WHEN ?5 THEN inactive ELSE 0 END
    WHERE id = ?1";

const INSERT_OBSERVER_STATUS: &str = "INSERT INTO observers (id, name, iata, first_seen,
        last_seen, packet_count, model, firmware, client_version, radio, battery_mv,
        uptime_secs, noise_floor, can_relay, can_relay_seen, inactive)
    VALUES (?1, NULLIF(?2, ''), NULLIF(upper(trim(?3)), ''), ?4,
            CASE WHEN ?5 THEN NULL ELSE ?4 END, CASE WHEN ?5 THEN 0 ELSE 1 END,
            NULLIF(?6, ''), NULLIF(?7, ''), NULLIF(?8, ''), NULLIF(?9, ''), ?10, ?11, ?12,
            COALESCE(?13, 1), ?13 IS NOT NULL, 0)";

const INSERT_METRICS: &str = "INSERT OR REPLACE INTO observer_metrics (observer_id, timestamp,
        noise_floor, tx_air_secs, rx_air_secs, recv_errors, battery_mv, packets_sent,
        packets_recv)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

const INSERT_DROPPED: &str = "INSERT INTO dropped_packets (hash, raw_hex, reason, observer_id,
        observer_name, node_pubkey, node_name, dropped_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

const TOUCH_CLOCK_SKEW: &str = "UPDATE observers SET
        clock_skew_seconds = ?2,
        clock_skew_count_24h = CASE
            WHEN clock_last_naive_at IS NULL OR clock_last_naive_at < ?4 THEN 1
            ELSE COALESCE(clock_skew_count_24h, 0) + 1 END,
        clock_last_naive_at = ?3
    WHERE id = ?1";

const INSERT_CLOCK_SKEW: &str = "INSERT INTO observers (id, first_seen, clock_skew_seconds,
        clock_skew_count_24h, clock_last_naive_at)
    VALUES (?1, ?3, ?2, 1, ?3)";

const INSERT_CLIENT_RECEPTION: &str = "INSERT INTO client_receptions (rx_pubkey, heard_key,
        heard_keylen, rssi, snr, lat, lon, pos_acc_m, rx_at, ingested_at, src)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
    ON CONFLICT(rx_pubkey, heard_key, rx_at) DO NOTHING";

const UPSERT_CLIENT_OBSERVER: &str = "INSERT INTO client_observers (pubkey, name, last_seen)
    VALUES (?1, NULLIF(?2, ''), ?3)
    ON CONFLICT(pubkey) DO UPDATE SET name = COALESCE(excluded.name, name),
        last_seen = excluded.last_seen";

/// Writes the whole batch in one transaction.
pub(crate) fn write_batch(
    conn: &mut Connection,
    batch: &WriteBatch,
    metrics_interval_secs: u32,
) -> DbResult<BatchOutcome> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let mut out = BatchOutcome {
        packets: Vec::with_capacity(batch.packets.len()),
        ..BatchOutcome::default()
    };
    let mut times = TimeText::default();
    let mut state = PacketState {
        max_obs_id: tx
            .query_row("SELECT COALESCE(MAX(id), 0) FROM observations", [], |r| {
                r.get(0)
            })
            .map_err(map_err)?,
        observers: HashMap::new(),
        transmissions: HashMap::new(),
    };
    for (index, packet) in batch.packets.iter().enumerate() {
        if let Err(reason) = validate_packet(packet) {
            out.packets.push(None);
            reject(&mut out, RecordKind::Packet, index, reason);
            continue;
        }
        let written = write_packet(&tx, packet, &mut times, &mut state, &mut out.counters)
            .map_err(map_err)?;
        out.packets.push(Some(written));
    }
    state.flush_observers(&tx, &mut times).map_err(map_err)?;
    for (index, status) in batch.statuses.iter().enumerate() {
        if status.id.trim().is_empty() {
            reject(
                &mut out,
                RecordKind::Status,
                index,
                "empty observer id".into(),
            );
            continue;
        }
        write_status(
            &tx,
            status,
            metrics_interval_secs,
            &mut times,
            &mut out.counters,
        )
        .map_err(map_err)?;
    }
    for dropped in &batch.dropped {
        write_dropped(&tx, dropped).map_err(map_err)?;
        out.counters.dropped_recorded += 1;
    }
    for (index, skew) in batch.clock_skews.iter().enumerate() {
        if skew.observer_id.trim().is_empty() {
            reject(
                &mut out,
                RecordKind::ClockSkew,
                index,
                "empty observer id".into(),
            );
            continue;
        }
        write_clock_skew(&tx, skew, &mut times).map_err(map_err)?;
    }
    for (index, reception) in batch.client_receptions.iter().enumerate() {
        if let Err(reason) = validate_reception(reception) {
            reject(&mut out, RecordKind::ClientReception, index, reason);
            continue;
        }
        write_reception(&tx, reception, &mut times).map_err(map_err)?;
    }
    tx.commit().map_err(map_err)?;
    Ok(out)
}

fn reject(out: &mut BatchOutcome, kind: RecordKind, index: usize, reason: String) {
    out.counters.rejected += 1;
    out.rejected.push(Rejected {
        kind,
        index,
        reason,
    });
}

/// Formats epoch seconds once per distinct second (a batch shares a handful of seconds).
#[derive(Default)]
struct TimeText {
    secs: Option<UnixSecs>,
    text: String,
}

impl TimeText {
    fn rfc3339(&mut self, secs: UnixSecs) -> &str {
        if self.secs != Some(secs) {
            self.secs = Some(secs);
            self.text = rfc3339(secs);
        }
        &self.text
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn validate_packet(p: &PacketObservation) -> Result<(), String> {
    if p.route_type > 3 {
        return Err(format!("route_type {} out of range", p.route_type));
    }
    if p.payload_type > 15 {
        return Err(format!("payload_type {} out of range", p.payload_type));
    }
    if p.payload_version > 3 {
        return Err(format!(
            "payload_version {} out of range",
            p.payload_version
        ));
    }
    if let Some(advert) = &p.advert {
        if !is_hex(&advert.public_key) || advert.public_key.len() > 64 {
            return Err("advert public key is not hex".into());
        }
        for v in [advert.lat, advert.lon].into_iter().flatten() {
            if !v.is_finite() {
                return Err("advert location is not finite".into());
            }
        }
    }
    Ok(())
}

fn validate_reception(r: &ClientReception) -> Result<(), String> {
    if !is_hex(&r.rx_pubkey) || !is_hex(&r.heard_key) {
        return Err("receiver or heard key is not hex".into());
    }
    if !(r.lat.is_finite() && r.lon.is_finite() && r.lat.abs() <= 90.0 && r.lon.abs() <= 180.0) {
        return Err("receiver position out of range".into());
    }
    Ok(())
}

/// Per-batch caches of the packet loop.
struct PacketState<'b> {
    /// Highest observation id before the current statement (ids only grow).
    max_obs_id: i64,
    /// Observers touched in this batch: later packets of the same observer only bump
    /// in-memory counters, applied once by [`PacketState::flush_observers`].
    observers: HashMap<&'b str, ObserverTouch<'b>>,
    /// Transmissions seen in this batch: id, stored first_seen, stored last_seen.
    transmissions: HashMap<ContentHash, (i64, UnixSecs, UnixSecs)>,
}

struct ObserverTouch<'b> {
    idx: i64,
    name: Option<&'b str>,
    iata: Option<&'b str>,
    /// Packets not yet added to `packet_count`.
    pending: i64,
    /// Newest packet time not yet written.
    last: UnixSecs,
}

impl PacketState<'_> {
    fn flush_observers(&mut self, tx: &Connection, times: &mut TimeText) -> rusqlite::Result<()> {
        for touch in self.observers.values().filter(|t| t.pending > 0) {
            tx.prepare_cached(
                "UPDATE observers SET packet_count = COALESCE(packet_count, 0) + ?2,
                     last_seen = ?3, last_packet_at = ?3 WHERE rowid = ?1",
            )?
            .execute(params![touch.idx, touch.pending, times.rfc3339(touch.last)])?;
        }
        self.observers.clear();
        Ok(())
    }
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| !v.trim().is_empty())
}

fn write_packet<'b>(
    tx: &Connection,
    p: &'b PacketObservation,
    times: &mut TimeText,
    state: &mut PacketState<'b>,
    counters: &mut WriteCounters,
) -> rusqlite::Result<PacketWrite> {
    let now = times.rfc3339(p.received_at).to_owned();
    let hash_hex = p.hash.to_hex();
    let hash = std::str::from_utf8(&hash_hex).unwrap_or_default();

    // 1. Transmission: look up by hash (batch cache first), insert when new.
    let found = match state.transmissions.get(&p.hash) {
        Some(&(id, first, last)) => Some((id, Some(first), last)),
        None => tx
            .prepare_cached(LOOKUP_TX)?
            .query_row([hash], |r| {
                let first = match r.get_ref(1)? {
                    ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(parse_time),
                    _ => None,
                };
                Ok((r.get::<_, i64>(0)?, first, r.get::<_, i64>(2)?))
            })
            .optional()?,
    };
    let advert_key = p.advert.as_ref().map(|a| a.public_key.to_ascii_lowercase());
    let (transmission_id, new_transmission) = match found {
        Some((id, first, last_seen)) => {
            counters.tx_dupes += 1;
            // first_seen only ever moves earlier (an unreadable stored value is replaced).
            let first = match first {
                Some(f) if f <= p.received_at => f,
                _ => {
                    tx.prepare_cached(UPDATE_TX_FIRST_SEEN)?
                        .execute(params![id, now])?;
                    p.received_at
                }
            };
            if p.received_at > last_seen {
                tx.prepare_cached(BUMP_TX_LAST_SEEN)?
                    .execute(params![id, p.received_at])?;
            }
            state
                .transmissions
                .insert(p.hash, (id, first, last_seen.max(p.received_at)));
            (id, false)
        }
        None => {
            // ADVERT rows always get a from_pubkey ('' = none), so the reference's
            // every-boot backfill finds nothing to do.
            let from_pubkey = match (&p.from_pubkey, &advert_key) {
                (Some(k), _) => Some(k.to_ascii_lowercase()),
                (None, Some(k)) => Some(k.clone()),
                (None, None) if p.payload_type == 4 => Some(String::new()),
                (None, None) => None,
            };
            tx.prepare_cached(INSERT_TX)?.execute(params![
                p.raw_hex,
                hash,
                now,
                p.route_type,
                p.payload_type,
                p.payload_version,
                p.decoded_json,
                p.channel_hash,
                p.scope_name,
                from_pubkey,
                p.received_at,
            ])?;
            counters.tx_inserted += 1;
            let id = tx.last_insert_rowid();
            state
                .transmissions
                .insert(p.hash, (id, p.received_at, p.received_at));
            (id, true)
        }
    };

    // 2. Observer first, so the observation links to it even for a brand-new observer.
    let observer_idx = match p.observer.as_ref().filter(|o| !o.id.trim().is_empty()) {
        Some(o) => {
            counters.observer_upserts += 1;
            let (name, iata) = (non_empty(&o.name), non_empty(&o.iata));
            match state.observers.get_mut(o.id.as_str()) {
                // Same observer, nothing new to record but liveness: count it in memory.
                Some(t)
                    if name.is_none_or(|n| t.name == Some(n))
                        && iata.is_none_or(|i| t.iata == Some(i)) =>
                {
                    t.pending += 1;
                    t.last = t.last.max(p.received_at);
                    Some(t.idx)
                }
                _ => {
                    let args = params![o.id, name, iata, now];
                    let touched = tx
                        .prepare_cached(TOUCH_OBSERVER_PACKET)?
                        .query_row(args, |r| r.get::<_, i64>(0))
                        .optional()?;
                    let idx = match touched {
                        Some(idx) => idx,
                        None => tx
                            .prepare_cached(INSERT_OBSERVER_PACKET)?
                            .query_row(args, |r| r.get::<_, i64>(0))?,
                    };
                    let entry = state
                        .observers
                        .entry(o.id.as_str())
                        .or_insert(ObserverTouch {
                            idx,
                            name: None,
                            iata: None,
                            pending: 0,
                            last: p.received_at,
                        });
                    entry.name = name.or(entry.name);
                    entry.iata = iata.or(entry.iata);
                    Some(idx)
                }
            }
        }
        None => None,
    };

    // 3. Observation upsert on the dedup key.
    let obs_id: i64 = tx.prepare_cached(UPSERT_OBSERVATION)?.query_row(
        params![
            transmission_id,
            observer_idx,
            p.direction,
            finite(p.snr),
            finite(p.rssi),
            p.score,
            p.path_json,
            p.received_at,
            p.raw_hex,
            p.resolved_path,
        ],
        |r| r.get(0),
    )?;
    // AUTOINCREMENT ids only grow, so an id above everything that existed is a new row.
    let observation = if obs_id > state.max_obs_id {
        state.max_obs_id = obs_id;
        counters.obs_inserted += 1;
        ObservationWrite::Inserted(obs_id)
    } else {
        counters.obs_merged += 1;
        ObservationWrite::Duplicate(obs_id)
    };

    // 4. Node upsert from a validated advert.
    if let (Some(advert), Some(key)) = (&p.advert, &advert_key) {
        if tx.prepare_cached(RESTORE_NODE)?.execute([key])? > 0 {
            tx.prepare_cached(DELETE_INACTIVE_NODE)?.execute([key])?;
        }
        let scope = p.scope_name.as_deref().filter(|s| !s.is_empty());
        tx.prepare_cached(UPSERT_NODE)?.execute(params![
            key,
            advert.name,
            advert.role,
            finite(advert.lat),
            finite(advert.lon),
            now,
            i64::from(new_transmission),
            advert.battery_mv,
            finite(advert.temperature_c),
            i64::from(advert.foreign),
            scope,
        ])?;
        counters.node_upserts += 1;
    }

    Ok(PacketWrite {
        transmission_id,
        new_transmission,
        observation,
        observer_idx,
    })
}

fn write_status(
    tx: &Connection,
    s: &ObserverStatus,
    interval: u32,
    times: &mut TimeText,
    counters: &mut WriteCounters,
) -> rusqlite::Result<()> {
    let now = times.rfc3339(s.received_at).to_owned();
    let args = params![
        s.id,
        s.name,
        s.iata,
        now,
        s.retained,
        s.model,
        s.firmware,
        s.client_version,
        s.radio,
        s.battery_mv,
        s.uptime_secs,
        finite(s.noise_floor),
        s.can_relay.map(i64::from),
    ];
    if tx.prepare_cached(TOUCH_OBSERVER_STATUS)?.execute(args)? == 0 {
        tx.prepare_cached(INSERT_OBSERVER_STATUS)?.execute(args)?;
    }
    counters.observer_upserts += 1;
    if !s.retained && s.has_metrics() {
        // Bucket to the nearest multiple of the sample interval; the last status wins.
        let width = i64::from(interval.max(1));
        let bucket = (s.received_at + width / 2).div_euclid(width) * width;
        tx.prepare_cached(INSERT_METRICS)?.execute(params![
            s.id,
            times.rfc3339(bucket),
            finite(s.noise_floor),
            s.tx_air_secs,
            s.rx_air_secs,
            s.recv_errors,
            s.battery_mv,
            s.packets_sent,
            s.packets_recv,
        ])?;
        counters.metrics_samples += 1;
    }
    Ok(())
}

fn write_dropped(tx: &Connection, d: &DroppedPacket) -> rusqlite::Result<()> {
    let hash = d.hash.map(|h| h.to_string());
    tx.prepare_cached(INSERT_DROPPED)?.execute(params![
        hash,
        d.raw_hex,
        d.reason,
        d.observer_id,
        d.observer_name,
        d.node_pubkey.as_ref().map(|k| k.to_ascii_lowercase()),
        d.node_name,
        sqlite_datetime(d.dropped_at),
    ])?;
    Ok(())
}

fn write_clock_skew(
    tx: &Connection,
    e: &ClockSkewEvent,
    times: &mut TimeText,
) -> rusqlite::Result<()> {
    let day_ago = rfc3339(e.at - 86_400);
    let at = times.rfc3339(e.at);
    let args = params![e.observer_id, e.skew_seconds, at, day_ago];
    if tx.prepare_cached(TOUCH_CLOCK_SKEW)?.execute(args)? == 0 {
        tx.prepare_cached(INSERT_CLOCK_SKEW)?.execute(params![
            e.observer_id,
            e.skew_seconds,
            at
        ])?;
    }
    Ok(())
}

fn write_reception(
    tx: &Connection,
    r: &ClientReception,
    times: &mut TimeText,
) -> rusqlite::Result<()> {
    let rx_pubkey = r.rx_pubkey.to_ascii_lowercase();
    let ingested = times.rfc3339(r.ingested_at).to_owned();
    tx.prepare_cached(INSERT_CLIENT_RECEPTION)?
        .execute(params![
            rx_pubkey,
            r.heard_key.to_ascii_lowercase(),
            r.heard_keylen,
            r.rssi,
            finite(r.snr),
            r.lat,
            r.lon,
            finite(r.pos_acc_m),
            rfc3339(r.rx_at),
            ingested,
            r.src,
        ])?;
    if r.rx_name.is_some() {
        tx.prepare_cached(UPSERT_CLIENT_OBSERVER)?
            .execute(params![rx_pubkey, r.rx_name, ingested])?;
    }
    Ok(())
}

/// Upserts neighbour edges in one transaction (spec ingest.md §5.1).
pub(crate) fn write_neighbor_edges(
    conn: &mut Connection,
    edges: &[NeighborEdge],
) -> DbResult<usize> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let mut written = 0;
    let mut times = TimeText::default();
    for e in edges {
        let (a, b) = (
            e.node_a.trim().to_ascii_lowercase(),
            e.node_b.trim().to_ascii_lowercase(),
        );
        if a.is_empty() || b.is_empty() || a == b || e.count <= 0 {
            continue;
        }
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        tx.prepare_cached(
            "INSERT INTO neighbor_edges (node_a, node_b, count, last_seen) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(node_a, node_b) DO UPDATE SET
                 count = COALESCE(count, 0) + excluded.count,
                 last_seen = MAX(COALESCE(last_seen, ''), excluded.last_seen)",
        )
        .and_then(|mut st| st.execute(params![a, b, e.count, times.rfc3339(e.last_seen)]))
        .map_err(map_err)?;
        written += 1;
    }
    tx.commit().map_err(map_err)?;
    Ok(written)
}
