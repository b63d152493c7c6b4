//! Store queries behind the nodes endpoints. A child module of `store`, so it reads
//! `StoreData` directly under the read lock.
//!
//! A node is involved in two kinds of transmissions: the ADVERTs it sent (index `by_node`,
//! keyed by the originator's public key) and the packets relayed through it, found through
//! the path-hop index `by_hop` under hop strings that are prefixes of its key. Which hop
//! prefixes may be attributed to a node is the caller's decision (the server knows the
//! other nodes and so which prefixes are ambiguous); every query here takes that list
//! ([`NodeKeys::hops`]) and looks only those index entries up, never scanning the store.
//! Each takes the read lock once, copies out what the endpoint needs and releases it.

use std::collections::HashSet;

use super::*;

/// Route type of a plain (unscoped) FLOOD.
const FLOOD: u8 = 1;
/// Most transport scopes listed per node (`transported_scopes`).
const MAX_SCOPES: usize = 32;

/// Who a node is for the index: its key and the path hops attributable to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeKeys {
    /// Public key, lower-case hex.
    pub pubkey: String,
    /// Lower-case hop strings (key prefixes) whose appearance in a path means this node
    /// relayed the packet. Empty for nodes that do not relay.
    pub hops: Vec<String>,
}

/// One transmission a node is involved in, reduced to what the node endpoints aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTx {
    /// `transmissions.id`.
    pub id: i64,
    /// First ingest time.
    pub first_seen: UnixSecs,
    /// Header route type.
    pub route_type: Option<u8>,
    /// Header payload type.
    pub payload_type: Option<u8>,
    /// Observations in memory.
    pub observation_count: usize,
    /// The node sent it (an ADVERT with its key as originator).
    pub sent: bool,
    /// Observer key of the best (longest-path) observation.
    pub best_observer: Option<i64>,
    /// SNR of the best observation.
    pub snr: Option<f64>,
    /// RSSI of the best observation.
    pub rssi: Option<f64>,
    /// Hops in the best observation's path.
    pub hops: usize,
    /// Hash size announced by the path byte (1..=3); `None` for zero-hop direct packets,
    /// TRACE, the reserved size 4 and unreadable packets.
    pub path_hash_size: Option<u8>,
    /// Transport scope.
    pub scope: Option<String>,
    /// Decoded payload JSON, only when asked for.
    pub decoded_json: Option<String>,
}

/// The relay side of a node (repeaters and rooms): packets other than ADVERTs whose path
/// holds one of its attributable hops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Newest such packet (first seen).
    pub last_relayed: Option<UnixSecs>,
    /// Such packets first seen in the last hour.
    pub count_1h: usize,
    /// Such packets first seen in the last 24 hours.
    pub count_24h: usize,
    /// The 24-hour ones sent as plain FLOOD (no transport scope).
    pub unscoped_24h: usize,
    /// Distinct transport scopes of all such packets in memory, sorted, at most 32.
    pub scopes: Vec<String>,
    /// All such packets in memory.
    pub total: usize,
    /// Transmissions in memory other than ADVERTs (the denominator of a traffic share).
    pub store_non_adverts: usize,
}

/// What the node list adds to a `nodes` row, computed from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeEnrichment {
    /// Newest first-seen time of any transmission the node is involved in.
    pub last_packet: Option<UnixSecs>,
    /// `(first_seen, hash size)` of its ADVERTs first seen at or after the hash-size
    /// window start, zero-hop direct ones left out, oldest first.
    pub advert_hash_sizes: Vec<(UnixSecs, u8)>,
    /// Largest hash size of any of its ADVERTs in memory.
    pub max_advert_hash_size: Option<u8>,
    /// Largest hash size (≥ 2) of a non-TRACE packet whose path holds one of its
    /// attributable multi-byte hops: evidence that it relays with multi-byte hashes.
    pub max_path_hash_size: Option<u8>,
    /// Relay activity.
    pub relay: RelayStats,
    /// Its FLOOD ADVERTs first seen at or after the flood-advert window start.
    pub flood_adverts: usize,
}

/// Time bounds of a [`Store::node_enrichment`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrichWindows {
    /// Now.
    pub now: UnixSecs,
    /// Start of the hash-size window (the reference uses 7 days).
    pub hash_size_since: UnixSecs,
    /// Start of the flood-advert count window (7 days).
    pub flood_adverts_since: UnixSecs,
}

/// One distinct stored path taken by packets relayed through a node, for
/// `/api/nodes/{pk}/paths`: for each such transmission the longest observed path that
/// holds one of the node's hops is kept, and transmissions are grouped by that path.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePathGroup {
    /// The path's hops as stored (case kept; entries that are not hex are skipped).
    pub hops: Vec<String>,
    /// Transmissions whose kept path is this one.
    pub count: usize,
    /// First seen of the newest of them.
    pub last_seen: UnixSecs,
    /// Content hash of the newest of them.
    pub sample: ContentHash,
    /// Breaks ties between transmissions first seen in the same second: of two, the one
    /// with the higher `tie` is the later one in the store's order.
    pub tie: u32,
}

/// The answer of [`Store::node_paths`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodePaths {
    /// Transmissions whose path holds one of the hops.
    pub transmissions: usize,
    /// Their distinct kept paths, in no particular order.
    pub groups: Vec<NodePathGroup>,
}

/// The paths kept for the nodes asked for most recently.
#[derive(Default)]
pub(super) struct KeptPathsCache {
    /// Sorted, de-duplicated hop ids of a node → what [`Store::node_paths`] kept for it.
    kept: HashMap<Vec<u32>, KeptPaths>,
    /// Counts `node_paths` calls, to find the least recently used `kept` entry.
    tick: u64,
}

/// Most nodes whose kept paths are cached.
const KEPT_NODES: usize = 64;

/// For one set of hops: per slot (ascending), the transmission id and observation count
/// the entry was computed for (validated on use: observations are only ever appended,
/// and a reused slot holds another id) and the path kept
/// ([`NONE`] when no observation's path holds one of the hops).
struct KeptPaths {
    used: u64,
    entries: Vec<(u32, i64, u32, u32)>,
}

impl Store {
    fn kept_paths(&self) -> Arc<Mutex<KeptPathsCache>> {
        Arc::clone(&self.caches.kept_paths)
    }
}

impl Store {
    /// Every transmission `node` is involved in with `first_seen >= since` (all when
    /// `None`), oldest first; `decoded` also copies the decoded JSON.
    pub fn node_transmissions(
        &self,
        node: &NodeKeys,
        since: Option<UnixSecs>,
        decoded: bool,
    ) -> Vec<NodeTx> {
        let mode = if decoded { Decoded::All } else { Decoded::None };
        self.node_txs(node, since, mode)
    }

    /// As [`Store::node_transmissions`], but `decoded_json` is copied only when it may
    /// name another node by key: when it holds the text `key"` (the end of the keys
    /// `pubkey`, `sender_key` and `recipient_key`) or a backslash (an escaped key name).
    /// The others are left `None`, which saves copying every payload of a busy node.
    pub fn node_transmissions_naming_keys(
        &self,
        node: &NodeKeys,
        since: Option<UnixSecs>,
    ) -> Vec<NodeTx> {
        self.node_txs(node, since, Decoded::NamingKeys)
    }

    fn node_txs(&self, node: &NodeKeys, since: Option<UnixSecs>, mode: Decoded) -> Vec<NodeTx> {
        let data = self.read();
        let (slots, sender) = data.node_slots(node);
        // Sorted as (first seen, id, slot) keys, then built in that order: sorting the
        // 136-byte rows themselves moved megabytes for a busy node.
        let mut keyed: Vec<(i64, i64, u32)> = Vec::with_capacity(slots.len());
        for slot in slots {
            let Some(summary) = data.slot_summary(slot) else {
                continue;
            };
            if since.is_none_or(|s| summary.first_seen >= s)
                && let Some(tx) = data.tx(slot)
            {
                keyed.push((summary.first_seen, tx.id, slot));
            }
        }
        keyed.sort_unstable();
        keyed
            .iter()
            .filter_map(|&(_, _, slot)| {
                let summary = data.slot_summary(slot)?;
                Some(data.node_tx(data.tx(slot)?, summary, sender, mode))
            })
            .collect()
    }

    /// The `limit` newest transmissions `node` is involved in (by first seen, then id),
    /// newest first; `sent_only` keeps only the ADVERTs it sent.
    pub fn node_recent(
        &self,
        node: &NodeKeys,
        limit: usize,
        sent_only: bool,
    ) -> Vec<PacketSummary> {
        let data = self.read();
        let (mut slots, sender) = if sent_only {
            let sender = data.strings.get(&node.pubkey);
            let slots = sender
                .and_then(|k| data.by_node.get(&k))
                .cloned()
                .unwrap_or_default();
            (slots, sender)
        } else {
            data.node_slots(node)
        };
        slots.retain(|&s| {
            data.tx(s)
                .is_some_and(|tx| !sent_only || (sender.is_some_and(|k| tx.from_pubkey == k)))
        });
        let mut keyed: Vec<(i64, i64, u32)> = slots
            .into_iter()
            .filter_map(|s| data.tx(s).map(|tx| (tx.first_seen, tx.id, s)))
            .collect();
        keyed.sort_unstable_by_key(|&(t, id, _)| Reverse((t, id)));
        keyed
            .into_iter()
            .take(limit)
            .filter_map(|(_, _, s)| data.summary(s))
            .collect()
    }

    /// What the node list shows beyond the `nodes` row, for each of `nodes` (same order).
    /// The lock is taken once per node so a long page never holds it for long.
    pub fn node_enrichment(&self, nodes: &[NodeKeys], w: EnrichWindows) -> Vec<NodeEnrichment> {
        nodes
            .iter()
            .map(|node| self.read().enrich(node, w))
            .collect()
    }

    /// Public keys (lower-case) of the nodes whose ADVERTs were heard by at least one of
    /// the observers with these keys (`observations.observer_idx`).
    pub fn nodes_heard_by(&self, observer_keys: &[i64]) -> HashSet<String> {
        let data = self.read();
        let wanted: Vec<u32> = observer_keys
            .iter()
            .filter_map(|&k| data.observers.get(k))
            .collect();
        if wanted.is_empty() {
            return HashSet::new();
        }
        data.by_node
            .iter()
            .filter(|(_, slots)| {
                slots.iter().any(|&s| {
                    data.tx(s)
                        .is_some_and(|tx| tx.obs.iter().any(|o| wanted.contains(&o.observer)))
                })
            })
            .map(|(&key, _)| data.strings.resolve(key).to_owned())
            .collect()
    }

    /// Transmissions whose path holds one of `hops` (lower-case hop strings), each reduced
    /// to the longest of its observed paths that holds one (the last such observation on
    /// ties), grouped by that path. The work is one pass over the observations of those
    /// transmissions with no allocation per transmission; the path text is parsed once per
    /// distinct path.
    pub fn node_paths(&self, hops: &[String]) -> NodePaths {
        let cache = self.kept_paths();
        let data = self.read();
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        let ids: Vec<u32> = hops.iter().filter_map(|h| data.strings.get(h)).collect();
        let slots = data.slots_with_any_hop(&ids);
        /// Per kept path: transmissions, newest (first seen, slot), its hash.
        struct Agg {
            count: usize,
            newest: (i64, u32),
            hash: [u8; 8],
        }
        let mut groups: HashMap<u32, Agg> = HashMap::new();
        let mut transmissions = 0;
        let mut key = ids.clone();
        key.sort_unstable();
        key.dedup();
        let prev = cache
            .kept
            .remove(&key)
            .map(|k| k.entries)
            .unwrap_or_default();
        let mut next: Vec<(u32, i64, u32, u32)> = Vec::with_capacity(slots.len());
        let mut j = 0;
        for slot in slots {
            let Some(tx) = data.tx(slot) else { continue };
            let n_obs = u32::try_from(tx.obs.len()).unwrap_or(u32::MAX);
            while prev.get(j).is_some_and(|e| e.0 < slot) {
                j += 1;
            }
            let path = match prev.get(j) {
                Some(&(s, id, n, path)) if s == slot && id == tx.id && n == n_obs => path,
                _ => data.kept_path(&ids, slot, tx),
            };
            next.push((slot, tx.id, n_obs, path));
            if path == NONE {
                continue;
            }
            transmissions += 1;
            let at = (tx.first_seen, slot);
            let g = groups.entry(path).or_insert(Agg {
                count: 0,
                newest: at,
                hash: tx.hash,
            });
            g.count += 1;
            if at >= g.newest {
                g.newest = at;
                g.hash = tx.hash;
            }
        }
        cache.tick += 1;
        let used = cache.tick;
        cache.kept.insert(
            key,
            KeptPaths {
                used,
                entries: next,
            },
        );
        if cache.kept.len() > KEPT_NODES
            && let Some(oldest) = cache
                .kept
                .iter()
                .min_by_key(|(_, k)| k.used)
                .map(|(key, _)| key.clone())
        {
            cache.kept.remove(&oldest);
        }
        drop(cache);
        let groups = groups
            .into_iter()
            .map(|(path, g)| NodePathGroup {
                hops: parse_hops_as_stored(data.paths.resolve(path)),
                count: g.count,
                last_seen: g.newest.0,
                sample: ContentHash(g.hash),
                tie: g.newest.1,
            })
            .collect();
        NodePaths {
            transmissions,
            groups,
        }
    }
}

impl StoreData {
    /// The path kept for a transmission by [`Store::node_paths`]: of the observed paths
    /// that hold one of `ids`, the longest (the last such observation on ties); [`NONE`]
    /// when none does.
    fn kept_path(&self, ids: &[u32], slot: u32, tx: &Tx) -> u32 {
        // Often the last of the longest paths holds the hop: then it is the one kept.
        let longest = self.slot_summary(slot).map_or(NONE, |s| s.last_longest);
        if longest != NONE && self.hops_of(longest).iter().any(|h| ids.contains(h)) {
            return longest;
        }
        let mut kept: Option<(usize, u32)> = None;
        // The previous observation's path, and whether it holds one of `ids`.
        let mut last: Option<(u32, bool)> = None;
        for o in &tx.obs {
            let path_hops = self.hops_of(o.path);
            let len = path_hops.len();
            // `>=` throughout: the last of the longest, as `max_by_key` picks. A shorter
            // path cannot be kept, so its hops (a cache miss each) are not read.
            if kept.is_some_and(|(l, _)| len < l) {
                continue;
            }
            let holds = match last {
                Some((p, holds)) if p == o.path => holds,
                _ => path_hops.iter().any(|h| ids.contains(h)),
            };
            last = Some((o.path, holds));
            if holds {
                kept = Some((len, o.path));
            }
        }
        kept.map_or(NONE, |(_, path)| path)
    }

    /// The index lists of the transmissions the node is involved in (the ADVERTs it sent,
    /// then the packets whose path holds one of its hops; a slot may be in several) and the
    /// interned id of its key.
    pub(super) fn node_key_lists(&self, node: &NodeKeys) -> (Vec<&[u32]>, Option<u32>) {
        let sender = self.strings.get(&node.pubkey);
        let mut lists: Vec<&[u32]> = Vec::new();
        if let Some(l) = sender.and_then(|k| self.by_node.get(&k)) {
            lists.push(l);
        }
        for hop in &node.hops {
            if let Some(l) = self.strings.get(hop).and_then(|h| self.by_hop.get(&h)) {
                lists.push(l);
            }
        }
        (lists, sender)
    }

    /// Slots of every transmission the node is involved in (deduplicated) and the
    /// interned id of its key.
    fn node_slots(&self, node: &NodeKeys) -> (Vec<u32>, Option<u32>) {
        let (lists, sender) = self.node_key_lists(node);
        let mut slots: Vec<u32> = lists.concat();
        slots.sort_unstable();
        slots.dedup();
        (slots, sender)
    }

    fn node_tx(
        &self,
        tx: &Tx,
        best: &super::slot_summary::SlotSummary,
        sender: Option<u32>,
        mode: Decoded,
    ) -> NodeTx {
        let decoded = match mode {
            Decoded::None => false,
            Decoded::All => true,
            Decoded::NamingKeys => best.names_keys,
        };
        let centi = |v: i16| (v != NO_CENTI).then_some(f64::from(v) / 100.0);
        let byte = |b: u8| (b != NO_U8).then_some(b);
        NodeTx {
            id: tx.id,
            first_seen: tx.first_seen,
            route_type: byte(tx.route_type),
            payload_type: byte(tx.payload_type),
            observation_count: tx.obs.len(),
            sent: sender.is_some_and(|k| tx.from_pubkey == k),
            best_observer: self.observers.resolve(best.observer),
            snr: centi(best.snr),
            rssi: centi(best.rssi),
            hops: best.hops as usize,
            path_hash_size: byte(best.hash_size),
            scope: (tx.scope != NONE).then(|| self.strings.resolve(tx.scope).to_owned()),
            decoded_json: decoded.then(|| tx.decoded_json.to_string()),
        }
    }

    fn enrich(&self, node: &NodeKeys, w: EnrichWindows) -> NodeEnrichment {
        let mut out = NodeEnrichment::default();
        out.relay.store_non_adverts = self
            .order
            .len()
            .saturating_sub(self.by_type[usize::from(ADVERT)].len());
        let sender = self.strings.get(&node.pubkey);
        for tx in sender
            .and_then(|k| self.by_node.get(&k))
            .into_iter()
            .flatten()
            .filter_map(|&s| self.tx(s))
        {
            out.last_packet = out.last_packet.max(Some(tx.first_seen));
            if tx.payload_type != ADVERT || sender.is_none_or(|k| tx.from_pubkey != k) {
                continue;
            }
            if let Some(size) = path_hash_size(&tx.raw) {
                out.max_advert_hash_size = out.max_advert_hash_size.max(Some(size));
                if tx.first_seen >= w.hash_size_since {
                    out.advert_hash_sizes.push((tx.first_seen, size));
                }
            }
            if tx.route_type == FLOOD && tx.first_seen >= w.flood_adverts_since {
                out.flood_adverts += 1;
            }
        }
        out.advert_hash_sizes.sort_unstable();
        let mut relayed: Vec<u32> = Vec::new();
        for hop in &node.hops {
            let Some(list) = self.strings.get(hop).and_then(|h| self.by_hop.get(&h)) else {
                continue;
            };
            relayed.extend_from_slice(list);
            if hop.len() >= 4 {
                // (`hash_size` is none for a TRACE.)
                for s in list.iter().filter_map(|&s| self.slot_summary(s)) {
                    if s.hash_size != NO_U8 && s.hash_size >= 2 {
                        out.max_path_hash_size = out.max_path_hash_size.max(Some(s.hash_size));
                    }
                }
            }
        }
        relayed.sort_unstable();
        relayed.dedup();
        let mut scopes: Vec<u32> = Vec::new();
        // From the slot summaries: a transmission is read only for its scope.
        for (slot, s) in relayed
            .iter()
            .filter_map(|&slot| Some((slot, self.slot_summary(slot)?)))
        {
            out.last_packet = out.last_packet.max(Some(s.first_seen));
            if s.payload_type == ADVERT {
                continue;
            }
            let r = &mut out.relay;
            r.total += 1;
            r.last_relayed = r.last_relayed.max(Some(s.first_seen));
            if s.first_seen >= w.now - 3600 {
                r.count_1h += 1;
            }
            if s.first_seen >= w.now - 86_400 {
                r.count_24h += 1;
                if s.route_type == FLOOD {
                    r.unscoped_24h += 1;
                }
            }
            if s.scoped
                && let Some(tx) = self.tx(slot)
                && !scopes.contains(&tx.scope)
            {
                scopes.push(tx.scope);
            }
        }
        let mut names: Vec<String> = scopes
            .into_iter()
            .map(|s| self.strings.resolve(s).to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        names.sort_unstable();
        names.truncate(MAX_SCOPES);
        out.relay.scopes = names;
        out
    }
}

/// Which decoded payloads [`StoreData::node_tx`] copies.
#[derive(Clone, Copy)]
enum Decoded {
    None,
    All,
    NamingKeys,
}

/// Whether a decoded payload may name a node by key: it holds the text `key"` (the end of
/// the keys `pubkey`, `sender_key` and `recipient_key`) or a backslash (which could
/// escape a letter of such a key name).
pub(super) fn may_name_keys(json: &str) -> bool {
    json.contains("key\"") || json.contains('\\')
}

/// The hash size a packet's path byte announces (spec analytics.md §0.2): the path byte
/// follows the header (and the four transport-code bytes of route types 0 and 3); size =
/// top two bits + 1. `None` for zero-hop direct packets (their upper bits are not set by
/// the sender), TRACE (its path bytes are SNR values), the reserved size 4 and packets
/// too short to hold a path byte.
pub(super) fn path_hash_size(raw: &[u8]) -> Option<u8> {
    let header = *raw.first()?;
    let route = header & 0x03;
    let payload = (header >> 2) & 0x0f;
    if payload == TRACE {
        return None;
    }
    let path_byte = *raw.get(if matches!(route, 0 | 3) { 5 } else { 1 })?;
    if matches!(route, 2 | 3) && path_byte & 0x3f == 0 {
        return None;
    }
    let size = (path_byte >> 6) + 1;
    (size <= 3).then_some(size)
}

/// The hop strings of a `path_json` array as stored (case kept); entries that are not hex
/// are skipped.
fn parse_hops_as_stored(path_json: &str) -> Vec<String> {
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

    const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    /// The node under test: a repeater whose 1-byte hop is "ab" and 2-byte hop "ab12".
    const KEY: &str = "ab12000000000000000000000000000000000000000000000000000000000000";

    fn obs(id: i64, tx: i64, ts: i64, snr: f64, path: &str) -> ObservationRow {
        ObservationRow {
            id,
            transmission_id: tx,
            observer_idx: Some(7),
            direction: None,
            snr: Some(snr),
            rssi: Some(-100.0),
            score: None,
            path_json: Some(path.into()),
            resolved_path: None,
            timestamp: ts,
        }
    }

    /// A transmission: `raw` is the packet hex (header and path byte matter here).
    fn tx(
        id: i64,
        at: i64,
        raw: &str,
        from: Option<&str>,
        scope: Option<&str>,
        paths: &[&str],
    ) -> TransmissionRow {
        let header = u8::from_str_radix(&raw[..2], 16).unwrap();
        TransmissionRow {
            id,
            hash: format!("{id:016x}"),
            raw_hex: raw.into(),
            first_seen: analyzer_db::time::rfc3339(at),
            last_seen: at,
            route_type: Some(i64::from(header & 3)),
            payload_type: Some(i64::from((header >> 2) & 0x0f)),
            payload_version: Some(0),
            decoded_json: Some("{}".into()),
            channel_hash: None,
            scope_name: scope.map(str::to_owned),
            from_pubkey: from.map(str::to_owned),
            observations: paths
                .iter()
                .enumerate()
                .map(|(i, p)| obs(id * 10 + i as i64, id, at + i as i64, 2.0 * i as f64, p))
                .collect(),
        }
    }

    fn store() -> Store {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[
            // Its own FLOOD advert, 1-byte hashes, relayed by "cd" only.
            tx(1, T0, "1100", Some(KEY), None, &[r#"["CD"]"#, "[]"]),
            // Its own advert with 2-byte hashes, an hour later.
            tx(2, T0 + 3600, "1140", Some(KEY), None, &["[]"]),
            // A group message it relayed (1-byte hop) in a scope (TRANSPORT_FLOOD).
            tx(
                3,
                T0 + 7200,
                "140102030401",
                None,
                Some("#west"),
                &[r#"["AB","CD"]"#],
            ),
            // A direct message relayed with a 2-byte hop, plain FLOOD.
            tx(
                4,
                T0 + 7300,
                "0941",
                None,
                None,
                &[r#"["EF01","AB12"]"#, r#"["EF01"]"#],
            ),
            // Someone else's advert it relayed.
            tx(5, T0 + 7400, "1101", Some("cd"), None, &[r#"["AB"]"#]),
            // Traffic elsewhere.
            tx(6, T0 + 7500, "1501", None, None, &[r#"["CD"]"#]),
            // A TRACE whose "path" holds the 2-byte prefix: not multi-byte evidence.
            tx(7, T0 + 7600, "2682", None, None, &[r#"["AB12"]"#]),
        ]));
        store
    }

    fn node(hops: &[&str]) -> NodeKeys {
        NodeKeys {
            pubkey: KEY.into(),
            hops: hops.iter().map(|h| (*h).to_owned()).collect(),
        }
    }

    #[test]
    fn transmissions_are_its_adverts_and_what_it_relayed() {
        let s = store();
        let ids = |v: Vec<NodeTx>| v.iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(
            ids(s.node_transmissions(&node(&["ab", "ab12"]), None, false)),
            [1, 2, 3, 4, 5, 7]
        );
        // Without attributable hops (an ambiguous prefix, or a companion): adverts only.
        assert_eq!(ids(s.node_transmissions(&node(&[]), None, false)), [1, 2]);
        assert_eq!(
            ids(s.node_transmissions(&node(&["ab12"]), Some(T0 + 3600), false)),
            [2, 4, 7]
        );
        let all = s.node_transmissions(&node(&["ab"]), None, true);
        let first = &all[0];
        assert!(first.sent && first.observation_count == 2 && first.hops == 1);
        assert_eq!(first.snr, Some(0.0), "best = longest path");
        assert_eq!(first.best_observer, Some(7));
        assert_eq!(first.path_hash_size, Some(1));
        assert_eq!(first.decoded_json.as_deref(), Some("{}"));
        assert!(!all[2].sent && all[2].scope.as_deref() == Some("#west"));
        let recent = s.node_recent(&node(&["ab", "ab12"]), 2, false);
        assert_eq!(recent.iter().map(|p| p.id).collect::<Vec<_>>(), [7, 5]);
        let adverts = s.node_recent(&node(&["ab"]), 20, true);
        assert_eq!(adverts.iter().map(|p| p.id).collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn enrichment_counts_relays_sizes_and_evidence() {
        let s = store();
        let w = EnrichWindows {
            now: T0 + 7600,
            hash_size_since: T0,
            flood_adverts_since: T0 + 1,
        };
        let e = &s.node_enrichment(&[node(&["ab", "ab12"])], w)[0];
        assert_eq!(e.last_packet, Some(T0 + 7600));
        assert_eq!(e.advert_hash_sizes, [(T0, 1), (T0 + 3600, 2)]);
        assert_eq!(e.max_advert_hash_size, Some(2));
        // tx 4 (2-byte path) is evidence; the TRACE is not.
        assert_eq!(e.max_path_hash_size, Some(2));
        assert_eq!(e.flood_adverts, 1, "tx 1 is before the window");
        // Relayed, ADVERTs excluded: 3, 4, 7.
        assert_eq!(e.relay.last_relayed, Some(T0 + 7600));
        assert_eq!(e.relay.count_24h, 3);
        assert_eq!(e.relay.count_1h, 3);
        assert_eq!(e.relay.unscoped_24h, 1, "only tx 4 is plain FLOOD");
        assert_eq!(e.relay.scopes, ["#west"]);
        assert_eq!((e.relay.total, e.relay.store_non_adverts), (3, 4));
        let none = &s.node_enrichment(&[node(&[])], w)[0];
        assert_eq!(none.relay.total, 0);
        assert_eq!(none.relay.last_relayed, None);
        assert_eq!(none.max_path_hash_size, None);
        assert_eq!(none.last_packet, Some(T0 + 3600));
    }

    #[test]
    fn region_membership_and_paths() {
        let s = store();
        let heard = s.nodes_heard_by(&[7]);
        assert!(heard.contains(KEY) && heard.contains("cd"));
        assert!(s.nodes_heard_by(&[99]).is_empty());
        let mut paths = s.node_paths(&["ab12".to_owned()]);
        assert_eq!(paths.transmissions, 2);
        paths.groups.sort_by_key(|g| g.last_seen);
        assert_eq!(paths.groups.len(), 2);
        // tx 4: of its two paths only one holds the hop.
        let g = &paths.groups[0];
        assert_eq!(g.hops, ["EF01", "AB12"]);
        assert_eq!((g.count, g.last_seen), (1, T0 + 7300));
        assert_eq!(g.sample, ContentHash::parse("0000000000000004").unwrap());
        assert_eq!(s.node_paths(&[]), NodePaths::default());
        assert_eq!(s.node_paths(&["zz".to_owned()]), NodePaths::default());
        // Transmissions sharing a kept path form one group; the newest is its sample.
        let ab = s.node_paths(&["ab".to_owned()]);
        assert_eq!(ab.transmissions, 2);
        assert_eq!(ab.groups.len(), 2);
        // Only payloads that may name a key are copied.
        let named = s.node_transmissions_naming_keys(&node(&["ab"]), None);
        assert!(named.iter().all(|t| t.decoded_json.is_none()));
    }

    #[test]
    fn path_byte_gives_the_hash_size() {
        // FLOOD ADVERT (0x11), path byte 0x00: one-byte hashes, no hops yet.
        assert_eq!(path_hash_size(&[0x11, 0x00, 0xaa]), Some(1));
        // FLOOD, path byte 0x41: two-byte hashes.
        assert_eq!(path_hash_size(&[0x11, 0x41]), Some(2));
        // DIRECT ADVERT (0x12) with zero hops: size unknown.
        assert_eq!(path_hash_size(&[0x12, 0x80]), None);
        // DIRECT with one hop of three bytes.
        assert_eq!(path_hash_size(&[0x12, 0x81]), Some(3));
        // TRANSPORT_FLOOD (route 0): path byte after four transport-code bytes.
        assert_eq!(path_hash_size(&[0x10, 1, 2, 3, 4, 0x40]), Some(2));
        assert_eq!(path_hash_size(&[0x10, 1, 2]), None);
        // Reserved size 4, TRACE, empty.
        assert_eq!(path_hash_size(&[0x11, 0xc0]), None);
        assert_eq!(path_hash_size(&[0x25, 0x41]), None);
        assert_eq!(path_hash_size(&[]), None);
    }

    #[test]
    fn payloads_that_may_name_keys() {
        assert!(may_name_keys(r#"{"pubkey":"ab"}"#));
        assert!(may_name_keys(r#"{"sender_key":"ab","recipient_key":"cd"}"#));
        assert!(may_name_keys(r#"{"pub\u006bey":"ab"}"#), "escaped name");
        assert!(!may_name_keys(r#"{"type":"ADVERT","pubKey":"ab"}"#));
    }

    #[test]
    fn cached_summaries_follow_new_observations() {
        let s = store();
        let hops = |s: &Store| {
            let txs = s.node_transmissions(&node(&["ab"]), None, false);
            txs.iter().find(|t| t.id == 5).map(|t| (t.hops, t.snr))
        };
        assert_eq!(hops(&s), Some((1, Some(0.0))));
        let ab = || s.node_paths(&["ab".to_owned()]);
        assert!(ab().groups.iter().all(|g| g.hops != ["EF", "AB", "CD"]));
        // tx 5 is heard again, over a longer path that holds the hop.
        s.merge(PreparedChunk::from_rows(&[tx(
            5,
            T0 + 7400,
            "1101",
            Some("cd"),
            None,
            &[r#"["AB"]"#, r#"["EF","AB","CD"]"#],
        )]));
        assert_eq!(hops(&s), Some((3, Some(2.0))));
        assert!(ab().groups.iter().any(|g| g.hops == ["EF", "AB", "CD"]));
        let mut twice = [ab(), ab()];
        for p in &mut twice {
            p.groups.sort_by_key(|g| g.tie);
        }
        assert_eq!(twice[0], twice[1], "a cached answer is the computed one");
        // A store of its own has its own cache.
        assert_eq!(hops(&store()), Some((1, Some(0.0))));
    }

    #[test]
    fn the_kept_path_is_the_longest_holding_the_hop_the_last_on_ties() {
        // Per transmission, observations in arrival order, and the path expected kept for
        // hop AB.
        let cases: [(&[&str], &str); 5] = [
            // The longest path does not hold it; of those that do, the longest.
            (
                &[r#"["AB"]"#, r#"["CD","EF","01"]"#, r#"["AB","CD"]"#],
                r#"["AB","CD"]"#,
            ),
            // Ties: the last one (the longest path of all does not hold it).
            (
                &[
                    r#"["AB","CD"]"#,
                    r#"["EF","AB"]"#,
                    r#"["01","02","03"]"#,
                    r#"["01"]"#,
                ],
                r#"["EF","AB"]"#,
            ),
            // A shorter one after the kept one does not replace it.
            (&[r#"["EF","AB"]"#, r#"["AB"]"#], r#"["EF","AB"]"#),
            // A repeated path, and the longest last of all.
            (
                &[r#"["AB"]"#, r#"["AB"]"#, r#"["01","AB","CD"]"#],
                r#"["01","AB","CD"]"#,
            ),
            // The last of the longest holds it (the summary's shortcut).
            (&[r#"["CD","EF"]"#, r#"["EF","AB"]"#], r#"["EF","AB"]"#),
        ];
        let s = Store::new();
        let rows: Vec<TransmissionRow> = (0..cases.len())
            .map(|i| {
                tx(
                    100 + i as i64,
                    T0 + i as i64,
                    "1501",
                    None,
                    None,
                    cases[i].0,
                )
            })
            .collect();
        s.merge(PreparedChunk::from_rows(&rows));
        let mut got: Vec<String> = s
            .node_paths(&["ab".to_owned()])
            .groups
            .iter()
            .flat_map(|g| std::iter::repeat_n(format!("{:?}", g.hops), g.count))
            .collect();
        got.sort();
        let mut want: Vec<String> = cases
            .iter()
            .map(|(_, kept)| format!("{:?}", parse_hops_as_stored(kept)))
            .collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn stored_hops_keep_their_case() {
        assert_eq!(parse_hops_as_stored(r#"["AB","c1D2","x"]"#), ["AB", "c1D2"]);
        assert!(parse_hops_as_stored("garbage").is_empty());
    }
}
