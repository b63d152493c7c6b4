//! The server's copies of the small tables: observers and nodes.
//!
//! Both are small (tens of observers, thousands of nodes), read by almost every endpoint and
//! joined per row (observer id → name and region), so handlers read an immutable snapshot
//! instead of querying the database. A snapshot is reloaded when it is older than
//! [`MAX_AGE`], or sooner when ingestion reports a change it does not hold (a new observer, an
//! advert); concurrent requests share one reload.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use analyzer_db::{NodeRow, ObserverRow};
use analyzer_store::NodeKeys;

/// Age after which a snapshot is reloaded even without a change notice.
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// Minimum age before a change notice triggers a reload (bounds reloads under a burst).
pub const MIN_AGE: Duration = Duration::from_millis(500);

/// All observer rows, indexed by key and by id.
#[derive(Debug, Default)]
pub struct ObserverDir {
    rows: Vec<ObserverRow>,
    by_idx: HashMap<i64, usize>,
    by_id: HashMap<String, usize>,
}

impl ObserverDir {
    /// Indexes `rows`.
    pub fn new(rows: Vec<ObserverRow>) -> Self {
        let by_idx = rows.iter().enumerate().map(|(i, r)| (r.idx, i)).collect();
        let by_id = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.to_ascii_lowercase(), i))
            .collect();
        Self {
            rows,
            by_idx,
            by_id,
        }
    }

    /// Every observer row (active and inactive).
    pub fn rows(&self) -> &[ObserverRow] {
        &self.rows
    }

    /// The observer with stable key `idx` (`observations.observer_idx`).
    pub fn by_idx(&self, idx: i64) -> Option<&ObserverRow> {
        self.by_idx.get(&idx).map(|&i| &self.rows[i])
    }

    /// The observer with topic id `id` (case-insensitive).
    pub fn by_id(&self, id: &str) -> Option<&ObserverRow> {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .map(|&i| &self.rows[i])
    }

    /// Keys of the observers whose IATA code is in `regions` (upper-case codes).
    pub fn keys_in_regions(&self, regions: &[String]) -> Vec<i64> {
        self.rows
            .iter()
            .filter(|r| {
                r.iata
                    .as_deref()
                    .is_some_and(|i| regions.iter().any(|c| c.eq_ignore_ascii_case(i.trim())))
            })
            .map(|r| r.idx)
            .collect()
    }

    /// Name of the observer with key `idx`.
    pub fn name(&self, idx: Option<i64>) -> Option<&str> {
        idx.and_then(|k| self.by_idx(k))
            .and_then(|r| r.name.as_deref())
    }
}

/// All node rows, indexed by lower-case public key.
#[derive(Debug, Default)]
pub struct NodeDir {
    rows: Vec<NodeRow>,
    by_key: HashMap<String, usize>,
}

impl NodeDir {
    /// Indexes `rows` (keys are lower-cased).
    pub fn new(mut rows: Vec<NodeRow>) -> Self {
        for row in &mut rows {
            row.public_key.make_ascii_lowercase();
        }
        let by_key = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.public_key.clone(), i))
            .collect();
        Self { rows, by_key }
    }

    /// Every node row.
    pub fn rows(&self) -> &[NodeRow] {
        &self.rows
    }

    /// The node with this full public key (any case).
    pub fn get(&self, public_key: &str) -> Option<&NodeRow> {
        self.by_key
            .get(&public_key.to_ascii_lowercase())
            .map(|&i| &self.rows[i])
    }

    /// Nodes whose key starts with `prefix` (any case).
    pub fn with_prefix<'a>(&'a self, prefix: &str) -> impl Iterator<Item = &'a NodeRow> + 'a {
        let prefix = prefix.to_ascii_lowercase();
        self.rows
            .iter()
            .filter(move |r| r.public_key.starts_with(&prefix))
    }
}

/// Hop prefix lengths (hex characters) looked up in the path-hop index: 1 to 4 bytes.
pub(crate) const HOP_LENGTHS: [usize; 4] = [2, 4, 6, 8];

/// Repeaters and rooms forward packets (and so appear as path hops); they use the
/// infrastructure health thresholds. `room_server` is accepted as a spelling of `room`
/// (the reference gives it the companion thresholds although it relays, analytics.md §8.10).
pub(crate) fn is_infra(role: Option<&str>) -> bool {
    role.is_some_and(|r| {
        ["repeater", "room", "room_server"]
            .iter()
            .any(|x| r.trim().eq_ignore_ascii_case(x))
    })
}

/// Which known relaying nodes each short key prefix could name.
pub(crate) struct RelayIndex {
    /// Prefix (lower-case, 2..8 hex) → number of repeaters/rooms whose key starts with it,
    /// and the row index of the last one.
    prefixes: HashMap<String, (usize, usize)>,
}

impl RelayIndex {
    pub(crate) fn new(nodes: &NodeDir) -> Self {
        let mut prefixes: HashMap<String, (usize, usize)> = HashMap::new();
        for (i, row) in nodes.rows().iter().enumerate() {
            if !is_infra(row.role.as_deref()) {
                continue;
            }
            for len in HOP_LENGTHS {
                if let Some(p) = row.public_key.get(..len) {
                    let e = prefixes.entry(p.to_owned()).or_insert((0, i));
                    e.0 += 1;
                    e.1 = i;
                }
            }
        }
        Self { prefixes }
    }

    /// The hops that may be attributed to `row`: its key prefixes no other relaying node
    /// shares; none when it does not relay.
    pub(crate) fn hops_of(&self, row: &NodeRow) -> Vec<String> {
        if !is_infra(row.role.as_deref()) {
            return Vec::new();
        }
        HOP_LENGTHS
            .iter()
            .filter_map(|&len| row.public_key.get(..len))
            .filter(|p| self.prefixes.get(*p).is_some_and(|&(n, _)| n == 1))
            .map(str::to_owned)
            .collect()
    }

    /// The one relaying node a hop names, if exactly one does.
    pub(crate) fn unique<'a>(&self, nodes: &'a NodeDir, hop: &str) -> Option<&'a NodeRow> {
        let hop: std::borrow::Cow<'_, str> = if hop.bytes().any(|b| b.is_ascii_uppercase()) {
            hop.to_ascii_lowercase().into()
        } else {
            hop.into()
        };
        if hop.len() > 8 {
            let mut it = nodes
                .with_prefix(&hop)
                .filter(|r| is_infra(r.role.as_deref()));
            let first = it.next()?;
            return it.next().is_none().then_some(first);
        }
        match self.prefixes.get(hop.as_ref()) {
            Some(&(1, i)) => nodes.rows().get(i),
            _ => None,
        }
    }

    pub(crate) fn keys(&self, row: &NodeRow) -> NodeKeys {
        NodeKeys {
            pubkey: row.public_key.clone(),
            hops: self.hops_of(row),
        }
    }
}

/// A snapshot and when it was taken.
pub(crate) struct Cached<T> {
    pub value: Arc<T>,
    pub loaded_at: Instant,
}

impl<T> Cached<T> {
    pub fn usable(&self, now: Instant, changed: bool) -> bool {
        let age = now.duration_since(self.loaded_at);
        age < MAX_AGE && !(changed && age >= MIN_AGE)
    }
}
