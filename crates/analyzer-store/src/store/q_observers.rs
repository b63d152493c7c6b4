//! Store queries behind the observers endpoints. A child module of `store`, so it reads
//! `StoreData` directly under the read lock.
//!
//! The observer list's hourly counts walk the id order newest first. The analytics come
//! from [`ObserverStats`], per-hour aggregates that the store's writes keep up to date
//! (insert, merge of more observations, eviction): per hour and observer the observations,
//! their payload types and SNR values, and the set of node identifiers among their payloads
//! and path hops (a bit set, so the hours of a 4 h or 24 h bucket union exactly). A query
//! reads the aggregates of the whole hours in its window and the observations themselves
//! only where it needs them: the hour the window starts in (when `since` is not on the
//! hour) and the newest hours for the recent observations. The node identifiers of a
//! decoded payload come from the caller's function ([`DecodedNodes`]).

use std::collections::BTreeMap;

use super::*;

/// How far before the window a transmission may have been first seen and still carry an
/// observation inside it. Walking the id order newest first stops at transmissions first
/// seen earlier than `since` minus this; an observation arriving more than this long after
/// its transmission's first sighting is not counted (the mesh repeats a packet within
/// seconds, so none is expected).
const LATE_OBSERVATION_GRACE_SECS: i64 = 6 * 3600;

/// The aggregation unit of [`ObserverStats`]: timeline buckets that are whole multiples
/// of it (aligned to the epoch, as they are) are sums of hours.
const HOUR: i64 = 3600;

/// Spelling of a path's hops, per path id (see [`ObserverStats::path_case`]).
const PATH_UNSEEN: u8 = 0;
/// No hop has an upper-case letter: each hop is spelled as its lower-cased form.
const PATH_LOWER: u8 = 1;
/// No hop has a lower-case letter: each hop is spelled as its upper-cased form.
const PATH_UPPER: u8 = 2;
/// Anything else: the hops are read from the path text.
const PATH_MIXED: u8 = 3;

/// The node identifiers a decoded payload names, as the caller defines them. The store
/// keeps its results per transmission, so give a store one function (another one makes
/// it count everything again).
pub type DecodedNodes = fn(&str) -> Vec<String>;

/// One observer's activity at or after a time, aggregated for
/// `/api/observers/{id}/analytics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObserverAnalytics {
    /// Per time bucket holding at least one observation, oldest first: bucket start,
    /// observations, and distinct node identifiers among their payloads and path hops.
    pub timeline: Vec<(UnixSecs, usize, usize)>,
    /// Observations per header payload type, by type (unknown types left out).
    pub packet_types: Vec<(u8, usize)>,
    /// Observations per SNR value in hundredths of a dB, by value (none left out).
    pub snr_centi: Vec<(i16, usize)>,
    /// The newest observations (at most the requested number), newest first, each with
    /// its transmission.
    pub recent: Vec<(ObservationView, PacketSummary)>,
}

/// The observer analytics' aggregates, kept by the store's write paths once switched on
/// ([`Store::track_observer_analytics`]). Per-observation work on a write is a few array
/// and map look-ups; eviction recounts the hours it touched from what is left in them.
#[derive(Default)]
pub(super) struct ObserverStats {
    /// Names the nodes of a decoded payload; `None` while tracking is off.
    parse: Option<DecodedNodes>,
    /// Node identifiers (payload keys and hashes, path hops in their stored case) to
    /// dense ids, the bit positions of [`Cell::nodes`].
    node_ids: HashMap<Box<str>, u32>,
    /// Per slot: the node ids of its payload ([`NONE`]-padded); a fourth and later in
    /// `tx_more`.
    tx_nodes: Vec<[u32; 3]>,
    tx_more: HashMap<u32, Vec<u32>>,
    /// Per global string id of a (lower-cased) hop: the node ids of its lower- and
    /// upper-case spellings, [`NONE`] until needed.
    hop_nodes: Vec<[u32; 2]>,
    /// Per path id: how its hops are spelled, `PATH_*`.
    path_case: Vec<u8>,
    /// Per hour since the epoch (timestamp / 3600).
    hours: BTreeMap<u32, Hour>,
    /// Reused buffer of one observation's node ids.
    scratch: Vec<u32>,
}

/// One hour of observations.
#[derive(Default)]
struct Hour {
    /// The slots of the transmissions with an observation (by an observer) in the hour,
    /// each once.
    slots: Vec<u32>,
    /// Per global observer id.
    cells: Vec<Cell>,
}

impl Hour {
    /// The cell of global observer `g`, created when missing.
    fn cell(&mut self, g: u32) -> &mut Cell {
        let g = g as usize;
        if self.cells.len() <= g {
            self.cells.resize_with(g + 1, Cell::default);
        }
        &mut self.cells[g]
    }
}

/// One observer's observations in one hour.
#[derive(Default, Clone, Debug, PartialEq)]
struct Cell {
    n: u32,
    /// (payload type, observations), unknown types left out.
    types: Vec<(u8, u32)>,
    /// (SNR in hundredths of a dB, observations), none left out.
    snr: Vec<(i16, u32)>,
    /// Bit set of the node ids.
    nodes: Vec<u64>,
}

impl Cell {
    /// Counts one observation naming the node `ids`; `words`: the width of the id space
    /// in 64-bit words, the size the node bit set grows to when it has to.
    fn add(&mut self, payload_type: u8, snr: i16, ids: &[u32], words: usize) {
        self.n += 1;
        if payload_type != NO_U8 {
            bump(&mut self.types, payload_type);
        }
        if snr != NO_CENTI {
            bump(&mut self.snr, snr);
        }
        set_bits(&mut self.nodes, ids, words);
    }

    fn heap_bytes(&self) -> usize {
        self.types.capacity() * size_of::<(u8, u32)>()
            + self.snr.capacity() * size_of::<(i16, u32)>()
            + self.nodes.capacity() * 8
    }
}

fn bump<K: PartialEq + Copy>(counts: &mut Vec<(K, u32)>, key: K) {
    match counts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n += 1,
        None => counts.push((key, 1)),
    }
}

/// Sets the bits of `ids`, growing the set to at least `width` words (exactly, rather
/// than doubling: a cell's set is as wide as the id space when it grew last).
fn set_bits(words: &mut Vec<u64>, ids: &[u32], width: usize) {
    for &id in ids {
        let w = id as usize / 64;
        if words.len() <= w {
            let target = width.max(w + 1);
            words.reserve_exact(target - words.len());
            words.resize(target, 0);
        }
        words[w] |= 1 << (id % 64);
    }
}

fn or_bits(words: &mut Vec<u64>, other: &[u64]) {
    if words.len() < other.len() {
        words.resize(other.len(), 0);
    }
    for (w, o) in words.iter_mut().zip(other) {
        *w |= o;
    }
}

impl ObserverStats {
    fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.node_ids.get(text) {
            return id;
        }
        let id = u32::try_from(self.node_ids.len()).unwrap_or(NONE);
        self.node_ids.insert(text.into(), id);
        id
    }

    /// Records the node ids of the payload of the transmission now in `slot`.
    fn name_payload(&mut self, slot: u32, names: &[String]) {
        let i = slot as usize;
        if self.tx_nodes.len() <= i {
            self.tx_nodes.resize(i + 1, [NONE; 3]);
        }
        let mut ids = [NONE; 3];
        let mut more = Vec::new();
        for (k, name) in names.iter().enumerate() {
            let id = self.intern(name);
            match ids.get_mut(k) {
                Some(slot_id) => *slot_id = id,
                None => more.push(id),
            }
        }
        self.tx_nodes[i] = ids;
        if more.is_empty() {
            self.tx_more.remove(&slot);
        } else {
            self.tx_more.insert(slot, more);
        }
    }

    /// Appends the node ids of the payload in `slot` to `out`.
    fn payload_nodes(&self, slot: u32, out: &mut Vec<u32>) {
        if let Some(ids) = self.tx_nodes.get(slot as usize) {
            out.extend(ids.iter().copied().filter(|&id| id != NONE));
        }
        if !self.tx_more.is_empty()
            && let Some(more) = self.tx_more.get(&slot)
        {
            out.extend_from_slice(more);
        }
    }

    /// Appends the node ids of the hops of `path` to `out`, interning them.
    fn intern_path(
        &mut self,
        paths: &StrInterner,
        hops: &FlatLists,
        strings: &StrInterner,
        path: u32,
        out: &mut Vec<u32>,
    ) {
        let p = path as usize;
        if self.path_case.len() <= p {
            self.path_case.resize(p + 1, PATH_UNSEEN);
        }
        if self.path_case[p] == PATH_UNSEEN {
            self.path_case[p] = path_case(paths.resolve(path));
        }
        let case = self.path_case[p];
        if case == PATH_MIXED {
            for hop in hops_verbatim(paths.resolve(path)) {
                let id = self.intern(hop);
                out.push(id);
            }
            return;
        }
        let upper = usize::from(case == PATH_UPPER);
        for &h in hops.get(p) {
            let i = h as usize;
            if self.hop_nodes.len() <= i {
                self.hop_nodes.resize(i + 1, [NONE; 2]);
            }
            if self.hop_nodes[i][upper] == NONE {
                let lower = strings.resolve(h);
                let id = if upper == 1 {
                    self.intern(&lower.to_ascii_uppercase())
                } else {
                    self.intern(lower)
                };
                self.hop_nodes[i][upper] = id;
            }
            out.push(self.hop_nodes[i][upper]);
        }
    }

    /// Appends the node ids of the hops of `path` to `out` (read only: every path
    /// counted was interned then).
    fn path_nodes(&self, paths: &StrInterner, path: u32, out: &mut Vec<u32>) {
        for hop in hops_verbatim(paths.resolve(path)) {
            if let Some(&id) = self.node_ids.get(hop) {
                out.push(id);
            }
        }
    }

    /// Bytes allocated.
    pub(super) fn allocated_bytes(&self) -> usize {
        let hours: usize = self
            .hours
            .values()
            .map(|h| {
                h.slots.capacity() * 4
                    + h.cells.capacity() * size_of::<Cell>()
                    + h.cells.iter().map(Cell::heap_bytes).sum::<usize>()
            })
            .sum();
        self.node_ids.allocation_size()
            + self.node_ids.keys().map(|k| k.len()).sum::<usize>()
            + self.tx_nodes.capacity() * size_of::<[u32; 3]>()
            + self.tx_more.allocation_size()
            + self.tx_more.values().map(|v| v.capacity() * 4).sum::<usize>()
            + self.hop_nodes.capacity() * size_of::<[u32; 2]>()
            + self.path_case.capacity()
            // B-tree nodes: about one and a half entries allocated per entry.
            + self.hours.len() * (size_of::<u32>() + size_of::<Hour>()) * 3 / 2
            + hours
            + self.scratch.capacity() * 4
    }
}

/// How the hops of a path text are spelled (`PATH_LOWER`, `PATH_UPPER` or `PATH_MIXED`).
fn path_case(path_json: &str) -> u8 {
    let (mut upper, mut lower) = (false, false);
    for hop in hops_verbatim(path_json) {
        upper |= hop.bytes().any(|c| c.is_ascii_uppercase());
        lower |= hop.bytes().any(|c| c.is_ascii_lowercase());
    }
    match (upper, lower) {
        (false, _) => PATH_LOWER,
        (true, false) => PATH_UPPER,
        (true, true) => PATH_MIXED,
    }
}

/// The hop strings of a `path_json` array (`["AB","C1D2"]`) in their stored case; entries
/// that are not hex strings are skipped, as the hop index does.
fn hops_verbatim(path_json: &str) -> impl Iterator<Item = &str> {
    path_json
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|h| !h.is_empty() && h.len() <= 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
}

impl StoreData {
    /// Counts the observations `from..` of the transmission in `slot` into the observer
    /// analytics (nothing while they are not tracked). `fresh`: the transmission was just
    /// put in the slot, so its payload is named first.
    pub(super) fn note_observations(&mut self, slot: u32, from: usize, fresh: bool) {
        let StoreData {
            slots,
            paths,
            path_hops,
            strings,
            observer_stats: st,
            ..
        } = self;
        let Some(parse) = st.parse else { return };
        let Some(Some(tx)) = slots.get(slot as usize) else {
            return;
        };
        if fresh {
            st.name_payload(slot, &parse(&tx.decoded_json));
        }
        let mut ids = std::mem::take(&mut st.scratch);
        ids.clear();
        st.payload_nodes(slot, &mut ids);
        let payload = ids.len();
        // The hours the transmission is already listed in (a transmission spans one or
        // two hours, so this stays tiny however many observations it has).
        let mut listed: Vec<u32> = tx.obs[..from.min(tx.obs.len())]
            .iter()
            .filter(|e| e.observer != NONE)
            .map(|e| e.timestamp / HOUR as u32)
            .collect();
        listed.sort_unstable();
        listed.dedup();
        for o in tx.obs.iter().skip(from) {
            if o.observer == NONE {
                continue;
            }
            let hour = o.timestamp / HOUR as u32;
            ids.truncate(payload);
            st.intern_path(paths, path_hops, strings, o.path, &mut ids);
            let words = st.node_ids.len().div_ceil(64);
            let h = st.hours.entry(hour).or_default();
            if !listed.contains(&hour) {
                listed.push(hour);
                h.slots.push(slot);
            }
            h.cell(o.observer).add(tx.payload_type, o.snr, &ids, words);
        }
        st.scratch = ids;
    }

    /// The hours holding observations of the transmissions in `slots` (to recount with
    /// [`Self::recount_hours`] once they are removed).
    pub(super) fn observation_hours(&self, slots: &[u32]) -> Vec<u32> {
        if self.observer_stats.parse.is_none() {
            return Vec::new();
        }
        let mut hours: Vec<u32> = slots
            .iter()
            .filter_map(|&s| self.tx(s))
            .flat_map(|tx| tx.obs.iter())
            .filter(|o| o.observer != NONE)
            .map(|o| o.timestamp / HOUR as u32)
            .collect();
        hours.sort_unstable();
        hours.dedup();
        hours
    }

    /// Recounts `hours` from the transmissions still in memory, after removals.
    pub(super) fn recount_hours(&mut self, hours: &[u32]) {
        for &hour in hours {
            let Some(mut h) = self.observer_stats.hours.remove(&hour) else {
                continue;
            };
            h.slots.retain(|&s| self.tx(s).is_some());
            if h.slots.is_empty() {
                continue;
            }
            h.slots.shrink_to_fit();
            h.cells.clear();
            let StoreData {
                slots,
                paths,
                path_hops,
                strings,
                observer_stats: st,
                ..
            } = self;
            let mut ids = std::mem::take(&mut st.scratch);
            let hour_slots = std::mem::take(&mut h.slots);
            for &slot in &hour_slots {
                let Some(Some(tx)) = slots.get(slot as usize) else {
                    continue;
                };
                ids.clear();
                st.payload_nodes(slot, &mut ids);
                let payload = ids.len();
                for o in &tx.obs {
                    if o.observer == NONE || o.timestamp / HOUR as u32 != hour {
                        continue;
                    }
                    ids.truncate(payload);
                    st.intern_path(paths, path_hops, strings, o.path, &mut ids);
                    let words = st.node_ids.len().div_ceil(64);
                    h.cell(o.observer).add(tx.payload_type, o.snr, &ids, words);
                }
            }
            h.slots = hour_slots;
            st.scratch = ids;
            st.hours.insert(hour, h);
        }
    }

    /// Switches the observer analytics on with `parse`, counting everything in memory.
    fn track_observers(&mut self, parse: DecodedNodes) {
        self.observer_stats = ObserverStats {
            parse: Some(parse),
            ..ObserverStats::default()
        };
        let slots: Vec<u32> = self.order.iter().map(|&(_, s)| s).collect();
        for slot in slots {
            self.note_observations(slot, 0, true);
        }
    }

    fn tracks_observers_with(&self, parse: DecodedNodes) -> bool {
        self.observer_stats
            .parse
            .is_some_and(|p| std::ptr::fn_addr_eq(p, parse))
    }

    /// The observations of observer `g` in `hour` (as listed in `h`) at or after `since`:
    /// (slot, position, transmission, observation).
    fn own_observations<'a>(
        &'a self,
        h: &'a Hour,
        hour: u32,
        g: u32,
        since: UnixSecs,
    ) -> impl Iterator<Item = (u32, usize, &'a Tx, &'a Obs)> + 'a {
        h.slots
            .iter()
            .filter_map(move |&slot| self.tx(slot).map(|tx| (slot, tx)))
            .flat_map(move |(slot, tx)| {
                tx.obs.iter().enumerate().filter_map(move |(pos, o)| {
                    (o.observer == g
                        && o.timestamp / HOUR as u32 == hour
                        && i64::from(o.timestamp) >= since)
                        .then_some((slot, pos, tx, o))
                })
            })
    }
}

impl Store {
    /// Observations per observer key (`observations.observer_idx`) with
    /// `timestamp >= since` (see [`LATE_OBSERVATION_GRACE_SECS`] for the one bound).
    pub fn observations_per_observer_since(
        &self,
        since: UnixSecs,
    ) -> std::collections::HashMap<i64, usize> {
        let data = self.read();
        let mut per_global: HashMap<u32, usize> = HashMap::new();
        let stop = since.saturating_sub(LATE_OBSERVATION_GRACE_SECS);
        for &(_, slot) in data.order.iter().rev() {
            let Some(tx) = data.tx(slot) else { continue };
            if tx.first_seen < stop {
                break;
            }
            if tx.last_seen < since {
                continue;
            }
            for o in &tx.obs {
                if o.observer != NONE && i64::from(o.timestamp) >= since {
                    *per_global.entry(o.observer).or_default() += 1;
                }
            }
        }
        per_global
            .into_iter()
            .filter_map(|(g, n)| data.observers.resolve(g).map(|k| (k, n)))
            .collect()
    }

    /// Keeps the observer analytics up to date from now on, naming the nodes of decoded
    /// payloads with `parse`; what is already in memory is counted now (under the write
    /// lock, once: nothing happens when they are already kept with this function).
    pub fn track_observer_analytics(&self, parse: DecodedNodes) {
        let mut data = self.write();
        if !data.tracks_observers_with(parse) {
            let started = Instant::now();
            data.track_observers(parse);
            data.note_write_hold(started);
        }
    }

    /// The analytics of the observer with key `observer_idx` over its observations at or
    /// after `since`, in time buckets of `bucket` seconds (aligned to the epoch), with its
    /// `recent` newest observations rendered in full. `parse` names the nodes of a decoded
    /// payload.
    ///
    /// Answered from the per-hour aggregates the store keeps (switched on here when they
    /// are not yet kept with `parse`, see [`Store::track_observer_analytics`]): whole hours
    /// of the window are added up (when `bucket` is a multiple of an hour), and only the
    /// observations of the hour the window starts in and of the newest hours (for
    /// `recent`) are read.
    pub fn observer_analytics(
        &self,
        observer_idx: i64,
        since: UnixSecs,
        bucket: i64,
        recent: usize,
        parse: DecodedNodes,
    ) -> ObserverAnalytics {
        if !self.read().tracks_observers_with(parse) {
            self.track_observer_analytics(parse);
        }
        let data = self.read();
        let Some(g) = data.observers.get(observer_idx) else {
            return ObserverAnalytics::default();
        };
        aggregate(&data, g, since, bucket.max(1), recent)
    }
}

/// A timeline bucket being added up: observations and the node id bit set.
#[derive(Default)]
struct Bucket {
    n: usize,
    nodes: Vec<u64>,
}

fn aggregate(
    data: &StoreData,
    g: u32,
    since: UnixSecs,
    bucket: i64,
    recent: usize,
) -> ObserverAnalytics {
    let st = &data.observer_stats;
    let first_hour = u32::try_from(since.div_euclid(HOUR).max(0)).unwrap_or(u32::MAX);
    let whole_hours = bucket % HOUR == 0;
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    let mut types = [0usize; 256];
    let mut snr: BTreeMap<i16, usize> = BTreeMap::new();
    let mut ids: Vec<u32> = Vec::new();
    let own = |h: &Hour| h.cells.get(g as usize).is_some_and(|c| c.n > 0);
    for (&hour, h) in st.hours.range(first_hour..) {
        let Some(cell) = h.cells.get(g as usize).filter(|c| c.n > 0) else {
            continue;
        };
        let start = i64::from(hour) * HOUR;
        if whole_hours && start >= since {
            let b = buckets
                .entry(start.div_euclid(bucket) * bucket)
                .or_default();
            b.n += cell.n as usize;
            or_bits(&mut b.nodes, &cell.nodes);
            for &(t, n) in &cell.types {
                types[usize::from(t)] += n as usize;
            }
            for &(v, n) in &cell.snr {
                *snr.entry(v).or_default() += n as usize;
            }
            continue;
        }
        for (slot, _, tx, o) in data.own_observations(h, hour, g, since) {
            ids.clear();
            st.payload_nodes(slot, &mut ids);
            st.path_nodes(&data.paths, o.path, &mut ids);
            let ts = i64::from(o.timestamp);
            let b = buckets.entry(ts.div_euclid(bucket) * bucket).or_default();
            b.n += 1;
            set_bits(&mut b.nodes, &ids, 0);
            if tx.payload_type != NO_U8 {
                types[usize::from(tx.payload_type)] += 1;
            }
            if o.snr != NO_CENTI {
                *snr.entry(o.snr).or_default() += 1;
            }
        }
    }
    // The newest hours' observations until they hold `recent`: every observation of an
    // older hour is older than all of them.
    let mut newest: Vec<(u32, u32, u32)> = Vec::new();
    if recent > 0 {
        for (&hour, h) in st.hours.range(first_hour..).rev() {
            if !own(h) {
                continue;
            }
            newest.extend(
                data.own_observations(h, hour, g, since)
                    .map(|(slot, pos, _, o)| {
                        (o.timestamp, slot, u32::try_from(pos).unwrap_or(u32::MAX))
                    }),
            );
            if newest.len() >= recent {
                break;
            }
        }
    }
    ObserverAnalytics {
        timeline: buckets
            .into_iter()
            .map(|(start, b)| {
                let distinct = b.nodes.iter().map(|w| w.count_ones() as usize).sum();
                (start, b.n, distinct)
            })
            .collect(),
        packet_types: (0..=u8::MAX)
            .filter(|&t| types[usize::from(t)] > 0)
            .map(|t| (t, types[usize::from(t)]))
            .collect(),
        snr_centi: snr.into_iter().collect(),
        recent: newest_observations(data, newest, recent),
    }
}

/// The `n` newest of `candidates` (timestamp, slot, position) by time then observation
/// id, newest first, rendered.
fn newest_observations(
    data: &StoreData,
    mut candidates: Vec<(u32, u32, u32)>,
    n: usize,
) -> Vec<(ObservationView, PacketSummary)> {
    if n == 0 {
        return Vec::new();
    }
    if candidates.len() > n {
        candidates.select_nth_unstable_by_key(n - 1, |&(ts, _, _)| Reverse(ts));
        let cut = candidates[n - 1].0;
        // Everything at the cut time stays: the observation id decides among them.
        candidates.retain(|&(ts, _, _)| ts >= cut);
    }
    let mut keyed: Vec<(u32, i64, u32, usize)> = candidates
        .into_iter()
        .filter_map(|(ts, slot, pos)| {
            let o = data.tx(slot)?.obs.get(pos as usize)?;
            Some((ts, o.id, slot, pos as usize))
        })
        .collect();
    keyed.sort_unstable_by_key(|&(ts, id, _, _)| Reverse((ts, id)));
    keyed.truncate(n);
    keyed
        .into_iter()
        .filter_map(|(_, _, slot, pos)| {
            let obs = data.observation(data.tx(slot)?.obs.get(pos)?);
            Some((obs, data.summary(slot)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer_db::{ObservationRow, PacketObservation, TransmissionRow};

    fn obs(id: i64, tx: i64, observer: i64, ts: i64, snr: f64, path: &str) -> ObservationRow {
        ObservationRow {
            id,
            transmission_id: tx,
            observer_idx: Some(observer),
            direction: None,
            snr: Some(snr),
            rssi: Some(-90.0),
            score: None,
            path_json: Some(path.into()),
            resolved_path: None,
            timestamp: ts,
        }
    }

    fn tx(id: i64, first_seen: &str, observations: Vec<ObservationRow>) -> TransmissionRow {
        TransmissionRow {
            id,
            hash: format!("{id:016x}"),
            raw_hex: "1100".into(),
            first_seen: first_seen.into(),
            last_seen: 0,
            route_type: Some(1),
            payload_type: Some(4),
            payload_version: Some(0),
            decoded_json: Some(format!(r#"{{"type":"ADVERT","pubKey":"k{id}"}}"#)),
            channel_hash: None,
            scope_name: None,
            from_pubkey: None,
            observations,
        }
    }

    const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn store() -> Store {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[
            tx(
                1,
                "2026-01-01T00:00:00Z",
                vec![
                    obs(1, 1, 7, T0, 5.0, r#"["AB"]"#),
                    obs(2, 1, 8, T0 + 5, -3.0, "[]"),
                ],
            ),
            tx(
                2,
                "2026-01-01T01:00:00Z",
                vec![obs(3, 2, 7, T0 + 3600, 1.5, r#"["AB","CD"]"#)],
            ),
        ]));
        store
    }

    #[test]
    fn counts_per_observer_since() {
        let s = store();
        let all = s.observations_per_observer_since(T0);
        assert_eq!(all.get(&7), Some(&2));
        assert_eq!(all.get(&8), Some(&1));
        let late = s.observations_per_observer_since(T0 + 1);
        assert_eq!(late.get(&7), Some(&1));
        assert_eq!(late.get(&8), Some(&1));
        assert!(s.observations_per_observer_since(T0 + 7200).is_empty());
    }

    fn names(decoded: &str) -> Vec<String> {
        decoded
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|w| w.starts_with('k'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn analytics_counts_the_observers_own_observations() {
        let s = store();
        let a = s.observer_analytics(7, T0, 3600, 1, names);
        // Hour 0: tx 1 over path AB (nodes k1, AB); hour 1: tx 2 over AB, CD (k2, AB, CD).
        assert_eq!(a.timeline, [(T0, 1, 2), (T0 + 3600, 1, 3)]);
        assert_eq!(a.packet_types, [(4, 2)]);
        assert_eq!(a.snr_centi, [(150, 1), (500, 1)]);
        assert_eq!(a.recent.len(), 1);
        assert_eq!(a.recent[0].0.id, 3);
        assert_eq!(a.recent[0].1.id, 2);
        let day = s.observer_analytics(7, T0, 86_400, 20, names);
        assert_eq!(day.timeline, [(T0, 2, 4)]);
        assert_eq!(day.recent.len(), 2);
        assert_eq!(
            s.observer_analytics(7, T0 + 1, 3600, 20, names)
                .timeline
                .len(),
            1
        );
        assert!(
            s.observer_analytics(99, T0, 3600, 20, names)
                .timeline
                .is_empty()
        );
    }

    #[test]
    fn analytics_follow_merges_and_evictions() {
        let s = store();
        assert_eq!(
            s.observer_analytics(8, T0, 86_400, 5, names).timeline,
            [(T0, 1, 1)]
        );
        // A late observation by 8 of transmission 2, and a new transmission 3.
        s.merge(PreparedChunk::from_rows(&[
            tx(
                2,
                "2026-01-01T01:00:00Z",
                vec![obs(4, 2, 8, T0 + 3700, 2.0, r#"["EF"]"#)],
            ),
            tx(
                3,
                "2026-01-01T02:00:00Z",
                vec![obs(5, 3, 8, T0 + 7200, 2.0, "[]")],
            ),
        ]));
        let a = s.observer_analytics(8, T0, 86_400, 5, names);
        assert_eq!(a.timeline, [(T0, 3, 4)]);
        let ids: Vec<i64> = a.recent.iter().map(|(o, _)| o.id).collect();
        assert_eq!(ids, [5, 4, 2]);
        // Evicting transmission 1 (oldest) removes its observations.
        s.evict(
            T0 + 7200,
            &EvictionPolicy {
                retention_secs: Some(7000),
                max_bytes: None,
            },
        );
        let a = s.observer_analytics(8, T0, 86_400, 5, names);
        assert_eq!(a.timeline, [(T0, 2, 3)]);
        assert_eq!(
            s.observer_analytics(7, T0, 86_400, 5, names).timeline,
            [(T0, 1, 3)]
        );
    }

    /// A deterministic pseudo-random sequence (64-bit LCG).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    const PATHS: [&str; 8] = [
        "[]",
        r#"["AB"]"#,
        r#"["ab","CD"]"#,
        r#"["12","EF"]"#,
        r#"["ab","cd"]"#,
        r#"["AB","x y","3F"]"#,
        r#"["Ab"]"#,
        r#"["CD","12","ab"]"#,
    ];

    fn random_obs(rng: &mut Rng, id: i64, tx: i64, around: i64) -> ObservationRow {
        let snr = [-5.25, 0.0, 3.5, 7.75];
        ObservationRow {
            id,
            transmission_id: tx,
            observer_idx: Some(1 + rng.below(5) as i64),
            direction: None,
            snr: (rng.below(6) > 0).then(|| snr[rng.below(4) as usize]),
            rssi: None,
            score: None,
            path_json: Some(PATHS[rng.below(PATHS.len() as u64) as usize].into()),
            resolved_path: None,
            timestamp: around + rng.below(7200) as i64,
        }
    }

    fn random_tx(rng: &mut Rng, id: i64, next_obs: &mut i64) -> TransmissionRow {
        let at = T0 + rng.below(3 * 86_400) as i64;
        let observations = (0..1 + rng.below(4))
            .map(|_| {
                *next_obs += 1;
                random_obs(rng, *next_obs, id, at)
            })
            .collect();
        let decoded = match rng.below(4) {
            0 => r#"{"type":"ADVERT","pubKey":"k1","srcHash":"k2","destHash":"k3","x":"k4"}"#
                .to_owned(),
            1 => "{}".to_owned(),
            _ => format!(r#"{{"type":"TXT_MSG","srcHash":"k{}"}}"#, rng.below(9)),
        };
        TransmissionRow {
            id,
            hash: format!("{id:016x}"),
            raw_hex: "1100".into(),
            first_seen: String::new(),
            last_seen: at,
            route_type: Some(1),
            payload_type: (rng.below(5) > 0).then(|| rng.below(6) as i64),
            payload_version: Some(0),
            decoded_json: Some(decoded),
            channel_hash: None,
            scope_name: None,
            from_pubkey: None,
            observations,
        }
    }

    /// The aggregates of every (hour, observer) by node name, and the hour lists, in a
    /// form that does not depend on the order things were counted in.
    #[allow(clippy::type_complexity)]
    fn snapshot(
        st: &ObserverStats,
    ) -> BTreeMap<(u32, usize), (u32, Vec<(u8, u32)>, Vec<(i16, u32)>, Vec<String>, Vec<u32>)> {
        let names: HashMap<u32, &str> = st.node_ids.iter().map(|(k, &v)| (v, &**k)).collect();
        let mut out = BTreeMap::new();
        for (&hour, h) in &st.hours {
            let mut slots = h.slots.clone();
            slots.sort_unstable();
            for (g, c) in h.cells.iter().enumerate().filter(|(_, c)| c.n > 0) {
                let mut types = c.types.clone();
                types.sort_unstable();
                let mut snr = c.snr.clone();
                snr.sort_unstable();
                let mut nodes: Vec<String> = (0..c.nodes.len() * 64)
                    .filter(|&i| c.nodes[i / 64] & (1 << (i % 64)) != 0)
                    .map(|i| names.get(&(i as u32)).copied().unwrap_or("?").to_owned())
                    .collect();
                nodes.sort_unstable();
                out.insert((hour, g), (c.n, types, snr, nodes, slots.clone()));
            }
        }
        out
    }

    /// The analytics recomputed from every observation in memory: timeline, types, SNR
    /// and the ids of the `recent` newest observations.
    #[allow(clippy::type_complexity)]
    fn reference(
        s: &Store,
        observer: i64,
        since: i64,
        bucket: i64,
        recent: usize,
    ) -> (
        Vec<(i64, usize, usize)>,
        Vec<(u8, usize)>,
        Vec<(i16, usize)>,
        Vec<i64>,
    ) {
        let data = s.read();
        let Some(g) = data.observers.get(observer) else {
            return Default::default();
        };
        let mut buckets: BTreeMap<i64, (usize, hashbrown::HashSet<String>)> = BTreeMap::new();
        let mut types: BTreeMap<u8, usize> = BTreeMap::new();
        let mut snr: BTreeMap<i16, usize> = BTreeMap::new();
        let mut all: Vec<(u32, i64)> = Vec::new();
        for tx in data.slots.iter().flatten() {
            for o in tx.obs.iter().filter(|o| o.observer == g) {
                if i64::from(o.timestamp) < since {
                    continue;
                }
                let b = buckets
                    .entry(i64::from(o.timestamp).div_euclid(bucket) * bucket)
                    .or_default();
                b.0 += 1;
                b.1.extend(names(&tx.decoded_json));
                b.1.extend(hops_verbatim(data.paths.resolve(o.path)).map(str::to_owned));
                if tx.payload_type != NO_U8 {
                    *types.entry(tx.payload_type).or_default() += 1;
                }
                if o.snr != NO_CENTI {
                    *snr.entry(o.snr).or_default() += 1;
                }
                all.push((o.timestamp, o.id));
            }
        }
        all.sort_unstable_by_key(|&k| Reverse(k));
        (
            buckets
                .into_iter()
                .map(|(t, (n, set))| (t, n, set.len()))
                .collect(),
            types.into_iter().collect(),
            snr.into_iter().collect(),
            all.into_iter().take(recent).map(|(_, id)| id).collect(),
        )
    }

    /// The kept aggregates equal a recount from scratch, and every answer equals the
    /// reference computation.
    fn check(s: &Store) {
        {
            let mut data = s.write();
            let kept = std::mem::take(&mut data.observer_stats);
            let parse = kept.parse.unwrap_or(names);
            data.track_observers(parse);
            let fresh = snapshot(&data.observer_stats);
            data.observer_stats = kept;
            assert_eq!(snapshot(&data.observer_stats), fresh, "aggregates drifted");
        }
        let windows = [
            (T0, 3600),
            (T0 + 1234, 3600),
            (T0 + 5000, 14_400),
            (T0 + 86_400 + 77, 86_400),
            (T0 - 10, 600),
            (T0 + 7199, 7200),
            (T0 + 2 * 86_400 + 3599, 14_400),
            (0, 86_400),
        ];
        for observer in 1..=6 {
            for (since, bucket) in windows {
                for recent in [0, 3, 20] {
                    let a = s.observer_analytics(observer, since, bucket, recent, names);
                    let ids: Vec<i64> = a.recent.iter().map(|(o, _)| o.id).collect();
                    let got = (a.timeline, a.packet_types, a.snr_centi, ids);
                    assert_eq!(
                        got,
                        reference(s, observer, since, bucket, recent),
                        "observer {observer} since {since} bucket {bucket} recent {recent}"
                    );
                }
            }
        }
    }

    fn live(
        n: i64,
        observer: i64,
        observation: i64,
        at: i64,
        new: bool,
    ) -> (PacketObservation, PacketWrite) {
        let packet = PacketObservation {
            hash: ContentHash(n.to_be_bytes()),
            raw_hex: "1100".into(),
            route_type: 1,
            payload_type: 2,
            payload_version: 0,
            decoded_json: format!(r#"{{"type":"TXT_MSG","destHash":"k{n}"}}"#),
            channel_hash: None,
            scope_name: None,
            from_pubkey: None,
            observer: Some(analyzer_db::ObserverRef {
                id: format!("o{observer}"),
                name: None,
                iata: None,
            }),
            direction: None,
            snr: Some(1.25),
            rssi: None,
            score: None,
            path_json: r#"["AB","EE"]"#.into(),
            resolved_path: None,
            received_at: at,
            advert: None,
        };
        let write = PacketWrite {
            transmission_id: n,
            new_transmission: new,
            observation: analyzer_db::ObservationWrite::Inserted(observation),
            observer_idx: Some(observer),
        };
        (packet, write)
    }

    #[test]
    fn kept_aggregates_match_a_recount_through_appends_merges_and_evictions() {
        let mut rng = Rng(7);
        let mut next_obs = 0;
        let s = Store::new();
        s.track_observer_analytics(names);
        // Transmissions arriving in chunks, the later ones partly older (the fill).
        for chunk in 0..3 {
            let rows: Vec<TransmissionRow> = (0..80)
                .map(|i| random_tx(&mut rng, 1000 - chunk * 100 - i, &mut next_obs))
                .collect();
            s.merge(PreparedChunk::from_rows(&rows));
            check(&s);
        }
        // More observations of transmissions already in memory, some repeated, with new
        // transmissions in the same chunk.
        let mut rows = Vec::new();
        for i in 0..40 {
            let id = 1000 - rng.below(80) as i64 - 100 * rng.below(3) as i64;
            let mut row = random_tx(&mut rng, id, &mut next_obs);
            if i % 5 == 0 {
                row.observations.push(obs(1, 1000, 2, T0, 1.0, "[]"));
            }
            rows.push(row);
            rows.push(random_tx(&mut rng, 2000 + i, &mut next_obs));
        }
        s.merge(PreparedChunk::from_rows(&rows));
        check(&s);
        // Late observations (one of a transmission not in memory).
        let late: Vec<ObservationRow> = (0..30)
            .map(|i| {
                next_obs += 1;
                let tx = if i == 0 { 99_999 } else { 2000 + i };
                random_obs(&mut rng, next_obs, tx, T0 + 2 * 86_400)
            })
            .collect();
        s.merge(PreparedChunk::from_late_observations(&late));
        check(&s);
        // Live appends: a new transmission and another sighting of it.
        let at = T0 + 3 * 86_400 + 100;
        let (p, w) = live(5000, 3, 900_001, at, true);
        assert!(s.append(&p, &w));
        let (p, w) = live(5000, 4, 900_002, at + 3600, false);
        assert!(s.append(&p, &w));
        check(&s);
        // Eviction by age (the cut falls inside hours), then by memory.
        let report = s.evict(
            T0 + 2 * 86_400 + 1800,
            &EvictionPolicy {
                retention_secs: Some(86_400),
                max_bytes: None,
            },
        );
        assert!(report.by_age > 0);
        check(&s);
        let budget = s.allocated_bytes() * 2 / 3;
        let report = s.evict(
            T0,
            &EvictionPolicy {
                retention_secs: None,
                max_bytes: Some(budget),
            },
        );
        assert!(report.by_memory > 0);
        check(&s);
        // Slots freed by eviction are reused by new transmissions.
        let rows: Vec<TransmissionRow> = (0..50)
            .map(|i| random_tx(&mut rng, 3000 + i, &mut next_obs))
            .collect();
        s.merge(PreparedChunk::from_rows(&rows));
        check(&s);
    }

    #[test]
    fn tracking_switched_on_late_counts_what_is_loaded() {
        let mut rng = Rng(11);
        let mut next_obs = 0;
        let s = Store::new();
        let rows: Vec<TransmissionRow> = (0..100)
            .map(|i| random_tx(&mut rng, 1 + i, &mut next_obs))
            .collect();
        s.merge(PreparedChunk::from_rows(&rows));
        assert!(s.read().observer_stats.parse.is_none());
        // The first query switches tracking on.
        let a = s.observer_analytics(1, T0, 3600, 20, names);
        assert!(s.read().observer_stats.parse.is_some());
        assert_eq!(a.recent.len(), 20);
        check(&s);
        let bytes = s.allocated_bytes();
        s.track_observer_analytics(names);
        assert_eq!(
            s.allocated_bytes(),
            bytes,
            "tracking again with the same function"
        );
        let rows: Vec<TransmissionRow> = (0..20)
            .map(|i| random_tx(&mut rng, 200 + i, &mut next_obs))
            .collect();
        s.merge(PreparedChunk::from_rows(&rows));
        check(&s);
    }
}
