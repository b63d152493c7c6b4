//! Store queries behind the observers endpoints. A child module of `store`, so it reads
//! `StoreData` directly under the read lock.
//!
//! The observer list's hourly counts walk the id order newest first. The analytics are
//! aggregated here from a per-observer copy of the observer's observations that is kept
//! between calls and validated against the store on each one ([`PerObserver::refresh`]),
//! so a call reads the observer's index list and its own observations instead of every
//! observation of every transmission it heard; the node identifiers of a decoded payload
//! come from the caller's function ([`DecodedNodes`]) and are cached per transmission.

use std::collections::BTreeMap;

use super::*;

/// How far before the window a transmission may have been first seen and still carry an
/// observation inside it. Walking the id order newest first stops at transmissions first
/// seen earlier than `since` minus this; an observation arriving more than this long after
/// its transmission's first sighting is not counted (the mesh repeats a packet within
/// seconds, so none is expected).
const LATE_OBSERVATION_GRACE_SECS: i64 = 6 * 3600;

/// Most observers whose analytics state is kept; the least recently asked for is dropped
/// first. Each costs about 60 bytes per observation of that observer in memory.
const MAX_CACHED_OBSERVERS: usize = 16;
/// Timeline buckets counted in dense arrays; later ones (future-dated observations) go
/// to a map.
const DENSE_BUCKETS: i64 = 4096;
/// Widest per-bucket node bit row (in 64-bit words: 8 KiB, 65,536 ids) before falling
/// back to hash sets, so the rows of even 4,096 buckets stay within 32 MiB.
const MAX_BIT_ROW_WORDS: usize = 1 << 10;

/// The node identifiers a decoded payload names, as the caller defines them. Its results
/// are cached per transmission, so a store must always be given the same function.
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

/// Per-store state of the observer analytics: per observer, its observations copied out
/// of the transmissions (validated on each use, see [`PerObserver::refresh`]), and the
/// node identifiers of each transmission and path, interned.
#[derive(Default)]
pub(super) struct ObserverCache {
    observers: HashMap<u32, PerObserver>,
    clock: u64,
    names: Names,
}

/// Node identifiers (payload keys and hashes, path hops in their stored case) interned
/// to dense ids, with the ids of each transmission and path.
#[derive(Default)]
struct Names {
    ids: HashMap<Box<str>, u32>,
    /// Per slot: (transmission id, start, length) in `pool`; id `i64::MIN` = not parsed.
    tx: Vec<(i64, u32, u32)>,
    /// Per path id: (start, length) in `pool`; start `u32::MAX` = not parsed.
    path: Vec<(u32, u32)>,
    pool: Vec<u32>,
}

impl Names {
    fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.insert(text.into(), id);
        id
    }

    fn push(&mut self, names: &[String]) -> (u32, u32) {
        let start = u32::try_from(self.pool.len()).unwrap_or(u32::MAX);
        for n in names {
            let id = self.intern(n);
            self.pool.push(id);
        }
        (start, u32::try_from(names.len()).unwrap_or(0))
    }

    /// Drops everything when superseded entries (slots reused by other transmissions)
    /// make up most of the pool; it is rebuilt on demand. True when it did (the ids
    /// copied anywhere else are then meaningless).
    fn compact(&mut self, slots: usize) -> bool {
        let bloated = self.pool.len() > 4 * (slots + self.path.len()) + (1 << 20);
        if bloated {
            *self = Names::default();
        }
        bloated
    }

    fn ensure_tx(&mut self, slot: u32, tx: &Tx, parse: DecodedNodes) {
        let i = slot as usize;
        if self.tx.len() <= i {
            self.tx.resize(i + 1, (i64::MIN, 0, 0));
        }
        if self.tx[i].0 != tx.id {
            let (start, len) = self.push(&parse(&tx.decoded_json));
            self.tx[i] = (tx.id, start, len);
        }
    }

    fn ensure_path(&mut self, data: &StoreData, path: u32) {
        let i = path as usize;
        if self.path.len() <= i {
            self.path.resize(i + 1, (u32::MAX, 0));
        }
        if self.path[i].0 == u32::MAX {
            let hops = parse_hops_verbatim(data.paths.resolve(path));
            self.path[i] = self.push(&hops);
        }
    }

    fn list(&self, (start, len): (u32, u32)) -> &[u32] {
        let start = start as usize;
        self.pool
            .get(start..start.saturating_add(len as usize))
            .unwrap_or(&[])
    }

    fn of_tx(&self, slot: u32) -> &[u32] {
        self.tx
            .get(slot as usize)
            .map_or(&[], |&(_, s, l)| self.list((s, l)))
    }

    fn of_path(&self, path: u32) -> &[u32] {
        self.path.get(path as usize).map_or(&[], |&r| self.list(r))
    }
}

/// One observer's observations, grouped by transmission in the order of its
/// `by_observer` list.
#[derive(Default)]
struct PerObserver {
    recs: Vec<Rec>,
    sights: Vec<Sight>,
    /// Node ids of each sighting (its transmission's, then its path's), back to back.
    ids: Vec<u32>,
    used: u64,
}

/// A transmission of the observer as of `n_obs` observations; its sightings are
/// `sights[start..start + n]`.
#[derive(Clone, Copy)]
struct Rec {
    id: i64,
    slot: u32,
    n_obs: u32,
    start: u32,
    n: u32,
}

/// One observation of the observer.
#[derive(Clone, Copy)]
struct Sight {
    ts: u32,
    /// Position in the transmission's observations.
    pos: u32,
    /// Its node ids: `ids[ids_start..ids_start + ids_len]`.
    ids_start: u32,
    ids_len: u32,
    snr: i16,
    payload_type: u8,
}

impl PerObserver {
    /// Brings the copy up to date with the store. Observations are only ever appended
    /// to a transmission, eviction removes whole transmissions (keeping the order of
    /// the index lists) and a reused slot holds another id, so a record whose slot, id
    /// and observation count match the store is exactly what a rescan would give; every
    /// other transmission of the observer's list is rescanned.
    fn refresh(&mut self, data: &StoreData, g: u32, names: &mut Names, parse: DecodedNodes) {
        let list = data
            .by_observer
            .get(g as usize)
            .map_or(&[][..], Vec::as_slice);
        let current = |r: &Rec, slot: u32| {
            r.slot == slot
                && data
                    .tx(slot)
                    .is_some_and(|tx| tx.id == r.id && tx.obs.len() == r.n_obs as usize)
        };
        if list.len() == self.recs.len() && list.iter().zip(&self.recs).all(|(&s, r)| current(r, s))
        {
            return;
        }
        let mut recs: Vec<Rec> = Vec::with_capacity(list.len());
        let mut sights: Vec<Sight> = Vec::with_capacity(self.sights.len() + 1024);
        let mut ids: Vec<u32> = Vec::with_capacity(self.ids.len() + 4096);
        let mut i = 0;
        for &slot in list {
            let Some(tx) = data.tx(slot) else { continue };
            // Records of evicted transmissions.
            while let Some(r) = self.recs.get(i) {
                if r.slot != slot && data.tx(r.slot).is_none_or(|t| t.id != r.id) {
                    i += 1;
                } else {
                    break;
                }
            }
            let start = u32::try_from(sights.len()).unwrap_or(u32::MAX);
            match self.recs.get(i) {
                Some(r) if r.slot == slot => {
                    i += 1;
                    let kept = (r.start as usize)..(r.start as usize + r.n as usize);
                    match self.sights.get(kept) {
                        Some(kept) if current(r, slot) => {
                            for s in kept {
                                let from = s.ids_start as usize;
                                let own = self.ids.get(from..from + s.ids_len as usize);
                                let ids_start = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                                ids.extend_from_slice(own.unwrap_or(&[]));
                                sights.push(Sight { ids_start, ..*s });
                            }
                        }
                        _ => push_sights(data, slot, tx, g, names, parse, &mut sights, &mut ids),
                    }
                }
                _ => push_sights(data, slot, tx, g, names, parse, &mut sights, &mut ids),
            }
            let end = u32::try_from(sights.len()).unwrap_or(u32::MAX);
            recs.push(Rec {
                id: tx.id,
                slot,
                n_obs: u32::try_from(tx.obs.len()).unwrap_or(u32::MAX),
                start,
                n: end - start,
            });
        }
        self.recs = recs;
        self.sights = sights;
        self.ids = ids;
    }
}

#[allow(clippy::too_many_arguments)]
fn push_sights(
    data: &StoreData,
    slot: u32,
    tx: &Tx,
    g: u32,
    names: &mut Names,
    parse: DecodedNodes,
    out: &mut Vec<Sight>,
    ids: &mut Vec<u32>,
) {
    let mut parsed = false;
    for (pos, o) in tx.obs.iter().enumerate() {
        if o.observer != g {
            continue;
        }
        if !parsed {
            parsed = true;
            names.ensure_tx(slot, tx, parse);
        }
        names.ensure_path(data, o.path);
        let start = ids.len();
        ids.extend_from_slice(names.of_tx(slot));
        ids.extend_from_slice(names.of_path(o.path));
        out.push(Sight {
            ts: o.timestamp,
            pos: u32::try_from(pos).unwrap_or(u32::MAX),
            ids_start: u32::try_from(start).unwrap_or(u32::MAX),
            ids_len: u32::try_from(ids.len() - start).unwrap_or(0),
            snr: o.snr,
            payload_type: tx.payload_type,
        });
    }
}

/// Distinct node ids per dense timeline bucket: a bit row per bucket while the id space
/// is small, hash sets beyond.
enum BucketNodes {
    Bits { rows: Vec<Vec<u64>>, words: usize },
    Sets(Vec<hashbrown::HashSet<u32>>),
}

impl BucketNodes {
    fn new(ids: usize) -> Self {
        let words = ids.div_ceil(64).max(1);
        if words <= MAX_BIT_ROW_WORDS {
            Self::Bits {
                rows: Vec::new(),
                words,
            }
        } else {
            Self::Sets(Vec::new())
        }
    }

    fn insert(&mut self, bucket: usize, ids: &[u32]) {
        match self {
            Self::Bits { rows, words } => {
                if rows.len() <= bucket {
                    rows.resize_with(bucket + 1, Vec::new);
                }
                let row = &mut rows[bucket];
                if row.is_empty() {
                    row.resize(*words, 0);
                }
                for &id in ids {
                    if let Some(w) = row.get_mut(id as usize / 64) {
                        *w |= 1 << (id % 64);
                    }
                }
            }
            Self::Sets(sets) => {
                if sets.len() <= bucket {
                    sets.resize_with(bucket + 1, Default::default);
                }
                sets[bucket].extend(ids);
            }
        }
    }

    fn count(&self, bucket: usize) -> usize {
        match self {
            Self::Bits { rows, .. } => rows
                .get(bucket)
                .map_or(0, |r| r.iter().map(|w| w.count_ones() as usize).sum()),
            Self::Sets(sets) => sets.get(bucket).map_or(0, |s| s.len()),
        }
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

    /// The analytics of the observer with key `observer_idx` over its observations at or
    /// after `since`, in time buckets of `bucket` seconds (aligned to the epoch), with its
    /// `recent` newest observations rendered in full. `parse` names the nodes of a decoded
    /// payload.
    ///
    /// The observer's observations are kept copied out of the store between calls and
    /// only the transmissions that changed are rescanned, so a call costs one pass over
    /// the observer's index list plus one over its observations in the window, instead
    /// of reading every observation of every transmission it heard.
    pub fn observer_analytics(
        &self,
        observer_idx: i64,
        since: UnixSecs,
        bucket: i64,
        recent: usize,
        parse: DecodedNodes,
    ) -> ObserverAnalytics {
        let caches = self.caches();
        let mut guard = caches.observers.lock().unwrap_or_else(|e| e.into_inner());
        let cache = &mut *guard;
        let data = self.read();
        let Some(g) = data.observers.get(observer_idx) else {
            return ObserverAnalytics::default();
        };
        cache.clock += 1;
        if !cache.observers.contains_key(&g) && cache.observers.len() >= MAX_CACHED_OBSERVERS {
            let oldest = cache
                .observers
                .iter()
                .min_by_key(|(_, p)| p.used)
                .map(|(&k, _)| k);
            if let Some(k) = oldest {
                cache.observers.remove(&k);
            }
        }
        if cache.names.compact(data.slots.len()) {
            cache.observers.clear();
        }
        let per = cache.observers.entry(g).or_default();
        per.used = cache.clock;
        per.refresh(&data, g, &mut cache.names, parse);
        aggregate(
            &data,
            per,
            cache.names.ids.len(),
            since,
            bucket.max(1),
            recent,
        )
    }
}

fn aggregate(
    data: &StoreData,
    per: &PerObserver,
    n_ids: usize,
    since: UnixSecs,
    bucket: i64,
    recent: usize,
) -> ObserverAnalytics {
    let base = since.div_euclid(bucket) * bucket;
    let mut dense: Vec<usize> = Vec::new();
    let mut sparse: BTreeMap<i64, usize> = BTreeMap::new();
    let mut nodes = BucketNodes::new(n_ids);
    let mut sparse_nodes: HashMap<i64, hashbrown::HashSet<u32>> = HashMap::new();
    let mut types = [0usize; 256];
    let mut snr = vec![0usize; 1 << 16];
    // (timestamp, slot, position) of every observation in the window.
    let mut newest: Vec<(u32, u32, u32)> = Vec::new();
    for r in &per.recs {
        let sights = per
            .sights
            .get(r.start as usize..r.start as usize + r.n as usize)
            .unwrap_or(&[]);
        for s in sights {
            let ts = i64::from(s.ts);
            if ts < since {
                continue;
            }
            let from = s.ids_start as usize;
            let ids = per.ids.get(from..from + s.ids_len as usize).unwrap_or(&[]);
            match (ts.div_euclid(bucket) * bucket - base) / bucket {
                i if i < DENSE_BUCKETS => {
                    let i = i as usize;
                    if dense.len() <= i {
                        dense.resize(i + 1, 0);
                    }
                    dense[i] += 1;
                    nodes.insert(i, ids);
                }
                i => {
                    *sparse.entry(i).or_default() += 1;
                    sparse_nodes.entry(i).or_default().extend(ids);
                }
            }
            if s.payload_type != NO_U8 {
                types[usize::from(s.payload_type)] += 1;
            }
            if s.snr != NO_CENTI {
                snr[usize::from(s.snr as u16)] += 1;
            }
            newest.push((s.ts, r.slot, s.pos));
        }
    }
    let mut timeline: Vec<(UnixSecs, usize, usize)> = dense
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n > 0)
        .map(|(i, &n)| (base + i as i64 * bucket, n, nodes.count(i)))
        .collect();
    timeline.extend(sparse.into_iter().map(|(i, n)| {
        let distinct = sparse_nodes.get(&i).map_or(0, |s| s.len());
        (base.saturating_add(i.saturating_mul(bucket)), n, distinct)
    }));
    let packet_types = (0..=u8::MAX)
        .filter(|&t| types[usize::from(t)] > 0)
        .map(|t| (t, types[usize::from(t)]))
        .collect();
    let mut snr_centi: Vec<(i16, usize)> = snr
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n > 0)
        .map(|(v, &n)| (v as u16 as i16, n))
        .collect();
    snr_centi.sort_unstable();
    ObserverAnalytics {
        timeline,
        packet_types,
        snr_centi,
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

/// The hop strings of a `path_json` array (`["AB","C1D2"]`) in their stored case; entries
/// that are not hex strings are skipped, as the hop index does.
fn parse_hops_verbatim(path_json: &str) -> Vec<String> {
    path_json
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|h| !h.is_empty() && h.len() <= 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer_db::{ObservationRow, TransmissionRow};

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
}
