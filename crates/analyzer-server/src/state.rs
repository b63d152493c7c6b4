//! What handlers can see: a storage reader, a view of ingestion, and process facts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use analyzer_db::{StorageReader, StoreStats};
use analyzer_store::Store;

/// A storage reader shared by handlers. Readers are not `Sync` (a SQLite connection is not),
/// so calls take the lock; they run on the blocking pool, never on the async workers.
pub type ReaderHandle = Arc<Mutex<Box<dyn StorageReader + Send>>>;

/// One MQTT source as `/api/mqtt/status` shows it (spec api.md "GET /api/mqtt/status").
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MqttSourceView {
    /// Source name.
    pub name: String,
    /// Broker URL with the password masked.
    pub broker: String,
    /// Whether the client is connected now.
    pub connected: bool,
    /// Unix seconds of the last connect (0 = never).
    pub last_connect_unix: i64,
    /// Unix seconds of the last disconnect (0 = never).
    pub last_disconnect_unix: i64,
    /// Unix seconds of the last message (0 = never).
    pub last_packet_unix: i64,
    /// Connects since start.
    pub connect_count: u64,
    /// Disconnects since start.
    pub disconnect_count: u64,
    /// Messages received since start.
    pub packets_total: u64,
    /// Messages received in the last five minutes.
    pub packets_last5m: u64,
    /// Last connection error, omitted when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// What the server may ask of ingestion. The binary implements it over the ingest crate.
pub trait IngestView: Send + Sync {
    /// Per-source MQTT status.
    fn mqtt_sources(&self) -> Vec<MqttSourceView>;
    /// Per-source liveness for `/api/healthz`: `(name, last receipt unix, last message unix)`.
    fn liveness(&self) -> Vec<(String, i64, i64)> {
        self.mqtt_sources()
            .into_iter()
            .map(|s| (s.name, s.last_packet_unix, s.last_packet_unix))
            .collect()
    }
}

/// An ingest view for a server that runs without ingestion (read-only against a database).
#[derive(Debug, Default)]
pub struct NoIngest;

impl IngestView for NoIngest {
    fn mqtt_sources(&self) -> Vec<MqttSourceView> {
        Vec::new()
    }
}

/// Shared state of every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub reader: ReaderHandle,
    pub ingest: Arc<dyn IngestView>,
    pub started: Instant,
    /// The in-memory packet store; its load state drives the load-status header.
    pub store: Store,
    /// Last stats answer: when it was computed, how long that took, and the value.
    pub stats_cache: Mutex<Option<CachedStats>>,
}

/// A stats answer kept for reuse. Counting rows is cheap on a small database and costs
/// tens of milliseconds on millions of rows, so an answer is reused for twenty times what it
/// cost to compute, between 1 and 10 seconds (the reference always caches for 10 s).
pub(crate) struct CachedStats {
    pub computed_at: Instant,
    pub cost: Duration,
    pub stats: StoreStats,
}

impl CachedStats {
    pub fn is_fresh(&self, now: Instant) -> bool {
        let ttl = (self.cost * 20).clamp(Duration::from_secs(1), Duration::from_secs(10));
        now.duration_since(self.computed_at) < ttl
    }
}

impl AppState {
    /// State over a storage reader, an ingest view and the in-memory store (whose startup
    /// load may still be running).
    pub fn new(reader: ReaderHandle, ingest: Arc<dyn IngestView>, store: Store) -> Self {
        Self {
            inner: Arc::new(Inner {
                reader,
                ingest,
                started: Instant::now(),
                store,
                stats_cache: Mutex::new(None),
            }),
        }
    }

    /// State with no ingestion attached.
    pub fn without_ingest(reader: ReaderHandle, store: Store) -> Self {
        Self::new(reader, Arc::new(NoIngest), store)
    }
}
