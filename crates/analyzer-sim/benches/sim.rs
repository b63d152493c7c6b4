//! Throughput of the simulator: events generated per second on the default mesh, and the cost
//! of rendering an event as its MQTT message.

use analyzer_sim::{SimConfig, SimEvent, Simulator, mqtt};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TRANSMISSIONS: u64 = 2_000;

fn config() -> SimConfig {
    // A database-like stream: ~22 observations per transmission, status reports included.
    let base = SimConfig::for_database(1, TRANSMISSIONS, 1.0);
    Simulator::calibrate(&base, 22.5).unwrap_or(base)
}

fn generate(c: &mut Criterion) {
    let config = config();
    let events = Simulator::new(config.clone())
        .map(Iterator::count)
        .unwrap_or(0);
    let mut group = c.benchmark_group("simulate");
    group.throughput(Throughput::Elements(events as u64));
    group.sample_size(10);
    group.bench_function("events_2k_transmissions", |b| {
        b.iter(|| {
            Simulator::new(config.clone())
                .map(Iterator::count)
                .unwrap_or(0)
        })
    });
    group.finish();

    let sample: Vec<SimEvent> = Simulator::new(config)
        .map(|sim| sim.take(10_000).collect())
        .unwrap_or_default();
    let mut group = c.benchmark_group("mqtt");
    group.throughput(Throughput::Elements(sample.len() as u64));
    group.bench_function("render_10k_events", |b| {
        b.iter(|| {
            sample
                .iter()
                .map(|e| mqtt::render(e).payload.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);
