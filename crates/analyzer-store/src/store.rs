//! The compact in-memory packet store: every transmission of the retention window with its
//! observations, the indexes the API needs, live appends and eviction.
//!
//! Layout. Transmissions live in a slot arena (`Vec<Option<Tx>>` with a free list), so
//! indexes refer to them by a 4-byte slot number. A transmission keeps its packet as raw
//! bytes (not hex), its decoded JSON verbatim as one `Box<str>`, times as epoch seconds and
//! channel, scope and originator as interned `u32` ids. Its observations are one `Vec` of
//! fixed 32-byte records (interned observer and path ids, `u32` epoch-second timestamp,
//! SNR/RSSI in hundredths as `i16`): one allocation per transmission, none per
//! observation. A path string is stored once however many observations carry it, in one
//! shared buffer, with its parsed hops in another.
//!
//! Concurrency. The data sits behind one `std::sync::RwLock`, chosen over a copy-on-write
//! snapshot (`ArcSwap`) because live appends arrive several times a second and copying a
//! multi-hundred-megabyte store per append is not an option, while a persistent structure
//! would cost memory on every record. Writers keep the write lock short instead: a loader
//! chunk is decoded, hex-decoded and interned into chunk-local tables by
//! [`PreparedChunk::from_rows`] with no lock held, and [`Store::merge`] then remaps ids
//! and pushes index entries 1,000 transmissions per write hold (about 10 ms; the longest
//! measured hold on a 6.6M-observation load was 40 to 65 ms, when a hash table grew).
//! Eviction picks its victims under the read lock and removes them in one write section.

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use analyzer_db::time::parse_time;
use analyzer_db::{ContentHash, PacketObservation, PacketWrite, TransmissionRow, UnixSecs};
use hashbrown::HashMap;

use crate::intern::{FlatLists, KeyInterner, NONE, StrInterner};
use crate::load::LoadState;

pub mod neighbors;
pub mod q_bulk;
pub mod q_channels;
mod q_follow;
pub mod q_misc;
pub mod q_nodes;
pub mod q_observers;
pub mod q_packets;
pub mod q_reach;
mod q_scan;
mod slot_summary;
#[cfg(test)]
mod test_rows;

/// A cheap, cloneable handle on the shared store; every clone sees the same data.
#[derive(Clone, Default)]
pub struct Store {
    data: Arc<RwLock<StoreData>>,
    state: Arc<Mutex<LoadState>>,
    /// Per-query caches (bulk health, node summaries).
    caches: Arc<q_bulk::Caches>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts = self.counts();
        f.debug_struct("Store")
            .field("transmissions", &counts.transmissions)
            .field("observations", &counts.observations)
            .finish_non_exhaustive()
    }
}

/// Sizes of the store, for `/api/healthz`, `/api/perf` and `/api/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreCounts {
    /// Transmissions in memory.
    pub transmissions: usize,
    /// Observations in memory.
    pub observations: usize,
    /// Distinct observers referenced by loaded observations (ever, not only current).
    pub observers: usize,
    /// Distinct path strings interned.
    pub distinct_paths: usize,
    /// Bytes the store has allocated, summed from real capacities.
    pub allocated_bytes: usize,
    /// Rows or appends that carried unusable data (bad hex, bad hash) and were skipped.
    pub rejected: u64,
    /// Live observations skipped because their transmission is not in memory.
    pub live_skipped: u64,
    /// Longest single hold of the write lock by a merge or an eviction, in microseconds:
    /// the longest a reader can have waited behind a writer.
    pub longest_write_hold_us: u64,
}

/// Sort order of a packet page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Highest transmission id first (the API default).
    #[default]
    NewestFirst,
    /// Lowest transmission id first.
    OldestFirst,
}

/// Filters and paging of a packet list (`/api/packets`). Empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacketQuery {
    /// Page size.
    pub limit: usize,
    /// Rows skipped before the page.
    pub offset: usize,
    /// Sort order (by transmission id).
    pub order: Order,
    /// Header payload type.
    pub payload_type: Option<u8>,
    /// Header route type.
    pub route_type: Option<u8>,
    /// One content hash.
    pub hash: Option<ContentHash>,
    /// Observer keys (`observations.observer_idx`); matches when any observation is from
    /// one of them. The HTTP layer maps observer ids to keys with the observers table.
    pub observers: Vec<i64>,
    /// A node public key (any case): matches ADVERTs it sent, ANON_REQs it sent (their
    /// payload carries the sender's key) and packets whose path holds a hop that is a
    /// prefix of it.
    pub node: Option<String>,
    /// With `node`: the first byte of its key, when the caller knows that no other node's
    /// key starts with it. Peer-to-peer payloads (REQ, RESPONSE, TXT_MSG, PATH) and
    /// ANON_REQ name their destination (and source) only by that byte, so they match the
    /// node only then.
    pub node_peer_hash: Option<u8>,
    /// `transmissions.channel_hash` (channel name or `enc_XX`).
    pub channel: Option<String>,
    /// Only packets first seen strictly after this time.
    pub since: Option<UnixSecs>,
    /// Only packets first seen strictly before this time.
    pub until: Option<UnixSecs>,
}

/// The answer to a [`PacketQuery`].
#[derive(Debug, Clone, PartialEq)]
pub enum PacketsAnswer {
    /// Answered from memory.
    Page(PacketPage),
    /// The time range reaches before what is loaded: answer from the database instead.
    BeforeLoadedWindow {
        /// Every transmission with `last_seen` at or after this time is in memory.
        oldest_loaded: UnixSecs,
    },
}

/// One page of packets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacketPage {
    /// Matching transmissions in memory, before paging.
    pub total: usize,
    /// The page.
    pub packets: Vec<PacketSummary>,
}

/// One transmission as the API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketSummary {
    /// `transmissions.id`.
    pub id: i64,
    /// Content hash.
    pub hash: ContentHash,
    /// First ingest time.
    pub first_seen: UnixSecs,
    /// Newest observation time.
    pub last_seen: UnixSecs,
    /// Header route type.
    pub route_type: Option<u8>,
    /// Header payload type.
    pub payload_type: Option<u8>,
    /// Header payload version.
    pub payload_version: Option<u8>,
    /// Packet hex in the case it was stored in.
    pub raw_hex: String,
    /// Decoded payload JSON, verbatim.
    pub decoded_json: String,
    /// Channel name / `enc_XX`.
    pub channel_hash: Option<String>,
    /// Transport scope.
    pub scope_name: Option<String>,
    /// ADVERT originator.
    pub from_pubkey: Option<String>,
    /// Observations in memory.
    pub observation_count: usize,
    /// Distinct observers among them.
    pub observer_count: usize,
    /// The observation with the longest path (the first such one on ties).
    pub best: Option<ObservationView>,
}

/// One observation as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationView {
    /// `observations.id`.
    pub id: i64,
    /// Observer key, when known.
    pub observer_idx: Option<i64>,
    /// Ingest time.
    pub timestamp: UnixSecs,
    /// SNR in dB.
    pub snr: Option<f64>,
    /// RSSI in dBm.
    pub rssi: Option<f64>,
    /// Bridge score.
    pub score: Option<i64>,
    /// `rx` / `tx`.
    pub direction: Option<String>,
    /// JSON array of hops, verbatim.
    pub path_json: String,
}

/// A transmission with all its observations, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketDetail {
    /// The list fields.
    pub summary: PacketSummary,
    /// Every observation in memory, newest first.
    pub observations: Vec<ObservationView>,
}

/// What one [`Store::evict`] pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvictionReport {
    /// Transmissions older than the retention window.
    pub by_age: usize,
    /// Further transmissions removed to get under the memory budget.
    pub by_memory: usize,
    /// Allocated bytes before the pass.
    pub bytes_before: usize,
    /// Allocated bytes after the pass.
    pub bytes_after: usize,
}

/// Limits applied by [`Store::evict`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvictionPolicy {
    /// `packetStore.retentionHours` in seconds: evict transmissions whose `last_seen` is
    /// older than `now` minus this. `None` = no age limit.
    pub retention_secs: Option<i64>,
    /// `packetStore.maxMemoryMB` in bytes: above it, evict the least recently seen
    /// transmissions until the store is at 85 % of it. `None` = no budget.
    pub max_bytes: Option<usize>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sizes, including the allocated bytes.
    pub fn counts(&self) -> StoreCounts {
        self.read().counts()
    }

    /// Bytes allocated by the store (sum of capacities of everything it owns).
    pub fn allocated_bytes(&self) -> usize {
        self.read().allocated_bytes()
    }

    /// A copy of the load state (for `/api/perf`, `/api/healthz` and the load-status
    /// header).
    pub fn load_state(&self) -> LoadState {
        let mut state = self.state_lock().clone();
        state.oldest_loaded = self.read().oldest_loaded;
        state
    }

    /// Every transmission with `last_seen` at or after this time is in memory (set by the
    /// loader once the hot window is loaded, lowered as the fill proceeds).
    pub fn oldest_loaded(&self) -> Option<UnixSecs> {
        self.read().oldest_loaded
    }

    /// One transmission by content hash.
    pub fn by_hash(&self, hash: &ContentHash) -> Option<PacketDetail> {
        let data = self.read();
        let slot = *data.by_hash.get(&hash.0)?;
        data.detail(slot)
    }

    /// One transmission by id.
    pub fn by_id(&self, id: i64) -> Option<PacketDetail> {
        let data = self.read();
        let slot = data.slot_of_id(id)?;
        data.detail(slot)
    }

    /// A page of transmissions matching `query`.
    pub fn packets(&self, query: &PacketQuery) -> PacketsAnswer {
        self.read().packets(query)
    }

    /// Merges a chunk prepared outside the lock; returns the transmissions added (those
    /// already present only gain their missing observations).
    pub fn merge(&self, mut chunk: PreparedChunk) -> usize {
        let txs = std::mem::take(&mut chunk.txs);
        let mut key_observers = std::mem::take(&mut chunk.key_observers);
        let mut key_hops = std::mem::take(&mut chunk.key_hops);
        let mut remap = Remap::unmapped(&chunk);
        let mut items = txs.into_iter().enumerate();
        let mut added = 0;
        let mut first = true;
        // Batches of transmissions, each in its own short write section; chunk-local ids
        // are mapped to global ones as the batch meets them, so the interning work is
        // spread over the batches too.
        loop {
            let batch: Vec<(usize, Tx)> = items.by_ref().take(MERGE_BATCH).collect();
            if batch.is_empty() && !first {
                return added;
            }
            let mut data = self.write();
            let started = Instant::now();
            if first {
                data.rejected += chunk.rejected;
                first = false;
            }
            let mut fresh: Vec<(i64, u32)> = Vec::with_capacity(batch.len());
            for (i, mut tx) in batch {
                data.remap(&chunk, &mut remap, &mut tx);
                for o in key_observers.get_mut(i) {
                    *o = data.global_observer(&chunk, &mut remap, *o);
                }
                for h in key_hops.get_mut(i) {
                    *h = data.global_string(&chunk, &mut remap, *h);
                }
                if chunk.late_only {
                    data.merge_late(tx);
                } else if let Some(entry) = data.insert(tx, key_observers.get(i), key_hops.get(i)) {
                    fresh.push(entry);
                }
            }
            added += fresh.len();
            data.add_to_order(fresh);
            data.note_write_hold(started);
        }
    }

    /// Adds one live observation from ingest. A new transmission is created when
    /// `write.new_transmission` is set; a re-observation of a transmission that is not in
    /// memory is skipped and counted (the background fill or a database query covers it).
    /// Returns true when the store changed.
    pub fn append(&self, packet: &PacketObservation, write: &PacketWrite) -> bool {
        let mut chunk = PreparedChunk::default();
        let known = self.read().slot_of_id(write.transmission_id).is_some();
        if !known && !write.new_transmission {
            self.write().live_skipped += 1;
            return false;
        }
        if !chunk.push_live(packet, write) {
            self.write().rejected += 1;
            return false;
        }
        self.merge(chunk);
        true
    }

    /// Applies the retention age and the memory budget.
    pub fn evict(&self, now: UnixSecs, policy: &EvictionPolicy) -> EvictionReport {
        // Phase 1, under the read lock: pick the victims.
        let (victims, by_age, bytes_before) = {
            let data = self.read();
            let bytes_before = data.allocated_bytes();
            let cutoff = policy.retention_secs.map(|r| now.saturating_sub(r));
            let mut by_recency: Vec<(i64, u32)> = data
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, tx)| tx.as_ref().map(|tx| (tx.last_seen, i as u32)))
                .collect();
            by_recency.sort_unstable();
            let n_age = cutoff.map_or(0, |c| by_recency.partition_point(|&(seen, _)| seen < c));
            let mut n_total = n_age;
            if let Some(max) = policy.max_bytes.filter(|&m| bytes_before > m) {
                let mut to_free = bytes_before - max * 85 / 100;
                let freed_by_age: usize = by_recency[..n_age]
                    .iter()
                    .map(|&(_, s)| data.tx_footprint(s))
                    .sum();
                to_free = to_free.saturating_sub(freed_by_age);
                while to_free > 0 && n_total < by_recency.len() {
                    to_free = to_free.saturating_sub(data.tx_footprint(by_recency[n_total].1));
                    n_total += 1;
                }
            }
            by_recency.truncate(n_total);
            (by_recency, n_age, bytes_before)
        };
        if victims.is_empty() {
            if let Some(r) = policy.retention_secs {
                let cutoff = now.saturating_sub(r);
                if self.read().neighbors.has_older_than(cutoff) {
                    self.write().neighbors.prune(cutoff);
                }
            }
            return EvictionReport {
                bytes_before,
                bytes_after: bytes_before,
                ..EvictionReport::default()
            };
        }
        // Phase 2: one write section. A victim re-heard in between keeps its place.
        let mut data = self.write();
        let started = Instant::now();
        let mut newest_evicted = None;
        let slots: Vec<u32> = victims
            .iter()
            .filter(|&&(seen, slot)| data.slot_last_seen(slot) == Some(seen))
            .map(|&(seen, slot)| {
                newest_evicted = newest_evicted.max(Some(seen));
                slot
            })
            .collect();
        data.remove_slots(&slots);
        if let Some(r) = policy.retention_secs {
            data.neighbors.prune(now.saturating_sub(r));
        }
        data.note_write_hold(started);
        // Older data is no longer (all) in memory: queries reaching before the new
        // boundary go to the database.
        let boundary = [
            data.oldest_loaded,
            policy.retention_secs.map(|r| now.saturating_sub(r)),
            newest_evicted.map(|t| t.saturating_add(1)),
        ]
        .into_iter()
        .flatten()
        .max();
        data.oldest_loaded = boundary;
        let bytes_after = data.allocated_bytes();
        drop(data);
        EvictionReport {
            by_age: by_age.min(slots.len()),
            by_memory: slots.len().saturating_sub(by_age),
            bytes_before,
            bytes_after,
        }
    }

    pub(crate) fn set_oldest_loaded(&self, value: Option<UnixSecs>) {
        self.write().oldest_loaded = value;
    }

    pub(crate) fn state_lock(&self) -> std::sync::MutexGuard<'_, LoadState> {
        // A panic while holding the state lock leaves plain data: keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `first_seen` of the lowest transmission id in memory.
    pub(crate) fn oldest_first_seen(&self) -> Option<UnixSecs> {
        let data = self.read();
        let &(_, slot) = data.order.front()?;
        data.tx(slot).map(|tx| tx.first_seen)
    }

    /// Transmissions in memory with `last_seen >= since`.
    pub(crate) fn count_seen_since(&self, since: UnixSecs) -> usize {
        let data = self.read();
        data.slots
            .iter()
            .flatten()
            .filter(|tx| tx.last_seen >= since)
            .count()
    }

    pub(crate) fn contains_id(&self, id: i64) -> bool {
        self.read().slot_of_id(id).is_some()
    }

    fn read(&self) -> RwLockReadGuard<'_, StoreData> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, StoreData> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A batch of transmissions decoded and interned into chunk-local tables, ready for a
/// short [`Store::merge`].
#[derive(Default)]
pub struct PreparedChunk {
    txs: Vec<Tx>,
    /// Distinct observers of each transmission (list `i` belongs to `txs[i]`).
    key_observers: FlatLists,
    /// Distinct path hops of each transmission.
    key_hops: FlatLists,
    paths: StrInterner,
    /// Parsed hops (ids in `strings`) of each local path id.
    path_hops: FlatLists,
    strings: StrInterner,
    observers: KeyInterner,
    rejected: u64,
    /// The chunk holds only late observations of transmissions already in memory (see
    /// [`PreparedChunk::from_late_observations`]): they are merged, never inserted.
    late_only: bool,
}

impl PreparedChunk {
    /// Converts database rows. Rows with an unparsable hash or packet hex are skipped and
    /// counted.
    pub fn from_rows(rows: &[TransmissionRow]) -> Self {
        let mut chunk = Self::default();
        chunk.txs.reserve_exact(rows.len());
        for row in rows {
            chunk.push_row(row);
        }
        chunk
    }

    /// Transmissions in the chunk.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True when the chunk holds no transmission.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Rows skipped as unusable.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    fn push_row(&mut self, row: &TransmissionRow) {
        let (Ok(hash), Some((raw, raw_upper))) =
            (ContentHash::parse(&row.hash), decode_hex(&row.raw_hex))
        else {
            self.rejected += 1;
            return;
        };
        let first_seen = parse_time(&row.first_seen).unwrap_or(row.last_seen);
        let mut obs: Vec<Obs> = Vec::with_capacity(row.observations.len());
        let mut last_seen = row.last_seen.max(first_seen);
        for o in &row.observations {
            last_seen = last_seen.max(o.timestamp);
            obs.push(Obs {
                id: o.id,
                timestamp: secs_u32(o.timestamp),
                observer: o.observer_idx.map_or(NONE, |k| self.observers.intern(k)),
                path: self.intern_path(o.path_json.as_deref().unwrap_or("[]")),
                snr: centi(o.snr),
                rssi: centi(o.rssi),
                score: opt_score(o.score),
                direction: self.opt_str(o.direction.as_deref()),
            });
        }
        let tx = Tx {
            id: row.id,
            first_seen,
            last_seen,
            hash: hash.0,
            raw,
            decoded_json: row.decoded_json.as_deref().unwrap_or("").into(),
            obs,
            channel: self.opt_str(row.channel_hash.as_deref()),
            scope: self.opt_str(row.scope_name.as_deref()),
            from_pubkey: self.opt_lower(row.from_pubkey.as_deref()),
            route_type: opt_u8(row.route_type),
            payload_type: opt_u8(row.payload_type),
            payload_version: opt_u8(row.payload_version),
            raw_upper,
        };
        self.push_keys(&tx.obs);
        self.txs.push(tx);
    }

    fn push_live(&mut self, p: &PacketObservation, w: &PacketWrite) -> bool {
        let Some((raw, raw_upper)) = decode_hex(&p.raw_hex) else {
            return false;
        };
        let obs = Obs {
            id: w.observation.id(),
            timestamp: secs_u32(p.received_at),
            observer: w.observer_idx.map_or(NONE, |k| self.observers.intern(k)),
            path: self.intern_path(&p.path_json),
            snr: centi(p.snr),
            rssi: centi(p.rssi),
            score: opt_score(p.score),
            direction: self.opt_str(p.direction.as_deref()),
        };
        let tx = Tx {
            id: w.transmission_id,
            first_seen: p.received_at,
            last_seen: p.received_at,
            hash: p.hash.0,
            raw,
            decoded_json: p.decoded_json.as_str().into(),
            obs: vec![obs],
            channel: self.opt_str(p.channel_hash.as_deref()),
            scope: self.opt_str(p.scope_name.as_deref()),
            from_pubkey: self.opt_lower(p.from_pubkey.as_deref()),
            route_type: p.route_type,
            payload_type: p.payload_type,
            payload_version: p.payload_version,
            raw_upper,
        };
        self.push_keys(&tx.obs);
        self.txs.push(tx);
        true
    }

    /// Records the distinct observers and hops of `obs` (chunk-local ids), computed here
    /// so the merge does no de-duplication under the lock.
    fn push_keys(&mut self, obs: &[Obs]) {
        let mut observers: Vec<u32> = obs
            .iter()
            .map(|o| o.observer)
            .filter(|&o| o != NONE)
            .collect();
        observers.sort_unstable();
        observers.dedup();
        let mut paths: Vec<u32> = obs.iter().map(|o| o.path).collect();
        paths.sort_unstable();
        paths.dedup();
        let mut hops: Vec<u32> = paths
            .iter()
            .flat_map(|&p| self.path_hops.get(p as usize).iter().copied())
            .collect();
        hops.sort_unstable();
        hops.dedup();
        self.key_observers.push(observers);
        self.key_hops.push(hops);
    }

    fn opt_str(&mut self, text: Option<&str>) -> u32 {
        text.map_or(NONE, |t| self.strings.intern(t))
    }

    fn opt_lower(&mut self, text: Option<&str>) -> u32 {
        match text {
            None | Some("") => NONE,
            Some(t) if t.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.strings.intern(&t.to_ascii_lowercase())
            }
            Some(t) => self.strings.intern(t),
        }
    }

    fn intern_path(&mut self, path_json: &str) -> u32 {
        let before = self.paths.len();
        let id = self.paths.intern(path_json);
        if self.paths.len() > before {
            let hops: Vec<u32> = parse_hops(path_json)
                .map(|hop| self.strings.intern(&hop))
                .collect();
            self.path_hops.push(hops);
        }
        id
    }
}

/// Transmissions inserted per write-lock hold. About 4 ms each on the benchmark database
/// (a transmission carries about 22 observations there); at 1,000 the holds were 17 ms
/// typical and a packet list during the background fill waited for them (p99 15-30 ms,
/// 2-4 ms now), at no gain in load time.
const MERGE_BATCH: usize = 250;

/// Chunk-local to global id maps.
struct Remap {
    strings: Vec<u32>,
    observers: Vec<u32>,
    paths: Vec<u32>,
}

/// Marks a chunk-local id not yet mapped to a global one.
const UNMAPPED: u32 = u32::MAX - 1;

impl Remap {
    fn unmapped(chunk: &PreparedChunk) -> Self {
        Self {
            strings: vec![UNMAPPED; chunk.strings.len()],
            observers: vec![UNMAPPED; chunk.observers.len()],
            paths: vec![UNMAPPED; chunk.paths.len()],
        }
    }
}

/// One observation: 32 bytes, no heap.
#[derive(Debug, Clone, Copy)]
struct Obs {
    id: i64,
    /// Epoch seconds (1970 to 2106; out-of-range values are clamped).
    timestamp: u32,
    observer: u32,
    path: u32,
    /// Hundredths of a dB; [`NO_CENTI`] = none.
    snr: i16,
    /// Hundredths of a dBm; [`NO_CENTI`] = none.
    rssi: i16,
    score: i32,
    direction: u32,
}

/// One transmission.
struct Tx {
    id: i64,
    first_seen: i64,
    last_seen: i64,
    hash: [u8; 8],
    raw: Box<[u8]>,
    decoded_json: Box<str>,
    obs: Vec<Obs>,
    channel: u32,
    scope: u32,
    from_pubkey: u32,
    route_type: u8,
    payload_type: u8,
    payload_version: u8,
    raw_upper: bool,
}

/// Payload type of an ADVERT.
const ADVERT: u8 = 4;
/// Payload type of a TRACE (its path field is not the hops the packet took so far).
const TRACE: u8 = 9;
const NO_U8: u8 = u8::MAX;
const NO_SCORE: i32 = i32::MIN;
/// Payload types 0..=15 plus one bucket for unknown.
const TYPE_BUCKETS: usize = 17;

impl Tx {
    fn heap_bytes(&self) -> usize {
        self.raw.len() + self.decoded_json.len() + self.obs.capacity() * size_of::<Obs>()
    }
}

#[derive(Default)]
struct StoreData {
    slots: Vec<Option<Tx>>,
    free: Vec<u32>,
    /// (id, slot) sorted by id.
    order: VecDeque<(i64, u32)>,
    by_hash: HashMap<[u8; 8], u32>,
    /// Indexed by global observer id.
    by_observer: Vec<Vec<u32>>,
    by_node: HashMap<u32, Vec<u32>>,
    /// ANON_REQ senders (their key, interned in `strings`) → slots.
    by_sender: HashMap<u32, Vec<u32>>,
    /// One-byte destination and source hashes of peer-to-peer payloads and ANON_REQs →
    /// slots (256 lists once anything is indexed).
    by_peer: Vec<Vec<u32>>,
    by_hop: HashMap<u32, Vec<u32>>,
    by_channel: HashMap<u32, Vec<u32>>,
    by_type: [Vec<u32>; TYPE_BUCKETS],
    paths: StrInterner,
    /// Parsed hops of each path id.
    path_hops: FlatLists,
    strings: StrInterner,
    observers: KeyInterner,
    /// Who heard whom, from every observation merged (kept across evictions).
    neighbors: neighbors::NeighborEvidence,
    /// Sum of [`Tx::heap_bytes`] over the slots.
    tx_heap_bytes: usize,
    n_obs: usize,
    rejected: u64,
    live_skipped: u64,
    oldest_loaded: Option<UnixSecs>,
    longest_write_hold_us: u64,
    /// Per-hour aggregates of the observer analytics, once tracked.
    observer_stats: q_observers::ObserverStats,
    /// Per slot: what the node queries and bulk health read of its transmission.
    slot_summaries: Vec<slot_summary::SlotSummary>,
    /// Per slot: its transmission's `last_seen`.
    slot_heard: Vec<i64>,
}

impl StoreData {
    fn note_write_hold(&mut self, started: Instant) {
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.longest_write_hold_us = self.longest_write_hold_us.max(us);
    }

    fn counts(&self) -> StoreCounts {
        StoreCounts {
            transmissions: self.order.len(),
            observations: self.n_obs,
            observers: self.observers.len(),
            distinct_paths: self.paths.len(),
            allocated_bytes: self.allocated_bytes(),
            rejected: self.rejected,
            live_skipped: self.live_skipped,
            longest_write_hold_us: self.longest_write_hold_us,
        }
    }

    fn allocated_bytes(&self) -> usize {
        fn vecs<'a>(it: impl Iterator<Item = &'a Vec<u32>>) -> usize {
            it.map(|v| v.capacity() * 4).sum()
        }
        self.slots.capacity() * size_of::<Option<Tx>>()
            + self.tx_heap_bytes
            + self.free.capacity() * 4
            + self.order.capacity() * size_of::<(i64, u32)>()
            + self.by_hash.allocation_size()
            + self.by_observer.capacity() * size_of::<Vec<u32>>()
            + vecs(self.by_observer.iter())
            + self.by_node.allocation_size()
            + vecs(self.by_node.values())
            + self.by_sender.allocation_size()
            + vecs(self.by_sender.values())
            + self.by_peer.capacity() * size_of::<Vec<u32>>()
            + vecs(self.by_peer.iter())
            + self.by_hop.allocation_size()
            + vecs(self.by_hop.values())
            + self.by_channel.allocation_size()
            + vecs(self.by_channel.values())
            + vecs(self.by_type.iter())
            + self.paths.allocated_bytes()
            + self.path_hops.allocated_bytes()
            + self.strings.allocated_bytes()
            + self.observers.allocated_bytes()
            + self.neighbors.allocated_bytes()
            + self.observer_stats.allocated_bytes()
            + self.slot_summaries.capacity() * size_of::<slot_summary::SlotSummary>()
            + self.slot_heard.capacity() * size_of::<i64>()
    }

    /// Bytes evicting a transmission frees: its heap data and its index entries. Its slot
    /// (the arena entry and the per-slot summaries) stays allocated for the next one.
    fn tx_footprint(&self, slot: u32) -> usize {
        self.tx(slot).map_or(0, |tx| {
            tx.heap_bytes() + 16 + 16 + 4 * (3 + 2 * tx.obs.len())
        })
    }

    fn tx(&self, slot: u32) -> Option<&Tx> {
        self.slots.get(slot as usize)?.as_ref()
    }

    fn slot_last_seen(&self, slot: u32) -> Option<i64> {
        self.tx(slot).map(|tx| tx.last_seen)
    }

    fn slot_of_id(&self, id: i64) -> Option<u32> {
        let i = self.order.binary_search_by_key(&id, |&(id, _)| id).ok()?;
        Some(self.order[i].1)
    }

    /// Rewrites the chunk-local ids of `tx` and `keys` to global ones, interning values
    /// the store does not know yet.
    fn remap(&mut self, chunk: &PreparedChunk, remap: &mut Remap, tx: &mut Tx) {
        tx.channel = self.global_string(chunk, remap, tx.channel);
        tx.scope = self.global_string(chunk, remap, tx.scope);
        tx.from_pubkey = self.global_string(chunk, remap, tx.from_pubkey);
        for o in &mut tx.obs {
            o.observer = self.global_observer(chunk, remap, o.observer);
            o.path = self.global_path(chunk, remap, o.path);
            o.direction = self.global_string(chunk, remap, o.direction);
        }
    }

    fn global_string(&mut self, chunk: &PreparedChunk, remap: &mut Remap, local: u32) -> u32 {
        let Some(slot) = remap.strings.get_mut(local as usize) else {
            return NONE;
        };
        if *slot == UNMAPPED {
            *slot = self.strings.intern(chunk.strings.resolve(local));
        }
        *slot
    }

    fn global_observer(&mut self, chunk: &PreparedChunk, remap: &mut Remap, local: u32) -> u32 {
        let Some(slot) = remap.observers.get_mut(local as usize) else {
            return NONE;
        };
        if *slot == UNMAPPED {
            let key = chunk.observers.resolve(local).unwrap_or_default();
            *slot = self.observers.intern(key);
            if self.by_observer.len() < self.observers.len() {
                self.by_observer.resize_with(self.observers.len(), Vec::new);
            }
        }
        *slot
    }

    fn global_path(&mut self, chunk: &PreparedChunk, remap: &mut Remap, local: u32) -> u32 {
        match remap.paths.get(local as usize) {
            None => return NONE,
            Some(&id) if id != UNMAPPED => return id,
            Some(_) => {}
        }
        let before = self.paths.len();
        let id = self.paths.intern(chunk.paths.resolve(local));
        if self.paths.len() > before {
            let hops: Vec<u32> = chunk
                .path_hops
                .get(local as usize)
                .iter()
                .map(|&h| self.global_string(chunk, remap, h))
                .collect();
            self.path_hops.push(hops);
        }
        remap.paths[local as usize] = id;
        id
    }

    /// Inserts a transmission whose ids are already global, or merges it into the one
    /// present; returns the (id, slot) to add to the id order when it is new.
    fn insert(&mut self, tx: Tx, observers: &[u32], hops: &[u32]) -> Option<(i64, u32)> {
        let existing = self
            .by_hash
            .get(&tx.hash)
            .copied()
            .or_else(|| self.slot_of_id(tx.id));
        match existing {
            Some(slot) => {
                self.merge_into(slot, tx);
                None
            }
            None => {
                let id = tx.id;
                Some((id, self.insert_new(tx, observers, hops)))
            }
        }
    }

    /// Adds new transmissions to the id order.
    fn add_to_order(&mut self, mut added: Vec<(i64, u32)>) {
        if !added.is_empty() {
            added.sort_unstable();
            let (lowest, highest) = (added[0].0, added[added.len() - 1].0);
            if self.order.back().is_none_or(|&(last, _)| last < lowest) {
                // Live ingest and the hot load's first pages: append.
                self.order.extend(added);
            } else if self
                .order
                .front()
                .is_some_and(|&(first, _)| highest < first)
            {
                // The fill: each batch is older than everything loaded; prepend.
                for entry in added.into_iter().rev() {
                    self.order.push_front(entry);
                }
            } else {
                self.order.extend(added);
                // Two sorted runs: the stable sort merges them in linear time.
                self.order.make_contiguous().sort_by_key(|&(id, _)| id);
            }
        }
    }

    fn insert_new(&mut self, mut tx: Tx, observers: &[u32], hops: &[u32]) -> u32 {
        tx.obs.shrink_to_fit();
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).unwrap_or(NONE)
            }
        };
        self.by_hash.insert(tx.hash, slot);
        let bucket = usize::from(tx.payload_type).min(TYPE_BUCKETS - 1);
        self.by_type[bucket].push(slot);
        if tx.from_pubkey != NONE {
            self.by_node.entry(tx.from_pubkey).or_default().push(slot);
        }
        if tx.channel != NONE {
            self.by_channel.entry(tx.channel).or_default().push(slot);
        }
        self.index_parties(slot, &tx.raw);
        for &o in observers {
            if let Some(list) = self.by_observer.get_mut(o as usize) {
                list.push(slot);
            }
        }
        for &hop in hops {
            self.by_hop.entry(hop).or_default().push(slot);
        }
        self.note_neighbors(&tx, &tx.obs);
        self.tx_heap_bytes += tx.heap_bytes();
        self.n_obs += tx.obs.len();
        self.slots[slot as usize] = Some(tx);
        self.note_summary(slot, 0);
        self.note_observations(slot, 0, true);
        slot
    }

    /// Indexes who a payload names: the one-byte peer hashes and an ANON_REQ's sender.
    fn index_parties(&mut self, slot: u32, raw: &[u8]) {
        let parties = meshcore_wire::payload_parties(raw);
        for hash in [
            parties.dest_hash,
            parties.src_hash.filter(|&s| Some(s) != parties.dest_hash),
        ]
        .into_iter()
        .flatten()
        {
            if self.by_peer.len() < 256 {
                self.by_peer.resize_with(256, Vec::new);
            }
            self.by_peer[usize::from(hash)].push(slot);
        }
        if let Some(key) = parties.sender_key {
            let id = self.strings.intern(&meshcore_wire::hex::lower(&key));
            self.by_sender.entry(id).or_default().push(slot);
        }
    }

    /// Adds the observations of `incoming` that `slot` lacks.
    fn merge_into(&mut self, slot: u32, incoming: Tx) {
        let Some(mut tx) = self.slots.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.tx_heap_bytes -= tx.heap_bytes();
        let old_len = tx.obs.len();
        for o in incoming.obs {
            if !tx.obs.iter().any(|e| e.id == o.id) {
                tx.obs.push(o);
            }
        }
        tx.first_seen = tx.first_seen.min(incoming.first_seen);
        tx.last_seen = tx.last_seen.max(incoming.last_seen);
        let (old, new) = tx.obs.split_at(old_len);
        self.index_observations(slot, old, new);
        self.note_neighbors(&tx, new);
        self.n_obs += tx.obs.len() - old_len;
        self.tx_heap_bytes += tx.heap_bytes();
        self.slots[slot as usize] = Some(tx);
        self.note_summary(slot, old_len);
        self.note_observations(slot, old_len, false);
    }

    /// Pushes `slot` to the observer and hop indexes for values in `new` not in `old`.
    fn index_observations(&mut self, slot: u32, old: &[Obs], new: &[Obs]) {
        let mut seen_observers: Vec<u32> = old.iter().map(|o| o.observer).collect();
        let mut seen_paths: Vec<u32> = old.iter().map(|o| o.path).collect();
        let mut seen_hops: Vec<u32> = seen_paths
            .iter()
            .flat_map(|&p| self.hops_of(p).iter().copied())
            .collect();
        for o in new {
            if o.observer != NONE && !seen_observers.contains(&o.observer) {
                seen_observers.push(o.observer);
                if let Some(list) = self.by_observer.get_mut(o.observer as usize) {
                    list.push(slot);
                }
            }
            if seen_paths.contains(&o.path) {
                continue;
            }
            seen_paths.push(o.path);
            let hops = self.path_hops.get(o.path as usize).to_vec();
            for hop in hops {
                if !seen_hops.contains(&hop) {
                    seen_hops.push(hop);
                    self.by_hop.entry(hop).or_default().push(slot);
                }
            }
        }
    }

    /// The slots of the transmissions whose paths hold any of `hops` (string ids), sorted,
    /// each once.
    fn slots_with_any_hop(&self, hops: &[u32]) -> Vec<u32> {
        let mut slots: Vec<u32> = hops
            .iter()
            .filter_map(|id| self.by_hop.get(id))
            .flatten()
            .copied()
            .collect();
        slots.sort_unstable();
        slots.dedup();
        slots
    }

    /// Adds the neighbour evidence of `obs`, observations of `tx`.
    fn note_neighbors(&mut self, tx: &Tx, obs: &[Obs]) {
        for o in obs {
            let hops = self.path_hops.get(o.path as usize);
            self.neighbors
                .observe(tx.payload_type, tx.from_pubkey, hops, o);
        }
    }

    fn hops_of(&self, path: u32) -> &[u32] {
        self.path_hops.get(path as usize)
    }

    fn remove_slots(&mut self, slots: &[u32]) {
        if slots.is_empty() {
            return;
        }
        let observer_hours = self.observation_hours(slots);
        let mut gone = vec![false; self.slots.len()];
        for &slot in slots {
            let Some(tx) = self.slots.get_mut(slot as usize).and_then(Option::take) else {
                continue;
            };
            gone[slot as usize] = true;
            self.forget_summary(slot);
            self.by_hash.remove(&tx.hash);
            self.tx_heap_bytes -= tx.heap_bytes();
            self.n_obs -= tx.obs.len();
            self.free.push(slot);
        }
        let keep = |s: &u32| !gone[*s as usize];
        fn prune(list: &mut Vec<u32>, keep: impl Fn(&u32) -> bool) {
            list.retain(keep);
            if list.capacity() > 2 * list.len() + 8 {
                list.shrink_to_fit();
            }
        }
        self.order.retain(|(_, s)| keep(s));
        for list in &mut self.by_observer {
            prune(list, keep);
        }
        for list in &mut self.by_type {
            prune(list, keep);
        }
        for list in &mut self.by_peer {
            prune(list, keep);
        }
        for map in [
            &mut self.by_node,
            &mut self.by_sender,
            &mut self.by_hop,
            &mut self.by_channel,
        ] {
            map.retain(|_, list| {
                prune(list, keep);
                !list.is_empty()
            });
        }
        if self.order.capacity() > 2 * self.order.len() + 64 {
            self.order.shrink_to_fit();
        }
        self.recount_hours(&observer_hours);
    }

    fn packets(&self, q: &PacketQuery) -> PacketsAnswer {
        if let Some(oldest) = self.oldest_loaded {
            let before = |t: Option<i64>| t.is_some_and(|t| t < oldest);
            if before(q.since) || before(q.until) {
                return PacketsAnswer::BeforeLoadedWindow {
                    oldest_loaded: oldest,
                };
            }
        }
        let filter = match Filter::new(self, q) {
            Some(f) => f,
            None => return PacketsAnswer::Page(PacketPage::default()),
        };
        let page = self.list_page(&filter, None, q.order, q.offset, q.limit);
        PacketsAnswer::Page(page)
    }

    fn node_lists(&self, node: &NodeFilter) -> Vec<&[u32]> {
        let mut lists = Vec::new();
        if let Some(k) = node.pubkey {
            for index in [&self.by_node, &self.by_sender] {
                if let Some(l) = index.get(&k) {
                    lists.push(l.as_slice());
                }
            }
        }
        if let Some(l) = node.peer.and_then(|b| self.by_peer.get(usize::from(b))) {
            lists.push(l.as_slice());
        }
        for hop in &node.hops {
            if let Some(l) = self.by_hop.get(hop) {
                lists.push(l.as_slice());
            }
        }
        lists
    }

    fn summary(&self, slot: u32) -> Option<PacketSummary> {
        let tx = self.tx(slot)?;
        let mut observers: Vec<u32> = tx
            .obs
            .iter()
            .map(|o| o.observer)
            .filter(|&o| o != NONE)
            .collect();
        observers.sort_unstable();
        observers.dedup();
        let best = tx
            .obs
            .iter()
            .rev()
            .max_by_key(|o| self.hops_of(o.path).len())
            .map(|o| self.observation(o));
        let opt = |id: u32| (id != NONE).then(|| self.strings.resolve(id).to_owned());
        let byte = |b: u8| (b != NO_U8).then_some(b);
        Some(PacketSummary {
            id: tx.id,
            hash: ContentHash(tx.hash),
            first_seen: tx.first_seen,
            last_seen: tx.last_seen,
            route_type: byte(tx.route_type),
            payload_type: byte(tx.payload_type),
            payload_version: byte(tx.payload_version),
            raw_hex: encode_hex(&tx.raw, tx.raw_upper),
            decoded_json: tx.decoded_json.to_string(),
            channel_hash: opt(tx.channel),
            scope_name: opt(tx.scope),
            from_pubkey: opt(tx.from_pubkey),
            observation_count: tx.obs.len(),
            observer_count: observers.len(),
            best,
        })
    }

    fn observation(&self, o: &Obs) -> ObservationView {
        let f = |v: i16| (v != NO_CENTI).then_some(f64::from(v) / 100.0);
        ObservationView {
            id: o.id,
            observer_idx: self.observers.resolve(o.observer),
            timestamp: i64::from(o.timestamp),
            snr: f(o.snr),
            rssi: f(o.rssi),
            score: (o.score != NO_SCORE).then_some(i64::from(o.score)),
            direction: (o.direction != NONE).then(|| self.strings.resolve(o.direction).to_owned()),
            path_json: self.paths.resolve(o.path).to_owned(),
        }
    }

    fn detail(&self, slot: u32) -> Option<PacketDetail> {
        let summary = self.summary(slot)?;
        let tx = self.tx(slot)?;
        let mut observations: Vec<ObservationView> =
            tx.obs.iter().map(|o| self.observation(o)).collect();
        observations.sort_by_key(|o| (Reverse(o.timestamp), Reverse(o.id)));
        Some(PacketDetail {
            summary,
            observations,
        })
    }
}

/// A query with its strings resolved to interned ids.
struct Filter {
    payload_type: Option<u8>,
    route_type: Option<u8>,
    hash: Option<[u8; 8]>,
    observers: Option<Vec<u32>>,
    node: Option<NodeFilter>,
    channel: Option<u32>,
    since: Option<i64>,
    until: Option<i64>,
}

struct NodeFilter {
    pubkey: Option<u32>,
    /// Interned hop strings that are prefixes of the node key.
    hops: Vec<u32>,
    /// [`PacketQuery::node_peer_hash`].
    peer: Option<u8>,
}

impl NodeFilter {
    /// True when `tx`'s payload names the node: an ANON_REQ with its key as sender, or a
    /// peer hash equal to its unique first byte.
    fn names_party(&self, data: &StoreData, tx: &Tx) -> bool {
        if self.pubkey.is_none() && self.peer.is_none() {
            return false;
        }
        let parties = meshcore_wire::payload_parties(&tx.raw);
        self.peer
            .is_some_and(|b| parties.dest_hash == Some(b) || parties.src_hash == Some(b))
            || self.pubkey.is_some_and(|k| {
                parties.sender_key.is_some_and(|key| {
                    data.strings.get(&meshcore_wire::hex::lower(&key)) == Some(k)
                })
            })
    }
}

impl Filter {
    /// `None` when a named value is unknown to the store, so nothing can match.
    fn new(data: &StoreData, q: &PacketQuery) -> Option<Self> {
        let observers = if q.observers.is_empty() {
            None
        } else {
            let ids: Vec<u32> = q
                .observers
                .iter()
                .filter_map(|&k| data.observers.get(k))
                .collect();
            if ids.is_empty() {
                return None;
            }
            Some(ids)
        };
        let node = match q.node.as_deref() {
            None => None,
            Some(key) => {
                let key = key.trim().to_ascii_lowercase();
                let hops: Vec<u32> = (1..=key.len().min(8) / 2)
                    .filter_map(|n| key.get(..2 * n).and_then(|p| data.strings.get(p)))
                    .collect();
                let pubkey = data.strings.get(&key);
                let peer = q.node_peer_hash;
                if pubkey.is_none() && hops.is_empty() && peer.is_none() {
                    return None;
                }
                Some(NodeFilter { pubkey, hops, peer })
            }
        };
        let channel = match q.channel.as_deref() {
            None => None,
            Some(c) => Some(data.strings.get(c)?),
        };
        Some(Self {
            payload_type: q.payload_type,
            route_type: q.route_type,
            hash: q.hash.map(|h| h.0),
            observers,
            node,
            channel,
            since: q.since,
            until: q.until,
        })
    }

    fn matches(&self, data: &StoreData, tx: &Tx) -> bool {
        self.payload_type.is_none_or(|t| tx.payload_type == t)
            && self.route_type.is_none_or(|t| tx.route_type == t)
            && self.hash.is_none_or(|h| tx.hash == h)
            && self.channel.is_none_or(|c| tx.channel == c)
            && self.since.is_none_or(|s| tx.first_seen > s)
            && self.until.is_none_or(|u| tx.first_seen < u)
            && self
                .observers
                .as_ref()
                .is_none_or(|obs| tx.obs.iter().any(|o| obs.contains(&o.observer)))
            && self.node.as_ref().is_none_or(|n| {
                n.pubkey.is_some_and(|k| tx.from_pubkey == k)
                    || n.names_party(data, tx)
                    || tx
                        .obs
                        .iter()
                        .any(|o| data.hops_of(o.path).iter().any(|h| n.hops.contains(h)))
            })
    }
}

fn opt_u8(v: Option<i64>) -> u8 {
    v.and_then(|v| u8::try_from(v).ok())
        .filter(|&v| v != NO_U8)
        .unwrap_or(NO_U8)
}

/// Marks a missing signal value.
const NO_CENTI: i16 = i16::MIN;

/// A signal value in hundredths, clamped to what an `i16` holds (±327 dB covers any
/// SNR or RSSI a radio reports).
fn centi(v: Option<f64>) -> i16 {
    match v {
        Some(v) if v.is_finite() => (v * 100.0).round().clamp(-32767.0, 32767.0) as i16,
        _ => NO_CENTI,
    }
}

fn secs_u32(t: i64) -> u32 {
    u32::try_from(t.max(0)).unwrap_or(u32::MAX)
}

fn opt_score(v: Option<i64>) -> i32 {
    v.map_or(NO_SCORE, |v| {
        v.clamp(i64::from(NO_SCORE) + 1, i64::from(i32::MAX)) as i32
    })
}

/// Hex text to bytes, remembering whether the letters were upper case. `None` for odd
/// length or a non-hex character.
fn decode_hex(text: &str) -> Option<(Box<[u8]>, bool)> {
    let b = text.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(b.len() / 2);
    for pair in b.chunks_exact(2) {
        out.push(val(pair[0])? << 4 | val(pair[1])?);
    }
    let upper = b.iter().any(u8::is_ascii_uppercase);
    Some((out.into_boxed_slice(), upper))
}

fn encode_hex(bytes: &[u8], upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 0x0f)]));
    }
    out
}

/// The hops of a `path_json` array (`["AB","CDEF"]`), lower-cased; entries that are not
/// hex strings are skipped.
fn parse_hops(path_json: &str) -> impl Iterator<Item = String> + '_ {
    path_json
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|h| !h.is_empty() && h.len() <= 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_in_its_case() {
        let (raw, upper) = decode_hex("0A1bFF").unwrap();
        assert_eq!(&*raw, &[0x0a, 0x1b, 0xff]);
        assert!(upper);
        assert_eq!(encode_hex(&raw, false), "0a1bff");
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("").map(|(r, _)| r.len()), Some(0));
    }

    #[test]
    fn hops_are_parsed_and_lowercased() {
        let hops: Vec<String> = parse_hops(r#"["AB","C1D2","x y",""]"#).collect();
        assert_eq!(hops, ["ab", "c1d2"]);
        assert_eq!(parse_hops("[]").count(), 0);
        assert_eq!(parse_hops("not json").count(), 0);
    }

    #[test]
    fn observation_record_stays_compact() {
        assert_eq!(size_of::<Obs>(), 32);
    }
}
