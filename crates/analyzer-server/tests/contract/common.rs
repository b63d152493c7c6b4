//! The fixed test database every contract test reads, and request helpers.
//!
//! The database is written by the real pipeline (simulator → processor → SQLite writer)
//! from a fixed seed and a fixed start time, so its content, and every JSON answer over
//! it, is the same on every run; the server's clock is fixed at [`NOW`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use analyzer_config::Config;
use analyzer_db::{Storage, WriteBatch};
use analyzer_ingest::RejectCounters;
use analyzer_ingest::process::{Processor, RawMessage, SourceMeta, build_decoder};
use analyzer_server::{AppState, ReaderHandle, router};
use analyzer_sim::{SimConfig, SimEvent, Simulator};
use analyzer_sqlite::{OpenOptions, SqliteReader, SqliteStorage};
use analyzer_store::{LoadConfig, StartupLoader, Store};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Start of the simulated traffic: 2026-01-01T00:00:00Z.
pub const START: i64 = 1_767_225_600;
/// Simulated span: six hours.
pub const SPAN_SECS: i64 = 6 * 3600;
/// The server's fixed "now": one minute after the last packet could have been sent.
pub const NOW: i64 = START + SPAN_SECS + 60;
/// The API key configured in the fixture's config (strong enough to be honoured).
pub const API_KEY: &str = "fixture-api-key-0123456789";

/// Path of the fixture database, written once per test process.
pub fn database() -> &'static Path {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fixture.db");
        write_database(&path);
        (dir, path)
    })
    .1
}

/// The fixture's configuration: regions, the API key, defaults elsewhere.
pub fn config() -> Config {
    serde_json::from_value(serde_json::json!({
        "apiKey": API_KEY,
        "regions": { "SEA": "Seattle", "PAE": "Everett" },
    }))
    .expect("fixture config")
}

/// A fresh state over the fixture database, fully loaded, with the clock at [`NOW`].
pub fn state() -> AppState {
    state_with(config())
}

/// Like [`state`] with another configuration.
pub fn state_with(config: Config) -> AppState {
    state_over(database(), config, NOW)
}

/// A fully loaded state over the database at `path` with the clock at `now`.
pub fn state_over(path: &Path, config: Config, now: i64) -> AppState {
    let options = OpenOptions::default();
    let store = Store::new();
    StartupLoader::new(
        store.clone(),
        SqliteReader::open(path, &options).expect("loader reader"),
        LoadConfig {
            hot_startup_hours: 0.0,
            retention_hours: 0.0,
            chunk_size: 0,
            max_memory_mb: 0,
        },
    )
    .run()
    .expect("fixture load");
    let reader: ReaderHandle = Arc::new(Mutex::new(Box::new(
        SqliteReader::open(path, &options).expect("reader"),
    )));
    AppState::builder(reader, store)
        .config(Arc::new(config))
        .clock(Arc::new(move || now))
        .build()
}

/// A state over the fixture whose store has not loaded anything yet (the first moments of
/// a startup).
pub fn state_unloaded() -> AppState {
    let reader: ReaderHandle = Arc::new(Mutex::new(Box::new(
        SqliteReader::open(database(), &OpenOptions::default()).expect("reader"),
    )));
    AppState::builder(reader, Store::new())
        .config(Arc::new(config()))
        .clock(Arc::new(|| NOW))
        .build()
}

/// The router over a fresh fixture state.
pub fn app() -> Router {
    router(state())
}

/// A response: status, headers and the body parsed as JSON (`Value::Null` when it is not
/// JSON; the raw text is in `text`).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

/// Sends one request to `app`.
pub async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        json,
        text,
    }
}

/// `GET uri`.
pub async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Method::GET, uri, &[], None).await
}

/// `POST uri` with a JSON body.
pub async fn post(app: &Router, uri: &str, body: &str) -> Answer {
    send(app, Method::POST, uri, &[], Some(body)).await
}

fn write_database(path: &Path) {
    let mut config = SimConfig {
        nodes: 60,
        observers: 6,
        start_ms: (START * 1000) as u64,
        end_ms: Some(((START + SPAN_SECS) * 1000) as u64),
        mean_interval_ms: 30_000.0,
        max_packets: Some(600),
        ..SimConfig::default()
    };
    config.seed = 7;
    let simulator = Simulator::new(config).expect("simulator");
    let mut storage = SqliteStorage::open(path, OpenOptions::default()).expect("fixture db");
    let analyzer_config = Config::default();
    let processor = Processor::new(
        &analyzer_config,
        build_decoder(&analyzer_config, None),
        vec![SourceMeta {
            name: "fixture".into(),
            ..SourceMeta::default()
        }],
    );
    let rejects = RejectCounters::default();
    let mut batch = WriteBatch::default();
    for event in simulator {
        let message = analyzer_sim::mqtt::render(&event);
        let raw = RawMessage {
            source: 0,
            topic: &message.topic,
            payload: message.payload.as_bytes(),
            retained: matches!(event, SimEvent::Status(_)) && message.retain,
            now: (event.time_ms() / 1000) as i64,
        };
        processor.process(&raw, &mut batch, &rejects);
        if batch.len() >= 500 {
            storage.write_batch(&batch).expect("fixture batch");
            batch.clear();
        }
    }
    storage.write_batch(&batch).expect("fixture batch");
    storage.checkpoint().expect("checkpoint");
}
