//! Contract tests of the API over a fake storage reader: field names, headers, error shape.

use std::sync::{Arc, Mutex};

use analyzer_db::{
    DbError, DbResult, NodeRow, ObservationRow, ObserverRow, StorageReader, StoreStats,
    TransmissionPage, TransmissionPageQuery, TransmissionRow, UnixSecs, Watermark,
};
use analyzer_server::{AppState, IngestView, MqttSourceView, ReaderHandle, router};
use analyzer_store::{LoadConfig, StartupLoader, Store};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

struct FakeReader {
    stats: StoreStats,
    /// When set, counts the stats calls, and the `n`-th reports `n` transmissions.
    stats_calls: Option<Arc<std::sync::atomic::AtomicU64>>,
}

impl FakeReader {
    fn new(stats: StoreStats) -> Self {
        Self {
            stats,
            stats_calls: None,
        }
    }
}

impl StorageReader for FakeReader {
    fn stats(&self, _now: UnixSecs) -> DbResult<StoreStats> {
        let Some(calls) = &self.stats_calls else {
            return Ok(self.stats);
        };
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Ok(StoreStats {
            transmissions: n,
            ..self.stats
        })
    }
    fn watermark(&self) -> DbResult<Watermark> {
        Ok(Watermark::default())
    }
    fn load_transmissions(&self, _query: &TransmissionPageQuery) -> DbResult<TransmissionPage> {
        Ok(TransmissionPage::default())
    }
    fn transmissions_after(&self, _after: i64, _limit: usize) -> DbResult<Vec<TransmissionRow>> {
        Ok(Vec::new())
    }
    fn observations_after(&self, _after: i64, _limit: usize) -> DbResult<Vec<ObservationRow>> {
        Ok(Vec::new())
    }
    fn transmission_by_hash(&self, _hash: &str) -> DbResult<TransmissionRow> {
        Err(DbError::NotFound)
    }
    fn observers(&self) -> DbResult<Vec<ObserverRow>> {
        Ok(Vec::new())
    }
    fn nodes(&self) -> DbResult<Vec<NodeRow>> {
        Ok(Vec::new())
    }
}

struct OneSource;

impl IngestView for OneSource {
    fn mqtt_sources(&self) -> Vec<MqttSourceView> {
        vec![MqttSourceView {
            name: "local".into(),
            broker: "mqtt://user:****@localhost:1883".into(),
            connected: true,
            packets_total: 42,
            ..Default::default()
        }]
    }
}

/// State whose store finished its startup load (of an empty database).
fn state(stats: StoreStats) -> AppState {
    let store = Store::new();
    StartupLoader::new(store.clone(), FakeReader::new(stats), load_config())
        .run()
        .expect("empty load");
    state_with_store(stats, store)
}

fn state_with_store(stats: StoreStats, store: Store) -> AppState {
    let reader: ReaderHandle = Arc::new(Mutex::new(Box::new(FakeReader::new(stats))));
    AppState::new(reader, Arc::new(OneSource), store)
}

fn load_config() -> LoadConfig {
    LoadConfig {
        hot_startup_hours: 24.0,
        retention_hours: 0.0,
        chunk_size: 1000,
        max_memory_mb: 0,
    }
}

async fn get(state: AppState, path: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = router(state)
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).expect("JSON body");
    (status, headers, json)
}

#[tokio::test]
async fn stats_has_the_reference_field_names() {
    let stats = StoreStats {
        transmissions: 10,
        observations: 200,
        nodes_active_7d: 3,
        nodes_all_time: 5,
        observers: 2,
        observations_last_hour: 7,
        observations_last_24h: 70,
        repeaters: 1,
        rooms: 1,
        companions: 2,
        sensors: 1,
        signature_drops: 0,
    };
    let (status, headers, body) = get(state(stats), "/api/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-corescope-load-status"], "ready");
    assert_eq!(body["totalPackets"], 10);
    assert_eq!(body["totalTransmissions"], 10);
    assert_eq!(body["totalObservations"], 200);
    assert_eq!(body["totalNodes"], 3);
    assert_eq!(body["totalNodesAllTime"], 5);
    assert_eq!(body["totalObservers"], 2);
    assert_eq!(body["packetsLastHour"], 7);
    assert_eq!(body["packetsLast24h"], 70);
    assert_eq!(body["counts"]["repeaters"], 1);
    assert_eq!(body["counts"]["companions"], 2);
    assert_eq!(body["engine"], "rust");
    assert!(
        body.get("signatureDrops").is_none(),
        "omitted when zero, as the reference does"
    );
}

#[tokio::test]
async fn stale_stats_are_served_while_one_recount_runs_in_the_background() {
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader: ReaderHandle = Arc::new(Mutex::new(Box::new(FakeReader {
        stats: StoreStats::default(),
        stats_calls: Some(Arc::clone(&calls)),
    })));
    let state = AppState::new(reader, Arc::new(OneSource), Store::new());
    let total = |body: &Value| body["totalPackets"].as_u64();
    // The first request waits for the count; the next within the second reuse it.
    let (_, _, body) = get(state.clone(), "/api/stats").await;
    assert_eq!(total(&body), Some(1));
    let (_, _, body) = get(state.clone(), "/api/stats").await;
    assert_eq!(total(&body), Some(1));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Once stale (a cheap count is fresh for one second), the stale answer comes back at
    // once and one recount starts, however many requests arrive.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..3 {
        let (_, _, body) = get(state.clone(), "/api/stats").await;
        assert_eq!(total(&body), Some(1));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, _, body) = get(state.clone(), "/api/stats").await;
        if total(&body) == Some(2) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no recount: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn signature_drops_appear_when_nonzero() {
    let stats = StoreStats {
        signature_drops: 4,
        ..Default::default()
    };
    let (_, _, body) = get(state(stats), "/api/stats").await;
    assert_eq!(body["signatureDrops"], 4);
}

#[tokio::test]
async fn unknown_api_path_is_a_json_404() {
    let (status, headers, body) = get(state(StoreStats::default()), "/api/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["x-corescope-load-status"], "ready");
    assert!(
        body["error"]
            .as_str()
            .expect("error string")
            .contains("/api/nope")
    );
}

#[tokio::test]
async fn mqtt_status_lists_sources_with_reference_field_names() {
    let (status, _, body) = get(state(StoreStats::default()), "/api/mqtt/status").await;
    assert_eq!(status, StatusCode::OK);
    let source = &body["sources"][0];
    assert_eq!(source["name"], "local");
    assert_eq!(source["connected"], true);
    assert_eq!(source["packetsTotal"], 42);
    assert!(source.get("lastError").is_none());
}

#[tokio::test]
async fn healthz_reports_ready_and_liveness() {
    let (status, _, body) = get(state(StoreStats::default()), "/api/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ready"], true);
    assert!(body["ingest_liveness"]["local"].is_object());
}

#[tokio::test]
async fn while_the_hot_window_loads_clients_are_told() {
    let store = Store::new();
    let state = state_with_store(StoreStats::default(), store);
    let (status, headers, body) = get(state.clone(), "/api/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["x-corescope-load-status"], "loading; progress=0");
    assert_eq!(body["ready"], false);
    assert_eq!(body["reason"], "loading");
    let (status, headers, _) = get(state, "/api/stats").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "data endpoints answer during the load"
    );
    assert_eq!(headers["x-corescope-load-status"], "loading; progress=0");
}

/// A real database: after the loader's terminal state, `/api/perf` and `/api/healthz` report
/// what was loaded with the reference's field names.
#[tokio::test]
async fn perf_and_healthz_report_the_finished_load() {
    use analyzer_db::{ContentHash, ObserverRef, PacketObservation, Storage, WriteBatch};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let mut storage =
        analyzer_sqlite::SqliteStorage::open(&path, analyzer_sqlite::OpenOptions::default())
            .expect("open");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let mut batch = WriteBatch::default();
    for n in 0..30u8 {
        batch.packets.push(PacketObservation {
            hash: ContentHash([n, 1, 2, 3, 4, 5, 6, 7]),
            raw_hex: format!("3D00A5{n:02X}"),
            route_type: 1,
            payload_type: 15,
            payload_version: 0,
            decoded_json: r#"{"type":"RAW_CUSTOM"}"#.into(),
            channel_hash: None,
            scope_name: None,
            from_pubkey: None,
            observer: Some(ObserverRef {
                id: "OBS1".into(),
                name: Some("Obs".into()),
                iata: Some("SEA".into()),
            }),
            direction: None,
            snr: Some(5.0),
            rssi: Some(-90.0),
            score: None,
            path_json: "[]".into(),
            resolved_path: None,
            received_at: now - i64::from(n) * 3600,
            advert: None,
        });
    }
    storage.write_batch(&batch).expect("write");
    let reader =
        analyzer_sqlite::SqliteReader::open(&path, &analyzer_sqlite::OpenOptions::default())
            .expect("reader");
    let store = Store::new();
    let load = StartupLoader::new(store.clone(), reader, load_config())
        .run()
        .expect("load");
    assert!(
        load.background_load_complete && !load.background_load_failed,
        "{load:?}"
    );

    let state = state_with_store(StoreStats::default(), store);
    let (status, headers, body) = get(state.clone(), "/api/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-corescope-load-status"], "ready");
    assert_eq!(body["loadedTx"], 30);
    assert_eq!(body["loadedObs"], 30);
    let (_, _, perf) = get(state, "/api/perf").await;
    let block = &perf["packetStore"];
    assert_eq!(block["totalLoaded"], 30);
    assert_eq!(block["backgroundLoadComplete"], true);
    assert_eq!(block["backgroundLoadFailed"], false);
    assert_eq!(block["hotStartupHours"], 24.0);
    assert_eq!(block["loadCoverageRatio"], 1.0);
    assert_eq!(
        block["oldestLoaded"], "",
        "no retention limit: all is loaded, no lower bound"
    );
    assert!(block.get("backgroundLoadError").is_none());
}
