//! End-to-end tests of the `meshcore-analyzer` binary: `serve` started as an operator would,
//! an observer publishing over MQTT, the API read over HTTP, the process killed mid-burst.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_meshcore-analyzer");
const OBSERVER: &str = "AA11BB22CC33DD44EE55FF6600112233445566778899AABBCCDDEEFF00112233";
/// v50 of the spec vectors: a FLOOD ADVERT of "Kpa Roof Solar" with a valid signature.
const ADVERT: &str = "11451000D818206D3AAC152C8A91F89957E6D30CA51F36E28790228971C473B755F244F718754CF5EE4A2FD58D944466E42CDED140C66D0CC590183E32BAF40F112BE8F3F2BDF6012B4B2793C52F1D36F69EE054D9A05593286F78453E56C0EC4A3EB95DDA2A7543FCCC00B939CACC009278603902FC12BCF84B706120526F6F6620536F6C6172";
/// v83: a GRP_TXT on the Public channel.
const CHANNEL_MSG: &str =
    "150011C3C1354D619BAE9590E4D177DB7EEAF982F5BDCF78005D75157D9535FA90178F785D";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A running `serve` process; killed when dropped.
struct Server {
    child: Child,
    http_port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, mqtt_port: u16, embedded: bool) -> PathBuf {
    let config = json!({
        "dbPath": dir.join("meshcore.db"),
        "mqttSources": [{ "name": "test", "broker": format!("mqtt://127.0.0.1:{mqtt_port}") }],
        "mqtt": { "clientId": format!("e2e-{mqtt_port}") },
        "embeddedBroker": { "enabled": embedded, "port": mqtt_port, "bind": "127.0.0.1" },
    });
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("json")).expect("write config");
    path
}

fn start_server(config: &Path, http_port: u16) -> Server {
    start_server_with(config, http_port, &[])
}

/// `serve` with the test's config and port plus `extra` arguments; returns once the API answers.
fn start_server_with(config: &Path, http_port: u16, extra: &[&str]) -> Server {
    let child = Command::new(BIN)
        .args([
            "serve",
            "--bind",
            "127.0.0.1",
            "--port",
            &http_port.to_string(),
        ])
        .args(extra)
        .arg("--config")
        .arg(config)
        .env("MESHCORE_LOG", "warn,rumqttd=off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn serve");
    let server = Server { child, http_port };
    wait_until("the HTTP API answers", Duration::from_secs(30), || {
        http_get(http_port, "/api/stats").is_some()
    });
    server
}

/// GET over a plain socket: (status, body as JSON). `None` while nothing listens.
fn http_get(port: u16, path: &str) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, serde_json::from_str(body).ok()?))
}

fn stats(server: &Server) -> Value {
    let (status, body) = http_get(server.http_port, "/api/stats").expect("stats answer");
    assert_eq!(status, 200, "stats: {body}");
    body
}

fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn packet_message(raw: &str) -> (String, Vec<u8>) {
    let payload = json!({ "origin": "E2E Observer", "raw": raw, "SNR": "9.5", "RSSI": "-88" });
    (
        format!("meshcore/SEA/{OBSERVER}/packets"),
        serde_json::to_vec(&payload).expect("json"),
    )
}

/// A distinct valid frame per `n`: FLOOD RAW_CUSTOM with `n` in the payload.
fn numbered_frame(n: u32) -> String {
    let bytes = n.to_be_bytes();
    format!(
        "3D00A5{:02X}{:02X}{:02X}{:02X}",
        bytes[0], bytes[1], bytes[2], bytes[3]
    )
}

/// Publishes with QoS 1 and returns once the broker acknowledged every message.
async fn publish(port: u16, client_id: &str, messages: Vec<(String, Vec<u8>)>) {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(10))
        .set_max_packet_size(1 << 20, 1 << 20);
    let total = messages.len();
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let sender = tokio::spawn(async move {
        for (topic, payload) in messages {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .expect("queue publish");
        }
        client
    });
    let mut acked = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked < total {
        assert!(
            Instant::now() < deadline,
            "publisher timed out ({acked}/{total} acknowledged)"
        );
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
            Ok(Ok(_)) => {}
            Ok(Err(error)) => panic!("publisher connection failed: {error}"),
            Err(_) => panic!("publisher stalled ({acked}/{total} acknowledged)"),
        }
    }
    let client = sender.await.expect("sender task");
    let _ = client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stores_what_an_observer_publishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mqtt_port = free_port();
    let config = write_config(dir.path(), mqtt_port, true);
    let server = start_server(&config, free_port());
    assert_eq!(stats(&server)["totalTransmissions"], 0);

    let mut messages = vec![packet_message(ADVERT), packet_message(CHANNEL_MSG)];
    // The same sighting again, and input that must be rejected without stopping ingestion.
    messages.push(packet_message(ADVERT));
    messages.push((
        format!("meshcore/SEA/{OBSERVER}/packets"),
        b"not json".to_vec(),
    ));
    messages.push(packet_message("11ZZ"));
    messages.push(packet_message(&numbered_frame(1)));
    publish(mqtt_port, "e2e-publisher", messages).await;

    wait_until(
        "three transmissions are stored",
        Duration::from_secs(20),
        || stats(&server)["totalTransmissions"] == 3,
    );
    let body = stats(&server);
    assert_eq!(
        body["totalObservations"], 3,
        "the repeated sighting is one observation: {body}"
    );
    assert_eq!(
        body["totalNodesAllTime"], 1,
        "the advert created its node: {body}"
    );
    assert_eq!(body["counts"]["repeaters"], 1, "{body}");
    assert_eq!(body["totalObservers"], 1, "{body}");

    let (status, mqtt) = http_get(server.http_port, "/api/mqtt/status").expect("mqtt status");
    assert_eq!(status, 200);
    assert_eq!(mqtt["sources"][0]["name"], "test");
    assert_eq!(mqtt["sources"][0]["connected"], true);

    // The in-process writer reports its counters in the reference's write-sources shape.
    let (status, writes) =
        http_get(server.http_port, "/api/perf/write-sources").expect("write-sources");
    assert_eq!(status, 200);
    let sources = &writes["sources"];
    assert_eq!(sources["tx_inserted"], 3, "{writes}");
    assert_eq!(sources["obs_inserted"], 3, "{writes}");
    assert_eq!(sources["tx_dupes"], 1, "the repeated sighting: {writes}");
    assert_eq!(sources["write_errors"], 0, "{writes}");
    let commits = sources["walCommits"].as_u64().expect("walCommits");
    assert!(commits >= 1, "{writes}");
    let handler = &writes["writer_perf"]["mqtt_handler"];
    assert_eq!(handler["count"], commits, "{writes}");
    assert!(
        handler["hold_ms_max"].as_f64().expect("hold") > 0.0,
        "{writes}"
    );
    assert!(
        handler["hold_ms_p50"].as_f64() <= handler["hold_ms_max"].as_f64(),
        "{writes}"
    );
    assert!(
        writes["sampleAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{writes}"
    );
}

#[test]
fn an_unusable_config_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"mqttSources":[{"name":"x","broker":"http://example.invalid"}]}"#,
    )
    .expect("write");
    let output = Command::new(BIN)
        .args([
            "serve",
            "--bind",
            "127.0.0.1",
            "--port",
            &free_port().to_string(),
            "--config",
        ])
        .arg(&config)
        .output()
        .expect("run serve");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("mqttSources[0].broker"),
        "stderr names the key: {stderr}"
    );

    std::fs::write(&config, "{ not json").expect("write");
    let output = Command::new(BIN)
        .args(["serve", "--port", &free_port().to_string(), "--config"])
        .arg(&config)
        .output()
        .expect("run serve");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

/// The process is killed (SIGKILL) during a burst: what it reported as stored is still there,
/// the database is intact, and a restart on the same file resumes ingestion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_burst_keeps_committed_rows_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mqtt_port = free_port();
    let config = write_config(dir.path(), mqtt_port, true);
    let http_port = free_port();
    let mut server = start_server(&config, http_port);

    let burst: Vec<_> = (0..20_000)
        .map(|n| packet_message(&numbered_frame(n)))
        .collect();
    let publisher = tokio::spawn(publish(mqtt_port, "e2e-burst", burst));
    let mut reported = 0;
    wait_until(
        "part of the burst is stored",
        Duration::from_secs(60),
        || {
            reported = stats(&server)["totalTransmissions"].as_u64().unwrap_or(0);
            reported >= 500
        },
    );
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");
    publisher.abort();

    let db = dir.path().join("meshcore.db");
    let reader = analyzer_sqlite::SqliteStorage::open(&db, analyzer_sqlite::OpenOptions::default())
        .expect("reopen after the kill");
    assert_eq!(
        reader.integrity_check().expect("integrity check"),
        vec!["ok".to_owned()]
    );
    let stored: u64 = {
        use analyzer_db::StorageReader;
        reader.stats(0).expect("stats").transmissions
    };
    drop(reader);
    assert!(
        stored >= reported,
        "{stored} rows after the kill, {reported} reported before it"
    );

    let server = start_server(&config, http_port);
    assert_eq!(stats(&server)["totalTransmissions"].as_u64(), Some(stored));
    let after: Vec<_> = (1_000_000..1_000_100)
        .map(|n| packet_message(&numbered_frame(n)))
        .collect();
    publish(mqtt_port, "e2e-after-restart", after).await;
    wait_until(
        "the restarted server ingests new traffic",
        Duration::from_secs(30),
        || stats(&server)["totalTransmissions"].as_u64().unwrap_or(0) >= stored + 100,
    );
}

/// `gen-db` writes a database in CoreScope's schema that `serve` opens with the right counts.
#[test]
fn a_generated_database_opens_with_the_requested_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("meshcore.db");
    let output = Command::new(BIN)
        .args([
            "gen-db",
            "--transmissions",
            "400",
            "--observations",
            "6000",
            "--days",
            "2",
        ])
        .args([
            "--nodes",
            "120",
            "--observers",
            "8",
            "--batch",
            "50",
            "--out",
        ])
        .arg(&db)
        .env("MESHCORE_LOG", "error")
        .output()
        .expect("run gen-db");
    assert!(output.status.success(), "gen-db failed: {output:?}");

    let storage =
        analyzer_sqlite::SqliteStorage::open(&db, analyzer_sqlite::OpenOptions::default())
            .expect("open the generated database");
    let counts = {
        use analyzer_db::StorageReader;
        storage.stats(0).expect("stats")
    };
    drop(storage);
    // The stream ends at the present moment, so the count lands within the calibration's
    // error of what was asked (and at most one small batch above it: the writer stops there).
    assert!(
        (360..=410).contains(&counts.transmissions),
        "about the requested 400 transmissions: {counts:?}"
    );
    let ratio = counts.observations as f64 / counts.transmissions as f64;
    assert!(
        (7.5..=22.5).contains(&ratio),
        "about 15 observations per transmission: {counts:?}"
    );
    assert!(
        counts.nodes_all_time > 20,
        "adverts created nodes: {counts:?}"
    );
    assert!(counts.observers >= 8, "{counts:?}");

    let config = write_config(dir.path(), free_port(), false);
    let server = start_server(&config, free_port());
    let body = stats(&server);
    assert_eq!(
        body["totalTransmissions"].as_u64(),
        Some(counts.transmissions)
    );
    assert_eq!(
        body["totalObservations"].as_u64(),
        Some(counts.observations)
    );

    let again = Command::new(BIN)
        .args(["gen-db", "--transmissions", "10", "--out"])
        .arg(&db)
        .output()
        .expect("run gen-db");
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing file is not replaced without --force"
    );
}

/// `serve --demo` with no broker anywhere: the simulated mesh feeds the pipeline in-process,
/// so a fresh install shows traffic.
#[test]
fn demo_traffic_flows_in_process_without_any_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The configured source points at a port where nothing listens; no embedded broker.
    let config = write_config(dir.path(), free_port(), false);
    let server = start_server_with(&config, free_port(), &["--demo"]);
    wait_until(
        "demo transmissions are stored",
        Duration::from_secs(60),
        || {
            let body = stats(&server);
            body["totalTransmissions"].as_u64().unwrap_or(0) >= 3
                && body["totalObservers"].as_u64().unwrap_or(0) >= 1
        },
    );
    let (_, mqtt) = http_get(server.http_port, "/api/mqtt/status").expect("mqtt status");
    assert_eq!(
        mqtt["sources"][0]["connected"], false,
        "the configured broker is not there"
    );
}

/// A load that ends failed (here: coverage below 90 % because `packetStore.maxMemoryMB` stops
/// it) is reported by `/api/perf` while the server keeps serving, and stops the process with a
/// non-zero exit code when `packetStore.exitOnLoadFailure` is set.
#[test]
fn a_failed_startup_load_is_reported_and_exits_only_when_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("meshcore.db");
    let output = Command::new(BIN)
        .args([
            "gen-db",
            "--transmissions",
            "3000",
            "--days",
            "2",
            "--nodes",
            "150",
        ])
        .args(["--observers", "10", "--out"])
        .arg(&db)
        .env("MESHCORE_LOG", "error")
        .output()
        .expect("run gen-db");
    assert!(output.status.success(), "gen-db failed: {output:?}");

    let write = |exit: bool| {
        let config = json!({
            "dbPath": db,
            "mqttSources": [{ "name": "test", "broker": format!("mqtt://127.0.0.1:{}", free_port()) }],
            "embeddedBroker": { "enabled": false },
            "packetStore": { "maxMemoryMB": 1, "exitOnLoadFailure": exit },
        });
        let path = dir.path().join(format!("config-{exit}.json"));
        std::fs::write(&path, serde_json::to_vec(&config).expect("json")).expect("write config");
        path
    };

    let server = start_server(&write(false), free_port());
    let mut perf = Value::Null;
    wait_until(
        "the load reaches its terminal state",
        Duration::from_secs(30),
        || {
            perf = http_get(server.http_port, "/api/perf")
                .map(|(_, body)| body)
                .unwrap_or_default();
            perf["packetStore"]["backgroundLoadComplete"] == true
        },
    );
    let block = &perf["packetStore"];
    assert_eq!(block["backgroundLoadFailed"], true, "{block}");
    assert!(
        block["backgroundLoadError"]
            .as_str()
            .is_some_and(|e| e.contains('%')),
        "{block}"
    );
    assert_eq!(
        stats(&server)["engine"],
        "rust",
        "still serving after the failed load"
    );
    drop(server);

    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--bind",
            "127.0.0.1",
            "--port",
            &free_port().to_string(),
            "--config",
        ])
        .arg(write(true))
        .env("MESHCORE_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after the failed load"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("exitOnLoadFailure"), "{stderr}");
}

/// `serve --follow` beside a writing `serve` on the same file (an API replica next to the
/// ingesting process): it loads what is there, then picks up the rows the other process
/// commits, by id watermark, without MQTT of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_following_replica_picks_up_rows_another_process_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mqtt_port = free_port();
    let config = write_config(dir.path(), mqtt_port, true);
    let writer = start_server(&config, free_port());
    publish(
        mqtt_port,
        "follow-publisher-1",
        vec![packet_message(ADVERT), packet_message(&numbered_frame(1))],
    )
    .await;
    wait_until(
        "the writer stored two packets",
        Duration::from_secs(20),
        || stats(&writer)["totalTransmissions"] == 2,
    );

    let replica = start_server_with(&config, free_port(), &["--follow"]);
    let loaded = |server: &Server| {
        http_get(server.http_port, "/api/perf")
            .map(|(_, body)| body["packetStore"]["totalLoaded"].as_u64().unwrap_or(0))
            .unwrap_or(0)
    };
    wait_until(
        "the replica loaded the file",
        Duration::from_secs(20),
        || loaded(&replica) == 2,
    );
    let (_, mqtt) = http_get(replica.http_port, "/api/mqtt/status").expect("mqtt status");
    assert_eq!(mqtt["sources"], json!([]), "a replica has no MQTT sources");
    let (_, writes) = http_get(replica.http_port, "/api/perf/write-sources").expect("writes");
    assert_eq!(
        writes,
        json!({ "sources": {}, "sampleAt": "", "writer_perf": {} }),
        "a replica writes nothing: the empty skeleton"
    );

    let later: Vec<_> = (2..=6)
        .map(|n| packet_message(&numbered_frame(n)))
        .collect();
    publish(mqtt_port, "follow-publisher-2", later).await;
    wait_until(
        "the replica followed the new rows",
        Duration::from_secs(20),
        || loaded(&replica) == 7,
    );
    let (_, perf) = http_get(replica.http_port, "/api/perf").expect("perf");
    assert_eq!(perf["packetStore"]["totalObservations"], 7, "{perf}");
    drop(writer);
}

/// SIGKILL during a burst through a real Mosquitto loses nothing: a publish is acknowledged
/// to the broker only once the batch holding it is committed, so whatever the killed process
/// had received but not stored is redelivered to the restarted one (same client id,
/// persistent session). Runs when `MESHCORE_TEST_MOSQUITTO=host:port` names a broker started
/// with `max_queued_messages 0` (`.ci/run` does); then it must be reachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_burst_loses_nothing_the_broker_acknowledged() {
    let Ok(broker) = std::env::var("MESHCORE_TEST_MOSQUITTO") else {
        eprintln!("MESHCORE_TEST_MOSQUITTO not set: no external broker to test against");
        return;
    };
    let (host, port) = broker
        .rsplit_once(':')
        .expect("MESHCORE_TEST_MOSQUITTO=host:port");
    let port: u16 = port.parse().expect("broker port");
    TcpStream::connect((host, port)).expect("the Mosquitto named by MESHCORE_TEST_MOSQUITTO");
    let dir = tempfile::tempdir().expect("tempdir");
    let run = format!("kill-{}", std::process::id());
    let config = json!({
        "dbPath": dir.path().join("meshcore.db"),
        "mqttSources": [{ "name": "mosquitto", "broker": format!("mqtt://{host}:{port}") }],
        "mqtt": { "clientId": run },
        "embeddedBroker": { "enabled": false },
    });
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, serde_json::to_vec(&config).expect("json")).expect("config");
    let http_port = free_port();
    let mut server = start_server(&config_path, http_port);
    // The subscription exists once a first message arrives.
    publish(
        port,
        &format!("{run}-warmup"),
        vec![packet_message(&numbered_frame(0))],
    )
    .await;
    wait_until("the subscription is live", Duration::from_secs(20), || {
        stats(&server)["totalTransmissions"] == 1
    });

    const BURST: u32 = 20_000;
    let burst: Vec<_> = (1..=BURST)
        .map(|n| packet_message(&numbered_frame(n)))
        .collect();
    let burst_client: &'static str = format!("{run}-burst").leak();
    let publisher = tokio::spawn(publish(port, burst_client, burst));
    wait_until(
        "part of the burst is stored",
        Duration::from_secs(60),
        || stats(&server)["totalTransmissions"].as_u64().unwrap_or(0) >= 1_000,
    );
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");
    // Every message of the burst is now with the broker (acknowledged to the publisher).
    publisher.await.expect("publisher");

    let server = start_server(&config_path, http_port);
    let mut stored = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    while stored < u64::from(BURST) + 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        stored = stats(&server)["totalTransmissions"].as_u64().unwrap_or(0);
    }
    assert_eq!(
        stored,
        u64::from(BURST) + 1,
        "every acknowledged message is stored exactly once after the kill"
    );
    let body = stats(&server);
    assert_eq!(
        body["totalObservations"], body["totalTransmissions"],
        "{body}"
    );
}
