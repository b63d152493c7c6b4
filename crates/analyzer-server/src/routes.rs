//! The route table and the middleware every response passes through.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::process;
use crate::state::{AppState, CachedStats};

/// Header the reference sets on every response while (and after) the startup load runs.
pub const LOAD_STATUS_HEADER: HeaderName = HeaderName::from_static("x-corescope-load-status");

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/stats", get(stats))
        .route("/api/health", get(health))
        .route("/api/healthz", get(healthz))
        .route("/api/mqtt/status", get(mqtt_status))
        .route("/api/perf", get(perf))
        .fallback(api_not_found)
        .layer(middleware::from_fn(no_store));
    Router::new()
        .merge(api)
        .layer(middleware::from_fn_with_state(state.clone(), load_status))
        .with_state(state)
}

async fn load_status(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let value = state.inner.store.load_state().status_header();
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(LOAD_STATUS_HEADER, value);
    }
    response
}

async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Unknown API paths are a clean 404 (the reference falls through to its SPA with a 200).
async fn api_not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        request.method(),
        request.uri().path()
    ))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let cached = {
        let cache = state
            .inner
            .stats_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache
            .as_ref()
            .filter(|c| c.is_fresh(Instant::now()))
            .map(|c| c.stats)
    };
    let stats = match cached {
        Some(stats) => stats,
        None => {
            let reader = state.inner.reader.clone();
            let started = Instant::now();
            let stats = tokio::task::spawn_blocking(move || {
                let reader = reader.lock().unwrap_or_else(|e| e.into_inner());
                reader.stats(unix_now())
            })
            .await
            .map_err(|e| ApiError::internal("stats task failed", e))?
            .map_err(|e| ApiError::internal("stats query failed", e))?;
            let mut cache = state
                .inner
                .stats_cache
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *cache = Some(CachedStats {
                computed_at: Instant::now(),
                cost: started.elapsed(),
                stats,
            });
            stats
        }
    };
    let rss_mb = process::resident_bytes()
        .map(process::megabytes)
        .unwrap_or(0.0);
    let mut body = json!({
        "totalPackets": stats.transmissions,
        "totalTransmissions": stats.transmissions,
        "totalObservations": stats.observations,
        "totalNodes": stats.nodes_active_7d,
        "totalNodesAllTime": stats.nodes_all_time,
        "totalObservers": stats.observers,
        "packetsLastHour": stats.observations_last_hour,
        "packetsLast24h": stats.observations_last_24h,
        "engine": "rust",
        "version": env!("CARGO_PKG_VERSION"),
        "commit": option_env!("MESHCORE_ANALYZER_COMMIT").unwrap_or("unknown"),
        "buildTime": option_env!("MESHCORE_ANALYZER_BUILD_TIME").unwrap_or("unknown"),
        "counts": {
            "repeaters": stats.repeaters,
            "rooms": stats.rooms,
            "companions": stats.companions,
            "sensors": stats.sensors,
        },
        "hashMigrationComplete": true,
        "processRSSMB": rss_mb,
        "storeDataMB": process::megabytes(state.inner.store.allocated_bytes() as u64),
        "trackedMB": process::megabytes(state.inner.store.allocated_bytes() as u64),
    });
    if stats.signature_drops > 0 {
        body["signatureDrops"] = json!(stats.signature_drops);
    }
    Ok(Json(body))
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    let uptime = state.inner.started.elapsed().as_secs();
    let rss_mb = process::resident_bytes()
        .map(process::megabytes)
        .unwrap_or(0.0);
    Json(json!({
        "status": "ok",
        "engine": "rust",
        "version": env!("CARGO_PKG_VERSION"),
        "commit": option_env!("MESHCORE_ANALYZER_COMMIT").unwrap_or("unknown"),
        "buildTime": option_env!("MESHCORE_ANALYZER_BUILD_TIME").unwrap_or("unknown"),
        "uptime": uptime,
        "uptimeHuman": format!("{}h {}m", uptime / 3600, (uptime % 3600) / 60),
        "memory": { "rss": rss_mb },
    }))
}

/// Readiness: 503 until the hot window is in memory, then the loaded counts, the load state
/// (terminal state included) and per-source ingest liveness.
async fn healthz(State(state): State<AppState>) -> Response {
    let load = state.inner.store.load_state();
    if !load.load_complete {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "reason": "loading", "loadState": load })),
        )
            .into_response();
    }
    let counts = state.inner.store.counts();
    let mut body = json!({
        "ready": true,
        "loadedTx": counts.transmissions,
        "loadedObs": counts.observations,
        "loadState": load,
    });
    let liveness: serde_json::Map<String, Value> = state
        .inner
        .ingest
        .liveness()
        .into_iter()
        .map(|(name, receipt, message)| {
            (
                name,
                json!({ "lastReceiptUnix": receipt, "lastMessageUnix": message }),
            )
        })
        .collect();
    if !liveness.is_empty() {
        body["ingest_liveness"] = Value::Object(liveness);
    }
    Json(body).into_response()
}

/// The reference's `/api/perf` `packetStore` block: what is in memory and how the startup
/// load went (`backgroundLoadComplete` means a terminal state was reached; `backgroundLoadFailed`
/// qualifies it, on every failure path alike).
async fn perf(State(state): State<AppState>) -> Json<Value> {
    let counts = state.inner.store.counts();
    let load = state.inner.store.load_state();
    let mut packet_store = json!({
        "totalLoaded": counts.transmissions,
        "totalObservations": counts.observations,
        "inMemory": counts.transmissions,
        "sqliteOnly": false,
        "trackedMB": process::megabytes(counts.allocated_bytes as u64),
        "rejected": counts.rejected,
        "liveSkipped": counts.live_skipped,
        "longestWriteHoldUs": counts.longest_write_hold_us,
    });
    if let (Value::Object(block), Ok(Value::Object(load))) =
        (&mut packet_store, serde_json::to_value(&load))
    {
        block.extend(load);
    }
    Json(json!({
        "uptime": state.inner.started.elapsed().as_secs(),
        "packetStore": packet_store,
    }))
}

async fn mqtt_status(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "sources": state.inner.ingest.mqtt_sources(),
        "sampleAt": unix_now(),
    }))
}
