//! Neighbour evidence: who heard whom directly, from every observation the store merges.
//!
//! A path names the relays a packet went through, in order, and the observation says who
//! received it last. So each observation is evidence of radio links (the rules of the
//! reference's edge builder, analytics.md §2.3 / ingest.md §5.1):
//! * an ADVERT heard with an empty path: its originator ↔ the observer;
//! * an ADVERT with hops: its originator ↔ the first hop (whoever repeated it first);
//! * any packet with hops: the observer ↔ the last hop (whoever the observer heard).
//!
//! TRACE is left out: its path field is the planned route, not the hops taken so far, so
//! its last entry is not who the observer heard (the reference counts it anyway).
//!
//! Hops are short key prefixes, and which node a prefix names depends on the node table
//! of the moment, so the evidence is kept *unresolved*, keyed by the known endpoint and
//! the hop text, and resolved when read ([`Store::neighbor_evidence`]). That
//! makes the evidence independent of the order observations arrive in (the startup fill
//! brings older ones after newer ones) and of when a node's advert was first heard. The
//! map grows with distinct (endpoint, hop) pairs, not with traffic, and outlives the
//! eviction of the transmissions it came from, the way the reference's `neighbor_edges`
//! table outlives packet retention; entries unseen since the retention cutoff are dropped
//! by [`Store::evict`].

use super::*;

/// What an evidence entry links (ids interned in the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum EvidenceKey {
    /// An ADVERT's originator (string id of its key) heard with no hops by an observer
    /// (global observer id).
    Direct { node: u32, observer: u32 },
    /// An ADVERT's originator and the first hop of its path (string id).
    FirstHop { node: u32, hop: u32 },
    /// An observer and the last hop of a path.
    LastHop { observer: u32, hop: u32 },
}

/// Accumulated sightings of one [`EvidenceKey`].
#[derive(Debug, Clone, Copy)]
pub(super) struct EvidenceStats {
    count: u32,
    first_seen: u32,
    last_seen: u32,
    /// Sum of the SNRs (hundredths of a dB) of the sightings that carried one.
    snr_sum: i64,
    snr_count: u32,
}

/// The evidence map (a field of `StoreData`).
#[derive(Default)]
pub(super) struct NeighborEvidence {
    map: HashMap<EvidenceKey, EvidenceStats>,
}

impl NeighborEvidence {
    /// Records one observation of a transmission with this payload type and originator.
    pub(super) fn observe(&mut self, payload_type: u8, originator: u32, hops: &[u32], o: &Obs) {
        if payload_type == TRACE {
            return;
        }
        let advert = payload_type == ADVERT && originator != NONE;
        match (hops.first(), hops.last()) {
            (Some(&first), Some(&last)) => {
                if advert {
                    self.add(
                        EvidenceKey::FirstHop {
                            node: originator,
                            hop: first,
                        },
                        o,
                    );
                }
                if o.observer != NONE {
                    self.add(
                        EvidenceKey::LastHop {
                            observer: o.observer,
                            hop: last,
                        },
                        o,
                    );
                }
            }
            _ if advert && o.observer != NONE => self.add(
                EvidenceKey::Direct {
                    node: originator,
                    observer: o.observer,
                },
                o,
            ),
            _ => {}
        }
    }

    fn add(&mut self, key: EvidenceKey, o: &Obs) {
        let e = self.map.entry(key).or_insert(EvidenceStats {
            count: 0,
            first_seen: o.timestamp,
            last_seen: o.timestamp,
            snr_sum: 0,
            snr_count: 0,
        });
        e.count = e.count.saturating_add(1);
        e.first_seen = e.first_seen.min(o.timestamp);
        e.last_seen = e.last_seen.max(o.timestamp);
        if o.snr != NO_CENTI {
            e.snr_sum += i64::from(o.snr);
            e.snr_count += 1;
        }
    }

    /// True when some entry was last seen before `cutoff`.
    pub(super) fn has_older_than(&self, cutoff: UnixSecs) -> bool {
        self.map.values().any(|e| i64::from(e.last_seen) < cutoff)
    }

    /// Drops entries last seen before `cutoff`.
    pub(super) fn prune(&mut self, cutoff: UnixSecs) {
        let before = self.map.len();
        self.map.retain(|_, e| i64::from(e.last_seen) >= cutoff);
        if self.map.len() < before && self.map.capacity() > 2 * self.map.len() + 64 {
            self.map.shrink_to_fit();
        }
    }

    pub(super) fn allocated_bytes(&self) -> usize {
        self.map.allocation_size()
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }
}

/// One end of a piece of neighbour evidence in a [`NeighborEvidenceSnapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvidenceEnd {
    /// A node by its full public key (lower case): an ADVERT's originator. The key is
    /// `texts[i]` of the snapshot.
    Node(u32),
    /// An observer by its key (`observations.observer_idx`).
    Observer(i64),
    /// A path hop (lower-case hex key prefix, `texts[i]`) still to be resolved to a node.
    Hop(u32),
}

/// Sightings of a radio link between two ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeighborEvidenceItem {
    /// The end the sighting named in full (an originator or an observer).
    pub known: EvidenceEnd,
    /// The other end: an observer (for a zero-hop advert) or a hop.
    pub other: EvidenceEnd,
    /// Observations supporting the link.
    pub count: u32,
    /// Oldest supporting observation.
    pub first_seen: UnixSecs,
    /// Newest supporting observation.
    pub last_seen: UnixSecs,
    /// Mean SNR of the supporting observations that carried one, in dB.
    pub avg_snr: Option<f64>,
}

/// The neighbour evidence copied out of the store: each distinct key or hop text once,
/// and the items referring to them by index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NeighborEvidenceSnapshot {
    /// Keys and hops, each once.
    pub texts: Vec<String>,
    /// The evidence.
    pub items: Vec<NeighborEvidenceItem>,
}

impl NeighborEvidenceSnapshot {
    /// The text of a [`EvidenceEnd::Node`] or [`EvidenceEnd::Hop`] index.
    pub fn text(&self, i: u32) -> &str {
        self.texts.get(i as usize).map_or("", String::as_str)
    }
}

impl Store {
    /// The neighbour evidence last seen at or after `since`. The read lock is held only to
    /// copy it (a few bytes per item); resolving hops is the caller's, outside the lock.
    pub fn neighbor_evidence(&self, since: UnixSecs) -> NeighborEvidenceSnapshot {
        let data = self.read();
        let mut snapshot = NeighborEvidenceSnapshot {
            texts: Vec::new(),
            items: Vec::with_capacity(data.neighbors.map.len()),
        };
        // Store string id → snapshot text index.
        let mut local: HashMap<u32, u32> = HashMap::new();
        let mut text = |id: u32| -> u32 {
            *local.entry(id).or_insert_with(|| {
                snapshot.texts.push(data.strings.resolve(id).to_owned());
                u32::try_from(snapshot.texts.len() - 1).unwrap_or(u32::MAX)
            })
        };
        for (key, e) in &data.neighbors.map {
            if i64::from(e.last_seen) < since {
                continue;
            }
            let observer = |g: u32| data.observers.resolve(g).map(EvidenceEnd::Observer);
            let ends = match *key {
                EvidenceKey::Direct {
                    node: n,
                    observer: g,
                } => observer(g).map(|o| (EvidenceEnd::Node(text(n)), o)),
                EvidenceKey::FirstHop { node: n, hop: h } => {
                    Some((EvidenceEnd::Node(text(n)), EvidenceEnd::Hop(text(h))))
                }
                EvidenceKey::LastHop {
                    observer: g,
                    hop: h,
                } => observer(g).map(|o| (o, EvidenceEnd::Hop(text(h)))),
            };
            let Some((known, other)) = ends else { continue };
            snapshot.items.push(NeighborEvidenceItem {
                known,
                other,
                count: e.count,
                first_seen: i64::from(e.first_seen),
                last_seen: i64::from(e.last_seen),
                avg_snr: (e.snr_count > 0)
                    .then(|| e.snr_sum as f64 / f64::from(e.snr_count) / 100.0),
            });
        }
        snapshot
    }

    /// Distinct pieces of neighbour evidence held.
    pub fn neighbor_evidence_len(&self) -> usize {
        self.read().neighbors.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_rows::{ORIGIN, T0, obs, tx};

    /// (known, other, count, first, last, snr) sorted, for comparison.
    fn evidence(store: &Store, since: i64) -> Vec<(String, String, u32, i64, i64, Option<f64>)> {
        let snapshot = store.neighbor_evidence(since);
        let text = |e: EvidenceEnd| match e {
            EvidenceEnd::Node(k) => format!("node:{}", snapshot.text(k)),
            EvidenceEnd::Observer(k) => format!("observer:{k}"),
            EvidenceEnd::Hop(h) => format!("hop:{}", snapshot.text(h)),
        };
        let mut out: Vec<_> = snapshot
            .items
            .iter()
            .map(|e| {
                (
                    text(e.known),
                    text(e.other),
                    e.count,
                    e.first_seen,
                    e.last_seen,
                    e.avg_snr,
                )
            })
            .collect();
        out.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        out
    }

    #[test]
    fn each_observation_links_the_ends_it_proves() {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[
            // An advert heard directly by observer 7 and through two relays by observer 8.
            tx(
                1,
                ADVERT,
                vec![
                    obs(1, 1, 7, T0, 6.0, "[]"),
                    obs(2, 1, 8, T0 + 2, -4.0, r#"["B1","C2"]"#),
                ],
            ),
            // A channel message through one relay: only the observer end is known.
            tx(2, 5, vec![obs(3, 2, 7, T0 + 10, 2.0, r#"["D3","c2"]"#)]),
            // A trace's path is its planned route: no evidence.
            tx(3, TRACE, vec![obs(4, 3, 7, T0 + 20, 1.0, r#"["E4"]"#)]),
            // A non-advert heard with no hops names no neighbour.
            tx(4, 2, vec![obs(5, 4, 8, T0 + 30, 1.0, "[]")]),
        ]));
        assert_eq!(
            evidence(&store, 0),
            vec![
                (
                    "node:".to_owned() + ORIGIN,
                    "hop:b1".into(),
                    1,
                    T0 + 2,
                    T0 + 2,
                    Some(-4.0)
                ),
                (
                    "node:".to_owned() + ORIGIN,
                    "observer:7".into(),
                    1,
                    T0,
                    T0,
                    Some(6.0)
                ),
                (
                    "observer:7".into(),
                    "hop:c2".into(),
                    1,
                    T0 + 10,
                    T0 + 10,
                    Some(2.0)
                ),
                (
                    "observer:8".into(),
                    "hop:c2".into(),
                    1,
                    T0 + 2,
                    T0 + 2,
                    Some(-4.0)
                ),
            ]
        );
        // Only evidence seen at or after `since` is given.
        assert_eq!(evidence(&store, T0 + 3).len(), 1);
    }

    #[test]
    fn evidence_is_the_same_whatever_order_observations_arrive_in() {
        let rows = || {
            vec![
                tx(1, ADVERT, vec![obs(1, 1, 7, T0, 6.0, r#"["B1"]"#)]),
                tx(2, 5, vec![obs(2, 2, 7, T0 + 50, 2.0, r#"["B1"]"#)]),
                tx(3, 5, vec![obs(3, 3, 7, T0 + 90, 3.0, r#"["B1"]"#)]),
            ]
        };
        let newest_first = Store::new();
        for row in rows().into_iter().rev() {
            newest_first.merge(PreparedChunk::from_rows(&[row]));
        }
        let oldest_first = Store::new();
        oldest_first.merge(PreparedChunk::from_rows(&rows()));
        // A late observation merged into a transmission already held counts once, and a
        // repeat of one already held does not count again.
        let late = tx(
            3,
            5,
            vec![
                obs(3, 3, 7, T0 + 90, 3.0, r#"["B1"]"#),
                obs(4, 3, 7, T0 + 95, 1.0, r#"["B1"]"#),
            ],
        );
        for store in [&newest_first, &oldest_first] {
            store.merge(PreparedChunk::from_rows(std::slice::from_ref(&late)));
        }
        let a = evidence(&newest_first, 0);
        assert_eq!(a, evidence(&oldest_first, 0));
        let last_hop = a.iter().find(|e| e.0 == "observer:7").cloned();
        assert_eq!(
            last_hop,
            Some((
                "observer:7".into(),
                "hop:b1".into(),
                4,
                T0,
                T0 + 95,
                Some(3.0)
            ))
        );
    }

    #[test]
    fn evidence_outlives_eviction_until_the_retention_cutoff() {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[
            tx(1, 5, vec![obs(1, 1, 7, T0, 1.0, r#"["B1"]"#)]),
            tx(2, 5, vec![obs(2, 2, 7, T0 + 7200, 1.0, r#"["C2"]"#)]),
        ]));
        // A memory-budget eviction removes packets but keeps what they proved.
        let report = store.evict(
            T0 + 7200,
            &EvictionPolicy {
                retention_secs: None,
                max_bytes: Some(1),
            },
        );
        assert_eq!(report.by_memory, 2);
        assert_eq!(store.neighbor_evidence_len(), 2);
        // An age eviction drops the evidence last seen before the cutoff.
        store.merge(PreparedChunk::from_rows(&[tx(
            3,
            5,
            vec![obs(3, 3, 7, T0 + 7300, 1.0, "[]")],
        )]));
        store.evict(
            T0 + 7300,
            &EvictionPolicy {
                retention_secs: Some(3600),
                max_bytes: None,
            },
        );
        let left = evidence(&store, 0);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1, "hop:c2");
    }
}
