//! Store queries behind the packets endpoints. A child module of `store`, so it reads
//! `StoreData` directly under the read lock.
//!
//! [`Store::packets`] answers the plain list; this module adds what `/api/packets` needs
//! beyond it: region and area filters ([`PacketListQuery`]), the list grouped by hash
//! ([`Store::packets_grouped`]), the multi-node list ([`Store::packets_for_nodes`]),
//! first-seen times ([`Store::first_seen_after`]), several hashes in one lock
//! ([`Store::details_by_hashes`]) and the conversion of database rows into the same
//! shapes ([`Store::details_from_rows`], [`Store::grouped_from_rows`]).

use super::slot_summary::VACANT_HEARD;
use super::*;

/// A packet list query with the filters [`PacketQuery`] lacks. Every page is computed
/// under one short read lock and only the page is materialised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacketListQuery {
    /// Paging, order and the plain filters.
    pub base: PacketQuery,
    /// Observer keys of the requested regions: some observation must come from one of them
    /// (in addition to `base.observers`). `Some(empty)` matches nothing.
    pub region_observers: Option<Vec<i64>>,
    /// Originator public keys (ADVERT `from_pubkey`, the `area` filter). `Some(empty)`
    /// matches nothing.
    pub originators: Option<Vec<String>>,
}

/// One row of the list grouped by hash.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedPacket {
    /// The transmission (`last_seen` is the grouped row's `latest`).
    pub summary: PacketSummary,
    /// Distinct observer keys among its observations, ascending.
    pub observer_idxs: Vec<i64>,
}

/// A page of the list grouped by hash, most recently heard first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupedPage {
    /// Matching transmissions before paging.
    pub total: usize,
    /// The page.
    pub packets: Vec<GroupedPacket>,
}

/// The answer to [`Store::packets_grouped`].
#[derive(Debug, Clone, PartialEq)]
pub enum GroupedAnswer {
    /// Answered from memory.
    Page(GroupedPage),
    /// The time range reaches before what is loaded: answer from the database instead.
    BeforeLoadedWindow {
        /// Every transmission with `last_seen` at or after this time is in memory.
        oldest_loaded: UnixSecs,
    },
}

/// The multi-node list (`/api/packets?nodes=`): packets of any of several nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodesQuery {
    /// Node public keys (any case). A key matches what [`PacketQuery::node`] matches.
    pub nodes: Vec<String>,
    /// First key bytes that name only one known node ([`PacketQuery::node_peer_hash`]):
    /// a listed node whose first byte is here also matches the peer-to-peer payloads
    /// that name that byte.
    pub peer_hashes: Vec<u8>,
    /// Only packets first seen at or after this time.
    pub since: Option<UnixSecs>,
    /// Only packets first seen at or before this time.
    pub until: Option<UnixSecs>,
    /// Sort order (by transmission id).
    pub order: Order,
    /// Page size.
    pub limit: usize,
    /// Rows skipped before the page.
    pub offset: usize,
}

impl Store {
    /// A page of the packet list with region and area filters.
    pub fn packet_list(&self, query: &PacketListQuery) -> PacketsAnswer {
        self.read().packet_list(query)
    }

    /// The packet list grouped by hash, most recently heard (`last_seen`) first; `order`
    /// is ignored, as in the reference.
    pub fn packets_grouped(&self, query: &PacketListQuery) -> GroupedAnswer {
        self.read().packets_grouped(query)
    }

    /// Packets of any of several nodes, by transmission id.
    pub fn packets_for_nodes(&self, query: &NodesQuery) -> PacketsAnswer {
        self.read().packets_for_nodes(query)
    }

    /// `first_seen` of every transmission in memory first seen strictly after `since`,
    /// ascending.
    pub fn first_seen_after(&self, since: UnixSecs) -> Vec<UnixSecs> {
        let mut times: Vec<UnixSecs> = {
            let data = self.read();
            data.slots
                .iter()
                .flatten()
                .map(|tx| tx.first_seen)
                .filter(|&t| t > since)
                .collect()
        };
        times.sort_unstable();
        times
    }

    /// The transmissions with these hashes (with observations, newest first), under one
    /// read lock; `None` for those not in memory.
    pub fn details_by_hashes(&self, hashes: &[ContentHash]) -> Vec<Option<PacketDetail>> {
        let data = self.read();
        hashes
            .iter()
            .map(|h| data.by_hash.get(&h.0).and_then(|&slot| data.detail(slot)))
            .collect()
    }

    /// Database rows in the shapes the store answers with (best observation, hex case,
    /// observations newest first), in the order of `rows`. Unusable rows are skipped.
    pub fn details_from_rows(rows: &[TransmissionRow]) -> Vec<PacketDetail> {
        let scratch = Self::scratch(rows);
        let data = scratch.read();
        rows.iter()
            .filter_map(|r| data.slot_of_id(r.id).and_then(|s| data.detail(s)))
            .collect()
    }

    /// Database rows as grouped-list rows, in the order of `rows`.
    pub fn grouped_from_rows(rows: &[TransmissionRow]) -> Vec<GroupedPacket> {
        let scratch = Self::scratch(rows);
        let data = scratch.read();
        rows.iter()
            .filter_map(|r| data.slot_of_id(r.id).and_then(|s| data.grouped(s)))
            .collect()
    }

    /// A throw-away store holding `rows`.
    fn scratch(rows: &[TransmissionRow]) -> Store {
        let scratch = Store::new();
        scratch.merge(PreparedChunk::from_rows(rows));
        scratch
    }
}

/// The region and area predicates, resolved to interned ids.
pub(super) struct Extra {
    pub(super) region: Option<Vec<u32>>,
    pub(super) originators: Option<Vec<u32>>,
}

impl Extra {
    /// `None` when nothing can match.
    fn new(data: &StoreData, q: &PacketListQuery) -> Option<Self> {
        let region = match &q.region_observers {
            None => None,
            Some(keys) => {
                let ids: Vec<u32> = keys.iter().filter_map(|&k| data.observers.get(k)).collect();
                if ids.is_empty() {
                    return None;
                }
                Some(ids)
            }
        };
        let originators = match &q.originators {
            None => None,
            Some(keys) => {
                let ids: Vec<u32> = keys
                    .iter()
                    .filter_map(|k| data.strings.get(&k.trim().to_ascii_lowercase()))
                    .collect();
                if ids.is_empty() {
                    return None;
                }
                Some(ids)
            }
        };
        Some(Self {
            region,
            originators,
        })
    }

    fn is_empty(&self) -> bool {
        self.region.is_none() && self.originators.is_none()
    }

    pub(super) fn matches(&self, tx: &Tx) -> bool {
        self.region
            .as_ref()
            .is_none_or(|r| tx.obs.iter().any(|o| r.contains(&o.observer)))
            && self
                .originators
                .as_ref()
                .is_none_or(|k| tx.from_pubkey != NONE && k.contains(&tx.from_pubkey))
    }
}

/// The `end` most recently heard of a stream of `(last_seen, id, slot)`, most recent
/// first (ids break ties), without keeping the stream: a buffer of at most twice `end`
/// that is cut back to the best `end` whenever it fills.
struct Newest {
    end: usize,
    cap: usize,
    hits: Vec<(i64, i64, u32)>,
    /// The least recent entry kept at the last cut: nothing older can make the page.
    floor: Option<(i64, i64)>,
}

impl Newest {
    fn new(end: usize) -> Self {
        let cap = end.saturating_mul(2).max(64);
        Self {
            end,
            cap,
            hits: Vec::with_capacity(cap.min(1 << 16)),
            floor: None,
        }
    }

    /// Whether an entry heard at `heard` can still make it (ties need the id to tell).
    fn may_take(&self, heard: i64) -> bool {
        self.end > 0 && self.floor.is_none_or(|f| heard >= f.0)
    }

    fn offer(&mut self, hit: (i64, i64, u32)) {
        if self.end == 0 || self.floor.is_some_and(|f| (hit.0, hit.1) < f) {
            return;
        }
        self.hits.push(hit);
        if self.hits.len() >= self.cap {
            self.hits
                .select_nth_unstable_by(self.end - 1, Self::most_recent_first);
            self.hits.truncate(self.end);
            self.floor = self.hits.iter().map(|h| (h.0, h.1)).min();
        }
    }

    fn most_recent_first(a: &(i64, i64, u32), b: &(i64, i64, u32)) -> std::cmp::Ordering {
        (b.0, b.1).cmp(&(a.0, a.1))
    }

    fn finish(mut self) -> Vec<(i64, i64, u32)> {
        self.hits.sort_unstable_by(Self::most_recent_first);
        self.hits.truncate(self.end);
        self.hits
    }
}

impl StoreData {
    /// The loaded-window check shared by the lists.
    fn before_window(&self, since: Option<i64>, until: Option<i64>) -> Option<UnixSecs> {
        let oldest = self.oldest_loaded?;
        let before = |t: Option<i64>| t.is_some_and(|t| t < oldest);
        (before(since) || before(until)).then_some(oldest)
    }

    fn packet_list(&self, q: &PacketListQuery) -> PacketsAnswer {
        if let Some(oldest_loaded) = self.before_window(q.base.since, q.base.until) {
            return PacketsAnswer::BeforeLoadedWindow { oldest_loaded };
        }
        let (Some(filter), Some(extra)) = (Filter::new(self, &q.base), Extra::new(self, q)) else {
            return PacketsAnswer::Page(PacketPage::default());
        };
        if extra.is_empty() {
            return self.packets(&q.base);
        }
        let page = self.list_page(
            &filter,
            Some(&extra),
            q.base.order,
            q.base.offset,
            q.base.limit,
        );
        PacketsAnswer::Page(page)
    }

    fn packets_grouped(&self, q: &PacketListQuery) -> GroupedAnswer {
        if let Some(oldest_loaded) = self.before_window(q.base.since, q.base.until) {
            return GroupedAnswer::BeforeLoadedWindow { oldest_loaded };
        }
        let (Some(filter), Some(extra)) = (Filter::new(self, &q.base), Extra::new(self, q)) else {
            return GroupedAnswer::Page(GroupedPage::default());
        };
        let matcher = super::q_scan::Matcher::new(self, &filter, Some(&extra));
        let end = q.base.offset.saturating_add(q.base.limit);
        let mut newest = Newest::new(end);
        let mut total = 0usize;
        if let Some(set) = matcher.decided_by_slot() {
            // One pass over the dense last-heard array; a transmission is read only when
            // it may make the page (for its id).
            for (slot, &heard) in (0u32..).zip(&self.slot_heard) {
                if heard == VACANT_HEARD || set.is_some_and(|s| !s.contains(slot)) {
                    continue;
                }
                total += 1;
                if newest.may_take(heard)
                    && let Some(tx) = self.tx(slot)
                {
                    newest.offer((heard, tx.id, slot));
                }
            }
        } else {
            matcher.for_each(self, Order::OldestFirst, |slot, tx| {
                total += 1;
                newest.offer((tx.last_seen, tx.id, slot));
            });
        }
        let hits = newest.finish();
        let packets = hits
            .iter()
            .skip(q.base.offset)
            .take(q.base.limit)
            .filter_map(|&(_, _, s)| self.grouped(s))
            .collect();
        GroupedAnswer::Page(GroupedPage { total, packets })
    }

    fn grouped(&self, slot: u32) -> Option<GroupedPacket> {
        let summary = self.summary(slot)?;
        let tx = self.tx(slot)?;
        let mut observer_idxs: Vec<i64> = tx
            .obs
            .iter()
            .filter(|o| o.observer != NONE)
            .filter_map(|o| self.observers.resolve(o.observer))
            .collect();
        observer_idxs.sort_unstable();
        observer_idxs.dedup();
        Some(GroupedPacket {
            summary,
            observer_idxs,
        })
    }

    fn packets_for_nodes(&self, q: &NodesQuery) -> PacketsAnswer {
        if let Some(oldest_loaded) = self.before_window(q.since, q.until) {
            return PacketsAnswer::BeforeLoadedWindow { oldest_loaded };
        }
        let filters: Vec<Filter> = q
            .nodes
            .iter()
            .filter_map(|key| {
                let first = key.get(..2).and_then(|b| u8::from_str_radix(b, 16).ok());
                let one = PacketQuery {
                    node: Some(key.clone()),
                    node_peer_hash: first.filter(|b| q.peer_hashes.contains(b)),
                    ..PacketQuery::default()
                };
                Filter::new(self, &one)
            })
            .collect();
        let mut slots: Vec<u32> = filters
            .iter()
            .filter_map(|f| f.node.as_ref())
            .flat_map(|n| self.node_lists(n))
            .flat_map(|l| l.iter().copied())
            .collect();
        slots.sort_unstable();
        slots.dedup();
        let mut hits: Vec<(i64, u32)> = slots
            .into_iter()
            .filter_map(|s| {
                self.tx(s)
                    .filter(|tx| {
                        q.since.is_none_or(|t| tx.first_seen >= t)
                            && q.until.is_none_or(|t| tx.first_seen <= t)
                            && filters.iter().any(|f| f.matches(self, tx))
                    })
                    .map(|tx| (tx.id, s))
            })
            .collect();
        match q.order {
            Order::NewestFirst => hits.sort_unstable_by_key(|&(id, _)| Reverse(id)),
            Order::OldestFirst => hits.sort_unstable_by_key(|&(id, _)| id),
        }
        PacketsAnswer::Page(PacketPage {
            total: hits.len(),
            packets: hits
                .iter()
                .skip(q.offset)
                .take(q.limit)
                .filter_map(|&(_, s)| self.summary(s))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer_db::ObservationRow;

    const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn obs(id: i64, tx: i64, observer: i64, ts: i64, path: &str) -> ObservationRow {
        ObservationRow {
            id,
            transmission_id: tx,
            observer_idx: Some(observer),
            direction: Some("rx".into()),
            snr: Some(1.0),
            rssi: Some(-90.0),
            score: None,
            path_json: Some(path.into()),
            resolved_path: None,
            timestamp: ts,
        }
    }

    fn tx(
        id: i64,
        at: i64,
        from: Option<&str>,
        observations: Vec<ObservationRow>,
    ) -> TransmissionRow {
        TransmissionRow {
            id,
            hash: format!("{id:016x}"),
            raw_hex: "1100".into(),
            first_seen: analyzer_db::time::rfc3339(at),
            last_seen: 0,
            route_type: Some(1),
            payload_type: Some(if from.is_some() { 4 } else { 5 }),
            payload_version: Some(0),
            decoded_json: Some("{}".into()),
            channel_hash: None,
            scope_name: None,
            from_pubkey: from.map(str::to_owned),
            observations,
        }
    }

    /// Four transmissions: 1 (ADVERT from aa11…, observer 7), 2 (observer 8, re-heard
    /// last), 3 (observer 7 over hop AA), 4 (observer 9).
    fn rows() -> Vec<TransmissionRow> {
        vec![
            tx(1, T0, Some("AA11BB22"), vec![obs(1, 1, 7, T0, "[]")]),
            tx(
                2,
                T0 + 60,
                None,
                vec![
                    obs(2, 2, 8, T0 + 60, "[]"),
                    obs(3, 2, 7, T0 + 500, r#"["CC"]"#),
                ],
            ),
            tx(
                3,
                T0 + 120,
                None,
                vec![obs(4, 3, 7, T0 + 120, r#"["AA","CC"]"#)],
            ),
            tx(4, T0 + 180, None, vec![obs(5, 4, 9, T0 + 180, "[]")]),
        ]
    }

    fn store() -> Store {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&rows()));
        store
    }

    fn page_ids(answer: PacketsAnswer) -> (usize, Vec<i64>) {
        match answer {
            PacketsAnswer::Page(p) => (p.total, p.packets.iter().map(|s| s.id).collect()),
            other => panic!("expected a page, got {other:?}"),
        }
    }

    fn list(q: PacketListQuery) -> PacketListQuery {
        PacketListQuery {
            base: PacketQuery {
                limit: 10,
                ..q.base
            },
            ..q
        }
    }

    #[test]
    fn region_and_area_filters() {
        let s = store();
        let region = |keys: Vec<i64>| {
            page_ids(s.packet_list(&list(PacketListQuery {
                region_observers: Some(keys),
                ..PacketListQuery::default()
            })))
        };
        assert_eq!(region(vec![7]), (3, vec![3, 2, 1]));
        assert_eq!(region(vec![8, 9]), (2, vec![4, 2]));
        assert_eq!(region(vec![]), (0, vec![]));
        assert_eq!(region(vec![42]), (0, vec![]));
        // Region and observer filters both apply.
        let both = s.packet_list(&list(PacketListQuery {
            base: PacketQuery {
                observers: vec![8],
                ..PacketQuery::default()
            },
            region_observers: Some(vec![7]),
            ..PacketListQuery::default()
        }));
        assert_eq!(page_ids(both), (1, vec![2]));
        let area = |keys: Vec<&str>| {
            page_ids(s.packet_list(&list(PacketListQuery {
                originators: Some(keys.into_iter().map(str::to_owned).collect()),
                ..PacketListQuery::default()
            })))
        };
        assert_eq!(area(vec!["aa11bb22"]), (1, vec![1]));
        assert_eq!(area(vec!["AA11BB22", "ffff"]), (1, vec![1]));
        assert_eq!(area(vec![]), (0, vec![]));
        // Paging and order with an extra filter.
        let asc = s.packet_list(&PacketListQuery {
            base: PacketQuery {
                limit: 1,
                offset: 1,
                order: Order::OldestFirst,
                ..PacketQuery::default()
            },
            region_observers: Some(vec![7]),
            ..PacketListQuery::default()
        });
        assert_eq!(page_ids(asc), (3, vec![2]));
    }

    #[test]
    fn grouped_rows_are_most_recently_heard_first() {
        let s = store();
        let answer = s.packets_grouped(&list(PacketListQuery::default()));
        let GroupedAnswer::Page(page) = answer else {
            panic!("expected a page");
        };
        assert_eq!(page.total, 4);
        let ids: Vec<i64> = page.packets.iter().map(|g| g.summary.id).collect();
        assert_eq!(ids, [2, 4, 3, 1]);
        assert_eq!(page.packets[0].observer_idxs, [7, 8]);
        assert_eq!(page.packets[0].summary.last_seen, T0 + 500);
        // A page in the middle, selected without sorting everything.
        let GroupedAnswer::Page(mid) = s.packets_grouped(&PacketListQuery {
            base: PacketQuery {
                limit: 2,
                offset: 1,
                ..PacketQuery::default()
            },
            ..PacketListQuery::default()
        }) else {
            panic!("expected a page");
        };
        let ids: Vec<i64> = mid.packets.iter().map(|g| g.summary.id).collect();
        assert_eq!((mid.total, ids), (4, vec![4, 3]));
        // Rows from the database come out the same.
        let from_rows = Store::grouped_from_rows(&rows());
        assert_eq!(from_rows.len(), 4);
        assert_eq!(from_rows[1], page.packets[0]);
    }

    #[test]
    fn grouped_pages_over_many_rows_match_a_full_sort() {
        // 300 transmissions whose last hearing is out of id order, with ties (ids break
        // them), every third an ADVERT: enough to cut the selection buffer several times.
        let heard = |id: i64| T0 + (id * 7919) % 97;
        let rows: Vec<TransmissionRow> = (1..=300)
            .map(|id| {
                let from = (id % 3 == 0).then_some("AA11BB22");
                tx(id, T0, from, vec![obs(id, id, 7, heard(id), "[]")])
            })
            .collect();
        let s = Store::new();
        s.merge(PreparedChunk::from_rows(&rows));
        let expect = |adverts_only: bool, offset: usize, limit: usize| -> (usize, Vec<i64>) {
            let mut all: Vec<(i64, i64)> = (1..=300)
                .filter(|id| !adverts_only || id % 3 == 0)
                .map(|id| (heard(id), id))
                .collect();
            all.sort_unstable_by(|a, b| b.cmp(a));
            let page = all.iter().skip(offset).take(limit).map(|k| k.1).collect();
            (all.len(), page)
        };
        let pages = [
            (0, 1),
            (0, 50),
            (37, 20),
            (250, 100),
            (299, 5),
            (400, 5),
            (3, 0),
        ];
        // Unfiltered and by payload type (the dense pass), and by route type (a visit to
        // every transmission).
        for (payload_type, route_type) in [(None, None), (Some(4), None), (None, Some(1))] {
            for (offset, limit) in pages {
                let GroupedAnswer::Page(page) = s.packets_grouped(&PacketListQuery {
                    base: PacketQuery {
                        limit,
                        offset,
                        payload_type,
                        route_type,
                        ..PacketQuery::default()
                    },
                    ..PacketListQuery::default()
                }) else {
                    panic!("expected a page");
                };
                let ids: Vec<i64> = page.packets.iter().map(|g| g.summary.id).collect();
                assert_eq!(
                    (page.total, ids),
                    expect(payload_type.is_some(), offset, limit),
                    "type {payload_type:?}, route {route_type:?}, offset {offset}, limit {limit}"
                );
            }
        }
    }

    #[test]
    fn multi_node_lists_use_inclusive_bounds() {
        let s = store();
        let q = |nodes: &[&str], since: Option<i64>, until: Option<i64>| {
            page_ids(s.packets_for_nodes(&NodesQuery {
                nodes: nodes.iter().map(|n| (*n).to_owned()).collect(),
                since,
                until,
                limit: 10,
                ..NodesQuery::default()
            }))
        };
        // aa11bb22 sent ADVERT 1, and hop AA (a prefix of it) relayed 3.
        assert_eq!(q(&["aa11bb22"], None, None), (2, vec![3, 1]));
        assert_eq!(q(&["aa11bb22", "cc99"], None, None), (3, vec![3, 2, 1]));
        assert_eq!(
            q(&["aa11bb22", "cc99"], Some(T0), Some(T0 + 60)),
            (2, vec![2, 1])
        );
        assert_eq!(q(&["ee"], None, None), (0, vec![]));
    }

    #[test]
    fn the_loaded_window_sends_older_queries_to_the_database() {
        let s = store();
        s.set_oldest_loaded(Some(T0 + 100));
        let before = PacketListQuery {
            base: PacketQuery {
                since: Some(T0),
                ..PacketQuery::default()
            },
            region_observers: Some(vec![7]),
            ..PacketListQuery::default()
        };
        assert_eq!(
            s.packet_list(&before),
            PacketsAnswer::BeforeLoadedWindow {
                oldest_loaded: T0 + 100
            }
        );
        assert!(matches!(
            s.packets_grouped(&before),
            GroupedAnswer::BeforeLoadedWindow { .. }
        ));
        assert!(matches!(
            s.packets_for_nodes(&NodesQuery {
                nodes: vec!["aa".into()],
                until: Some(T0),
                ..NodesQuery::default()
            }),
            PacketsAnswer::BeforeLoadedWindow { .. }
        ));
    }

    #[test]
    fn timestamps_hashes_and_rows() {
        let s = store();
        assert_eq!(s.first_seen_after(T0 + 60), [T0 + 120, T0 + 180]);
        assert!(s.first_seen_after(T0 + 180).is_empty());
        let hashes = [
            ContentHash::parse("0000000000000002").unwrap(),
            ContentHash::parse("00000000000000ff").unwrap(),
        ];
        let found = s.details_by_hashes(&hashes);
        assert_eq!(found[0].as_ref().map(|d| d.observations.len()), Some(2));
        assert!(found[1].is_none());
        let details = Store::details_from_rows(&rows());
        assert_eq!(details.len(), 4);
        assert_eq!(Some(&details[1]), s.by_id(2).as_ref());
        let mut bad = rows();
        bad[0].hash = "not a hash".into();
        assert_eq!(Store::details_from_rows(&bad).len(), 3);
    }
}
