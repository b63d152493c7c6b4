//! Write-path benchmark: observations per second through `Storage::write_batch` on a file
//! in a temp dir, and commit latency per batch (median, p99, max).
//!
//! Run with `cargo bench -p analyzer-sqlite --bench write_throughput` (release profile).
//! Optional arguments: `<observations> <batch size> <normal|full>`; by default both
//! synchronous modes are measured. The workload mimics a busy mesh: about 20 observations
//! per transmission from 50 observers, a few paths per transmission, 3 % adverts from
//! 300 nodes, 1 status message per 500 observations, arrivals of neighbouring
//! transmissions interleaved.

use std::time::{Duration, Instant};

use analyzer_db::{
    ContentHash, NodeAdvert, ObserverRef, ObserverStatus, PacketObservation, Storage,
    StorageReader, TransmissionPageQuery, WriteBatch,
};
use analyzer_sqlite::{OpenOptions, SqliteStorage, Synchronous};

const T0: i64 = 1_780_000_000;
const OBSERVERS: u64 = 50;
const OBS_PER_TX: u64 = 20;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Observation `k` of the stream, in arrival order.
fn observation(rng: &mut Rng, tx: u64, k: u64, arrival: u64) -> PacketObservation {
    let is_advert = tx % 33 == 0;
    let observer = (tx * 7 + k * 13 + rng.below(3)) % OBSERVERS;
    let hops = rng.below(3) + (tx % 4);
    let path: Vec<String> = (0..hops)
        .map(|h| format!("\"{:02X}\"", (tx + h * 31 + k % 3) % 256))
        .collect();
    let raw_hex = format!("{:02X}{:02X}{}{}", 0x11, hops, "A1B2".repeat(24), tx);
    let node = tx % 300;
    let key = format!("{node:064x}");
    PacketObservation {
        hash: ContentHash((tx.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes()),
        raw_hex,
        route_type: 1,
        payload_type: if is_advert { 4 } else { 5 },
        payload_version: 0,
        decoded_json: if is_advert {
            format!(
                r#"{{"type":"ADVERT","pubKey":"{key}","name":"Node {node}","lat":37.3,"lon":-121.9,"flags":{{"type":2}}}}"#
            )
        } else {
            format!(
                r#"{{"type":"GRP_TXT","mac":"6ea2","encryptedData":"{}","channelHash":89,"channelHashHex":"59","decryptionStatus":"decryption_failed"}}"#,
                "ab".repeat(40)
            )
        },
        channel_hash: (!is_advert).then(|| "enc_59".to_owned()),
        scope_name: None,
        from_pubkey: is_advert.then(|| key.clone()),
        observer: Some(ObserverRef {
            id: format!("{observer:064X}"),
            name: Some(format!("Observer {observer}")),
            iata: Some("SJC".into()),
        }),
        direction: Some("rx".into()),
        snr: Some(rng.below(40) as f64 / 4.0 - 5.0),
        rssi: Some(-(rng.below(60) as f64) - 60.0),
        score: Some(1000),
        path_json: format!("[{}]", path.join(",")),
        resolved_path: None,
        received_at: T0 + (arrival / 20_000) as i64,
        advert: is_advert.then(|| NodeAdvert {
            public_key: key,
            name: Some(format!("Node {node}")),
            role: Some("repeater".into()),
            lat: Some(37.3),
            lon: Some(-121.9),
            battery_mv: None,
            temperature_c: None,
            foreign: false,
        }),
    }
}

fn run(total: u64, batch_size: usize, sync: Synchronous) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let options = OpenOptions {
        synchronous: sync,
        ..OpenOptions::default()
    };
    let mut store = SqliteStorage::open(&path, options).expect("open");
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    // Build the stream up front so generation cost is not measured: observations of the
    // 8 most recent transmissions are interleaved, as repeats arrive over a few seconds.
    let mut stream = Vec::with_capacity(total as usize);
    let mut pending: Vec<(u64, u64)> = Vec::new(); // (tx, observations emitted)
    let mut next_tx = 0u64;
    while (stream.len() as u64) < total {
        while pending.len() < 8 {
            pending.push((next_tx, 0));
            next_tx += 1;
        }
        let slot = rng.below(pending.len() as u64) as usize;
        let (tx, k) = pending[slot];
        let arrival = stream.len() as u64;
        stream.push(observation(&mut rng, tx, k, arrival));
        if k + 1 == OBS_PER_TX {
            pending.swap_remove(slot);
        } else {
            pending[slot].1 += 1;
        }
    }
    let mut latencies = Vec::new();
    let mut batch = WriteBatch::default();
    let started = Instant::now();
    for (i, chunk) in stream.chunks(batch_size).enumerate() {
        batch.clear();
        batch.packets.extend_from_slice(chunk);
        for s in 0..(chunk.len() / 500) {
            batch.statuses.push(ObserverStatus {
                id: format!("{:064X}", (i * 3 + s) as u64 % OBSERVERS),
                battery_mv: Some(4100),
                noise_floor: Some(-110.0),
                tx_air_secs: Some(80),
                received_at: chunk[0].received_at,
                ..ObserverStatus::default()
            });
        }
        let t = Instant::now();
        store.write_batch(&batch).expect("write");
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let stats = store.stats(T0).expect("stats");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "sync={sync:?} batch={batch_size} observations={total} transmissions={} \
         elapsed={:.2}s rate={:.0} obs/s commit_ms median={:.1} p99={:.1} max={:.1} \
         db_mb={:.1}",
        stats.transmissions,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
            + std::fs::metadata(path.with_extension("db-wal"))
                .map(|m| m.len())
                .unwrap_or(0) as f64
                / 1e6,
    );
    // Startup-style read: newest-first keyset pages of 10,000 transmissions with their
    // observations, over the whole file (what the in-memory store's loader does).
    store.checkpoint().expect("checkpoint");
    let t = Instant::now();
    let (mut n_tx, mut n_obs, mut before) = (0usize, 0usize, None);
    loop {
        let page = store
            .load_transmissions(&TransmissionPageQuery {
                before_id: before,
                min_last_seen: None,
                scan_limit: 10_000,
            })
            .expect("load");
        n_tx += page.transmissions.len();
        n_obs += page
            .transmissions
            .iter()
            .map(|t| t.observations.len())
            .sum::<usize>();
        match page.next_before_id {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let load = t.elapsed();
    println!(
        "  load: {n_tx} transmissions + {n_obs} observations in {:.2}s ({:.0} observations/s)",
        load.as_secs_f64(),
        n_obs as f64 / load.as_secs_f64()
    );
    // A few random repeats of the same observer and path merge into one row.
    assert!(stats.observations <= total && stats.observations > total * 99 / 100);
}

fn main() {
    // `cargo bench` passes `--bench`; ignore flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let total = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let batch = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    match args.get(2).map(String::as_str) {
        Some("full") => run(total, batch, Synchronous::Full),
        Some("normal") => run(total, batch, Synchronous::Normal),
        _ => {
            run(total, batch, Synchronous::Normal);
            run(total / 4, batch, Synchronous::Full);
        }
    }
}
