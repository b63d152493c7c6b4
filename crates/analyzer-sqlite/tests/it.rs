//! Integration tests of the SQLite backend: schema, migrations of hand-built CoreScope
//! databases, the batched writer's semantics, readers, retention with vacuum, and crash
//! safety under SIGKILL.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use analyzer_db::time::rfc3339;
use analyzer_db::{
    BackgroundStep, ContentHash, DbError, DroppedPacket, NodeAdvert, ObservationWrite, ObserverRef,
    ObserverStatus, PacketObservation, RecordKind, RetentionPolicy, Storage, StorageReader,
    TransmissionPageQuery, WriteBatch,
};
use analyzer_sqlite::{OpenOptions, SqliteReader, SqliteStorage};
use rusqlite::{Connection, params};

const T0: i64 = 1_780_000_000; // 2026-05-28T…Z

fn hash(n: u64) -> ContentHash {
    ContentHash(n.to_be_bytes())
}

fn packet(n: u64, observer: &str, path: &str, at: i64) -> PacketObservation {
    PacketObservation {
        hash: hash(n),
        raw_hex: format!("15{:016x}AABB", n),
        route_type: 1,
        payload_type: 5,
        payload_version: 0,
        decoded_json: format!(r#"{{"type":"GRP_TXT","channelHashHex":"{:02X}"}}"#, n % 256),
        channel_hash: Some(format!("enc_{:02X}", n % 256)),
        scope_name: None,
        from_pubkey: None,
        observer: Some(ObserverRef {
            id: observer.to_owned(),
            name: Some(format!("name-{observer}")),
            iata: Some("sjc".into()),
        }),
        direction: Some("rx".into()),
        snr: Some(7.5),
        rssi: Some(-90.0),
        score: Some(1000),
        path_json: path.to_owned(),
        resolved_path: None,
        received_at: at,
        advert: None,
    }
}

fn advert(n: u64, key: &str, name: Option<&str>, observer: &str, at: i64) -> PacketObservation {
    let mut p = packet(n, observer, "[]", at);
    p.payload_type = 4;
    p.channel_hash = None;
    p.decoded_json = format!(r#"{{"type":"ADVERT","pubKey":"{key}"}}"#);
    p.from_pubkey = Some(key.to_owned());
    p.advert = Some(NodeAdvert {
        public_key: key.to_owned(),
        name: name.map(str::to_owned),
        role: Some("repeater".into()),
        lat: Some(37.3),
        lon: Some(-121.9),
        battery_mv: None,
        temperature_c: None,
        foreign: false,
    });
    p
}

fn open(path: &Path) -> SqliteStorage {
    SqliteStorage::open(path, OpenOptions::default()).expect("open")
}

fn batch(packets: Vec<PacketObservation>) -> WriteBatch {
    WriteBatch {
        packets,
        ..WriteBatch::default()
    }
}

fn table_columns(conn: &Connection, table: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .unwrap();
    stmt.query_map([table], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn names(conn: &Connection, kind: &str) -> BTreeSet<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = ?1 AND name NOT LIKE 'sqlite_%'")
        .unwrap();
    stmt.query_map([kind], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn one<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> T {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The columns `dbschema.AssertReady` requires (spec ingest.md §6.5).
fn assert_ready(conn: &Connection) {
    assert!(names(conn, "table").contains("neighbor_edges"));
    let required: &[(&str, &[&str])] = &[
        ("observations", &["resolved_path", "raw_hex"]),
        (
            "observers",
            &[
                "inactive",
                "last_packet_at",
                "iata",
                "clock_skew_seconds",
                "clock_skew_count_24h",
                "clock_last_naive_at",
                "can_relay",
                "can_relay_seen",
            ],
        ),
        (
            "nodes",
            &[
                "foreign_advert",
                "default_scope",
                "multibyte_sup",
                "multibyte_evidence",
            ],
        ),
        (
            "inactive_nodes",
            &[
                "foreign_advert",
                "default_scope",
                "multibyte_sup",
                "multibyte_evidence",
            ],
        ),
        ("transmissions", &["from_pubkey", "last_seen", "scope_name"]),
    ];
    for (table, cols) in required {
        let have = table_columns(conn, table);
        for col in *cols {
            assert!(have.iter().any(|h| h == col), "{table}.{col} missing");
        }
    }
}

#[test]
fn fresh_database_has_the_reference_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("sub/meshcore.db"));
    let conn = store.connection();
    let tables = names(conn, "table");
    for t in [
        "nodes",
        "inactive_nodes",
        "observers",
        "transmissions",
        "observations",
        "observer_metrics",
        "dropped_packets",
        "neighbor_edges",
        "client_receptions",
        "client_observers",
        "_migrations",
        "_async_migrations",
    ] {
        assert!(tables.contains(t), "table {t} missing");
    }
    assert_eq!(
        table_columns(conn, "transmissions"),
        [
            "id",
            "raw_hex",
            "hash",
            "first_seen",
            "route_type",
            "payload_type",
            "payload_version",
            "decoded_json",
            "from_pubkey",
            "last_seen",
            "created_at",
            "channel_hash",
            "scope_name"
        ]
    );
    assert_eq!(
        table_columns(conn, "observations"),
        [
            "id",
            "transmission_id",
            "observer_idx",
            "direction",
            "snr",
            "rssi",
            "score",
            "path_json",
            "timestamp",
            "resolved_path",
            "raw_hex"
        ]
    );
    let nodes = table_columns(conn, "nodes");
    assert_eq!(nodes, table_columns(conn, "inactive_nodes"));
    assert_eq!(nodes.len(), 14);
    let observers = table_columns(conn, "observers");
    assert_eq!(&observers[..3], ["id", "name", "iata"]);
    assert_eq!(observers.last().map(String::as_str), Some("observer_idx"));
    assert_eq!(observers.len(), 21);
    let indexes = names(conn, "index");
    for i in [
        "idx_nodes_last_seen",
        "idx_nodes_foreign_advert",
        "idx_inactive_nodes_last_seen",
        "idx_observers_last_seen",
        "idx_transmissions_hash",
        "idx_transmissions_first_seen",
        "idx_transmissions_payload_type",
        "idx_transmissions_from_pubkey",
        "idx_tx_channel_hash",
        "idx_tx_scope_name",
        "idx_tx_last_seen_zero",
        "idx_observations_transmission_id",
        "idx_observations_observer_idx",
        "idx_observations_timestamp",
        "idx_observations_dedup",
        "idx_observations_tx_ts",
        "idx_observations_observer_idx_timestamp",
        "idx_observer_metrics_timestamp",
        "idx_dropped_observer",
        "idx_dropped_node",
        "idx_client_recept_heard_geo",
        "idx_client_recept_latlon",
        "idx_client_recept_rxat",
    ] {
        assert!(indexes.contains(i), "index {i} missing");
    }
    assert!(!indexes.contains("idx_tx_last_seen"));
    assert_eq!(
        table_columns(conn, "packets_v"),
        [
            "id",
            "raw_hex",
            "timestamp",
            "observer_id",
            "observer_name",
            "direction",
            "snr",
            "rssi",
            "score",
            "hash",
            "route_type",
            "payload_type",
            "payload_version",
            "path_json",
            "decoded_json",
            "created_at"
        ]
    );
    assert_ready(conn);
    assert_eq!(store.auto_vacuum_mode().unwrap(), 2);
    let journal: String = one(conn, "PRAGMA journal_mode");
    assert_eq!(journal, "wal");
    for marker in [
        "advert_count_unique_v1",
        "obs_observer_ts_idx_v1",
        "mca_schema_v1",
    ] {
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM _migrations WHERE name = ?1",
                [marker],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "marker {marker}");
    }
    let done: i64 = one(
        conn,
        "SELECT COUNT(*) FROM _async_migrations WHERE status = 'done'",
    );
    assert_eq!(done, 2);
    assert!(store.migration_report().fresh);
    assert_eq!(store.pending_background_jobs(), 0);
}

#[test]
fn reopening_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    {
        let mut s = open(&path);
        s.write_batch(&batch(vec![packet(1, "OBS1", "[]", T0)]))
            .unwrap();
    }
    let s = open(&path);
    let report = s.migration_report();
    assert!(!report.fresh);
    assert!(report.applied.is_empty(), "{:?}", report.applied);
    assert!(
        report.background_jobs.is_empty(),
        "{:?}",
        report.background_jobs
    );
    assert_eq!(s.stats(T0).unwrap().observations, 1);
}

#[test]
fn write_then_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    let mut p = packet(42, "ObsA", r#"["1000","D818"]"#, T0);
    p.scope_name = Some("#sf".into());
    p.resolved_path = Some(r#"[null,"ab"]"#.into());
    let out = s.write_batch(&batch(vec![p.clone()])).unwrap();
    let w = out.packets[0].unwrap();
    assert!(w.new_transmission);
    assert!(matches!(w.observation, ObservationWrite::Inserted(_)));
    let tx = s.transmission_by_hash(&hash(42).to_string()).unwrap();
    assert_eq!(tx.id, w.transmission_id);
    assert_eq!(tx.hash, "000000000000002a");
    assert_eq!(tx.raw_hex, p.raw_hex);
    assert_eq!(tx.first_seen, rfc3339(T0));
    assert_eq!(tx.last_seen, T0);
    assert_eq!(tx.payload_type, Some(5));
    assert_eq!(tx.channel_hash.as_deref(), Some("enc_2A"));
    assert_eq!(tx.scope_name.as_deref(), Some("#sf"));
    assert_eq!(tx.observations.len(), 1);
    let o = &tx.observations[0];
    assert_eq!(o.id, w.observation.id());
    assert_eq!(o.observer_idx, w.observer_idx);
    assert_eq!(o.path_json.as_deref(), Some(r#"["1000","D818"]"#));
    assert_eq!(o.resolved_path.as_deref(), Some(r#"[null,"ab"]"#));
    assert_eq!(
        (o.snr, o.rssi, o.score, o.timestamp),
        (Some(7.5), Some(-90.0), Some(1000), T0)
    );
    let observers = s.observers().unwrap();
    assert_eq!(observers.len(), 1);
    assert_eq!(observers[0].id, "ObsA");
    assert_eq!(observers[0].iata.as_deref(), Some("SJC"));
    assert_eq!(Some(observers[0].idx), w.observer_idx);
    assert!(matches!(
        s.transmission_by_hash("ffffffffffffffff"),
        Err(DbError::NotFound)
    ));
    // packets_v shows the transmission's raw hex although the observation stored none.
    let conn = s.connection();
    let (raw, ts, obs): (String, String, String) = conn
        .query_row(
            "SELECT raw_hex, timestamp, observer_id FROM packets_v",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(raw, p.raw_hex);
    assert_eq!(obs, "ObsA");
    assert_eq!(ts, analyzer_db::time::sqlite_datetime(T0));
}

#[test]
fn same_hash_twice_is_one_transmission_and_same_path_is_one_observation() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    let a = packet(7, "A", r#"["01"]"#, T0);
    let b = packet(7, "B", r#"["02"]"#, T0 + 5);
    let mut a_again = packet(7, "A", r#"["01"]"#, T0 + 9);
    a_again.snr = None;
    a_again.rssi = Some(-80.0);
    a_again.resolved_path = Some(r#"["aa"]"#.into());
    let out = s.write_batch(&batch(vec![a, b, a_again])).unwrap();
    let w: Vec<_> = out.packets.iter().map(|p| p.unwrap()).collect();
    assert!(w[0].new_transmission && !w[1].new_transmission && !w[2].new_transmission);
    assert_eq!(w[0].transmission_id, w[1].transmission_id);
    assert!(matches!(w[1].observation, ObservationWrite::Inserted(_)));
    assert_eq!(
        w[2].observation,
        ObservationWrite::Duplicate(w[0].observation.id())
    );
    assert_eq!((out.counters.tx_inserted, out.counters.tx_dupes), (1, 2));
    assert_eq!((out.counters.obs_inserted, out.counters.obs_merged), (2, 1));
    let tx = s.transmission_by_hash(&hash(7).to_string()).unwrap();
    assert_eq!(tx.observations.len(), 2);
    assert_eq!(
        tx.last_seen,
        T0 + 9,
        "last_seen follows the newest observation"
    );
    let merged = tx
        .observations
        .iter()
        .find(|o| o.id == w[0].observation.id())
        .unwrap();
    assert_eq!(merged.snr, Some(7.5), "NULL does not erase a stored value");
    assert_eq!(merged.rssi, Some(-80.0), "a new value replaces the old");
    assert_eq!(merged.resolved_path.as_deref(), Some(r#"["aa"]"#));
    // An older duplicate moves first_seen back but never last_seen.
    s.write_batch(&batch(vec![packet(7, "C", "[]", T0 - 60)]))
        .unwrap();
    let tx = s.transmission_by_hash(&hash(7).to_string()).unwrap();
    assert_eq!(tx.first_seen, rfc3339(T0 - 60));
    assert_eq!(tx.last_seen, T0 + 9);
}

#[test]
fn first_packet_of_a_new_observer_is_linked() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    s.write_batch(&batch(vec![packet(1, "NEW", "[]", T0)]))
        .unwrap();
    let nulls: i64 = one(
        s.connection(),
        "SELECT COUNT(*) FROM observations WHERE observer_idx IS NULL",
    );
    assert_eq!(nulls, 0);
    let id: String = one(s.connection(), "SELECT observer_id FROM packets_v");
    assert_eq!(id, "NEW");
    let obs = &s.observers().unwrap()[0];
    assert_eq!(obs.packet_count, 1);
    assert_eq!(obs.last_packet_at.as_deref(), Some(rfc3339(T0).as_str()));
}

#[test]
fn empty_or_missing_names_never_overwrite_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    let key = "aa".repeat(32);
    s.write_batch(&batch(vec![advert(1, &key, Some("Roof"), "O", T0)]))
        .unwrap();
    let mut p = advert(2, &key, Some(""), "O", T0 + 1);
    if let Some(o) = p.observer.as_mut() {
        o.name = Some(String::new());
        o.iata = Some("  ".into());
    }
    p.advert.as_mut().unwrap().lat = None;
    s.write_batch(&batch(vec![p])).unwrap();
    let status = ObserverStatus {
        id: "O".into(),
        name: Some(String::new()),
        received_at: T0 + 2,
        ..Default::default()
    };
    s.write_batch(&WriteBatch {
        statuses: vec![status],
        ..WriteBatch::default()
    })
    .unwrap();
    let node = &s.nodes().unwrap()[0];
    assert_eq!(node.name.as_deref(), Some("Roof"));
    assert_eq!(
        node.lat,
        Some(37.3),
        "an advert without location keeps the old one"
    );
    assert_eq!(node.advert_count, 2);
    let obs = &s.observers().unwrap()[0];
    assert_eq!(obs.name.as_deref(), Some("name-O"));
    assert_eq!(obs.iata.as_deref(), Some("SJC"));
}

#[test]
fn adverts_count_unique_transmissions_and_foreign_is_sticky() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    let key = "BB".repeat(32);
    let mut first = advert(1, &key, Some("N"), "O1", T0);
    first.advert.as_mut().unwrap().foreign = true;
    let heard_again = advert(1, &key, Some("N"), "O2", T0 + 1);
    let mut later = advert(2, &key, Some("N2"), "O1", T0 + 2);
    later.advert.as_mut().unwrap().battery_mv = Some(3900);
    later.scope_name = Some("#west".into());
    s.write_batch(&batch(vec![first, heard_again, later]))
        .unwrap();
    let node = &s.nodes().unwrap()[0];
    assert_eq!(
        node.public_key,
        "bb".repeat(32),
        "keys are stored lower-case"
    );
    assert_eq!(node.advert_count, 2);
    assert!(node.foreign_advert);
    assert_eq!(node.battery_mv, Some(3900));
    assert_eq!(node.default_scope.as_deref(), Some("#west"));
    assert_eq!(node.name.as_deref(), Some("N2"));
    let tx = s.transmission_by_hash(&hash(1).to_string()).unwrap();
    assert_eq!(tx.from_pubkey.as_deref(), Some("bb".repeat(32).as_str()));
}

#[test]
fn retained_status_updates_metadata_but_not_liveness() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    let live = ObserverStatus {
        id: "OBS".into(),
        name: Some("Obs".into()),
        iata: Some("pdx".into()),
        battery_mv: Some(4100),
        noise_floor: Some(-110.0),
        can_relay: Some(false),
        received_at: T0,
        ..Default::default()
    };
    let retained = ObserverStatus {
        model: Some("Heltec V3".into()),
        battery_mv: Some(3000),
        retained: true,
        received_at: T0 + 3600,
        ..live.clone()
    };
    let out = s
        .write_batch(&WriteBatch {
            statuses: vec![live, retained],
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(out.counters.metrics_samples, 1);
    let o = &s.observers().unwrap()[0];
    assert_eq!(o.last_seen.as_deref(), Some(rfc3339(T0).as_str()));
    assert_eq!(o.packet_count, 1);
    assert_eq!(o.model.as_deref(), Some("Heltec V3"));
    assert_eq!(o.battery_mv, Some(3000));
    assert!(!o.can_relay && o.can_relay_seen);
    let samples: i64 = one(s.connection(), "SELECT COUNT(*) FROM observer_metrics");
    assert_eq!(samples, 1);
    let bucket: String = one(s.connection(), "SELECT timestamp FROM observer_metrics");
    assert_eq!(bucket, rfc3339((T0 + 150) / 300 * 300));
    // A retained status for an unknown observer creates it without claiming it is alive.
    let ghost = ObserverStatus {
        id: "GHOST".into(),
        retained: true,
        received_at: T0,
        ..Default::default()
    };
    s.write_batch(&WriteBatch {
        statuses: vec![ghost],
        ..WriteBatch::default()
    })
    .unwrap();
    let ghost = s
        .observers()
        .unwrap()
        .into_iter()
        .find(|o| o.id == "GHOST")
        .unwrap();
    assert_eq!(ghost.last_seen, None);
}

#[test]
fn invalid_records_are_rejected_and_the_rest_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    let mut bad = packet(2, "O", "[]", T0);
    bad.route_type = 9;
    let mut bad_key = advert(3, "not hex!", None, "O", T0);
    bad_key.from_pubkey = None;
    let mut nan = packet(4, "O", "[]", T0);
    nan.snr = Some(f64::NAN);
    let b = WriteBatch {
        packets: vec![packet(1, "O", "[]", T0), bad, bad_key, nan],
        statuses: vec![ObserverStatus {
            id: " ".into(),
            ..Default::default()
        }],
        dropped: vec![DroppedPacket {
            hash: Some(hash(9)),
            raw_hex: Some("00".into()),
            reason: "invalid signature".into(),
            observer_id: Some("O".into()),
            observer_name: None,
            node_pubkey: Some("CC".repeat(32)),
            node_name: Some("x".into()),
            dropped_at: T0,
        }],
        ..WriteBatch::default()
    };
    let out = s.write_batch(&b).unwrap();
    assert!(out.packets[0].is_some() && out.packets[3].is_some());
    assert!(out.packets[1].is_none() && out.packets[2].is_none());
    assert_eq!(out.rejected.len(), 3);
    assert_eq!(out.rejected[2].kind, RecordKind::Status);
    let stats = s.stats(T0).unwrap();
    assert_eq!(
        (
            stats.transmissions,
            stats.observations,
            stats.signature_drops
        ),
        (2, 2, 1)
    );
    let snr: Option<f64> = one(s.connection(), "SELECT snr FROM observations WHERE id = 2");
    assert_eq!(snr, None, "NaN is stored as NULL");
}

#[test]
fn stats_and_paged_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut s = open(&path);
    let mut packets = Vec::new();
    for n in 1..=25u64 {
        // Transmission n is heard at T0 + n*100, by observers O1..O3.
        for o in 1..=3 {
            packets.push(packet(n, &format!("O{o}"), "[]", T0 + n as i64 * 100));
        }
    }
    // Transmission 2 is heard again much later: it belongs to a recent window.
    packets.push(packet(2, "O4", r#"["AA"]"#, T0 + 5000));
    packets.push(advert(100, &"dd".repeat(32), Some("R"), "O1", T0 + 10));
    s.write_batch(&batch(packets)).unwrap();
    let now = T0 + 5000;
    let st = s.stats(now).unwrap();
    assert_eq!(
        (st.transmissions, st.observations, st.observers),
        (26, 77, 4)
    );
    assert_eq!(
        (st.nodes_all_time, st.nodes_active_7d, st.repeaters),
        (1, 1, 1)
    );
    assert_eq!(st.observations_last_hour, 1 + 3 * 11); // heard after now-3600 = T0+1400
    let reader = SqliteReader::open(&path, &OpenOptions::default()).unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = reader
            .load_transmissions(&TransmissionPageQuery {
                before_id: before,
                min_last_seen: Some(T0 + 2000),
                scan_limit: 4,
            })
            .unwrap();
        for t in &page.transmissions {
            let ts: Vec<i64> = t.observations.iter().map(|o| o.timestamp).collect();
            assert!(
                ts.windows(2).all(|w| w[0] >= w[1]),
                "observations newest first"
            );
            seen.push(t.id);
        }
        match page.next_before_id {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    // Window T0+2000: transmissions 20..=25 (ids 20..25) plus id 2 (re-heard).
    assert_eq!(seen, [25, 24, 23, 22, 21, 20, 2]);
    let tx2 = reader.transmission_by_hash(&hash(2).to_string()).unwrap();
    assert_eq!(tx2.observations.len(), 4);
    let wm = reader.watermark().unwrap();
    assert_eq!((wm.transmission_id, wm.observation_id), (26, 77));
    let after = reader.transmissions_after(24, 10).unwrap();
    assert_eq!(after.iter().map(|t| t.id).collect::<Vec<_>>(), [25, 26]);
    assert_eq!(after[0].observations.len(), 3);
    let obs = reader.observations_after(70, 100).unwrap();
    assert_eq!(obs.len(), 7);
    assert!(obs.windows(2).all(|w| w[0].id < w[1].id));
}

/// A CoreScope database as an older ingestor left it: observers keyed by implicit rowid
/// (with a gap), no `idx_observations_dedup` and duplicate observations, no
/// `observations.raw_hex`/`resolved_path`, no `transmissions.last_seen`/`from_pubkey`/
/// `channel_hash`/`scope_name`, nodes without telemetry columns, no newer tables.
fn build_legacy_db(path: &Path) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE nodes (public_key TEXT PRIMARY KEY, name TEXT, role TEXT, lat REAL,
             lon REAL, last_seen TEXT, first_seen TEXT, advert_count INTEGER DEFAULT 0);
         CREATE TABLE observers (id TEXT PRIMARY KEY, name TEXT, iata TEXT, last_seen TEXT,
             first_seen TEXT, packet_count INTEGER DEFAULT 0, model TEXT, firmware TEXT,
             client_version TEXT, radio TEXT, battery_mv INTEGER, uptime_secs INTEGER,
             noise_floor INTEGER, legacy_note TEXT DEFAULT 'kept');
         CREATE TABLE transmissions (id INTEGER PRIMARY KEY AUTOINCREMENT,
             raw_hex TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, first_seen TEXT NOT NULL,
             route_type INTEGER, payload_type INTEGER, payload_version INTEGER,
             decoded_json TEXT, created_at TEXT DEFAULT (datetime('now')));
         CREATE TABLE observations (id INTEGER PRIMARY KEY AUTOINCREMENT,
             transmission_id INTEGER NOT NULL REFERENCES transmissions(id),
             observer_idx INTEGER, direction TEXT, snr REAL, rssi REAL, score INTEGER,
             path_json TEXT, timestamp INTEGER NOT NULL);
         CREATE INDEX idx_observations_transmission_id ON observations(transmission_id);
         CREATE TABLE _migrations (name TEXT PRIMARY KEY);
         INSERT INTO _migrations VALUES ('advert_count_unique_v1');
         INSERT INTO observers (id, name, iata, last_seen, noise_floor)
             VALUES ('OBS-A', 'A', 'SJC', '2026-05-01T00:00:00.123Z', -110),
                    ('OBS-GONE', 'gone', 'SJC', '2026-05-01T00:00:00Z', NULL),
                    ('OBS-C', 'C', 'PDX', '2026-05-01T00:00:00Z', -100);
         DELETE FROM observers WHERE id = 'OBS-GONE';
         INSERT INTO observers (id, name) VALUES ('OBS-D', 'D');
         INSERT INTO nodes VALUES ('ABCDEF', 'Upper', 'repeater', 1.0, 2.0,
             '2026-05-01T00:00:00Z', '2026-04-01T00:00:00Z', 5);
         INSERT INTO transmissions (raw_hex, hash, first_seen, route_type, payload_type,
                 payload_version, decoded_json) VALUES
             ('11AA', 'aaaaaaaaaaaaaaaa', '2026-05-01T00:00:00Z', 1, 4, 0,
              '{\"type\":\"ADVERT\",\"pubKey\":\"ABCDEF\"}'),
             ('15BB', 'bbbbbbbbbbbbbbbb', '2026-05-01T00:00:01Z', 1, 5, 0,
              '{\"type\":\"CHAN\",\"channel\":\"public\",\"text\":\"hi\"}'),
             ('15CC', 'cccccccccccccccc', '2026-05-01T00:00:02Z', 1, 5, 0,
              '{\"type\":\"GRP_TXT\",\"channelHashHex\":\"5a\"}'),
             ('0900', 'dddddddddddddddd', '2026-05-01T00:00:03Z', 1, 2, 0, 'not json');",
    )
    .unwrap();
    let a: i64 = c
        .query_row("SELECT rowid FROM observers WHERE id='OBS-A'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let cc: i64 = c
        .query_row("SELECT rowid FROM observers WHERE id='OBS-C'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let d: i64 = c
        .query_row("SELECT rowid FROM observers WHERE id='OBS-D'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        (a, cc, d),
        (1, 3, 4),
        "the legacy observers have a rowid gap"
    );
    let obs =
        |tx: i64, o: Option<i64>, snr: Option<f64>, rssi: Option<f64>, path: &str, ts: i64| {
            c.execute(
                "INSERT INTO observations (transmission_id, observer_idx, direction, snr, rssi,
                 score, path_json, timestamp) VALUES (?1, ?2, 'rx', ?3, ?4, NULL, ?5, ?6)",
                params![tx, o, snr, rssi, path, ts],
            )
            .unwrap();
        };
    obs(1, Some(a), Some(5.0), None, "[]", T0);
    obs(1, Some(a), None, Some(-70.0), "[]", T0 + 10); // duplicate of the row above
    obs(1, Some(a), Some(6.0), None, "[]", T0 + 20); // and another
    obs(1, Some(cc), Some(1.0), Some(-99.0), "[]", T0 + 30);
    obs(2, Some(d), Some(2.0), Some(-98.0), r#"["AB"]"#, T0 + 40);
    obs(2, None, Some(3.0), None, r#"["AB"]"#, T0 + 50);
    obs(2, None, Some(3.0), None, r#"["AB"]"#, T0 + 50); // NULL observers never conflict
    obs(3, Some(cc), None, None, "[]", T0 + 60);
}

#[test]
fn legacy_corescope_database_migrates_in_place_without_losing_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legacy.db");
    build_legacy_db(&path);
    let mut s = open(&path);
    let report = s.migration_report().clone();
    assert!(!report.fresh);
    assert_eq!(report.merged_duplicate_observations, 2);
    assert!(
        report
            .applied
            .iter()
            .any(|a| a == "mca_observers_stable_key_v1")
    );
    assert!(
        report
            .applied
            .iter()
            .any(|a| a == "add_column_transmissions_last_seen")
    );
    assert!(
        report
            .background_jobs
            .iter()
            .any(|j| j == "tx_last_seen_backfill_v1")
    );
    assert_ready(s.connection());
    {
        let conn = s.connection();
        // Observers: same rowids, same data, unknown columns carried over.
        let rows: Vec<(i64, String, String)> = conn
            .prepare("SELECT rowid, id, legacy_note FROM observers ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            [
                (1, "OBS-A".into(), "kept".into()),
                (3, "OBS-C".into(), "kept".into()),
                (4, "OBS-D".into(), "kept".into())
            ]
        );
        let nf: f64 = one(conn, "SELECT noise_floor FROM observers WHERE id = 'OBS-A'");
        assert_eq!(nf, -110.0);
        let kind: String = one(
            conn,
            "SELECT typeof(noise_floor) FROM observers WHERE id = 'OBS-A'",
        );
        assert_eq!(kind, "real");
        // Duplicates merged with the upsert's COALESCE rule: newest non-NULL value wins.
        let (n, snr, rssi): (i64, f64, f64) = conn
            .query_row(
                "SELECT COUNT(*), MAX(snr), MAX(rssi) FROM observations
                 WHERE transmission_id = 1 AND observer_idx = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((n, snr, rssi), (1, 6.0, -70.0));
        let total: i64 = one(conn, "SELECT COUNT(*) FROM observations");
        assert_eq!(total, 6);
        let links: Vec<(i64, String)> = conn
            .prepare(
                "SELECT id, observer_id FROM packets_v WHERE observer_id IS NOT NULL ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            links,
            [
                (1, "OBS-A".into()),
                (4, "OBS-C".into()),
                (5, "OBS-D".into()),
                (8, "OBS-C".into())
            ]
        );
        let key: String = one(conn, "SELECT public_key FROM nodes");
        assert_eq!(key, "abcdef");
        let count: i64 = one(conn, "SELECT advert_count FROM nodes");
        assert_eq!(count, 5, "a marked migration is not re-run");
    }
    // Background jobs run in bounded steps and record themselves.
    let mut steps = 0;
    loop {
        match s.run_background_step().unwrap() {
            BackgroundStep::Idle => break,
            _ => steps += 1,
        }
    }
    assert!(steps >= 4, "{steps}");
    let conn = s.connection();
    let last_seen: Vec<i64> = conn
        .prepare("SELECT last_seen FROM transmissions ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(last_seen, [T0 + 30, T0 + 50, T0 + 60, 0]);
    let channels: Vec<Option<String>> = conn
        .prepare("SELECT channel_hash FROM transmissions ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        channels,
        [None, Some("Public".into()), Some("enc_5A".into()), None]
    );
    let from: Option<String> = one(conn, "SELECT from_pubkey FROM transmissions WHERE id = 1");
    assert_eq!(from.as_deref(), Some("abcdef"));
    let done: i64 = one(
        conn,
        "SELECT COUNT(*) FROM _async_migrations WHERE status = 'done'",
    );
    assert_eq!(done, 4);
    assert_eq!(s.integrity_check().unwrap(), ["ok"]);
    drop(s);
    // Reopening finds nothing left to do; new writes link to the migrated observers.
    let mut s = open(&path);
    assert!(s.migration_report().applied.is_empty());
    assert!(s.migration_report().background_jobs.is_empty());
    let out = s
        .write_batch(&batch(vec![packet(77, "OBS-C", "[]", T0 + 100)]))
        .unwrap();
    assert_eq!(out.packets[0].unwrap().observer_idx, Some(3));
    let out = s
        .write_batch(&batch(vec![packet(78, "OBS-NEW", "[]", T0 + 100)]))
        .unwrap();
    assert_eq!(
        out.packets[0].unwrap().observer_idx,
        Some(5),
        "never reuses a rowid"
    );
}

#[test]
fn vacuum_keeps_observation_observer_links() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legacy.db");
    build_legacy_db(&path);
    let mut s = open(&path);
    s.finish_background().unwrap();
    s.write_batch(&batch(vec![packet(9, "OBS-Z", "[]", T0)]))
        .unwrap();
    let links = |c: &Connection| -> Vec<(i64, String)> {
        c.prepare(
            "SELECT o.id, obs.id FROM observations o
             JOIN observers obs ON obs.rowid = o.observer_idx ORDER BY o.id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let before = links(s.connection());
    s.connection()
        .execute_batch("DELETE FROM observers WHERE id = 'OBS-D'; VACUUM")
        .unwrap();
    let after = links(s.connection());
    let expected: Vec<_> = before.into_iter().filter(|(_, id)| id != "OBS-D").collect();
    assert_eq!(after, expected);
}

#[test]
fn reference_queries_still_run_on_our_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    s.write_batch(&batch(vec![
        packet(1, "X", "[]", T0),
        advert(2, &"ee".repeat(32), Some("N"), "X", T0),
    ]))
    .unwrap();
    let c = s.connection();
    // The reference ingestor's observer lookup and upsert (no observer_idx column named).
    let rowid: i64 = c
        .query_row("SELECT rowid FROM observers WHERE id = ?1", ["X"], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rowid, 1);
    c.execute(
        "INSERT INTO observers (id, name, iata, last_seen, first_seen, packet_count)
         VALUES (?1, ?2, ?3, ?4, ?4, 1)
         ON CONFLICT(id) DO UPDATE SET name = COALESCE(?2, name), last_seen = ?4,
             packet_count = packet_count + 1",
        params!["Y", "y", "SJC", rfc3339(T0)],
    )
    .unwrap();
    let y: i64 = c
        .query_row("SELECT rowid FROM observers WHERE id = 'Y'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(y, 2);
    // Its node retention (SELECT *) and its observation insert.
    c.execute_batch(&format!(
        "INSERT OR REPLACE INTO inactive_nodes SELECT * FROM nodes WHERE last_seen < '{}';
         DELETE FROM nodes WHERE last_seen < '{}';",
        rfc3339(T0 + 1),
        rfc3339(T0 + 1)
    ))
    .unwrap();
    let inactive: i64 = one(c, "SELECT COUNT(*) FROM inactive_nodes");
    assert_eq!(inactive, 1);
    c.execute(
        "INSERT INTO observations (transmission_id, observer_idx, direction, snr, rssi, score,
             path_json, timestamp, raw_hex, resolved_path)
         VALUES (1, ?1, 'rx', 1, 2, 3, '[]', ?2, NULL, NULL)
         ON CONFLICT(transmission_id, observer_idx, COALESCE(path_json, '')) DO UPDATE SET
             snr = COALESCE(excluded.snr, snr)",
        params![y, T0],
    )
    .unwrap();
    // The server's chunked load join.
    let n: i64 = one(
        c,
        "SELECT COUNT(*) FROM (SELECT * FROM transmissions t2 WHERE t2.id > -1 ORDER BY t2.id
         LIMIT 100) t LEFT JOIN observations o ON o.transmission_id = t.id
         LEFT JOIN observers obs ON obs.rowid = o.observer_idx",
    );
    assert_eq!(n, 3);
    // An advert for a node that retention retired brings its history back.
    s.write_batch(&batch(vec![advert(
        3,
        &"ee".repeat(32),
        None,
        "X",
        T0 + 10,
    )]))
    .unwrap();
    let node = &s.nodes().unwrap()[0];
    assert_eq!((node.advert_count, node.name.as_deref()), (2, Some("N")));
    assert_eq!(node.first_seen.as_deref(), Some(rfc3339(T0).as_str()));
    let inactive: i64 = one(s.connection(), "SELECT COUNT(*) FROM inactive_nodes");
    assert_eq!(inactive, 0);
}

#[test]
fn retention_prunes_in_small_steps_and_vacuum_returns_pages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut s = open(&path);
    let day = 86_400;
    let old = T0 - 40 * day;
    let filler = "ab".repeat(200);
    for chunk in 0..10u64 {
        let mut packets = Vec::new();
        for n in chunk * 200..(chunk + 1) * 200 {
            let mut p = packet(n, &format!("O{}", n % 5), "[]", old);
            p.decoded_json = filler.clone();
            packets.push(p);
        }
        s.write_batch(&batch(packets)).unwrap();
    }
    // Transmission 5 is old but was heard again yesterday: it must survive.
    s.write_batch(&batch(vec![packet(5, "O9", r#"["01"]"#, T0 - day)]))
        .unwrap();
    // A recent one, and old metrics/dropped rows.
    let mut recent = batch(vec![packet(50_000, "O1", "[]", T0)]);
    recent.statuses.push(ObserverStatus {
        id: "O7".into(),
        noise_floor: Some(-100.0),
        received_at: old,
        ..Default::default()
    });
    recent.dropped.push(DroppedPacket {
        hash: None,
        raw_hex: None,
        reason: "invalid signature".into(),
        observer_id: None,
        observer_name: None,
        node_pubkey: None,
        node_name: None,
        dropped_at: old,
    });
    s.write_batch(&recent).unwrap();
    s.checkpoint().unwrap();
    let policy = RetentionPolicy {
        packet_days: Some(30),
        ..RetentionPolicy::default()
    };
    let mut total = analyzer_db::PruneReport::default();
    let mut steps = 0;
    loop {
        let r = s.prune_step(&policy, T0, 150).unwrap();
        assert!(r.transmissions <= 150);
        total.accumulate(&r);
        steps += 1;
        // Writes interleave with the pass.
        s.write_batch(&batch(vec![packet(60_000 + steps, "O2", "[]", T0)]))
            .unwrap();
        if !r.more {
            break;
        }
    }
    assert!(steps > 10, "the pass was split into small steps ({steps})");
    assert_eq!(total.transmissions, 1999);
    assert_eq!(total.observations, 1999);
    assert_eq!(total.metrics, 1);
    assert_eq!(total.dropped_packets, 1);
    assert!(s.transmission_by_hash(&hash(5).to_string()).is_ok());
    assert!(s.transmission_by_hash(&hash(6).to_string()).is_err());
    let observers = s.observers().unwrap();
    let inactive = |id: &str| observers.iter().find(|o| o.id == id).unwrap().inactive;
    assert!(
        !inactive("O1") && !inactive("O2"),
        "observers heard recently stay active"
    );
    assert!(
        inactive("O0") && inactive("O3"),
        "silent observers are soft-deleted"
    );
    s.checkpoint().unwrap();
    let size_before = std::fs::metadata(&path).unwrap().len();
    let v = s.incremental_vacuum(100_000).unwrap();
    assert!(v.free_pages_before > 100, "{v:?}");
    assert_eq!(v.free_pages_after, 0);
    s.checkpoint().unwrap();
    let size_after = std::fs::metadata(&path).unwrap().len();
    assert!(
        size_after + v.free_pages_before * v.page_size / 2 < size_before,
        "file shrank: {size_before} -> {size_after}"
    );
    assert_eq!(s.integrity_check().unwrap(), ["ok"]);
}

#[test]
fn node_and_observer_retention() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    let day = 86_400;
    s.write_batch(&batch(vec![
        advert(1, &"a1".repeat(32), Some("old"), "OLD-OBS", T0 - 20 * day),
        advert(2, &"a2".repeat(32), Some("new"), "NEW-OBS", T0),
    ]))
    .unwrap();
    let r = s.prune_step(&RetentionPolicy::default(), T0, 100).unwrap();
    assert_eq!(
        (r.nodes_retired, r.observers_retired, r.more),
        (1, 1, false)
    );
    let nodes = s.nodes().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].name.as_deref(), Some("new"));
    let inactive: String = one(s.connection(), "SELECT name FROM inactive_nodes");
    assert_eq!(inactive, "old");
    let obs = s.observers().unwrap();
    assert!(obs.iter().find(|o| o.id == "OLD-OBS").unwrap().inactive);
    assert_eq!(s.stats(T0).unwrap().observers, 1);
    // A packet from the retired observer reactivates it.
    s.write_batch(&batch(vec![packet(3, "OLD-OBS", "[]", T0)]))
        .unwrap();
    assert_eq!(s.stats(T0).unwrap().observers, 2);
}

#[test]
fn not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    match SqliteStorage::open(&path, OpenOptions::default()) {
        Err(DbError::UnsupportedSchema(_)) => {}
        other => panic!("unexpected: {other:?}"),
    }
}

const CRASH_ENV: &str = "ANALYZER_SQLITE_CRASH_CHILD_DB";

/// Child half of the kill test: writes batches forever and prints each committed one.
/// Does nothing unless spawned by the parent with the environment variable set.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CRASH_ENV) else {
        return;
    };
    let mut s = open(Path::new(&path));
    for b in 0u64.. {
        let packets = (0..200u64)
            .map(|i| {
                packet(
                    b * 1000 + i / 4,
                    &format!("O{}", i % 4),
                    "[]",
                    T0 + b as i64,
                )
            })
            .collect();
        s.write_batch(&batch(packets)).unwrap();
        println!("committed {b}");
    }
}

#[test]
fn sigkill_during_a_burst_loses_no_committed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    drop(open(&path));
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut committed = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            committed.push(n.parse::<u64>().unwrap());
            if committed.len() == 40 {
                child.kill().unwrap(); // SIGKILL, mid-burst
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(committed.len(), 40);
    let s = open(&path);
    assert_eq!(s.integrity_check().unwrap(), ["ok"]);
    for b in &committed {
        for h in [b * 1000, b * 1000 + 49] {
            let tx = s.transmission_by_hash(&hash(h).to_string()).unwrap();
            assert_eq!(tx.observations.len(), 4, "batch {b}");
        }
    }
    // Whatever else is there is whole batches only.
    let st = s.stats(T0).unwrap();
    assert_eq!(st.observations % 200, 0);
    assert!(st.observations >= 40 * 200);
}

#[test]
fn one_batch_counts_every_packet_of_an_observer() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    let mut renamed = packet(3, "O", "[]", T0 + 1);
    renamed.observer.as_mut().unwrap().name = Some("Renamed".into());
    let b = batch(vec![
        packet(1, "O", "[]", T0),
        packet(2, "O", "[]", T0 + 2),
        packet(4, "O", "[]", T0 + 1),
        renamed,
        packet(5, "P", "[]", T0),
    ]);
    let out = s.write_batch(&b).unwrap();
    assert_eq!(out.counters.observer_upserts, 5);
    let observers = s.observers().unwrap();
    let o = observers.iter().find(|o| o.id == "O").unwrap();
    assert_eq!(o.packet_count, 4);
    assert_eq!(o.name.as_deref(), Some("Renamed"));
    assert_eq!(o.last_seen.as_deref(), Some(rfc3339(T0 + 2).as_str()));
    assert_eq!(o.last_packet_at.as_deref(), Some(rfc3339(T0 + 2).as_str()));
    let p = observers.iter().find(|o| o.id == "P").unwrap();
    assert_eq!(p.packet_count, 1);
    // Every observation of the batch links to its observer.
    let unlinked: i64 = one(
        s.connection(),
        "SELECT COUNT(*) FROM observations WHERE observer_idx IS NULL",
    );
    assert_eq!(unlinked, 0);
}

#[test]
fn clock_skew_events_and_client_receptions() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    let skew = |at| analyzer_db::ClockSkewEvent {
        observer_id: "OBS".into(),
        skew_seconds: -3600,
        at,
    };
    let rx = analyzer_db::ClientReception {
        rx_pubkey: "AB12".into(),
        heard_key: "CD34".into(),
        heard_keylen: 2,
        rssi: Some(-90),
        snr: Some(5.5),
        lat: 45.5,
        lon: -122.6,
        pos_acc_m: None,
        rx_at: T0,
        ingested_at: T0 + 1,
        src: "rxlog".into(),
        rx_name: Some("phone".into()),
    };
    let mut bad_rx = rx.clone();
    bad_rx.lat = 123.0;
    let b = WriteBatch {
        clock_skews: vec![skew(T0), skew(T0 + 60)],
        client_receptions: vec![rx.clone(), rx, bad_rx],
        ..WriteBatch::default()
    };
    let out = s.write_batch(&b).unwrap();
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].kind, RecordKind::ClientReception);
    s.write_batch(&WriteBatch {
        clock_skews: vec![skew(T0 + 2 * 86_400)],
        ..WriteBatch::default()
    })
    .unwrap();
    let o = &s.observers().unwrap()[0];
    assert_eq!(o.clock_skew_seconds, Some(-3600));
    assert_eq!(
        o.clock_skew_count_24h, 1,
        "the count restarts after a quiet day"
    );
    assert_eq!(
        o.clock_last_naive_at.as_deref(),
        Some(rfc3339(T0 + 2 * 86_400).as_str())
    );
    let c = s.connection();
    let n: i64 = one(c, "SELECT COUNT(*) FROM client_receptions");
    assert_eq!(n, 1, "the same reception twice is stored once");
    let key: String = one(c, "SELECT rx_pubkey FROM client_receptions");
    assert_eq!(key, "ab12");
    let name: String = one(c, "SELECT name FROM client_observers WHERE pubkey = 'ab12'");
    assert_eq!(name, "phone");
}

#[test]
fn background_backfill_interleaves_with_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legacy.db");
    build_legacy_db(&path);
    // Grow the legacy file so the last_seen backfill needs several steps.
    {
        let c = Connection::open(&path).unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for n in 0..2500 {
            tx.execute(
                "INSERT INTO transmissions (raw_hex, hash, first_seen, payload_type)
                 VALUES ('00', ?1, '2026-05-01T00:00:00Z', 2)",
                [format!("{n:016x}")],
            )
            .unwrap();
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO observations (transmission_id, observer_idx, timestamp)
                 VALUES (?1, 1, ?2)",
                params![id, T0 + n],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let options = OpenOptions {
        background_batch_rows: 500,
        ..OpenOptions::default()
    };
    let mut s = SqliteStorage::open(&path, options).unwrap();
    let mut progress_steps = 0;
    let mut written = 0u64;
    loop {
        let step = s.run_background_step().unwrap();
        // The writer keeps going between steps.
        s.write_batch(&batch(vec![packet(900_000 + written, "OBS-A", "[]", T0)]))
            .unwrap();
        written += 1;
        match step {
            BackgroundStep::Idle => break,
            BackgroundStep::Progress { job, rows } => {
                progress_steps += 1;
                assert!(rows <= 500, "{job}: {rows}");
            }
            BackgroundStep::Finished { .. } => {}
        }
    }
    assert!(progress_steps >= 5, "{progress_steps}");
    let zero: i64 = one(
        s.connection(),
        "SELECT COUNT(*) FROM transmissions t WHERE last_seen = 0
         AND EXISTS (SELECT 1 FROM observations o WHERE o.transmission_id = t.id)",
    );
    assert_eq!(zero, 0);
    let status: String = one(
        s.connection(),
        "SELECT status FROM _async_migrations WHERE name = 'tx_last_seen_backfill_v1'",
    );
    assert_eq!(status, "done");
}

#[test]
fn neighbor_edges_accumulate_and_age_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("db"));
    let edge = |a: &str, b: &str, count, at| analyzer_db::NeighborEdge {
        node_a: a.into(),
        node_b: b.into(),
        count,
        last_seen: at,
    };
    let n = s
        .write_neighbor_edges(&[
            edge("BB", "aa", 2, T0),
            edge("aa", "bb", 1, T0 - 100),
            edge("cc", "CC", 1, T0),
            edge("", "dd", 1, T0),
            edge("ee", "ff", 1, T0 - 10 * 86_400),
        ])
        .unwrap();
    assert_eq!(n, 3);
    let mut edges = s.neighbor_edges().unwrap();
    edges.sort_by(|x, y| x.node_a.cmp(&y.node_a));
    assert_eq!(edges.len(), 2);
    assert_eq!(
        (edges[0].node_a.as_str(), edges[0].node_b.as_str()),
        ("aa", "bb")
    );
    assert_eq!(edges[0].count, 3);
    assert_eq!(edges[0].last_seen.as_deref(), Some(rfc3339(T0).as_str()));
    let r = s.prune_step(&RetentionPolicy::default(), T0, 100).unwrap();
    assert_eq!(r.neighbor_edges, 1);
    assert_eq!(s.neighbor_edges().unwrap().len(), 1);
}

#[test]
fn vacuum_on_startup_converts_a_legacy_file_and_keeps_links() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legacy.db");
    build_legacy_db(&path);
    let options = OpenOptions {
        vacuum_on_startup: true,
        ..OpenOptions::default()
    };
    let s = SqliteStorage::open(&path, options).unwrap();
    assert_eq!(s.auto_vacuum_mode().unwrap(), 2);
    let links: Vec<(i64, String)> = s
        .connection()
        .prepare("SELECT id, observer_id FROM packets_v WHERE observer_id IS NOT NULL ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        links,
        [
            (1, "OBS-A".into()),
            (4, "OBS-C".into()),
            (5, "OBS-D".into()),
            (8, "OBS-C".into())
        ]
    );
}

#[test]
fn a_reader_follows_rows_the_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut w = open(&path);
    let r = SqliteReader::open(&path, &OpenOptions::default()).unwrap();
    let mut mark = r.watermark().unwrap();
    assert_eq!((mark.transmission_id, mark.observation_id), (0, 0));
    let mut seen_obs = 0;
    for round in 0..5u64 {
        let packets = (0..10)
            .map(|i| packet(round * 10 + i / 2, &format!("O{i}"), "[]", T0))
            .collect();
        w.write_batch(&batch(packets)).unwrap();
        let new_tx = r.transmissions_after(mark.transmission_id, 100).unwrap();
        assert_eq!(new_tx.len(), 5);
        assert!(new_tx.iter().all(|t| t.observations.len() == 2));
        let new_obs = r.observations_after(mark.observation_id, 100).unwrap();
        seen_obs += new_obs.len();
        mark = r.watermark().unwrap();
    }
    assert_eq!(seen_obs, 50);
    assert_eq!(r.stats(T0).unwrap().observations, 50);
}

#[test]
fn observer_metrics_read_by_observer_and_window() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("metrics.db");
    let storage = open(&path);
    let insert = "INSERT INTO observer_metrics (observer_id, timestamp, noise_floor, tx_air_secs,
                  rx_air_secs, recv_errors, battery_mv, packets_sent, packets_recv)
                  VALUES (?1, ?2, ?3, ?4, NULL, '7', ?5, NULL, NULL)";
    for (id, t, nf) in [
        ("OBS-B", T0, -101.5),
        ("OBS-A", T0 + 300, -99.0),
        ("OBS-A", T0, -100.0),
    ] {
        storage
            .connection()
            .execute(insert, params![id, rfc3339(t), nf, 12, 3900])
            .expect("insert");
    }
    // A text noise floor and a junk one: read as a number and as none.
    storage
        .connection()
        .execute(
            "INSERT INTO observer_metrics (observer_id, timestamp, noise_floor) VALUES
             ('OBS-A', ?1, '-98.5'), ('OBS-A', ?2, 'loud')",
            params![rfc3339(T0 + 600), rfc3339(T0 + 900)],
        )
        .expect("insert text");
    let reader = SqliteReader::open(&path, &OpenOptions::default()).expect("reader");
    for r in [&storage as &dyn StorageReader, &reader] {
        let a = r.observer_metrics(Some("OBS-A"), T0, None).expect("rows");
        let times: Vec<&str> = a.iter().map(|m| m.timestamp.as_str()).collect();
        assert_eq!(
            times,
            [
                rfc3339(T0),
                rfc3339(T0 + 300),
                rfc3339(T0 + 600),
                rfc3339(T0 + 900)
            ]
        );
        assert_eq!(a[0].noise_floor, Some(-100.0));
        assert_eq!(
            a[0].recv_errors,
            Some(7),
            "integer text is read as a number"
        );
        assert_eq!((a[0].tx_air_secs, a[0].rx_air_secs), (Some(12), None));
        assert_eq!(a[0].battery_mv, Some(3900));
        assert_eq!(a[2].noise_floor, Some(-98.5));
        assert_eq!(a[3].noise_floor, None);
        // Exact id, inclusive window.
        assert!(
            r.observer_metrics(Some("obs-a"), T0, None)
                .expect("rows")
                .is_empty()
        );
        let window = r
            .observer_metrics(Some("OBS-A"), T0 + 300, Some(T0 + 600))
            .expect("rows");
        assert_eq!(window.len(), 2);
        // Every observer: by id, then time.
        let all = r.observer_metrics(None, T0, Some(T0 + 300)).expect("rows");
        let keys: Vec<(&str, &str)> = all
            .iter()
            .map(|m| (m.observer_id.as_str(), m.timestamp.as_str()))
            .collect();
        let (t0, t1) = (rfc3339(T0), rfc3339(T0 + 300));
        assert_eq!(
            keys,
            [
                ("OBS-A", t0.as_str()),
                ("OBS-A", t1.as_str()),
                ("OBS-B", t0.as_str())
            ]
        );
    }
}

// ---- Packet list beyond the in-memory window (read_packets.rs) ----

/// Ten channel packets one minute apart (n = 1..=10), heard by ObsA, ObsB on odd n over
/// a path through `AB12`, and one ADVERT (n = 11) from `key`.
fn packet_list_db(dir: &Path) -> (SqliteStorage, String) {
    let mut s = open(&dir.join("db"));
    let key = "ab12cd34".repeat(8);
    let mut packets = Vec::new();
    for n in 1..=10u64 {
        let at = T0 + 60 * n as i64;
        packets.push(packet(n, "ObsA", "[]", at));
        if n % 2 == 1 {
            let mut p = packet(n, "ObsB", r#"["AB12","77"]"#, at + 5);
            p.observer.as_mut().unwrap().iata = Some("pdx".into());
            packets.push(p);
        }
    }
    packets.push(advert(11, &key, Some("Node"), "ObsA", T0 + 60 * 11));
    s.write_batch(&batch(packets)).unwrap();
    (s, key)
}

fn list(s: &SqliteStorage, filter: analyzer_db::TxFilter) -> (u64, Vec<String>) {
    let page = s
        .query_transmissions(&analyzer_db::TxListQuery {
            filter,
            limit: 100,
            ..analyzer_db::TxListQuery::default()
        })
        .unwrap();
    let hashes = page.transmissions.iter().map(|t| t.hash.clone()).collect();
    (page.total, hashes)
}

fn h(n: u64) -> String {
    hash(n).to_string()
}

#[test]
fn packet_list_filters_pages_and_orders() {
    use analyzer_db::{TxFilter, TxListQuery, TxSort};
    let dir = tempfile::tempdir().unwrap();
    let (s, key) = packet_list_db(dir.path());
    let observers = s.observers().unwrap();
    let key_of = |id: &str| observers.iter().find(|o| o.id == id).unwrap().idx;

    // No filter: everything, newest first, observations attached newest first.
    let page = s
        .query_transmissions(&TxListQuery {
            limit: 3,
            offset: 1,
            ..TxListQuery::default()
        })
        .unwrap();
    assert_eq!(page.total, 11);
    let got: Vec<&str> = page.transmissions.iter().map(|t| t.hash.as_str()).collect();
    assert_eq!(got, [h(10), h(9), h(8)]);
    let nine = &page.transmissions[1];
    assert_eq!(nine.observations.len(), 2);
    assert!(nine.observations[0].timestamp >= nine.observations[1].timestamp);
    let asc = s
        .query_transmissions(&TxListQuery {
            sort: TxSort::OldestFirst,
            limit: 2,
            ..TxListQuery::default()
        })
        .unwrap();
    assert_eq!(asc.transmissions[0].hash, h(1));
    // Latest heard first: the ADVERT (heard last), then 10, then 9 (re-heard at +5 s).
    let latest = s
        .query_transmissions(&TxListQuery {
            sort: TxSort::LatestHeardFirst,
            limit: 3,
            ..TxListQuery::default()
        })
        .unwrap();
    let got: Vec<&str> = latest
        .transmissions
        .iter()
        .map(|t| t.hash.as_str())
        .collect();
    assert_eq!(got, [h(11), h(10), h(9)]);

    // Type, hash (any case), channel.
    let (n, got) = list(
        &s,
        TxFilter {
            payload_type: Some(4),
            ..TxFilter::default()
        },
    );
    assert_eq!((n, got), (1, vec![h(11)]));
    let (n, _) = list(
        &s,
        TxFilter {
            hash: Some(h(3).to_uppercase()),
            ..TxFilter::default()
        },
    );
    assert_eq!(n, 1);
    let (n, got) = list(
        &s,
        TxFilter {
            channel: Some("enc_04".into()),
            ..TxFilter::default()
        },
    );
    assert_eq!((n, got), (1, vec![h(4)]));

    // Observers and regions: odd packets were heard by ObsB.
    let (n, got) = list(
        &s,
        TxFilter {
            observers: Some(vec![key_of("ObsB")]),
            ..TxFilter::default()
        },
    );
    assert_eq!(n, 5);
    assert_eq!(got, [h(9), h(7), h(5), h(3), h(1)]);
    let (n, _) = list(
        &s,
        TxFilter {
            observers: Some(vec![key_of("ObsA")]),
            region_observers: Some(vec![key_of("ObsB")]),
            ..TxFilter::default()
        },
    );
    assert_eq!(n, 5);
    assert_eq!(
        list(
            &s,
            TxFilter {
                observers: Some(vec![]),
                ..TxFilter::default()
            }
        )
        .0,
        0
    );
    assert_eq!(
        list(
            &s,
            TxFilter {
                region_observers: Some(vec![]),
                ..TxFilter::default()
            }
        )
        .0,
        0
    );

    // Time bounds on first_seen: exclusive for the list, inclusive for multi-node lists.
    let (n, got) = list(
        &s,
        TxFilter {
            since: Some(T0 + 120),
            until: Some(T0 + 240),
            ..TxFilter::default()
        },
    );
    assert_eq!((n, got), (1, vec![h(3)]));
    let (n, _) = list(
        &s,
        TxFilter {
            since: Some(T0 + 120),
            until: Some(T0 + 240),
            inclusive_bounds: true,
            ..TxFilter::default()
        },
    );
    assert_eq!(n, 3);

    // Nodes: the ADVERT it sent and the packets whose path holds a prefix of its key.
    let (n, got) = list(
        &s,
        TxFilter {
            nodes: Some(vec![key.to_uppercase()]),
            ..TxFilter::default()
        },
    );
    assert_eq!(n, 6);
    assert_eq!(got[0], h(11));
    let (n, _) = list(
        &s,
        TxFilter {
            nodes: Some(vec!["77".repeat(32)]),
            ..TxFilter::default()
        },
    );
    assert_eq!(n, 5, "one-byte hop 77");
    assert_eq!(
        list(
            &s,
            TxFilter {
                nodes: Some(vec!["99".repeat(32)]),
                ..TxFilter::default()
            }
        )
        .0,
        0
    );
    assert_eq!(
        list(
            &s,
            TxFilter {
                nodes: Some(vec![]),
                ..TxFilter::default()
            }
        )
        .0,
        0
    );

    // Originators (area): ADVERTs of the listed keys only.
    let (n, got) = list(
        &s,
        TxFilter {
            originators: Some(vec![key.clone()]),
            ..TxFilter::default()
        },
    );
    assert_eq!((n, got), (1, vec![h(11)]));
    assert_eq!(
        list(
            &s,
            TxFilter {
                originators: Some(vec![]),
                ..TxFilter::default()
            }
        )
        .0,
        0
    );
}

#[test]
fn transmission_by_id_and_by_observation_id() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = packet_list_db(dir.path());
    let tx = s.transmission_by_hash(&h(5)).unwrap();
    let by_id = s.transmission_by_id(tx.id).unwrap();
    assert_eq!(by_id, tx);
    assert_eq!(by_id.observations.len(), 2);
    for o in &tx.observations {
        assert_eq!(s.transmission_id_of_observation(o.id).unwrap(), tx.id);
    }
    assert!(matches!(
        s.transmission_by_id(9_999),
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        s.transmission_id_of_observation(9_999),
        Err(DbError::NotFound)
    ));
    // The read-only reader answers the same.
    let reader = SqliteReader::open(dir.path().join("db"), &OpenOptions::default()).unwrap();
    assert_eq!(reader.transmission_by_id(tx.id).unwrap(), tx);
}

#[test]
fn channel_summaries_count_and_take_the_newest_message() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("channels.db");
    let storage = open(&path);
    let insert_tx = "INSERT INTO transmissions (id, raw_hex, hash, first_seen, payload_type,
                     decoded_json, channel_hash) VALUES (?1, '15', ?2, ?3, ?4, ?5, ?6)";
    let rows: [(i64, i64, &str, Option<&str>); 5] = [
        (1, 5, r#"{"text":"a: one"}"#, Some("Public")),
        (2, 5, r#"{"text":"b: two"}"#, Some("Public")),
        (3, 5, r#"{"type":"GRP_TXT"}"#, Some("enc_AB")),
        (4, 4, r#"{"type":"ADVERT"}"#, None),
        (5, 6, r#"{"type":"GRP_DATA"}"#, Some("Public")),
    ];
    for (id, pt, json, channel) in rows {
        storage
            .connection()
            .execute(
                insert_tx,
                params![
                    id,
                    format!("{id:016x}"),
                    rfc3339(T0 + id),
                    pt,
                    json,
                    channel
                ],
            )
            .expect("tx");
    }
    storage
        .connection()
        .execute_batch(
            "INSERT INTO observations (transmission_id, observer_idx, timestamp, path_json)
             VALUES (1, 7, 0, '[]'), (2, 8, 0, '[]'), (3, 8, 0, '[]');",
        )
        .expect("obs");
    let reader = SqliteReader::open(&path, &OpenOptions::default()).expect("reader");
    for r in [&storage as &dyn StorageReader, &reader] {
        let mut all = r.channel_summaries(None).expect("all");
        all.sort_by(|a, b| a.channel.cmp(&b.channel));
        assert_eq!(all.len(), 2, "GRP_TXT only: {all:?}");
        assert_eq!(all[0].channel, "Public");
        assert_eq!(all[0].message_count, 2);
        assert_eq!(all[0].last_first_seen, rfc3339(T0 + 2));
        assert_eq!(
            all[0].last_decoded_json.as_deref(),
            Some(r#"{"text":"b: two"}"#)
        );
        assert_eq!(
            (all[1].channel.as_str(), all[1].message_count),
            ("enc_AB", 1)
        );
        let seven = r.channel_summaries(Some(&[7])).expect("region");
        assert_eq!(seven.len(), 1);
        assert_eq!(
            (seven[0].message_count, seven[0].last_first_seen.clone()),
            (1, rfc3339(T0 + 1))
        );
        assert!(r.channel_summaries(Some(&[])).expect("none").is_empty());
    }
}
