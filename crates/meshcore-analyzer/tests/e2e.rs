//! Browser end-to-end test of the web UI: the real binary serves a generated database with
//! its embedded MQTT broker, and `web/e2e/packets.test.mjs` drives headless Chromium
//! (playwright-core) through the Packets page. During the run the script asks for a live
//! packet (`@@publish live` on its stdout) and this test publishes it over MQTT: an ADVERT
//! whose node name and observer name are an HTML injection attempt, which the page must show
//! as text. Then every other `web/e2e/*.test.mjs` (one per page, built on `harness.mjs`) runs
//! against the same server, in name order.
//!
//! Runs only when `MESHCORE_TEST_CHROMIUM` names a Chromium binary (CI sets it; see
//! `web/README.md`). Once it is set the test must work: a missing Node.js, a missing
//! `npm ci` or a failing check fails the test, nothing is skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use meshcore_wire::encode::{AdvertAppData, AdvertType, Frame, Path as HopPath, Payload};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_meshcore-analyzer");
/// What a hostile node and observer call themselves.
const XSS: &str = "<img src=x onerror=alert(1)>";
const OBSERVER_KEY: &str = "E2E0000000000000000000000000000000000000000000000000000000000001";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
}

/// The live frame: a FLOOD ADVERT, one hop, signed by a fixed key, named [`XSS`].
fn live_advert() -> (String, String) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as u32;
    let app_data = AdvertAppData {
        kind: AdvertType::Repeater,
        location: None,
        feat1: None,
        feat2: None,
        name: Some(XSS),
        telemetry: None,
    };
    let hop = [0xE2u8];
    let frame = Frame::flood(
        HopPath::new(1, &hop).expect("path"),
        Payload::Advert {
            key: &key,
            timestamp: now,
            app_data: &app_data,
        },
    );
    let raw = hex::encode_upper(frame.to_vec().expect("encode advert"));
    let hash = meshcore_wire::packet_hash_hex(&raw).to_string();
    (raw, hash)
}

async fn publish(port: u16, raw: &str) {
    let mut options = MqttOptions::new("e2e-browser-publisher", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(10));
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    let payload = json!({ "origin": XSS, "raw": raw, "SNR": "7.25", "RSSI": "-97" });
    client
        .publish(
            format!("meshcore/SEA/{OBSERVER_KEY}/packets"),
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&payload).expect("json"),
        )
        .await
        .expect("queue publish");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the broker did not acknowledge");
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => break,
            Ok(Ok(_)) => {}
            Ok(Err(error)) => panic!("publisher connection failed: {error}"),
            Err(_) => panic!("publisher stalled"),
        }
    }
    let _ = client.disconnect().await;
}

#[test]
fn web_pages_in_headless_chromium() {
    let Ok(chromium) = std::env::var("MESHCORE_TEST_CHROMIUM") else {
        eprintln!(
            "e2e: MESHCORE_TEST_CHROMIUM is not set, so the browser test did not run \
             (set it to a Chromium binary, e.g. /usr/bin/chromium, after `npm ci` in web/e2e)"
        );
        return;
    };
    assert!(
        Path::new(&chromium).exists(),
        "MESHCORE_TEST_CHROMIUM={chromium} does not exist"
    );
    let root = repo_root();
    let e2e = root.join("web/e2e");
    assert!(
        e2e.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in {}",
        e2e.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "Node.js is needed for the browser test: {node:?}"
    );

    // A small database of simulated traffic that ends now.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("meshcore.db");
    let output = Command::new(BIN)
        .args(["gen-db", "--transmissions", "400", "--days", "0.1"])
        .args(["--nodes", "120", "--observers", "6", "--seed", "11"])
        .arg("--out")
        .arg(&db)
        .output()
        .expect("run gen-db");
    assert!(output.status.success(), "gen-db failed: {output:?}");

    let mqtt_port = free_port();
    let http_port = free_port();
    let config = json!({
        "dbPath": db,
        "mqttSources": [{ "name": "e2e", "broker": format!("mqtt://127.0.0.1:{mqtt_port}") }],
        "mqtt": { "clientId": format!("e2e-browser-{mqtt_port}") },
        "embeddedBroker": { "enabled": true, "port": mqtt_port, "bind": "127.0.0.1" },
    });
    let config_path = dir.path().join("config.json");
    std::fs::write(
        &config_path,
        serde_json::to_vec_pretty(&config).expect("json"),
    )
    .expect("write config");
    let _server = Running(
        Command::new(BIN)
            .args([
                "serve",
                "--bind",
                "127.0.0.1",
                "--port",
                &http_port.to_string(),
            ])
            .arg("--config")
            .arg(&config_path)
            .env("MESHCORE_LOG", "warn,rumqttd=off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http_ok(http_port, "/api/stats") {
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }

    let (raw, hash) = live_advert();
    let artifacts = dir.path().join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = format!("http://127.0.0.1:{http_port}");

    // The Packets script first: it asks for the live packet, so the hostile node and observer
    // exist for every page script after it.
    let mut failed = Vec::new();
    let packets = run_script(
        &e2e,
        &chromium,
        &artifacts,
        "packets.test.mjs",
        &[
            "--url",
            &url,
            "--live-hash",
            &hash,
            "--live-raw",
            &raw,
            "--xss",
            XSS,
        ],
        &mut || runtime.block_on(publish(mqtt_port, &raw)),
    );
    assert!(
        packets.passed >= 10 || !packets.failed.is_empty(),
        "packets.test.mjs ran fewer checks than expected"
    );
    failed.extend(packets.failed);

    let mut scripts: Vec<String> = std::fs::read_dir(&e2e)
        .expect("list web/e2e")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".test.mjs") && name != "packets.test.mjs")
        .collect();
    scripts.sort();
    for script in &scripts {
        let outcome = run_script(
            &e2e,
            &chromium,
            &artifacts,
            script,
            &["--url", &url, "--xss", XSS],
            &mut || panic!("{script} asked for a live packet; only packets.test.mjs may"),
        );
        failed.extend(outcome.failed);
    }

    if !failed.is_empty() {
        // Keep the screenshots of failures where a person can look at them.
        let keep = std::env::temp_dir().join(format!("meshcore-e2e-{}", std::process::id()));
        let _ = std::fs::rename(&artifacts, &keep);
        panic!(
            "browser checks failed; screenshots in {}:\n{}",
            keep.display(),
            failed.join("\n")
        );
    }
}

/// What one test script reported.
struct Outcome {
    /// Number of `ok - ` lines.
    passed: usize,
    /// The `not ok` lines, plus a line for a bad exit or a missing summary.
    failed: Vec<String>,
}

/// Runs `node <script> <args>` in `web/e2e`, echoing its output; `@@publish live` on its
/// stdout calls `on_publish`.
fn run_script(
    e2e: &Path,
    chromium: &str,
    artifacts: &Path,
    script: &str,
    args: &[&str],
    on_publish: &mut dyn FnMut(),
) -> Outcome {
    println!("# {script}");
    let mut child = Running(
        Command::new("node")
            .arg(e2e.join(script))
            .args(args)
            .env("MESHCORE_TEST_CHROMIUM", chromium)
            .env("MESHCORE_E2E_ARTIFACTS", artifacts)
            .current_dir(e2e)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node"),
    );
    let stdout = child.0.stdout.take().expect("script stdout");
    let started = Instant::now();
    let mut report = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read script output");
        println!("{line}");
        if line.trim() == "@@publish live" {
            on_publish();
        }
        report.push(line);
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{script} ran for more than 5 minutes"
        );
    }
    let status = child.0.wait().expect("wait for node");
    let mut failed: Vec<String> = report
        .iter()
        .filter(|l| l.starts_with("not ok"))
        .map(|l| format!("{script}: {l}"))
        .collect();
    if !status.success() && failed.is_empty() {
        failed.push(format!("{script}: exited with {status}"));
    }
    if !report.iter().any(|l| l.starts_with("# all checks passed")) && failed.is_empty() {
        failed.push(format!("{script}: did not finish its checks"));
    }
    let passed = report.iter().filter(|l| l.starts_with("ok - ")).count();
    if passed == 0 && failed.is_empty() {
        failed.push(format!("{script}: ran no checks"));
    }
    Outcome { passed, failed }
}
