//! The neighbour graph: who has been heard directly by whom, as undirected edges between
//! full keys.
//!
//! It is built from the store's neighbour evidence ([`Store::neighbor_evidence`])
//! by resolving each hop to the one relaying node it names ([`RelayIndex::unique`]);
//! evidence whose hop names several relays or none is left out, as the reference's
//! persisted builder does (ingest.md §5.1). Observers are identified by their id, which is
//! their public key. Only evidence seen within `neighborEdgesMaxAgeDays` (default 5) counts,
//! the age after which the reference prunes `neighbor_edges` rows.
//!
//! Two deliberate differences from the reference's persisted edges: a hop resolves only
//! among repeaters and rooms (the reference's ingestor index holds every role, so a
//! companion sharing a repeater's prefix makes the hop ambiguous there, analytics.md §8.2),
//! and observations are never skipped for arriving out of time order (the reference's
//! watermark skips them).
//!
//! Readers share one graph, rebuilt in the background once older than [`MAX_AGE`] (the reference re-reads its
//! edge table every 60 s).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use analyzer_config::Config;
use analyzer_store::{EvidenceEnd, Store};

use crate::directory::{NodeDir, ObserverDir, RelayIndex};

/// Age after which the shared graph is rebuilt.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(60);
/// `neighborEdgesMaxAgeDays` when not configured.
const DEFAULT_MAX_AGE_DAYS: f64 = 5.0;

/// One undirected edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Edge {
    /// Supporting observations.
    pub count: u64,
    /// Newest supporting observation (Unix seconds).
    pub last_seen: i64,
}

/// The resolved graph.
#[derive(Debug)]
pub(crate) struct NeighborGraph {
    /// Endpoint keys (lower case), indexed by endpoint id.
    keys: Vec<String>,
    ids: HashMap<String, u32>,
    /// Edges by endpoint ids, lower id first.
    edges: HashMap<(u32, u32), Edge>,
    /// Neighbours of each endpoint id.
    degree: Vec<u32>,
    /// When the graph was built.
    pub built_at: Instant,
}

impl NeighborGraph {
    /// Resolves the store's evidence seen at or after `since`.
    pub(crate) fn build(
        store: &Store,
        nodes: &NodeDir,
        observers: &ObserverDir,
        since: i64,
    ) -> Self {
        let relay = RelayIndex::new(nodes);
        let mut graph = Self {
            keys: Vec::new(),
            ids: HashMap::new(),
            edges: HashMap::new(),
            degree: Vec::new(),
            built_at: Instant::now(),
        };
        // Copied out under a short read lock; everything below runs without it.
        let evidence = store.neighbor_evidence(since);
        // Each text resolved once, as a full key and as a hop.
        let mut as_node: Vec<Option<Option<u32>>> = vec![None; evidence.texts.len()];
        let mut as_hop: Vec<Option<Option<u32>>> = vec![None; evidence.texts.len()];
        let mut as_observer: HashMap<i64, Option<u32>> = HashMap::new();
        for e in &evidence.items {
            let mut end = |end: EvidenceEnd| -> Option<u32> {
                match end {
                    EvidenceEnd::Node(i) => *as_node[i as usize]
                        .get_or_insert_with(|| Some(graph.intern(evidence.text(i)))),
                    EvidenceEnd::Hop(i) => *as_hop[i as usize].get_or_insert_with(|| {
                        let row = relay.unique(nodes, evidence.text(i))?;
                        Some(graph.intern(&row.public_key))
                    }),
                    EvidenceEnd::Observer(idx) => *as_observer.entry(idx).or_insert_with(|| {
                        let id = observers.by_idx(idx)?.id.trim().to_ascii_lowercase();
                        (!id.is_empty()).then(|| graph.intern(&id))
                    }),
                }
            };
            let (Some(a), Some(b)) = (end(e.known), end(e.other)) else {
                continue;
            };
            if a == b {
                continue;
            }
            let edge = graph.edges.entry((a.min(b), a.max(b))).or_insert(Edge {
                count: 0,
                last_seen: e.last_seen,
            });
            edge.count += u64::from(e.count);
            edge.last_seen = edge.last_seen.max(e.last_seen);
        }
        graph.degree = vec![0; graph.keys.len()];
        for &(a, b) in graph.edges.keys() {
            graph.degree[a as usize] += 1;
            graph.degree[b as usize] += 1;
        }
        tracing::debug!(
            evidence = evidence.items.len(),
            edges = graph.edges.len(),
            endpoints = graph.keys.len(),
            ms = graph.built_at.elapsed().as_secs_f64() * 1000.0,
            "neighbour graph built"
        );
        graph
    }

    fn intern(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.keys.push(key.to_owned());
        self.ids.insert(key.to_owned(), id);
        id
    }

    /// Number of neighbours of `key` (lower case).
    pub(crate) fn degree(&self, key: &str) -> usize {
        self.ids
            .get(key)
            .and_then(|&id| self.degree.get(id as usize))
            .map_or(0, |&d| d as usize)
    }

    /// 1 + the number of endpoints with strictly more neighbours than `key`.
    pub(crate) fn rank(&self, key: &str) -> usize {
        let own = self.degree(key) as u32;
        1 + self.degree.iter().filter(|&&d| d > own).count()
    }

    /// Endpoints with at least one edge.
    pub(crate) fn nodes_with_edges(&self) -> usize {
        self.keys.len()
    }

    /// Number of edges.
    #[cfg(test)]
    pub(crate) fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// The edge between two keys, if any.
    #[cfg(test)]
    pub(crate) fn edge(&self, a: &str, b: &str) -> Option<Edge> {
        let (a, b) = (*self.ids.get(a)?, *self.ids.get(b)?);
        self.edges.get(&(a.min(b), a.max(b))).copied()
    }
}

/// The window of the graph: `neighborEdgesMaxAgeDays` (default 5; zero or negative keeps
/// everything the store holds) before `now`.
pub(crate) fn window_start(config: &Config, now: i64) -> i64 {
    match config
        .neighbor_edges_max_age_days
        .unwrap_or(DEFAULT_MAX_AGE_DAYS)
    {
        d if d.is_finite() && d > 0.0 => now - (d * 86_400.0) as i64,
        _ => i64::MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer_db::{NodeRow, ObservationRow, ObserverRow, TransmissionRow};
    use analyzer_store::PreparedChunk;

    const T0: i64 = 1_767_225_600;
    const ORIGIN: &str = "0a00000000000000000000000000000000000000000000000000000000000000";
    const RELAY_B1: &str = "b1c2000000000000000000000000000000000000000000000000000000000000";
    const RELAY_B1_TOO: &str = "b1d3000000000000000000000000000000000000000000000000000000000000";
    const COMPANION_E5: &str = "e5000000000000000000000000000000000000000000000000000000000000aa";
    const RELAY_E5: &str = "e5f6000000000000000000000000000000000000000000000000000000000000";
    const OBSERVER: &str = "0b00000000000000000000000000000000000000000000000000000000000000";

    fn node(key: &str, role: &str) -> NodeRow {
        NodeRow {
            public_key: key.into(),
            role: Some(role.into()),
            ..NodeRow::default()
        }
    }

    fn obs(id: i64, tx: i64, ts: i64, path: &str) -> ObservationRow {
        ObservationRow {
            id,
            transmission_id: tx,
            observer_idx: Some(1),
            direction: None,
            snr: Some(1.0),
            rssi: None,
            score: None,
            path_json: Some(path.into()),
            resolved_path: None,
            timestamp: ts,
        }
    }

    fn tx(id: i64, payload_type: i64, o: ObservationRow) -> TransmissionRow {
        TransmissionRow {
            id,
            hash: format!("{id:016x}"),
            raw_hex: "1100".into(),
            first_seen: "2026-01-01T00:00:00Z".into(),
            last_seen: 0,
            route_type: Some(1),
            payload_type: Some(payload_type),
            payload_version: Some(0),
            decoded_json: None,
            channel_hash: None,
            scope_name: None,
            from_pubkey: (payload_type == 4).then(|| ORIGIN.into()),
            observations: vec![o],
        }
    }

    fn graph(since: i64) -> NeighborGraph {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[
            // The advert: ORIGIN first repeated by "b1c2", heard by the observer from "e5".
            tx(1, 4, obs(1, 1, T0, r#"["B1C2","E5"]"#)),
            // Heard directly: ORIGIN ↔ observer.
            tx(2, 4, obs(2, 2, T0 + 10, "[]")),
            // "b1" names two repeaters: no edge from this one.
            tx(3, 5, obs(3, 3, T0 + 20, r#"["B1"]"#)),
            // The same link as the first again, later.
            tx(4, 5, obs(4, 4, T0 + 30, r#"["E5"]"#)),
            // Old evidence, outside the window below.
            tx(5, 5, obs(5, 5, T0 - 86_400, r#"["B1C2"]"#)),
        ]));
        let nodes = NodeDir::new(vec![
            node(ORIGIN, "companion"),
            node(RELAY_B1, "repeater"),
            node(RELAY_B1_TOO, "room"),
            // A companion sharing the "e5" prefix does not make the hop ambiguous:
            // companions do not relay.
            node(COMPANION_E5, "companion"),
            node(RELAY_E5, "repeater"),
        ]);
        let observers = ObserverDir::new(vec![ObserverRow {
            idx: 1,
            id: OBSERVER.to_uppercase(),
            ..ObserverRow::default()
        }]);
        NeighborGraph::build(&store, &nodes, &observers, since)
    }

    #[test]
    fn hops_resolve_to_the_one_relay_they_name() {
        let g = graph(T0 - 3600);
        assert_eq!(g.edge_count(), 3);
        assert_eq!(
            g.edge(ORIGIN, RELAY_B1),
            Some(Edge {
                count: 1,
                last_seen: T0
            })
        );
        assert_eq!(
            g.edge(OBSERVER, RELAY_E5),
            Some(Edge {
                count: 2,
                last_seen: T0 + 30
            })
        );
        assert_eq!(g.edge(ORIGIN, OBSERVER).map(|e| e.count), Some(1));
        assert_eq!(g.edge(OBSERVER, RELAY_B1_TOO), None);
        assert_eq!(g.degree(ORIGIN), 2);
        assert_eq!(g.degree(OBSERVER), 2);
        assert_eq!(g.degree(RELAY_E5), 1);
        assert_eq!(g.degree(COMPANION_E5), 0);
        assert_eq!(g.nodes_with_edges(), 4);
        // Rank: 1 + endpoints with strictly more neighbours.
        assert_eq!(g.rank(ORIGIN), 1);
        assert_eq!(g.rank(RELAY_E5), 3);
        assert_eq!(g.rank(COMPANION_E5), 5);
    }

    #[test]
    fn the_window_leaves_out_old_evidence() {
        let wide = graph(T0 - 2 * 86_400);
        assert_eq!(wide.edge(OBSERVER, RELAY_B1).map(|e| e.count), Some(1));
        assert_eq!(graph(T0 - 3600).edge(OBSERVER, RELAY_B1), None);
        let mut config = Config::default();
        assert_eq!(window_start(&config, T0), T0 - 5 * 86_400);
        config.neighbor_edges_max_age_days = Some(0.5);
        assert_eq!(window_start(&config, T0), T0 - 43_200);
        config.neighbor_edges_max_age_days = Some(-1.0);
        assert_eq!(window_start(&config, T0), i64::MIN);
    }
}
