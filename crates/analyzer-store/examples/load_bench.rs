//! Startup-load benchmark: loads a database file into a fresh store the way the server
//! does (hot window, then background fill) and prints the timings, the store's accounted
//! bytes, the process RSS, and packet list / detail query latencies measured while the
//! fill runs.
//!
//! `cargo run --release -p analyzer-store --example load_bench -- DB [HOT_HOURS]
//! [RETENTION_HOURS] [CHUNK]` (defaults 24, 192, 10000). `RUST_LOG=info` shows the
//! loader's per-chunk log lines with rate and ETA.

use std::time::{Duration, Instant};

use analyzer_sqlite::{OpenOptions, SqliteReader};
use analyzer_store::{LoadConfig, PacketQuery, PacketsAnswer, StartupLoader, Store};

fn main() {
    let start = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: load_bench DB [HOT_HOURS] [RETENTION_HOURS] [CHUNK]");
        std::process::exit(2);
    };
    let arg = |i: usize, default: f64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let config = LoadConfig {
        hot_startup_hours: arg(2, 24.0),
        retention_hours: arg(3, 192.0),
        chunk_size: arg(4, 10_000.0) as usize,
        max_memory_mb: 0,
    };
    // SQLite's memory map counts towards RSS; LOAD_BENCH_MMAP_MB sets it (default 0).
    let mmap_mb: u64 = std::env::var("LOAD_BENCH_MMAP_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let options = OpenOptions {
        mmap_size: mmap_mb << 20,
        ..OpenOptions::default()
    };
    let reader = match SqliteReader::open(path, &options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot open {path}: {e}");
            std::process::exit(1);
        }
    };
    let store = Store::new();
    // LOAD_BENCH_OBSERVERS=1 keeps the observer analytics' aggregates from the start, as
    // the server does (payload nodes named by a quick scan for "pubKey").
    if std::env::var("LOAD_BENCH_OBSERVERS").is_ok_and(|v| v == "1") {
        store.track_observer_analytics(|json| {
            json.split("\"pubKey\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(|key| vec![key.to_owned()])
                .unwrap_or_default()
        });
    }
    let loader = StartupLoader::new(store.clone(), reader, config);
    let worker = std::thread::spawn(move || loader.run());

    let (mut first_chunk, mut hot) = (None, None);
    let mut list_times = Vec::new();
    let mut detail_times = Vec::new();
    loop {
        let state = store.load_state();
        if first_chunk.is_none() && store.counts().transmissions > 0 {
            first_chunk = Some(start.elapsed());
        }
        if hot.is_none() && state.load_complete {
            hot = Some(start.elapsed());
        }
        if state.background_load_complete {
            break;
        }
        if hot.is_some() {
            // Queries while the fill runs.
            let t = Instant::now();
            let answer = store.packets(&PacketQuery {
                limit: 50,
                ..PacketQuery::default()
            });
            list_times.push(t.elapsed());
            if let PacketsAnswer::Page(page) = answer
                && let Some(p) = page
                    .packets
                    .get(list_times.len() % page.packets.len().max(1))
            {
                let t = Instant::now();
                let _ = store.by_id(p.id);
                detail_times.push(t.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let full = start.elapsed();
    let result = worker.join();
    let state = store.load_state();
    let counts = store.counts();
    let secs =
        |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.3} s", d.as_secs_f64()));
    println!("database            {path}");
    println!(
        "config              hot {} h, retention {} h, chunk {}",
        config.hot_startup_hours, config.retention_hours, config.chunk_size
    );
    println!("first chunk         {}", secs(first_chunk));
    println!("hot window loaded   {}", secs(hot));
    println!("full load           {:.3} s", full.as_secs_f64());
    println!("transmissions       {}", counts.transmissions);
    println!("observations        {}", counts.observations);
    println!(
        "rows/s (tx)         {:.0}",
        counts.transmissions as f64 / full.as_secs_f64()
    );
    println!(
        "rows/s (obs)        {:.0}",
        counts.observations as f64 / full.as_secs_f64()
    );
    println!(
        "store bytes         {} ({:.1} MiB)",
        counts.allocated_bytes,
        counts.allocated_bytes as f64 / 1048576.0
    );
    println!("longest write hold  {} us", counts.longest_write_hold_us);
    println!("distinct paths      {}", counts.distinct_paths);
    println!(
        "state               complete={} failed={} error={:?} coverage={:.4} rows_in_window={}",
        state.background_load_complete,
        state.background_load_failed,
        state.background_load_error,
        state.load_coverage_ratio,
        state.rows_in_window
    );
    println!(
        "loader result       {}",
        if result.is_ok_and(|r| r.is_ok()) {
            "ok"
        } else {
            "error"
        }
    );
    println!(
        "list query (fill)   median {} p99 {} over {}",
        median(&mut list_times, 50),
        median(&mut list_times, 99),
        list_times.len()
    );
    println!(
        "detail query (fill) median {} p99 {} over {}",
        median(&mut detail_times, 50),
        median(&mut detail_times, 99),
        detail_times.len()
    );
    let t = Instant::now();
    let n = 1000;
    for _ in 0..n {
        let _ = store.packets(&PacketQuery {
            limit: 50,
            ..PacketQuery::default()
        });
    }
    println!(
        "list query (idle)   mean {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
    {
        println!("{line}");
    }
}

fn median(times: &mut [Duration], pct: usize) -> String {
    if times.is_empty() {
        return "-".to_owned();
    }
    times.sort_unstable();
    let d = times[(times.len() - 1) * pct / 100];
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}
