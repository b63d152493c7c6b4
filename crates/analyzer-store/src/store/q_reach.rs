//! The store scan behind `/api/nodes/{pk}/reach` (analytics.md §6.3): every observation
//! whose path holds one of a node's hop tokens says who the node heard (the hop before it,
//! or an ADVERT's originator when the node repeated it first) and who heard the node (the
//! hop after it, or the observer when the node was the last hop).
//!
//! The scan reads the transmissions the `by_hop` index lists for the tokens, newest first,
//! and stops after a row cap. Hops come back as text: the caller resolves them with its
//! node table. TRACE is skipped, as in the neighbour evidence: its path field is the
//! planned route, not the hops taken.

use super::*;

/// Who a node heard or was heard by, as a path names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReachPeer {
    /// A full public key (lower case): an ADVERT's originator.
    Node(String),
    /// A path hop (lower-case hex key prefix), still to be resolved.
    Hop(String),
}

/// An observer that heard the node as the last hop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReachObserver {
    /// Observer key (`observations.observer_idx`).
    pub observer_idx: i64,
    /// Observations in which it heard the node directly.
    pub count: u32,
    /// Mean SNR of those that carried one, in dB.
    pub avg_snr: Option<f64>,
}

/// The result of [`Store::reach_scan`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReachScan {
    /// Observations holding a token (the rows the cap counts).
    pub relay_observations: usize,
    /// True when the cap stopped the scan (older observations were not read).
    pub truncated: bool,
    /// Who the node heard: the peer before it on a path, with the number of sightings.
    pub we_hear: Vec<(ReachPeer, u32)>,
    /// Who heard the node: the hop after it on a path, with the number of sightings.
    pub they_hear: Vec<(ReachPeer, u32)>,
    /// Observers that heard the node as the last hop.
    pub observers: Vec<ReachObserver>,
}

impl Store {
    /// Scans the observations at or after `since` whose path holds one of `tokens`
    /// (lower-case hop strings, the prefixes that name the node unambiguously), newest
    /// transmission first, reading at most `max_rows` of them.
    pub fn reach_scan(&self, tokens: &[String], since: UnixSecs, max_rows: usize) -> ReachScan {
        let data = self.read();
        let mut ids: Vec<u32> = tokens.iter().filter_map(|t| data.strings.get(t)).collect();
        ids.sort_unstable();
        ids.dedup();
        let slots = data.slots_with_any_hop(&ids);
        // Which paths hold a token: the scan then reads the hops only of the observations
        // that match, instead of one random lookup per observation.
        let mut marked = vec![0u64; data.path_hops.len().div_ceil(64)];
        {
            let caches = self.caches();
            let mut index = caches
                .paths_by_hop
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            index.catch_up(&data);
            for &p in ids.iter().flat_map(|id| index.paths(*id)) {
                if let Some(word) = marked.get_mut(p as usize / 64) {
                    *word |= 1 << (p % 64);
                }
            }
        }
        drop(data);
        let scan = Tally {
            ids: &ids,
            marked: &marked,
            since,
            cap: max_rows,
        };
        // Slot order reads memory nearly in sequence; it gives the whole answer unless the
        // cap stops it, and only then does the order matter: rescan newest first.
        let mut tally = self.tally_in_chunks(&scan, &slots);
        if tally.truncated {
            let mut by_id: Vec<(i64, u32)> = {
                let data = self.read();
                slots
                    .iter()
                    .filter_map(|&slot| data.tx(slot).map(|tx| (tx.id, slot)))
                    .collect()
            };
            by_id.sort_unstable_by_key(|&(id, _)| Reverse(id));
            let newest_first: Vec<u32> = by_id.into_iter().map(|(_, slot)| slot).collect();
            tally = self.tally_in_chunks(&scan, &newest_first);
        }
        let data = self.read();
        let Counts {
            we,
            they,
            observers,
            ..
        } = tally;
        let mut scan = ReachScan {
            relay_observations: tally.relay_observations,
            truncated: tally.truncated,
            ..ReachScan::default()
        };
        let text = |id: u32| data.strings.resolve(id).to_owned();
        scan.we_hear = we
            .into_iter()
            .map(|((node, id), n)| {
                let peer = if node {
                    ReachPeer::Node(text(id))
                } else {
                    ReachPeer::Hop(text(id))
                };
                (peer, n)
            })
            .collect();
        scan.we_hear.sort_unstable();
        scan.they_hear = they
            .into_iter()
            .map(|(id, n)| (ReachPeer::Hop(text(id)), n))
            .collect();
        scan.they_hear.sort_unstable();
        scan.observers = observers
            .into_iter()
            .filter_map(|(g, (count, sum, n))| {
                Some(ReachObserver {
                    observer_idx: data.observers.resolve(g)?,
                    count,
                    avg_snr: (n > 0).then(|| sum as f64 / f64::from(n) / 100.0),
                })
            })
            .collect();
        scan.observers.sort_unstable_by_key(|o| o.observer_idx);
        scan
    }
}

/// Hop (string id) → the ids of the paths that hold it. Paths are interned for good and
/// only ever appended, so the index is built on first use and then extended with the paths
/// added since, without any hook in the write path. It costs one `u32` per hop of each
/// distinct path (about 28 MB for 2.2M paths).
#[derive(Default)]
pub(super) struct PathsByHop {
    /// Paths indexed so far (ids `0..upto`).
    upto: usize,
    lists: HashMap<u32, Vec<u32>>,
}

impl PathsByHop {
    /// Indexes the paths interned since the last call.
    fn catch_up(&mut self, data: &StoreData) {
        for (p, hops) in data.path_hops.iter_from(self.upto).enumerate() {
            let path = u32::try_from(self.upto + p).unwrap_or(u32::MAX);
            for &hop in hops {
                let list = self.lists.entry(hop).or_default();
                // A hop repeated within one path is listed once.
                if list.last() != Some(&path) {
                    list.push(path);
                }
            }
        }
        self.upto = data.path_hops.len();
    }

    fn paths(&self, hop: u32) -> &[u32] {
        self.lists.get(&hop).map_or(&[], Vec::as_slice)
    }
}

/// Transmissions read per hold of the read lock: a scan of a busy relay reads hundreds of
/// thousands, and a writer (and every reader queued behind it) must not wait for all of them.
const SCAN_CHUNK: usize = 4096;

impl Store {
    /// Runs `scan` over `slots` in order, taking the read lock once per [`SCAN_CHUNK`]
    /// transmissions. A slot emptied or reused in between is read as it is then: the
    /// answer is that of a live store, as any later request's would be.
    fn tally_in_chunks(&self, scan: &Tally<'_>, slots: &[u32]) -> Counts {
        let mut counts = Counts::default();
        for chunk in slots.chunks(SCAN_CHUNK) {
            let data = self.read();
            scan.run(&data, chunk, &mut counts);
            if counts.truncated {
                break;
            }
        }
        counts
    }
}

/// What one pass of a reach scan reads with.
struct Tally<'a> {
    /// Token string ids, sorted.
    ids: &'a [u32],
    /// Bit per path id: the path holds a token.
    marked: &'a [u64],
    since: UnixSecs,
    cap: usize,
}

/// What one pass counted.
#[derive(Default)]
struct Counts {
    /// (is an originator's key, string id) → sightings.
    we: HashMap<(bool, u32), u32>,
    they: HashMap<u32, u32>,
    /// Observer → (count, SNR sum in hundredths, SNRs).
    observers: HashMap<u32, (u32, i64, u32)>,
    relay_observations: usize,
    truncated: bool,
}

impl Tally<'_> {
    fn holds_token(&self, path: u32) -> bool {
        self.marked
            .get(path as usize / 64)
            .is_some_and(|w| w & (1 << (path % 64)) != 0)
    }

    /// Adds the transmissions of `slots` to `c` in that order until the cap.
    fn run(&self, data: &StoreData, slots: &[u32], c: &mut Counts) {
        'txs: for &slot in slots {
            let Some(tx) = data.tx(slot) else {
                continue;
            };
            if tx.payload_type == TRACE || tx.last_seen < self.since {
                continue;
            }
            let originator =
                (tx.payload_type == ADVERT && tx.from_pubkey != NONE).then_some(tx.from_pubkey);
            for o in &tx.obs {
                if i64::from(o.timestamp) < self.since || !self.holds_token(o.path) {
                    continue;
                }
                let hops = data.hops_of(o.path);
                let mut hit = false;
                for (i, hop) in hops.iter().enumerate() {
                    if self.ids.binary_search(hop).is_err() {
                        continue;
                    }
                    if !hit {
                        if c.relay_observations == self.cap {
                            c.truncated = true;
                            break 'txs;
                        }
                        c.relay_observations += 1;
                        hit = true;
                    }
                    let before = match i.checked_sub(1) {
                        Some(p) => Some((false, hops[p])),
                        None => originator.map(|n| (true, n)),
                    };
                    if let Some(key) = before {
                        *c.we.entry(key).or_default() += 1;
                    }
                    match hops.get(i + 1) {
                        Some(&next) => *c.they.entry(next).or_default() += 1,
                        None if o.observer != NONE => {
                            let e = c.observers.entry(o.observer).or_default();
                            e.0 += 1;
                            if o.snr != NO_CENTI {
                                e.1 += i64::from(o.snr);
                                e.2 += 1;
                            }
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_rows::{ORIGIN, T0, obs, tx};

    fn store() -> Store {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[
            // Too old for the window.
            tx(1, 5, vec![obs(1, 1, 7, T0 - 10, 1.0, r#"["A1","E9"]"#)]),
            // Our node repeated an advert first; observer 7 heard it from us.
            tx(2, ADVERT, vec![obs(2, 2, 7, T0 + 1, 4.0, r#"["E9"]"#)]),
            // Mid-path: A1 before us, B2 after; a second sighting without us.
            tx(
                3,
                5,
                vec![
                    obs(3, 3, 8, T0 + 2, -2.0, r#"["a1","e9","b2"]"#),
                    obs(4, 3, 7, T0 + 3, 3.0, r#"["A1"]"#),
                ],
            ),
            // Last hop again for observer 7, SNR 6.
            tx(4, 5, vec![obs(5, 4, 7, T0 + 4, 6.0, r#"["A1","E9"]"#)]),
            // A trace's path is its planned route.
            tx(5, 9, vec![obs(6, 5, 7, T0 + 5, 1.0, r#"["A1","E9"]"#)]),
        ]));
        store
    }

    #[test]
    fn counts_who_the_node_hears_and_who_hears_it() {
        let scan = store().reach_scan(&["e9".into()], T0, 100);
        assert_eq!(scan.relay_observations, 3);
        assert!(!scan.truncated);
        assert_eq!(
            scan.we_hear,
            vec![
                (ReachPeer::Node(ORIGIN.into()), 1),
                (ReachPeer::Hop("a1".into()), 2),
            ]
        );
        assert_eq!(scan.they_hear, vec![(ReachPeer::Hop("b2".into()), 1)]);
        assert_eq!(
            scan.observers,
            vec![ReachObserver {
                observer_idx: 7,
                count: 2,
                avg_snr: Some(5.0),
            }]
        );
    }

    #[test]
    fn the_row_cap_keeps_the_newest_and_says_so() {
        let scan = store().reach_scan(&["e9".into()], T0, 1);
        assert_eq!(scan.relay_observations, 1);
        assert!(scan.truncated);
        // The newest transmission holding the token is tx 4 (observer 7, last hop).
        assert_eq!(scan.observers.len(), 1);
        assert_eq!(scan.we_hear, vec![(ReachPeer::Hop("a1".into()), 1)]);
        // Unknown tokens find nothing.
        assert_eq!(
            store().reach_scan(&["ff".into()], T0, 10),
            ReachScan::default()
        );
    }

    #[test]
    fn paths_interned_after_a_scan_are_found_by_the_next() {
        let store = store();
        assert_eq!(
            store.reach_scan(&["e9".into()], T0, 100).relay_observations,
            3
        );
        // A new path (and a new hop text) after the index was built.
        store.merge(PreparedChunk::from_rows(&[tx(
            6,
            5,
            vec![obs(7, 6, 8, T0 + 6, 2.0, r#"["C3","E9","D4"]"#)],
        )]));
        let scan = store.reach_scan(&["e9".into()], T0, 100);
        assert_eq!(scan.relay_observations, 4);
        assert!(scan.we_hear.contains(&(ReachPeer::Hop("c3".into()), 1)));
        assert!(scan.they_hear.contains(&(ReachPeer::Hop("d4".into()), 1)));
    }
}
