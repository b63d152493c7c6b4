//! Publishes simulated traffic flat out to an in-process broker and reports messages/s.
//!
//! `cargo run --release -p analyzer-sim --example publish_load -- [messages]` (default 200 000).

use std::time::Instant;

use analyzer_sim::publish::{Pace, PublishOptions, publish};
use analyzer_sim::{SimConfig, Simulator};

#[tokio::main]
async fn main() {
    let messages: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let addr = match analyzer_ingest::broker::start("127.0.0.1:0".parse().expect("address")) {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("broker: {error}");
            std::process::exit(2);
        }
    };
    let sim = match Simulator::new(SimConfig::default()) {
        Ok(sim) => sim,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let options = PublishOptions {
        broker: format!("mqtt://127.0.0.1:{}", addr.port()),
        client_id: "analyzer-sim-load".to_owned(),
        credentials: None,
        pace: Pace::Unlimited,
        max_messages: Some(messages),
    };
    let started = Instant::now();
    match publish(sim, &options, std::future::pending()).await {
        Ok(stats) => {
            let elapsed = started.elapsed().as_secs_f64();
            println!(
                "{} messages ({} packets, {} status) in {elapsed:.2}s = {:.0} messages/s (generation included)",
                stats.total(),
                stats.packets,
                stats.statuses,
                stats.total() as f64 / elapsed
            );
        }
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}
