//! One matcher for the packet lists: the index-backed criteria (observers, region, node,
//! channel, payload type, originators) become a bitset over the slot arena, intersected
//! smallest first; the scalar criteria (route type, hash, time bounds) are checked per
//! transmission only for slots in the set. A list is then one pass over the id order.
//!
//! Before this, a criterion matching more than a quarter of the store (an observer that hears
//! 40 % of the mesh, a region) fell back to re-checking every observation of every
//! transmission: 40-50 ms on 325K transmissions / 7.1M observations. Marking a slot set from
//! the index lists and testing one bit per transmission takes about 1-3 ms.

use super::q_packets::Extra;
use super::*;

/// A set of slots, one bit each.
pub(super) struct SlotSet {
    words: Vec<u64>,
}

impl SlotSet {
    fn from_lists(n_slots: usize, lists: &[&[u32]]) -> Self {
        let mut words = vec![0u64; n_slots.div_ceil(64)];
        for list in lists {
            for &s in *list {
                if let Some(w) = words.get_mut(s as usize / 64) {
                    *w |= 1 << (s % 64);
                }
            }
        }
        Self { words }
    }

    fn intersect(&mut self, other: &SlotSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    pub(super) fn contains(&self, slot: u32) -> bool {
        self.words
            .get(slot as usize / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }
}

/// What a list must match, resolved against the store.
pub(super) struct Matcher<'a> {
    filter: &'a Filter,
    extra: Option<&'a Extra>,
    /// Slots meeting every index-backed criterion; `None` = no such criterion.
    set: Option<SlotSet>,
    /// A single slot (the `hash` criterion), when given.
    only: Option<Option<u32>>,
}

impl<'a> Matcher<'a> {
    pub(super) fn new(data: &StoreData, filter: &'a Filter, extra: Option<&'a Extra>) -> Self {
        if let Some(h) = filter.hash {
            return Self {
                filter,
                extra,
                set: None,
                only: Some(data.by_hash.get(&h).copied()),
            };
        }
        let mut criteria: Vec<Vec<&[u32]>> = Vec::new();
        let observer_lists = |ids: &[u32]| -> Vec<&[u32]> {
            ids.iter()
                .filter_map(|&o| data.by_observer.get(o as usize))
                .map(Vec::as_slice)
                .collect()
        };
        if let Some(observers) = &filter.observers {
            criteria.push(observer_lists(observers));
        }
        if let Some(node) = &filter.node {
            criteria.push(data.node_lists(node));
        }
        if let Some(channel) = filter.channel {
            criteria.push(
                data.by_channel
                    .get(&channel)
                    .map(Vec::as_slice)
                    .into_iter()
                    .collect(),
            );
        }
        if let Some(t) = filter.payload_type {
            criteria.push(vec![
                data.by_type[usize::from(t).min(TYPE_BUCKETS - 1)].as_slice(),
            ]);
        }
        if let Some(extra) = extra {
            if let Some(region) = &extra.region {
                criteria.push(observer_lists(region));
            }
            if let Some(keys) = &extra.originators {
                criteria.push(
                    keys.iter()
                        .filter_map(|k| data.by_node.get(k))
                        .map(Vec::as_slice)
                        .collect(),
                );
            }
        }
        criteria.sort_by_key(|lists| lists.iter().map(|l| l.len()).sum::<usize>());
        let n = data.slots.len();
        let mut criteria = criteria.into_iter();
        let set = criteria.next().map(|first| {
            let mut set = SlotSet::from_lists(n, &first);
            for lists in criteria {
                set.intersect(&SlotSet::from_lists(n, &lists));
            }
            set
        });
        Self {
            filter,
            extra,
            set,
            only: None,
        }
    }

    /// True when no criterion is set.
    fn matches_everything(&self) -> bool {
        let f = self.filter;
        self.only.is_none()
            && self.set.is_none()
            && f.route_type.is_none()
            && f.since.is_none()
            && f.until.is_none()
    }

    /// When the index-backed criteria alone decide (no hash, route type or time bound):
    /// `Some(None)` for everything, `Some(Some(set))` for the slots in `set`.
    pub(super) fn decided_by_slot(&self) -> Option<Option<&SlotSet>> {
        let f = self.filter;
        (self.only.is_none() && f.route_type.is_none() && f.since.is_none() && f.until.is_none())
            .then_some(self.set.as_ref())
    }

    /// Whether the transmission in `slot` matches.
    pub(super) fn hit(&self, data: &StoreData, slot: u32, tx: &Tx) -> bool {
        if let Some(only) = self.only {
            // One slot by hash: check every criterion on it directly.
            return only == Some(slot)
                && self.filter.matches(data, tx)
                && self.extra.is_none_or(|e| e.matches(tx));
        }
        if self.set.as_ref().is_some_and(|s| !s.contains(slot)) {
            return false;
        }
        let f = self.filter;
        f.route_type.is_none_or(|t| tx.route_type == t)
            && f.since.is_none_or(|s| tx.first_seen > s)
            && f.until.is_none_or(|u| tx.first_seen < u)
    }

    /// Calls `visit` for every matching slot in id order (newest first or oldest first).
    pub(super) fn for_each(&self, data: &StoreData, order: Order, mut visit: impl FnMut(u32, &Tx)) {
        if let Some(only) = self.only {
            if let Some(tx) = only.and_then(|s| data.tx(s).map(|tx| (s, tx))) {
                if self.hit(data, tx.0, tx.1) {
                    visit(tx.0, tx.1);
                }
            }
            return;
        }
        let mut step = |&(_, s): &(i64, u32)| {
            if self.set.as_ref().is_some_and(|set| !set.contains(s)) {
                return;
            }
            if let Some(tx) = data.tx(s)
                && self.hit(data, s, tx)
            {
                visit(s, tx);
            }
        };
        match order {
            Order::NewestFirst => data.order.iter().rev().for_each(&mut step),
            Order::OldestFirst => data.order.iter().for_each(&mut step),
        }
    }
}

impl StoreData {
    /// One page of the matching transmissions in id order, and their total.
    pub(super) fn list_page(
        &self,
        filter: &Filter,
        extra: Option<&Extra>,
        order: Order,
        offset: usize,
        limit: usize,
    ) -> PacketPage {
        let matcher = Matcher::new(self, filter, extra);
        if matcher.matches_everything() {
            // The unfiltered list: the page straight from the id order, no pass over it.
            let ordered: Box<dyn Iterator<Item = &(i64, u32)>> = match order {
                Order::NewestFirst => Box::new(self.order.iter().rev()),
                Order::OldestFirst => Box::new(self.order.iter()),
            };
            return PacketPage {
                total: self.order.len(),
                packets: ordered
                    .skip(offset)
                    .take(limit)
                    .filter_map(|&(_, s)| self.summary(s))
                    .collect(),
            };
        }
        let mut total = 0;
        let mut packets = Vec::new();
        matcher.for_each(self, order, |slot, _| {
            if total >= offset && packets.len() < limit {
                packets.extend(self.summary(slot));
            }
            total += 1;
        });
        PacketPage { total, packets }
    }
}
