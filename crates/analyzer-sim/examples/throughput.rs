//! Generates a database-sized stream and reports its speed and make-up.
//!
//! `cargo run --release -p analyzer-sim --example throughput -- [transmissions] [obs/tx]`
//! (defaults: 325 000 transmissions, 22.5 observations each, i.e. the 7.3M-observation
//! reference database, over 30 days).

use std::collections::BTreeMap;
use std::time::Instant;

use analyzer_sim::{SimConfig, SimEvent, Simulator};

fn main() {
    let mut args = std::env::args().skip(1);
    let transmissions: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(325_000);
    let ratio: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(22.5);
    let base = SimConfig::for_database(1, transmissions, 30.0);
    let started = Instant::now();
    let config = match Simulator::calibrate(&base, ratio) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let calibration = started.elapsed();
    let started = Instant::now();
    let sim = match Simulator::new(config.clone()) {
        Ok(sim) => sim,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let setup = started.elapsed();
    let mut by_type: BTreeMap<u8, u64> = BTreeMap::new();
    let (mut packets, mut statuses, mut malformed, mut bytes, mut tx) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let started = Instant::now();
    let (mut first_ms, mut last_ms) = (None, 0);
    for event in sim {
        first_ms.get_or_insert(event.time_ms());
        last_ms = event.time_ms();
        match event {
            SimEvent::Packet(packet) => {
                packets += 1;
                bytes += packet.raw.len() as u64;
                malformed += u64::from(packet.malformed);
                tx += u64::from(packet.direction == analyzer_sim::Direction::Tx);
                *by_type.entry(packet.raw[0] >> 2 & 15).or_default() += 1;
            }
            SimEvent::Status(_) => statuses += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "calibration {:.2}s (observers {}, capture {:.3}); mesh setup {:.2}s",
        calibration.as_secs_f64(),
        config.observers,
        config.capture_probability,
        setup.as_secs_f64()
    );
    println!(
        "{transmissions} transmissions -> {packets} packet events ({:.1}/tx, {tx} own tx, {malformed} malformed) + {statuses} status events in {elapsed:.2}s = {:.0} events/s, {:.1} MB of frames",
        packets as f64 / transmissions as f64,
        (packets + statuses) as f64 / elapsed,
        bytes as f64 / 1e6
    );
    println!(
        "simulated span {:.1} days",
        (last_ms - first_ms.unwrap_or(last_ms)) as f64 / 86_400_000.0
    );
    println!("packet events by payload type: {by_type:?}");
}
