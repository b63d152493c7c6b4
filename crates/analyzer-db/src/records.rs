//! Records the ingest pipeline hands to storage, already decoded and validated.
//!
//! Storage does no decoding: every field here is the final value of a column. Text that
//! came from the mesh or MQTT is still untrusted (names, ids), so backends bind it as
//! parameters and never splice it into SQL.

use std::fmt;

use crate::time::UnixSecs;

/// The 8-byte content hash that identifies one transmission across all observers
/// (spec `protocol.md` §7). Stored as 16 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 8]);

/// Why a string is not a [`ContentHash`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content hash must be 16 hex characters, got {0:?}")]
pub struct ContentHashParseError(pub String);

impl ContentHash {
    /// Parses 16 hex characters (either case).
    pub fn parse(text: &str) -> Result<Self, ContentHashParseError> {
        let err = || ContentHashParseError(text.chars().take(32).collect());
        let bytes = text.as_bytes();
        if bytes.len() != 16 {
            return Err(err());
        }
        let mut out = [0u8; 8];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or_else(err)?;
            let lo = hex_val(pair[1]).ok_or_else(err)?;
            out[i] = hi << 4 | lo;
        }
        Ok(Self(out))
    }

    /// The 16 lower-case hex characters, without allocating.
    pub fn to_hex(&self) -> [u8; 16] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 16];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
        }
        out
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        // The digits are ASCII by construction.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

/// The observer (MQTT publisher) that heard a packet, as named by the topic.
#[derive(Debug, Clone, PartialEq)]
pub struct ObserverRef {
    /// Topic segment `parts[2]`, case preserved. An empty id means "no observer".
    pub id: String,
    /// The `origin` field. `None` or empty never overwrites a stored name.
    pub name: Option<String>,
    /// Effective region (payload `region` > topic > source). Stored upper-cased and
    /// trimmed; `None` or empty never overwrites a stored value.
    pub iata: Option<String>,
}

/// Node data carried by a validated ADVERT (spec ingest.md §4.8).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeAdvert {
    /// 64 hex characters; stored lower-cased.
    pub public_key: String,
    /// Advertised name; `None` or empty keeps the stored name.
    pub name: Option<String>,
    /// `repeater`, `companion`, `room`, `sensor`, `none` or `type-N`.
    pub role: Option<String>,
    /// Latitude in degrees, when the advert has a location.
    pub lat: Option<f64>,
    /// Longitude in degrees, when the advert has a location.
    pub lon: Option<f64>,
    /// Sensor telemetry: battery in millivolts (already range-checked).
    pub battery_mv: Option<i64>,
    /// Sensor telemetry: temperature in °C (already range-checked).
    pub temperature_c: Option<f64>,
    /// Outside the configured geofilter (flag mode). Sticky once set.
    pub foreign: bool,
}

/// One observer's reception of one packet: the unit the ingest pipeline writes.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketObservation {
    /// Content hash: the dedup key of the transmission.
    pub hash: ContentHash,
    /// The packet hex as received (case not normalised); empty for Format-2 rows.
    pub raw_hex: String,
    /// Header route type (0..=3).
    pub route_type: u8,
    /// Header payload type (0..=15).
    pub payload_type: u8,
    /// Header payload version (0..=3).
    pub payload_version: u8,
    /// Decoded payload JSON (`transmissions.decoded_json`).
    pub decoded_json: String,
    /// `transmissions.channel_hash` (spec ingest.md §4.5).
    pub channel_hash: Option<String>,
    /// `transmissions.scope_name`: `None` = not transport-scoped, `""` = scoped but
    /// unknown region, `#name` = matched region.
    pub scope_name: Option<String>,
    /// ADVERT originator public key (lower-case hex).
    pub from_pubkey: Option<String>,
    /// Who heard it; `None` for sources without an observer (Format-2 companion rows).
    pub observer: Option<ObserverRef>,
    /// `rx` / `tx` as published.
    pub direction: Option<String>,
    /// Signal-to-noise ratio in dB.
    pub snr: Option<f64>,
    /// Received signal strength in dBm.
    pub rssi: Option<f64>,
    /// Bridge affinity score.
    pub score: Option<i64>,
    /// JSON array of upper-case hex hops, `[]` when none.
    pub path_json: String,
    /// JSON array of resolved pubkeys/nulls, or `None` when nothing resolved.
    pub resolved_path: Option<String>,
    /// Ingest time.
    pub received_at: UnixSecs,
    /// Present for ADVERTs that passed validation: the node to upsert.
    pub advert: Option<NodeAdvert>,
}

/// An observer status message (spec ingest.md §2.2, §4.10).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObserverStatus {
    /// Observer id (topic `parts[2]`).
    pub id: String,
    /// `origin`.
    pub name: Option<String>,
    /// Topic region.
    pub iata: Option<String>,
    /// Device model.
    pub model: Option<String>,
    /// Firmware version.
    pub firmware: Option<String>,
    /// Bridge client version.
    pub client_version: Option<String>,
    /// Radio parameters text, e.g. `869.525,250,11,5`.
    pub radio: Option<String>,
    /// Battery in millivolts.
    pub battery_mv: Option<i64>,
    /// Uptime in seconds.
    pub uptime_secs: Option<i64>,
    /// Noise floor in dBm.
    pub noise_floor: Option<f64>,
    /// Firmware `repeat` setting, when published.
    pub can_relay: Option<bool>,
    /// Cumulative transmit airtime, seconds (metrics only).
    pub tx_air_secs: Option<i64>,
    /// Cumulative receive airtime, seconds (metrics only).
    pub rx_air_secs: Option<i64>,
    /// Cumulative receive errors (metrics only).
    pub recv_errors: Option<i64>,
    /// Cumulative packets sent (metrics only).
    pub packets_sent: Option<i64>,
    /// Cumulative packets received (metrics only).
    pub packets_recv: Option<i64>,
    /// The broker replayed this message from its retained store: it says nothing about
    /// the observer being alive now, so it updates metadata only.
    pub retained: bool,
    /// Ingest time.
    pub received_at: UnixSecs,
}

impl ObserverStatus {
    /// True when any field for the `observer_metrics` sample is present.
    pub fn has_metrics(&self) -> bool {
        self.noise_floor.is_some()
            || self.battery_mv.is_some()
            || self.tx_air_secs.is_some()
            || self.rx_air_secs.is_some()
            || self.recv_errors.is_some()
            || self.packets_sent.is_some()
            || self.packets_recv.is_some()
    }
}

/// A packet rejected by policy that is kept for operators (`dropped_packets`).
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedPacket {
    /// Content hash, when it could be computed.
    pub hash: Option<ContentHash>,
    /// The packet hex as received.
    pub raw_hex: Option<String>,
    /// Why it was dropped, e.g. `invalid signature`.
    pub reason: String,
    /// Observer that published it.
    pub observer_id: Option<String>,
    /// Observer name (`origin`).
    pub observer_name: Option<String>,
    /// Node the packet claimed to come from.
    pub node_pubkey: Option<String>,
    /// Node name the packet claimed.
    pub node_name: Option<String>,
    /// Ingest time.
    pub dropped_at: UnixSecs,
}

/// A naive (zone-less) envelope time that was clamped (spec ingest.md §4.11).
#[derive(Debug, Clone, PartialEq)]
pub struct ClockSkewEvent {
    /// Observer id.
    pub observer_id: String,
    /// Signed skew in seconds (envelope − ingest time).
    pub skew_seconds: i64,
    /// Ingest time.
    pub at: UnixSecs,
}

/// A client-RX coverage reception (spec ingest.md §4.13).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientReception {
    /// Receiving companion's public key (lower-case hex).
    pub rx_pubkey: String,
    /// Heard node key or prefix (lower-case hex).
    pub heard_key: String,
    /// Length of `heard_key` in bytes.
    pub heard_keylen: i64,
    /// RSSI in dBm (truncated to integer).
    pub rssi: Option<i64>,
    /// SNR in dB.
    pub snr: Option<f64>,
    /// Receiver latitude.
    pub lat: f64,
    /// Receiver longitude.
    pub lon: f64,
    /// GPS accuracy in metres.
    pub pos_acc_m: Option<f64>,
    /// Resolved envelope time of the reception.
    pub rx_at: UnixSecs,
    /// Ingest time.
    pub ingested_at: UnixSecs,
    /// `rxlog` or `advert`.
    pub src: String,
    /// Companion name (`origin`), recorded in `client_observers`.
    pub rx_name: Option<String>,
}

/// Everything written in one transaction.
///
/// Within a batch, packets are applied in order, then statuses, dropped packets,
/// clock-skew events and client receptions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    /// Packet observations, in arrival order.
    pub packets: Vec<PacketObservation>,
    /// Observer status messages.
    pub statuses: Vec<ObserverStatus>,
    /// Dropped packets for the operator log.
    pub dropped: Vec<DroppedPacket>,
    /// Naive clock-skew events.
    pub clock_skews: Vec<ClockSkewEvent>,
    /// Client-RX coverage receptions.
    pub client_receptions: Vec<ClientReception>,
}

impl WriteBatch {
    /// Total number of records in the batch.
    pub fn len(&self) -> usize {
        self.packets.len()
            + self.statuses.len()
            + self.dropped.len()
            + self.clock_skews.len()
            + self.client_receptions.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the batch, keeping the allocations for the next one.
    pub fn clear(&mut self) {
        self.packets.clear();
        self.statuses.clear();
        self.dropped.clear();
        self.clock_skews.clear();
        self.client_receptions.clear();
    }
}

/// What happened to one observation row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservationWrite {
    /// A new row with this id.
    Inserted(i64),
    /// The same observer already reported the same transmission over the same path;
    /// the existing row (this id) had its missing fields filled in.
    Duplicate(i64),
}

impl ObservationWrite {
    /// The observation row id either way.
    pub fn id(self) -> i64 {
        match self {
            Self::Inserted(id) | Self::Duplicate(id) => id,
        }
    }
}

/// Per-packet result of a batch write, aligned with [`WriteBatch::packets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketWrite {
    /// `transmissions.id` of the packet's transmission.
    pub transmission_id: i64,
    /// True when this packet created the transmission (first time the hash was seen).
    pub new_transmission: bool,
    /// The observation row.
    pub observation: ObservationWrite,
    /// The observer's stable key (`observations.observer_idx`), if there was an observer.
    pub observer_idx: Option<i64>,
}

/// Counters of one batch, in the reference's stats-file vocabulary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCounters {
    /// New transmissions.
    pub tx_inserted: u64,
    /// Packets whose transmission already existed.
    pub tx_dupes: u64,
    /// New observation rows.
    pub obs_inserted: u64,
    /// Observations merged into an existing row (same observer and path).
    pub obs_merged: u64,
    /// Node upserts from adverts.
    pub node_upserts: u64,
    /// Observer upserts (packets and statuses).
    pub observer_upserts: u64,
    /// `observer_metrics` samples written.
    pub metrics_samples: u64,
    /// Dropped-packet rows written.
    pub dropped_recorded: u64,
    /// Records skipped because they were invalid (see [`BatchOutcome::rejected`]).
    pub rejected: u64,
}

/// A record of a batch that was not written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Which list of the batch.
    pub kind: RecordKind,
    /// Index in that list.
    pub index: usize,
    /// Human-readable reason.
    pub reason: String,
}

/// The lists of a [`WriteBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// [`WriteBatch::packets`].
    Packet,
    /// [`WriteBatch::statuses`].
    Status,
    /// [`WriteBatch::dropped`].
    Dropped,
    /// [`WriteBatch::clock_skews`].
    ClockSkew,
    /// [`WriteBatch::client_receptions`].
    ClientReception,
}

/// Result of [`crate::Storage::write_batch`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchOutcome {
    /// One entry per packet of the batch, in order; `None` where the packet was rejected.
    pub packets: Vec<Option<PacketWrite>>,
    /// Records that were skipped (invalid input); the rest of the batch was written.
    pub rejected: Vec<Rejected>,
    /// Counters.
    pub counters: WriteCounters,
}

/// One undirected neighbour relation derived from observations (spec ingest.md §5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct NeighborEdge {
    /// One node's public key (any case; stored lower-case, ordered so `node_a <= node_b`).
    pub node_a: String,
    /// The other node's public key.
    pub node_b: String,
    /// Supporting observations to add to the edge's count.
    pub count: i64,
    /// Time of the newest supporting observation.
    pub last_seen: UnixSecs,
}
