//! Small endpoints over data we already hold (spec api.md §2, §4, §8, §9): transport-scope
//! statistics, SQLite page figures and process I/O rates for the perf page, node battery
//! history, the audio lab's samples, and two keyed admin reads (the dropped-packet log and
//! a database backup).
//!
//! The reference's `/api/perf/write-sources` and the `ingestor` block of `/api/perf/io`
//! read its separate ingestor process's stats file. Our ingest runs inside this process:
//! write-sources reports its counters directly, and its disk I/O is already part of
//! `/api/perf/io`, so that block is left out.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use analyzer_db::{DbError, DroppedQuery};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use meshcore_wire::PayloadType;
use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::params::check_api_key;
use crate::params::{Params, param};
use crate::render::{self, round};
use crate::state::AppState;

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(scope_stats))
        .routes(routes!(perf_sqlite))
        .routes(routes!(perf_write_sources))
        .routes(routes!(perf_io))
        .routes(routes!(node_battery))
        .routes(routes!(audio_lab_buckets))
        .routes(routes!(dropped_packets))
        .routes(routes!(backup))
}

// ---------------------------------------------------------------------------------------
// Scope statistics

/// Transport-scope statistics of the transmissions in memory first seen in the window.
///
/// `scoped` counts every transport-scoped transmission (a matched region or an unknown
/// one); `unknownScope` is the part of it whose region matched no configured key;
/// `unscoped` counts the rest, non-transport routes included. `byRegion` lists matched
/// regions, most frequent first. `timeSeries` has one entry per bucket (5 min for `1h`,
/// 1 h for `24h`, 6 h for `7d`), `t` = bucket start, empty buckets included.
#[utoipa::path(get, path = "/api/scope-stats", tag = "health",
    params(("window" = Option<String>, Query, description = "1h, 24h (default) or 7d")),
    responses((status = 200, description = "{window, summary{transportTotal, scoped, unscoped, unknownScope}, byRegion[{name, count}], timeSeries[{t, scoped, unscoped}]}", body = Object),
        (status = 400, description = "Bad window", body = Object)))]
async fn scope_stats(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let window = param(&p, "window").unwrap_or("24h");
    let (span, bucket) = match window {
        "1h" => (3600, 300),
        "24h" => (86_400, 3600),
        "7d" => (7 * 86_400, 6 * 3600),
        _ => return Err(ApiError::bad_request("window must be 1h, 24h, or 7d")),
    };
    let now = state.now();
    let store = state.store().clone();
    let stats = tokio::task::spawn_blocking(move || store.scope_stats(now - span, now, bucket))
        .await
        .map_err(|e| ApiError::internal("scope stats task failed", e))?;
    let by_region: Vec<Value> = stats
        .by_region
        .iter()
        .map(|(name, count)| json!({ "name": name, "count": count }))
        .collect();
    let series: Vec<Value> = stats
        .series
        .iter()
        .map(|b| json!({ "t": render::iso(b.start), "scoped": b.scoped, "unscoped": b.unscoped }))
        .collect();
    Ok(Json(json!({
        "window": window,
        "summary": {
            "transportTotal": stats.transport_total,
            "scoped": stats.scoped,
            "unscoped": stats.unscoped,
            "unknownScope": stats.unknown_scope,
        },
        "byRegion": by_region,
        "timeSeries": series,
    })))
}

// ---------------------------------------------------------------------------------------
// Perf: SQLite and process I/O

/// The ingest writer's counters and commit timings, in the reference's shape: `sources`
/// (process-lifetime counters; `walCommits` and `groupCommitFlushes` are both the
/// committed batches, as every batch is one transaction), `sampleAt`, and `writer_perf`
/// with the one writer component, `mqtt_handler` (wait = the oldest message's time in the
/// queue before its write began, hold = the write transaction; percentiles over the
/// latest 1,024 commits; contention = waits over 100 ms). An empty skeleton when this
/// process runs no ingestion (`serve --follow`).
#[utoipa::path(get, path = "/api/perf/write-sources", tag = "health",
    responses((status = 200, description = "{sources, sampleAt, writer_perf}", body = Object)))]
async fn perf_write_sources(State(state): State<AppState>) -> Json<Value> {
    let Some(w) = state.inner.ingest.write_stats() else {
        return Json(json!({ "sources": {}, "sampleAt": "", "writer_perf": {} }));
    };
    let ms = |v: f64| round(v, 3);
    Json(json!({
        "sources": {
            "tx_inserted": w.tx_inserted,
            "tx_dupes": w.tx_dupes,
            "obs_inserted": w.obs_inserted,
            "node_upserts": w.node_upserts,
            "observer_upserts": w.observer_upserts,
            "write_errors": w.write_errors,
            "sig_drops": w.sig_drops,
            "walCommits": w.commits,
            "groupCommitFlushes": w.commits,
        },
        "sampleAt": render::iso(state.now()),
        "writer_perf": {
            "mqtt_handler": {
                "count": w.commits,
                "contention_total": w.contention_total,
                "wait_ms_p50": ms(w.wait_ms[0]),
                "wait_ms_p95": ms(w.wait_ms[1]),
                "wait_ms_p99": ms(w.wait_ms[2]),
                "wait_ms_max": ms(w.wait_ms[3]),
                "hold_ms_p50": ms(w.hold_ms[0]),
                "hold_ms_p95": ms(w.hold_ms[1]),
                "hold_ms_p99": ms(w.hold_ms[2]),
                "hold_ms_max": ms(w.hold_ms[3]),
            }
        },
    }))
}

/// Page figures of the database file.
///
/// `cacheHitRate` is the reference's analytics-cache hit ratio; this server has no
/// analytics cache yet, so it is `null` rather than an invented number. `cacheSize` is
/// SQLite's `PRAGMA cache_size` of the reading connection (negative = KiB).
#[utoipa::path(get, path = "/api/perf/sqlite", tag = "health",
    responses((status = 200, description = "{walSizeMB, walSize, pageCount, pageSize, cacheSize, cacheHitRate}", body = Object)))]
async fn perf_sqlite(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let pages = state.db("database pages", |r| r.database_pages()).await?;
    Ok(Json(json!({
        "walSizeMB": round(pages.wal_bytes as f64 / 1_048_576.0, 2),
        "walSize": pages.wal_bytes,
        "pageCount": pages.page_count,
        "pageSize": pages.page_size,
        "cacheSize": pages.cache_size,
        "cacheHitRate": Value::Null,
    })))
}

/// Counters of `/proc/self/io`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct IoCounters {
    read_bytes: u64,
    write_bytes: u64,
    cancelled_write_bytes: u64,
    syscr: u64,
    syscw: u64,
}

impl IoCounters {
    fn parse(text: &str) -> Option<Self> {
        let mut c = Self::default();
        let mut seen = 0;
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<u64>() else {
                continue;
            };
            let slot = match key.trim() {
                "read_bytes" => &mut c.read_bytes,
                "write_bytes" => &mut c.write_bytes,
                "cancelled_write_bytes" => &mut c.cancelled_write_bytes,
                "syscr" => &mut c.syscr,
                "syscw" => &mut c.syscw,
                _ => continue,
            };
            *slot = value;
            seen += 1;
        }
        (seen == 5).then_some(c)
    }

    fn read() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/self/io").ok()?)
    }
}

/// The previous `/api/perf/io` sample (the reference keeps one per server).
static LAST_IO: Mutex<Option<(Instant, IoCounters)>> = Mutex::new(None);

/// Per-second rates between two samples `secs` apart (all 0 when `prev` is `None`).
fn io_rates(prev: Option<IoCounters>, cur: IoCounters, secs: f64) -> Value {
    let rate = |f: fn(&IoCounters) -> u64| -> f64 {
        match prev {
            Some(p) if secs > 0.0 => round(f(&cur).saturating_sub(f(&p)) as f64 / secs, 1),
            _ => 0.0,
        }
    };
    json!({
        "readBytesPerSec": rate(|c| c.read_bytes),
        "writeBytesPerSec": rate(|c| c.write_bytes),
        "cancelledWriteBytesPerSec": rate(|c| c.cancelled_write_bytes),
        "syscallsRead": rate(|c| c.syscr),
        "syscallsWrite": rate(|c| c.syscw),
    })
}

/// Disk I/O of this process (`/proc/self/io`) per second since the previous call; every
/// field is 0 on the first call. Ingestion runs inside this process, so its writes are
/// included and there is no separate `ingestor` block as in the reference. The syscall
/// fields are per-second rates too.
#[utoipa::path(get, path = "/api/perf/io", tag = "health",
    responses((status = 200, description = "{readBytesPerSec, writeBytesPerSec, cancelledWriteBytesPerSec, syscallsRead, syscallsWrite}", body = Object),
        (status = 503, description = "/proc/self/io is not readable on this system", body = Object)))]
async fn perf_io() -> Result<Json<Value>, ApiError> {
    let cur = IoCounters::read()
        .ok_or_else(|| ApiError::unavailable("process I/O counters (/proc/self/io) unavailable"))?;
    let now = Instant::now();
    let prev = {
        let mut last = LAST_IO.lock().unwrap_or_else(|e| e.into_inner());
        last.replace((now, cur))
    };
    let body = match prev {
        Some((at, p)) => io_rates(Some(p), cur, now.duration_since(at).as_secs_f64()),
        None => io_rates(None, cur, 0.0),
    };
    Ok(Json(body))
}

// ---------------------------------------------------------------------------------------
// Node battery

/// Battery below this is `low`.
const LOW_MV: i64 = 3300;
/// Battery below this is `critical`.
const CRITICAL_MV: i64 = 3000;

/// `ok`, `low`, `critical` or (no sample) `unknown`.
fn battery_status(latest: Option<i64>) -> &'static str {
    match latest {
        None => "unknown",
        Some(mv) if mv < CRITICAL_MV => "critical",
        Some(mv) if mv < LOW_MV => "low",
        Some(_) => "ok",
    }
}

/// Battery history of a node from `observer_metrics`: only a node that is itself an
/// observer (observer id = public key, any case) reports its battery, so other nodes have
/// no samples and status `unknown`. Blacklisted and hidden nodes are 404, as on every
/// per-node endpoint.
#[utoipa::path(get, path = "/api/nodes/{pubkey}/battery", tag = "nodes",
    params(("pubkey" = String, Path, description = "Full node public key (any case)"),
        ("days" = Option<u32>, Query, description = "Days of history, 1..365 (default 7)")),
    responses((status = 200, description = "{public_key, days, samples[{timestamp, battery_mv}], latest_mv, latest_ts, status, thresholds{low_mv, critical_mv}}", body = Object),
        (status = 400, description = "Bad days", body = Object),
        (status = 404, description = "Node not found", body = Object)))]
async fn node_battery(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let days = match param(&p, "days") {
        None => 7,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=365).contains(d))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "days must be an integer between 1 and 365, got {v:?}"
                ))
            })?,
    };
    let nodes = state.nodes().await?;
    let node = nodes
        .get(pubkey.trim())
        .filter(|row| !is_hidden(&state, row))
        .ok_or_else(|| ApiError::not_found("node not found"))?;
    let public_key = node.public_key.clone();
    let observers = state.observers().await?;
    let samples = match observers.by_id(&public_key) {
        Some(observer) => {
            let id = observer.id.clone();
            let since = state.now() - days * 86_400;
            state
                .db("battery samples", move |r| {
                    r.observer_metrics(Some(&id), since, None)
                })
                .await?
        }
        None => Vec::new(),
    };
    let samples: Vec<(String, i64)> = samples
        .into_iter()
        .filter_map(|m| Some((m.timestamp, m.battery_mv?)))
        .collect();
    let latest = samples.last();
    Ok(Json(json!({
        "public_key": public_key,
        "days": days,
        "samples": samples
            .iter()
            .map(|(t, mv)| json!({ "timestamp": t, "battery_mv": mv }))
            .collect::<Vec<_>>(),
        "latest_mv": latest.map(|s| s.1),
        "latest_ts": latest.map(|s| s.0.clone()),
        "status": battery_status(latest.map(|s| s.1)),
        "thresholds": { "low_mv": LOW_MV, "critical_mv": CRITICAL_MV },
    })))
}

/// True when the API must not show this node (blacklisted key or hidden name prefix).
fn is_hidden(state: &AppState, row: &analyzer_db::NodeRow) -> bool {
    let config = state.config();
    config
        .node_blacklist
        .iter()
        .any(|b| b.trim().eq_ignore_ascii_case(&row.public_key))
        || row.name.as_deref().is_some_and(|name| {
            config
                .hidden_name_prefixes
                .iter()
                .filter(|p| !p.is_empty())
                .any(|p| name.starts_with(p.as_str()))
        })
}

// ---------------------------------------------------------------------------------------
// Audio lab

/// Samples per payload type.
const AUDIO_SAMPLES: usize = 8;

/// Up to 8 transmissions in memory per payload type (reserved types together as
/// `UNKNOWN`), spread evenly over the type's packets sorted by size, smallest first.
/// `observer_id` and `path_json` are those of the best (longest-path) observation,
/// `timestamp` is the first-seen time.
#[utoipa::path(get, path = "/api/audio-lab/buckets", tag = "config",
    responses((status = 200, description = "{buckets{<TYPE>[{hash, raw_hex, decoded_json, observation_count, payload_type, path_json, observer_id, timestamp}]}}", body = Object)))]
async fn audio_lab_buckets(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let observers = state.observers().await?;
    let store = state.store().clone();
    let groups = tokio::task::spawn_blocking(move || {
        store.samples_by_type(AUDIO_SAMPLES, |code| match code {
            Some(code) => PayloadType::from_code(code).name(),
            None => "UNKNOWN",
        })
    })
    .await
    .map_err(|e| ApiError::internal("audio lab task failed", e))?;
    let mut buckets = Map::new();
    for (name, packets) in groups {
        let list: Vec<Value> = packets
            .iter()
            .map(|p| {
                let best = p.best.as_ref();
                let observer_id = best
                    .and_then(|b| b.observer_idx)
                    .and_then(|idx| observers.by_idx(idx))
                    .map(|o| o.id.clone());
                json!({
                    "hash": p.hash.to_string(),
                    "raw_hex": p.raw_hex,
                    "decoded_json": p.decoded_json,
                    "observation_count": p.observation_count,
                    "payload_type": p.payload_type,
                    "path_json": best.map(|b| b.path_json.as_str()),
                    "observer_id": observer_id,
                    "timestamp": render::iso(p.first_seen),
                })
            })
            .collect();
        buckets.insert(name.to_owned(), Value::Array(list));
    }
    Ok(Json(json!({ "buckets": buckets })))
}

// ---------------------------------------------------------------------------------------
// Admin: dropped packets and backup

/// Default and fallback page size of `/api/dropped-packets`.
const DROPPED_DEFAULT: usize = 100;
/// Largest page size honoured; larger requests fall back to the default (as the reference).
const DROPPED_MAX: usize = 500;

/// Packets the ingest refused but kept for operators (today: ADVERTs with an invalid
/// signature), newest first, as a bare array.
///
/// Differs from the reference on purpose: an empty log is `[]`, not `null`. `dropped_at`
/// is ISO-8601 UTC (stored as SQLite `YYYY-MM-DD HH:MM:SS`; an unparsable value is passed
/// through). `raw_hex` is left out when the row has none.
#[utoipa::path(get, path = "/api/dropped-packets", tag = "admin",
    security(("ApiKeyAuth" = [])),
    params(("limit" = Option<u32>, Query, description = "Rows (default 100; above 500 falls back to 100)"),
        ("observer" = Option<String>, Query, description = "Observer id (any case)"),
        ("pubkey" = Option<String>, Query, description = "Node public key (any case)")),
    responses((status = 200, description = "[{id, hash, raw_hex?, reason, observer_id, observer_name, node_pubkey, node_name, dropped_at}]", body = Object),
        (status = 401, description = "Wrong API key", body = Object),
        (status = 403, description = "No or weak API key configured", body = Object)))]
async fn dropped_packets(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    check_api_key(
        state.config().api_key.as_ref().map(|k| k.expose()),
        &headers,
    )?;
    let limit = match param(&p, "limit").and_then(|v| v.parse::<i64>().ok()) {
        Some(n) if n > 0 && n <= DROPPED_MAX as i64 => n as usize,
        _ => DROPPED_DEFAULT,
    };
    let query = DroppedQuery {
        limit,
        observer_id: param(&p, "observer").map(str::to_owned),
        node_pubkey: param(&p, "pubkey").map(str::to_owned),
    };
    let rows = state
        .db("dropped packets", move |r| r.dropped_packets(&query))
        .await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            let mut o = Map::new();
            o.insert("id".into(), json!(row.id));
            o.insert("hash".into(), json!(row.hash));
            if let Some(raw) = row.raw_hex {
                o.insert("raw_hex".into(), json!(raw));
            }
            o.insert("reason".into(), json!(row.reason));
            o.insert("observer_id".into(), json!(row.observer_id));
            o.insert("observer_name".into(), json!(row.observer_name));
            o.insert("node_pubkey".into(), json!(row.node_pubkey));
            o.insert("node_name".into(), json!(row.node_name));
            let dropped_at = row
                .dropped_at
                .map(|t| analyzer_db::time::parse_time(&t).map_or(t, render::iso));
            o.insert("dropped_at".into(), json!(dropped_at));
            Value::Object(o)
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

/// Distinguishes concurrent backups' temporary files.
static BACKUP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh path in the temporary directory for one snapshot.
fn backup_temp_path(now: i64) -> PathBuf {
    let n = BACKUP_SEQ.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "corescope-backup-{now}-{}-{n}.db",
        std::process::id()
    ))
}

/// Bytes per chunk of the streamed backup.
const BACKUP_CHUNK: usize = 64 * 1024;

/// A consistent snapshot of the whole database (`VACUUM INTO` a temporary file, then
/// streamed). The temporary file is unlinked as soon as it is open for streaming, so it
/// never outlives the download (nor a failed one). While the snapshot is written, other
/// database reads of the API wait for it.
#[utoipa::path(get, path = "/api/backup", tag = "admin",
    security(("ApiKeyAuth" = [])),
    responses((status = 200, description = "The SQLite database file (application/octet-stream, attachment corescope-backup-<unix>.db)"),
        (status = 401, description = "Wrong API key", body = Object),
        (status = 403, description = "No or weak API key configured", body = Object),
        (status = 500, description = "Snapshot failed", body = Object),
        (status = 503, description = "Database unavailable", body = Object)))]
async fn backup(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    check_api_key(
        state.config().api_key.as_ref().map(|k| k.expose()),
        &headers,
    )?;
    let now = state.now();
    let path = backup_temp_path(now);
    let target = path.clone();
    let result = state.db_result(move |r| r.snapshot_into(&target)).await?;
    if let Err(e) = result {
        // VACUUM INTO may leave a partial file behind.
        let _ = std::fs::remove_file(&path);
        return Err(match e {
            DbError::Busy => ApiError::unavailable("database busy, try again"),
            e => ApiError::internal("backup snapshot", e),
        });
    }
    let opened = tokio::fs::File::open(&path).await;
    let _ = tokio::fs::remove_file(&path).await;
    let file = opened.map_err(|e| ApiError::internal("backup snapshot open", e))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal("backup snapshot size", e))?
        .len();
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; BACKUP_CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let disposition = format!("attachment; filename=\"corescope-backup-{now}.db\"");
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_counters_parse_and_rate() {
        let a = IoCounters::parse(
            "rchar: 1\nwchar: 2\nsyscr: 10\nsyscw: 20\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n",
        )
        .unwrap();
        let b = IoCounters {
            read_bytes: 4096 + 2048,
            write_bytes: 8192,
            cancelled_write_bytes: 100,
            syscr: 14,
            syscw: 20,
        };
        assert_eq!(
            io_rates(Some(a), b, 2.0),
            json!({"readBytesPerSec": 1024.0, "writeBytesPerSec": 0.0,
                "cancelledWriteBytesPerSec": 50.0, "syscallsRead": 2.0, "syscallsWrite": 0.0})
        );
        assert_eq!(io_rates(None, b, 0.0)["readBytesPerSec"], 0.0);
        assert!(IoCounters::parse("rchar: 1\n").is_none());
    }

    #[test]
    fn battery_thresholds() {
        assert_eq!(battery_status(None), "unknown");
        assert_eq!(battery_status(Some(2999)), "critical");
        assert_eq!(battery_status(Some(3000)), "low");
        assert_eq!(battery_status(Some(3299)), "low");
        assert_eq!(battery_status(Some(3300)), "ok");
    }
}
