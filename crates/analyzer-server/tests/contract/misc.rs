//! Contract tests: scope stats, perf/sqlite, perf/io, node battery, audio lab, dropped
//! packets and backup.
//!
//! Most run over a copy of the fixture database with a few extra rows written through the
//! real SQLite writer: transport-scoped packets, dropped packets and battery reports of an
//! observer that is also a node (the simulator produces none of these).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use analyzer_db::{
    ContentHash, DroppedPacket, ObserverRef, ObserverStatus, PacketObservation, Storage,
    StorageReader, WriteBatch,
};
use analyzer_server::router;
use analyzer_sqlite::{OpenOptions, SqliteReader, SqliteStorage};
use axum::Router;
use axum::http::Method;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::*;

/// The node whose battery the extra rows report (first node of the fixture by key).
fn battery_node() -> String {
    let reader = SqliteReader::open(database(), &OpenOptions::default()).expect("reader");
    let mut keys: Vec<String> = reader
        .nodes()
        .expect("nodes")
        .into_iter()
        .map(|n| n.public_key)
        .collect();
    keys.sort();
    keys.into_iter().next().expect("a node")
}

fn scoped_packet(n: u8, at: i64, route: u8, scope: Option<&str>) -> PacketObservation {
    PacketObservation {
        hash: ContentHash::parse(&format!("5c0e5c0e5c0e5c{n:02x}")).expect("hash"),
        raw_hex: format!(
            "{:02X}00{}",
            (5 << 2) | route,
            "AB".repeat(usize::from(n) + 4)
        ),
        route_type: route,
        payload_type: 5,
        payload_version: 0,
        decoded_json: "{}".into(),
        channel_hash: None,
        scope_name: scope.map(str::to_owned),
        from_pubkey: None,
        observer: Some(ObserverRef {
            id: "SCOPE-OBSERVER".into(),
            name: Some("scope observer".into()),
            iata: Some("SEA".into()),
        }),
        direction: None,
        snr: Some(5.0),
        rssi: Some(-90.0),
        score: None,
        path_json: "[]".into(),
        resolved_path: None,
        received_at: at,
        advert: None,
    }
}

fn dropped(n: i64, observer: &str, node: &str, raw: bool) -> DroppedPacket {
    DroppedPacket {
        hash: ContentHash::parse(&format!("d0d0d0d0d0d0d0{n:02x}")).ok(),
        raw_hex: raw.then(|| format!("1100{n:02X}")),
        reason: "invalid signature".into(),
        observer_id: Some(observer.into()),
        observer_name: Some(format!("{observer} name")),
        node_pubkey: Some(node.into()),
        node_name: Some(format!("node {n}")),
        dropped_at: NOW - 3600 + n * 60,
    }
}

fn battery(id: &str, at: i64, mv: i64) -> ObserverStatus {
    ObserverStatus {
        id: id.into(),
        name: Some("battery observer".into()),
        iata: Some("SEA".into()),
        battery_mv: Some(mv),
        received_at: at,
        ..ObserverStatus::default()
    }
}

/// The fixture database plus the extra rows, written once per test process.
fn rich_database() -> &'static Path {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("rich.db");
        // A consistent copy of the fixture (it may have a WAL next to it).
        let source = SqliteReader::open(database(), &OpenOptions::default()).expect("reader");
        source.snapshot_into(&path).expect("copy fixture");
        let mut storage = SqliteStorage::open(&path, OpenOptions::default()).expect("storage");
        let node = battery_node().to_ascii_uppercase();
        let batch = WriteBatch {
            packets: vec![
                scoped_packet(1, NOW - 50 * 60, 0, Some("#sea")),
                scoped_packet(2, NOW - 40 * 60, 0, Some("#sea")),
                scoped_packet(3, NOW - 20 * 60, 3, Some("#pae")),
                scoped_packet(4, NOW - 10 * 60, 0, Some("")),
                scoped_packet(5, NOW - 5 * 60, 0, None),
                scoped_packet(6, NOW - 3 * 3600, 0, Some("#tiw")),
            ],
            statuses: vec![
                battery(&node, NOW - 10 * 86_400, 4100),
                battery(&node, NOW - 3 * 86_400, 3400),
                battery(&node, NOW - 2 * 3600, 3250),
                battery(&node, NOW - 1800, 2950),
            ],
            dropped: vec![
                dropped(1, "OBS-A", "AAAA", true),
                dropped(2, "obs-b", "bbbb", false),
                dropped(3, "OBS-A", "BBBB", true),
            ],
            ..WriteBatch::default()
        };
        storage.write_batch(&batch).expect("extra rows");
        storage.checkpoint().expect("checkpoint");
        (dir, path)
    })
    .1
}

fn rich_app() -> Router {
    router(state_over(rich_database(), config(), NOW))
}

async fn keyed(app: &Router, uri: &str, key: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
    send(app, Method::GET, uri, &headers, None).await
}

// ---------------------------------------------------------------------------------------
// /api/scope-stats

#[tokio::test]
async fn scope_stats_counts_transport_scopes() {
    let app = rich_app();
    let answer = get(&app, "/api/scope-stats?window=1h").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = &answer.json;
    assert_eq!(body["window"], "1h");
    // In the last hour: #sea ×2, #pae, unknown region, a transport packet without scope
    // (code 0000) plus whatever flood traffic the fixture has (all unscoped).
    let s = &body["summary"];
    assert_eq!(s["scoped"], 4, "{s}");
    assert_eq!(s["unknownScope"], 1, "{s}");
    assert!(s["transportTotal"].as_u64().unwrap() >= 5, "{s}");
    assert!(s["unscoped"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(
        body["byRegion"],
        json!([{"name": "#sea", "count": 2}, {"name": "#pae", "count": 1}])
    );
    // 5-minute buckets: 12 or 13 of them covering the hour, oldest first.
    let series = body["timeSeries"].as_array().unwrap();
    assert!((12..=13).contains(&series.len()), "{}", series.len());
    assert!(series[0]["t"].as_str().unwrap().ends_with('Z'));
    let scoped: u64 = series.iter().map(|b| b["scoped"].as_u64().unwrap()).sum();
    let unscoped: u64 = series.iter().map(|b| b["unscoped"].as_u64().unwrap()).sum();
    assert_eq!(scoped, 4);
    assert_eq!(unscoped, s["unscoped"].as_u64().unwrap());

    // The default window is 24 h with hourly buckets and also holds the #tiw packet.
    let day = get(&app, "/api/scope-stats").await.json;
    assert_eq!(day["window"], "24h");
    assert_eq!(day["summary"]["scoped"], 5);
    assert_eq!(day["byRegion"][2], json!({"name": "#tiw", "count": 1}));
    assert!((24..=25).contains(&day["timeSeries"].as_array().unwrap().len()));
    let week = get(&app, "/api/scope-stats?window=7d").await.json;
    assert!((28..=29).contains(&week["timeSeries"].as_array().unwrap().len()));

    insta::assert_json_snapshot!("misc_scope_stats_1h", body);
}

#[tokio::test]
async fn scope_stats_rejects_other_windows() {
    let app = app();
    for bad in ["2h", "30d", "1d", "abc"] {
        let answer = get(&app, &format!("/api/scope-stats?window={bad}")).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(answer.json["error"], "window must be 1h, 24h, or 7d");
    }
    // The plain fixture has no transport-scoped traffic.
    let body = get(&app, "/api/scope-stats?window=7d").await.json;
    assert_eq!(body["summary"]["scoped"], 0);
    assert_eq!(body["byRegion"], json!([]));
}

// ---------------------------------------------------------------------------------------
// /api/perf/sqlite and /api/perf/io

#[tokio::test]
async fn perf_sqlite_reports_pages() {
    let answer = get(&app(), "/api/perf/sqlite").await;
    assert_eq!(answer.status, 200);
    let body = &answer.json;
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "walSizeMB",
            "walSize",
            "pageCount",
            "pageSize",
            "cacheSize",
            "cacheHitRate"
        ]
    );
    assert!(body["pageCount"].as_i64().unwrap() > 0);
    assert!(body["pageSize"].as_i64().unwrap() >= 512);
    assert!(body["walSize"].is_u64());
    assert!(body["walSizeMB"].is_number());
    // Our reader sets PRAGMA cache_size = -65536 (64 MiB, in KiB).
    assert_eq!(body["cacheSize"], -65536);
    // No analytics cache exists yet: no hit rate rather than an invented one.
    assert_eq!(body["cacheHitRate"], Value::Null);
    let shape = json!({
        "walSizeMB": "number", "walSize": "number", "pageCount": "number",
        "pageSize": body["pageSize"], "cacheSize": body["cacheSize"], "cacheHitRate": null,
    });
    insta::assert_json_snapshot!("misc_perf_sqlite_shape", shape);
}

#[tokio::test]
async fn perf_io_reports_rates() {
    let app = app();
    // Other tests of this process may have sampled already, so the first answer here is
    // not necessarily all zeros (that case is a unit test of the module).
    for _ in 0..2 {
        let answer = get(&app, "/api/perf/io").await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let body = answer.json.as_object().unwrap().clone();
        let keys: Vec<&str> = body.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "readBytesPerSec",
                "writeBytesPerSec",
                "cancelledWriteBytesPerSec",
                "syscallsRead",
                "syscallsWrite"
            ]
        );
        assert!(body.values().all(|v| v.as_f64().is_some_and(|f| f >= 0.0)));
        assert!(!body.contains_key("ingestor"));
        let shape: serde_json::Map<String, Value> =
            body.keys().map(|k| (k.clone(), json!("number"))).collect();
        insta::assert_json_snapshot!("misc_perf_io_shape", shape);
    }
}

// ---------------------------------------------------------------------------------------
// /api/nodes/{pubkey}/battery

#[tokio::test]
async fn battery_of_a_node_that_is_an_observer() {
    let app = rich_app();
    let node = battery_node();
    // Any case of the key finds the node.
    let answer = get(&app, &format!("/api/nodes/{}/battery", node.to_uppercase())).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = &answer.json;
    assert_eq!(body["public_key"], node.as_str());
    assert_eq!(body["days"], 7);
    // The 10-day-old sample is outside the default 7 days; oldest first.
    let mvs: Vec<i64> = body["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["battery_mv"].as_i64().unwrap())
        .collect();
    assert_eq!(mvs, [3400, 3250, 2950]);
    assert_eq!(body["latest_mv"], 2950);
    assert_eq!(body["status"], "critical");
    assert_eq!(body["latest_ts"], body["samples"][2]["timestamp"]);
    assert_eq!(
        body["thresholds"],
        json!({"low_mv": 3300, "critical_mv": 3000})
    );
    let mut snapshot = body.clone();
    snapshot["public_key"] = json!("<node>");
    insta::assert_json_snapshot!("misc_battery", snapshot);

    let long = get(&app, &format!("/api/nodes/{node}/battery?days=30"))
        .await
        .json;
    assert_eq!(long["days"], 30);
    assert_eq!(long["samples"].as_array().unwrap().len(), 4);
    let short = get(&app, &format!("/api/nodes/{node}/battery?days=1"))
        .await
        .json;
    assert_eq!(short["samples"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn battery_defaults_errors_and_unknown_status() {
    let app = app();
    // A node that is not an observer has no samples.
    let mut keys: Vec<String> = SqliteReader::open(database(), &OpenOptions::default())
        .unwrap()
        .nodes()
        .unwrap()
        .into_iter()
        .map(|n| n.public_key)
        .collect();
    keys.sort();
    let node = keys.last().unwrap().clone();
    let body = get(&app, &format!("/api/nodes/{node}/battery")).await.json;
    assert_eq!(body["samples"], json!([]));
    assert_eq!(body["status"], "unknown");
    assert_eq!(body["latest_mv"], Value::Null);
    assert_eq!(body["latest_ts"], Value::Null);

    let missing = get(&app, &format!("/api/nodes/{}/battery", "ab".repeat(32))).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json["error"], "node not found");
    // Days outside 1..365 or not a number: a 400 naming the parameter (the reference
    // silently falls back to 7).
    for bad in ["0", "366", "-1", "x", "1.5"] {
        let answer = get(&app, &format!("/api/nodes/{node}/battery?days={bad}")).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert!(
            answer.json["error"]
                .as_str()
                .unwrap()
                .starts_with("days must")
        );
    }
    let ok = get(&app, &format!("/api/nodes/{node}/battery?days=365")).await;
    assert_eq!(ok.json["days"], 365);

    // Hidden nodes are 404 like on every per-node endpoint.
    let hidden = crate::config::config_plus(json!({ "nodeBlacklist": [node.to_uppercase()] }));
    let app = router(crate::config::builder_with(hidden).build());
    let answer = get(&app, &format!("/api/nodes/{node}/battery")).await;
    assert_eq!(answer.status, 404);
}

// ---------------------------------------------------------------------------------------
// /api/audio-lab/buckets

#[tokio::test]
async fn audio_lab_samples_each_type_by_size() {
    let answer = get(&app(), "/api/audio-lab/buckets").await;
    assert_eq!(answer.status, 200);
    let buckets = answer.json["buckets"].as_object().unwrap();
    assert!(buckets.contains_key("ADVERT"), "{:?}", buckets.keys());
    for (name, list) in buckets {
        let list = list.as_array().unwrap();
        assert!((1..=8).contains(&list.len()), "{name}");
        let mut sizes = Vec::new();
        for p in list {
            let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                [
                    "hash",
                    "raw_hex",
                    "decoded_json",
                    "observation_count",
                    "payload_type",
                    "path_json",
                    "observer_id",
                    "timestamp"
                ]
            );
            assert!(p["decoded_json"].is_string() && p["path_json"].is_string());
            assert!(p["observer_id"].is_string());
            assert!(p["observation_count"].as_u64().unwrap() >= 1);
            sizes.push(p["raw_hex"].as_str().unwrap().len());
        }
        // Smallest first.
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{name}: {sizes:?}");
    }
    // With more than 8 ADVERTs in memory the sample spans smallest to (nearly) largest.
    assert_eq!(buckets["ADVERT"].as_array().unwrap().len(), 8);
    assert!(buckets["ADVERT"][0]["payload_type"] == 4);
    let adverts = &answer.json["buckets"]["ADVERT"];
    let trimmed: Vec<Value> = adverts
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .cloned()
        .collect();
    insta::assert_json_snapshot!("misc_audio_lab_adverts", trimmed);
}

// ---------------------------------------------------------------------------------------
// /api/dropped-packets

#[tokio::test]
async fn dropped_packets_newest_first_with_filters() {
    let app = rich_app();
    let answer = keyed(&app, "/api/dropped-packets", Some(API_KEY)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let rows = answer.json.as_array().unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [3, 2, 1]);
    // raw_hex only when the row has one.
    assert!(rows[1].get("raw_hex").is_none());
    assert_eq!(rows[0]["raw_hex"], "110003");
    assert_eq!(
        rows[0]["dropped_at"],
        analyzer_db::time::rfc3339(NOW - 3600 + 180)
    );
    // The writer stores node keys in lower case.
    assert_eq!(rows[0]["node_pubkey"], "bbbb");
    insta::assert_json_snapshot!("misc_dropped_packets", answer.json);

    let ids = |answer: Answer| -> Vec<i64> {
        answer
            .json
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let by_observer = keyed(&app, "/api/dropped-packets?observer=obs-a", Some(API_KEY)).await;
    assert_eq!(ids(by_observer), [3, 1]);
    let by_node = keyed(&app, "/api/dropped-packets?pubkey=BBBB", Some(API_KEY)).await;
    assert_eq!(ids(by_node), [3, 2]);
    let limited = keyed(&app, "/api/dropped-packets?limit=2", Some(API_KEY)).await;
    assert_eq!(ids(limited), [3, 2]);
    // Above 500 falls back to the default of 100 (as the reference), so all three.
    for limit in ["501", "0", "-5", "x"] {
        let answer = keyed(
            &app,
            &format!("/api/dropped-packets?limit={limit}"),
            Some(API_KEY),
        )
        .await;
        assert_eq!(ids(answer), [3, 2, 1], "{limit}");
    }
    let none = keyed(&app, "/api/dropped-packets?observer=nobody", Some(API_KEY)).await;
    // An empty log is [] (the reference answers null).
    assert_eq!(none.json, json!([]));
}

#[tokio::test]
async fn keyed_routes_refuse_missing_wrong_and_weak_keys() {
    let app = app();
    for uri in ["/api/dropped-packets", "/api/backup"] {
        let answer = keyed(&app, uri, None).await;
        assert_eq!(answer.status, 401, "{uri}");
        assert_eq!(answer.json["error"], "unauthorized");
        let answer = keyed(&app, uri, Some("wrong-key-wrong-key")).await;
        assert_eq!(answer.status, 401, "{uri}");
    }
    let weak = crate::config::config_plus(json!({ "apiKey": "change-me" }));
    let weak_app = router(crate::config::builder_with(weak).build());
    let unset = crate::config::config_plus(json!({ "apiKey": null }));
    let unset_app = router(crate::config::builder_with(unset).build());
    for uri in ["/api/dropped-packets", "/api/backup"] {
        let answer = keyed(&weak_app, uri, Some("change-me")).await;
        assert_eq!(answer.status, 403, "{uri}");
        assert_eq!(answer.json["error"], "forbidden");
        let answer = keyed(&unset_app, uri, Some(API_KEY)).await;
        assert_eq!(answer.status, 403, "{uri}");
        assert_eq!(
            answer.json["error"],
            "write endpoints disabled — set apiKey in config.json"
        );
    }
    // Both carry the lock in the OpenAPI document.
    let spec = get(&app, "/api/spec").await.json;
    for path in ["/api/dropped-packets", "/api/backup"] {
        assert_eq!(
            spec["paths"][path]["get"]["security"],
            json!([{ "ApiKeyAuth": [] }]),
            "{path}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// /api/backup

#[tokio::test]
async fn backup_is_a_consistent_database_copy() {
    let app = rich_app();
    let request = axum::http::Request::get("/api/backup")
        .header("x-api-key", API_KEY)
        .header("accept-encoding", "gzip")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let h = &headers;
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(
        h["content-disposition"],
        format!("attachment; filename=\"corescope-backup-{NOW}.db\"").as_str()
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    // Never gzipped, even for a client that accepts it.
    assert!(h.get("content-encoding").is_none());
    assert_eq!(
        h["content-length"]
            .to_str()
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        bytes.len()
    );
    assert!(bytes.starts_with(b"SQLite format 3\0"));

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    std::fs::write(&copy, &bytes).unwrap();
    let options = OpenOptions::default();
    let original = SqliteReader::open(rich_database(), &options).unwrap();
    let restored = SqliteReader::open(&copy, &options).unwrap();
    assert_eq!(restored.stats(NOW).unwrap(), original.stats(NOW).unwrap());
    assert_eq!(restored.nodes().unwrap(), original.nodes().unwrap());
    assert_eq!(restored.observers().unwrap(), original.observers().unwrap());
    let all = analyzer_db::DroppedQuery {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        restored.dropped_packets(&all).unwrap(),
        original.dropped_packets(&all).unwrap()
    );
    assert_eq!(restored.dropped_packets(&all).unwrap().len(), 3);
    // No temporary snapshot is left behind.
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("corescope-backup-{NOW}-{}-", std::process::id()))
        })
        .count();
    assert_eq!(leftovers, 0);
}
