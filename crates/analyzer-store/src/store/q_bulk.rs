//! Store query behind `/api/nodes/bulk-health`, and the per-store query caches.
//!
//! Bulk health aggregates, for each of up to a few hundred nodes, every transmission the
//! node is involved in by its best observation (the first with the longest path). It
//! reads the slot summaries kept on write (`slot_summary.rs`), one 32-byte record per
//! transmission in slot order, and never touches the transmissions or their observations.
//!
//! SNR and RSSI are kept in hundredths and summed as integers, so the means are exact and
//! do not depend on the order the transmissions are visited in ([`centi_mean`]; the
//! per-node endpoints use the same rule).

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
    /// Mean SNR of the best observations that have one.
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

/// Mean of `n` readings whose sum in hundredths (of a dB or dBm) is `sum`: one division,
/// so the same readings give the same mean whatever order they were summed in.
pub fn centi_mean(sum: i64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum as f64 / (n as f64 * 100.0))
}

/// Query caches and scratch space of one store (shared by its clones, dropped with it).
/// No write path maintains them: the kept paths are checked against the transmission's
/// id and observation count when used, and the hop index is extended with new paths.
#[derive(Default)]
pub(super) struct Caches {
    /// Bulk health's buffers.
    pub(super) bulk: Mutex<BulkScratch>,
    /// Per node, the path [`Store::node_paths`] kept of each transmission.
    pub(super) kept_paths: Arc<Mutex<super::q_nodes::KeptPathsCache>>,
    /// Hop → the paths holding it, for the reach scan.
    pub(super) paths_by_hop: Mutex<super::q_reach::PathsByHop>,
}

/// Reusable buffers of bulk health, left cleared after each node.
#[derive(Default)]
pub(super) struct BulkScratch {
    /// Slot bitset for de-duplicating a node's index lists.
    seen: Vec<u64>,
    /// Per global observer id.
    by_observer: Vec<ObserverSums>,
    /// Observer ids with a non-zero entry in `by_observer`.
    touched: Vec<u32>,
}

#[derive(Clone, Copy, Default)]
struct ObserverSums {
    packets: u64,
    snr_sum: i64,
    snr_n: u64,
    rssi_sum: i64,
    rssi_n: u64,
}

impl ObserverSums {
    fn add(&mut self, o: &ObserverSums) {
        self.packets += o.packets;
        self.snr_sum += o.snr_sum;
        self.snr_n += o.snr_n;
        self.rssi_sum += o.rssi_sum;
        self.rssi_n += o.rssi_n;
    }
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
        let mut scratch = caches.bulk.lock().unwrap_or_else(|e| e.into_inner());
        nodes
            .iter()
            .map(|node| self.read().node_health(&mut scratch, node, today))
            .collect()
    }
}

impl StoreData {
    fn node_health(
        &self,
        scratch: &mut BulkScratch,
        node: &NodeKeys,
        today: UnixSecs,
    ) -> NodeHealthSummary {
        let (lists, _) = self.node_key_lists(node);
        let BulkScratch {
            seen,
            by_observer,
            touched,
        } = scratch;
        let dedup = lists.len() > 1;
        if dedup {
            let words = self.slots.len().div_ceil(64);
            if seen.len() < words {
                seen.resize(words, 0);
            }
        }
        if by_observer.len() < self.observers.len() {
            by_observer.resize(self.observers.len(), ObserverSums::default());
        }
        let mut out = NodeHealthSummary::default();
        let (mut snr_sum, mut snr_n) = (0i64, 0u64);
        for list in &lists {
            for &slot in *list {
                if dedup {
                    let (w, bit) = (slot as usize / 64, 1u64 << (slot % 64));
                    let Some(word) = seen.get_mut(w) else {
                        continue;
                    };
                    if *word & bit != 0 {
                        continue;
                    }
                    *word |= bit;
                }
                let Some(r) = self.slot_summary(slot) else {
                    continue;
                };
                out.transmissions += 1;
                out.observations += r.n_obs as usize;
                if r.first_seen > today {
                    out.today += 1;
                }
                out.last_heard = out.last_heard.max(Some(r.first_seen));
                let has_snr = r.snr != NO_CENTI;
                if has_snr {
                    snr_sum += i64::from(r.snr);
                    snr_n += 1;
                }
                let Some(sums) = by_observer.get_mut(r.observer as usize) else {
                    continue;
                };
                if sums.packets == 0 {
                    touched.push(r.observer);
                }
                sums.packets += 1;
                if has_snr {
                    sums.snr_sum += i64::from(r.snr);
                    sums.snr_n += 1;
                }
                if r.rssi != NO_CENTI {
                    sums.rssi_sum += i64::from(r.rssi);
                    sums.rssi_n += 1;
                }
            }
        }
        if dedup {
            for list in &lists {
                for &slot in *list {
                    if let Some(word) = seen.get_mut(slot as usize / 64) {
                        *word = 0;
                    }
                }
            }
        }
        out.avg_snr = centi_mean(snr_sum, snr_n);
        // Observer key → sums (ids and keys are one to one, but merge equal keys anyway).
        let mut groups: Vec<(i64, ObserverSums)> = Vec::with_capacity(touched.len());
        for id in touched.drain(..) {
            let sums = std::mem::take(&mut by_observer[id as usize]);
            if let Some(key) = self.observers.resolve(id) {
                groups.push((key, sums));
            }
        }
        groups.sort_unstable_by_key(|g| g.0);
        groups.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1.add(&later.1);
            }
            same
        });
        out.observers = groups
            .into_iter()
            .map(|(key, s)| ObserverHealth {
                observer_idx: key,
                packets: s.packets as usize,
                avg_snr: centi_mean(s.snr_sum, s.snr_n),
                avg_rssi: centi_mean(s.rssi_sum, s.rssi_n),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_rows::{ORIGIN, T0, obs, tx};

    /// [`ORIGIN`], which relays as E9.
    fn origin() -> NodeKeys {
        NodeKeys {
            pubkey: ORIGIN.into(),
            hops: vec!["e9".into()],
        }
    }

    fn observer(key: i64, packets: usize, snr: Option<f64>) -> ObserverHealth {
        ObserverHealth {
            observer_idx: key,
            packets,
            avg_snr: snr,
            avg_rssi: None,
        }
    }

    /// An ADVERT of the origin heard first direct, then through E9 (the longest path wins
    /// from then on, an equally long later one does not), and a packet it relayed.
    fn store() -> Store {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[tx(
            1,
            ADVERT,
            vec![obs(1, 1, 7, T0 + 1, 5.0, "[]")],
        )]));
        store.merge(PreparedChunk::from_rows(&[tx(
            1,
            ADVERT,
            vec![
                obs(2, 1, 8, T0 + 2, 0.1, r#"["E9"]"#),
                obs(3, 1, 9, T0 + 3, 9.0, r#"["A1"]"#),
            ],
        )]));
        store.merge(PreparedChunk::from_rows(&[tx(
            2,
            5,
            vec![obs(4, 2, 8, T0 + 4, 0.2, r#"["E9"]"#)],
        )]));
        store
    }

    #[test]
    fn aggregates_each_transmission_once_by_its_best_observation() {
        let h = store().bulk_health(&[origin()], T0 - 1).remove(0);
        // The advert is in the origin's list and in E9's: counted once.
        assert_eq!(h.transmissions, 2);
        assert_eq!(h.observations, 4);
        assert_eq!(h.today, 2);
        assert_eq!(h.last_heard, Some(T0));
        // Both best observations are observer 8's; 0.1 and 0.2 average to exactly 0.15
        // (a floating-point sum gives 0.15000000000000002).
        assert_eq!(h.avg_snr, Some(0.15));
        assert_eq!(h.observers, vec![observer(8, 2, Some(0.15))]);
        assert_eq!(store().bulk_health(&[origin()], T0)[0].today, 0);
    }

    #[test]
    fn agrees_with_the_per_node_transmissions() {
        let store = store();
        let txs = store.node_transmissions(&origin(), None, false);
        let h = store.bulk_health(&[origin()], T0).remove(0);
        assert_eq!(txs.len(), h.transmissions);
        assert_eq!(
            txs.iter().map(|t| t.observation_count).sum::<usize>(),
            h.observations
        );
        for t in &txs {
            assert_eq!(t.best_observer, Some(8), "transmission {}", t.id);
        }
    }

    #[test]
    fn an_evicted_transmission_leaves_and_its_reused_slot_counts_afresh() {
        let store = store();
        let policy = EvictionPolicy {
            retention_secs: Some(100),
            max_bytes: None,
        };
        // The advert was last heard at T0 + 3, the relayed packet at T0 + 4.
        assert_eq!(store.evict(T0 + 104, &policy).by_age, 1);
        store.merge(PreparedChunk::from_rows(&[tx(
            3,
            ADVERT,
            vec![obs(5, 3, 9, T0 + 5, -1.5, "[]")],
        )]));
        let h = store.bulk_health(&[origin()], T0 - 1).remove(0);
        assert_eq!(h.transmissions, 2);
        assert_eq!(h.observations, 2);
        assert_eq!(h.avg_snr, Some(-0.65));
        assert_eq!(
            h.observers,
            vec![observer(8, 1, Some(0.2)), observer(9, 1, Some(-1.5))]
        );
    }

    #[test]
    fn a_node_in_no_transmission_has_an_empty_summary() {
        let nobody = NodeKeys {
            pubkey: "bb".repeat(32),
            hops: vec!["bb".into()],
        };
        let h = store().bulk_health(&[nobody, origin()], T0);
        assert_eq!(h[0], NodeHealthSummary::default());
        assert_eq!(h[1].transmissions, 2, "scratch space is left clean");
    }

    #[test]
    fn means_of_hundredths_do_not_depend_on_order() {
        assert_eq!(centi_mean(10 + 20, 2), Some(0.15));
        assert_eq!(centi_mean(0, 0), None);
        assert_eq!(centi_mean(-1050, 1), Some(-10.5));
    }
}
