//! MQTT ingestion for the MeshCore analyzer.
//!
//! Data flow: one [`source`] task per broker (rumqttc, QoS 1, persistent session) hands every
//! publish to a bounded queue; the [`writer`] thread turns messages into records
//! ([`process`], [`message`]), commits them in batches through [`writer::BatchWriter`]
//! (any [`analyzer_db::Storage`]) and broadcasts what is new as [`IngestEvent`]s. Nothing is
//! dropped when the writer is behind: the sources stop reading their sockets and the brokers
//! hold the messages in our sessions.
//!
//! ```no_run
//! # async fn run(storage: Box<dyn analyzer_ingest::BatchWriter>) -> Result<(), analyzer_ingest::IngestError> {
//! use analyzer_ingest::{Ingest, IngestOptions, install_crypto_provider, process::build_decoder};
//! install_crypto_provider();
//! let config = analyzer_config::Config::default();
//! let sources = analyzer_config::resolve_sources(&config, &analyzer_config::EnvVars::from_process()).unwrap();
//! let decoder = build_decoder(&config, None);
//! let ingest = Ingest::start(&config, sources, decoder, storage, IngestOptions::from_config(&config))?;
//! let mut events = ingest.subscribe();
//! while let Ok(event) = events.recv().await { /* feed the in-memory store */ }
//! ingest.shutdown().await;
//! # Ok(()) }
//! ```

#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod follow;
pub mod geo;
pub mod maintenance;
pub mod memory;
pub mod message;
pub mod process;
pub mod reject;
pub mod source;
pub mod tls;
pub mod writer;

use std::path::Path;
use std::sync::Arc;

use analyzer_config::{Config, SourceSettings};
use meshcore_wire::Decoder;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

pub use reject::{Reject, RejectCounters};
pub use source::{SourceOptions, SourceSnapshot, SourceStatus};
pub use tls::install_crypto_provider;
pub use writer::{
    BatchWriter, CommitPerf, IngestEvent, IngestStats, Percentiles, StoredPacket, WriterOptions,
};

use crate::process::{Processor, SourceMeta};
use crate::writer::IngestCounters;

/// Why ingestion could not start.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The writer thread could not be spawned.
    #[error("cannot start the ingest writer thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// `start` was called outside a tokio runtime.
    #[error("ingestion must be started from within a tokio runtime")]
    NoRuntime,
}

/// Sizes and timings of the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Source loop tunables (watchdog).
    pub source: SourceOptions,
    /// Writer tunables (batch size, retries).
    pub writer: WriterOptions,
    /// Messages queued between the sources and the writer before sources wait.
    pub queue_capacity: usize,
    /// Events buffered per slow subscriber before it lags.
    pub event_capacity: usize,
}

/// Upper bound of the queue: with back-pressure a bigger buffer only adds latency.
const MAX_QUEUE: usize = 2_048;

impl IngestOptions {
    /// Options from `config.json`: `ingestBufferSize` (capped at 2048) and
    /// `mqtt.watchdogSilenceSec`.
    pub fn from_config(config: &Config) -> Self {
        let silence = std::time::Duration::from_secs(config.watchdog_silence_sec());
        Self {
            source: SourceOptions {
                watchdog_silence: silence,
                watchdog_interval: (silence / 5).min(std::time::Duration::from_secs(60)),
            },
            writer: WriterOptions::default(),
            queue_capacity: config.ingest_buffer_size().clamp(1, MAX_QUEUE),
            event_capacity: 4096,
        }
    }
}

/// Running ingestion: the source tasks and the writer thread.
#[derive(Debug)]
pub struct Ingest {
    statuses: Vec<Arc<SourceStatus>>,
    counters: Arc<IngestCounters>,
    rejects: Arc<RejectCounters>,
    events: broadcast::Sender<IngestEvent>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
    /// The queue's sender for in-process messages; dropped at shutdown so the writer can end
    /// (injectors only hold weak references).
    inject: Option<mpsc::Sender<source::Inbound>>,
    /// Index of the in-process source in the processor's source list.
    inject_source: usize,
}

/// Hands messages to the pipeline in-process, as if an MQTT source had received them: for
/// the simulator's demo traffic when no broker is at hand, and for tools. Cheap to clone;
/// does not keep ingestion alive.
#[derive(Debug, Clone)]
pub struct Injector {
    queue: mpsc::WeakSender<source::Inbound>,
    source: usize,
}

/// Ingestion has stopped; the message was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ingestion has stopped")]
pub struct Stopped;

impl Injector {
    /// Queues one message (topic and payload as an observer publishes them), waiting for room
    /// like an MQTT source does (back-pressure, never a drop).
    pub async fn send(&self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<(), Stopped> {
        let queue = self.queue.upgrade().ok_or(Stopped)?;
        let mut publish = rumqttc::Publish::new(topic, rumqttc::QoS::AtLeastOnce, payload);
        publish.retain = retain;
        let inbound = source::Inbound {
            source: self.source,
            publish,
            received_at: now_unix(),
            received: std::time::Instant::now(),
            ack: None,
        };
        queue.send(inbound).await.map_err(|_| Stopped)
    }
}

impl Ingest {
    /// Starts one task per source and the writer thread. Returns at once: no broker is waited
    /// for, so a dead broker never blocks startup or the other sources.
    pub fn start(
        config: &Config,
        sources: Vec<SourceSettings>,
        decoder: Decoder,
        writer: Box<dyn BatchWriter>,
        options: IngestOptions,
    ) -> Result<Self, IngestError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| IngestError::NoRuntime)?;
        install_crypto_provider();
        let (queue_tx, queue_rx) = mpsc::channel(options.queue_capacity.max(1));
        let (events, _) = broadcast::channel(options.event_capacity.max(1));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let counters = Arc::new(IngestCounters::default());
        let rejects = Arc::new(RejectCounters::default());
        let mut metas: Vec<SourceMeta> = sources.iter().map(SourceMeta::from_settings).collect();
        let inject_source = metas.len();
        metas.push(SourceMeta {
            name: "in-process".into(),
            ..SourceMeta::default()
        });
        let processor = Processor::new(config, decoder, metas);

        let writer_thread = {
            let (events, counters, rejects) = (events.clone(), counters.clone(), rejects.clone());
            let writer_options = options.writer;
            std::thread::Builder::new()
                .name("ingest-writer".into())
                .spawn(move || {
                    writer::run_writer(
                        queue_rx,
                        processor,
                        writer,
                        events,
                        counters,
                        rejects,
                        writer_options,
                    );
                })?
        };
        let mut statuses = Vec::with_capacity(sources.len());
        let mut tasks = Vec::with_capacity(sources.len());
        for (index, settings) in sources.into_iter().enumerate() {
            let status = Arc::new(SourceStatus::new(&settings));
            statuses.push(status.clone());
            tracing::info!(source = %settings.name, broker = %settings.broker_masked(), topics = ?settings.topics,
                client_id = %settings.client_id, "Starting MQTT source");
            tasks.push(runtime.spawn(source::run_source(
                index,
                settings,
                status,
                queue_tx.clone(),
                shutdown_rx.clone(),
                options.source,
            )));
        }
        // The writer ends when every source (each holding a sender) has ended and the
        // injector's sender is dropped at shutdown.
        let inject = Some(queue_tx);
        Ok(Self {
            statuses,
            counters,
            rejects,
            events,
            shutdown,
            tasks,
            writer_thread: Some(writer_thread),
            inject,
            inject_source,
        })
    }

    /// A handle that feeds messages in-process (see [`Injector`]).
    pub fn injector(&self) -> Injector {
        let queue = match &self.inject {
            Some(sender) => sender.downgrade(),
            // Only after shutdown began, which consumes `self`: unreachable in practice.
            None => mpsc::channel::<source::Inbound>(1).0.downgrade(),
        };
        Injector {
            queue,
            source: self.inject_source,
        }
    }

    /// Per-source status, in configured order (`/api/mqtt/status`).
    pub fn source_statuses(&self) -> Vec<SourceSnapshot> {
        self.statuses.iter().map(|s| s.snapshot()).collect()
    }

    /// Waits until every source is connected or `timeout` has passed; returns how many are
    /// connected. For a startup log line only: sources keep retrying in the background either
    /// way, and nothing waits for them.
    pub async fn wait_connected(&self, timeout: std::time::Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let connected = self.statuses.iter().filter(|s| s.is_connected()).count();
            if connected == self.statuses.len() || tokio::time::Instant::now() >= deadline {
                return connected;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Pipeline counters.
    pub fn stats(&self) -> IngestStats {
        self.counters.snapshot()
    }

    /// The writer's commit timings.
    pub fn commit_perf(&self) -> CommitPerf {
        self.counters.commit_perf()
    }

    /// Rejections by reason (non-zero only).
    pub fn rejections(&self) -> Vec<(&'static str, u64)> {
        self.rejects.snapshot()
    }

    /// The count of one rejection reason.
    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejects.get(reason)
    }

    /// New rows as they are committed. A subscriber that falls more than the event capacity
    /// behind gets `RecvError::Lagged` and should reload from storage.
    pub fn subscribe(&self) -> broadcast::Receiver<IngestEvent> {
        self.events.subscribe()
    }

    /// Stops the sources (clean MQTT DISCONNECT, sessions stay on the brokers), then lets the
    /// writer commit everything already queued and waits for it.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        self.inject = None;
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(thread) = self.writer_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Reads the rainbow channel-key file (JSON object name → 32-hex key). A missing file is
/// normal (`None`); an unreadable or malformed one is logged and ignored.
pub fn load_rainbow(path: &Path) -> Option<serde_json::Map<String, serde_json::Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "Cannot read the channel key file");
            return None;
        }
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        _ => {
            tracing::warn!(path = %path.display(), "Channel key file is not a JSON object of name → hex key; ignored");
            None
        }
    }
}

/// Current time in Unix seconds.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
