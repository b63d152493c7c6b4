//! Health, stats, perf and MQTT status (spec api.md §2).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::params::check_api_key;
use crate::perf::Perf;
use crate::process;
use crate::state::{AppState, CachedStats};

/// The health, stats, perf and MQTT status routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(health))
        .routes(routes!(healthz))
        .routes(routes!(mqtt_status))
        .routes(routes!(perf))
        .routes(routes!(perf_reset))
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Counts the database totals and keeps them in the stats cache.
async fn count_stats(state: &AppState) -> Result<analyzer_db::StoreStats, ApiError> {
    let reader = state.inner.reader.clone();
    let now = state.now();
    let started = Instant::now();
    let stats = tokio::task::spawn_blocking(move || {
        let reader = reader.lock().unwrap_or_else(|e| e.into_inner());
        reader.stats(now)
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
    Ok(stats)
}

/// Totals of the database, node counts by role and memory figures (reference field names).
#[utoipa::path(get, path = "/api/stats", tag = "health",
    responses((status = 200, description = "Totals", body = Object)))]
async fn stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let cached = {
        let cache = state
            .inner
            .stats_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache
            .as_ref()
            .map(|c| (c.stats, c.is_fresh(Instant::now())))
    };
    let stats = match cached {
        Some((stats, fresh)) => {
            if !fresh
                && !state
                    .inner
                    .stats_refreshing
                    .swap(true, std::sync::atomic::Ordering::AcqRel)
            {
                let state = state.clone();
                tokio::spawn(async move {
                    // A failure is logged where it happens; the stale answer stays.
                    let _ = count_stats(&state).await;
                    state
                        .inner
                        .stats_refreshing
                        .store(false, std::sync::atomic::Ordering::Release);
                });
            }
            stats
        }
        None => count_stats(&state).await?,
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

/// Liveness and process facts; always 200. `perf` summarises request timings since the
/// last reset (`slowQueries` counts requests over 100 ms, `recentSlow` lists the last five).
#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, description = "Process facts", body = Object)))]
async fn health(
    State(state): State<AppState>,
    Extension(perf): Extension<Arc<Perf>>,
) -> Json<Value> {
    let uptime = state.inner.started.elapsed().as_secs();
    let counts = state.inner.store.counts();
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
        "websocket": { "clients": state.inner.live.clients() },
        "packetStore": {
            "packets": counts.transmissions,
            "trackedMB": process::megabytes(counts.allocated_bytes as u64),
        },
        "perf": perf.health(),
    }))
}

/// Readiness: 503 until the hot window is in memory, then the loaded counts, the load state
/// (terminal state included) and per-source ingest liveness.
#[utoipa::path(get, path = "/api/healthz", tag = "health",
    responses((status = 200, description = "Ready", body = Object),
        (status = 503, description = "Hot window still loading", body = Object)))]
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

/// Request timings since the last reset (`uptime` in seconds since then, `totalRequests`,
/// `avgMs`, `endpoints` keyed by route template with `count`, `avgMs`, `p50Ms`, `p95Ms` over
/// the last 100 requests and `maxMs` since the reset, `slowQueries` = the last 20 requests over
/// 100 ms) and the reference's `packetStore` block: what is in memory and how the startup
/// load went (`backgroundLoadComplete` means a terminal state was reached;
/// `backgroundLoadFailed` qualifies it, on every failure path alike).
#[utoipa::path(get, path = "/api/perf", tag = "health",
    responses((status = 200, description = "Request timings, store and load state", body = Object)))]
async fn perf(
    State(state): State<AppState>,
    Extension(timings): Extension<Arc<Perf>>,
) -> Json<Value> {
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
    let mut body = timings.report();
    body.insert("packetStore".into(), packet_store);
    Json(Value::Object(body))
}

/// Clears the request timings (API key required).
#[utoipa::path(post, path = "/api/perf/reset", tag = "health",
    security(("ApiKeyAuth" = [])),
    responses((status = 200, description = "Cleared: `{\"ok\": true}`", body = Object),
        (status = 401, description = "Wrong or missing X-API-Key", body = Object),
        (status = 403, description = "No API key configured, or a weak one", body = Object)))]
async fn perf_reset(
    State(state): State<AppState>,
    Extension(timings): Extension<Arc<Perf>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    check_api_key(
        state.config().api_key.as_ref().map(|k| k.expose()),
        &headers,
    )?;
    timings.reset();
    Ok(Json(json!({ "ok": true })))
}

/// Per-source MQTT connection status (passwords masked).
#[utoipa::path(get, path = "/api/mqtt/status", tag = "health",
    responses((status = 200, description = "Sources", body = Object)))]
async fn mqtt_status(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "sources": state.inner.ingest.mqtt_sources(),
        "sampleAt": unix_now(),
    }))
}
