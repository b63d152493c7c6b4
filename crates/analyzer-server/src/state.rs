//! What handlers can see: a storage reader, a view of ingestion, and process facts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::path::PathBuf;

use analyzer_config::{Config, GeoFilter};
use analyzer_db::{DbResult, PacketObservation, PacketWrite, StorageReader, StoreStats};
use analyzer_store::Store;
use meshcore_wire::Decoder;

use crate::directory::{Cached, NodeDir, ObserverDir};
use crate::error::ApiError;
use crate::neighbors::NeighborGraph;
use crate::ws::LiveHub;

/// A storage reader shared by handlers. Readers are not `Sync` (a SQLite connection is not),
/// so calls take the lock; they run on the blocking pool, never on the async workers.
pub type ReaderHandle = Arc<Mutex<Box<dyn StorageReader + Send>>>;

/// The ingest writer as `/api/perf/write-sources` shows it: process-lifetime counters and
/// the commit timings (ms) over the latest commits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteStatsView {
    /// New transmissions.
    pub tx_inserted: u64,
    /// Packets of already known transmissions.
    pub tx_dupes: u64,
    /// New observation rows.
    pub obs_inserted: u64,
    /// Node upserts.
    pub node_upserts: u64,
    /// Observer upserts.
    pub observer_upserts: u64,
    /// Failed write attempts.
    pub write_errors: u64,
    /// Invalid-signature drops recorded.
    pub sig_drops: u64,
    /// Committed batches (one transaction each).
    pub commits: u64,
    /// Commits whose oldest message waited more than 100 ms for its write.
    pub contention_total: u64,
    /// Wait before the write: p50, p95, p99, max (ms).
    pub wait_ms: [f64; 4],
    /// The write transaction: p50, p95, p99, max (ms).
    pub hold_ms: [f64; 4],
}

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
    /// Hands one MQTT-shaped message (topic, JSON payload) to the ingest pipeline, as if
    /// a broker had delivered it (`POST /api/packets`). False when no pipeline is attached
    /// or it is shutting down.
    fn inject(&self, _topic: &str, _payload: &[u8]) -> bool {
        false
    }
    /// The ingest writer's counters and commit timings (`/api/perf/write-sources`);
    /// `None` when no pipeline runs in this process.
    fn write_stats(&self) -> Option<WriteStatsView> {
        None
    }
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
    /// A background refresh of `stats_cache` is running.
    pub stats_refreshing: std::sync::atomic::AtomicBool,
    /// The configuration the server runs with (limits, thresholds, regions, theme, key).
    pub config: Arc<Config>,
    /// The decoder ingestion uses (same channel keys), for `POST /api/decode`.
    pub decoder: Arc<Decoder>,
    /// Live feed of new observations to WebSocket clients.
    pub live: LiveHub,
    /// Snapshot of the observers table.
    pub observers: tokio::sync::Mutex<Option<Cached<ObserverDir>>>,
    /// Snapshot of the nodes table.
    pub nodes: tokio::sync::Mutex<Option<Cached<NodeDir>>>,
    /// The resolved neighbour graph, rebuilt in the background once older than
    /// [`crate::neighbors::MAX_AGE`].
    pub neighbor_graph: tokio::sync::Mutex<Option<Arc<NeighborGraph>>>,
    /// A background rebuild of the neighbour graph is running.
    pub neighbor_graph_rebuilding: AtomicBool,
    /// Set when ingestion wrote an observer the snapshot may lack.
    pub observers_changed: AtomicBool,
    /// Set when ingestion wrote a node (an advert) the snapshot may lack.
    pub nodes_changed: AtomicBool,
    /// "Now" in Unix seconds: the system clock, or a fixed time in tests.
    pub clock: Clock,
    /// Directory `theme.json` is looked up in (`<dir>/theme.json`, `<dir>/data/theme.json`).
    pub config_dir: Option<PathBuf>,
    /// The `config.json` the server runs with; `PUT /api/config/geo-filter` rewrites it.
    pub config_path: Option<PathBuf>,
    /// Allowed CORS origins (`CORS_ALLOWED_ORIGINS` over `corsAllowedOrigins`); empty = off.
    pub cors_origins: Vec<String>,
    /// The geo filter as last saved through the API (starts as `config.geo_filter`).
    pub geo_filter: std::sync::RwLock<Option<GeoFilter>>,
    /// The `Content-Security-Policy` of the web UI's answers (its `img-src` lists the
    /// configured map tile hosts).
    pub csp: axum::http::HeaderValue,
}

/// Where handlers read the current time from.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A stats answer kept for reuse. Counting rows is cheap on a small database and costs
/// tens to hundreds of milliseconds on millions of rows, so an answer is fresh for twenty
/// times what it cost to compute, between 1 and 10 seconds (the reference always caches
/// for 10 s). A stale answer is still served while one background task recounts, so only
/// the very first request waits for the count.
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

/// Builds an [`AppState`]; everything but the reader and the store has a default.
pub struct AppStateBuilder {
    reader: ReaderHandle,
    store: Store,
    ingest: Arc<dyn IngestView>,
    config: Arc<Config>,
    decoder: Option<Arc<Decoder>>,
    clock: Option<Clock>,
    config_dir: Option<PathBuf>,
    config_path: Option<PathBuf>,
    cors_origins: Option<Vec<String>>,
}

impl AppStateBuilder {
    /// The clock (default: the system clock). Tests fix it so time windows ("last 24 h",
    /// node status) are reproducible.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The ingest view (default: none attached).
    pub fn ingest(mut self, ingest: Arc<dyn IngestView>) -> Self {
        self.ingest = ingest;
        self
    }

    /// The configuration (default: an empty `config.json`).
    pub fn config(mut self, config: Arc<Config>) -> Self {
        self.config = config;
        self
    }

    /// The decoder for `POST /api/decode` (default: public channel and bundled hashtags).
    pub fn decoder(mut self, decoder: Arc<Decoder>) -> Self {
        self.decoder = Some(decoder);
        self
    }

    /// The config directory, where `theme.json` is looked up (default: none).
    pub fn config_dir(mut self, dir: PathBuf) -> Self {
        self.config_dir = Some(dir);
        self
    }

    /// The `config.json` file the configuration came from, so `PUT /api/config/geo-filter`
    /// can save into it (default: none; then `<config dir>/config.json` is written).
    pub fn config_path(mut self, path: Option<PathBuf>) -> Self {
        self.config_path = path;
        self
    }

    /// Allowed CORS origins, already resolved (default: `CORS_ALLOWED_ORIGINS` from the
    /// process environment, else `corsAllowedOrigins`).
    pub fn cors_allowed_origins(mut self, origins: Vec<String>) -> Self {
        self.cors_origins = Some(origins);
        self
    }

    /// The state.
    pub fn build(self) -> AppState {
        let decoder = self
            .decoder
            .unwrap_or_else(|| Arc::new(Decoder::builder().build()));
        let cors_origins = self.cors_origins.unwrap_or_else(|| {
            analyzer_config::resolve_cors_origins(
                &self.config,
                &analyzer_config::EnvVars::from_process(),
            )
        });
        let geo_filter = std::sync::RwLock::new(self.config.geo_filter.clone());
        // Observer analytics are answered from aggregates the store keeps on every write
        // from now on (what is loaded already is counted once, here).
        self.store
            .track_observer_analytics(crate::routes::observers::decoded_nodes);
        let csp = crate::assets::content_security_policy(&self.config.extra);
        AppState {
            inner: Arc::new(Inner {
                reader: self.reader,
                ingest: self.ingest,
                started: Instant::now(),
                store: self.store,
                stats_cache: Mutex::new(None),
                stats_refreshing: std::sync::atomic::AtomicBool::new(false),
                config: self.config,
                decoder,
                live: LiveHub::new(),
                observers: tokio::sync::Mutex::new(None),
                nodes: tokio::sync::Mutex::new(None),
                neighbor_graph: tokio::sync::Mutex::new(None),
                neighbor_graph_rebuilding: AtomicBool::new(false),
                observers_changed: AtomicBool::new(false),
                nodes_changed: AtomicBool::new(false),
                clock: self
                    .clock
                    .unwrap_or_else(|| Arc::new(crate::routes::unix_now)),
                config_dir: self.config_dir,
                config_path: self.config_path,
                cors_origins,
                geo_filter,
                csp,
            }),
        }
    }
}

impl AppState {
    /// A builder over a storage reader and the in-memory store (whose startup load may
    /// still be running).
    pub fn builder(reader: ReaderHandle, store: Store) -> AppStateBuilder {
        AppStateBuilder {
            reader,
            store,
            ingest: Arc::new(NoIngest),
            config: Arc::new(Config::default()),
            decoder: None,
            clock: None,
            config_dir: None,
            config_path: None,
            cors_origins: None,
        }
    }

    /// Now, in Unix seconds, from the state's clock. Every time window of the API is
    /// measured from this.
    pub(crate) fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// State over a storage reader, an ingest view and the in-memory store, with the
    /// default configuration.
    pub fn new(reader: ReaderHandle, ingest: Arc<dyn IngestView>, store: Store) -> Self {
        Self::builder(reader, store).ingest(ingest).build()
    }

    /// State with no ingestion attached.
    pub fn without_ingest(reader: ReaderHandle, store: Store) -> Self {
        Self::builder(reader, store).build()
    }

    /// Hands a row ingestion just committed to the live feed (after the store has it), and
    /// notes observer or node changes for the directory snapshots.
    pub fn publish_live(&self, packet: &PacketObservation, write: &PacketWrite) {
        if packet.advert.is_some() {
            self.inner.nodes_changed.store(true, Ordering::Relaxed);
        }
        // A first packet from a new observer: its row exists now, the snapshot lacks it.
        if let Some(idx) = write.observer_idx
            && self
                .observers_now()
                .is_some_and(|dir| dir.by_idx(idx).is_none())
        {
            self.inner.observers_changed.store(true, Ordering::Relaxed);
        }
        self.inner.live.publish(self, packet, write);
    }

    /// Notes that ingestion wrote an observer row (a status message or a new observer).
    pub fn note_observer_change(&self) {
        self.inner.observers_changed.store(true, Ordering::Relaxed);
    }

    /// The in-memory store.
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The geo filter in force: the configured one, or the last one saved through
    /// `PUT /api/config/geo-filter`.
    pub(crate) fn geo_filter(&self) -> Option<GeoFilter> {
        self.inner
            .geo_filter
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The observers snapshot, reloaded when stale.
    pub(crate) async fn observers(&self) -> Result<Arc<ObserverDir>, ApiError> {
        let mut slot = self.inner.observers.lock().await;
        let changed = self.inner.observers_changed.load(Ordering::Relaxed);
        if let Some(cached) = slot.as_ref().filter(|c| c.usable(Instant::now(), changed)) {
            return Ok(cached.value.clone());
        }
        self.inner.observers_changed.store(false, Ordering::Relaxed);
        let rows = self.db("observers", |r| r.observers()).await?;
        let value = Arc::new(ObserverDir::new(rows));
        *slot = Some(Cached {
            value: value.clone(),
            loaded_at: Instant::now(),
        });
        Ok(value)
    }

    /// The observers snapshot if one is loaded, without waiting for the database (for
    /// paths that must not block, such as the live feed).
    pub(crate) fn observers_now(&self) -> Option<Arc<ObserverDir>> {
        let slot = self.inner.observers.try_lock().ok()?;
        slot.as_ref().map(|c| c.value.clone())
    }

    /// The nodes snapshot, reloaded when stale.
    pub(crate) async fn nodes(&self) -> Result<Arc<NodeDir>, ApiError> {
        let mut slot = self.inner.nodes.lock().await;
        let changed = self.inner.nodes_changed.load(Ordering::Relaxed);
        if let Some(cached) = slot.as_ref().filter(|c| c.usable(Instant::now(), changed)) {
            return Ok(cached.value.clone());
        }
        self.inner.nodes_changed.store(false, Ordering::Relaxed);
        let rows = self.db("nodes", |r| r.nodes()).await?;
        let value = Arc::new(NodeDir::new(rows));
        *slot = Some(Cached {
            value: value.clone(),
            loaded_at: Instant::now(),
        });
        Ok(value)
    }

    /// The neighbour graph. The first call builds it; later calls get the current one at
    /// once, and one that finds it older than [`crate::neighbors::MAX_AGE`] starts a
    /// rebuild in the background (so no request waits for a rebuild after the first).
    pub(crate) async fn neighbor_graph(&self) -> Result<Arc<NeighborGraph>, ApiError> {
        let mut slot = self.inner.neighbor_graph.lock().await;
        match slot.as_ref() {
            Some(graph) if graph.built_at.elapsed() < crate::neighbors::MAX_AGE => {
                return Ok(graph.clone());
            }
            Some(graph) => {
                if !self
                    .inner
                    .neighbor_graph_rebuilding
                    .swap(true, Ordering::AcqRel)
                {
                    let state = self.clone();
                    tokio::spawn(async move {
                        match state.build_neighbor_graph().await {
                            Ok(graph) => *state.inner.neighbor_graph.lock().await = Some(graph),
                            Err(e) => tracing::warn!(
                                status = %e.status(),
                                "neighbour graph rebuild failed; keeping the previous one"
                            ),
                        }
                        state
                            .inner
                            .neighbor_graph_rebuilding
                            .store(false, Ordering::Release);
                    });
                }
                return Ok(graph.clone());
            }
            None => {}
        }
        let graph = self.build_neighbor_graph().await?;
        *slot = Some(graph.clone());
        Ok(graph)
    }

    async fn build_neighbor_graph(&self) -> Result<Arc<NeighborGraph>, ApiError> {
        let (nodes, observers) = (self.nodes().await?, self.observers().await?);
        let since = crate::neighbors::window_start(self.config(), self.now());
        let store = self.store().clone();
        crate::params::blocking(move || {
            Arc::new(NeighborGraph::build(&store, &nodes, &observers, since))
        })
        .await
    }

    /// Runs `query` against the storage reader on the blocking pool. Errors become a 500
    /// naming `what` in the log; use [`AppState::db_result`] to handle `NotFound` yourself.
    pub(crate) async fn db<T, F>(&self, what: &'static str, query: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn StorageReader) -> DbResult<T> + Send + 'static,
    {
        self.db_result(query)
            .await?
            .map_err(|e| ApiError::internal(what, e))
    }

    /// Runs `query` against the storage reader on the blocking pool and hands back its
    /// result; only a failed task is an error here.
    pub(crate) async fn db_result<T, F>(&self, query: F) -> Result<DbResult<T>, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn StorageReader) -> DbResult<T> + Send + 'static,
    {
        let reader = self.inner.reader.clone();
        tokio::task::spawn_blocking(move || {
            let reader = reader.lock().unwrap_or_else(|e| e.into_inner());
            query(reader.as_ref())
        })
        .await
        .map_err(|e| ApiError::internal("database task failed", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer_db::{ContentHash, ObservationWrite};

    fn packet() -> PacketObservation {
        PacketObservation {
            hash: ContentHash([1; 8]),
            raw_hex: "1100".into(),
            route_type: 1,
            payload_type: 4,
            payload_version: 0,
            decoded_json: "{}".into(),
            channel_hash: None,
            scope_name: None,
            from_pubkey: None,
            observer: None,
            direction: None,
            snr: None,
            rssi: None,
            score: None,
            path_json: "[]".into(),
            resolved_path: None,
            received_at: 1_767_225_600,
            advert: None,
        }
    }

    /// The first packet of a new observer must make the observers snapshot reload, or lists
    /// show that observer's packets without a name until the snapshot expires.
    #[tokio::test]
    async fn a_packet_from_an_unknown_observer_marks_the_snapshot_stale() {
        use analyzer_sqlite::{OpenOptions, SqliteReader, SqliteStorage};
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("empty.db");
        drop(SqliteStorage::open(&db, OpenOptions::default()).unwrap());
        let reader: Box<dyn StorageReader + Send> =
            Box::new(SqliteReader::open(&db, &OpenOptions::default()).unwrap());
        let state = AppState::builder(Arc::new(Mutex::new(reader)), Store::new()).build();
        assert!(state.observers().await.unwrap().rows().is_empty());
        assert!(!state.inner.observers_changed.load(Ordering::Relaxed));
        let write = PacketWrite {
            transmission_id: 1,
            new_transmission: true,
            observation: ObservationWrite::Inserted(1),
            observer_idx: Some(7),
        };
        state.publish_live(&packet(), &write);
        assert!(state.inner.observers_changed.load(Ordering::Relaxed));
    }
}
