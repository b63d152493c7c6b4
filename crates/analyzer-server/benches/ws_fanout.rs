//! Load benchmark of the live feed: many WebSocket clients on loopback, a steady packet rate.
//!
//! ```text
//! cargo bench -p analyzer-server --bench ws_fanout -- [SECONDS] [--clients N] [--rate R]
//! ```
//!
//! Defaults: 30 s, 1,000 clients, 200 packets/s (the goal: 1,000 clients fed 200 packets/s
//! with no growth in memory). The server (router, live hub, in-memory store with the
//! transmissions the observations belong to) runs in this process; the clients run in a
//! child process (this binary again, with `WS_FANOUT_CHILD` set), so the resident memory
//! reported for the server is the server's alone. Every published observation carries its
//! publish time (Unix µs) in `decoded_json`; clients measure latency against the same
//! clock. Printed: delivered messages per client, lag notices, end-to-end latency
//! p50/p99/max, the cost of one publish, and the server's RSS at start, middle and end.

use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use analyzer_db::{
    ContentHash, ObservationWrite, ObserverRef, PacketObservation, PacketWrite, StorageReader,
};
use analyzer_server::{AppState, ReaderHandle, router};
use analyzer_sqlite::{OpenOptions, SqliteReader, SqliteStorage};
use analyzer_store::Store;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

/// Transmissions preloaded into the store; published observations cycle over them.
const TRANSMISSIONS: i64 = 1_000;

fn main() {
    if let Ok(addr) = std::env::var("WS_FANOUT_CHILD") {
        child(&addr);
        return;
    }
    let args = Args::parse();
    if let Err(error) = parent(&args) {
        eprintln!("ws_fanout: {error}");
        std::process::exit(1);
    }
}

struct Args {
    seconds: u64,
    clients: usize,
    rate: u64,
}

impl Args {
    fn parse() -> Self {
        let mut args = Args {
            seconds: 30,
            clients: 1_000,
            rate: 200,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = |name: &str| -> u64 {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{name} needs a number"))
            };
            match arg.as_str() {
                "--clients" => args.clients = value("--clients") as usize,
                "--rate" => args.rate = value("--rate").max(1),
                "--bench" => {}
                other => match other.parse() {
                    Ok(secs) => args.seconds = secs,
                    Err(_) => panic!("unknown argument {other:?}"),
                },
            }
        }
        args
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Resident set size of this process in kB.
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of this process so far, assuming the usual 100 ticks/s.
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let user: u64 = f.get(11)?.parse().ok()?;
            let system: u64 = f.get(12)?.parse().ok()?;
            Some((user + system) as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

/// Soft open-file limit; raised with `prlimit` when below `needed`.
fn ensure_nofile(needed: u64) -> Result<(), String> {
    let soft = || -> Option<(u64, u64)> {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        let mut fields = line.split_whitespace().skip(3);
        let parse = |v: Option<&str>| match v {
            Some("unlimited") => Some(u64::MAX),
            Some(v) => v.parse().ok(),
            None => None,
        };
        Some((parse(fields.next())?, parse(fields.next())?))
    };
    let (current, hard) = soft().ok_or("cannot read /proc/self/limits")?;
    if current >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(format!(
            "open-file limit {current} (hard {hard}) is below the {needed} this run needs; \
             raise it (e.g. `ulimit -n {needed}` as root) or use fewer --clients"
        ));
    }
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={needed}:{hard}"))
        .status();
    match (status, soft()) {
        (Ok(s), Some((now, _))) if s.success() && now >= needed => Ok(()),
        _ => Err(format!(
            "open-file limit {current} is below the {needed} this run needs and could not be \
             raised; run `ulimit -n {needed}` first"
        )),
    }
}

/// One observation of transmission `tx`, carrying `seq` and the publish time.
fn observation(tx: i64, seq: u64, sent_us: u64) -> (PacketObservation, PacketWrite) {
    let mut hash = [0u8; 8];
    hash.copy_from_slice(&tx.to_be_bytes());
    let observer = (tx % 8) as u8;
    let packet = PacketObservation {
        hash: ContentHash(hash),
        // A GRP_TXT-sized frame: header, 3 hops, ~60 bytes of payload.
        raw_hex: format!("1503A1B2C3{}{:016X}", "5A".repeat(60), tx),
        route_type: 1,
        payload_type: 5,
        payload_version: 0,
        decoded_json: format!(
            r#"{{"type":"CHAN","channel":"Public","channelHash":17,"sender":"Bench node {observer}","text":"Hello mesh, this is a benchmark message of ordinary length.","sender_timestamp":1767225600,"seq":{seq},"sent_us":{sent_us}}}"#
        ),
        channel_hash: Some("Public".into()),
        scope_name: None,
        from_pubkey: None,
        observer: Some(ObserverRef {
            id: format!(
                "{observer:02X}C0FFEE00112233445566778899AABBCCDDEEFF00112233445566778899AABB"
            ),
            name: Some(format!("Observer {observer}")),
            iata: Some(["SEA", "PAE", "TIW", "BFI"][usize::from(observer % 4)].into()),
        }),
        direction: Some("rx".into()),
        snr: Some(7.25),
        rssi: Some(-96.0),
        score: None,
        path_json: r#"["A1","B2","C3"]"#.into(),
        resolved_path: None,
        received_at: 1_767_225_600 + tx,
        advert: None,
    };
    let write = PacketWrite {
        transmission_id: tx,
        new_transmission: seq == u64::MAX,
        observation: ObservationWrite::Inserted(tx * 10 + (seq % 10) as i64),
        observer_idx: Some(i64::from(observer) + 1),
    };
    (packet, write)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn parent(args: &Args) -> Result<(), String> {
    ensure_nofile(args.clients as u64 + 256)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run(args))
}

async fn run(args: &Args) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = dir.path().join("bench.db");
    drop(SqliteStorage::open(&db, OpenOptions::default()).map_err(|e| e.to_string())?);
    let reader: Box<dyn StorageReader + Send> =
        Box::new(SqliteReader::open(&db, &OpenOptions::default()).map_err(|e| e.to_string())?);
    let reader: ReaderHandle = Arc::new(Mutex::new(reader));
    let store = Store::new();
    // The transmissions the published observations belong to, three observations each
    // (the binary appends a row to the store before publishing it).
    for tx in 1..=TRANSMISSIONS {
        for seq in 0..3 {
            let (packet, mut write) = observation(tx, seq, 0);
            write.new_transmission = seq == 0;
            store.append(&packet, &write);
        }
    }
    let state = AppState::builder(reader, store).build();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(axum::serve(listener, router(state.clone())).into_future());

    let total = args.rate * args.seconds;
    println!(
        "ws_fanout: {} clients, {} packets/s for {} s ({} packets), server on {addr}",
        args.clients, args.rate, args.seconds, total
    );
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .env("WS_FANOUT_CHILD", addr.to_string())
        .env("WS_FANOUT_CLIENTS", args.clients.to_string())
        .env("WS_FANOUT_TOTAL", total.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting the client process: {e}"))?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let connect_started = Instant::now();
    match tokio::time::timeout(Duration::from_secs(120), lines.recv()).await {
        Ok(Some(line)) if line == "READY" => {}
        other => return Err(format!("client process did not connect: {other:?}")),
    }
    while state.live().clients() < args.clients {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connect_time = connect_started.elapsed();
    let rss_connected = rss_kb();

    // Publish at a steady rate.
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / args.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut publish_ns: Vec<u64> = Vec::with_capacity(total as usize);
    let mut rss_samples = vec![("connected".to_owned(), rss_connected)];
    let cpu_start = cpu_secs();
    let started = Instant::now();
    for seq in 0..total {
        tick.tick().await;
        let tx = (seq as i64 % TRANSMISSIONS) + 1;
        let (packet, write) = observation(tx, seq, now_us());
        let t = Instant::now();
        state.publish_live(&packet, &write);
        publish_ns.push(t.elapsed().as_nanos() as u64);
        if total >= 10 && seq > 0 && seq % (total / 10) == 0 {
            rss_samples.push((format!("{} %", seq * 100 / total), rss_kb()));
        }
    }
    let publish_time = started.elapsed();
    let server_cpu = cpu_secs() - cpu_start;
    rss_samples.push(("end".to_owned(), rss_kb()));

    let result = match tokio::time::timeout(Duration::from_secs(60), lines.recv()).await {
        Ok(Some(line)) => line,
        other => return Err(format!("no result from the client process: {other:?}")),
    };
    let _ = child.wait();
    let stats = state.live().stats();
    server.abort();

    let r: serde_json::Value =
        serde_json::from_str(&result).map_err(|e| format!("bad result {result:?}: {e}"))?;
    publish_ns.sort_unstable();
    let u = |k: &str| r[k].as_u64().unwrap_or(0);
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| clients connected | {} (in {:.1} s) |",
        args.clients,
        connect_time.as_secs_f64()
    );
    println!(
        "| packets published | {} in {:.1} s ({:.0}/s) |",
        total,
        publish_time.as_secs_f64(),
        total as f64 / publish_time.as_secs_f64()
    );
    println!(
        "| messages delivered per client | min {} / avg {:.1} / max {} of {} |",
        u("min"),
        r["avg"].as_f64().unwrap_or(0.0),
        u("max"),
        total
    );
    println!(
        "| messages delivered in all | {} ({:.0}/s) |",
        u("delivered"),
        u("delivered") as f64 / publish_time.as_secs_f64()
    );
    println!(
        "| clients that got everything | {} of {} |",
        u("complete"),
        args.clients
    );
    println!(
        "| lag notices (clients / missed msgs) | {} / {} (server: {} / {}) |",
        u("lagged_clients"),
        u("missed"),
        stats.lag_events,
        stats.missed
    );
    println!("| disconnected early | {} |", u("closed_early"));
    println!(
        "| latency publish→receive p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        u("p50_us") as f64 / 1000.0,
        u("p99_us") as f64 / 1000.0,
        u("max_us") as f64 / 1000.0
    );
    println!(
        "| publish() cost p50 / p99 / max | {:.1} / {:.1} / {:.1} µs |",
        percentile(&publish_ns, 0.5) as f64 / 1000.0,
        percentile(&publish_ns, 0.99) as f64 / 1000.0,
        publish_ns.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    println!("| message size | {} bytes |", u("avg_len"));
    println!(
        "| CPU while publishing: server / clients | {:.0} % / {:.0} % of one core |",
        100.0 * server_cpu / publish_time.as_secs_f64(),
        100.0 * r["cpu_secs"].as_f64().unwrap_or(0.0) / publish_time.as_secs_f64()
    );
    let rss: Vec<String> = rss_samples
        .iter()
        .map(|(label, kb)| format!("{label}: {:.1}", *kb as f64 / 1024.0))
        .collect();
    println!("| server RSS (MB) | {} |", rss.join(", "));
    println!(
        "| client process RSS end | {:.1} MB |",
        u("rss_kb") as f64 / 1024.0
    );
    let _ = std::io::stdout().flush();
    Ok(())
}

/// Per-client result.
#[derive(Default)]
struct ClientResult {
    delivered: u64,
    bytes: u64,
    missed: u64,
    lagged: bool,
    closed_early: bool,
    latencies_us: Vec<u32>,
}

fn field(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits: &str = &text[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The client process: connects, reports READY, reads until every packet arrived (or the
/// feed has been quiet for 5 s), prints one JSON line of results.
fn child(addr: &str) {
    let clients: usize = std::env::var("WS_FANOUT_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let total: u64 = std::env::var("WS_FANOUT_TOTAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let addr: SocketAddr = addr.parse().expect("address");
    if let Err(error) = ensure_nofile(clients as u64 + 256) {
        eprintln!("ws_fanout client: {error}");
        std::process::exit(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let mut sockets = Vec::with_capacity(clients);
        for _ in 0..clients {
            let mut tries = 0;
            let socket = loop {
                match tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
                    Ok((socket, _)) => break socket,
                    Err(e) if tries < 5 => {
                        tries += 1;
                        eprintln!("ws_fanout client: connect failed ({e}), retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("connect: {e}"),
                }
            };
            sockets.push(socket);
        }
        println!("READY");
        let _ = std::io::stdout().flush();
        let cpu_ready = cpu_secs();
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|mut socket| {
                tokio::spawn(async move {
                    let mut r = ClientResult {
                        latencies_us: Vec::with_capacity(total as usize),
                        ..ClientResult::default()
                    };
                    loop {
                        let next =
                            tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
                        let Ok(Some(Ok(frame))) = next else {
                            r.closed_early = next.is_ok();
                            break;
                        };
                        let Message::Text(text) = frame else { continue };
                        let text = text.as_str();
                        if text.starts_with("{\"type\":\"lagged\"") {
                            r.lagged = true;
                            r.missed += field(text, "\"missed\":").unwrap_or(0);
                        } else if let Some(sent) = field(text, "\"sent_us\":") {
                            r.latencies_us
                                    .push(now_us().saturating_sub(sent).min(u64::from(u32::MAX))
                                        as u32);
                            r.delivered += 1;
                            r.bytes += text.len() as u64;
                            if field(text, "\"seq\":") == Some(total - 1) {
                                break;
                            }
                        }
                        if r.delivered + r.missed >= total {
                            break;
                        }
                    }
                    r
                })
            })
            .collect();
        let mut results = Vec::with_capacity(clients);
        for task in tasks {
            results.push(task.await.expect("client task"));
        }
        let mut latencies: Vec<u32> = results
            .iter_mut()
            .flat_map(|r| std::mem::take(&mut r.latencies_us))
            .collect();
        latencies.sort_unstable();
        let lat = |p: f64| -> u64 {
            if latencies.is_empty() {
                return 0;
            }
            let i = ((latencies.len() - 1) as f64 * p).round() as usize;
            u64::from(latencies[i])
        };
        let delivered: u64 = results.iter().map(|r| r.delivered).sum();
        let out = serde_json::json!({
            "min": results.iter().map(|r| r.delivered).min().unwrap_or(0),
            "max": results.iter().map(|r| r.delivered).max().unwrap_or(0),
            "avg": delivered as f64 / results.len().max(1) as f64,
            "delivered": delivered,
            "complete": results.iter().filter(|r| r.delivered == total).count(),
            "lagged_clients": results.iter().filter(|r| r.lagged).count(),
            "missed": results.iter().map(|r| r.missed).sum::<u64>(),
            "closed_early": results.iter().filter(|r| r.closed_early).count(),
            "p50_us": lat(0.5),
            "p99_us": lat(0.99),
            "max_us": latencies.last().copied().map_or(0, u64::from),
            "rss_kb": rss_kb(),
            "cpu_secs": cpu_secs() - cpu_ready,
            "avg_len": results.iter().map(|r| r.bytes).sum::<u64>() / delivered.max(1),
        });
        println!("{out}");
        let _ = std::io::stdout().flush();
    });
}
