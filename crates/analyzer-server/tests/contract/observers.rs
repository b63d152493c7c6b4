//! Contract tests: observers (`/api/observers`, `/{id}`, `/{id}/analytics`, `/{id}/metrics`,
//! `/metrics/summary`).

use analyzer_config::Config;
use analyzer_server::{AppState, router};
use analyzer_sqlite::{OpenOptions, SqliteStorage};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// Observer 1 of the fixture (BFI, a repeater that is also a node).
const WOODINVILLE: &str = "90E17AAA7E6345CF3D9844D45785450A33F3AC4DDD70646EF7E7F325B80D9D4A";
/// Observer 4 of the fixture (PAE).
const NORTHGATE: &str = "494837569F43ECD6A15EDB2EDCB4BB7B74FAB421B7B427C90947A654D1A0C105";

const LIST_FIELDS: &[&str] = &[
    "id",
    "name",
    "iata",
    "last_seen",
    "first_seen",
    "packet_count",
    "model",
    "firmware",
    "client_version",
    "radio",
    "battery_mv",
    "uptime_secs",
    "noise_floor",
    "last_packet_at",
    "packetsLastHour",
    "lat",
    "lon",
    "nodeRole",
    "clock_naive",
    "clock_skew_seconds",
    "clock_skew_count_24h",
    "clock_last_naive_at",
];

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn iso(secs: i64) -> String {
    analyzer_db::time::rfc3339(secs)
}

/// A state over a copy of the fixture database changed by `sql` first.
fn state_over_modified(sql: &str, config: Config) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("modified.db");
    std::fs::copy(database(), &path).expect("copy fixture");
    {
        let storage = SqliteStorage::open(&path, OpenOptions::default()).expect("open copy");
        storage.connection().execute_batch(sql).expect("modify");
    }
    let state = state_over(&path, config, NOW);
    (dir, state)
}

#[tokio::test]
async fn list_has_every_field_and_live_counts() {
    let app = app();
    let a = get(&app, "/api/observers").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(keys(&a.json), ["observers", "server_time"]);
    assert_eq!(a.json["server_time"], json!(iso(NOW)));
    let list = a.json["observers"].as_array().expect("array");
    assert_eq!(list.len(), 6);
    for o in list {
        // can_relay is only present once an observer reported it; none of the fixture's did.
        assert_eq!(keys(o), LIST_FIELDS, "{o}");
        assert!(o["id"].is_string() && o["name"].is_string() && o["iata"].is_string());
        assert!(o["packet_count"].is_u64() && o["packetsLastHour"].is_u64());
        assert!(o["noise_floor"].is_f64() && o["battery_mv"].is_i64());
        assert_eq!(o["clock_naive"], json!(false));
        assert_eq!(o["clock_skew_count_24h"], json!(0));
        // Every fixture observer is a repeater node with a position.
        assert_eq!(o["nodeRole"], json!("repeater"));
        assert!(o["lat"].is_f64() && o["lon"].is_f64());
    }
    // Most recently heard first.
    let seen: Vec<&str> = list
        .iter()
        .map(|o| o["last_seen"].as_str().expect("last_seen"))
        .collect();
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);
    // The fixture's last hour carries traffic for every observer.
    assert!(list.iter().all(|o| o["packetsLastHour"].as_u64() > Some(0)));
    insta::assert_json_snapshot!("observers_list", a.json);
}

#[tokio::test]
async fn packets_last_hour_is_measured_from_the_clock() {
    // Two hours after the traffic ended, nothing was heard in the last hour.
    let state = state_over(database(), config(), NOW + 2 * 3600);
    let a = get(&router(state), "/api/observers").await;
    let list = a.json["observers"].as_array().expect("array");
    assert!(list.iter().all(|o| o["packetsLastHour"] == json!(0)));
}

#[tokio::test]
async fn blacklisted_observers_are_hidden_everywhere() {
    let mut config = config();
    config.observer_blacklist = vec![WOODINVILLE.to_ascii_lowercase()];
    let app = router(state_with(config));
    let a = get(&app, "/api/observers").await;
    let ids: Vec<&str> = a.json["observers"]
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(!ids.contains(&WOODINVILLE));
    for uri in [
        format!("/api/observers/{WOODINVILLE}"),
        format!("/api/observers/{WOODINVILLE}/analytics"),
        format!("/api/observers/{WOODINVILLE}/metrics"),
    ] {
        let a = get(&app, &uri).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(a.json, json!({"error": "Observer not found"}));
    }
    let summary = get(&app, "/api/observers/metrics/summary").await;
    assert!(
        summary.json["observers"]
            .as_array()
            .expect("array")
            .iter()
            .all(|o| o["observer_id"] != json!(WOODINVILLE))
    );
}

/// Decision: soft-deleted observers (observer retention sets `inactive = 1`) leave the
/// list, as in the reference, but their detail still answers so links from packets that
/// name them keep working.
#[tokio::test]
async fn inactive_observers_leave_the_list_but_keep_their_detail() {
    let (_dir, state) = state_over_modified(
        &format!("UPDATE observers SET inactive = 1 WHERE id = '{NORTHGATE}'"),
        config(),
    );
    let app = router(state);
    let a = get(&app, "/api/observers").await;
    let list = a.json["observers"].as_array().expect("array");
    assert_eq!(list.len(), 5);
    assert!(list.iter().all(|o| o["id"] != json!(NORTHGATE)));
    let detail = get(&app, &format!("/api/observers/{NORTHGATE}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.json["id"], json!(NORTHGATE));
}

#[tokio::test]
async fn naive_clock_and_relay_flags() {
    // A naive-clock event an hour ago and one two days ago; one observer reported `repeat`.
    let (_dir, state) = state_over_modified(
        &format!(
            "UPDATE observers SET clock_skew_seconds = -3600, clock_skew_count_24h = 4,
                 clock_last_naive_at = '{}' WHERE id = '{WOODINVILLE}';
             UPDATE observers SET clock_skew_seconds = 7200, clock_skew_count_24h = 2,
                 clock_last_naive_at = '{}', can_relay = 0, can_relay_seen = 1
                 WHERE id = '{NORTHGATE}';",
            iso(NOW - 3600),
            iso(NOW - 2 * 86_400)
        ),
        config(),
    );
    let app = router(state);
    let a = get(&app, "/api/observers").await;
    let list = a.json["observers"].as_array().expect("array");
    let by_id = |id: &str| {
        list.iter()
            .find(|o| o["id"] == json!(id))
            .expect("observer")
            .clone()
    };
    let w = by_id(WOODINVILLE);
    assert_eq!(w["clock_naive"], json!(true));
    assert_eq!(w["clock_skew_seconds"], json!(-3600));
    assert_eq!(w["clock_skew_count_24h"], json!(4));
    assert_eq!(w["clock_last_naive_at"], json!(iso(NOW - 3600)));
    assert_eq!(w.get("can_relay"), None);
    let n = by_id(NORTHGATE);
    // Older than a day: no longer flagged, and the stale count is not shown as recent.
    assert_eq!(n["clock_naive"], json!(false));
    assert_eq!(n["clock_skew_count_24h"], json!(0));
    assert_eq!(n["clock_skew_seconds"], json!(7200));
    assert_eq!(n["can_relay"], json!(false));
    assert_eq!(keys(&n).last(), Some(&"can_relay"));
}

#[tokio::test]
async fn detail_is_the_list_object_without_node_fields() {
    let app = app();
    let a = get(
        &app,
        &format!("/api/observers/{}", WOODINVILLE.to_ascii_lowercase()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let expected: Vec<&str> = LIST_FIELDS
        .iter()
        .copied()
        .filter(|f| !["lat", "lon", "nodeRole"].contains(f))
        .collect();
    assert_eq!(keys(&a.json), expected);
    assert_eq!(a.json["id"], json!(WOODINVILLE));
    let list = get(&app, "/api/observers").await;
    let same = list.json["observers"]
        .as_array()
        .expect("array")
        .iter()
        .find(|o| o["id"] == json!(WOODINVILLE))
        .expect("listed")
        .clone();
    for f in &expected {
        assert_eq!(a.json[f], same[f], "{f}");
    }
    insta::assert_json_snapshot!("observers_detail", a.json);

    let missing = get(&app, "/api/observers/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json, json!({"error": "Observer not found"}));
}

#[tokio::test]
async fn analytics_shapes_defaults_and_errors() {
    let app = app();
    let uri = format!("/api/observers/{WOODINVILLE}/analytics");
    let a = get(&app, &uri).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        keys(&a.json),
        [
            "timeline",
            "packetTypes",
            "nodesTimeline",
            "snrDistribution",
            "recentPackets"
        ]
    );
    // Default 7 days: 4-hour buckets labelled "Thu 00:00".
    let timeline = a.json["timeline"].as_array().expect("timeline");
    assert_eq!(
        timeline[0],
        json!({"label": "Thu 00:00", "count": timeline[0]["count"]})
    );
    let total: u64 = timeline
        .iter()
        .map(|b| b["count"].as_u64().unwrap_or(0))
        .sum();
    let typed: u64 = a.json["packetTypes"]
        .as_object()
        .expect("types")
        .values()
        .map(|v| v.as_u64().unwrap_or(0))
        .sum();
    assert!(total > 20);
    assert_eq!(total, typed);
    let snr: u64 = a.json["snrDistribution"]
        .as_array()
        .expect("snr")
        .iter()
        .map(|b| b["count"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        snr > 0 && snr <= total,
        "observations without SNR are not bucketed"
    );
    let recent = a.json["recentPackets"].as_array().expect("recent");
    assert_eq!(recent.len(), 20);
    let times: Vec<&str> = recent
        .iter()
        .map(|r| r["timestamp"].as_str().expect("timestamp"))
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    for r in recent {
        assert_eq!(r["observer_id"], json!(WOODINVILLE));
        assert!(r["raw_hex"].is_string() && r["decoded_json"].is_string());
    }

    // One day: hourly buckets, same data as the fixture spans 6 hours.
    let mut day = get(&app, &format!("{uri}?days=1")).await;
    assert_eq!(day.json["timeline"][0]["label"], json!("00:00"));
    assert_eq!(day.json["timeline"].as_array().map(Vec::len), Some(6));
    // Out of range clamps (0 → 1 day, 1000 → 365 days with daily buckets).
    assert_eq!(get(&app, &format!("{uri}?days=0")).await.json, day.json);
    let year = get(&app, &format!("{uri}?days=1000")).await;
    assert_eq!(
        year.json["timeline"],
        json!([{"label": "Jan 01", "count": total}])
    );
    let bad = get(&app, &format!("{uri}?days=week")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json["error"].as_str().unwrap_or("").contains("days"));
    let missing = get(&app, "/api/observers/nope/analytics").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Snapshot of the one-day answer with the recent list cut to 3 entries.
    day.json["recentPackets"]
        .as_array_mut()
        .expect("recent")
        .truncate(3);
    insta::assert_json_snapshot!("observers_analytics_day", day.json);
}

#[tokio::test]
async fn metrics_rates_resolutions_and_errors() {
    let app = app();
    let uri = format!("/api/observers/{WOODINVILLE}/metrics");
    let a = get(&app, &uri).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        keys(&a.json),
        ["observer_id", "observer_name", "reboots", "metrics"]
    );
    assert_eq!(a.json["observer_id"], json!(WOODINVILLE));
    assert_eq!(a.json["observer_name"], json!("Woodinville Repeater"));
    let metrics = a.json["metrics"].as_array().expect("metrics");
    // Default window: the last 24 h hold the whole fixture (a sample every 5 min or so).
    assert!(metrics.len() > 40, "{}", metrics.len());
    for m in metrics {
        for f in [
            "timestamp",
            "noise_floor",
            "battery_mv",
            "tx_airtime_pct",
            "rx_airtime_pct",
            "recv_error_rate",
        ] {
            assert!(m.get(f).is_some(), "{f} in {m}");
        }
        // The fixture's status messages carry no packet counters: omitted, and no error
        // rate without them.
        assert_eq!(m.get("packets_recv"), None);
        assert_eq!(m["recv_error_rate"], Value::Null);
    }
    assert_eq!(
        metrics[0]["tx_airtime_pct"],
        Value::Null,
        "first sample has no rate"
    );
    assert!(metrics.iter().skip(1).any(|m| m["tx_airtime_pct"].is_f64()));

    let hourly = get(&app, &format!("{uri}?resolution=1h")).await;
    let hours: Vec<&str> = hourly.json["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| m["timestamp"].as_str().expect("timestamp"))
        .collect();
    assert_eq!(hours.len(), 6);
    assert!(hours.iter().all(|t| t.ends_with(":00:00Z")), "{hours:?}");
    let daily = get(&app, &format!("{uri}?resolution=1d")).await;
    assert_eq!(daily.json["metrics"][0]["timestamp"], json!(iso(START)));

    for (query, name) in [
        ("resolution=2h", "resolution"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
    ] {
        let bad = get(&app, &format!("{uri}?{query}")).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            bad.json["error"].as_str().unwrap_or("").contains(name),
            "{query}"
        );
    }
    assert_eq!(
        get(&app, "/api/observers/nope/metrics").await.status,
        StatusCode::NOT_FOUND
    );

    let window = get(
        &app,
        &format!("{uri}?since={}&until={}", iso(START), iso(START + 900)),
    )
    .await;
    let times: Vec<&Value> = window.json["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| &m["timestamp"])
        .collect();
    assert!(!times.is_empty() && times.len() <= 4);
    insta::assert_json_snapshot!("observers_metrics_window", window.json);
}

#[tokio::test]
async fn metrics_reboots_are_detected() {
    // A counter that goes down between two samples five minutes apart is a reboot.
    let (_dir, state) = state_over_modified(
        &format!(
            "DELETE FROM observer_metrics;
             INSERT INTO observer_metrics (observer_id, timestamp, noise_floor, tx_air_secs,
                 rx_air_secs, recv_errors, battery_mv, packets_sent, packets_recv) VALUES
               ('{WOODINVILLE}', '{}', -110.0, 100, 1000, 10, 4000, 50, 500),
               ('{WOODINVILLE}', '{}', -108.0, 103, 1030, 12, 4001, 55, 518),
               ('{WOODINVILLE}', '{}', -109.0, 2, 20, 0, 4002, 1, 10);",
            iso(NOW - 900),
            iso(NOW - 600),
            iso(NOW - 300)
        ),
        config(),
    );
    let a = get(
        &router(state),
        &format!("/api/observers/{WOODINVILLE}/metrics"),
    )
    .await;
    let m = a.json["metrics"].as_array().expect("metrics");
    assert_eq!(a.json["reboots"], json!([iso(NOW - 300)]));
    assert_eq!(m[1]["tx_airtime_pct"], json!(1.0));
    assert_eq!(m[1]["rx_airtime_pct"], json!(10.0));
    assert_eq!(m[1]["recv_error_rate"], json!(10.0)); // 2 errors / (18 + 2)
    assert_eq!(m[1]["packets_sent"], json!(55));
    assert_eq!(m[2]["is_reboot_sample"], json!(true));
    assert_eq!(m[2]["tx_airtime_pct"], Value::Null);
    assert_eq!(m[1].get("is_reboot_sample"), None);
}

#[tokio::test]
async fn metrics_summary_shapes_order_region_and_window() {
    let app = app();
    let a = get(&app, "/api/observers/metrics/summary").await;
    assert_eq!(a.status, StatusCode::OK);
    let list = a.json["observers"].as_array().expect("observers");
    assert_eq!(list.len(), 6);
    for o in list {
        assert_eq!(
            keys(o),
            [
                "observer_id",
                "observer_name",
                "iata",
                "current_noise_floor",
                "avg_noise_floor_24h",
                "max_noise_floor_24h",
                "battery_mv",
                "sample_count",
                "sparkline"
            ]
        );
        assert_eq!(
            o["sparkline"].as_array().map(Vec::len),
            o["sample_count"].as_u64().map(|n| n as usize)
        );
    }
    let maxima: Vec<f64> = list
        .iter()
        .map(|o| o["max_noise_floor_24h"].as_f64().expect("max"))
        .collect();
    assert!(maxima.windows(2).all(|w| w[0] >= w[1]), "{maxima:?}");

    let bfi = get(&app, "/api/observers/metrics/summary?region=bfi").await;
    let bfi = bfi.json["observers"].as_array().expect("observers");
    assert_eq!(bfi.len(), 3);
    assert!(bfi.iter().all(|o| o["iata"] == json!("BFI")));

    assert_eq!(
        get(&app, "/api/observers/metrics/summary?region=All")
            .await
            .json,
        a.json
    );
    let short = get(&app, "/api/observers/metrics/summary?window=15m").await;
    let counts: Vec<u64> = short.json["observers"]
        .as_array()
        .expect("observers")
        .iter()
        .map(|o| o["sample_count"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        !counts.is_empty() && counts.iter().all(|&n| n <= 4),
        "{counts:?}"
    );
    assert_eq!(
        get(&app, "/api/observers/metrics/summary?window=1d")
            .await
            .json,
        a.json
    );
    for bad in ["abc", "0h", "-5m", "24"] {
        let r = get(
            &app,
            &format!("/api/observers/metrics/summary?window={bad}"),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.json["error"].as_str().unwrap_or("").contains("window"));
    }
    insta::assert_json_snapshot!("observers_metrics_summary_15m", short.json);
}
