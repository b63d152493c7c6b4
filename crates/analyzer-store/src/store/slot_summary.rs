//! What the node queries and bulk health read of each transmission, kept on write in a
//! dense array by slot.
//!
//! A busy repeater is involved in around a hundred thousand transmissions with millions
//! of observations between them. Reading those observations per request (or filling a
//! cache from them on first use, 150 ms for the busiest node of the benchmark database)
//! is what the node endpoints used to spend their time on. The write path knows which
//! observations are new, and observations are only ever appended, so the summary of a
//! slot is updated from the new ones alone: the first of the longest paths changes only
//! when a new path is strictly longer. Eviction marks the slot vacant; a reused slot is
//! summarised afresh when its transmission is put there.
//!
//! The last-heard time of each slot is kept apart, eight bytes a slot ([`VACANT_HEARD`]
//! when vacant), for the list grouped by hash: finding its most recently heard rows is one
//! sequential pass over that array instead of a visit to every transmission.

use super::*;

/// One slot's summary (32 bytes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct SlotSummary {
    pub(super) first_seen: i64,
    /// Observations; [`VACANT_OBS`] when the slot holds no transmission.
    pub(super) n_obs: u32,
    /// Global observer id of the best observation (the first with the longest path),
    /// [`NONE`] when it has none or there is no observation.
    pub(super) observer: u32,
    /// Path id of the last observation with the longest path ([`NONE`]: no observation).
    pub(super) last_longest: u32,
    /// SNR and RSSI of the best observation in hundredths, [`NO_CENTI`] for none.
    pub(super) snr: i16,
    pub(super) rssi: i16,
    /// Hops of the longest path (saturating).
    pub(super) hops: u16,
    /// [`path_hash_size`](super::q_nodes) of the packet, [`NO_U8`] for none.
    pub(super) hash_size: u8,
    /// The decoded payload may name a node by key (see `may_name_keys`).
    pub(super) names_keys: bool,
    /// Header payload and route type ([`NO_U8`]: none).
    pub(super) payload_type: u8,
    pub(super) route_type: u8,
    /// It carries a transport scope.
    pub(super) scoped: bool,
    /// Packet length in bytes, 255 for longer (LoRa frames are at most 255).
    pub(super) raw_len: u8,
}

const VACANT_OBS: u32 = u32::MAX;

/// `slot_heard` of a slot without a transmission.
pub(super) const VACANT_HEARD: i64 = i64::MIN;

const VACANT: SlotSummary = SlotSummary {
    first_seen: 0,
    n_obs: VACANT_OBS,
    observer: NONE,
    last_longest: NONE,
    snr: NO_CENTI,
    rssi: NO_CENTI,
    hops: 0,
    hash_size: NO_U8,
    names_keys: false,
    payload_type: NO_U8,
    route_type: NO_U8,
    scoped: false,
    raw_len: 0,
};

impl SlotSummary {
    pub(super) fn is_vacant(&self) -> bool {
        self.n_obs == VACANT_OBS
    }
}

impl StoreData {
    /// The summary of `slot`, `None` when it holds no transmission.
    pub(super) fn slot_summary(&self, slot: u32) -> Option<&SlotSummary> {
        self.slot_summaries
            .get(slot as usize)
            .filter(|s| !s.is_vacant())
    }

    /// Brings the summary of `slot` up to date after observations `from..` were appended
    /// to its transmission (`from == 0`: the transmission was just put there).
    pub(super) fn note_summary(&mut self, slot: u32, from: usize) {
        let StoreData {
            slots,
            slot_summaries,
            slot_heard,
            path_hops,
            ..
        } = self;
        let Some(Some(tx)) = slots.get(slot as usize) else {
            return;
        };
        let i = slot as usize;
        if slot_summaries.len() <= i {
            // Grow as the slot arena grew (not by doubling on their own).
            let len = slots.len().max(i + 1);
            let cap = slots.capacity().max(len);
            slot_summaries.reserve_exact(cap - slot_summaries.len());
            slot_heard.reserve_exact(cap - slot_heard.len());
            slot_summaries.resize(len, VACANT);
            slot_heard.resize(len, VACANT_HEARD);
        }
        slot_heard[i] = tx.last_seen;
        let s = &mut slot_summaries[i];
        let fresh = from == 0 || s.is_vacant();
        if fresh {
            *s = SlotSummary {
                hash_size: super::q_nodes::path_hash_size(&tx.raw).unwrap_or(NO_U8),
                names_keys: super::q_nodes::may_name_keys(&tx.decoded_json),
                payload_type: tx.payload_type,
                route_type: tx.route_type,
                scoped: tx.scope != NONE,
                raw_len: u8::try_from(tx.raw.len()).unwrap_or(u8::MAX),
                ..VACANT
            };
        }
        let mut has_best = !fresh;
        let mut last: Option<(u32, u16)> = None;
        for o in tx.obs.iter().skip(if fresh { 0 } else { from }) {
            // The hop count is looked up once per run of equal paths.
            let hops = match last {
                Some((p, len)) if p == o.path => len,
                _ => {
                    let len =
                        u16::try_from(path_hops.get(o.path as usize).len()).unwrap_or(u16::MAX);
                    last = Some((o.path, len));
                    len
                }
            };
            if !has_best || hops > s.hops {
                // Strictly longer: the first of the longest stays the best ...
                has_best = true;
                s.observer = o.observer;
                s.snr = o.snr;
                s.rssi = o.rssi;
                s.hops = hops;
                s.last_longest = o.path;
            } else if hops == s.hops {
                // ... and the last of the longest is the one `node_paths` prefers.
                s.last_longest = o.path;
            }
        }
        s.n_obs = u32::try_from(tx.obs.len()).unwrap_or(VACANT_OBS - 1);
        s.first_seen = tx.first_seen;
    }

    /// Marks `slot` as holding no transmission.
    pub(super) fn forget_summary(&mut self, slot: u32) {
        if let Some(s) = self.slot_summaries.get_mut(slot as usize) {
            *s = VACANT;
        }
        if let Some(h) = self.slot_heard.get_mut(slot as usize) {
            *h = VACANT_HEARD;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_rows::{T0, obs, tx};

    /// The summary of `slot` computed from all of its observations at once.
    fn from_scratch(data: &StoreData, slot: u32) -> SlotSummary {
        let tx = data.tx(slot).expect("a transmission");
        let len = |o: &Obs| u16::try_from(data.hops_of(o.path).len()).unwrap();
        let best = tx.obs.iter().rev().max_by_key(|o| len(o));
        let last_longest = tx.obs.iter().max_by_key(|o| len(o));
        SlotSummary {
            first_seen: tx.first_seen,
            n_obs: u32::try_from(tx.obs.len()).unwrap(),
            observer: best.map_or(NONE, |o| o.observer),
            last_longest: last_longest.map_or(NONE, |o| o.path),
            snr: best.map_or(NO_CENTI, |o| o.snr),
            rssi: best.map_or(NO_CENTI, |o| o.rssi),
            hops: best.map_or(0, len),
            hash_size: super::super::q_nodes::path_hash_size(&tx.raw).unwrap_or(NO_U8),
            names_keys: super::super::q_nodes::may_name_keys(&tx.decoded_json),
            payload_type: tx.payload_type,
            route_type: tx.route_type,
            scoped: tx.scope != NONE,
            raw_len: u8::try_from(tx.raw.len()).unwrap_or(u8::MAX),
        }
    }

    fn check_all(store: &Store) {
        let data = store.read();
        for (slot, heard) in data.slot_heard.iter().enumerate() {
            let tx = data.tx(slot as u32);
            assert_eq!(
                *heard,
                tx.map_or(VACANT_HEARD, |tx| tx.last_seen),
                "slot {slot}"
            );
        }
        for &(id, slot) in &data.order {
            assert_eq!(
                data.slot_summary(slot).copied(),
                Some(from_scratch(&data, slot)),
                "transmission {id}"
            );
        }
    }

    #[test]
    fn a_summary_takes_32_bytes() {
        assert_eq!(size_of::<SlotSummary>(), 32);
    }

    #[test]
    fn summaries_kept_on_write_equal_a_full_rescan() {
        let paths = [
            "[]",
            r#"["A1"]"#,
            r#"["B2"]"#,
            r#"["A1","B2"]"#,
            r#"["C3"]"#,
        ];
        let store = Store::new();
        // Observations arrive a few at a time, in an order that makes the longest path
        // appear late, tie, and be followed by shorter ones.
        let mut next_obs = 1;
        for round in 0..6_i64 {
            let rows: Vec<_> = (1..=4_i64)
                .map(|id| {
                    let observations = (0..=(round + id) % 3)
                        .map(|k| {
                            let path = paths[((round * 3 + id + k) % 5) as usize];
                            let o = obs(next_obs, id, 7 + k, T0 + round, k as f64, path);
                            next_obs += 1;
                            o
                        })
                        .collect();
                    tx(id, 5, observations)
                })
                .collect();
            store.merge(PreparedChunk::from_rows(&rows));
            check_all(&store);
        }
    }

    #[test]
    fn an_evicted_slot_is_vacant_until_reused() {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[
            tx(1, 5, vec![obs(1, 1, 7, T0 + 1, 1.0, r#"["A1"]"#)]),
            tx(2, 5, vec![obs(2, 2, 7, T0 + 9, 2.0, "[]")]),
        ]));
        let slot = store.read().slot_of_id(1).unwrap();
        let policy = EvictionPolicy {
            retention_secs: Some(5),
            max_bytes: None,
        };
        assert_eq!(store.evict(T0 + 7, &policy).by_age, 1);
        assert_eq!(store.read().slot_summary(slot), None);
        store.merge(PreparedChunk::from_rows(&[tx(
            3,
            5,
            vec![obs(3, 3, 8, T0 + 10, 3.0, "[]")],
        )]));
        assert_eq!(store.read().slot_of_id(3), Some(slot), "the slot is reused");
        check_all(&store);
    }
}
