//! Store query behind `/api/nodes/bulk-health`, and the per-store query caches.
//!
//! Bulk health aggregates, for each of up to a few hundred nodes, every transmission the
//! node is involved in by its best (longest-path) observation. Finding the best
//! observation means reading every observation of the transmission (about 25 on a busy
//! mesh), which on a production store is millions of 32-byte records per request. The
//! best observation of each slot is therefore cached ([`BestCache`]), keyed by slot and
//! validated on every use by the transmission id and observation count: observations are
//! only ever appended to a transmission (a merge adds, eviction removes the whole
//! transmission and frees the slot, and a reused slot carries another id), so an entry
//! whose id and count match is exactly what a rescan would give. No hook in the write path
//! is needed, and a stale entry cannot be served.

use super::q_nodes::NodeKeys;

use super::*;

/// What bulk health shows of one node, from the transmissions it is involved in (the
/// ADVERTs it sent and the packets whose path holds one of its attributable hops).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeHealthSummary {
    /// Transmissions in memory.
    pub transmissions: usize,
    /// Their observations in memory.
    pub observations: usize,
    /// Transmissions first seen strictly after the `today` time of the query.
    pub today: usize,
    /// Mean SNR of the best observations that have one (summed oldest first).
    pub avg_snr: Option<f64>,
    /// Newest first-seen time.
    pub last_heard: Option<UnixSecs>,
    /// Per observer key of the best observation: most transmissions first, then by key.
    pub observers: Vec<ObserverHealth>,
}

/// One observer's share of a node's transmissions (grouped by best observation).
#[derive(Debug, Clone, PartialEq)]
pub struct ObserverHealth {
    /// Observer key (`observations.observer_idx`).
    pub observer_idx: i64,
    /// Transmissions whose best observation it made.
    pub packets: usize,
    /// Mean SNR of those observations that have one.
    pub avg_snr: Option<f64>,
    /// Mean RSSI of those observations that have one.
    pub avg_rssi: Option<f64>,
}

/// The best observation of the transmission in one slot, as of `n_obs` observations.
#[derive(Clone, Copy)]
struct BestRec {
    /// Transmission id; [`i64::MIN`] marks an unused entry.
    id: i64,
    n_obs: u32,
    /// Global observer id, [`NONE`] when the best observation has none (or there is none).
    observer: u32,
    snr: i16,
    rssi: i16,
}

const EMPTY: BestRec = BestRec {
    id: i64::MIN,
    n_obs: 0,
    observer: NONE,
    snr: NO_CENTI,
    rssi: NO_CENTI,
};

/// Best observation per slot, validated on use (see the module doc).
#[derive(Default)]
pub(super) struct BestCache {
    by_slot: Vec<BestRec>,
    /// Reusable slot bitset for de-duplicating a node's index lists.
    seen: Vec<u64>,
}

impl BestCache {
    fn get(&mut self, data: &StoreData, slot: u32, tx: &Tx) -> BestRec {
        let i = slot as usize;
        if self.by_slot.len() <= i {
            self.by_slot.resize(data.slots.len().max(i + 1), EMPTY);
        }
        let n_obs = u32::try_from(tx.obs.len()).unwrap_or(u32::MAX);
        let rec = self.by_slot[i];
        if rec.id == tx.id && rec.n_obs == n_obs {
            return rec;
        }
        // The first observation with the longest path, as `summary` picks it.
        let best = tx
            .obs
            .iter()
            .rev()
            .max_by_key(|o| data.hops_of(o.path).len());
        let rec = BestRec {
            id: tx.id,
            n_obs,
            observer: best.map_or(NONE, |o| o.observer),
            snr: best.map_or(NO_CENTI, |o| o.snr),
            rssi: best.map_or(NO_CENTI, |o| o.rssi),
        };
        self.by_slot[i] = rec;
        rec
    }
}

/// Query caches of one store (shared by its clones, dropped with it). Each entry is
/// checked against the transmission's id and observation count when used, so no write path
/// has to maintain them.
#[derive(Default)]
pub(super) struct Caches {
    pub(super) best: Mutex<BestCache>,
    pub(super) summaries: Arc<Mutex<super::q_nodes::SummaryCache>>,
    /// Hop → the paths holding it, for the reach scan.
    pub(super) paths_by_hop: Mutex<super::q_reach::PathsByHop>,
}

impl Store {
    /// This store's query caches.
    pub(super) fn caches(&self) -> Arc<Caches> {
        Arc::clone(&self.caches)
    }

    /// Health summaries of `nodes` (same order), counting as "today" the transmissions
    /// first seen strictly after `today`. The read lock is taken once per node.
    pub fn bulk_health(&self, nodes: &[NodeKeys], today: UnixSecs) -> Vec<NodeHealthSummary> {
        let caches = self.caches();
        let mut cache = caches.best.lock().unwrap_or_else(|e| e.into_inner());
        nodes
            .iter()
            .map(|node| self.read().node_health(&mut cache, node, today))
            .collect()
    }
}

/// One transmission reduced to what bulk health aggregates (32 bytes, so the sort moves
/// little).
struct Row {
    first_seen: i64,
    id: i64,
    n_obs: u32,
    observer: u32,
    snr: i16,
    rssi: i16,
}

impl StoreData {
    fn node_health(
        &self,
        cache: &mut BestCache,
        node: &NodeKeys,
        today: UnixSecs,
    ) -> NodeHealthSummary {
        let mut lists: Vec<&[u32]> = Vec::new();
        if let Some(l) = self
            .strings
            .get(&node.pubkey)
            .and_then(|k| self.by_node.get(&k))
        {
            lists.push(l);
        }
        for hop in &node.hops {
            if let Some(l) = self.strings.get(hop).and_then(|h| self.by_hop.get(&h)) {
                lists.push(l);
            }
        }
        let mut rows: Vec<Row> = Vec::with_capacity(lists.iter().map(|l| l.len()).sum());
        let dedup = lists.len() > 1;
        if dedup {
            let words = self.slots.len().div_ceil(64);
            if cache.seen.len() < words {
                cache.seen.resize(words, 0);
            }
        }
        for list in &lists {
            for &slot in *list {
                if dedup {
                    let (w, bit) = (slot as usize / 64, 1u64 << (slot % 64));
                    let Some(word) = cache.seen.get_mut(w) else {
                        continue;
                    };
                    if *word & bit != 0 {
                        continue;
                    }
                    *word |= bit;
                }
                let Some(tx) = self.tx(slot) else { continue };
                let best = cache.get(self, slot, tx);
                rows.push(Row {
                    first_seen: tx.first_seen,
                    id: tx.id,
                    n_obs: best.n_obs,
                    observer: best.observer,
                    snr: best.snr,
                    rssi: best.rssi,
                });
            }
        }
        if dedup {
            for list in &lists {
                for &slot in *list {
                    if let Some(word) = cache.seen.get_mut(slot as usize / 64) {
                        *word = 0;
                    }
                }
            }
        }
        // Oldest first, so the means add up in the order the per-node endpoints use. The
        // index lists are runs in load order, which the stable sort merges cheaply.
        rows.sort_by_key(|r| (r.first_seen, r.id));
        self.summarise(&rows, today)
    }

    fn summarise(&self, rows: &[Row], today: UnixSecs) -> NodeHealthSummary {
        let db = |v: i16| (v != NO_CENTI).then_some(f64::from(v) / 100.0);
        let mut out = NodeHealthSummary {
            transmissions: rows.len(),
            ..NodeHealthSummary::default()
        };
        let (mut snr_sum, mut snr_n) = (0.0, 0usize);
        // observer key → (transmissions, snr sum, snr n, rssi sum, rssi n)
        let mut groups: HashMap<i64, (usize, f64, usize, f64, usize)> = HashMap::new();
        for r in rows {
            out.observations += r.n_obs as usize;
            if r.first_seen > today {
                out.today += 1;
            }
            out.last_heard = out.last_heard.max(Some(r.first_seen));
            let snr = db(r.snr);
            if let Some(v) = snr {
                snr_sum += v;
                snr_n += 1;
            }
            let Some(key) = self.observers.resolve(r.observer) else {
                continue;
            };
            let g = groups.entry(key).or_insert((0, 0.0, 0, 0.0, 0));
            g.0 += 1;
            if let Some(v) = snr {
                g.1 += v;
                g.2 += 1;
            }
            if let Some(v) = db(r.rssi) {
                g.3 += v;
                g.4 += 1;
            }
        }
        let mean = |sum: f64, n: usize| (n > 0).then(|| sum / n as f64);
        out.avg_snr = mean(snr_sum, snr_n);
        out.observers = groups
            .into_iter()
            .map(|(k, g)| ObserverHealth {
                observer_idx: k,
                packets: g.0,
                avg_snr: mean(g.1, g.2),
                avg_rssi: mean(g.3, g.4),
            })
            .collect();
        out.observers.sort_by(|a, b| {
            b.packets
                .cmp(&a.packets)
                .then(a.observer_idx.cmp(&b.observer_idx))
        });
        out
    }
}
