//! Store queries behind two small endpoints: transport-scope statistics
//! (`/api/scope-stats`) and the audio lab's per-type samples (`/api/audio-lab/buckets`).
//! A child module of `store`, so it reads `StoreData` directly under the read lock.

use super::*;

/// Route types that carry transport codes (`TRANSPORT_FLOOD` = 0, `TRANSPORT_DIRECT` = 3).
const TRANSPORT_ROUTES: [u8; 2] = [0, 3];

/// A transmission's packet size, id and slot: sorts by size, then id.
/// The members at ranks `i * n / k` (`i` in `0..k`, `k` = `per_group` or fewer) of the
/// sorted order, ascending, without sorting: each selection partitions the range below
/// the previous one (a full sort of 150K members took most of the endpoint's 20 ms).
fn quantiles<T: Ord + Copy>(members: &mut [T], per_group: usize) -> Vec<T> {
    let n = members.len();
    let k = per_group.min(n);
    let mut picked = Vec::with_capacity(k);
    let mut end = n;
    for i in (0..k).rev() {
        let rank = i * n / k;
        let (_, &mut at, _) = members[..end].select_nth_unstable(rank);
        picked.push(at);
        end = rank;
    }
    picked.reverse();
    picked
}

/// Scope statistics of the transmissions first seen in a window.
///
/// `scope_name` of a transmission: `None` = not transport-scoped (every non-transport
/// route, and transport routes whose first code is `0000`), `""` = scoped to a region no
/// configured `hashRegions` key matched, `#name` = scoped to that region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeStats {
    /// Transmissions with a transport route type (0 or 3).
    pub transport_total: usize,
    /// Transmissions with a scope (`scope_name` set, matched or not).
    pub scoped: usize,
    /// Transmissions without a scope (non-transport routes are counted here).
    pub unscoped: usize,
    /// Scoped transmissions whose region is unknown (`scope_name` = `""`).
    pub unknown_scope: usize,
    /// Matched regions with their counts, most frequent first, then by name.
    pub by_region: Vec<(String, usize)>,
    /// One entry per bucket from the bucket holding `since` to the one holding `until`,
    /// oldest first, empty buckets included.
    pub series: Vec<ScopeBucket>,
}

/// One time bucket of [`ScopeStats::series`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeBucket {
    /// Bucket start (epoch seconds, a multiple of the bucket width).
    pub start: UnixSecs,
    /// Scoped transmissions first seen in the bucket.
    pub scoped: usize,
    /// Unscoped transmissions first seen in the bucket.
    pub unscoped: usize,
}

impl Store {
    /// Scope statistics of the transmissions in memory with `since <= first_seen <= until`,
    /// with a time series of `bucket_secs`-wide buckets (clamped to at least 1 s).
    pub fn scope_stats(&self, since: UnixSecs, until: UnixSecs, bucket_secs: i64) -> ScopeStats {
        let bucket_secs = bucket_secs.max(1);
        let first = since.div_euclid(bucket_secs);
        let last = until.max(since).div_euclid(bucket_secs);
        let mut series: Vec<ScopeBucket> = (first..=last)
            .map(|b| ScopeBucket {
                start: b * bucket_secs,
                ..ScopeBucket::default()
            })
            .collect();
        let mut stats = ScopeStats::default();
        let mut regions: HashMap<u32, usize> = HashMap::new();
        let data = self.read();
        for &(_, slot) in &data.order {
            let Some(tx) = data.tx(slot) else { continue };
            if tx.first_seen < since || tx.first_seen > until {
                continue;
            }
            if TRANSPORT_ROUTES.contains(&tx.route_type) {
                stats.transport_total += 1;
            }
            let i = usize::try_from(tx.first_seen.div_euclid(bucket_secs) - first).unwrap_or(0);
            let bucket = series.get_mut(i);
            if tx.scope == NONE {
                stats.unscoped += 1;
                if let Some(b) = bucket {
                    b.unscoped += 1;
                }
                continue;
            }
            stats.scoped += 1;
            if let Some(b) = bucket {
                b.scoped += 1;
            }
            if data.strings.resolve(tx.scope).is_empty() {
                stats.unknown_scope += 1;
            } else {
                *regions.entry(tx.scope).or_default() += 1;
            }
        }
        stats.by_region = regions
            .into_iter()
            .map(|(id, n)| (data.strings.resolve(id).to_owned(), n))
            .collect();
        drop(data);
        stats
            .by_region
            .sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        stats.series = series;
        stats
    }

    /// Up to `per_group` transmissions of each payload-type group, spread evenly over the
    /// group sorted by packet size (smallest first; ties by slot, the reference's order of
    /// ties is arbitrary too). `group` names the group of a payload type (`None` =
    /// unknown), so types sharing a name share one list. Groups are returned in order of
    /// their first payload type. The sizes come from the slot summaries (one dense pass,
    /// no transmission read until the picks), packed with the slot into one `u64` key.
    pub fn samples_by_type(
        &self,
        per_group: usize,
        group: impl Fn(Option<u8>) -> &'static str,
    ) -> Vec<(&'static str, Vec<PacketSummary>)> {
        let data = self.read();
        let mut groups: Vec<(&'static str, Vec<u64>)> = Vec::new();
        for (code, slots) in data.by_type.iter().enumerate() {
            if slots.is_empty() {
                continue;
            }
            let name = group(u8::try_from(code).ok().filter(|&c| c < 16));
            let at = match groups.iter().position(|(n, _)| *n == name) {
                Some(at) => at,
                None => {
                    groups.push((name, Vec::new()));
                    groups.len() - 1
                }
            };
            groups[at].1.reserve(slots.len());
            groups[at].1.extend(slots.iter().filter_map(|&slot| {
                let s = data.slot_summary(slot)?;
                Some(u64::from(s.raw_len) << 32 | u64::from(slot))
            }));
        }
        groups
            .into_iter()
            .filter(|(_, members)| !members.is_empty())
            .map(|(name, mut members)| {
                let summaries = quantiles(&mut members, per_group)
                    .into_iter()
                    .filter_map(|key| data.summary((key & 0xffff_ffff) as u32))
                    .collect();
                (name, summaries)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer_db::ObservationRow;

    const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn tx(
        id: i64,
        at: i64,
        route: u8,
        pt: u8,
        scope: Option<&str>,
        bytes: usize,
    ) -> TransmissionRow {
        TransmissionRow {
            id,
            hash: format!("{id:016x}"),
            raw_hex: "11".repeat(bytes),
            first_seen: analyzer_db::time::rfc3339(at),
            last_seen: 0,
            route_type: Some(i64::from(route)),
            payload_type: Some(i64::from(pt)),
            payload_version: Some(0),
            decoded_json: Some("{}".into()),
            channel_hash: None,
            scope_name: scope.map(str::to_owned),
            from_pubkey: None,
            observations: vec![ObservationRow {
                id,
                transmission_id: id,
                observer_idx: Some(1),
                direction: None,
                snr: None,
                rssi: None,
                score: None,
                path_json: Some("[]".into()),
                resolved_path: None,
                timestamp: at,
            }],
        }
    }

    #[test]
    fn scope_counts_regions_and_buckets() {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[
            tx(1, T0 - 10, 0, 5, Some("#sea"), 4), // before the window
            tx(2, T0, 0, 5, Some("#sea"), 4),
            tx(3, T0 + 10, 3, 5, Some("#pae"), 4),
            tx(4, T0 + 400, 0, 5, Some("#sea"), 4),
            tx(5, T0 + 400, 0, 5, Some(""), 4),
            tx(6, T0 + 700, 0, 5, None, 4), // transport, code 0000
            tx(7, T0 + 700, 1, 5, None, 4), // flood
            tx(8, T0 + 901, 1, 5, None, 4), // after the window
        ]));
        let s = store.scope_stats(T0, T0 + 900, 300);
        assert_eq!(
            (s.transport_total, s.scoped, s.unscoped, s.unknown_scope),
            (5, 4, 2, 1)
        );
        assert_eq!(
            s.by_region,
            [("#sea".to_owned(), 2), ("#pae".to_owned(), 1)]
        );
        let buckets: Vec<_> = s
            .series
            .iter()
            .map(|b| (b.start - T0, b.scoped, b.unscoped))
            .collect();
        assert_eq!(buckets, [(0, 2, 0), (300, 2, 0), (600, 0, 2), (900, 0, 0)]);
    }

    #[test]
    fn quantiles_are_those_of_the_sorted_order() {
        for n in [1usize, 2, 7, 8, 9, 100, 1001] {
            for k in [1usize, 3, 8, 20] {
                // Sizes with many ties, ids breaking them, in scrambled order.
                let mut members: Vec<(usize, i64, u32)> = (0..n)
                    .map(|i| ((i * 7919) % 13, ((i * 104_729) % 10_007) as i64, i as u32))
                    .collect();
                let mut sorted = members.clone();
                sorted.sort_unstable();
                let m = k.min(n);
                let want: Vec<(usize, i64, u32)> = (0..m).map(|i| sorted[i * n / m]).collect();
                assert_eq!(quantiles(&mut members, k), want, "n {n}, k {k}");
            }
        }
    }

    #[test]
    fn samples_spread_over_size_order_and_merge_groups() {
        let store = Store::new();
        let mut rows: Vec<TransmissionRow> = (1..=20)
            .map(|i| tx(i, T0, 1, 4, None, 21 - i as usize))
            .collect();
        rows.push(tx(30, T0, 1, 12, None, 3));
        rows.push(tx(31, T0, 1, 13, None, 2));
        store.merge(PreparedChunk::from_rows(&rows));
        let name = |pt: Option<u8>| match pt {
            Some(4) => "ADVERT",
            _ => "UNKNOWN",
        };
        let groups = store.samples_by_type(8, name);
        assert_eq!(groups.len(), 2);
        let (n, adverts) = &groups[0];
        assert_eq!(*n, "ADVERT");
        // Sizes 1..=20 bytes (id 20 is the smallest); picks indices 0, 2, 5, 7, 10, 12, 15, 17.
        let ids: Vec<i64> = adverts.iter().map(|p| p.id).collect();
        assert_eq!(ids, [20, 18, 15, 13, 10, 8, 5, 3]);
        let (n, unknown) = &groups[1];
        assert_eq!(*n, "UNKNOWN");
        assert_eq!(unknown.iter().map(|p| p.id).collect::<Vec<_>>(), [31, 30]);
    }
}
