//! `GET /api/nodes/{pubkey}/reach` (analytics.md §6.3): a relay's two-way radio links,
//! from the paths it appears on.
//!
//! Only the node's *reliable tokens* are used: its 1- to 3-byte key prefixes that name no
//! other repeater or room, so every path entry counted is this node. On each observation
//! whose path holds one, the entry before it is a node it heard (`we_hear`; for the first
//! hop of an ADVERT, the advert's originator) and the entry after it a node that heard it
//! (`they_hear`; when it is the last hop, the observer, which also counts as a direct
//! observer with its SNR). Neighbouring entries count only when they too name exactly one
//! relay. A link is two-way when both directions were seen; its `bottleneck` is the
//! weaker direction.
//!
//! Importance ranks the node by its number of neighbours in the neighbour graph
//! ([`crate::neighbors`]). The scan reads the store, newest first, up to
//! [`SCAN_CAP`] observations (the reference's SQL cap); `window.truncated` says when the
//! cap cut it short and `window.complete` whether memory holds the whole window.

use std::collections::HashMap;

use analyzer_db::NodeRow;
use analyzer_store::ReachPeer;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::nodes::{days_param, is_hidden};
use crate::directory::{NodeDir, RelayIndex};
use crate::error::ApiError;
use crate::params::{Params, blocking};
use crate::render;
use crate::state::AppState;

/// Observations read at most per request (the reference's SQL row cap).
pub(crate) const SCAN_CAP: usize = 200_000;
/// Longest reliable token: 3 bytes (paths carry 1- to 3-byte hashes).
const MAX_TOKEN_HEX: usize = 6;
/// `days` when absent, and its bounds.
const DEFAULT_DAYS: i64 = 7;
const MAX_DAYS: i64 = 30;

/// The reach routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(node_reach))
}

/// A relay's radio links: who it hears, who hears it, how strongly each way.
#[utoipa::path(get, path = "/api/nodes/{pubkey}/reach", tag = "nodes",
    params(("pubkey" = String, Path, description = "Full public key (64 hex characters)"),
        ("days" = Option<String>, Query, description = "Window in days (default 7, clamped to 1..30)")),
    responses((status = 200, description = "{node, window, reliable_tokens, importance, direct_observers, links[{pubkey, name, role, lat, lon, we_hear, they_hear, bottleneck, bidir, distance_km}]}", body = Object),
        (status = 400, description = "pubkey is not 64 hex characters, or days is not an integer", body = Object),
        (status = 404, description = "Unknown, blacklisted or hidden node", body = Object),
        (status = 500, description = "reach computation failed", body = Object)))]
async fn node_reach(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let key = pubkey.trim();
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "pubkey must be a full public key of 64 hex characters",
        ));
    }
    let days = days_param(&p, DEFAULT_DAYS, MAX_DAYS)?;
    let nodes = state.nodes().await?;
    let row = nodes
        .get(key)
        .filter(|r| !is_hidden(state.config(), r))
        .ok_or_else(|| ApiError::not_found("Node not found"))?;
    let relay = RelayIndex::new(&nodes);
    let tokens: Vec<String> = relay
        .hops_of(row)
        .into_iter()
        .filter(|t| t.len() <= MAX_TOKEN_HEX)
        .collect();
    let now = state.now();
    let since = now - days * 86_400;
    let store = state.store().clone();
    let scan_tokens = tokens.clone();
    let scan = blocking(move || store.reach_scan(&scan_tokens, since, SCAN_CAP))
        .await
        .map_err(|_| {
            ApiError::internal_with("reach computation failed", "store scan task failed")
        })?;
    // Memory holds the whole window once the hot load is done and nothing in the window is
    // below what is loaded.
    let load = state.store().load_state();
    let complete = load.load_complete && load.oldest_loaded.is_none_or(|t| t <= since);
    let observers = state.observers().await?;
    let graph = state.neighbor_graph().await?;

    let own = row.public_key.as_str();
    let mut links: HashMap<String, (u64, u64)> = HashMap::new();
    let peer_key = |peer: &ReachPeer| -> Option<String> {
        let found = match peer {
            ReachPeer::Node(key) => nodes.get(key),
            ReachPeer::Hop(hop) => relay.unique(&nodes, hop),
        }?;
        (!is_hidden(state.config(), found)).then(|| found.public_key.clone())
    };
    for (peer, n) in &scan.we_hear {
        if let Some(k) = peer_key(peer).filter(|k| k != own) {
            links.entry(k).or_default().0 += u64::from(*n);
        }
    }
    for (peer, n) in &scan.they_hear {
        if let Some(k) = peer_key(peer).filter(|k| k != own) {
            links.entry(k).or_default().1 += u64::from(*n);
        }
    }
    let mut direct = Vec::with_capacity(scan.observers.len());
    for o in &scan.observers {
        let Some(obs) = observers.by_idx(o.observer_idx) else {
            continue;
        };
        let id = obs.id.trim().to_ascii_lowercase();
        // An observer running on the node itself logs its own retransmissions with
        // itself as the last hop: that is no link.
        if id == own {
            continue;
        }
        if nodes.get(&id).is_none_or(|r| !is_hidden(state.config(), r)) {
            links.entry(id).or_default().1 += u64::from(o.count);
        }
        direct.push((
            o.count,
            json!({
                "observer_id": obs.id,
                "observer_name": obs.name,
                "count": o.count,
                "avg_snr": o.avg_snr.map(|s| render::round(s, 1)),
            }),
        ));
    }
    direct.sort_by_key(|d| std::cmp::Reverse(d.0));

    let mut rows: Vec<Link> = links
        .into_iter()
        .map(|(key, (we, they))| Link::new(key, we, they))
        .collect();
    rows.sort_by(|a, b| {
        b.bidir()
            .cmp(&a.bidir())
            .then(b.bottleneck().cmp(&a.bottleneck()))
            .then((b.we + b.they).cmp(&(a.we + a.they)))
            .then(a.key.cmp(&b.key))
    });
    let bidirectional = rows.iter().filter(|l| l.bidir()).count();
    let links: Vec<Value> = rows
        .iter()
        .map(|l| l.json(row, &nodes, &observers))
        .collect();
    Ok(Json(json!({
        "node": {
            "public_key": row.public_key,
            "name": row.name,
            "role": row.role,
            "lat": row.lat,
            "lon": row.lon,
        },
        "window": {
            "days": days,
            "from": render::iso(since),
            "to": render::iso(now),
            "relay_observations": scan.relay_observations,
            "scan_cap": SCAN_CAP,
            "truncated": scan.truncated,
            "complete": complete,
        },
        "reliable_tokens": tokens.iter().map(|t| t.to_ascii_uppercase()).collect::<Vec<_>>(),
        "importance": {
            "degree": graph.degree(own),
            "rank": graph.rank(own),
            "nodes_with_edges": graph.nodes_with_edges(),
            "bidirectional_links": bidirectional,
            "direct_observers": direct.len(),
        },
        "direct_observers": direct.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "links": links,
    })))
}

/// One neighbour and the sightings each way.
struct Link {
    key: String,
    we: u64,
    they: u64,
}

impl Link {
    fn new(key: String, we: u64, they: u64) -> Self {
        Self { key, we, they }
    }

    fn bidir(&self) -> bool {
        self.we > 0 && self.they > 0
    }

    fn bottleneck(&self) -> u64 {
        self.we.min(self.they)
    }

    fn json(
        &self,
        own: &NodeRow,
        nodes: &NodeDir,
        observers: &crate::directory::ObserverDir,
    ) -> Value {
        let node = nodes.get(&self.key);
        let (name, role) = match node {
            Some(r) => (r.name.clone(), r.role.clone()),
            None => (
                observers.by_id(&self.key).and_then(|o| o.name.clone()),
                observers.by_id(&self.key).map(|_| "observer".to_owned()),
            ),
        };
        let (lat, lon) = node.map_or((None, None), |r| (r.lat, r.lon));
        json!({
            "pubkey": self.key,
            "name": name,
            "role": role,
            "lat": lat,
            "lon": lon,
            "we_hear": self.we,
            "they_hear": self.they,
            "bottleneck": self.bottleneck(),
            "bidir": self.bidir(),
            "distance_km": distance_km(own, node),
        })
    }
}

/// Great-circle distance between two nodes with a position (lat and lon set, not both 0),
/// in km to one decimal.
fn distance_km(a: &NodeRow, b: Option<&NodeRow>) -> Option<f64> {
    let pos = |r: &NodeRow| match (r.lat, r.lon) {
        (Some(lat), Some(lon)) if !(lat == 0.0 && lon == 0.0) => Some((lat, lon)),
        _ => None,
    };
    let ((lat1, lon1), (lat2, lon2)) = (pos(a)?, pos(b?)?);
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    let km = 2.0 * 6_371.0 * h.sqrt().min(1.0).asin();
    Some(render::round(km, 1))
}
