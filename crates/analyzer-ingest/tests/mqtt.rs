//! Integration tests over real MQTT connections: the embedded broker (always), and a real
//! Mosquitto when `MESHCORE_TEST_MOSQUITTO=host:port` names one (then it must be reachable).

#![cfg(feature = "embedded-broker")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use analyzer_config::{Config, EnvVars, SourceSettings, resolve_sources};
use analyzer_ingest::memory::MemoryWriter;
use analyzer_ingest::process::build_decoder;
use analyzer_ingest::{Ingest, IngestEvent, IngestOptions, Reject};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::json;

// Frames from spec/vectors.json: DIRECT TXT_MSG (v47) and a FLOOD ADVERT (v50).
const TXT_MSG: &str = "0A00D69FD7A5A7475DB07337749AE61FA53A4788E976";
const ADVERT: &str = "11451000D818206D3AAC152C8A91F89957E6D30CA51F36E28790228971C473B755F244F718754CF5EE4A2FD58D944466E42CDED140C66D0CC590183E32BAF40F112BE8F3F2BDF6012B4B2793C52F1D36F69EE054D9A05593286F78453E56C0EC4A3EB95DDA2A7543FCCC00B939CACC009278603902FC12BCF84B706120526F6F6620536F6C6172";

fn embedded_broker() -> SocketAddr {
    analyzer_ingest::broker::start("127.0.0.1:0".parse().unwrap()).expect("embedded broker")
}

fn config_for(sources: serde_json::Value) -> (Config, Vec<SourceSettings>) {
    let config: Config = serde_json::from_value(json!({ "mqttSources": sources })).unwrap();
    let settings = resolve_sources(&config, &EnvVars::default()).unwrap();
    (config, settings)
}

fn start(config: &Config, sources: Vec<SourceSettings>, writer: &MemoryWriter) -> Ingest {
    let decoder = build_decoder(config, None);
    Ingest::start(
        config,
        sources,
        decoder,
        Box::new(writer.clone()),
        IngestOptions::from_config(config),
    )
    .unwrap()
}

/// Publishes every message with QoS 1 and returns once the broker acknowledged all of them.
async fn publish_all(addr: SocketAddr, client_id: &str, messages: &[(String, Vec<u8>)]) {
    let mut options = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
    options
        .set_keep_alive(Duration::from_secs(10))
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, messages.len().max(1) + 10);
    let mut acked = 0;
    let mut sent = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked < messages.len() {
        assert!(
            Instant::now() < deadline,
            "publisher timed out ({acked}/{} acked)",
            messages.len()
        );
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) if !sent => {
                sent = true;
                for (topic, payload) in messages {
                    client
                        .publish(topic.clone(), QoS::AtLeastOnce, false, payload.clone())
                        .await
                        .unwrap();
                }
            }
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("publisher connection failed: {e}"),
            Err(_) => panic!("publisher stalled"),
        }
    }
    client.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(ev) = eventloop.poll().await {
            if matches!(ev, Event::Outgoing(Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_connected(ingest: &Ingest) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ingest.source_statuses().iter().all(|s| s.connected) {
        assert!(
            Instant::now() < deadline,
            "sources did not connect: {:?}",
            ingest.source_statuses()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The subscription is sent right after CONNACK; give the broker a moment to apply it.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn packet(observer: &str, raw: &str) -> (String, Vec<u8>) {
    packet_in("SJC", observer, raw)
}

/// A packet message under region `region` (tests on a shared broker use their own region).
fn packet_in(region: &str, observer: &str, raw: &str) -> (String, Vec<u8>) {
    (
        format!("meshcore/{region}/{observer}/packets"),
        json!({"raw": raw, "SNR": "7.5", "RSSI": "-90", "origin": observer})
            .to_string()
            .into_bytes(),
    )
}

/// Packets, statuses and bad input over a real connection; events for new rows only.
async fn check_end_to_end(addr: SocketAddr, client_prefix: &str) {
    check_end_to_end_via(&format!("mqtt://{addr}"), addr, client_prefix, true).await;
}

/// Our source connects to `broker_url`; the test publisher to `addr` (same broker).
async fn check_end_to_end_via(
    broker_url: &str,
    addr: SocketAddr,
    client_prefix: &str,
    verify_tls: bool,
) {
    let region = client_prefix;
    let (config, sources) = config_for(json!([{
        "name": "main", "broker": broker_url, "rejectUnauthorized": verify_tls, "topics": [format!("meshcore/{region}/#")], "clientId": format!("{client_prefix}-e2e")
    }]));
    let writer = MemoryWriter::default();
    let ingest = start(&config, sources, &writer);
    let mut events = ingest.subscribe();
    wait_connected(&ingest).await;

    let mut messages = vec![
        packet_in(region, "OBS1", TXT_MSG),
        packet_in(region, "OBS2", TXT_MSG),
        packet_in(region, "OBS1", ADVERT),
        (format!("meshcore/{region}/OBS1/status"), br#"{"status":"online","origin":"Roof","model":"Heltec V3","stats":{"battery_mv":4100}}"#.to_vec()),
        (format!("meshcore/{region}/OBS1/packets"), b"not json at all".to_vec()),
        (format!("meshcore/{region}/OBS1/packets"), br#"{"raw":"zz"}"#.to_vec()),
        (format!("meshcore/{region}/OBS1/packets"), br#"{"raw":"FF"}"#.to_vec()),
        (format!("meshcore/{region}/OBS1/packets"), br#"{"SNR": 3}"#.to_vec()),
    ];
    // The same sighting again (e.g. a bridge resending): stored once, not re-broadcast.
    messages.push(packet_in(region, "OBS1", TXT_MSG));
    publish_all(addr, &format!("{client_prefix}-pub"), &messages).await;

    wait_for("all messages processed", Duration::from_secs(10), || {
        ingest.stats().received >= messages.len() as u64
    })
    .await;
    wait_for("commit", Duration::from_secs(5), || {
        let s = ingest.stats();
        writer.with(|w| w.statuses.len() == 1) && s.obs_inserted + s.obs_duplicates == 4
    })
    .await;
    writer.with(|s| {
        assert_eq!(s.transmissions.len(), 2, "TXT_MSG and ADVERT");
        assert_eq!(
            s.observations.len(),
            3,
            "two observers of the TXT_MSG, one of the advert"
        );
        let advert = s
            .observations
            .iter()
            .find_map(|o| o.advert.as_ref())
            .expect("advert row");
        assert_eq!(advert.name.as_deref(), Some("Kpa Roof Solar"));
        let o = &s.observations[0];
        assert_eq!((o.snr, o.rssi), (Some(7.5), Some(-90.0)));
        assert_eq!(s.statuses[0].model.as_deref(), Some("Heltec V3"));
        assert_eq!(s.statuses[0].battery_mv, Some(4100));
    });
    assert_eq!(ingest.rejected(Reject::NotJson), 1);
    assert_eq!(ingest.rejected(Reject::BadHex), 1);
    assert_eq!(ingest.rejected(Reject::DecodeError), 1);
    assert_eq!(ingest.rejected(Reject::MissingRaw), 1);
    let stats = ingest.stats();
    assert_eq!(
        (stats.obs_inserted, stats.obs_duplicates, stats.tx_inserted),
        (3, 1, 2)
    );

    let mut packets = 0;
    let mut observers = 0;
    while let Ok(event) = events.try_recv() {
        match event {
            IngestEvent::Packet(_) => packets += 1,
            IngestEvent::Observer(_) => observers += 1,
        }
    }
    assert_eq!(
        (packets, observers),
        (3, 1),
        "one event per new row; the duplicate is not broadcast"
    );

    let status = &ingest.source_statuses()[0];
    assert!(status.connected);
    assert_eq!(status.packets_total, messages.len() as u64);
    assert_eq!(status.packets_last_5m, messages.len() as u64);
    assert!(status.last_packet_unix > 0);
    ingest.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_end_to_end() {
    let addr = embedded_broker();
    check_end_to_end(addr, "emb").await;
}

/// Two sources that deliver the same sighting (two brokers bridged, or overlapping
/// subscriptions): one row, one event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_source_duplicates_are_stored_and_broadcast_once() {
    let addr = embedded_broker();
    let (config, sources) = config_for(json!([
        {"name": "a", "broker": format!("mqtt://{addr}")},
        {"name": "b", "broker": format!("mqtt://{addr}"), "topics": ["meshcore/+/+/packets"]}
    ]));
    let writer = MemoryWriter::default();
    let ingest = start(&config, sources, &writer);
    let mut events = ingest.subscribe();
    wait_connected(&ingest).await;
    publish_all(addr, "dup-pub", &[packet("OBS1", TXT_MSG)]).await;
    wait_for("both copies processed", Duration::from_secs(10), || {
        ingest.stats().received >= 2
    })
    .await;
    wait_for("commit", Duration::from_secs(5), || {
        ingest.stats().obs_duplicates == 1
    })
    .await;
    assert_eq!(writer.with(|s| s.observations.len()), 1);
    let mut n = 0;
    while let Ok(IngestEvent::Packet(p)) = events.try_recv() {
        assert!(p.write.new_transmission);
        n += 1;
    }
    assert_eq!(n, 1);
    ingest.shutdown().await;
}

/// Messages published while the analyzer is away are delivered when it comes back, because
/// the broker kept the session (stable client id, clean session false, QoS 1).
async fn check_persistent_session(addr: SocketAddr, client_id: &str) {
    let region = client_id;
    let (config, sources) = config_for(
        json!([{"name": "p", "broker": format!("mqtt://{addr}"), "topics": [format!("meshcore/{region}/#")], "clientId": client_id}]),
    );
    let first = MemoryWriter::default();
    let ingest = start(&config, sources.clone(), &first);
    wait_connected(&ingest).await;
    ingest.shutdown().await;

    let away: Vec<_> = (0..5)
        .map(|i| packet_in(region, &format!("OBS{i}"), TXT_MSG))
        .collect();
    publish_all(addr, &format!("{client_id}-pub"), &away).await;

    let second = MemoryWriter::default();
    let ingest = start(&config, sources, &second);
    wait_for("backlog delivered", Duration::from_secs(10), || {
        second.with(|s| s.observations.len() == 5)
    })
    .await;
    assert_eq!(first.with(|s| s.observations.len()), 0);
    ingest.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_keeps_the_session_while_we_are_away() {
    let addr = embedded_broker();
    check_persistent_session(addr, "emb-persist").await;
}

/// A dead broker neither blocks startup nor the other source, and shows in the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_broker_does_not_block_the_others() {
    let addr = embedded_broker();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap(); // freed: nothing listens
    let (config, sources) = config_for(json!([
        {"name": "dead", "broker": format!("mqtt://{dead}")},
        {"name": "live", "broker": format!("mqtt://{addr}")}
    ]));
    let writer = MemoryWriter::default();
    let started = Instant::now();
    let ingest = start(&config, sources, &writer);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "start must not wait for brokers"
    );
    assert_eq!(
        ingest.wait_connected(Duration::from_secs(2)).await,
        1,
        "only the live source connects"
    );
    wait_for("live source connected", Duration::from_secs(10), || {
        ingest.source_statuses()[1].connected
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish_all(addr, "dead-pub", &[packet("OBS1", TXT_MSG)]).await;
    wait_for("row from the live source", Duration::from_secs(10), || {
        writer.with(|s| s.observations.len() == 1)
    })
    .await;
    let dead_status = &ingest.source_statuses()[0];
    assert!(!dead_status.connected);
    assert!(
        dead_status
            .last_error
            .as_deref()
            .is_some_and(|e| !e.is_empty()),
        "{dead_status:?}"
    );
    ingest.shutdown().await;
}

/// The same checks against a real Mosquitto. Runs when `MESHCORE_TEST_MOSQUITTO` is set
/// (`.ci/run` sets it) and then fails if the broker cannot be reached; does nothing otherwise.
/// The broker must run with `max_queued_messages 0`: Mosquitto's default (1000) silently
/// drops QoS 1 messages queued for a slow or absent subscriber beyond that count, which the
/// restart-mid-burst check detects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_when_configured() {
    let Some(addr) = required_broker("MESHCORE_TEST_MOSQUITTO").await else {
        return;
    };
    // Unique ids per run: Mosquitto may keep sessions of earlier runs.
    let run = format!("t{}", std::process::id());
    check_end_to_end(addr, &format!("{run}-mq")).await;
    check_persistent_session(addr, &format!("{run}-mq-persist")).await;
    check_restart_mid_burst(addr, &format!("{run}-mq-restart")).await;
}

/// A writer that is much slower than the publishers: the queue fills, the source stops
/// reading, the broker holds the rest, and every message still arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_pressure_loses_nothing_when_the_writer_is_slow() {
    struct Slow(MemoryWriter);
    impl analyzer_ingest::BatchWriter for Slow {
        fn write_batch(
            &mut self,
            batch: &analyzer_db::WriteBatch,
        ) -> analyzer_db::DbResult<analyzer_db::BatchOutcome> {
            std::thread::sleep(Duration::from_millis(20));
            self.0.write_batch(batch)
        }
    }
    let addr = embedded_broker();
    let (config, sources) =
        config_for(json!([{"name": "slow", "broker": format!("mqtt://{addr}")}]));
    let writer = MemoryWriter::default();
    let mut options = IngestOptions::from_config(&config);
    options.queue_capacity = 8;
    options.writer.max_batch = 16;
    let ingest = Ingest::start(
        &config,
        sources,
        build_decoder(&config, None),
        Box::new(Slow(writer.clone())),
        options,
    )
    .unwrap();
    wait_connected(&ingest).await;
    let n = 600u32;
    let burst: Vec<_> = (0..n)
        .map(|i| {
            // Distinct transmissions: vary the ciphertext of the TXT_MSG frame.
            let raw = format!("0A00D69FD7A5{i:08X}5DB07337749AE61FA53A4788");
            packet("OBS1", &raw)
        })
        .collect();
    publish_all(addr, "slow-pub", &burst).await;
    wait_for("every message stored", Duration::from_secs(30), || {
        writer.with(|s| s.observations.len()) == n as usize
    })
    .await;
    let stats = ingest.stats();
    assert_eq!(stats.obs_inserted, u64::from(n));
    assert!(stats.max_batch > 1, "batches grow under load: {stats:?}");
    assert!(ingest.rejections().is_empty(), "{:?}", ingest.rejections());
    ingest.shutdown().await;
}

/// A source that falls silent is forced to reconnect by the watchdog and shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdog_forces_a_reconnect_after_silence() {
    let addr = embedded_broker();
    let (config, sources) =
        config_for(json!([{"name": "quiet", "broker": format!("mqtt://{addr}")}]));
    let writer = MemoryWriter::default();
    let mut options = IngestOptions::from_config(&config);
    options.source.watchdog_silence = Duration::from_millis(500);
    options.source.watchdog_interval = Duration::from_millis(100);
    let ingest = Ingest::start(
        &config,
        sources,
        build_decoder(&config, None),
        Box::new(writer.clone()),
        options,
    )
    .unwrap();
    wait_connected(&ingest).await;
    // Connected but never received anything: a warning, not a reconnect (wrong topic or ACL
    // would not be fixed by one).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let s = &ingest.source_statuses()[0];
    assert_eq!((s.forced_reconnects, s.connect_count), (0, 1), "{s:?}");
    publish_all(addr, "quiet-pub", &[packet("OBS1", TXT_MSG)]).await;
    wait_for("forced reconnect", Duration::from_secs(10), || {
        let s = &ingest.source_statuses()[0];
        s.forced_reconnects >= 1 && s.connected && s.connect_count >= 2
    })
    .await;
    let s = &ingest.source_statuses()[0];
    assert!(s.disconnect_count >= 1);
    assert!(s.stalled);
    // Still silent: it keeps trying, once per threshold.
    wait_for("another forced reconnect", Duration::from_secs(10), || {
        ingest.source_statuses()[0].forced_reconnects >= 2
    })
    .await;
    // It keeps working after the reconnects (the session holds what arrives meanwhile), and
    // the stall clears with the first message.
    publish_all(addr, "quiet-pub2", &[packet("OBS2", TXT_MSG)]).await;
    wait_for("row after reconnect", Duration::from_secs(10), || {
        writer.with(|s| s.observations.len() == 2)
    })
    .await;
    assert!(!ingest.source_statuses()[0].stalled);
    ingest.shutdown().await;
}

/// The whole path into a real SQLite database: rows, dedup, node upsert, dropped packet,
/// observer status, read back through the storage reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_into_sqlite() {
    use analyzer_db::StorageReader;
    // An advert with a dummy signature (vector v100): recorded in dropped_packets only.
    const BAD_SIGNATURE: &str = "1200AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA78563412BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB9440933402E0E6B8F853656E736F723100740E220B";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("meshcore.db");
    let storage =
        analyzer_sqlite::SqliteStorage::open(&db, analyzer_sqlite::OpenOptions::default()).unwrap();
    let addr = embedded_broker();
    let (config, sources) =
        config_for(json!([{"name": "sql", "broker": format!("mqtt://{addr}")}]));
    let ingest = Ingest::start(
        &config,
        sources,
        build_decoder(&config, None),
        Box::new(storage),
        IngestOptions::from_config(&config),
    )
    .unwrap();
    let mut events = ingest.subscribe();
    wait_connected(&ingest).await;
    let messages = vec![
        ("meshcore/SJC/OBS1/status".to_owned(), br#"{"status":"online","origin":"Roof","model":"Heltec V3","stats":{"noise_floor":-110}}"#.to_vec()),
        packet("OBS1", TXT_MSG),
        packet("OBS2", TXT_MSG),
        packet("OBS1", ADVERT),
        packet("OBS1", TXT_MSG),
        packet("OBS1", BAD_SIGNATURE),
    ];
    publish_all(addr, "sql-pub", &messages).await;
    wait_for(
        "all processed and committed",
        Duration::from_secs(10),
        || {
            let s = ingest.stats();
            s.received >= messages.len() as u64 && s.obs_inserted + s.obs_duplicates >= 4
        },
    )
    .await;
    assert_eq!(ingest.rejections(), vec![("invalid_signature", 1)]);
    ingest.shutdown().await;

    let reader =
        analyzer_sqlite::SqliteReader::open(&db, &analyzer_sqlite::OpenOptions::default()).unwrap();
    let stats = reader.stats(analyzer_ingest_now()).unwrap();
    assert_eq!(stats.transmissions, 2, "{stats:?}");
    assert_eq!(stats.observations, 3, "{stats:?}");
    assert_eq!(stats.nodes_all_time, 1, "{stats:?}");
    assert_eq!(stats.repeaters, 1, "{stats:?}");
    assert_eq!(stats.signature_drops, 1, "{stats:?}");
    let observers = reader.observers().unwrap();
    let roof = observers
        .iter()
        .find(|o| o.id == "OBS1")
        .expect("observer row");
    assert_eq!(roof.model.as_deref(), Some("Heltec V3"));
    let tx = reader.transmission_by_hash("b1f07307cbc01ce5").unwrap();
    assert_eq!(tx.observations.len(), 2);
    let mut new_rows = 0;
    while let Ok(event) = events.try_recv() {
        if let IngestEvent::Packet(p) = event {
            assert!(p.write.observation.id() > 0);
            new_rows += 1;
        }
    }
    assert_eq!(new_rows, 3);
}

fn analyzer_ingest_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Following a database written by another process: every new row exactly once, also when
/// pages are smaller than the backlog and observations arrive late.
#[test]
fn follower_sees_every_new_row_once() {
    use analyzer_db::{Storage, Watermark, WriteBatch};
    use analyzer_ingest::follow::Follower;
    use analyzer_ingest::process::{Processor, RawMessage, SourceMeta};

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("follow.db");
    let mut storage =
        analyzer_sqlite::SqliteStorage::open(&db, analyzer_sqlite::OpenOptions::default()).unwrap();
    let config = Config::default();
    let processor = Processor::new(
        &config,
        build_decoder(&config, None),
        vec![SourceMeta::default()],
    );
    let rejects = analyzer_ingest::RejectCounters::default();
    let mut write = |items: &[(&str, u32)]| {
        let mut batch = WriteBatch::default();
        for (observer, n) in items {
            let raw = format!("0A00D69FD7A5{n:08X}5DB07337749AE61FA53A4788");
            let payload = json!({"raw": raw}).to_string();
            let topic = format!("meshcore/SJC/{observer}/packets");
            let msg = RawMessage {
                source: 0,
                topic: &topic,
                payload: payload.as_bytes(),
                retained: false,
                now: analyzer_ingest_now(),
            };
            processor.process(&msg, &mut batch, &rejects);
        }
        Storage::write_batch(&mut storage, &batch).unwrap();
    };
    let reader =
        analyzer_sqlite::SqliteReader::open(&db, &analyzer_sqlite::OpenOptions::default()).unwrap();
    let mut follower = Follower::new(
        reader,
        Watermark {
            transmission_id: 0,
            observation_id: 0,
        },
        2,
    );

    write(&[("A", 1)]);
    let rows = follower.poll().unwrap();
    assert_eq!((rows.transmissions.len(), rows.observations.len()), (1, 0));
    assert_eq!(rows.transmissions[0].observations.len(), 1);

    // A late observation of tx 1 and three new transmissions; pages of 2.
    write(&[("B", 1), ("A", 2), ("A", 3), ("A", 4)]);
    let mut txs = Vec::new();
    let mut late = Vec::new();
    for _ in 0..5 {
        let rows = follower.poll().unwrap();
        txs.extend(rows.transmissions.iter().map(|t| t.id));
        late.extend(rows.observations.iter().map(|o| (o.transmission_id, o.id)));
    }
    assert_eq!(txs, vec![2, 3, 4]);
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].0, 1);
    assert!(follower.poll().unwrap().is_empty());
    assert_eq!(
        follower.watermark(),
        Watermark {
            transmission_id: 4,
            observation_id: 5
        }
    );
}

/// Stopping the analyzer in the middle of a burst and starting it again loses nothing: what
/// was acknowledged is committed before shutdown ends, the rest waits in the session.
async fn check_restart_mid_burst(addr: SocketAddr, client_id: &str) {
    let region = client_id;
    struct Slow(MemoryWriter);
    impl analyzer_ingest::BatchWriter for Slow {
        fn write_batch(
            &mut self,
            batch: &analyzer_db::WriteBatch,
        ) -> analyzer_db::DbResult<analyzer_db::BatchOutcome> {
            // Slow enough that the 1500-message burst takes several seconds even on a busy
            // machine, so the restart below lands mid-burst.
            std::thread::sleep(Duration::from_millis(20));
            self.0.write_batch(batch)
        }
    }
    let (config, sources) = config_for(
        json!([{"name": "r", "broker": format!("mqtt://{addr}"), "topics": [format!("meshcore/{region}/#")], "clientId": client_id}]),
    );
    let writer = MemoryWriter::default();
    let options = || {
        let mut o = IngestOptions::from_config(&config);
        o.queue_capacity = 16;
        o.writer.max_batch = 8;
        o
    };
    let ingest = Ingest::start(
        &config,
        sources.clone(),
        build_decoder(&config, None),
        Box::new(Slow(writer.clone())),
        options(),
    )
    .unwrap();
    wait_connected(&ingest).await;
    let n = 1500u32;
    let burst: Vec<_> = (0..n)
        .map(|i| {
            packet_in(
                region,
                "OBS1",
                &format!("0A00D69FD7A5{i:08X}5DB07337749AE61FA53A4788"),
            )
        })
        .collect();
    publish_all(addr, &format!("{client_id}-pub"), &burst).await;
    wait_for("some rows", Duration::from_secs(10), || {
        writer.with(|s| s.observations.len()) > 50
    })
    .await;
    ingest.shutdown().await;
    let after_first = writer.with(|s| s.observations.len());
    assert!(
        after_first < n as usize,
        "the restart must happen mid-burst ({after_first} rows)"
    );

    let ingest = Ingest::start(
        &config,
        sources,
        build_decoder(&config, None),
        Box::new(Slow(writer.clone())),
        options(),
    )
    .unwrap();
    wait_for(
        "every message after the restart",
        Duration::from_secs(30),
        || writer.with(|s| s.observations.len()) == n as usize,
    )
    .await;
    ingest.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_restart_mid_burst_loses_nothing() {
    let addr = embedded_broker();
    check_restart_mid_burst(addr, "emb-restart").await;
}

/// The address named by `var`, checked reachable; `None` (test skipped, with a note) when the
/// variable is unset. Panics when it is set but the broker cannot be reached.
async fn required_broker(var: &str) -> Option<SocketAddr> {
    let Ok(target) = std::env::var(var) else {
        eprintln!("{var} not set: this broker test did not run");
        return None;
    };
    let addr: SocketAddr = tokio::net::lookup_host(target.as_str())
        .await
        .unwrap_or_else(|e| panic!("{var}={target}: {e}"))
        .next()
        .unwrap_or_else(|| panic!("{var}={target}: no address"));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("{var}={target} is set but unreachable: {e}"));
    Some(addr)
}

/// MQTT over WebSocket against Mosquitto's websockets listener
/// (`MESHCORE_TEST_MOSQUITTO_WS=host:port`; the publisher uses `MESHCORE_TEST_MOSQUITTO`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_websocket_when_configured() {
    let Some(ws) = required_broker("MESHCORE_TEST_MOSQUITTO_WS").await else {
        return;
    };
    let tcp = required_broker("MESHCORE_TEST_MOSQUITTO")
        .await
        .expect("MESHCORE_TEST_MOSQUITTO must name the same broker's TCP listener");
    let run = format!("w{}", std::process::id());
    check_end_to_end_via(&format!("ws://{ws}/mqtt"), tcp, &run, true).await;
}

/// MQTT over TLS against Mosquitto's TLS listener with a self-signed certificate
/// (`MESHCORE_TEST_MOSQUITTO_TLS=host:port`): refused by default, accepted with
/// `rejectUnauthorized: false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_tls_when_configured() {
    let Some(tls) = required_broker("MESHCORE_TEST_MOSQUITTO_TLS").await else {
        return;
    };
    let tcp = required_broker("MESHCORE_TEST_MOSQUITTO")
        .await
        .expect("MESHCORE_TEST_MOSQUITTO must name the same broker's TCP listener");
    let run = format!("s{}", std::process::id());
    // Verification on (the default): the self-signed certificate is refused, visibly.
    let (config, sources) = config_for(
        json!([{"name": "strict", "broker": format!("mqtts://{tls}"), "clientId": format!("{run}-strict")}]),
    );
    let writer = MemoryWriter::default();
    let ingest = start(&config, sources, &writer);
    wait_for("a TLS error in the status", Duration::from_secs(10), || {
        ingest.source_statuses()[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.to_lowercase().contains("certificate"))
    })
    .await;
    assert!(!ingest.source_statuses()[0].connected);
    ingest.shutdown().await;
    // Verification off: works end to end.
    check_end_to_end_via(&format!("mqtts://{tls}"), tcp, &run, false).await;
}
