//! Contract tests of the API over a fake storage reader: field names, headers, error shape.

use std::sync::{Arc, Mutex};

use analyzer_db::{
    DbError, DbResult, NodeRow, ObservationRow, ObserverRow, StorageReader, StoreStats,
    TransmissionPage, TransmissionPageQuery, TransmissionRow, UnixSecs, Watermark,
};
use analyzer_server::{AppState, IngestView, MqttSourceView, ReaderHandle, router};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

struct FakeReader {
    stats: StoreStats,
}

impl StorageReader for FakeReader {
    fn stats(&self, _now: UnixSecs) -> DbResult<StoreStats> {
        Ok(self.stats)
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

fn state(stats: StoreStats) -> AppState {
    let reader: ReaderHandle = Arc::new(Mutex::new(Box::new(FakeReader { stats })));
    AppState::new(reader, Arc::new(OneSource))
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
