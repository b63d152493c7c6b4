//! Contract tests: `/api/nodes/{pubkey}/reach` (spec api.md §4, analytics.md §6.3).

use axum::http::StatusCode;
use serde_json::Value;

use analyzer_server::router;

use crate::common::*;

async fn nodes_with_role(app: &axum::Router, role: &str) -> Vec<Value> {
    let a = get(app, &format!("/api/nodes?limit=2000&role={role}")).await;
    assert_eq!(a.status, StatusCode::OK);
    a.json["nodes"].as_array().expect("nodes").clone()
}

fn key(node: &Value) -> String {
    node["public_key"].as_str().expect("public_key").to_owned()
}

/// The repeater whose reach has the most two-way links.
async fn best_connected_repeater(app: &axum::Router) -> (String, Value) {
    let mut best: Option<(String, Value)> = None;
    for n in nodes_with_role(app, "repeater").await {
        let a = get(app, &format!("/api/nodes/{}/reach", key(&n))).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let links = a.json["importance"]["bidirectional_links"]
            .as_u64()
            .unwrap();
        let best_links = best.as_ref().map_or(0, |(_, b)| {
            b["importance"]["bidirectional_links"].as_u64().unwrap()
        });
        if best.is_none() || links > best_links {
            best = Some((key(&n), a.json));
        }
    }
    best.expect("a repeater")
}

#[tokio::test]
async fn reach_of_a_repeater_lists_its_links_both_ways() {
    let app = app();
    let (pk, r) = best_connected_repeater(&app).await;
    assert_eq!(r["node"]["public_key"], pk.as_str());
    for field in ["name", "role", "lat", "lon"] {
        assert!(r["node"].get(field).is_some(), "node.{field}");
    }
    let w = &r["window"];
    assert_eq!(w["days"], 7);
    assert_eq!(w["to"], "2026-01-01T06:01:00Z");
    assert_eq!(w["from"], "2025-12-25T06:01:00Z");
    assert_eq!(w["scan_cap"], 200_000);
    assert_eq!(w["truncated"], false);
    assert_eq!(w["complete"], true);
    let relay_obs = w["relay_observations"].as_u64().unwrap();
    assert!(relay_obs > 0, "{r}");
    // Tokens: upper-case prefixes of the node's own key, 1 to 3 bytes.
    let tokens = r["reliable_tokens"].as_array().unwrap();
    assert!(!tokens.is_empty());
    for t in tokens {
        let t = t.as_str().unwrap();
        assert!([2, 4, 6].contains(&t.len()), "{t}");
        assert_eq!(t, t.to_ascii_uppercase());
        assert!(pk.starts_with(&t.to_ascii_lowercase()), "{t}");
    }
    // Links: consistent fields, sorted two-way first, then by bottleneck.
    let links = r["links"].as_array().unwrap();
    assert!(!links.is_empty());
    let mut previous: Option<(bool, u64)> = None;
    let mut two_way = 0;
    for l in links {
        let (we, they) = (
            l["we_hear"].as_u64().unwrap(),
            l["they_hear"].as_u64().unwrap(),
        );
        assert!(we + they > 0);
        assert_eq!(l["bottleneck"].as_u64().unwrap(), we.min(they));
        let bidir = l["bidir"].as_bool().unwrap();
        assert_eq!(bidir, we > 0 && they > 0);
        two_way += usize::from(bidir);
        assert_ne!(l["pubkey"], pk.as_str(), "no link to itself");
        assert!(l["distance_km"].is_number() || l["distance_km"].is_null());
        let key = (bidir, we.min(they));
        if let Some(p) = previous {
            assert!(p >= key, "links out of order: {p:?} then {key:?}");
        }
        previous = Some(key);
    }
    let importance = &r["importance"];
    assert_eq!(importance["bidirectional_links"], two_way);
    let degree = importance["degree"].as_u64().unwrap();
    assert!(
        degree > 0,
        "a relay with two-way links has neighbours: {importance}"
    );
    let rank = importance["rank"].as_u64().unwrap();
    let with_edges = importance["nodes_with_edges"].as_u64().unwrap();
    assert!((1..=with_edges).contains(&rank), "{importance}");
    // Direct observers: the observers that heard it as the last hop, busiest first, each
    // also a link the node is heard on.
    let direct = r["direct_observers"].as_array().unwrap();
    assert_eq!(importance["direct_observers"], direct.len());
    assert!(!direct.is_empty());
    for pair in direct.windows(2) {
        assert!(pair[0]["count"].as_u64() >= pair[1]["count"].as_u64());
    }
    for d in direct {
        assert!(d["observer_id"].is_string() && d["count"].as_u64().unwrap() > 0);
        assert!(d["avg_snr"].is_number() || d["avg_snr"].is_null());
        let id = d["observer_id"].as_str().unwrap().to_ascii_lowercase();
        let link = links.iter().find(|l| l["pubkey"] == id.as_str());
        let heard = link.map_or(0, |l| l["they_hear"].as_u64().unwrap());
        assert!(heard >= d["count"].as_u64().unwrap(), "{id}");
        assert_ne!(id, pk, "a node is not its own observer link");
    }
    let mut snapshot = r.clone();
    if let Some(l) = snapshot["links"].as_array_mut() {
        l.truncate(4);
    }
    insta::assert_json_snapshot!("reach_repeater", snapshot);
}

#[tokio::test]
async fn days_is_clamped_and_one_day_covers_the_six_hour_fixture() {
    let app = app();
    let (pk, week) = best_connected_repeater(&app).await;
    // The fixture spans six hours, so one day sees everything a week does.
    let day = get(&app, &format!("/api/nodes/{pk}/reach?days=1"))
        .await
        .json;
    assert_eq!(day["window"]["days"], 1);
    assert_eq!(day["links"], week["links"]);
    // Clamps: 0 ⇒ 1, 999 ⇒ 30, negatives ⇒ 1.
    for (raw, days) in [("0", 1), ("999", 30), ("-4", 1), ("30", 30)] {
        let a = get(&app, &format!("/api/nodes/{pk}/reach?days={raw}")).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json["window"]["days"], days, "days={raw}");
    }
}

#[tokio::test]
async fn a_companion_has_no_reliable_tokens() {
    let app = app();
    let companion = nodes_with_role(&app, "companion").await.remove(0);
    let a = get(&app, &format!("/api/nodes/{}/reach", key(&companion))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["reliable_tokens"], serde_json::json!([]));
    assert_eq!(a.json["window"]["relay_observations"], 0);
    assert_eq!(a.json["links"], serde_json::json!([]));
}

#[tokio::test]
async fn reach_errors() {
    let app = app();
    let repeater = key(&nodes_with_role(&app, "repeater").await[0]);
    for bad in [
        "abc",
        &repeater[..63],
        &format!("{repeater}0"),
        &"zz".repeat(32),
    ] {
        let a = get(&app, &format!("/api/nodes/{bad}/reach")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(a.json["error"].as_str().unwrap().contains("64 hex"));
    }
    let a = get(&app, &format!("/api/nodes/{repeater}/reach?days=week")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json["error"].as_str().unwrap().contains("days"));
    let unknown = "ab".repeat(32);
    let a = get(&app, &format!("/api/nodes/{unknown}/reach")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // Upper case is the same node.
    let a = get(
        &app,
        &format!("/api/nodes/{}/reach", repeater.to_uppercase()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    // Blacklisted: 404, and it is no one's link either.
    let mut config = config();
    config.node_blacklist = vec![repeater.clone()];
    let hidden = router(state_with(config));
    let a = get(&hidden, &format!("/api/nodes/{repeater}/reach")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    for n in nodes_with_role(&hidden, "repeater").await {
        let a = get(&hidden, &format!("/api/nodes/{}/reach", key(&n))).await;
        let links = a.json["links"].as_array().unwrap();
        assert!(links.iter().all(|l| l["pubkey"] != repeater.as_str()));
    }
}

#[tokio::test]
async fn during_startup_reach_says_memory_does_not_hold_the_window() {
    let app = app();
    let repeater = key(&nodes_with_role(&app, "repeater").await[0]);
    let starting = router(state_unloaded());
    let a = get(&starting, &format!("/api/nodes/{repeater}/reach")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["window"]["complete"], false);
    assert_eq!(a.json["window"]["relay_observations"], 0);
}
