//! `meshcore-analyzer simulate`: publishes a simulated mesh to an MQTT broker exactly as
//! observer bridges do, for demos against another analyzer and for load tests.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use analyzer_sim::publish::{Pace, PublishOptions, publish};
use analyzer_sim::{SimConfig, Simulator};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::UsageError;

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Broker to publish to (`mqtt://host:port` or `ws://host:port/path`).
    #[arg(long, value_name = "URL", default_value = "mqtt://localhost:1883")]
    mqtt: String,
    /// Messages per second; without it the simulated clock is followed in real time
    /// (scaled by --speed).
    #[arg(long, value_name = "R")]
    rate: Option<f64>,
    /// With no --rate: how many times faster than real time the simulated clock runs.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    speed: f64,
    /// Publish as fast as the broker accepts (overrides --rate and --speed).
    #[arg(long)]
    flat_out: bool,
    /// Stop after this many messages.
    #[arg(long, value_name = "N")]
    messages: Option<u64>,
    /// Nodes in the simulated mesh.
    #[arg(long, value_name = "N", default_value_t = 300)]
    nodes: usize,
    /// Observers publishing.
    #[arg(long, value_name = "N", default_value_t = 16)]
    observers: usize,
    /// Share of frames deliberately malformed (0..1).
    #[arg(long, value_name = "P", default_value_t = 0.002)]
    malformed_rate: f64,
    /// Seed (same seed and settings, same traffic).
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// MQTT user name.
    #[arg(long, value_name = "NAME", requires = "password")]
    username: Option<String>,
    /// MQTT password.
    #[arg(long, value_name = "PASSWORD", requires = "username")]
    password: Option<String>,
}

/// Runs until the message count is reached or Ctrl-C.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let pace = match (args.flat_out, args.rate) {
        (true, _) => Pace::Unlimited,
        (false, Some(rate)) => Pace::Rate(rate),
        (false, None) => Pace::SimulatedTime { speed: args.speed },
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)?;
    let config = SimConfig {
        seed: args.seed,
        nodes: args.nodes,
        observers: args.observers,
        malformed_rate: args.malformed_rate,
        start_ms: now_ms,
        capture_probability: 0.25,
        ..SimConfig::default()
    };
    let simulator = Simulator::new(config).map_err(|e| UsageError(e.to_string()))?;
    eprintln!(
        "Publishing a {}-node mesh with {} observers to {}",
        simulator.mesh().nodes.len(),
        simulator.mesh().observers.len(),
        args.mqtt
    );
    let options = PublishOptions {
        broker: args.mqtt.clone(),
        client_id: format!("meshcore-analyzer-simulate-{}", args.seed),
        credentials: args.username.clone().zip(args.password.clone()),
        pace,
        max_messages: args.messages,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let bar = match args.messages {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} messages ({per_sec})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{elapsed_precise} {spinner} {pos} messages ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(250));
    let counted = {
        let bar = bar.clone();
        simulator.inspect(move |_| bar.inc(1))
    };
    let started = Instant::now();
    let stats = runtime.block_on(async {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        publish(counted, &options, shutdown).await
    });
    bar.finish_and_clear();
    let stats = stats.map_err(|e| match e {
        analyzer_sim::publish::PublishError::BrokerUrl { .. }
        | analyzer_sim::publish::PublishError::InvalidPace => {
            anyhow::Error::new(UsageError(e.to_string()))
        }
        other => anyhow::Error::new(other),
    })?;
    let elapsed = started
        .elapsed()
        .max(Duration::from_millis(1))
        .as_secs_f64();
    eprintln!(
        "Published {} messages ({} packets, {} statuses) in {elapsed:.1} s, {:.0} messages/s",
        stats.total(),
        stats.packets,
        stats.statuses,
        stats.total() as f64 / elapsed
    );
    Ok(())
}
