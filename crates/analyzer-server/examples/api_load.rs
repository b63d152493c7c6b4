//! Load benchmark of a running server's HTTP API, with a real HTTP client on loopback.
//!
//! ```text
//! cargo run --release -p analyzer-server --example api_load -- [--url URL] [--requests N]
//!     [--concurrency C] [--seconds S] [--only-packets]
//! ```
//!
//! It discovers real ids from the server (packets, nodes, observers, channels), then:
//! 1. per endpoint, one request to each of its first three ids (warm-up; the very first
//!    is reported as `first`, the cold case), then `N` sequential requests cycling over
//!    its ids (default 200): median, p99 and max latency;
//! 2. the packet list with `C` concurrent keep-alive clients for `S` seconds: requests/s.
//!
//! Every read endpoint is covered except `/api/backup` (a copy of the database file) and
//! `/api/dropped-packets` (behind the API key); the POST endpoints are not.
//!
//! `scripts/bench-api.sh DB` starts `serve` on a database and runs this against it, once
//! while the background fill runs (`--only-packets`) and once after the load completed.

use std::time::{Duration, Instant};

use serde_json::Value;

struct Args {
    url: String,
    requests: usize,
    concurrency: usize,
    seconds: u64,
    only_packets: bool,
}

fn args() -> Args {
    let mut a = Args {
        url: "http://127.0.0.1:3000".into(),
        requests: 200,
        concurrency: 8,
        seconds: 5,
        only_packets: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value(),
            "--requests" => a.requests = value().parse().expect("--requests N"),
            "--concurrency" => a.concurrency = value().parse().expect("--concurrency C"),
            "--seconds" => a.seconds = value().parse().expect("--seconds S"),
            "--only-packets" => a.only_packets = true,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.expect("request");
    response.json().await.unwrap_or(Value::Null)
}

fn first_str(v: &Value, list: &str, field: &str, n: usize) -> Vec<String> {
    v[list]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[field].as_str().map(str::to_owned))
                .take(n)
                .collect()
        })
        .unwrap_or_default()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `n` sequential requests cycling through `paths`: (median, p99, max) in ms, errors.
async fn latency(
    client: &reqwest::Client,
    base: &str,
    paths: &[String],
    n: usize,
) -> (f64, f64, f64, f64, usize, u16) {
    let mut ms = Vec::with_capacity(n);
    let mut errors = 0;
    let mut status = 0;
    // Warm-up (connection, caches); the first request, on whatever the previous endpoint
    // left in the caches, is reported on its own.
    let mut first = f64::NAN;
    for p in paths.iter().take(3) {
        let started = Instant::now();
        if let Ok(r) = client.get(format!("{base}{p}")).send().await {
            let _ = r.bytes().await;
        }
        if first.is_nan() {
            first = started.elapsed().as_secs_f64() * 1000.0;
        }
    }
    for i in 0..n {
        let url = format!("{base}{}", paths[i % paths.len()]);
        let started = Instant::now();
        match client.get(&url).send().await {
            Ok(r) => {
                status = r.status().as_u16();
                if !r.status().is_success() {
                    errors += 1;
                }
                let _ = r.bytes().await;
            }
            Err(_) => errors += 1,
        }
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (
        first,
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN),
        errors,
        status,
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let a = args();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let base = a.url.trim_end_matches('/').to_owned();

    let packets = get_json(&client, &format!("{base}/api/packets?limit=200")).await;
    let hashes = first_str(&packets, "packets", "hash", 50);
    let ids: Vec<String> = packets["packets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["id"].as_i64().map(|i| i.to_string()))
                .take(50)
                .collect()
        })
        .unwrap_or_default();
    assert!(!hashes.is_empty(), "the server has no packets: {packets}");
    let nodes = get_json(&client, &format!("{base}/api/nodes?limit=50")).await;
    let keys = first_str(&nodes, "nodes", "public_key", 20);
    let repeaters = get_json(&client, &format!("{base}/api/nodes?limit=20&role=repeater")).await;
    let repeater_keys = first_str(&repeaters, "nodes", "public_key", 20);
    let observers = get_json(&client, &format!("{base}/api/observers")).await;
    let observer_ids = first_str(&observers, "observers", "id", 10);
    let channels = get_json(&client, &format!("{base}/api/channels")).await;
    let channel_hashes = first_str(&channels, "channels", "hash", 5);

    let mut cases: Vec<(String, Vec<String>)> = vec![
        ("GET /api/packets".into(), vec!["/api/packets".into()]),
        (
            "GET /api/packets?limit=50&offset=1000".into(),
            vec!["/api/packets?limit=50&offset=1000".into()],
        ),
        (
            "GET /api/packets/{hash}".into(),
            hashes.iter().map(|h| format!("/api/packets/{h}")).collect(),
        ),
        (
            "GET /api/packets/{id}".into(),
            ids.iter().map(|h| format!("/api/packets/{h}")).collect(),
        ),
    ];
    if !a.only_packets {
        let more: Vec<(String, Vec<String>)> = vec![
            (
                "GET /api/packets?type=4".into(),
                vec!["/api/packets?type=4".into()],
            ),
            (
                "GET /api/packets?groupByHash=true".into(),
                vec!["/api/packets?groupByHash=true".into()],
            ),
            (
                "GET /api/packets?region=SEA".into(),
                vec!["/api/packets?region=SEA".into()],
            ),
            (
                "GET /api/packets?observer={id}".into(),
                observer_ids
                    .iter()
                    .map(|o| format!("/api/packets?observer={o}"))
                    .collect(),
            ),
            (
                "GET /api/packets?node={key}".into(),
                keys.iter()
                    .map(|k| format!("/api/packets?node={k}"))
                    .collect(),
            ),
            ("GET /api/stats".into(), vec!["/api/stats".into()]),
            ("GET /api/health".into(), vec!["/api/health".into()]),
            ("GET /api/healthz".into(), vec!["/api/healthz".into()]),
            ("GET /api/perf".into(), vec!["/api/perf".into()]),
            ("GET /api/nodes".into(), vec!["/api/nodes".into()]),
            (
                "GET /api/nodes/search?q=a".into(),
                vec!["/api/nodes/search?q=a".into()],
            ),
            (
                "GET /api/nodes/bulk-health".into(),
                vec!["/api/nodes/bulk-health".into()],
            ),
            (
                "GET /api/nodes/network-status".into(),
                vec!["/api/nodes/network-status".into()],
            ),
            (
                "GET /api/nodes/{key}".into(),
                keys.iter().map(|k| format!("/api/nodes/{k}")).collect(),
            ),
            (
                "GET /api/nodes/{key}/health".into(),
                keys.iter()
                    .map(|k| format!("/api/nodes/{k}/health"))
                    .collect(),
            ),
            (
                "GET /api/nodes/{key}/paths".into(),
                keys.iter()
                    .map(|k| format!("/api/nodes/{k}/paths"))
                    .collect(),
            ),
            (
                "GET /api/nodes/{key}/analytics".into(),
                keys.iter()
                    .map(|k| format!("/api/nodes/{k}/analytics"))
                    .collect(),
            ),
            (
                "GET /api/nodes/{repeater}/reach".into(),
                repeater_keys
                    .iter()
                    .map(|k| format!("/api/nodes/{k}/reach"))
                    .collect(),
            ),
            ("GET /api/observers".into(), vec!["/api/observers".into()]),
            (
                "GET /api/observers/{id}".into(),
                observer_ids
                    .iter()
                    .map(|o| format!("/api/observers/{o}"))
                    .collect(),
            ),
            (
                "GET /api/observers/{id}/analytics".into(),
                observer_ids
                    .iter()
                    .map(|o| format!("/api/observers/{o}/analytics"))
                    .collect(),
            ),
            ("GET /api/channels".into(), vec!["/api/channels".into()]),
            (
                "GET /api/channels/{hash}/messages".into(),
                channel_hashes
                    .iter()
                    .map(|c| format!("/api/channels/{}/messages", urlencode(c)))
                    .collect(),
            ),
            (
                "GET /api/traces/{hash}".into(),
                hashes.iter().map(|h| format!("/api/traces/{h}")).collect(),
            ),
            (
                "GET /api/config/client".into(),
                vec!["/api/config/client".into()],
            ),
            (
                "GET /api/config/theme".into(),
                vec!["/api/config/theme".into()],
            ),
            (
                "GET /api/config/regions".into(),
                vec!["/api/config/regions".into()],
            ),
        ];
        cases.extend(more);
        // The rest of the read endpoints, each with its reference defaults.
        let since = packets["packets"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|p| p["first_seen"].as_str())
            .map(urlencode)
            .unwrap_or_default();
        let single = |path: &str| (format!("GET {path}"), vec![path.to_owned()]);
        cases.push((
            "GET /api/packets/timestamps?since=…".into(),
            vec![format!("/api/packets/timestamps?since={since}")],
        ));
        cases.push((
            "GET /api/nodes/resolve?prefix=…".into(),
            keys.iter()
                .map(|k| format!("/api/nodes/resolve?prefix={}", &k[..k.len().min(6)]))
                .collect(),
        ));
        cases.push((
            "GET /api/nodes/{key}/battery".into(),
            keys.iter()
                .map(|k| format!("/api/nodes/{k}/battery"))
                .collect(),
        ));
        cases.push((
            "GET /api/observers/{id}/metrics".into(),
            observer_ids
                .iter()
                .map(|o| format!("/api/observers/{o}/metrics"))
                .collect(),
        ));
        for path in [
            "/api/observers/metrics/summary",
            "/api/scope-stats",
            "/api/mqtt/status",
            "/api/perf/io",
            "/api/perf/sqlite",
            "/api/perf/write-sources",
            "/api/config/cache",
            "/api/config/map",
            "/api/config/geo-filter",
            "/api/config/areas",
            "/api/config/areas/polygons",
            "/api/iata-coords",
            "/api/audio-lab/buckets",
        ] {
            cases.push(single(path));
        }
    }

    println!(
        "{:<42} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6}",
        "endpoint", "first ms", "p50 ms", "p99 ms", "max ms", "errors", "status"
    );
    for (name, paths) in &cases {
        if paths.is_empty() {
            println!("{name:<42} (no ids discovered; skipped)");
            continue;
        }
        let (first, p50, p99, max, errors, status) =
            latency(&client, &base, paths, a.requests).await;
        println!(
            "{name:<42} {first:>9.3} {p50:>9.3} {p99:>9.3} {max:>9.3} {errors:>7} {status:>6}"
        );
    }

    // Throughput of the packet list with concurrent keep-alive clients.
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let client = client.clone();
        let url = format!("{base}/api/packets");
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                if let Ok(r) = client.get(&url).send().await {
                    let _ = r.bytes().await;
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    println!(
        "GET /api/packets throughput: {:.0} requests/s ({} clients, {} s)",
        total as f64 / a.seconds as f64,
        a.concurrency,
        a.seconds
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
