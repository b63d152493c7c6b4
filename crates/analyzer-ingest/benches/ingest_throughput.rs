//! End-to-end ingest throughput: N packet messages from 3 observers are published as fast as
//! possible (QoS 1) to the embedded broker; the analyzer's MQTT source, processor and writer
//! take them to committed rows. Reports observations/s, publish rate and commit latency, and
//! fails if a single observation is missing.
//!
//! `cargo bench -p analyzer-ingest --bench ingest_throughput [-- N] [--sqlite]` (default
//! N = 60000). With `--sqlite` rows go to a fresh SQLite database in a temp directory
//! (`synchronous=NORMAL`, WAL) instead of the in-memory writer. `--broker=host:port` uses an
//! external broker (e.g. Mosquitto with `max_queued_messages 0`) instead of the embedded one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use analyzer_config::{Config, EnvVars, resolve_sources};
use analyzer_ingest::memory::MemoryWriter;
use analyzer_ingest::process::build_decoder;
use analyzer_ingest::{Ingest, IngestOptions};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const OBSERVERS: [&str; 3] = ["OBSA", "OBSB", "OBSC"];

/// A DIRECT TXT_MSG frame (vector v47 layout) whose ciphertext carries `n`, so every `n` is a
/// distinct transmission.
fn frame(n: u32) -> String {
    let mut bytes = vec![0x0A, 0x00, 0xD6, 0x9F, 0xD7, 0xA5];
    bytes.extend_from_slice(&n.to_be_bytes());
    bytes.extend_from_slice(&[
        0x5D, 0xB0, 0x73, 0x37, 0x74, 0x9A, 0xE6, 0x1F, 0xA5, 0x3A, 0x47, 0x88,
    ]);
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

async fn publisher(addr: SocketAddr, observer: &'static str, transmissions: u32) -> Duration {
    let mut options = MqttOptions::new(
        format!("bench-{observer}"),
        addr.ip().to_string(),
        addr.port(),
    );
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(200);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let started = Instant::now();
    let producer = tokio::spawn(async move {
        for n in 0..transmissions {
            let payload = format!(
                r#"{{"origin":"{observer}","type":"PACKET","direction":"rx","SNR":"9.5","RSSI":"-92","score":"1000","raw":"{}"}}"#,
                frame(n)
            );
            client
                .publish(
                    format!("meshcore/BEN/{observer}/packets"),
                    QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .await
                .unwrap();
        }
        client
    });
    let mut acked = 0;
    while acked < transmissions {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => panic!("publisher {observer}: {e}"),
        }
    }
    let elapsed = started.elapsed();
    let client = producer.await.unwrap();
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
    elapsed
}

fn main() {
    let n: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(60_000);
    let sqlite = std::env::args().any(|a| a == "--sqlite");
    let dir = tempfile::tempdir().unwrap();
    let per_observer = n / OBSERVERS.len() as u32;
    let total = u64::from(per_observer) * OBSERVERS.len() as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let external: Option<SocketAddr> = std::env::args().find_map(|a| a.strip_prefix("--broker=").map(|b| b.parse().expect("--broker=host:port")));
        let addr = match external {
            Some(a) => a,
            None => analyzer_ingest::broker::start("127.0.0.1:0".parse().unwrap()).unwrap(),
        };
        println!("broker                  {}", if external.is_some() { format!("external {addr}") } else { "embedded (rumqttd)".to_owned() });
        let config: Config = serde_json::from_value(serde_json::json!({
            "mqttSources": [{"name": "bench", "broker": format!("mqtt://{addr}"), "clientId": format!("bench-ingest-{}", std::process::id())}]
        }))
        .unwrap();
        let sources = resolve_sources(&config, &EnvVars::default()).unwrap();
        let writer = MemoryWriter::default();
        let sink: Box<dyn analyzer_ingest::BatchWriter> = if sqlite {
            let db = dir.path().join("bench.db");
            Box::new(analyzer_sqlite::SqliteStorage::open(&db, analyzer_sqlite::OpenOptions::default()).unwrap())
        } else {
            Box::new(writer.clone())
        };
        println!("storage                 {}", if sqlite { "SQLite (WAL, synchronous=NORMAL)" } else { "in-memory writer" });
        let ingest = Ingest::start(&config, sources, build_decoder(&config, None), sink, IngestOptions::from_config(&config)).unwrap();
        while !ingest.source_statuses()[0].connected {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;

        let started = Instant::now();
        let publishers: Vec<_> = OBSERVERS.iter().map(|o| tokio::spawn(publisher(addr, o, per_observer))).collect();
        let mut publish_time = Duration::ZERO;
        for p in publishers {
            publish_time = publish_time.max(p.await.unwrap());
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while ingest.stats().obs_inserted < total && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let elapsed = started.elapsed();
        let stats = ingest.stats();
        let rows = if sqlite {
            use analyzer_db::StorageReader;
            let reader = analyzer_sqlite::SqliteReader::open(dir.path().join("bench.db"), &analyzer_sqlite::OpenOptions::default()).unwrap();
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
            reader.stats(now).unwrap().observations as usize
        } else {
            writer.with(|s| s.observations.len())
        };
        println!("messages published      {total} from {} observers ({per_observer} transmissions each)", OBSERVERS.len());
        println!("publish (all acked)     {:.2} s  ({:.0} msg/s)", publish_time.as_secs_f64(), total as f64 / publish_time.as_secs_f64());
        println!("ingest to committed rows {:.2} s  ({:.0} observations/s)", elapsed.as_secs_f64(), stats.obs_inserted as f64 / elapsed.as_secs_f64());
        println!("rows {rows}  tx_inserted {}  batches {}  max batch {}", stats.tx_inserted, stats.batches, stats.max_batch);
        println!("commit latency (receipt → commit): avg {:.1} ms, max {:.1} ms", stats.latency_us_avg as f64 / 1000.0, stats.latency_us_max as f64 / 1000.0);
        println!("rejections {:?}", ingest.rejections());
        assert_eq!(stats.obs_inserted, total, "observations lost");
        assert_eq!(rows as u64, total);
        ingest.shutdown().await;
    });
}
