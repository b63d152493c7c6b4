//! What the web UI reads at startup and the geo filter editor (spec api.md §8).
//!
//! Keys the analyzer does not interpret itself (`roles`, `snrThresholds`, `cacheTTL`, the
//! theme sections, ...) come from `config.json` verbatim ([`analyzer_config::Config::extra`]);
//! like the reference, the server forwards them and leaves defaults for them to the UI
//! (`null` when not configured). Everything with a reference default gets that default here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use analyzer_config::{Config, GeoFilter};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::params::{check_api_key, is_weak_key};
use crate::state::AppState;

/// The config routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cache))
        .routes(routes!(client))
        .routes(routes!(regions))
        .routes(routes!(theme))
        .routes(routes!(map))
        .routes(routes!(get_geo_filter, put_geo_filter))
        .routes(routes!(areas))
        .routes(routes!(area_polygons))
        .routes(routes!(iata_coords))
}

/// Client cache lifetimes: the `cacheTTL` object of config.json (seconds) verbatim, or `{}`.
#[utoipa::path(get, path = "/api/config/cache", tag = "config",
    responses((status = 200, description = "`cacheTTL` from config.json", body = Object)))]
async fn cache(State(state): State<AppState>) -> Json<Value> {
    Json(match state.config().extra.get("cacheTTL") {
        Some(Value::Object(ttl)) => Value::Object(ttl.clone()),
        _ => json!({}),
    })
}

/// Settings of the web UI: health thresholds in milliseconds (from `healthThresholds`
/// hours/minutes), live-map limits, timestamp display defaults, customizer tabs to hide,
/// the client-RX coverage switch, and the front-end keys of config.json passed through
/// (`roles`, `map`, `snrThresholds`, `distThresholds`, `maxHopDist`, `limits`, `perfSlowMs`,
/// `wsReconnectMs`, `cacheInvalidateMs`, `externalUrls`; `null` when not configured).
#[utoipa::path(get, path = "/api/config/client", tag = "config",
    responses((status = 200, description = "Client settings", body = Object)))]
async fn client(State(state): State<AppState>) -> Json<Value> {
    Json(client_config(state.config()))
}

fn client_config(config: &Config) -> Value {
    let extra = &config.extra;
    let pass = |key: &str| extra.get(key).cloned().unwrap_or(Value::Null);
    let h = &config.health_thresholds;
    let hours = |v: f64| (v * 3_600_000.0).round() as i64;
    let minutes = |v: f64| (v * 60_000.0).round() as i64;
    let live_map = extra.get("liveMap");
    let propagation_buffer_ms = live_map
        .and_then(|m| m.get("propagationBufferMs"))
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v > 0.0)
        .map_or(5000, |v| v.round() as i64);
    let live_map_max_nodes = live_map
        .and_then(|m| m.get("maxNodes"))
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v > 0.0)
        .map_or(2000, |v| (v.round() as i64).clamp(100, 20_000));
    let mut out = Map::new();
    out.insert("roles".into(), pass("roles"));
    out.insert(
        "healthThresholds".into(),
        json!({
            "infraDegradedMs": hours(h.infra_degraded_hours()),
            "infraSilentMs": hours(h.infra_silent_hours()),
            "nodeDegradedMs": hours(h.node_degraded_hours()),
            "nodeSilentMs": hours(h.node_silent_hours()),
            "observerOnlineMs": minutes(h.observer_online_minutes()),
            "observerStaleMs": minutes(h.observer_stale_minutes()),
        }),
    );
    out.insert("map".into(), map_settings(extra));
    for key in [
        "snrThresholds",
        "distThresholds",
        "maxHopDist",
        "limits",
        "perfSlowMs",
        "wsReconnectMs",
        "cacheInvalidateMs",
        "externalUrls",
    ] {
        out.insert(key.into(), pass(key));
    }
    out.insert("propagationBufferMs".into(), json!(propagation_buffer_ms));
    out.insert("liveMapMaxNodes".into(), json!(live_map_max_nodes));
    out.insert("timestamps".into(), timestamps(extra.get("timestamps")));
    if let Some(v) = extra.get("debugAffinity") {
        out.insert("debugAffinity".into(), v.clone());
    }
    if let Some(v) = extra.get("mapDarkTileProvider").filter(|v| !v.is_null()) {
        out.insert("mapDarkTileProvider".into(), v.clone());
    }
    let disabled_tabs: Vec<Value> = extra
        .get("customizer")
        .and_then(|c| c.get("disabledTabs"))
        .and_then(Value::as_array)
        .map(|tabs| tabs.iter().filter(|t| t.is_string()).cloned().collect())
        .unwrap_or_default();
    out.insert(
        "customizer".into(),
        json!({ "disabledTabs": disabled_tabs }),
    );
    out.insert(
        "clientRxCoverage".into(),
        json!({ "enabled": config.client_rx_coverage.enabled }),
    );
    Value::Object(out)
}

/// `map` of config.json with the deprecated spellings moved in: a top-level `tiles` block
/// becomes `map.tiles`, a top-level `mapDarkTileProvider` becomes `map.tiles.darkDefault`
/// (the explicit new spelling wins). `null` when none of them is set.
pub(crate) fn map_settings(extra: &BTreeMap<String, Value>) -> Value {
    let mut map = match extra.get("map") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if let Some(Value::Object(tiles)) = extra.get("tiles") {
        if !map.contains_key("tiles") {
            map.insert("tiles".into(), Value::Object(tiles.clone()));
        }
    }
    if let Some(Value::String(dark)) = extra.get("mapDarkTileProvider") {
        let tiles = map.entry("tiles").or_insert_with(|| json!({}));
        if let Value::Object(tiles) = tiles {
            tiles
                .entry("darkDefault")
                .or_insert_with(|| Value::String(dark.clone()));
        }
    }
    if map.is_empty() && !extra.contains_key("map") {
        Value::Null
    } else {
        Value::Object(map)
    }
}

/// `timestamps` with the reference defaults (`ago`, `local`, `iso`, no custom format).
fn timestamps(configured: Option<&Value>) -> Value {
    let pick = |key: &str, allowed: &[&str], default: &str| -> String {
        configured
            .and_then(|t| t.get(key))
            .and_then(Value::as_str)
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| allowed.contains(&s.as_str()))
            .unwrap_or_else(|| default.to_owned())
    };
    json!({
        "defaultMode": pick("defaultMode", &["ago", "absolute"], "ago"),
        "timezone": pick("timezone", &["local", "utc"], "local"),
        "formatPreset": pick("formatPreset", &["iso", "iso-seconds", "locale"], "iso"),
        "customFormat": configured
            .and_then(|t| t.get("customFormat"))
            .and_then(Value::as_str)
            .unwrap_or(""),
        "allowCustomFormat": configured
            .and_then(|t| t.get("allowCustomFormat"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Region codes and labels: the `regions` of config.json plus every IATA code an observer
/// reported (labelled with the code itself), keyed by code.
#[utoipa::path(get, path = "/api/config/regions", tag = "config",
    responses((status = 200, description = "`{IATA: label}`", body = Object)))]
async fn regions(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let observers = state.observers().await?;
    let config = state.config();
    let mut out: BTreeMap<String, String> = config.regions.clone();
    for row in observers.rows() {
        if config.is_observer_blacklisted(&row.id) {
            continue;
        }
        let Some(code) = row.iata.as_deref().map(str::trim).filter(|c| !c.is_empty()) else {
            continue;
        };
        let code = code.to_ascii_uppercase();
        if !out.keys().any(|k| k.eq_ignore_ascii_case(&code)) {
            out.insert(code.clone(), code);
        }
    }
    Ok(Json(json!(out)))
}

/// The sections of `/api/config/theme`, in answer order.
const THEME_SECTIONS: [&str; 7] = [
    "branding",
    "theme",
    "themeDark",
    "nodeColors",
    "typeColors",
    "home",
    "markerStroke",
];

/// Branding, colours and home page: built-in defaults, overlaid by the same keys of
/// config.json, then by `theme.json` (config directory, else its `data/`). Object sections
/// are merged key by key; `typeColors` accepts the legacy key `REQUEST` for `REQ` and answers
/// both.
#[utoipa::path(get, path = "/api/config/theme", tag = "config",
    responses((status = 200, description = "Theme", body = Object)))]
async fn theme(State(state): State<AppState>) -> Json<Value> {
    let file = match &state.inner.config_dir {
        Some(dir) => read_theme_file(dir).await,
        None => None,
    };
    Json(theme_value(&state.config().extra, file.as_ref()))
}

/// `theme.json` of `dir` (or `dir/data`), if one exists and parses; a broken one is logged
/// and skipped so the UI still gets its theme.
async fn read_theme_file(dir: &Path) -> Option<Map<String, Value>> {
    for path in [dir.join("theme.json"), dir.join("data").join("theme.json")] {
        let Ok(text) = tokio::fs::read(&path).await else {
            continue;
        };
        return match serde_json::from_slice::<Value>(&text) {
            Ok(Value::Object(map)) => Some(map),
            Ok(_) => {
                tracing::warn!(path = %path.display(), "theme.json is not a JSON object; ignored");
                None
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "theme.json does not parse; ignored");
                None
            }
        };
    }
    None
}

fn theme_value(config: &BTreeMap<String, Value>, file: Option<&Map<String, Value>>) -> Value {
    let mut theme = default_theme();
    let from_file = file.map(|f| {
        f.iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<String, Value>>()
    });
    let layers = [Some(config), from_file.as_ref()];
    for layer in layers.into_iter().flatten() {
        for section in THEME_SECTIONS {
            let Some(mut value) = layer.get(section).cloned() else {
                continue;
            };
            if section == "typeColors" {
                rename_legacy_request(&mut value);
            }
            overlay(&mut theme[section], value);
        }
    }
    if let Some(colors) = theme["typeColors"].as_object_mut() {
        if let Some(req) = colors.get("REQ").cloned() {
            colors.insert("REQUEST".into(), req);
        }
    }
    theme
}

/// `REQUEST` is the old name of `REQ`: renamed unless `REQ` is given too.
fn rename_legacy_request(colors: &mut Value) {
    if let Some(colors) = colors.as_object_mut() {
        if let Some(legacy) = colors.shift_remove("REQUEST") {
            colors.entry("REQ").or_insert(legacy);
        }
    }
}

/// Object over object merges key by key; anything else replaces. `null` is ignored.
fn overlay(base: &mut Value, value: Value) {
    match (base, value) {
        (_, Value::Null) => {}
        (Value::Object(base), Value::Object(over)) => {
            for (k, v) in over {
                base.insert(k, v);
            }
        }
        (base, value) => *base = value,
    }
}

/// Built-in theme. Role and packet-type colours follow the Wong (2011) colour-blind-safe
/// palette the UI's default preset is named after.
fn default_theme() -> Value {
    json!({
        "branding": {
            "siteName": "MeshCore Analyzer",
            "tagline": "Live view of a MeshCore LoRa mesh",
        },
        "theme": {
            "accent": "#0072b2",
            "accentHover": "#005a8c",
            "navBg": "#0f172a",
            "navBg2": "#1e293b",
            "navText": "#f1f5f9",
            "navTextMuted": "#94a3b8",
            "navActive": "#56b4e9",
            "background": "#f8fafc",
            "text": "#0f172a",
            "textMuted": "#475569",
            "border": "#e2e8f0",
            "statusGreen": "#15803d",
            "statusYellow": "#b45309",
            "statusRed": "#b91c1c",
            "surface1": "#ffffff",
            "surface2": "#f1f5f9",
            "surface3": "#e2e8f0",
            "font": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
            "mono": "ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace",
        },
        "themeDark": {
            "accent": "#56b4e9",
            "accentHover": "#7cc4ee",
            "navBg": "#020617",
            "navBg2": "#0f172a",
            "navText": "#e2e8f0",
            "navTextMuted": "#94a3b8",
            "navActive": "#56b4e9",
            "background": "#0b1120",
            "text": "#e2e8f0",
            "textMuted": "#94a3b8",
            "border": "#1e293b",
            "statusGreen": "#22c55e",
            "statusYellow": "#f59e0b",
            "statusRed": "#ef4444",
            "surface1": "#111827",
            "surface2": "#1f2937",
            "surface3": "#374151",
            "font": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
            "mono": "ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace",
        },
        "nodeColors": {
            "repeater": "#d55e00",
            "companion": "#0072b2",
            "room": "#009e73",
            "sensor": "#e69f00",
            "observer": "#cc79a7",
        },
        "typeColors": {
            "ADVERT": "#009e73",
            "GRP_TXT": "#0072b2",
            "TXT_MSG": "#56b4e9",
            "ACK": "#999999",
            "REQ": "#e69f00",
            "RESPONSE": "#cc79a7",
            "TRACE": "#d55e00",
            "PATH": "#f0e442",
            "ANON_REQ": "#a6761d",
            "GRP_DATA": "#1b9e77",
            "MULTIPART": "#7f7f7f",
            "CONTROL": "#6a3d9a",
            "RAW_CUSTOM": "#555555",
        },
        "home": {
            "heroTitle": "MeshCore Analyzer",
            "heroSubtitle": "Packets, nodes and channels of the local MeshCore mesh, live.",
            "steps": [],
            "faq": [],
            "footerLinks": [],
        },
        "markerStroke": {
            "color": "#ffffff",
            "width": 1.5,
            "opacity": 0.9,
        },
    })
}

/// Where the map opens: `mapDefaults.center` (`[lat, lon]`, default `[37.45, -122.0]`)
/// and `mapDefaults.zoom` (default 9). Out-of-range values fall back to the defaults.
#[utoipa::path(get, path = "/api/config/map", tag = "config",
    responses((status = 200, description = "`{center: [lat, lon], zoom}`", body = Object)))]
async fn map(State(state): State<AppState>) -> Json<Value> {
    let defaults = &state.config().map_defaults;
    let center = defaults
        .center
        .filter(|[lat, lon]| valid_point(*lat, *lon))
        .unwrap_or([37.45, -122.0]);
    let zoom = defaults
        .zoom
        .filter(|z| z.is_finite() && (0.0..=22.0).contains(z))
        .unwrap_or(9.0);
    Json(json!({ "center": center, "zoom": number(zoom) }))
}

/// A whole number as a JSON integer (`9`, not `9.0`).
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn valid_point(lat: f64, lon: f64) -> bool {
    lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0
}

/// The geo filter in force (`polygon` as `[lat, lon]` pairs or `null`, `bufferKm`) and
/// whether it can be changed through the API (`writeEnabled`: a usable API key is set).
#[utoipa::path(get, path = "/api/config/geo-filter", tag = "config",
    responses((status = 200, description = "`{polygon, bufferKm, writeEnabled}`", body = Object)))]
async fn get_geo_filter(State(state): State<AppState>) -> Json<Value> {
    let filter = state.geo_filter();
    let polygon = filter
        .as_ref()
        .and_then(|f| f.polygon.clone())
        .filter(|p| !p.is_empty());
    let buffer_km = filter.as_ref().and_then(|f| f.buffer_km).unwrap_or(0.0);
    let write_enabled = state
        .config()
        .api_key
        .as_ref()
        .is_some_and(|k| !k.expose().is_empty() && !is_weak_key(k.expose()));
    Json(json!({
        "polygon": polygon,
        "bufferKm": number(buffer_km),
        "writeEnabled": write_enabled,
    }))
}

/// Most polygon vertices `PUT /api/config/geo-filter` accepts.
const MAX_VERTICES: usize = 1000;
/// Largest `bufferKm` accepted.
const MAX_BUFFER_KM: f64 = 20_000.0;

/// Replaces the geo filter (API key required). Body `{"polygon": [[lat, lon], ...],
/// "bufferKm": n}`: 3 to 1000 vertices within ±90/±180, or an empty list (or `null`) to
/// remove the filter; `bufferKm` finite, 0 to 20000 (default 0). The new filter is written
/// into config.json atomically (temporary file, then rename; the `geo_filter` key is replaced,
/// everything else in the file is kept) and used by this server's API at once; `persisted`
/// says whether a config file was written. Ingestion reads its geo filter at startup only,
/// so new adverts are checked against the new filter after a restart.
#[utoipa::path(put, path = "/api/config/geo-filter", tag = "config",
    security(("ApiKeyAuth" = [])),
    request_body(content = Object, description = "`{polygon: [[lat, lon], ...], bufferKm}`"),
    responses((status = 200, description = "`{polygon, bufferKm, persisted}`", body = Object),
        (status = 400, description = "Invalid polygon or bufferKm", body = Object),
        (status = 401, description = "Wrong or missing X-API-Key", body = Object),
        (status = 403, description = "No API key configured, or a weak one", body = Object),
        (status = 413, description = "Body larger than 1 MB", body = Object),
        (status = 500, description = "The config file could not be written", body = Object)))]
async fn put_geo_filter(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    check_api_key(
        state.config().api_key.as_ref().map(|k| k.expose()),
        &headers,
    )?;
    let (polygon, buffer_km) = parse_geo_filter(&body)?;
    let filter = (!polygon.is_empty()).then(|| GeoFilter {
        polygon: Some(polygon.clone()),
        buffer_km: Some(buffer_km),
        ..GeoFilter::default()
    });
    let target = state.inner.config_path.clone().or_else(|| {
        state
            .inner
            .config_dir
            .as_ref()
            .map(|d| d.join("config.json"))
    });
    let persisted = match target {
        Some(path) => {
            // One writer at a time: two saves racing on the same temporary file would lose one.
            static SAVING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
            let _guard = SAVING.lock().await;
            let block = filter
                .as_ref()
                .map(|f| json!({ "polygon": f.polygon, "bufferKm": number(buffer_km) }));
            tokio::task::spawn_blocking(move || save_geo_filter(&path, block))
                .await
                .map_err(|e| ApiError::internal("failed to save config", e))?
                .map_err(|e| ApiError::internal("failed to save config", e))?;
            true
        }
        None => false,
    };
    *state
        .inner
        .geo_filter
        .write()
        .unwrap_or_else(|e| e.into_inner()) = filter;
    let polygon = (!polygon.is_empty()).then_some(polygon);
    Ok(Json(json!({
        "polygon": polygon,
        "bufferKm": number(buffer_km),
        "persisted": persisted,
    })))
}

/// Checks a geo-filter body; the message names the field and what is wrong.
fn parse_geo_filter(body: &[u8]) -> Result<(Vec<[f64; 2]>, f64), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("body must be a JSON object: {e}")))?;
    let Value::Object(object) = value else {
        return Err(ApiError::bad_request("body must be a JSON object"));
    };
    let points = match object.get("polygon") {
        None => {
            return Err(ApiError::bad_request(
                "polygon is required ([[lat, lon], ...]; an empty list removes the filter)",
            ));
        }
        Some(Value::Null) => Vec::new(),
        Some(Value::Array(points)) => points.clone(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "polygon must be a list of [lat, lon] pairs",
            ));
        }
    };
    if !points.is_empty() && !(3..=MAX_VERTICES).contains(&points.len()) {
        return Err(ApiError::bad_request(format!(
            "polygon must have 3 to {MAX_VERTICES} points (or none to remove the filter), got {}",
            points.len()
        )));
    }
    let mut polygon = Vec::with_capacity(points.len());
    for (i, point) in points.iter().enumerate() {
        let pair = point.as_array().filter(|p| p.len() == 2);
        let coords = pair.and_then(|p| Some([p[0].as_f64()?, p[1].as_f64()?]));
        match coords {
            Some([lat, lon]) if valid_point(lat, lon) => polygon.push([lat, lon]),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "polygon[{i}] must be [lat, lon] with lat within ±90 and lon within ±180, got {point}"
                )));
            }
        }
    }
    let buffer_km = match object.get("bufferKm") {
        None | Some(Value::Null) => 0.0,
        Some(v) => match v.as_f64() {
            Some(b) if b.is_finite() && (0.0..=MAX_BUFFER_KM).contains(&b) => b,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "bufferKm must be a number from 0 to {MAX_BUFFER_KM}, got {v}"
                )));
            }
        },
    };
    Ok((polygon, buffer_km))
}

/// Writes `geo_filter` into the config file at `path` (created when missing), keeping every
/// other key and their order: the new text goes to a temporary file in the same directory,
/// is flushed to disk, then renamed over the original.
fn save_geo_filter(path: &Path, block: Option<Value>) -> std::io::Result<()> {
    use std::io::Write;
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let mut doc = match std::fs::read(path) {
        Ok(text) => serde_json::from_slice::<Value>(&text)
            .map_err(|e| invalid(format!("{} does not parse: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(e),
    };
    let object = doc
        .as_object_mut()
        .ok_or_else(|| invalid(format!("{} is not a JSON object", path.display())))?;
    match block {
        Some(block) => {
            object.insert("geo_filter".into(), block);
        }
        None => {
            object.shift_remove("geo_filter");
        }
    }
    let mut text = serde_json::to_vec_pretty(&doc).map_err(|e| invalid(e.to_string()))?;
    text.push(b'\n');
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into());
    let tmp: PathBuf = path.with_file_name(format!(".{file_name}.tmp"));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Named areas for the area filter: `[{key, label}]`, sorted by key; areas without a label
/// are not offered.
#[utoipa::path(get, path = "/api/config/areas", tag = "config",
    responses((status = 200, description = "`[{key, label}]`", body = Object)))]
async fn areas(State(state): State<AppState>) -> Json<Value> {
    let list: Vec<Value> = state
        .config()
        .areas
        .iter()
        .filter_map(|(key, area)| {
            let label = area.label.as_deref().filter(|l| !l.trim().is_empty())?;
            Some(json!({ "key": key, "label": label }))
        })
        .collect();
    Json(Value::Array(list))
}

/// Every configured area with its shape: `[{key, label, polygon?, latMin?, latMax?,
/// lonMin?, lonMax?}]`, sorted by key (unset fields omitted).
#[utoipa::path(get, path = "/api/config/areas/polygons", tag = "config",
    responses((status = 200, description = "`[{key, label, polygon?, latMin?, ...}]`", body = Object)))]
async fn area_polygons(State(state): State<AppState>) -> Json<Value> {
    let list: Vec<Value> = state
        .config()
        .areas
        .iter()
        .map(|(key, area)| {
            let mut o = Map::new();
            o.insert("key".into(), json!(key));
            o.insert("label".into(), json!(area.label));
            if let Some(polygon) = &area.polygon {
                o.insert("polygon".into(), json!(polygon));
            }
            for (name, v) in [
                ("latMin", area.lat_min),
                ("latMax", area.lat_max),
                ("lonMin", area.lon_min),
                ("lonMax", area.lon_max),
            ] {
                if let Some(v) = v {
                    o.insert(name.into(), json!(v));
                }
            }
            Value::Object(o)
        })
        .collect();
    Json(Value::Array(list))
}

/// Airport coordinates for region codes: `{coords: {IATA: {lat, lon}}}` from a built-in
/// table.
#[utoipa::path(get, path = "/api/iata-coords", tag = "config",
    responses((status = 200, description = "`{coords: {IATA: {lat, lon}}}`", body = Object)))]
async fn iata_coords() -> Json<Value> {
    let coords: Map<String, Value> = IATA_COORDS
        .iter()
        .map(|(code, lat, lon)| ((*code).to_owned(), json!({ "lat": lat, "lon": lon })))
        .collect();
    Json(json!({ "coords": coords }))
}

/// Airports by IATA code (observers name their region after the nearest airport): the
/// Pacific Northwest and California in detail, then major airports of North America,
/// Europe and Oceania, where MeshCore meshes are common.
const IATA_COORDS: &[(&str, f64, f64)] = &[
    // Pacific Northwest.
    ("SEA", 47.4502, -122.3088),
    ("BFI", 47.5300, -122.3020),
    ("PAE", 47.9063, -122.2816),
    ("TIW", 47.2679, -122.5781),
    ("BLI", 48.7928, -122.5375),
    ("OLM", 46.9694, -122.9025),
    ("PDX", 45.5898, -122.5951),
    ("EUG", 44.1246, -123.2119),
    ("GEG", 47.6199, -117.5338),
    ("BOI", 43.5644, -116.2228),
    // California and the Southwest.
    ("SFO", 37.6213, -122.3790),
    ("SJC", 37.3639, -121.9289),
    ("OAK", 37.7126, -122.2197),
    ("SMF", 38.6954, -121.5908),
    ("FAT", 36.7762, -119.7181),
    ("LAX", 33.9416, -118.4085),
    ("BUR", 34.2007, -118.3585),
    ("SNA", 33.6762, -117.8675),
    ("SAN", 32.7338, -117.1933),
    ("RNO", 39.4991, -119.7681),
    ("LAS", 36.0840, -115.1537),
    ("PHX", 33.4342, -112.0116),
    ("SLC", 40.7899, -111.9791),
    ("DEN", 39.8561, -104.6737),
    ("ABQ", 35.0402, -106.6090),
    // Rest of the United States.
    ("DFW", 32.8998, -97.0403),
    ("AUS", 30.1975, -97.6664),
    ("IAH", 29.9902, -95.3368),
    ("MSP", 44.8848, -93.2223),
    ("ORD", 41.9742, -87.9073),
    ("DTW", 42.2162, -83.3554),
    ("ATL", 33.6407, -84.4277),
    ("CLT", 35.2144, -80.9473),
    ("MCO", 28.4312, -81.3081),
    ("MIA", 25.7959, -80.2870),
    ("IAD", 38.9531, -77.4565),
    ("DCA", 38.8512, -77.0402),
    ("PHL", 39.8744, -75.2424),
    ("EWR", 40.6895, -74.1745),
    ("JFK", 40.6413, -73.7781),
    ("BOS", 42.3656, -71.0096),
    ("HNL", 21.3187, -157.9225),
    ("ANC", 61.1743, -149.9982),
    // Canada.
    ("YVR", 49.1967, -123.1815),
    ("YYJ", 48.6469, -123.4258),
    ("YYC", 51.1215, -114.0076),
    ("YEG", 53.3097, -113.5800),
    ("YWG", 49.9100, -97.2399),
    ("YYZ", 43.6777, -79.6248),
    ("YOW", 45.3225, -75.6692),
    ("YUL", 45.4706, -73.7408),
    ("YHZ", 44.8808, -63.5086),
    // Europe.
    ("LHR", 51.4700, -0.4543),
    ("LGW", 51.1537, -0.1821),
    ("MAN", 53.3650, -2.2728),
    ("BHX", 52.4539, -1.7480),
    ("EDI", 55.9500, -3.3725),
    ("GLA", 55.8719, -4.4331),
    ("DUB", 53.4264, -6.2499),
    ("AMS", 52.3105, 4.7683),
    ("BRU", 50.9014, 4.4844),
    ("CDG", 49.0097, 2.5479),
    ("LYS", 45.7256, 5.0811),
    ("FRA", 50.0379, 8.5622),
    ("MUC", 48.3537, 11.7750),
    ("BER", 52.3667, 13.5033),
    ("HAM", 53.6304, 9.9882),
    ("DUS", 51.2895, 6.7668),
    ("ZRH", 47.4582, 8.5555),
    ("VIE", 48.1103, 16.5697),
    ("PRG", 50.1008, 14.2600),
    ("WAW", 52.1657, 20.9671),
    ("CPH", 55.6180, 12.6508),
    ("ARN", 59.6498, 17.9238),
    ("GOT", 57.6628, 12.2798),
    ("OSL", 60.1976, 11.1004),
    ("HEL", 60.3172, 24.9633),
    ("MAD", 40.4983, -3.5676),
    ("BCN", 41.2974, 2.0833),
    ("LIS", 38.7742, -9.1342),
    ("FCO", 41.8003, 12.2389),
    ("MXP", 45.6306, 8.7281),
    ("ATH", 37.9364, 23.9445),
    ("BUD", 47.4385, 19.2523),
    // Oceania.
    ("SYD", -33.9399, 151.1753),
    ("MEL", -37.6690, 144.8410),
    ("BNE", -27.3842, 153.1175),
    ("PER", -31.9385, 115.9672),
    ("ADL", -34.9450, 138.5306),
    ("CBR", -35.3069, 149.1950),
    ("HBA", -42.8361, 147.5103),
    ("AKL", -37.0082, 174.7850),
    ("WLG", -41.3272, 174.8053),
    ("CHC", -43.4894, 172.5320),
    // Elsewhere.
    ("JNB", -26.1367, 28.2411),
    ("CPT", -33.9715, 18.6021),
    ("GRU", -23.4356, -46.4731),
    ("EZE", -34.8222, -58.5358),
    ("SIN", 1.3644, 103.9915),
    ("HKG", 22.3080, 113.9185),
    ("NRT", 35.7720, 140.3929),
    ("ICN", 37.4602, 126.4407),
    ("TPE", 25.0797, 121.2342),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iata_table_has_unique_codes_in_range() {
        let mut seen = std::collections::HashSet::new();
        for (code, lat, lon) in IATA_COORDS {
            assert!(seen.insert(*code), "{code} twice");
            assert_eq!(code.len(), 3);
            assert!(valid_point(*lat, *lon), "{code}");
        }
        assert!(IATA_COORDS.len() >= 54);
    }

    #[test]
    fn theme_overlays_in_order_and_renames_request() {
        let config: BTreeMap<String, Value> = [
            (
                "typeColors".to_owned(),
                json!({ "REQUEST": "#111111", "ADVERT": "#222222" }),
            ),
            ("branding".to_owned(), json!({ "siteName": "Config" })),
        ]
        .into();
        let file = json!({ "branding": { "siteName": "File" }, "home": { "steps": [1] } });
        let theme = theme_value(&config, file.as_object());
        assert_eq!(theme["branding"]["siteName"], "File");
        assert_eq!(
            theme["branding"]["tagline"],
            default_theme()["branding"]["tagline"]
        );
        assert_eq!(theme["typeColors"]["REQ"], "#111111");
        assert_eq!(theme["typeColors"]["REQUEST"], "#111111");
        assert_eq!(theme["typeColors"]["ADVERT"], "#222222");
        assert_eq!(theme["home"]["steps"], json!([1]));
    }

    #[test]
    fn geo_filter_bodies() {
        assert!(parse_geo_filter(br#"{"polygon": [], "bufferKm": 5}"#).is_ok());
        assert!(parse_geo_filter(br#"{"polygon": [[1,2],[3,4]]}"#).is_err());
        assert!(parse_geo_filter(br#"{"polygon": [[1,2],[3,4],[91,4]]}"#).is_err());
        assert!(parse_geo_filter(br#"{"polygon": [], "bufferKm": -1}"#).is_err());
        assert!(parse_geo_filter(br#"{"polygon": [], "bufferKm": 20001}"#).is_err());
        assert!(parse_geo_filter(br#"{"bufferKm": 1}"#).is_err());
        let (p, b) =
            parse_geo_filter(br#"{"polygon": [[1,2],[3,4],[5,6]], "bufferKm": 2.5}"#).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(b, 2.5);
    }
}
