//! `meshcore-analyzer serve`: ingestion and the HTTP server in one process.
//!
//! Start-up order: configuration (a bad one stops here, exit code 2), the HTTP listener, the
//! database (created and migrated in place), the embedded broker when configured or when
//! nothing listens on its port, the MQTT sources, and with `--demo` the simulated mesh.
//! Ctrl-C or SIGTERM stops the sources, lets the writer commit what is queued, and exits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use analyzer_config::{EnvVars, Overrides};
use analyzer_ingest::broker::BrokerStart;
use analyzer_ingest::maintenance::MaintainedStorage;
use analyzer_ingest::{Ingest, IngestEvent, IngestOptions, SourceSnapshot};
use analyzer_server::{AppState, IngestView, MqttSourceView, ReaderHandle, WriteStatsView};
use analyzer_sqlite::{OpenOptions, SqliteReader, SqliteStorage};
use analyzer_store::{EvictionPolicy, LoadConfig, StartupLoader, Store};
use anyhow::Context;

use crate::UsageError;
use crate::demo;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// `config.json`, or a directory to look for it in (then in its `data/`).
    #[arg(long, value_name = "PATH", default_value = ".")]
    config: PathBuf,
    /// SQLite database file (overrides `DB_PATH` and `dbPath`).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// HTTP port (overrides `PORT` and `port`).
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Address the HTTP server binds to.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    bind: std::net::IpAddr,
    /// Publish simulated observer traffic while no real observer is publishing.
    #[arg(long)]
    demo: bool,
    /// Seed of the demo mesh (same seed, same mesh and traffic).
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Serve a database another process writes (a second API replica, or beside a separate
    /// ingestor): no MQTT, no writes; new rows are followed by id watermark once a second.
    #[arg(long, conflicts_with = "demo")]
    follow: bool,
}

/// Runs until interrupted.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("analyzer")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let loaded = if args.config.is_file() {
        analyzer_config::load_file(&args.config).map(|config| analyzer_config::Loaded {
            config,
            path: Some(args.config.clone()),
            config_dir: args.config.parent().map(PathBuf::from).unwrap_or_default(),
        })
    } else {
        analyzer_config::load_from_dir(&args.config)
    }
    .map_err(|e| UsageError(e.to_string()))?;
    match &loaded.path {
        Some(path) => tracing::info!(path = %path.display(), "Loaded configuration"),
        None => {
            tracing::info!(dir = %args.config.display(), "No config.json found; using defaults")
        }
    }
    let env = EnvVars::from_process();
    let overrides = Overrides {
        port: args.port,
        db_path: args.db.clone(),
    };
    let settings = loaded
        .settings(&env, &overrides)
        .map_err(|e| UsageError(e.to_string()))?;
    let config = &loaded.config;

    let addr = SocketAddr::new(args.bind, settings.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| UsageError(format!("cannot listen on {addr}: {e}")))?;
    tracing::info!(%addr, "HTTP listener bound");

    if args.follow {
        return follow(args, &loaded, &settings, listener).await;
    }

    let db_path = settings.db_path.clone();
    let storage = tokio::task::spawn_blocking(move || SqliteStorage::open(&db_path, db_options()))
        .await
        .context("opening the database")?
        .with_context(|| format!("opening the database {}", settings.db_path.display()))?;
    tracing::info!(path = %settings.db_path.display(), "Database ready");
    let reader = SqliteReader::open(&settings.db_path, &db_options())
        .with_context(|| format!("opening a reader on {}", settings.db_path.display()))?;
    let reader: ReaderHandle = Arc::new(Mutex::new(Box::new(reader)));
    let store = Store::new();
    let (load_failed_tx, mut load_failed) = tokio::sync::mpsc::channel::<String>(1);
    let exit_on_load_failure = config.packet_store.exit_on_load_failure.unwrap_or(false);
    start_loader(
        &store,
        &settings.db_path,
        config,
        exit_on_load_failure.then_some(load_failed_tx),
    )?;

    let broker = match analyzer_ingest::broker::start_from_config(config) {
        Ok(BrokerStart::Started(addr)) => {
            tracing::info!(%addr, "Embedded MQTT broker listening; observers can publish here");
            Some(addr)
        }
        Ok(BrokerStart::PortInUse(_) | BrokerStart::Disabled) => None,
        Err(error) => return Err(UsageError(error.to_string()).into()),
    };

    let rainbow = analyzer_ingest::load_rainbow(&settings.channel_keys_path);
    let decoder = analyzer_ingest::process::build_decoder(config, rainbow.as_ref());
    tracing::info!(channel_keys = decoder.channel_key_count(), "Decoder ready");
    // `POST /api/decode` decodes with the same keys as ingestion.
    let api_decoder = Arc::new(analyzer_ingest::process::build_decoder(
        config,
        rainbow.as_ref(),
    ));
    let ingest = Ingest::start(
        config,
        settings.sources.clone(),
        decoder,
        Box::new(MaintainedStorage::from_config(storage, config)),
        IngestOptions::from_config(config),
    )
    .context("starting ingestion")?;
    let ingest = Arc::new(ingest);

    let demo = if args.demo {
        Some(demo::spawn(
            args.seed,
            broker,
            ingest.injector(),
            ingest.subscribe(),
        ))
    } else {
        None
    };

    tokio::spawn(evict_periodically(store.clone(), eviction_policy(config)));

    let view: Arc<dyn IngestView> = Arc::new(IngestStatus {
        ingest: ingest.clone(),
        injector: ingest.injector(),
    });
    let state = AppState::builder(reader, store.clone())
        .ingest(view)
        .config(Arc::new(config.clone()))
        .config_dir(loaded.config_dir.clone())
        .config_path(loaded.path.clone())
        .cors_allowed_origins(settings.cors_allowed_origins.clone())
        .decoder(api_decoder)
        .build();
    tokio::spawn(feed_store(store, state.clone(), ingest.subscribe()));
    tracing::info!(url = %format!("http://{}:{}/api/stats", display_host(args.bind), settings.port), "Serving");
    let failure = Arc::new(Mutex::new(None::<String>));
    let stop = {
        let failure = failure.clone();
        async move {
            tokio::select! {
                () = shutdown_signal() => {}
                Some(error) = load_failed.recv() => {
                    *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                }
            }
        }
    };
    analyzer_server::serve(listener, state, stop)
        .await
        .context("HTTP server")?;

    tracing::info!("Shutting down: committing queued messages");
    if let Some(demo) = demo {
        demo.abort();
    }
    let load_failure = failure.lock().unwrap_or_else(|e| e.into_inner()).take();
    match Arc::try_unwrap(ingest) {
        Ok(ingest) => {
            tokio::time::timeout(Duration::from_secs(20), ingest.shutdown())
                .await
                .context("ingestion did not stop within 20 s")?;
        }
        Err(_) => tracing::warn!(
            "Ingestion still referenced at shutdown; queued messages stay with the broker session"
        ),
    }
    match load_failure {
        Some(error) => Err(anyhow::anyhow!(
            "the startup load failed and packetStore.exitOnLoadFailure is set: {error}"
        )),
        None => Ok(()),
    }
}

/// `serve --follow`: the API over a database another process writes. The follower starts at
/// the watermark read before the startup load, so rows written while the store loads are
/// merged too (the store de-duplicates by hash and observation id).
async fn follow(
    args: &ServeArgs,
    loaded: &analyzer_config::Loaded,
    settings: &analyzer_config::Settings,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<()> {
    use analyzer_db::StorageReader;
    use analyzer_ingest::follow::{Follower, NewRows, run_follower};

    let config = &loaded.config;
    let open = || {
        SqliteReader::open(&settings.db_path, &db_options()).with_context(|| {
            format!(
                "opening {} read-only (--follow needs a database that `serve` or CoreScope has already created)",
                settings.db_path.display()
            )
        })
    };
    let follow_reader = open()?;
    let start = follow_reader
        .watermark()
        .context("reading the database's id watermark")?;
    let reader: ReaderHandle = Arc::new(Mutex::new(Box::new(open()?)));
    let store = Store::new();
    let (load_failed_tx, mut load_failed) = tokio::sync::mpsc::channel::<String>(1);
    let exit_on_load_failure = config.packet_store.exit_on_load_failure.unwrap_or(false);
    start_loader(
        &store,
        &settings.db_path,
        config,
        exit_on_load_failure.then_some(load_failed_tx),
    )?;
    tokio::spawn(evict_periodically(store.clone(), eviction_policy(config)));

    let (rows_tx, mut rows_rx) = tokio::sync::mpsc::channel::<NewRows>(4);
    let (stop_follow, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(run_follower(
        Follower::new(follow_reader, start, 5_000),
        Duration::from_secs(1),
        rows_tx,
        stop_rx,
    ));
    let follow_store = store.clone();
    tokio::spawn(async move {
        while let Some(rows) = rows_rx.recv().await {
            let store = follow_store.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if !rows.transmissions.is_empty() {
                    store.merge(analyzer_store::PreparedChunk::from_rows(
                        &rows.transmissions,
                    ));
                }
                if !rows.observations.is_empty() {
                    store.merge(analyzer_store::PreparedChunk::from_late_observations(
                        &rows.observations,
                    ));
                }
            })
            .await;
        }
    });

    let state = AppState::builder(reader, store)
        .config(Arc::new(config.clone()))
        .config_dir(loaded.config_dir.clone())
        .config_path(loaded.path.clone())
        .cors_allowed_origins(settings.cors_allowed_origins.clone())
        .build();
    tracing::info!(
        url = %format!("http://{}:{}/api/stats", display_host(args.bind), settings.port),
        db = %settings.db_path.display(),
        "Serving read-only, following the database"
    );
    let failure = Arc::new(Mutex::new(None::<String>));
    let stop = {
        let failure = failure.clone();
        async move {
            tokio::select! {
                () = shutdown_signal() => {}
                Some(error) = load_failed.recv() => {
                    *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                }
            }
        }
    };
    analyzer_server::serve(listener, state, stop)
        .await
        .context("HTTP server")?;
    let _ = stop_follow.send(true);
    match failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(error) => Err(anyhow::anyhow!(
            "the startup load failed and packetStore.exitOnLoadFailure is set: {error}"
        )),
        None => Ok(()),
    }
}

/// Connection settings for the server's connections: no memory map, whose touched pages
/// would count toward the resident size of a long-running process (the in-memory store is
/// what serves reads), and a smaller page cache per connection.
fn db_options() -> OpenOptions {
    OpenOptions {
        mmap_size: 0,
        cache_size_kib: 16 * 1024,
        ..OpenOptions::default()
    }
}

/// `packetStore.hotStartupHours` when set (0 = one load, no background fill), else 24: the
/// last day is in memory within seconds and the rest fills in behind it.
fn load_config(config: &analyzer_config::Config) -> LoadConfig {
    let store = &config.packet_store;
    LoadConfig {
        hot_startup_hours: store.hot_startup_hours.unwrap_or(24.0).max(0.0),
        retention_hours: store.retention_hours.unwrap_or(0.0).max(0.0),
        chunk_size: config
            .db
            .load
            .chunk_size
            .filter(|n| *n > 0)
            .map_or(0, |n| n as usize),
        max_memory_mb: store
            .max_memory_mb
            .filter(|n| *n > 0)
            .map_or(0, |n| n as u64),
    }
}

fn eviction_policy(config: &analyzer_config::Config) -> EvictionPolicy {
    let load = load_config(config);
    EvictionPolicy {
        retention_secs: (load.retention_hours > 0.0)
            .then_some((load.retention_hours * 3600.0) as i64),
        max_bytes: (load.max_memory_mb > 0).then_some((load.max_memory_mb as usize) << 20),
    }
}

/// Loads the database into `store` on its own thread: the hot window first, then the
/// background fill. Requests are served from the store meanwhile. A failed load is logged;
/// with `exit_on_failure` (`packetStore.exitOnLoadFailure`) its error is also sent there so
/// the process stops with a non-zero exit code.
fn start_loader(
    store: &Store,
    db_path: &std::path::Path,
    config: &analyzer_config::Config,
    exit_on_failure: Option<tokio::sync::mpsc::Sender<String>>,
) -> anyhow::Result<()> {
    let reader = SqliteReader::open(db_path, &db_options())
        .with_context(|| format!("opening the loader's reader on {}", db_path.display()))?;
    let loader = StartupLoader::new(store.clone(), reader, load_config(config));
    std::thread::Builder::new()
        .name("store-loader".into())
        .spawn(move || {
            let failure = match loader.run() {
                Ok(state) if state.background_load_failed => Some(
                    state
                        .background_load_error
                        .unwrap_or_else(|| "unknown".to_owned()),
                ),
                Ok(state) => {
                    tracing::info!(
                        coverage = state.load_coverage_ratio,
                        rows = state.load_progress_rows,
                        "Startup load complete"
                    );
                    None
                }
                Err(error) => Some(error.to_string()),
            };
            if let Some(error) = failure {
                tracing::error!(%error, "Startup load ended failed; serving what was loaded");
                if let Some(exit) = exit_on_failure {
                    let _ = exit.blocking_send(error);
                }
            }
        })
        .context("starting the loader thread")?;
    Ok(())
}

/// Appends every new row ingestion commits to the in-memory store, then to the live feed.
async fn feed_store(
    store: Store,
    state: AppState,
    mut events: tokio::sync::broadcast::Receiver<IngestEvent>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(IngestEvent::Packet(packet)) => {
                store.append(&packet.record, &packet.write);
                state.publish_live(&packet.record, &packet.write);
            }
            Ok(IngestEvent::Observer(_)) => state.note_observer_change(),
            Err(RecvError::Lagged(missed)) => tracing::warn!(
                missed,
                "The in-memory store fell behind ingestion; the missed rows are in the database"
            ),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Evicts by `packetStore.retentionHours` and `packetStore.maxMemoryMB` once a minute.
async fn evict_periodically(store: Store, policy: EvictionPolicy) {
    if policy.retention_secs.is_none() && policy.max_bytes.is_none() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let store = store.clone();
        let _ = tokio::task::spawn_blocking(move || store.evict(now, &policy)).await;
    }
}

fn display_host(ip: std::net::IpAddr) -> String {
    if ip.is_unspecified() {
        "localhost".to_owned()
    } else {
        ip.to_string()
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// The server's view of ingestion.
struct IngestStatus {
    ingest: Arc<Ingest>,
    injector: analyzer_ingest::Injector,
}

impl IngestView for IngestStatus {
    fn inject(&self, topic: &str, payload: &[u8]) -> bool {
        let injector = self.injector.clone();
        let (topic, payload) = (topic.to_owned(), payload.to_vec());
        tokio::spawn(async move {
            if injector.send(&topic, payload, false).await.is_err() {
                tracing::warn!("An API-submitted packet arrived while ingestion was stopping");
            }
        });
        true
    }

    fn write_stats(&self) -> Option<WriteStatsView> {
        let (stats, perf) = (self.ingest.stats(), self.ingest.commit_perf());
        let four = |p: analyzer_ingest::Percentiles| [p.p50, p.p95, p.p99, p.max];
        Some(WriteStatsView {
            tx_inserted: stats.tx_inserted,
            tx_dupes: stats.tx_dupes,
            obs_inserted: stats.obs_inserted,
            node_upserts: stats.node_upserts,
            observer_upserts: stats.observer_upserts,
            write_errors: stats.write_errors,
            sig_drops: stats.dropped_recorded,
            commits: perf.count,
            contention_total: perf.contention_total,
            wait_ms: four(perf.wait_ms),
            hold_ms: four(perf.hold_ms),
        })
    }

    fn mqtt_sources(&self) -> Vec<MqttSourceView> {
        self.ingest
            .source_statuses()
            .into_iter()
            .map(source_view)
            .collect()
    }
}

fn source_view(s: SourceSnapshot) -> MqttSourceView {
    MqttSourceView {
        name: s.name,
        broker: s.broker,
        connected: s.connected,
        last_connect_unix: s.last_connect_unix,
        last_disconnect_unix: s.last_disconnect_unix,
        last_packet_unix: s.last_packet_unix,
        connect_count: s.connect_count,
        disconnect_count: s.disconnect_count,
        packets_total: s.packets_total,
        packets_last5m: s.packets_last_5m,
        last_error: s.last_error,
    }
}
