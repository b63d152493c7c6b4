//! Rows that readers get back: compact, owned, one allocation per text column.
//!
//! Times keep the format found in the database for text columns (legacy rows may hold
//! millisecond or SQLite-style strings; [`crate::time::parse_time`] reads all of them),
//! and epoch seconds for integer columns.

use crate::time::UnixSecs;

/// One `transmissions` row with its observations.
#[derive(Debug, Clone, PartialEq)]
pub struct TransmissionRow {
    /// `transmissions.id`.
    pub id: i64,
    /// Content hash as stored (16 lower-case hex in rows we write).
    pub hash: String,
    /// Packet hex.
    pub raw_hex: String,
    /// First ingest time, as stored.
    pub first_seen: String,
    /// Newest observation time (0 = not yet backfilled).
    pub last_seen: UnixSecs,
    /// Header route type.
    pub route_type: Option<i64>,
    /// Header payload type.
    pub payload_type: Option<i64>,
    /// Header payload version.
    pub payload_version: Option<i64>,
    /// Decoded payload JSON.
    pub decoded_json: Option<String>,
    /// Channel name / `enc_XX`.
    pub channel_hash: Option<String>,
    /// Transport scope.
    pub scope_name: Option<String>,
    /// ADVERT originator.
    pub from_pubkey: Option<String>,
    /// Observations, newest first.
    pub observations: Vec<ObservationRow>,
}

/// One `observations` row. The observer is given by its stable key; resolve it with
/// [`crate::StorageReader::observers`].
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRow {
    /// `observations.id`.
    pub id: i64,
    /// Owning transmission.
    pub transmission_id: i64,
    /// Observer key (`observers.rowid`), or `None` when unknown.
    pub observer_idx: Option<i64>,
    /// `rx` / `tx`.
    pub direction: Option<String>,
    /// SNR in dB.
    pub snr: Option<f64>,
    /// RSSI in dBm.
    pub rssi: Option<f64>,
    /// Score.
    pub score: Option<i64>,
    /// JSON array of hops.
    pub path_json: Option<String>,
    /// JSON array of resolved pubkeys.
    pub resolved_path: Option<String>,
    /// Ingest time.
    pub timestamp: UnixSecs,
}

/// One `observers` row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObserverRow {
    /// Stable key referenced by `observations.observer_idx`.
    pub idx: i64,
    /// Topic id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Region.
    pub iata: Option<String>,
    /// Last activity (RFC3339 as stored).
    pub last_seen: Option<String>,
    /// First activity.
    pub first_seen: Option<String>,
    /// Packets + status messages received.
    pub packet_count: i64,
    /// Device model.
    pub model: Option<String>,
    /// Firmware version.
    pub firmware: Option<String>,
    /// Bridge client version.
    pub client_version: Option<String>,
    /// Radio parameters.
    pub radio: Option<String>,
    /// Battery in millivolts.
    pub battery_mv: Option<i64>,
    /// Uptime in seconds.
    pub uptime_secs: Option<i64>,
    /// Noise floor in dBm.
    pub noise_floor: Option<f64>,
    /// Soft-deleted by retention or blacklist.
    pub inactive: bool,
    /// Last packet (not status) time.
    pub last_packet_at: Option<String>,
    /// Last naive clock skew in seconds.
    pub clock_skew_seconds: Option<i64>,
    /// Naive skew events in the last 24 h.
    pub clock_skew_count_24h: i64,
    /// Last naive skew event time.
    pub clock_last_naive_at: Option<String>,
    /// Relaying enabled (only meaningful when `can_relay_seen`).
    pub can_relay: bool,
    /// Whether `can_relay` was ever reported.
    pub can_relay_seen: bool,
}

/// One `nodes` row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeRow {
    /// Lower-case hex public key.
    pub public_key: String,
    /// Name.
    pub name: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Last advert time (RFC3339 as stored).
    pub last_seen: Option<String>,
    /// First advert time.
    pub first_seen: Option<String>,
    /// Unique advert transmissions.
    pub advert_count: i64,
    /// Sensor battery.
    pub battery_mv: Option<i64>,
    /// Sensor temperature.
    pub temperature_c: Option<f64>,
    /// Outside the geofilter.
    pub foreign_advert: bool,
    /// Most recent matched transport scope.
    pub default_scope: Option<String>,
    /// 0 unknown, 1 suspected, 2 confirmed multi-byte hash support.
    pub multibyte_sup: i64,
    /// `advert` / `path`.
    pub multibyte_evidence: Option<String>,
}

/// Counts behind `/api/stats` (spec api.md "GET /api/stats").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Rows in `transmissions`.
    pub transmissions: u64,
    /// Rows in `observations`.
    pub observations: u64,
    /// Nodes seen within the last 7 days (`totalNodes`).
    pub nodes_active_7d: u64,
    /// All rows in `nodes` (`totalNodesAllTime`).
    pub nodes_all_time: u64,
    /// Observers not soft-deleted (`totalObservers`).
    pub observers: u64,
    /// Observations in the last hour (`packetsLastHour`).
    pub observations_last_hour: u64,
    /// Observations in the last 24 hours (`packetsLast24h`).
    pub observations_last_24h: u64,
    /// Nodes with role `repeater`.
    pub repeaters: u64,
    /// Nodes with role `room`.
    pub rooms: u64,
    /// Nodes with role `companion`.
    pub companions: u64,
    /// Nodes with role `sensor`.
    pub sensors: u64,
    /// `dropped_packets` rows with reason `invalid signature` (`signatureDrops`).
    pub signature_drops: u64,
}

/// Keyset-paginated request for [`crate::StorageReader::load_transmissions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransmissionPageQuery {
    /// Only ids strictly below this (the previous page's `next_before_id`); `None` starts
    /// at the newest row.
    pub before_id: Option<i64>,
    /// Only transmissions whose `last_seen` is at or after this time (rows that were never
    /// backfilled fall back to `first_seen`). `None` = no window.
    pub min_last_seen: Option<UnixSecs>,
    /// Width of the id range below the cursor this page examines, so at most this many
    /// rows (bounds the time one call holds a read transaction even when the window
    /// matches few rows; gaps in the ids make a page smaller, not wider).
    pub scan_limit: usize,
}

/// One page of a newest-first load.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransmissionPage {
    /// Matching transmissions, newest id first, each with its observations.
    pub transmissions: Vec<TransmissionRow>,
    /// Pass as `before_id` to get the next page; `None` when the table is exhausted.
    pub next_before_id: Option<i64>,
}

/// Highest ids in the database, for following rows written by another process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watermark {
    /// `MAX(transmissions.id)`, 0 when empty.
    pub transmission_id: i64,
    /// `MAX(observations.id)`, 0 when empty.
    pub observation_id: i64,
}

/// One `neighbor_edges` row.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighborEdgeRow {
    /// Lower-case public key, `node_a <= node_b` (legacy rows may hold an empty `node_a`).
    pub node_a: String,
    /// Lower-case public key.
    pub node_b: String,
    /// Supporting observations.
    pub count: i64,
    /// Newest supporting observation (RFC3339 as stored).
    pub last_seen: Option<String>,
}
