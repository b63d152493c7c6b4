//! `meshcore-analyzer gen-db`: writes a database of realistic size in CoreScope's schema,
//! fast, for benchmarks and demos.
//!
//! The simulator's observer stream goes through the same processor as live MQTT ingestion
//! (decode, dedup hash, advert gate, records) and into the SQLite writer in large batches, so
//! the result is what the analyzer would have stored had it listened to that mesh for the
//! given days, ending now.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use analyzer_config::Config;
use analyzer_db::{Storage, WriteBatch};
use analyzer_ingest::RejectCounters;
use analyzer_ingest::process::{Processor, RawMessage, SourceMeta, build_decoder};
use analyzer_sim::{SimConfig, SimEvent, Simulator};
use analyzer_sqlite::{OpenOptions, SqliteStorage};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::UsageError;

/// Arguments of `gen-db`.
#[derive(Debug, clap::Args)]
pub struct GenDbArgs {
    /// Database file to create (must not exist unless --force).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// Transmissions (distinct packets) to store.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    transmissions: u64,
    /// Observations to aim at in total (the simulator is calibrated to this ratio); default
    /// 22.5 per transmission, the ratio of the 325K/7.3M production database the reference's
    /// operators reported.
    #[arg(long, value_name = "M")]
    observations: Option<u64>,
    /// Days the traffic spans, ending now.
    #[arg(long, value_name = "D", default_value_t = 7.0)]
    days: f64,
    /// Nodes in the simulated mesh.
    #[arg(long, value_name = "N", default_value_t = 2_400)]
    nodes: usize,
    /// Observers (more may be added by the calibration to reach the observation count).
    #[arg(long, value_name = "N", default_value_t = 50)]
    observers: usize,
    /// Seed (same seed and settings, same database content).
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Observations per write transaction.
    #[arg(long, value_name = "N", default_value_t = 5_000)]
    batch: usize,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

/// Runs the command.
pub fn run(args: &GenDbArgs) -> anyhow::Result<()> {
    if args.transmissions == 0 {
        return Err(UsageError("--transmissions must be at least 1".into()).into());
    }
    if !(args.days.is_finite() && args.days > 0.0) {
        return Err(UsageError("--days must be a positive number".into()).into());
    }
    if args.out.exists() {
        if !args.force {
            return Err(UsageError(format!(
                "{} exists (use --force to replace it)",
                args.out.display()
            ))
            .into());
        }
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", args.out.display()));
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
    }

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)?;
    let span_ms = (args.days * 86_400_000.0) as u64;
    let mut config = SimConfig {
        nodes: args.nodes,
        observers: args.observers,
        start_ms: now_ms.saturating_sub(span_ms),
        ..SimConfig::for_database(args.seed, args.transmissions, args.days)
    };
    config.validate().map_err(|e| UsageError(e.to_string()))?;
    let observations = args.observations.unwrap_or(args.transmissions * 45 / 2);
    let ratio = observations as f64 / args.transmissions as f64;
    eprintln!("Calibrating the mesh for {ratio:.1} observations per transmission...");
    config = Simulator::calibrate(&config, ratio).map_err(|e| UsageError(e.to_string()))?;
    // The database's rows are distinct dedup hashes, which the simulator does not count (each
    // hop of a TRACE is its own row) and whose rate the calibration only approximates: measure
    // rows per simulated millisecond on a sample and set the packet interval so N rows take
    // the whole span. The stream also ends at the present (never a timestamp in the future)
    // and the loop stops at N rows; a shortfall is reported.
    let rows_per_ms = rows_per_ms(&config, args.transmissions)?;
    let wanted_per_ms = args.transmissions as f64 / span_ms.max(1) as f64;
    config.mean_interval_ms *= rows_per_ms / wanted_per_ms;
    config.max_packets = None;
    config.end_ms = Some(now_ms);
    let start_ms = config.start_ms;
    let simulator = Simulator::new(config).map_err(|e| UsageError(e.to_string()))?;
    eprintln!(
        "Mesh: {} nodes, {} observers; writing {} transmissions over {} days to {}",
        simulator.mesh().nodes.len(),
        simulator.mesh().observers.len(),
        args.transmissions,
        args.days,
        args.out.display()
    );

    let mut storage = SqliteStorage::open(&args.out, OpenOptions::default())
        .with_context(|| format!("creating {}", args.out.display()))?;
    let analyzer_config = Config::default();
    let processor = Processor::new(
        &analyzer_config,
        build_decoder(&analyzer_config, None),
        vec![SourceMeta {
            name: "gen-db".into(),
            ..SourceMeta::default()
        }],
    );
    let rejects = RejectCounters::default();

    let bar = ProgressBar::new(args.transmissions);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} transmissions, {msg} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(250));

    let started = Instant::now();
    let mut batch = WriteBatch::default();
    let mut totals = Totals::default();
    let mut simulator = simulator;
    let mut pace = Pacer::new(start_ms, now_ms, args.transmissions);
    while let Some(event) = simulator.next() {
        if totals.transmissions >= args.transmissions {
            break;
        }
        let message = analyzer_sim::mqtt::render(&event);
        let raw = RawMessage {
            source: 0,
            topic: &message.topic,
            payload: message.payload.as_bytes(),
            retained: matches!(event, SimEvent::Status(_)) && message.retain,
            now: (event.time_ms() / 1000) as i64,
        };
        processor.process(&raw, &mut batch, &rejects);
        if batch.len() >= args.batch {
            totals.write(&mut storage, &mut batch)?;
            if let Some(interval) = pace.adjust(
                event.time_ms(),
                totals.transmissions,
                simulator.config().mean_interval_ms,
            ) {
                simulator.set_mean_interval_ms(interval);
            }
            bar.set_position(totals.transmissions);
            bar.set_message(format!("{} observations", totals.observations));
        }
    }
    totals.write(&mut storage, &mut batch)?;
    storage.checkpoint().context("checkpointing the database")?;
    bar.finish_and_clear();

    let elapsed = started.elapsed().as_secs_f64();
    if totals.transmissions < args.transmissions {
        eprintln!(
            "Note: the simulated {} days produced {} of the {} transmissions asked for; a larger --days or a smaller --transmissions fits better",
            args.days, totals.transmissions, args.transmissions
        );
    }
    let rejected: u64 = rejects.snapshot().iter().map(|(_, n)| n).sum();
    eprintln!(
        "Wrote {} transmissions and {} observations in {elapsed:.1} s ({:.0} observations/s); {rejected} malformed frames rejected as ingestion would",
        totals.transmissions,
        totals.observations,
        totals.observations as f64 / elapsed.max(1e-9),
    );
    Ok(())
}

/// Distinct dedup hashes (database rows) per simulated millisecond, measured on a sample
/// after a warm-up (the first packets of a run are heavier in adverts). The sample grows with
/// the request (6,000 to 20,000 packets): the rate drifts over a long run, and a longer sample
/// follows it better (100,000 rows over 7 days: 5.4 % short with 6,000, 3.4 % with 20,000).
fn rows_per_ms(config: &SimConfig, transmissions: u64) -> anyhow::Result<f64> {
    const WARM_UP: u64 = 2_000;
    let sample_packets = (transmissions / 5).clamp(6_000, 20_000);
    let sample = SimConfig {
        max_packets: Some(WARM_UP + sample_packets),
        end_ms: None,
        status_interval_ms: 0,
        ..config.clone()
    };
    let mut simulator = Simulator::new(sample).map_err(|e| UsageError(e.to_string()))?;
    let mut hashes = std::collections::HashSet::new();
    let mut window: Option<(u64, u64)> = None;
    while let Some(event) = simulator.next() {
        if simulator.packets_observed() <= WARM_UP {
            continue;
        }
        if let SimEvent::Packet(packet) = &event
            && !packet.malformed
            && let Some(hash) = meshcore_wire::packet_hash(&packet.raw)
        {
            hashes.insert(hash);
        }
        let t = event.time_ms();
        window = Some(window.map_or((t, t), |(first, _)| (first, t)));
    }
    let (first, last) = window.unwrap_or((0, 1));
    Ok(hashes.len() as f64 / (last.saturating_sub(first).max(1)) as f64)
}

/// Steers the simulator's packet rate so the N-th row lands at the end of the span: the
/// sampled rate drifts over a long run (several % over 7 days), so after each batch the rate
/// seen since the last adjustment is compared with the rate the remaining rows need in the
/// remaining time, and the packet interval is scaled by their ratio (at most 2x either way).
#[derive(Debug)]
struct Pacer {
    end_ms: u64,
    target: u64,
    /// Simulated time and rows at the last adjustment.
    last: (u64, u64),
    /// Adjust at most once per this much simulated time (1 % of the span).
    every_ms: u64,
}

impl Pacer {
    fn new(start_ms: u64, end_ms: u64, target: u64) -> Self {
        Self {
            end_ms,
            target,
            last: (start_ms, 0),
            every_ms: (end_ms.saturating_sub(start_ms) / 100).max(1),
        }
    }

    /// The new packet interval, if it is time to change it.
    fn adjust(&mut self, now_ms: u64, rows: u64, interval_ms: f64) -> Option<f64> {
        let (last_ms, last_rows) = self.last;
        let elapsed = now_ms.saturating_sub(last_ms);
        if elapsed < self.every_ms || now_ms >= self.end_ms || rows >= self.target {
            return None;
        }
        self.last = (now_ms, rows);
        let seen = rows.saturating_sub(last_rows) as f64 / elapsed as f64;
        let needed = (self.target - rows) as f64 / (self.end_ms - now_ms) as f64;
        if seen <= 0.0 || needed <= 0.0 {
            return None;
        }
        Some(interval_ms * (seen / needed).clamp(0.5, 2.0))
    }
}

#[derive(Debug, Default)]
struct Totals {
    transmissions: u64,
    observations: u64,
}

impl Totals {
    fn write(&mut self, storage: &mut SqliteStorage, batch: &mut WriteBatch) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let outcome = storage.write_batch(batch).context("writing a batch")?;
        self.transmissions += outcome.counters.tx_inserted;
        self.observations += outcome.counters.obs_inserted;
        batch.clear();
        Ok(())
    }
}
