//! Packets and traces endpoints (spec api.md §3).
//!
//! Lists are answered from the in-memory store under one short read lock per page (run on
//! the blocking pool, since a filtered scan of a large store can take milliseconds); a
//! query whose `since`/`until` reaches before the loaded window is answered from the
//! database with the same filters and rendered in the same shape. Single lookups try
//! memory first, then the database.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use analyzer_db::time::parse_time;
use analyzer_db::{ContentHash, DbError, TxFilter, TxListQuery, TxSort, UnixSecs};
use analyzer_store::{
    GroupedAnswer, GroupedPacket, NodesQuery, Order, PacketDetail, PacketListQuery, PacketQuery,
    PacketSummary, PacketsAnswer, Store,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::directory::{NodeDir, ObserverDir};
use crate::error::ApiError;
use crate::params;
use crate::params::{Params, blocking, param};
use crate::render;
use crate::state::AppState;

/// Most hashes one `POST /api/packets/observations` may ask for.
const MAX_OBSERVATION_HASHES: usize = 200;
/// How long `POST /api/packets` waits for the injected packet to reach the store.
const INJECT_WAIT: Duration = Duration::from_secs(5);
/// How often it looks.
const INJECT_POLL: Duration = Duration::from_millis(20);

/// The packets and traces routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_packets, post_packet))
        .routes(routes!(packet_timestamps))
        .routes(routes!(packet_observations))
        .routes(routes!(packet_detail))
        .routes(routes!(decode))
        .routes(routes!(traces))
}

/// A JSON request body, read whatever the content type; a body that is not the expected
/// JSON is a 400 with the API's error shape.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("could not read the body: {e}")))?;
        parse_body(&bytes).map(JsonBody)
    }
}

fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// The query string, or a 400 in the API's error shape when it cannot be decoded.
fn query_params(query: Result<Query<Params>, QueryRejection>) -> Result<Params, ApiError> {
    query
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {}", e.body_text())))
}

/// A path segment, or a 400 in the API's error shape when it cannot be decoded.
fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(v)| v)
        .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))
}

/// An ISO-8601 time parameter; unparsable is a 400 naming it.
fn time_param(p: &Params, name: &str) -> Result<Option<UnixSecs>, ApiError> {
    param(p, name)
        .map(|v| {
            parse_time(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name} must be an ISO-8601 time such as 2026-01-01T00:00:00Z, got {v:?}"
                ))
            })
        })
        .transpose()
}

/// A header type parameter (`type`, `route`). The reference reads non-numbers as 0 (so
/// `type=abc` silently lists REQ packets); we answer 400 instead.
fn type_param(p: &Params, name: &str) -> Result<Option<u8>, ApiError> {
    param(p, name)
        .map(|v| {
            v.parse::<u8>().map_err(|_| {
                ApiError::bad_request(format!(
                    "{name} must be an integer from 0 to 255, got {v:?}"
                ))
            })
        })
        .transpose()
}

fn hash_param(v: &str, name: &str) -> Result<ContentHash, ApiError> {
    ContentHash::parse(v)
        .map_err(|_| ApiError::bad_request(format!("{name} must be 16 hex characters, got {v:?}")))
}

fn comma_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The parsed filters of `GET /api/packets`.
struct ListRequest {
    query: PacketListQuery,
    /// A filter names something that cannot exist (no known observer id, a hash that is not
    /// 16 hex): nothing can match.
    matches_nothing: bool,
    grouped: bool,
    expand: bool,
    nodes: Option<Vec<String>>,
}

async fn list_request(state: &AppState, p: &Params) -> Result<ListRequest, ApiError> {
    let max = usize::try_from(state.config().list_limits.packets_max()).unwrap_or(10_000);
    let limit = params::clamp_limit(param(p, "limit"), 50, max);
    let offset = params::offset(param(p, "offset"))?;
    let order = match param(p, "order") {
        Some(o) if o.eq_ignore_ascii_case("asc") => Order::OldestFirst,
        _ => Order::NewestFirst,
    };
    let since = time_param(p, "since")?;
    let until = time_param(p, "until")?;
    // `payloadType` is what the web UI's channel page sends; the reference only reads `type`
    // (and so answered every type there); we honour it when `type` is absent.
    let payload_type = match type_param(p, "type")? {
        Some(t) => Some(t),
        None => type_param(p, "payloadType")?,
    };
    let route_type = type_param(p, "route")?;
    // The search box sends whatever the user typed as `hash`: text that is no hash matches
    // nothing (as in the reference, which compares strings), it is not an error.
    let hash_text = param(p, "hash");
    let hash = hash_text.and_then(|h| ContentHash::parse(h).ok());
    let mut matches_nothing = hash_text.is_some() && hash.is_none();
    let grouped = param(p, "groupByHash").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let expand = param(p, "expand").is_some_and(|v| v == "observations");
    let nodes = param(p, "nodes").map(comma_list).filter(|l| !l.is_empty());
    let needs_observers = param(p, "observer").is_some() || param(p, "region").is_some();
    let observers = if needs_observers {
        Some(state.observers().await?)
    } else {
        None
    };
    let mut observer_keys = Vec::new();
    if let (Some(list), Some(dir)) = (param(p, "observer"), observers.as_ref()) {
        observer_keys = comma_list(list)
            .iter()
            .filter_map(|id| dir.by_id(id).map(|r| r.idx))
            .collect();
        matches_nothing |= observer_keys.is_empty();
    }
    let region_observers = match (params::regions(param(p, "region")), observers.as_ref()) {
        (Some(codes), Some(dir)) => Some(dir.keys_in_regions(&codes)),
        _ => None,
    };
    let originators = match param(p, "area") {
        Some(key) => Some(area_nodes(state, key).await?),
        None => None,
    };
    let node = param(p, "node").map(str::to_ascii_lowercase);
    let node_peer_hash = match &node {
        Some(key) => unique_first_byte(&*state.nodes().await?, key),
        None => None,
    };
    Ok(ListRequest {
        query: PacketListQuery {
            base: PacketQuery {
                limit,
                offset,
                order,
                payload_type,
                route_type,
                hash,
                observers: observer_keys,
                node,
                node_peer_hash,
                channel: param(p, "channel").map(str::to_owned),
                since,
                until,
            },
            region_observers,
            originators,
        },
        matches_nothing,
        grouped,
        expand,
        nodes,
    })
}

/// The first byte of a known node's key when no other known node's key starts with it:
/// then a peer-to-peer payload naming that byte as its source or destination is this
/// node's (DMs carry no more of the keys than that byte).
fn unique_first_byte(nodes: &NodeDir, key: &str) -> Option<u8> {
    if key.len() != 64 || nodes.get(key).is_none() {
        return None;
    }
    let prefix = key.get(..2)?;
    let mut owners = nodes.with_prefix(prefix);
    owners.next()?;
    if owners.next().is_some() {
        return None;
    }
    u8::from_str_radix(prefix, 16).ok()
}

/// Transmissions, newest first by default; grouped by hash with `groupByHash=true`; the
/// packets of several nodes with `nodes=`.
#[utoipa::path(get, path = "/api/packets", tag = "packets",
    params(
        ("limit" = Option<String>, Query, description = "Page size (default 50, max listLimits.packetsMax)"),
        ("offset" = Option<String>, Query, description = "Rows skipped"),
        ("type" = Option<String>, Query, description = "Payload type"),
        ("payloadType" = Option<String>, Query, description = "Payload type, when type is absent"),
        ("route" = Option<String>, Query, description = "Route type"),
        ("observer" = Option<String>, Query, description = "Observer id or comma list"),
        ("hash" = Option<String>, Query, description = "Content hash (16 hex)"),
        ("since" = Option<String>, Query, description = "ISO time, exclusive"),
        ("until" = Option<String>, Query, description = "ISO time, exclusive"),
        ("region" = Option<String>, Query, description = "Comma list of IATA codes (All = no filter)"),
        ("area" = Option<String>, Query, description = "Key of config.areas: ADVERTs of nodes inside it"),
        ("node" = Option<String>, Query, description = "Node public key"),
        ("channel" = Option<String>, Query, description = "Channel name or enc_<HEX>"),
        ("order" = Option<String>, Query, description = "asc, else newest first"),
        ("groupByHash" = Option<String>, Query, description = "true: one row per hash, most recently heard first"),
        ("expand" = Option<String>, Query, description = "observations: include every observation"),
        ("nodes" = Option<String>, Query, description = "Comma list of public keys (only limit, offset, order, since, until apply)"),
    ),
    responses((status = 200, description = "{packets, total, limit, offset}", body = Object),
        (status = 400, description = "Bad parameter", body = Object)))]
async fn list_packets(
    State(state): State<AppState>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = query_params(query)?;
    let req = list_request(&state, &p).await?;
    let (limit, offset) = (req.query.base.limit, req.query.base.offset);
    let answer = |packets: Vec<Value>, total: usize| {
        Json(json!({ "packets": packets, "total": total, "limit": limit, "offset": offset }))
    };
    if req.matches_nothing && req.nodes.is_none() {
        return Ok(answer(Vec::new(), 0));
    }
    let observers = state.observers().await?;
    if let Some(nodes) = req.nodes {
        let directory = state.nodes().await?;
        let peer_hashes = nodes
            .iter()
            .filter_map(|key| unique_first_byte(&directory, &key.to_ascii_lowercase()))
            .collect();
        let q = NodesQuery {
            nodes,
            peer_hashes,
            since: req.query.base.since,
            until: req.query.base.until,
            order: req.query.base.order,
            limit,
            offset,
        };
        let store = state.store().clone();
        let answer_q = q.clone();
        let result = blocking(move || store.packets_for_nodes(&answer_q)).await?;
        let filter = TxFilter {
            nodes: Some(q.nodes),
            since: q.since,
            until: q.until,
            inclusive_bounds: true,
            ..TxFilter::default()
        };
        let sort = sort_of(q.order);
        return list_answer(
            &state, result, filter, sort, limit, offset, false, &observers,
        )
        .await;
    }
    if req.grouped {
        let store = state.store().clone();
        let q = req.query.clone();
        let result = blocking(move || store.packets_grouped(&q)).await?;
        let (total, rows) = match result {
            GroupedAnswer::Page(page) => (page.total, page.packets),
            GroupedAnswer::BeforeLoadedWindow { .. } => {
                let q = sql_query(&req.query, TxSort::LatestHeardFirst);
                state
                    .db("packets (grouped) from the database", move |r| {
                        let page = r.query_transmissions(&q)?;
                        let total = usize::try_from(page.total).unwrap_or(usize::MAX);
                        Ok((total, Store::grouped_from_rows(&page.transmissions)))
                    })
                    .await?
            }
        };
        let packets = rows.iter().map(|g| grouped_row(g, &observers)).collect();
        return Ok(answer(packets, total));
    }
    let store = state.store().clone();
    let q = req.query.clone();
    let result = blocking(move || store.packet_list(&q)).await?;
    let filter = sql_filter(&req.query);
    let sort = sort_of(req.query.base.order);
    list_answer(
        &state, result, filter, sort, limit, offset, req.expand, &observers,
    )
    .await
}

/// Renders a list answer from memory, or asks the database when the store says the query
/// reaches before its window.
#[allow(clippy::too_many_arguments)]
async fn list_answer(
    state: &AppState,
    result: PacketsAnswer,
    filter: TxFilter,
    sort: TxSort,
    limit: usize,
    offset: usize,
    expand: bool,
    observers: &ObserverDir,
) -> Result<Json<Value>, ApiError> {
    let (total, packets) = match result {
        PacketsAnswer::Page(page) => {
            let packets: Vec<Value> = if expand {
                let ids: Vec<i64> = page.packets.iter().map(|s| s.id).collect();
                let store = state.store().clone();
                let details = blocking(move || {
                    ids.iter()
                        .filter_map(|&id| store.by_id(id))
                        .collect::<Vec<_>>()
                })
                .await?;
                details
                    .iter()
                    .map(|d| Value::Object(packet_with_observations(d, observers)))
                    .collect()
            } else {
                page.packets
                    .iter()
                    .map(|s| Value::Object(render::packet(s, observers)))
                    .collect()
            };
            (page.total, packets)
        }
        PacketsAnswer::BeforeLoadedWindow { .. } => {
            let q = TxListQuery {
                filter,
                sort,
                limit,
                offset,
            };
            let (total, details) = state
                .db("packets from the database", move |r| {
                    let page = r.query_transmissions(&q)?;
                    let total = usize::try_from(page.total).unwrap_or(usize::MAX);
                    Ok((total, Store::details_from_rows(&page.transmissions)))
                })
                .await?;
            let packets = details
                .iter()
                .map(|d| {
                    Value::Object(if expand {
                        packet_with_observations(d, observers)
                    } else {
                        render::packet(&d.summary, observers)
                    })
                })
                .collect();
            (total, packets)
        }
    };
    Ok(Json(json!({
        "packets": packets,
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

fn sort_of(order: Order) -> TxSort {
    match order {
        Order::NewestFirst => TxSort::NewestFirst,
        Order::OldestFirst => TxSort::OldestFirst,
    }
}

/// The database form of a list query.
fn sql_filter(q: &PacketListQuery) -> TxFilter {
    let b = &q.base;
    TxFilter {
        payload_type: b.payload_type.map(i64::from),
        route_type: b.route_type.map(i64::from),
        hash: b
            .hash
            .map(|h| String::from_utf8_lossy(&h.to_hex()).into_owned()),
        observers: (!b.observers.is_empty()).then(|| b.observers.clone()),
        region_observers: q.region_observers.clone(),
        nodes: b.node.clone().map(|n| vec![n]),
        originators: q.originators.clone(),
        channel: b.channel.clone(),
        since: b.since,
        until: b.until,
        inclusive_bounds: false,
    }
}

fn sql_query(q: &PacketListQuery, sort: TxSort) -> TxListQuery {
    TxListQuery {
        filter: sql_filter(q),
        sort,
        limit: q.base.limit,
        offset: q.base.offset,
    }
}

fn hash_text(h: &ContentHash) -> String {
    String::from_utf8_lossy(&h.to_hex()).into_owned()
}

/// The transmission object with its `observations` array.
fn packet_with_observations(d: &PacketDetail, observers: &ObserverDir) -> Map<String, Value> {
    let mut o = render::packet(&d.summary, observers);
    o.insert(
        "observations".into(),
        Value::Array(
            d.observations
                .iter()
                .map(|v| Value::Object(render::observation(v, &d.summary, observers)))
                .collect(),
        ),
    );
    o
}

/// One row of the grouped list (reference field names and order).
fn grouped_row(g: &GroupedPacket, observers: &ObserverDir) -> Value {
    let s: &PacketSummary = &g.summary;
    let best = s.best.as_ref();
    let observer = best
        .and_then(|b| b.observer_idx)
        .and_then(|k| observers.by_idx(k));
    let iatas: BTreeSet<&str> = g
        .observer_idxs
        .iter()
        .filter_map(|&k| observers.by_idx(k))
        .filter_map(|r| r.iata.as_deref())
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    let mut o = Map::with_capacity(17);
    o.insert("hash".into(), json!(hash_text(&s.hash)));
    o.insert("first_seen".into(), json!(render::iso(s.first_seen)));
    o.insert("count".into(), json!(s.observation_count));
    o.insert("observer_count".into(), json!(s.observer_count));
    o.insert("observation_count".into(), json!(s.observation_count));
    o.insert("latest".into(), json!(render::iso_millis(s.last_seen)));
    o.insert("observer_id".into(), json!(observer.map(|r| &r.id)));
    o.insert(
        "observer_name".into(),
        json!(observer.and_then(|r| r.name.as_deref())),
    );
    o.insert(
        "observer_iata".into(),
        json!(observer.and_then(|r| r.iata.as_deref())),
    );
    o.insert("distinct_iatas".into(), json!(iatas));
    o.insert(
        "path_json".into(),
        json!(best.map_or("[]", |b| b.path_json.as_str())),
    );
    o.insert("payload_type".into(), json!(s.payload_type));
    o.insert("route_type".into(), json!(s.route_type));
    o.insert("raw_hex".into(), json!(s.raw_hex));
    o.insert("decoded_json".into(), json!(s.decoded_json));
    o.insert("snr".into(), json!(best.and_then(|b| b.snr)));
    o.insert("rssi".into(), json!(best.and_then(|b| b.rssi)));
    Value::Object(o)
}

/// Public keys of the nodes inside `config.areas[key]`, by their advertised position.
async fn area_nodes(state: &AppState, key: &str) -> Result<Vec<String>, ApiError> {
    let area = state
        .config()
        .extra
        .get("areas")
        .and_then(|a| a.get(key))
        .ok_or_else(|| ApiError::bad_request(format!("area {key:?} is not configured")))?;
    let shape = AreaShape::from_config(area).ok_or_else(|| {
        ApiError::bad_request(format!(
            "area {key:?} has neither a polygon nor latMin/latMax/lonMin/lonMax"
        ))
    })?;
    let nodes: Arc<NodeDir> = state.nodes().await?;
    Ok(nodes
        .rows()
        .iter()
        .filter(|n| match (n.lat, n.lon) {
            (Some(lat), Some(lon)) => !(lat == 0.0 && lon == 0.0) && shape.contains(lat, lon),
            _ => false,
        })
        .map(|n| n.public_key.clone())
        .collect())
}

/// An area of `config.areas`: a polygon of `[lat, lon]` vertices (with an optional
/// `bufferKm` margin around its edges), or a lat/lon box.
#[derive(Debug, Clone, PartialEq)]
enum AreaShape {
    Polygon {
        vertices: Vec<(f64, f64)>,
        buffer_km: f64,
    },
    Box {
        lat_min: f64,
        lat_max: f64,
        lon_min: f64,
        lon_max: f64,
    },
}

impl AreaShape {
    fn from_config(v: &Value) -> Option<Self> {
        let vertices: Vec<(f64, f64)> = v
            .get("polygon")
            .and_then(Value::as_array)
            .map(|points| {
                points
                    .iter()
                    .filter_map(|p| {
                        let p = p.as_array()?;
                        Some((p.first()?.as_f64()?, p.get(1)?.as_f64()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if vertices.len() >= 3 {
            let buffer_km = v.get("bufferKm").and_then(Value::as_f64).unwrap_or(0.0);
            return Some(Self::Polygon {
                vertices,
                buffer_km: buffer_km.max(0.0),
            });
        }
        let f = |k: &str| v.get(k).and_then(Value::as_f64);
        Some(Self::Box {
            lat_min: f("latMin")?,
            lat_max: f("latMax")?,
            lon_min: f("lonMin")?,
            lon_max: f("lonMax")?,
        })
    }

    fn contains(&self, lat: f64, lon: f64) -> bool {
        match self {
            Self::Box {
                lat_min,
                lat_max,
                lon_min,
                lon_max,
            } => (*lat_min..=*lat_max).contains(&lat) && (*lon_min..=*lon_max).contains(&lon),
            Self::Polygon {
                vertices,
                buffer_km,
            } => {
                inside_polygon(vertices, lat, lon)
                    || (*buffer_km > 0.0
                        && edges(vertices)
                            .any(|(a, b)| edge_distance_km(a, b, (lat, lon)) <= *buffer_km))
            }
        }
    }
}

fn edges(v: &[(f64, f64)]) -> impl Iterator<Item = ((f64, f64), (f64, f64))> + '_ {
    v.iter()
        .enumerate()
        .map(move |(i, &a)| (a, v[(i + 1) % v.len()]))
}

/// Ray casting over `(lat, lon)` vertices.
fn inside_polygon(v: &[(f64, f64)], lat: f64, lon: f64) -> bool {
    let mut inside = false;
    for ((lat_a, lon_a), (lat_b, lon_b)) in edges(v) {
        if (lat_a > lat) != (lat_b > lat) {
            let cross = lon_a + (lat - lat_a) / (lat_b - lat_a) * (lon_b - lon_a);
            if lon < cross {
                inside = !inside;
            }
        }
    }
    inside
}

/// Distance from `p` to the segment `a`–`b` on a flat earth (111 km per degree, longitude
/// scaled by the cosine of the edge's mean latitude).
fn edge_distance_km(a: (f64, f64), b: (f64, f64), p: (f64, f64)) -> f64 {
    let scale = ((a.0 + b.0) / 2.0).to_radians().cos();
    let xy = |q: (f64, f64)| (q.1 * scale * 111.0, q.0 * 111.0);
    let (ax, ay) = xy(a);
    let (bx, by) = xy(b);
    let (px, py) = xy(p);
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (ax + t * dx, ay + t * dy);
    ((px - cx).powi(2) + (py - cy).powi(2)).sqrt()
}

/// One transmission by content hash, transmission id or observation id, with every
/// observation.
#[utoipa::path(get, path = "/api/packets/{id}", tag = "packets",
    params(("id" = String, Path, description = "16-hex content hash, transmission id or observation id")),
    responses((status = 200, description = "{packet, path, observation_count, observations}", body = Object),
        (status = 404, description = "Not found", body = Object)))]
async fn packet_detail(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path_param(id)?;
    let detail = find_packet(&state, id.trim()).await?;
    let Some(detail) = detail else {
        return Err(ApiError::not_found("Not found"));
    };
    let observers = state.observers().await?;
    let packet = packet_with_observations(&detail, &observers);
    let path = packet
        .get("path_json")
        .and_then(Value::as_str)
        .and_then(render::parsed_path)
        .unwrap_or_default();
    let observations: Vec<Value> = detail
        .observations
        .iter()
        .map(|v| Value::Object(render::observation(v, &detail.summary, &observers)))
        .collect();
    Ok(Json(json!({
        "packet": packet,
        "path": path,
        "observation_count": detail.observations.len().max(1),
        "observations": observations,
    })))
}

/// Memory, then the database: by hash when `id` is 16 hex, else by transmission id, else
/// by observation id.
async fn find_packet(state: &AppState, id: &str) -> Result<Option<PacketDetail>, ApiError> {
    if let Ok(hash) = ContentHash::parse(id) {
        if let Some(d) = state.store().by_hash(&hash) {
            return Ok(Some(d));
        }
        let text = hash_text(&hash);
        let found = from_db(state, move |r| r.transmission_by_hash(&text)).await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    let Ok(n) = id.parse::<i64>() else {
        return Ok(None);
    };
    if let Some(d) = state.store().by_id(n) {
        return Ok(Some(d));
    }
    if let Some(d) = from_db(state, move |r| r.transmission_by_id(n)).await? {
        return Ok(Some(d));
    }
    let tx_id = match state
        .db_result(move |r| r.transmission_id_of_observation(n))
        .await?
    {
        Ok(tx_id) => tx_id,
        Err(DbError::NotFound) => return Ok(None),
        Err(e) => return Err(ApiError::internal("observation lookup", e)),
    };
    if let Some(d) = state.store().by_id(tx_id) {
        return Ok(Some(d));
    }
    from_db(state, move |r| r.transmission_by_id(tx_id)).await
}

/// One transmission row from the database in the store's shape; `None` when absent.
async fn from_db<F>(state: &AppState, query: F) -> Result<Option<PacketDetail>, ApiError>
where
    F: FnOnce(
            &dyn analyzer_db::StorageReader,
        ) -> analyzer_db::DbResult<analyzer_db::TransmissionRow>
        + Send
        + 'static,
{
    match state.db_result(query).await? {
        Ok(row) => Ok(Store::details_from_rows(std::slice::from_ref(&row))
            .into_iter()
            .next()),
        Err(DbError::NotFound) => Ok(None),
        Err(e) => Err(ApiError::internal("packet lookup", e)),
    }
}

/// `first_seen` of every transmission in memory first seen after `since`, ascending.
///
/// The reference answers `null` when nothing matches; its clients iterate the answer, so
/// we answer `[]` (an array in every case).
#[utoipa::path(get, path = "/api/packets/timestamps", tag = "packets",
    params(("since" = String, Query, description = "ISO time (required), exclusive")),
    responses((status = 200, description = "Array of ISO times", body = Vec<String>),
        (status = 400, description = "since missing or malformed", body = Object)))]
async fn packet_timestamps(
    State(state): State<AppState>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = query_params(query)?;
    if param(&p, "since").is_none() {
        return Err(ApiError::bad_request("since required"));
    }
    let since = time_param(&p, "since")?.unwrap_or_default();
    let store = state.store().clone();
    let times = blocking(move || store.first_seen_after(since)).await?;
    Ok(Json(Value::Array(
        times.into_iter().map(|t| json!(render::iso(t))).collect(),
    )))
}

#[derive(Deserialize)]
struct HashesBody {
    #[serde(default)]
    hashes: Vec<String>,
}

/// Observations of up to 200 transmissions by hash (`[]` for unknown hashes).
#[utoipa::path(post, path = "/api/packets/observations", tag = "packets",
    request_body(content = Object, description = "{\"hashes\": [\"<16 hex>\", ...]} (at most 200)"),
    responses((status = 200, description = "{results: {hash: [Observation]}}", body = Object),
        (status = 400, description = "Invalid JSON or too many hashes", body = Object)))]
async fn packet_observations(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<HashesBody>,
) -> Result<Json<Value>, ApiError> {
    if body.hashes.len() > MAX_OBSERVATION_HASHES {
        return Err(ApiError::bad_request(format!(
            "too many hashes (max {MAX_OBSERVATION_HASHES})"
        )));
    }
    let parsed: Vec<Option<ContentHash>> = body
        .hashes
        .iter()
        .map(|h| ContentHash::parse(h.trim()).ok())
        .collect();
    let wanted: Vec<ContentHash> = parsed.iter().flatten().copied().collect();
    let store = state.store().clone();
    let in_memory = {
        let wanted = wanted.clone();
        blocking(move || store.details_by_hashes(&wanted)).await?
    };
    let mut found: HashMap<[u8; 8], PacketDetail> = HashMap::new();
    let mut missing = Vec::new();
    for (hash, detail) in wanted.iter().zip(in_memory) {
        match detail {
            Some(d) => {
                found.insert(hash.0, d);
            }
            None => missing.push(hash_text(hash)),
        }
    }
    if !missing.is_empty() {
        let rows = state
            .db("observations from the database", move |r| {
                let mut rows = Vec::new();
                for h in &missing {
                    match r.transmission_by_hash(h) {
                        Ok(row) => rows.push(row),
                        Err(DbError::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(Store::details_from_rows(&rows))
            })
            .await?;
        for d in rows {
            found.insert(d.summary.hash.0, d);
        }
    }
    let observers = state.observers().await?;
    let mut results = Map::new();
    for (text, hash) in body.hashes.iter().zip(&parsed) {
        let list: Vec<Value> = hash
            .and_then(|h| found.get(&h.0))
            .map(|d| {
                d.observations
                    .iter()
                    .map(|v| Value::Object(render::observation(v, &d.summary, &observers)))
                    .collect()
            })
            .unwrap_or_default();
        results.insert(text.clone(), Value::Array(list));
    }
    Ok(Json(json!({ "results": results })))
}

#[derive(Deserialize)]
struct DecodeBody {
    #[serde(default)]
    hex: Option<String>,
}

/// Decodes a packet given as hex: `{"decoded": {"header", "path", "payload"}}`.
#[utoipa::path(post, path = "/api/decode", tag = "packets",
    request_body(content = Object, description = "{\"hex\": \"<packet hex>\"}"),
    responses((status = 200, description = "{decoded: {header, path, payload}}", body = Object),
        (status = 400, description = "hex missing, invalid JSON or undecodable packet", body = Object)))]
async fn decode(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DecodeBody>,
) -> Result<Response, ApiError> {
    let hex = body.hex.as_deref().map(str::trim).unwrap_or_default();
    if hex.is_empty() {
        return Err(ApiError::bad_request("hex is required"));
    }
    let packet = state
        .inner
        .decoder
        .decode_hex(hex)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        packet.api_decode_json(),
    )
        .into_response())
}

#[derive(Deserialize)]
struct InjectBody {
    #[serde(default)]
    hex: Option<String>,
    #[serde(default)]
    observer: Option<String>,
    #[serde(default)]
    snr: Option<Value>,
    #[serde(default)]
    rssi: Option<Value>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    hash: Option<String>,
}

/// A topic segment from the request: non-empty and free of MQTT separators and wildcards.
fn topic_segment(v: Option<&str>, name: &str, default: &str) -> Result<String, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default.to_owned()),
        Some(s)
            if s.len() > 128 || s.contains(['/', '+', '#']) || s.chars().any(char::is_control) =>
        {
            Err(ApiError::bad_request(format!(
                "{name} must be at most 128 characters without '/', '+', '#' or control characters"
            )))
        }
        Some(s) => Ok(s.to_owned()),
    }
}

/// A signal value: a JSON number (or a numeric string, as observers publish them).
fn signal(v: Option<&Value>, name: &str) -> Result<Option<f64>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
            Ok(s.trim().parse::<f64>().ok())
        }
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a number"))),
    }
}

/// Hands one packet to the ingest pipeline as an MQTT packets message and answers once it
/// is stored: `{id, decoded}`. 503 without a pipeline, 504 when it did not arrive in 5 s.
#[utoipa::path(post, path = "/api/packets", tag = "packets",
    security(("ApiKeyAuth" = [])),
    request_body(content = Object, description = "{hex, observer?, snr?, rssi?, region?, hash?}"),
    responses((status = 200, description = "{id, decoded}", body = Object),
        (status = 400, description = "Bad body or undecodable packet", body = Object),
        (status = 401, description = "Wrong API key", body = Object),
        (status = 403, description = "Write endpoints disabled or weak key", body = Object),
        (status = 503, description = "No ingest pipeline attached", body = Object),
        (status = 504, description = "The packet was not stored in time", body = Object)))]
async fn post_packet(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    params::check_api_key(
        state.config().api_key.as_ref().map(|k| k.expose()),
        &headers,
    )?;
    let body: InjectBody = parse_body(&body)?;
    let hex: String = body
        .hex
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if hex.is_empty() {
        return Err(ApiError::bad_request("hex is required"));
    }
    let packet = state
        .inner
        .decoder
        .decode_hex(&hex)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let hash = packet
        .hash()
        .map(|h| ContentHash(h.0))
        .ok_or_else(|| ApiError::bad_request("packet has no content hash"))?;
    if let Some(given) = body
        .hash
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        // The pipeline computes the content hash itself; a different one is a client error.
        if ContentHash::parse(given).ok() != Some(hash) {
            return Err(ApiError::bad_request(format!(
                "hash {given:?} does not match the packet's content hash {}",
                hash_text(&hash)
            )));
        }
    }
    let observer = topic_segment(body.observer.as_deref(), "observer", "api")?;
    let region = topic_segment(body.region.as_deref(), "region", "API")?;
    let mut message = Map::new();
    message.insert("raw".into(), json!(hex));
    if let Some(snr) = signal(body.snr.as_ref(), "snr")? {
        message.insert("SNR".into(), json!(snr));
    }
    if let Some(rssi) = signal(body.rssi.as_ref(), "rssi")? {
        message.insert("RSSI".into(), json!(rssi));
    }
    if body.region.is_some() {
        message.insert("region".into(), json!(region));
    }
    message.insert("direction".into(), json!("rx"));
    let topic = format!("meshcore/{region}/{observer}/packets");
    let payload = Value::Object(message).to_string();
    if !state.inner.ingest.inject(&topic, payload.as_bytes()) {
        return Err(ApiError::unavailable("no ingest pipeline is attached"));
    }
    let decoded: Value = serde_json::from_str::<Value>(&packet.api_decode_json())
        .ok()
        .and_then(|mut v| v.get_mut("decoded").map(Value::take))
        .unwrap_or(Value::Null);
    let started = Instant::now();
    loop {
        if let Some(d) = state.store().by_hash(&hash) {
            return Ok(Json(json!({ "id": d.summary.id, "decoded": decoded })).into_response());
        }
        if started.elapsed() >= INJECT_WAIT {
            return Ok((
                StatusCode::GATEWAY_TIMEOUT,
                Json(
                    json!({ "error": "the packet was handed to ingest but not stored within 5 s" }),
                ),
            )
                .into_response());
        }
        tokio::time::sleep(INJECT_POLL).await;
    }
}

/// Every observation of one transmission in time order: who heard it, when, how well and
/// by which path.
#[utoipa::path(get, path = "/api/traces/{hash}", tag = "packets",
    params(("hash" = String, Path, description = "16-hex content hash")),
    responses((status = 200, description = "{traces: [{observer, observer_name, time, snr, rssi, path_json}]}", body = Object),
        (status = 400, description = "Malformed hash", body = Object)))]
async fn traces(
    State(state): State<AppState>,
    hash: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let hash = path_param(hash)?;
    let hash = hash_param(hash.trim(), "hash")?;
    let detail = match state.store().by_hash(&hash) {
        Some(d) => Some(d),
        None => {
            let text = hash_text(&hash);
            from_db(&state, move |r| r.transmission_by_hash(&text)).await?
        }
    };
    let observers = state.observers().await?;
    let mut observations = detail.map(|d| d.observations).unwrap_or_default();
    observations.sort_by_key(|o| (o.timestamp, o.id));
    let traces: Vec<Value> = observations
        .iter()
        .map(|o| {
            let observer = o.observer_idx.and_then(|k| observers.by_idx(k));
            json!({
                "observer": observer.map(|r| &r.id),
                "observer_name": observer.and_then(|r| r.name.as_deref()),
                "time": render::iso_millis(o.timestamp),
                "snr": o.snr,
                "rssi": o.rssi,
                "path_json": o.path_json,
            })
        })
        .collect();
    Ok(Json(json!({ "traces": traces })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_areas_are_inclusive() {
        let a = AreaShape::from_config(
            &json!({"latMin": 47.0, "latMax": 48.0, "lonMin": -123.0, "lonMax": -122.0}),
        )
        .unwrap();
        assert!(a.contains(47.0, -122.5));
        assert!(a.contains(47.5, -122.0));
        assert!(!a.contains(48.1, -122.5));
    }

    #[test]
    fn polygons_with_and_without_buffer() {
        let square = json!({"polygon": [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]]});
        let a = AreaShape::from_config(&square).unwrap();
        assert!(a.contains(0.5, 0.5));
        assert!(!a.contains(1.05, 0.5));
        let mut buffered = square.clone();
        buffered["bufferKm"] = json!(10.0);
        let b = AreaShape::from_config(&buffered).unwrap();
        // 0.05 degrees of latitude is about 5.5 km from the edge.
        assert!(b.contains(1.05, 0.5));
        assert!(!b.contains(1.2, 0.5));
        assert_eq!(AreaShape::from_config(&json!({"label": "x"})), None);
    }
}
