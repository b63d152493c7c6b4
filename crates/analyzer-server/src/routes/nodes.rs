//! Nodes endpoints (spec api.md §4, analytics.md §3).
//!
//! Node rows come from the nodes snapshot ([`NodeDir`]); what the store knows about a node
//! (packets it sent, packets relayed through it) comes from `analyzer_store` queries that
//! look the node up in the `by_node` and `by_hop` indexes and run on the blocking pool.
//!
//! Attribution of path hops. A path hop is a 1..3-byte prefix of a relaying node's key, so
//! a short hop may name several nodes. Only repeaters and rooms relay, so a hop is
//! attributed to a node only when the node is a repeater or room and no other known
//! repeater or room has a key with that prefix ([`RelayIndex`]); ambiguous hops count for
//! nobody. The reference counts the 1-byte bucket for every node sharing it (accepted
//! over-count, analytics.md §3.4); we prefer undercounting a collision to crediting a node
//! with another node's traffic.
//!
//! Visibility (api.md §0.4): nodes on `nodeBlacklist` or whose name starts with a
//! `hiddenNamePrefixes` entry are absent from lists and answer 404 individually.
//!
//! Not built here (they need features that do not exist yet): the graph-based usefulness
//! axes of the node row (`bridge_score`, `coverage_score`, `redundancy_score`, and so the
//! composite `usefulness_score` and `usefulness_grade`: neighbour graph and recomputers),
//! `clockSkew` in node analytics, neighbours, clock skew, rx-coverage and
//! `/api/resolve-hops` (hop resolution). `/api/nodes/{pk}/reach` is in `reach.rs`.

use std::collections::{BTreeMap, HashMap};

use analyzer_config::Config;
use analyzer_db::NodeRow;
use analyzer_db::time::parse_time;
use analyzer_store::{
    EnrichWindows, NodeEnrichment, NodeHealthSummary, NodeKeys, NodeTx, PacketSummary, centi_mean,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::directory::{NodeDir, ObserverDir, RelayIndex, is_infra};
use crate::error::ApiError;
use crate::params;
use crate::params::{Params, blocking, param};
use crate::render::{self, Object, round};
use crate::state::AppState;

/// Recent adverts on the node detail, recent packets on node health.
const RECENT: usize = 20;
/// Results of `/api/nodes/search`.
const SEARCH_RESULTS: usize = 10;
/// Distinct paths listed by `/api/nodes/{pk}/paths`.
const MAX_PATHS: usize = 50;
/// Peers listed by node analytics.
const MAX_PEERS: usize = 20;
/// Window of the hash-size fields and of `flood_advert_count_7d`: seven days.
const WEEK_SECS: i64 = 7 * 86_400;
/// `/api/nodes/{pk}` treats 8 to 63 characters as a key prefix.
const MIN_KEY_PREFIX: usize = 8;
/// `/api/nodes/resolve` needs at least this many hex characters.
const MIN_RESOLVE_PREFIX: usize = 4;
/// The answer to a key prefix that names several nodes.
const AMBIGUOUS: &str = "Ambiguous prefix: multiple nodes match. Use a longer prefix.";

/// The nodes routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_nodes))
        .routes(routes!(search_nodes))
        .routes(routes!(bulk_health))
        .routes(routes!(network_status))
        .routes(routes!(resolve_prefix))
        .routes(routes!(node_detail))
        .routes(routes!(node_health))
        .routes(routes!(node_paths))
        .routes(routes!(node_analytics))
}

// ---------------------------------------------------------------------------------------
// Shared pieces: visibility, roles, hop attribution, node lookup, the node row.

/// True when the API must not show this node (blacklisted key or hidden name prefix).
pub(super) fn is_hidden(config: &Config, row: &NodeRow) -> bool {
    let key = row.public_key.as_str();
    config
        .node_blacklist
        .iter()
        .any(|b| b.trim().eq_ignore_ascii_case(key))
        || row.name.as_deref().is_some_and(|name| {
            config
                .hidden_name_prefixes
                .iter()
                .filter(|p| !p.is_empty())
                .any(|p| name.starts_with(p.as_str()))
        })
}

/// The visible node a path segment names: the exact key, else (8 to 63 characters) the
/// one node whose key starts with it; several is a 409, none (or hidden) a 404.
fn find_node<'a>(nodes: &'a NodeDir, config: &Config, key: &str) -> Result<&'a NodeRow, ApiError> {
    let key = key.trim();
    let not_found = || ApiError::not_found("Node not found");
    if let Some(row) = nodes.get(key) {
        return if is_hidden(config, row) {
            Err(not_found())
        } else {
            Ok(row)
        };
    }
    if key.len() < MIN_KEY_PREFIX || key.len() >= 64 {
        return Err(not_found());
    }
    let mut matches = nodes.with_prefix(key).filter(|r| !is_hidden(config, r));
    let first = matches.next().ok_or_else(not_found)?;
    if matches.next().is_some() {
        return Err(ApiError::conflict(AMBIGUOUS));
    }
    Ok(first)
}

fn secs_of(text: Option<&str>) -> Option<i64> {
    text.and_then(parse_time)
}

/// The node row (api.md §0.5) with the store-derived fields.
fn node_json(row: &NodeRow, e: &NodeEnrichment, ctx: RowCtx) -> Object {
    let mut o = Object::with_capacity(28);
    o.insert("public_key".into(), json!(row.public_key));
    o.insert("name".into(), json!(row.name));
    o.insert("role".into(), json!(row.role));
    o.insert("lat".into(), json!(row.lat));
    o.insert("lon".into(), json!(row.lon));
    o.insert("last_seen".into(), json!(row.last_seen));
    o.insert("first_seen".into(), json!(row.first_seen));
    o.insert("advert_count".into(), json!(row.advert_count));
    let last_heard = secs_of(row.last_seen.as_deref()).max(e.last_packet);
    o.insert("last_heard".into(), json!(last_heard.map(render::iso)));
    let sizes = HashSizes::of(&e.advert_hash_sizes);
    o.insert("hash_size".into(), json!(sizes.current));
    o.insert("hash_size_inconsistent".into(), json!(sizes.inconsistent));
    o.insert("foreign".into(), json!(row.foreign_advert));
    o.insert("battery_mv".into(), json!(row.battery_mv));
    o.insert("temperature_c".into(), json!(row.temperature_c));
    o.insert("default_scope".into(), json!(row.default_scope));
    if sizes.seen.len() > 1 {
        o.insert("hash_sizes_seen".into(), json!(sizes.seen));
    }
    let (status, evidence, max) = multi_byte(row, e);
    o.insert("multi_byte_status".into(), json!(status));
    o.insert("multi_byte_evidence".into(), json!(evidence));
    o.insert("multi_byte_max_hash_size".into(), json!(max));
    if is_infra(row.role.as_deref()) {
        let r = &e.relay;
        if let Some(t) = r.last_relayed {
            o.insert("last_relayed".into(), json!(render::iso(t)));
        }
        o.insert(
            "relay_active".into(),
            json!(
                r.last_relayed
                    .is_some_and(|t| ctx.now - t <= ctx.relay_active_secs)
            ),
        );
        o.insert("relay_count_1h".into(), json!(r.count_1h));
        o.insert("relay_count_24h".into(), json!(r.count_24h));
        o.insert("unscoped_relay_count_24h".into(), json!(r.unscoped_24h));
        if !r.scopes.is_empty() {
            o.insert("transported_scopes".into(), json!(r.scopes));
        }
        // Share of all non-ADVERT traffic in memory that went through it (analytics.md
        // §6.5 "Traffic"); the other usefulness axes need the neighbour graph.
        let share = if r.store_non_adverts == 0 {
            0.0
        } else {
            (r.total as f64 / r.store_non_adverts as f64).clamp(0.0, 1.0)
        };
        o.insert("traffic_share_score".into(), json!(share));
    }
    o
}

/// The hash-size fields (analytics.md §3.5) from a node's recent adverts.
struct HashSizes {
    current: Option<u8>,
    inconsistent: bool,
    seen: Vec<u8>,
}

impl HashSizes {
    fn of(samples: &[(i64, u8)]) -> Self {
        let sizes: Vec<u8> = samples.iter().map(|&(_, s)| s).collect();
        let mut seen = sizes.clone();
        seen.sort_unstable();
        seen.dedup();
        let transitions = sizes.windows(2).filter(|w| w[0] != w[1]).count();
        let last3 = &sizes[sizes.len().saturating_sub(3)..];
        let inconsistent = sizes.len() >= 3
            && seen.len() >= 2
            && transitions >= 2
            && !last3.windows(2).all(|w| w[0] == w[1]);
        Self {
            current: sizes.last().copied(),
            inconsistent,
            seen,
        }
    }
}

/// `multi_byte_status`, `multi_byte_evidence`, `multi_byte_max_hash_size`: confirmed by
/// an advert with a multi-byte hash size, else suspected when a multi-byte prefix of the
/// key appears as a hop of a non-TRACE packet (the reference skips PATH, 8, where its own
/// comment says TRACE, 9: TRACE path bytes are not hops, so we skip TRACE). The ingestor's
/// persisted verdict (`nodes.multibyte_sup`) counts too, for evidence no longer in memory.
fn multi_byte(row: &NodeRow, e: &NodeEnrichment) -> (&'static str, String, Option<u8>) {
    let max = e.max_advert_hash_size.max(e.max_path_hash_size);
    let db_evidence = row
        .multibyte_evidence
        .as_deref()
        .filter(|v| matches!(*v, "advert" | "path"));
    if e.max_advert_hash_size.is_some_and(|s| s >= 2) {
        ("confirmed", "advert".into(), max)
    } else if row.multibyte_sup >= 2 {
        ("confirmed", db_evidence.unwrap_or("advert").into(), max)
    } else if e.max_path_hash_size.is_some() {
        ("suspected", "path".into(), max)
    } else if row.multibyte_sup == 1 {
        ("suspected", db_evidence.unwrap_or("path").into(), max)
    } else {
        ("unknown", String::new(), max)
    }
}

/// Store-derived fields for `rows`, in order.
async fn enrich(
    state: &AppState,
    index: &RelayIndex,
    rows: &[&NodeRow],
) -> Result<Vec<NodeEnrichment>, ApiError> {
    let now = state.now();
    let keys: Vec<NodeKeys> = rows.iter().map(|r| index.keys(r)).collect();
    let store = state.store().clone();
    let windows = EnrichWindows {
        now,
        hash_size_since: now - WEEK_SECS,
        flood_adverts_since: now - WEEK_SECS,
    };
    blocking(move || store.node_enrichment(&keys, windows)).await
}

/// What rendering a node row needs besides the row and its enrichment.
#[derive(Clone, Copy)]
struct RowCtx {
    now: i64,
    /// `healthThresholds.relayActiveHours` in seconds.
    relay_active_secs: i64,
}

impl RowCtx {
    fn of(state: &AppState) -> Self {
        Self {
            now: state.now(),
            relay_active_secs: (state.config().health_thresholds.relay_active_hours() * 3600.0)
                as i64,
        }
    }
}

/// Renders `rows` as enriched node rows.
async fn render_rows(
    state: &AppState,
    index: &RelayIndex,
    rows: &[&NodeRow],
) -> Result<Vec<Value>, ApiError> {
    let enrichment = enrich(state, index, rows).await?;
    let ctx = RowCtx::of(state);
    Ok(rows
        .iter()
        .zip(&enrichment)
        .map(|(r, e)| Value::Object(node_json(r, e, ctx)))
        .collect())
}

/// One enriched node row.
async fn render_one(
    state: &AppState,
    index: &RelayIndex,
    row: &NodeRow,
) -> Result<Object, ApiError> {
    let e = enrich(state, index, &[row])
        .await?
        .pop()
        .unwrap_or_default();
    Ok(node_json(row, &e, RowCtx::of(state)))
}

/// Health status of a node from the age of its last advert (analytics.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Active,
    Degraded,
    Silent,
}

fn health_of(config: &Config, row: &NodeRow, now: i64) -> Health {
    let t = &config.health_thresholds;
    let (degraded, silent) = if is_infra(row.role.as_deref()) {
        (t.infra_degraded_hours(), t.infra_silent_hours())
    } else {
        (t.node_degraded_hours(), t.node_silent_hours())
    };
    let Some(seen) = secs_of(row.last_seen.as_deref()) else {
        return Health::Silent;
    };
    let age_hours = (now - seen) as f64 / 3600.0;
    if age_hours < degraded {
        Health::Active
    } else if age_hours < silent {
        Health::Degraded
    } else {
        Health::Silent
    }
}

/// Start of the UTC day `now` falls in.
fn midnight(now: i64) -> i64 {
    now - now.rem_euclid(86_400)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Mean of SNR or RSSI readings. The store keeps them in hundredths, so they are summed as
/// whole hundredths: exact, independent of the order, and equal to what bulk health
/// computes from the same readings.
fn mean_db(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0i64, 0u64), |(s, n), v| {
        (s + (v * 100.0).round() as i64, n + 1)
    });
    centi_mean(sum, n)
}

/// Per-observer aggregate over a node's transmissions, grouped by the best observation's
/// observer (as the reference does).
#[derive(Default)]
struct ObserverAgg {
    count: usize,
    snr: Vec<f64>,
    rssi: Vec<f64>,
    first: i64,
    last: i64,
}

fn by_observer(txs: &[NodeTx]) -> Vec<(i64, ObserverAgg)> {
    let mut map: HashMap<i64, ObserverAgg> = HashMap::new();
    for tx in txs {
        let Some(k) = tx.best_observer else { continue };
        let a = map.entry(k).or_insert_with(|| ObserverAgg {
            first: tx.first_seen,
            last: tx.first_seen,
            ..ObserverAgg::default()
        });
        a.count += 1;
        a.snr.extend(tx.snr);
        a.rssi.extend(tx.rssi);
        a.first = a.first.min(tx.first_seen);
        a.last = a.last.max(tx.first_seen);
    }
    let mut out: Vec<(i64, ObserverAgg)> = map.into_iter().collect();
    out.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    out
}

fn observer_fields(o: &mut Object, observers: &ObserverDir, key: i64) {
    let row = observers.by_idx(key);
    o.insert("observer_id".into(), json!(row.map(|r| &r.id)));
    o.insert(
        "observer_name".into(),
        json!(row.and_then(|r| r.name.as_deref())),
    );
}

/// The `stats` object of node health and bulk health.
fn health_stats(txs: &[NodeTx], now: i64, with_hops: bool) -> Object {
    let today = midnight(now);
    let mut o = Object::new();
    o.insert("totalTransmissions".into(), json!(txs.len()));
    o.insert(
        "totalObservations".into(),
        json!(txs.iter().map(|t| t.observation_count).sum::<usize>()),
    );
    o.insert("totalPackets".into(), json!(txs.len()));
    o.insert(
        "packetsToday".into(),
        json!(txs.iter().filter(|t| t.first_seen > today).count()),
    );
    o.insert(
        "avgSnr".into(),
        json!(mean_db(txs.iter().filter_map(|t| t.snr))),
    );
    if with_hops {
        let hops = mean(txs.iter().filter(|t| t.hops > 0).map(|t| t.hops as f64));
        o.insert(
            "avgHops".into(),
            json!(hops.map_or(0, |h| h.round() as i64)),
        );
    }
    o.insert(
        "lastHeard".into(),
        json!(txs.iter().map(|t| t.first_seen).max().map(render::iso)),
    );
    o
}

/// Window in whole days: default `default`, numbers clamped to `1..=max`, anything else a
/// 400 naming the parameter.
pub(super) fn days_param(p: &Params, default: i64, max: i64) -> Result<i64, ApiError> {
    match param(p, "days") {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .map(|d| d.clamp(1, max))
            .map_err(|_| ApiError::bad_request(format!("days must be an integer, got {v:?}"))),
    }
}

// ---------------------------------------------------------------------------------------
// List, search, bulk health, network status, resolve.

/// `lastHeard`: `<n>h`, `<n>d` or `<n>w` (the reference knows 1h, 6h, 24h, 7d and 30d;
/// the web UI also offers 2h, 12h, 48h, 3d and 14d).
fn duration_param(v: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "lastHeard must be a duration such as 1h, 24h, 7d or 30d, got {v:?}"
        ))
    };
    let unit = match v.chars().last() {
        Some('h' | 'H') => 3600,
        Some('d' | 'D') => 86_400,
        Some('w' | 'W') => 7 * 86_400,
        _ => return Err(bad()),
    };
    let n: i64 = v[..v.len() - 1].parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    Ok(n.saturating_mul(unit))
}

#[derive(Clone, Copy)]
enum SortBy {
    LastSeen,
    Name,
    PacketCount,
}

fn role_counts(config: &Config, nodes: &NodeDir) -> Value {
    let (mut repeaters, mut rooms, mut companions, mut sensors) = (0, 0, 0, 0);
    for row in nodes.rows().iter().filter(|r| !is_hidden(config, r)) {
        match row.role.as_deref().map(str::trim) {
            Some(r) if r.eq_ignore_ascii_case("repeater") => repeaters += 1,
            Some(r) if r.eq_ignore_ascii_case("room") || r.eq_ignore_ascii_case("room_server") => {
                rooms += 1
            }
            Some(r) if r.eq_ignore_ascii_case("companion") => companions += 1,
            Some(r) if r.eq_ignore_ascii_case("sensor") => sensors += 1,
            _ => {}
        }
    }
    json!({ "repeaters": repeaters, "rooms": rooms, "companions": companions, "sensors": sensors })
}

/// The `area` parameter: a key of `config.areas` with a polygon (3+ vertices) or a full
/// lat/lon box; an unknown key or an area without a shape is a 400.
fn area_param<'a>(
    config: &'a Config,
    raw: Option<&str>,
) -> Result<Option<&'a analyzer_config::Area>, ApiError> {
    let Some(key) = raw else { return Ok(None) };
    let area = config
        .areas
        .get(key)
        .ok_or_else(|| ApiError::bad_request(format!("area {key:?} is not configured")))?;
    let polygon = area.polygon.as_ref().is_some_and(|p| p.len() >= 3);
    let bbox = area.lat_min.is_some()
        && area.lat_max.is_some()
        && area.lon_min.is_some()
        && area.lon_max.is_some();
    if !polygon && !bbox {
        return Err(ApiError::bad_request(format!(
            "area {key:?} has neither a polygon nor latMin/latMax/lonMin/lonMax"
        )));
    }
    Ok(Some(area))
}

/// Whether a node's advertised position lies in `area` (a node "has GPS" when lat and lon
/// are set and not both exactly 0).
fn in_area(area: &analyzer_config::Area, row: &NodeRow) -> bool {
    match (row.lat, row.lon) {
        (Some(lat), Some(lon)) if !(lat == 0.0 && lon == 0.0) => area.contains(lat, lon),
        _ => false,
    }
}

/// Keys of the nodes whose adverts observers of these regions heard, or `None` without a
/// region filter.
async fn region_nodes(
    state: &AppState,
    raw: Option<&str>,
) -> Result<Option<std::collections::HashSet<String>>, ApiError> {
    let Some(codes) = params::regions(raw) else {
        return Ok(None);
    };
    let observers = state.observers().await?;
    let keys = observers.keys_in_regions(&codes);
    let store = state.store().clone();
    Ok(Some(blocking(move || store.nodes_heard_by(&keys)).await?))
}

/// Nodes, newest advert first by default. Unlike the reference (which pages in SQL and
/// then drops blacklisted and hidden nodes from the page, so `total` shrinks to the page),
/// every filter is applied before paging and `total` counts all matching nodes.
#[utoipa::path(get, path = "/api/nodes", tag = "nodes",
    params(
        ("limit" = Option<String>, Query, description = "Page size (default 50, max listLimits.nodesMax)"),
        ("offset" = Option<String>, Query, description = "Rows skipped"),
        ("role" = Option<String>, Query, description = "repeater, room, companion or sensor"),
        ("search" = Option<String>, Query, description = "Name substring (case-insensitive) or key prefix"),
        ("before" = Option<String>, Query, description = "ISO time: only nodes first seen at or before it"),
        ("lastHeard" = Option<String>, Query, description = "Duration (1h, 6h, 24h, 7d, 30d, ...): only nodes that advertised within it"),
        ("sortBy" = Option<String>, Query, description = "lastSeen (default, newest first), name (A-Z) or packetCount (most adverts first)"),
        ("region" = Option<String>, Query, description = "Comma list of IATA codes: nodes whose adverts observers there heard (All = no filter)"),
        ("area" = Option<String>, Query, description = "Key of config.areas: nodes whose advertised position lies inside it"),
    ),
    responses((status = 200, description = "{nodes, total, counts}", body = Object),
        (status = 400, description = "Bad parameter", body = Object)))]
async fn list_nodes(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let config = state.config();
    let max = usize::try_from(config.list_limits.nodes_max()).unwrap_or(2000);
    // A configured maximum below the default caps the default too.
    let limit = params::clamp_limit(param(&p, "limit"), 50, max).min(max);
    let offset = params::offset(param(&p, "offset"))?;
    let role = param(&p, "role");
    let search = param(&p, "search").map(str::to_lowercase);
    let before = match param(&p, "before") {
        None => None,
        Some(v) => Some(parse_time(v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "before must be an ISO-8601 time such as 2026-01-01T00:00:00Z, got {v:?}"
            ))
        })?),
    };
    let now = state.now();
    let heard_since = param(&p, "lastHeard")
        .map(duration_param)
        .transpose()?
        .map(|d| now.saturating_sub(d));
    let sort = match param(&p, "sortBy") {
        None => SortBy::LastSeen,
        Some("lastSeen") => SortBy::LastSeen,
        Some("name") => SortBy::Name,
        Some("packetCount") => SortBy::PacketCount,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "sortBy must be lastSeen, name or packetCount, got {v:?}"
            )));
        }
    };
    let area = area_param(config, param(&p, "area"))?;
    let region = region_nodes(&state, param(&p, "region")).await?;
    let nodes = state.nodes().await?;
    let mut rows: Vec<(&NodeRow, Option<i64>)> = nodes
        .rows()
        .iter()
        .filter(|r| !is_hidden(config, r))
        .filter(|r| {
            role.is_none_or(|x| r.role.as_deref().is_some_and(|y| y.eq_ignore_ascii_case(x)))
        })
        .filter(|r| {
            search.as_deref().is_none_or(|q| {
                r.public_key.starts_with(q)
                    || r.name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(q))
            })
        })
        .filter(|r| before.is_none_or(|b| secs_of(r.first_seen.as_deref()).is_some_and(|f| f <= b)))
        .filter(|r| {
            region
                .as_ref()
                .is_none_or(|set| set.contains(&r.public_key))
        })
        .filter(|r| area.is_none_or(|a| in_area(a, r)))
        .map(|r| (r, secs_of(r.last_seen.as_deref())))
        .filter(|(_, seen)| heard_since.is_none_or(|h| seen.is_some_and(|s| s > h)))
        .collect();
    let newest = |a: &(&NodeRow, Option<i64>), b: &(&NodeRow, Option<i64>)| {
        // Newest first, never-seen last.
        b.1.cmp(&a.1)
    };
    match sort {
        SortBy::LastSeen => {
            rows.sort_by(|a, b| newest(a, b).then(a.0.public_key.cmp(&b.0.public_key)))
        }
        SortBy::Name => rows.sort_by(|a, b| {
            let name = |r: &NodeRow| r.name.as_deref().map(str::to_lowercase);
            match (name(a.0), name(b.0)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then(a.0.public_key.cmp(&b.0.public_key))
        }),
        SortBy::PacketCount => rows.sort_by(|a, b| {
            b.0.advert_count
                .cmp(&a.0.advert_count)
                .then(newest(a, b))
                .then(a.0.public_key.cmp(&b.0.public_key))
        }),
    }
    let total = rows.len();
    let page: Vec<&NodeRow> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(r, _)| *r)
        .collect();
    let index = RelayIndex::new(&nodes);
    let rendered = render_rows(&state, &index, &page).await?;
    Ok(Json(json!({
        "nodes": rendered,
        "total": total,
        "counts": role_counts(config, &nodes),
    })))
}

/// Up to 10 nodes whose name contains `q` (case-insensitive) or whose key starts with it,
/// newest advert first.
#[utoipa::path(get, path = "/api/nodes/search", tag = "nodes",
    params(("q" = Option<String>, Query, description = "Name substring or key prefix (empty: no results)")),
    responses((status = 200, description = "{nodes}", body = Object)))]
async fn search_nodes(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let Some(q) = param(&p, "q").map(str::to_lowercase) else {
        return Ok(Json(json!({ "nodes": [] })));
    };
    let config = state.config();
    let nodes = state.nodes().await?;
    let mut hits: Vec<(&NodeRow, Option<i64>)> = nodes
        .rows()
        .iter()
        .filter(|r| !is_hidden(config, r))
        .filter(|r| {
            r.public_key.starts_with(&q)
                || r.name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&q))
        })
        .map(|r| (r, secs_of(r.last_seen.as_deref())))
        .collect();
    hits.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.public_key.cmp(&b.0.public_key)));
    let page: Vec<&NodeRow> = hits.iter().take(SEARCH_RESULTS).map(|(r, _)| *r).collect();
    let index = RelayIndex::new(&nodes);
    let rendered = render_rows(&state, &index, &page).await?;
    Ok(Json(json!({ "nodes": rendered })))
}

/// Health summaries of the most recently advertised nodes (a bare array).
#[utoipa::path(get, path = "/api/nodes/bulk-health", tag = "nodes",
    params(
        ("limit" = Option<String>, Query, description = "Nodes (default 50, max listLimits.bulkHealthMax)"),
        ("region" = Option<String>, Query, description = "Comma list of IATA codes: nodes whose adverts observers there heard (All = no filter)"),
        ("area" = Option<String>, Query, description = "Key of config.areas: nodes whose advertised position lies inside it"),
    ),
    responses((status = 200, description = "[{public_key, name, role, lat, lon, stats, observers}]", body = Object)))]
async fn bulk_health(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let config = state.config();
    let max = usize::try_from(config.list_limits.bulk_health_max()).unwrap_or(200);
    let limit = params::clamp_limit(param(&p, "limit"), 50, max).min(max);
    let area = area_param(config, param(&p, "area"))?;
    let region = region_nodes(&state, param(&p, "region")).await?;
    let nodes = state.nodes().await?;
    let observers = state.observers().await?;
    let mut rows: Vec<(&NodeRow, Option<i64>)> = nodes
        .rows()
        .iter()
        .filter(|r| !is_hidden(config, r))
        .filter(|r| {
            region
                .as_ref()
                .is_none_or(|set| set.contains(&r.public_key))
        })
        .filter(|r| area.is_none_or(|a| in_area(a, r)))
        .map(|r| (r, secs_of(r.last_seen.as_deref())))
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.public_key.cmp(&b.0.public_key)));
    rows.truncate(limit);
    let index = RelayIndex::new(&nodes);
    let keys: Vec<NodeKeys> = rows.iter().map(|(r, _)| index.keys(r)).collect();
    let store = state.store().clone();
    let now = state.now();
    let today = midnight(now);
    let per_node: Vec<NodeHealthSummary> =
        blocking(move || store.bulk_health(&keys, today)).await?;
    let out: Vec<Value> = rows
        .iter()
        .zip(&per_node)
        .map(|((row, _), h)| {
            let mut o = Object::new();
            o.insert("public_key".into(), json!(row.public_key));
            o.insert("name".into(), json!(row.name));
            o.insert("role".into(), json!(row.role));
            o.insert("lat".into(), json!(row.lat));
            o.insert("lon".into(), json!(row.lon));
            o.insert("stats".into(), Value::Object(bulk_stats(h)));
            let list: Vec<Value> = h
                .observers
                .iter()
                .map(|a| {
                    let mut e = Object::new();
                    observer_fields(&mut e, &observers, a.observer_idx);
                    e.insert("avgSnr".into(), json!(a.avg_snr));
                    e.insert("avgRssi".into(), json!(a.avg_rssi));
                    e.insert("packetCount".into(), json!(a.packets));
                    Value::Object(e)
                })
                .collect();
            o.insert("observers".into(), Value::Array(list));
            Value::Object(o)
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

/// The `stats` object of bulk health: the fields of [`health_stats`] without `avgHops`,
/// from the store's aggregate.
fn bulk_stats(h: &NodeHealthSummary) -> Object {
    let mut o = Object::new();
    o.insert("totalTransmissions".into(), json!(h.transmissions));
    o.insert("totalObservations".into(), json!(h.observations));
    o.insert("totalPackets".into(), json!(h.transmissions));
    o.insert("packetsToday".into(), json!(h.today));
    o.insert("avgSnr".into(), json!(h.avg_snr));
    o.insert("lastHeard".into(), json!(h.last_heard.map(render::iso)));
    o
}

/// How many nodes are active, degraded and silent by the health thresholds (infra =
/// repeater/room, others = companions, sensors, unknown), measured from the last advert.
#[utoipa::path(get, path = "/api/nodes/network-status", tag = "nodes",
    responses((status = 200, description = "{total, active, degraded, silent, roleCounts}", body = Object)))]
async fn network_status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let config = state.config();
    let nodes = state.nodes().await?;
    let now = state.now();
    let (mut total, mut active, mut degraded, mut silent) = (0, 0, 0, 0);
    let mut roles: BTreeMap<String, usize> = BTreeMap::new();
    for row in nodes.rows().iter().filter(|r| !is_hidden(config, r)) {
        total += 1;
        match health_of(config, row, now) {
            Health::Active => active += 1,
            Health::Degraded => degraded += 1,
            Health::Silent => silent += 1,
        }
        let role = row
            .role
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .unwrap_or("unknown");
        *roles.entry(role.to_owned()).or_default() += 1;
    }
    Ok(Json(json!({
        "total": total,
        "active": active,
        "degraded": degraded,
        "silent": silent,
        "roleCounts": roles,
    })))
}

/// A plain-text 400 (the reference answers `/api/nodes/resolve` errors in plain text).
fn plain_bad_request(message: &str) -> Response {
    let mut response = (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.to_owned(),
    )
        .into_response();
    response.extensions_mut().insert(super::PlainTextError);
    response
}

/// The node a key prefix names: `pubkey` and `name` when exactly one visible node's key
/// starts with it, `ambiguous` when several do.
#[utoipa::path(get, path = "/api/nodes/resolve", tag = "nodes",
    params(("prefix" = String, Query, description = "Key prefix, at least 4 hex characters")),
    responses((status = 200, description = "{prefix, pubkey?, name?, ambiguous}", body = Object),
        (status = 400, description = "prefix missing, too short or not hex (plain text)", body = String)))]
async fn resolve_prefix(State(state): State<AppState>, Query(p): Query<Params>) -> Response {
    let Some(prefix) = param(&p, "prefix") else {
        return plain_bad_request("prefix is required (at least 4 hex characters)");
    };
    if prefix.len() < MIN_RESOLVE_PREFIX || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return plain_bad_request("prefix must be at least 4 hex characters");
    }
    let nodes = match state.nodes().await {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let config = state.config();
    let mut matches = nodes.with_prefix(prefix).filter(|r| !is_hidden(config, r));
    let mut o = Object::new();
    o.insert("prefix".into(), json!(prefix));
    match (matches.next(), matches.next()) {
        (Some(row), None) => {
            o.insert("pubkey".into(), json!(row.public_key));
            o.insert("name".into(), json!(row.name));
            o.insert("ambiguous".into(), json!(false));
        }
        (Some(_), Some(_)) => {
            o.insert("ambiguous".into(), json!(true));
        }
        (None, _) => {
            o.insert("ambiguous".into(), json!(false));
        }
    }
    Json(Value::Object(o)).into_response()
}

// ---------------------------------------------------------------------------------------
// One node.

/// A node with its 20 newest adverts.
#[utoipa::path(get, path = "/api/nodes/{pubkey}", tag = "nodes",
    params(("pubkey" = String, Path, description = "Public key, or a unique prefix of 8 to 63 characters")),
    responses((status = 200, description = "{node, recentAdverts}", body = Object),
        (status = 404, description = "Unknown, blacklisted or hidden node", body = Object),
        (status = 409, description = "The prefix matches several nodes", body = Object)))]
async fn node_detail(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let nodes = state.nodes().await?;
    let row = find_node(&nodes, state.config(), &pubkey)?;
    let index = RelayIndex::new(&nodes);
    let e = enrich(&state, &index, &[row])
        .await?
        .pop()
        .unwrap_or_default();
    let mut node = node_json(row, &e, RowCtx::of(&state));
    if is_infra(row.role.as_deref()) {
        node.insert(
            "relay_window_hours".into(),
            json!(state.config().health_thresholds.relay_active_hours()),
        );
    }
    node.insert("flood_advert_count_7d".into(), json!(e.flood_adverts));
    let keys = index.keys(row);
    let store = state.store().clone();
    let adverts = blocking(move || store.node_recent(&keys, RECENT, true)).await?;
    let observers = state.observers().await?;
    Ok(Json(json!({
        "node": node,
        "recentAdverts": packets_json(&adverts, &observers),
    })))
}

fn packets_json(list: &[PacketSummary], observers: &ObserverDir) -> Vec<Value> {
    list.iter()
        .map(|p| Value::Object(render::packet(p, observers)))
        .collect()
}

/// Who hears a node and how well: per-observer counts and signal, totals, 20 newest
/// packets it sent or relayed.
#[utoipa::path(get, path = "/api/nodes/{pubkey}/health", tag = "nodes",
    params(("pubkey" = String, Path, description = "Public key, or a unique prefix of 8 to 63 characters")),
    responses((status = 200, description = "{node, observers, stats, recentPackets}", body = Object),
        (status = 404, description = "Unknown, blacklisted or hidden node", body = Object),
        (status = 409, description = "The prefix matches several nodes", body = Object)))]
async fn node_health(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let nodes = state.nodes().await?;
    let row = find_node(&nodes, state.config(), &pubkey)?;
    let index = RelayIndex::new(&nodes);
    let node = render_one(&state, &index, row).await?;
    let keys = index.keys(row);
    let store = state.store().clone();
    let (txs, recent) = blocking(move || {
        (
            store.node_transmissions(&keys, None, false),
            store.node_recent(&keys, RECENT, false),
        )
    })
    .await?;
    let observers = state.observers().await?;
    let list: Vec<Value> = by_observer(&txs)
        .into_iter()
        .map(|(k, a)| {
            let mut e = Object::new();
            observer_fields(&mut e, &observers, k);
            e.insert("packetCount".into(), json!(a.count));
            e.insert("avgSnr".into(), json!(mean_db(a.snr.into_iter())));
            e.insert("avgRssi".into(), json!(mean_db(a.rssi.into_iter())));
            let observer = observers.by_idx(k);
            e.insert(
                "iata".into(),
                json!(observer.and_then(|r| r.iata.as_deref())),
            );
            // Whether the observer relays; null when it never reported it.
            e.insert(
                "can_relay".into(),
                json!(observer.filter(|r| r.can_relay_seen).map(|r| r.can_relay)),
            );
            Value::Object(e)
        })
        .collect();
    Ok(Json(json!({
        "node": node,
        "observers": list,
        "stats": health_stats(&txs, state.now(), true),
        "recentPackets": packets_json(&recent, &observers),
    })))
}

/// Distinct paths of the packets relayed through a node (only hops attributable to it:
/// a hop prefix shared with another repeater or room proves nothing).
#[utoipa::path(get, path = "/api/nodes/{pubkey}/paths", tag = "nodes",
    params(("pubkey" = String, Path, description = "Public key, or a unique prefix of 8 to 63 characters")),
    responses((status = 200, description = "{node, paths, totalPaths, totalTransmissions}", body = Object),
        (status = 404, description = "Unknown, blacklisted or hidden node", body = Object),
        (status = 409, description = "The prefix matches several nodes", body = Object)))]
async fn node_paths(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let nodes = state.nodes().await?;
    let row = find_node(&nodes, state.config(), &pubkey)?;
    let index = RelayIndex::new(&nodes);
    let hops = index.hops_of(row);
    let store = state.store().clone();
    let found = blocking(move || store.node_paths(&hops)).await?;
    struct Group {
        hops: Vec<String>,
        count: usize,
        last_seen: i64,
        tie: u32,
        sample: analyzer_db::ContentHash,
    }
    // Hops that name one relaying node group by its key, so 1- and 2-byte sightings of
    // the same route merge; the others by their text. Each distinct hop text is resolved
    // once, to a token standing for that key or text.
    let mut token_of_hop: HashMap<&str, u32> = HashMap::new();
    let mut token_of_text: HashMap<String, u32> = HashMap::new();
    let signatures: Vec<Vec<u32>> = found
        .groups
        .iter()
        .map(|g| {
            g.hops
                .iter()
                .map(|h| {
                    if let Some(&t) = token_of_hop.get(h.as_str()) {
                        return t;
                    }
                    let text = index
                        .unique(&nodes, h)
                        .map_or_else(|| h.to_ascii_uppercase(), |r| r.public_key.clone());
                    let next = token_of_text.len() as u32;
                    let t = *token_of_text.entry(text).or_insert(next);
                    token_of_hop.insert(h.as_str(), t);
                    t
                })
                .collect()
        })
        .collect();
    drop(token_of_hop);
    let mut groups: HashMap<Vec<u32>, Group> = HashMap::new();
    for (signature, g) in signatures.into_iter().zip(found.groups) {
        let e = groups.entry(signature).or_insert(Group {
            hops: Vec::new(),
            count: 0,
            last_seen: i64::MIN,
            tie: 0,
            sample: g.sample,
        });
        e.count += g.count;
        // The newest transmission of the group gives its hops and sample.
        if (g.last_seen, g.tie) >= (e.last_seen, e.tie) {
            e.last_seen = g.last_seen;
            e.tie = g.tie;
            e.sample = g.sample;
            e.hops = g.hops;
        }
    }
    let total_paths = groups.len();
    let mut list: Vec<Group> = groups.into_values().collect();
    list.sort_by(|a, b| {
        b.last_seen
            .cmp(&a.last_seen)
            .then(b.count.cmp(&a.count))
            .then(a.hops.cmp(&b.hops))
    });
    list.truncate(MAX_PATHS);
    let paths: Vec<Value> = list
        .iter()
        .map(|g| {
            let hops: Vec<Value> = g
                .hops
                .iter()
                .map(|h| {
                    // A hidden node's identity is not shown, even as a hop.
                    let who = index
                        .unique(&nodes, h)
                        .filter(|r| !is_hidden(state.config(), r));
                    json!({
                        "prefix": h,
                        "name": who.and_then(|r| r.name.as_deref()),
                        "pubkey": who.map(|r| &r.public_key),
                        "lat": who.and_then(|r| r.lat),
                        "lon": who.and_then(|r| r.lon),
                    })
                })
                .collect();
            json!({
                "hops": hops,
                "count": g.count,
                "lastSeen": render::iso(g.last_seen),
                "sampleHash": String::from_utf8_lossy(&g.sample.to_hex()),
            })
        })
        .collect();
    Ok(Json(json!({
        "node": {
            "public_key": row.public_key,
            "name": row.name,
            "lat": row.lat,
            "lon": row.lon,
        },
        "paths": paths,
        "totalPaths": total_paths,
        "totalTransmissions": found.transmissions,
    })))
}

/// Activity of one node over the last `days` days, from the packets it sent or relayed.
#[utoipa::path(get, path = "/api/nodes/{pubkey}/analytics", tag = "nodes",
    params(("pubkey" = String, Path, description = "Public key, or a unique prefix of 8 to 63 characters"),
        ("days" = Option<String>, Query, description = "Window in days (default 7, clamped to 1..365)")),
    responses((status = 200, description = "{node, timeRange, activityTimeline, snrTrend, packetTypeBreakdown, observerCoverage, hopDistribution, peerInteractions, uptimeHeatmap, computedStats}", body = Object),
        (status = 400, description = "days is not an integer", body = Object),
        (status = 404, description = "Unknown, blacklisted or hidden node", body = Object),
        (status = 409, description = "The prefix matches several nodes", body = Object)))]
async fn node_analytics(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let days = days_param(&p, 7, 365)?;
    let nodes = state.nodes().await?;
    let row = find_node(&nodes, state.config(), &pubkey)?;
    let index = RelayIndex::new(&nodes);
    let node = render_one(&state, &index, row).await?;
    let now = state.now();
    let from = now - days * 86_400;
    let keys = index.keys(row);
    let own_key = row.public_key.clone();
    let observers = state.observers().await?;
    let state = state.clone();
    // A busy repeater has tens of thousands of packets in the window (one `snrTrend` entry
    // each): aggregate and write the body on the blocking pool, streaming the long list
    // instead of building a JSON tree of it.
    let body = blocking(move || {
        // The reference counts packets first seen strictly after the window start; only
        // payloads that may name a peer key are copied out of the store.
        let txs = state
            .store()
            .node_transmissions_naming_keys(&keys, Some(from + 1));
        let mut head = Map::new();
        head.insert("node".into(), Value::Object(node));
        head.insert(
            "timeRange".into(),
            json!({ "from": render::iso(from), "to": render::iso(now), "days": days }),
        );
        let analytics = NodeAnalytics::compute(&txs, &own_key, &nodes, state.config(), days);
        let tail = analytics.render(&mut head, &txs, &observers);
        let body = AnalyticsBody {
            head,
            snr_trend: SnrTrend {
                txs: &txs,
                observers: &observers,
            },
            tail,
        };
        // About 190 bytes per snrTrend entry, plus the rest.
        let mut out = Vec::with_capacity(190 * txs.len() + 64 * 1024);
        serde_json::to_writer(&mut out, &body).map(|()| out)
    })
    .await?
    .map_err(|e| ApiError::internal("node analytics serialization failed", e))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// The node analytics body: `head` fields, then `snrTrend`, then `tail` fields.
struct AnalyticsBody<'a> {
    head: Map<String, Value>,
    snr_trend: SnrTrend<'a>,
    tail: Map<String, Value>,
}

impl serde::Serialize for AnalyticsBody<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.head.len() + 1 + self.tail.len()))?;
        for (k, v) in &self.head {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("snrTrend", &self.snr_trend)?;
        for (k, v) in &self.tail {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// `snrTrend`: one entry per packet with an SNR, written without an intermediate tree.
struct SnrTrend<'a> {
    txs: &'a [NodeTx],
    observers: &'a ObserverDir,
}

impl serde::Serialize for SnrTrend<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(None)?;
        // Observer fields looked up once per observer, not per packet.
        let mut who: HashMap<i64, (Option<&str>, Option<&str>)> = HashMap::new();
        for t in self.txs.iter().filter(|t| t.snr.is_some()) {
            seq.serialize_element(&SnrPoint {
                tx: t,
                who: t.best_observer.map(|k| {
                    *who.entry(k).or_insert_with(|| {
                        let row = self.observers.by_idx(k);
                        (
                            row.map(|r| r.id.as_str()),
                            row.and_then(|r| r.name.as_deref()),
                        )
                    })
                }),
            })?;
        }
        seq.end()
    }
}

/// One `snrTrend` entry; `who` is (observer_id, observer_name) of the best observation.
struct SnrPoint<'a> {
    tx: &'a NodeTx,
    who: Option<(Option<&'a str>, Option<&'a str>)>,
}

impl serde::Serialize for SnrPoint<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut o = s.serialize_map(Some(5))?;
        o.serialize_entry("timestamp", &render::iso(self.tx.first_seen))?;
        o.serialize_entry("snr", &self.tx.snr)?;
        o.serialize_entry("rssi", &self.tx.rssi)?;
        let (id, name) = self.who.unwrap_or((None, None));
        o.serialize_entry("observer_id", &id)?;
        o.serialize_entry("observer_name", &name)?;
        o.end()
    }
}

/// The aggregates of node analytics (analytics.md §3.7).
struct NodeAnalytics {
    /// Hour bucket start → packets.
    hours: BTreeMap<i64, usize>,
    types: BTreeMap<Option<u8>, usize>,
    hop_buckets: [usize; 5],
    heatmap: BTreeMap<(u32, u32), usize>,
    /// (key, name, messages, last contact), best first, all of them.
    peers: Vec<(String, String, usize, i64)>,
    days: i64,
}

impl NodeAnalytics {
    fn compute(txs: &[NodeTx], own_key: &str, nodes: &NodeDir, config: &Config, days: i64) -> Self {
        let mut hours: BTreeMap<i64, usize> = BTreeMap::new();
        let mut types: BTreeMap<Option<u8>, usize> = BTreeMap::new();
        let mut hop_buckets = [0usize; 5];
        let mut heatmap: BTreeMap<(u32, u32), usize> = BTreeMap::new();
        let mut peers: HashMap<String, (usize, i64)> = HashMap::new();
        for tx in txs {
            let hour = tx.first_seen - tx.first_seen.rem_euclid(3600);
            *hours.entry(hour).or_default() += 1;
            *types.entry(tx.payload_type).or_default() += 1;
            hop_buckets[tx.hops.min(4)] += 1;
            // 1970-01-01 was a Thursday (weekday 4 with Sunday = 0).
            let weekday = ((tx.first_seen.div_euclid(86_400) + 4).rem_euclid(7)) as u32;
            let hour_of_day = (tx.first_seen.rem_euclid(86_400) / 3600) as u32;
            *heatmap.entry((weekday, hour_of_day)).or_default() += 1;
            for peer in peer_keys(tx.decoded_json.as_deref(), own_key) {
                let e = peers.entry(peer).or_insert((0, tx.first_seen));
                e.0 += 1;
                e.1 = e.1.max(tx.first_seen);
            }
        }
        let mut peers: Vec<(String, String, usize, i64)> = peers
            .into_iter()
            // Blacklisted and hidden nodes stay invisible here too.
            .filter(|(k, _)| nodes.get(k).is_none_or(|r| !is_hidden(config, r)))
            .map(|(k, (n, last))| {
                let name = nodes
                    .get(&k)
                    .and_then(|r| r.name.clone())
                    .unwrap_or_else(|| k.chars().take(12).collect());
                (k, name, n, last)
            })
            .collect();
        peers.sort_by(|a, b| b.2.cmp(&a.2).then(b.3.cmp(&a.3)).then(a.0.cmp(&b.0)));
        Self {
            hours,
            types,
            hop_buckets,
            heatmap,
            peers,
            days,
        }
    }

    /// Adds `activityTimeline` to `head` and returns the fields that follow `snrTrend`
    /// (which [`SnrTrend`] writes).
    fn render(
        &self,
        head: &mut Map<String, Value>,
        txs: &[NodeTx],
        observers: &ObserverDir,
    ) -> Map<String, Value> {
        head.insert(
            "activityTimeline".into(),
            self.hours
                .iter()
                .map(|(&h, &n)| json!({ "bucket": render::iso(h), "count": n }))
                .collect(),
        );
        let mut body = Map::new();
        let snr: Vec<&NodeTx> = txs.iter().filter(|t| t.snr.is_some()).collect();
        let mut types: Vec<(Option<u8>, usize)> =
            self.types.iter().map(|(&t, &n)| (t, n)).collect();
        types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        body.insert(
            "packetTypeBreakdown".into(),
            types
                .iter()
                .map(|(t, n)| json!({ "payload_type": t, "count": n }))
                .collect(),
        );
        let coverage = by_observer(txs);
        let unique_observers = coverage.len();
        body.insert(
            "observerCoverage".into(),
            coverage
                .into_iter()
                .map(|(k, a)| {
                    let mut o = Object::new();
                    observer_fields(&mut o, observers, k);
                    o.insert("packetCount".into(), json!(a.count));
                    o.insert("avgSnr".into(), json!(mean_db(a.snr.into_iter())));
                    o.insert("avgRssi".into(), json!(mean_db(a.rssi.into_iter())));
                    o.insert("firstSeen".into(), json!(render::iso(a.first)));
                    o.insert("lastSeen".into(), json!(render::iso(a.last)));
                    Value::Object(o)
                })
                .collect(),
        );
        body.insert(
            "hopDistribution".into(),
            ["0", "1", "2", "3", "4+"]
                .iter()
                .zip(self.hop_buckets)
                .map(|(h, n)| json!({ "hops": h, "count": n }))
                .collect(),
        );
        body.insert(
            "peerInteractions".into(),
            self.peers
                .iter()
                .take(MAX_PEERS)
                .map(|(k, name, n, last)| {
                    json!({
                        "peer_key": k,
                        "peer_name": name,
                        "messageCount": n,
                        "lastContact": render::iso(*last),
                    })
                })
                .collect(),
        );
        body.insert(
            "uptimeHeatmap".into(),
            self.heatmap
                .iter()
                .map(|(&(d, h), &n)| json!({ "dayOfWeek": d, "hour": h, "count": n }))
                .collect(),
        );
        body.insert(
            "computedStats".into(),
            self.stats(txs, &snr, unique_observers),
        );
        body
    }

    fn stats(&self, txs: &[NodeTx], snr: &[&NodeTx], unique_observers: usize) -> Value {
        let window_hours = (self.days * 24) as f64;
        let availability = (self.hours.len() as f64 * 100.0 / window_hours).min(100.0);
        let mut longest: Option<(i64, i64)> = None;
        let starts: Vec<i64> = self.hours.keys().copied().collect();
        for w in starts.windows(2) {
            let gap = w[1] - w[0];
            if longest.is_none_or(|(g, _)| gap > g) {
                longest = Some((gap, w[0]));
            }
        }
        let values: Vec<f64> = snr.iter().filter_map(|t| t.snr).collect();
        let snr_mean = mean_db(values.iter().copied());
        let snr_sd = snr_mean.map(|m| {
            (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
        });
        let grade = match (snr_mean, snr_sd) {
            (Some(m), Some(sd)) if m > 15.0 && sd < 2.0 => Some("A"),
            (Some(m), _) if m > 15.0 => Some("A-"),
            (Some(m), Some(sd)) if m > 12.0 && sd < 3.0 => Some("B+"),
            (Some(m), _) if m > 8.0 => Some("B"),
            (Some(m), _) if m > 3.0 => Some("C"),
            (Some(_), _) => Some("D"),
            _ => None,
        };
        let with_hops = txs.iter().filter(|t| t.hops >= 1).count();
        let multi_hop = txs.iter().filter(|t| t.hops > 1).count();
        let relay_pct = if with_hops == 0 {
            0.0
        } else {
            round(multi_hop as f64 * 100.0 / with_hops as f64, 1)
        };
        json!({
            "availabilityPct": round(availability, 1),
            "longestSilenceMs": longest.map_or(0, |(g, _)| g * 1000),
            "longestSilenceStart": longest.map(|(_, s)| render::iso(s)),
            "signalGrade": grade,
            "snrMean": snr_mean.map(|v| round(v, 1)),
            "snrStdDev": snr_sd.map(|v| round(v, 1)),
            "relayPct": relay_pct,
            "totalPackets": txs.len(),
            "uniqueObservers": unique_observers,
            // All distinct peers (the reference counts them after its top-20 cut).
            "uniquePeers": self.peers.len(),
            "avgPacketsPerDay": round(txs.len() as f64 / self.days as f64, 1),
        })
    }
}

/// Other nodes a decoded payload names by full key (`sender_key`, `recipient_key`,
/// `pubkey`, as the reference reads them); only hex keys count.
fn peer_keys(decoded: Option<&str>, own_key: &str) -> Vec<String> {
    let Some(Value::Object(map)) = decoded.and_then(|d| serde_json::from_str::<Value>(d).ok())
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = ["sender_key", "recipient_key", "pubkey"]
        .iter()
        .filter_map(|f| map.get(*f).and_then(Value::as_str))
        .map(str::to_ascii_lowercase)
        .filter(|k| {
            (2..=64).contains(&k.len())
                && k.bytes().all(|b| b.is_ascii_hexdigit())
                && !k.eq_ignore_ascii_case(own_key)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, role: &str, name: &str) -> NodeRow {
        NodeRow {
            public_key: key.to_owned(),
            name: Some(name.to_owned()),
            role: Some(role.to_owned()),
            ..NodeRow::default()
        }
    }

    fn dir() -> NodeDir {
        NodeDir::new(vec![
            row(&format!("ab12{}", "0".repeat(60)), "repeater", "R1"),
            row(&format!("ab34{}", "1".repeat(60)), "repeater", "R2"),
            row(&format!("cd12{}", "2".repeat(60)), "repeater", "R3"),
            row(&format!("cd56{}", "3".repeat(60)), "companion", "C1"),
            row(
                &format!("ef01ab12{}", "4".repeat(56)),
                "companion",
                "hidden-x",
            ),
            row(&format!("ef01ab12{}", "5".repeat(56)), "companion", "C2"),
        ])
    }

    #[test]
    fn ambiguous_hops_are_attributed_to_nobody() {
        let nodes = dir();
        let index = RelayIndex::new(&nodes);
        let r1 = &nodes.rows()[0];
        // "ab" is shared by two repeaters: only the longer prefixes are R1's.
        assert_eq!(index.hops_of(r1), ["ab12", "ab1200", "ab120000"]);
        assert!(index.unique(&nodes, "AB").is_none());
        assert_eq!(
            index.unique(&nodes, "AB12").map(|r| r.name.as_deref()),
            Some(Some("R1"))
        );
        // A companion shares "cd" with R3 but does not relay: "cd" is R3's.
        assert_eq!(index.hops_of(&nodes.rows()[2])[0], "cd");
        assert!(
            index.hops_of(&nodes.rows()[3]).is_empty(),
            "companions relay nothing"
        );
        assert!(
            index.unique(&nodes, "cd56").is_none(),
            "a companion is no hop"
        );
    }

    #[test]
    fn key_prefixes_resolve_uniquely_or_conflict() {
        let nodes = dir();
        let config: Config =
            serde_json::from_value(json!({"hiddenNamePrefixes": ["hidden-"]})).unwrap();
        let full = nodes.rows()[0].public_key.clone();
        assert_eq!(
            find_node(&nodes, &config, &full.to_uppercase())
                .unwrap()
                .public_key,
            full
        );
        assert_eq!(
            find_node(&nodes, &config, &full[..8]).unwrap().public_key,
            full
        );
        // Seven characters are not a prefix lookup.
        assert_eq!(
            find_node(&nodes, &config, &full[..7]).unwrap_err().status(),
            StatusCode::NOT_FOUND
        );
        let mut two = NodeDir::new(vec![
            row(&format!("12345678{}", "a".repeat(56)), "repeater", "A"),
            row(&format!("12345678{}", "b".repeat(56)), "repeater", "B"),
        ]);
        assert_eq!(
            find_node(&two, &config, "12345678").unwrap_err().status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            find_node(&two, &config, "12345678a")
                .unwrap()
                .name
                .as_deref(),
            Some("A")
        );
        // A hidden node neither answers nor makes a prefix ambiguous.
        assert_eq!(
            find_node(&nodes, &config, "ef01aa").unwrap_err().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            find_node(&nodes, &config, &format!("ef01{}", ""))
                .unwrap_err()
                .status(),
            StatusCode::NOT_FOUND
        );
        let c2 = nodes.rows()[5].public_key.clone();
        assert_eq!(find_node(&nodes, &config, &c2[..8]).unwrap().public_key, c2);
        assert_eq!(
            find_node(&nodes, &config, &nodes.rows()[4].public_key)
                .unwrap_err()
                .status(),
            StatusCode::NOT_FOUND
        );
        two = NodeDir::default();
        assert!(find_node(&two, &config, "").is_err());
    }

    #[test]
    fn hash_size_varies_only_with_repeated_flips() {
        let s = |v: &[u8]| {
            HashSizes::of(
                &v.iter()
                    .enumerate()
                    .map(|(i, &x)| (i as i64, x))
                    .collect::<Vec<_>>(),
            )
        };
        assert!(!s(&[1, 2]).inconsistent, "two samples are not enough");
        assert!(
            !s(&[1, 1, 2, 2, 2]).inconsistent,
            "one upgrade is not flapping"
        );
        assert!(s(&[1, 2, 1, 2]).inconsistent);
        assert!(
            !s(&[1, 2, 1, 2, 2, 2]).inconsistent,
            "settled: last three agree"
        );
        assert_eq!(s(&[1, 2, 1, 2]).current, Some(2));
        assert_eq!(s(&[1, 2, 1]).seen, vec![1, 2]);
        assert_eq!(s(&[]).current, None);
    }

    #[test]
    fn durations_and_rounding() {
        assert_eq!(duration_param("1h").unwrap(), 3600);
        assert_eq!(duration_param("30d").unwrap(), 30 * 86_400);
        assert!(duration_param("0h").is_err());
        assert!(duration_param("x").is_err());
        assert!(duration_param("h").is_err());
        assert!(duration_param("1é").is_err());
        assert_eq!(round(-1.26, 1), -1.3);
        assert_eq!(round(2.25, 1), 2.3);
    }

    #[test]
    fn peers_are_hex_keys_other_than_self() {
        let own = "aa".repeat(32);
        let json =
            format!(r#"{{"sender_key":"{own}","recipient_key":"BBCC","pubkey":"<script>"}}"#);
        assert_eq!(peer_keys(Some(&json), &own), vec!["bbcc".to_owned()]);
        assert!(peer_keys(Some("not json"), &own).is_empty());
        assert!(peer_keys(None, &own).is_empty());
    }
}
