//! Contract tests: nodes (spec api.md §4, analytics.md §3).

use analyzer_server::router;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// Every node row of the fixture, newest advert first.
async fn all_nodes(app: &axum::Router) -> Vec<Value> {
    let a = get(app, "/api/nodes?limit=2000").await;
    assert_eq!(a.status, StatusCode::OK);
    a.json["nodes"].as_array().expect("nodes").clone()
}

fn key(node: &Value) -> &str {
    node["public_key"].as_str().expect("public_key")
}

/// The repeater with the most relayed packets in the last 24 h.
async fn busiest_repeater(app: &axum::Router) -> Value {
    all_nodes(app)
        .await
        .into_iter()
        .filter(|n| n["role"] == "repeater")
        .max_by_key(|n| n["relay_count_24h"].as_u64().unwrap_or(0))
        .expect("a repeater")
}

fn companion(nodes: &[Value]) -> Value {
    nodes
        .iter()
        .find(|n| n["role"] == "companion")
        .expect("a companion")
        .clone()
}

/// Cuts the top-level lists of an answer (a bare array, or the arrays of an object) to
/// `n` items, to keep snapshots reviewable; nested values stay whole.
fn trim(v: &mut Value, n: usize) {
    match v {
        Value::Array(a) => a.truncate(n),
        Value::Object(o) => o.values_mut().for_each(|x| {
            if let Value::Array(a) = x {
                a.truncate(n);
            }
        }),
        _ => {}
    }
}

fn assert_error(a: &Answer, status: StatusCode, needle: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    let message = a.json["error"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "error {message:?} should mention {needle:?}"
    );
}

fn assert_node_row(n: &Value) {
    let k = key(n);
    assert_eq!(k.len(), 64);
    assert!(
        k.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    for field in ["name", "role", "last_seen", "first_seen", "last_heard"] {
        assert!(n[field].is_string() || n[field].is_null(), "{field}: {n}");
    }
    for field in ["lat", "lon", "battery_mv", "temperature_c", "hash_size"] {
        assert!(n[field].is_number() || n[field].is_null(), "{field}: {n}");
    }
    assert!(n["advert_count"].is_i64());
    assert!(n["hash_size_inconsistent"].is_boolean());
    assert!(n["foreign"].is_boolean());
    assert!(n.get("default_scope").is_some());
    let status = n["multi_byte_status"].as_str().unwrap();
    assert!(["confirmed", "suspected", "unknown"].contains(&status));
    assert!(["advert", "path", ""].contains(&n["multi_byte_evidence"].as_str().unwrap()));
    let infra = n["role"] == "repeater" || n["role"] == "room";
    for field in [
        "relay_active",
        "relay_count_1h",
        "relay_count_24h",
        "unscoped_relay_count_24h",
    ] {
        assert_eq!(
            n.get(field).is_some(),
            infra,
            "{field} only on repeaters/rooms: {n}"
        );
    }
    if infra {
        let (h1, h24) = (
            n["relay_count_1h"].as_u64().unwrap(),
            n["relay_count_24h"].as_u64().unwrap(),
        );
        assert!(h1 <= h24 && n["unscoped_relay_count_24h"].as_u64().unwrap() <= h24);
        let share = n["traffic_share_score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&share));
        assert_eq!(share > 0.0, n.get("last_relayed").is_some());
        assert_eq!(
            n["relay_active"],
            n.get("last_relayed").is_some(),
            "fixture: all relaying is recent"
        );
    }
    // Not computed yet (needs the neighbour graph): absent rather than invented.
    for field in [
        "usefulness_score",
        "usefulness_grade",
        "bridge_score",
        "coverage_score",
        "redundancy_score",
    ] {
        assert!(n.get(field).is_none(), "{field} must not be made up");
    }
    // last_heard is never older than the last advert.
    if let (Some(seen), Some(heard)) = (n["last_seen"].as_str(), n["last_heard"].as_str()) {
        assert!(heard >= seen, "{n}");
    }
}

#[tokio::test]
async fn list_has_the_reference_fields_and_defaults() {
    let app = app();
    let a = get(&app, "/api/nodes").await;
    assert_eq!(a.status, StatusCode::OK);
    let nodes = a.json["nodes"].as_array().unwrap();
    let total = a.json["total"].as_u64().unwrap() as usize;
    assert!(total > 10, "fixture has nodes");
    assert_eq!(nodes.len(), total.min(50), "default page size 50");
    nodes.iter().for_each(assert_node_row);
    // Newest advert first.
    let seen: Vec<&str> = nodes
        .iter()
        .filter_map(|n| n["last_seen"].as_str())
        .collect();
    assert!(seen.windows(2).all(|w| w[0] >= w[1]), "{seen:?}");
    let counts = &a.json["counts"];
    let sum: u64 = ["repeaters", "rooms", "companions", "sensors"]
        .iter()
        .map(|k| counts[*k].as_u64().expect(k))
        .sum();
    assert!(sum > 0 && sum <= total as u64);
    let repeaters = nodes.iter().filter(|n| n["role"] == "repeater").count() as u64;
    assert_eq!(counts["repeaters"].as_u64(), Some(repeaters));
}

#[tokio::test]
async fn list_pages_and_clamps() {
    let app = app();
    let all = all_nodes(&app).await;
    let a = get(&app, "/api/nodes?limit=3&offset=2").await;
    let page: Vec<&str> = a.json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    let expected: Vec<&str> = all[2..5].iter().map(key).collect();
    assert_eq!(page, expected);
    assert_eq!(a.json["total"].as_u64(), Some(all.len() as u64));
    // Non-numeric and non-positive limits fall back to the default.
    for bad in ["abc", "0", "-4"] {
        let a = get(&app, &format!("/api/nodes?limit={bad}")).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json["nodes"].as_array().unwrap().len(), all.len().min(50));
    }
    // listLimits.nodesMax caps the page (and the default).
    let mut config = config();
    config.list_limits.nodes_max = Some(4);
    let small = router(state_with(config));
    for uri in ["/api/nodes?limit=100", "/api/nodes"] {
        let a = get(&small, uri).await;
        assert_eq!(a.json["nodes"].as_array().unwrap().len(), 4, "{uri}");
        assert_eq!(a.json["total"].as_u64(), Some(all.len() as u64));
    }
    assert_error(
        &get(&app, "/api/nodes?offset=-1").await,
        StatusCode::BAD_REQUEST,
        "offset",
    );
    let a = get(&app, "/api/nodes?offset=100000").await;
    assert_eq!(a.json["nodes"], json!([]));
}

#[tokio::test]
async fn list_filters() {
    let app = app();
    let all = all_nodes(&app).await;
    let a = get(&app, "/api/nodes?role=repeater&limit=2000").await;
    let repeaters = a.json["nodes"].as_array().unwrap();
    assert!(!repeaters.is_empty() && repeaters.iter().all(|n| n["role"] == "repeater"));
    assert_eq!(a.json["total"].as_u64(), Some(repeaters.len() as u64));
    // Role counts describe all nodes, whatever the filter.
    assert_eq!(
        a.json["counts"]["repeaters"].as_u64(),
        Some(repeaters.len() as u64)
    );
    assert!(a.json["counts"]["companions"].as_u64().unwrap() > 0);

    // search: case-insensitive name substring, or key prefix.
    let a = get(&app, "/api/nodes?search=REPEATER&limit=2000").await;
    let hits = a.json["nodes"].as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|n| {
        n["name"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("repeater")
    }));
    let first = key(&all[0]);
    let a = get(&app, &format!("/api/nodes?search={}", &first[..10])).await;
    assert_eq!(a.json["nodes"][0]["public_key"], first);

    // lastHeard: adverts newer than now minus the duration.
    let a = get(&app, "/api/nodes?lastHeard=1h&limit=2000").await;
    let recent = a.json["nodes"].as_array().unwrap();
    let cutoff = analyzer_db::time::rfc3339(NOW - 3600);
    let expected = all
        .iter()
        .filter(|n| n["last_seen"].as_str().is_some_and(|s| s > cutoff.as_str()))
        .count();
    assert!(
        expected > 0 && expected < all.len(),
        "fixture spreads adverts over hours"
    );
    assert_eq!(recent.len(), expected);

    // before: first seen at or before the time.
    let before = analyzer_db::time::rfc3339(START + 3600);
    let a = get(&app, &format!("/api/nodes?before={before}&limit=2000")).await;
    let early = a.json["nodes"].as_array().unwrap();
    assert!(!early.is_empty() && early.len() < all.len());
    assert!(
        early
            .iter()
            .all(|n| n["first_seen"].as_str().unwrap() <= before.as_str())
    );

    // sortBy.
    let a = get(&app, "/api/nodes?sortBy=name&limit=2000").await;
    let names: Vec<String> = a.json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["name"].as_str().map(str::to_lowercase))
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    let a = get(&app, "/api/nodes?sortBy=packetCount&limit=2000").await;
    let adverts: Vec<i64> = a.json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["advert_count"].as_i64().unwrap())
        .collect();
    assert!(adverts.windows(2).all(|w| w[0] >= w[1]), "{adverts:?}");

    // region: nodes whose adverts were heard by observers of those IATAs; All = none.
    let a = get(&app, "/api/nodes?region=All&limit=2000").await;
    assert_eq!(a.json["total"].as_u64(), Some(all.len() as u64));
    let a = get(&app, "/api/nodes?region=sea,pae&limit=2000").await;
    let regional = a.json["total"].as_u64().unwrap();
    assert!(regional > 0 && regional <= all.len() as u64);
    let a = get(&app, "/api/nodes?region=XXX").await;
    assert_eq!(a.json["total"], 0);
    assert_eq!(a.json["nodes"], json!([]));

    for (uri, name) in [
        ("/api/nodes?lastHeard=yesterday", "lastHeard"),
        ("/api/nodes?lastHeard=0h", "lastHeard"),
        ("/api/nodes?sortBy=size", "sortBy"),
        ("/api/nodes?before=monday", "before"),
    ] {
        assert_error(&get(&app, uri).await, StatusCode::BAD_REQUEST, name);
    }
}

#[tokio::test]
async fn area_keeps_nodes_whose_position_lies_inside() {
    let mut config = config();
    config.areas = serde_json::from_value(json!({
        "north": {"label": "North", "latMin": 47.7, "latMax": 48.5, "lonMin": -123.0, "lonMax": -121.0},
        "tri": {"label": "Triangle", "polygon": [[47.0, -123.0], [48.5, -123.0], [48.5, -121.0]]},
        "empty": {"label": "Nothing"}
    }))
    .unwrap();
    let app = router(state_with(config));
    let all = all_nodes(&app).await;
    let inside = |n: &Value| {
        n["lat"]
            .as_f64()
            .is_some_and(|lat| (47.7..=48.5).contains(&lat))
            && n["lon"]
                .as_f64()
                .is_some_and(|lon| (-123.0..=-121.0).contains(&lon))
    };
    let expected = all.iter().filter(|n| inside(n)).count();
    assert!(
        expected > 0 && expected < all.len(),
        "fixture spans the box edge"
    );
    let a = get(&app, "/api/nodes?area=north&limit=2000").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["total"].as_u64(), Some(expected as u64));
    assert!(a.json["nodes"].as_array().unwrap().iter().all(inside));
    let a = get(&app, "/api/nodes/bulk-health?area=north&limit=200").await;
    assert_eq!(a.json.as_array().unwrap().len(), expected);
    let a = get(&app, "/api/nodes?area=tri&limit=2000").await;
    let t = a.json["total"].as_u64().unwrap();
    assert!(t > 0 && t < all.len() as u64);
    for uri in [
        "/api/nodes?area=south",
        "/api/nodes?area=empty",
        "/api/nodes/bulk-health?area=south",
    ] {
        assert_error(&get(&app, uri).await, StatusCode::BAD_REQUEST, "area");
    }
}

/// The reference pages in SQL and then drops blacklisted and hidden nodes from the page,
/// so its `total` shrinks to the page length. We filter before paging: `total` counts
/// every visible node and a page is never short because of hidden rows.
#[tokio::test]
async fn blacklisted_and_hidden_nodes_are_filtered_before_paging() {
    let app = app();
    let all = all_nodes(&app).await;
    let blacklisted = key(&all[0]).to_owned();
    let hidden = all[1].clone();
    let hidden_name = hidden["name"].as_str().unwrap();
    let prefix: String = hidden_name.chars().take(4).collect();
    let also_hidden = all
        .iter()
        .filter(|n| n["name"].as_str().is_some_and(|s| s.starts_with(&prefix)))
        .count();
    let mut config = config();
    config.node_blacklist = vec![format!(" {} ", blacklisted.to_uppercase())];
    config.hidden_name_prefixes = vec![prefix.clone()];
    let app = router(state_with(config));
    let a = get(&app, "/api/nodes?limit=1").await;
    assert_eq!(a.json["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(
        a.json["total"].as_u64(),
        Some((all.len() - 1 - also_hidden) as u64),
        "total is a true count of visible nodes"
    );
    assert_eq!(a.json["nodes"][0]["public_key"], key(&all[2]));
    let visible = all_nodes(&app).await;
    assert!(visible.iter().all(|n| key(n) != blacklisted));
    assert!(
        visible
            .iter()
            .all(|n| !n["name"].as_str().unwrap_or("").starts_with(&prefix))
    );
    let counts = get(&app, "/api/nodes").await.json["counts"].clone();
    let count_sum: u64 = counts
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(count_sum <= visible.len() as u64);
    for uri in [
        format!("/api/nodes/{blacklisted}"),
        format!("/api/nodes/{blacklisted}/health"),
        format!("/api/nodes/{blacklisted}/paths"),
        format!("/api/nodes/{blacklisted}/analytics"),
        format!("/api/nodes/{}", key(&hidden)),
        format!("/api/nodes/{}", &key(&hidden)[..8]),
        format!("/api/nodes/{}/health", key(&hidden)),
    ] {
        assert_eq!(get(&app, &uri).await.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let a = get(&app, &format!("/api/nodes/search?q={}", &blacklisted[..12])).await;
    assert_eq!(a.json["nodes"], json!([]));
    let a = get(
        &app,
        &format!("/api/nodes/resolve?prefix={}", &blacklisted[..12]),
    )
    .await;
    assert!(a.json.get("pubkey").is_none());
    let a = get(&app, "/api/nodes/network-status").await;
    assert_eq!(a.json["total"].as_u64(), Some(visible.len() as u64));
    let a = get(&app, "/api/nodes/bulk-health?limit=200").await;
    assert_eq!(a.json.as_array().unwrap().len(), visible.len());
}

#[tokio::test]
async fn search_by_name_or_key_prefix() {
    let app = app();
    assert_eq!(
        get(&app, "/api/nodes/search").await.json,
        json!({"nodes": []})
    );
    assert_eq!(
        get(&app, "/api/nodes/search?q=%20").await.json,
        json!({"nodes": []})
    );
    let all = all_nodes(&app).await;
    let target = &all[3];
    let a = get(
        &app,
        &format!("/api/nodes/search?q={}", &key(target)[..6].to_uppercase()),
    )
    .await;
    assert!(
        a.json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == target)
    );
    // Single letters match many names: at most 10, newest advert first.
    let a = get(&app, "/api/nodes/search?q=e").await;
    let hits = a.json["nodes"].as_array().unwrap();
    assert_eq!(hits.len(), 10);
    let seen: Vec<&str> = hits
        .iter()
        .map(|n| n["last_seen"].as_str().unwrap())
        .collect();
    assert!(seen.windows(2).all(|w| w[0] >= w[1]));
    hits.iter().for_each(assert_node_row);
    let mut snap = get(&app, "/api/nodes/search?q=repeater").await.json;
    trim(&mut snap, 3);
    insta::assert_json_snapshot!("nodes_search", snap);
}

#[tokio::test]
async fn detail_by_key_or_unique_prefix() {
    let app = app();
    let node = busiest_repeater(&app).await;
    let k = key(&node);
    let a = get(&app, &format!("/api/nodes/{k}")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_node_row(&a.json["node"]);
    assert_eq!(a.json["node"]["public_key"], k);
    assert_eq!(a.json["node"]["relay_window_hours"], 24.0);
    assert!(a.json["node"]["flood_advert_count_7d"].as_u64().unwrap() >= 1);
    let adverts = a.json["recentAdverts"].as_array().unwrap();
    assert!(!adverts.is_empty() && adverts.len() <= 20);
    let times: Vec<&str> = adverts
        .iter()
        .map(|p| p["first_seen"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    for p in adverts {
        assert_eq!(p["payload_type"], 4);
        let decoded: Value = serde_json::from_str(p["decoded_json"].as_str().unwrap()).unwrap();
        assert_eq!(decoded["pubKey"], k, "only adverts the node sent");
    }
    // Upper case and an 8-character prefix find the same node.
    for alias in [k.to_uppercase(), k[..8].to_owned(), k[..20].to_owned()] {
        let b = get(&app, &format!("/api/nodes/{alias}")).await;
        assert_eq!(b.status, StatusCode::OK, "{alias}");
        assert_eq!(b.json["node"]["public_key"], k);
    }
    assert_error(
        &get(&app, &format!("/api/nodes/{}", &k[..7])).await,
        StatusCode::NOT_FOUND,
        "not found",
    );
    assert_error(
        &get(&app, &format!("/api/nodes/{}", "0".repeat(64))).await,
        StatusCode::NOT_FOUND,
        "not found",
    );
    assert_error(
        &get(&app, "/api/nodes/not-a-key-at-all").await,
        StatusCode::NOT_FOUND,
        "not found",
    );

    let mut snap = a.json.clone();
    trim(&mut snap, 2);
    insta::assert_json_snapshot!("nodes_detail", snap);
}

#[tokio::test]
async fn health_lists_observers_stats_and_recent_packets() {
    let app = app();
    let node = busiest_repeater(&app).await;
    let k = key(&node);
    let a = get(&app, &format!("/api/nodes/{k}/health")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["node"]["public_key"], k);
    let stats = &a.json["stats"];
    let total = stats["totalTransmissions"].as_u64().unwrap();
    assert_eq!(stats["totalPackets"].as_u64(), Some(total));
    assert!(stats["totalObservations"].as_u64().unwrap() >= total);
    assert!(stats["packetsToday"].as_u64().unwrap() <= total);
    assert!(stats["avgSnr"].is_number());
    assert!(stats["avgHops"].is_u64());
    assert_eq!(
        stats["lastHeard"], node["last_heard"],
        "newest packet involving the node"
    );
    // Relayed packets count: more than the adverts it sent.
    assert!(total > node["advert_count"].as_u64().unwrap());
    let observers = a.json["observers"].as_array().unwrap();
    assert!(!observers.is_empty());
    let counts: Vec<u64> = observers
        .iter()
        .map(|o| o["packetCount"].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]));
    assert!(counts.iter().sum::<u64>() <= total);
    for o in observers {
        for f in ["observer_id", "observer_name", "iata"] {
            assert!(o[f].is_string(), "{f}: {o}");
        }
        assert!(o["avgSnr"].is_number() && o["avgRssi"].is_number());
        assert!(o.get("can_relay").is_some());
    }
    let recent = a.json["recentPackets"].as_array().unwrap();
    assert_eq!(recent.len(), 20);
    let times: Vec<&str> = recent
        .iter()
        .map(|p| p["first_seen"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    assert!(recent.iter().all(|p| p.get("observations").is_none()));

    // A companion relays nothing: only its own adverts.
    let all = all_nodes(&app).await;
    let c = companion(&all);
    let a = get(&app, &format!("/api/nodes/{}/health", key(&c))).await;
    assert_eq!(a.status, StatusCode::OK);
    let recent = a.json["recentPackets"].as_array().unwrap();
    assert!(recent.iter().all(|p| p["payload_type"] == 4));
    assert_eq!(
        a.json["stats"]["totalPackets"].as_u64(),
        Some(recent.len() as u64)
    );

    assert_error(
        &get(&app, &format!("/api/nodes/{}/health", "f".repeat(64))).await,
        StatusCode::NOT_FOUND,
        "not found",
    );
    let mut snap = get(&app, &format!("/api/nodes/{}/health", key(&c)))
        .await
        .json;
    trim(&mut snap, 2);
    insta::assert_json_snapshot!("nodes_health", snap);
}

#[tokio::test]
async fn paths_through_a_node() {
    let app = app();
    let node = busiest_repeater(&app).await;
    let k = key(&node);
    let a = get(&app, &format!("/api/nodes/{k}/paths")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json["node"],
        json!({"public_key": k, "name": node["name"], "lat": node["lat"], "lon": node["lon"]})
    );
    let paths = a.json["paths"].as_array().unwrap();
    let total_paths = a.json["totalPaths"].as_u64().unwrap();
    let total_tx = a.json["totalTransmissions"].as_u64().unwrap();
    assert!(!paths.is_empty() && paths.len() as u64 == total_paths.min(50));
    assert!(
        paths
            .iter()
            .map(|p| p["count"].as_u64().unwrap())
            .sum::<u64>()
            <= total_tx
    );
    let seen: Vec<&str> = paths
        .iter()
        .map(|p| p["lastSeen"].as_str().unwrap())
        .collect();
    assert!(seen.windows(2).all(|w| w[0] >= w[1]), "last seen first");
    for p in paths {
        assert_eq!(p["sampleHash"].as_str().unwrap().len(), 16);
        let hops = p["hops"].as_array().unwrap();
        // Every path holds a hop that names this node.
        assert!(hops.iter().any(|h| h["pubkey"] == k), "{p}");
        for h in hops {
            let prefix = h["prefix"].as_str().unwrap();
            match h["pubkey"].as_str() {
                Some(pk) => {
                    assert!(pk.starts_with(&prefix.to_ascii_lowercase()));
                    assert!(h["name"].is_string() || h["name"].is_null());
                }
                None => assert!(h["name"].is_null() && h["lat"].is_null() && h["lon"].is_null()),
            }
        }
    }
    // Companions do not relay: no paths go through them.
    let all = all_nodes(&app).await;
    let a = get(&app, &format!("/api/nodes/{}/paths", key(&companion(&all)))).await;
    assert_eq!(a.json["paths"], json!([]));
    assert_eq!(a.json["totalTransmissions"], 0);
    assert_error(
        &get(&app, &format!("/api/nodes/{}/paths", "e".repeat(64))).await,
        StatusCode::NOT_FOUND,
        "not found",
    );

    // A blacklisted repeater is not named as a hop of anyone's paths.
    let other = paths
        .iter()
        .flat_map(|p| p["hops"].as_array().unwrap())
        .filter_map(|h| h["pubkey"].as_str())
        .find(|pk| *pk != k)
        .expect("another named hop")
        .to_owned();
    let mut config = config();
    config.node_blacklist = vec![other.clone()];
    let hiding = router(state_with(config));
    let a = get(&hiding, &format!("/api/nodes/{k}/paths")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.text.contains(&other), "blacklisted key leaked in paths");
    assert_eq!(a.json["totalTransmissions"].as_u64(), Some(total_tx));

    let mut snap = get(&app, &format!("/api/nodes/{k}/paths")).await.json;
    trim(&mut snap, 3);
    insta::assert_json_snapshot!("nodes_paths", snap);
}

#[tokio::test]
async fn analytics_over_a_window() {
    let app = app();
    let node = busiest_repeater(&app).await;
    let k = key(&node);
    let a = get(&app, &format!("/api/nodes/{k}/analytics")).await;
    assert_eq!(a.status, StatusCode::OK);
    let j = &a.json;
    assert_eq!(j["node"]["public_key"], k);
    assert_eq!(j["timeRange"]["days"], 7);
    assert_eq!(j["timeRange"]["to"], analyzer_db::time::rfc3339(NOW));
    assert_eq!(
        j["timeRange"]["from"],
        analyzer_db::time::rfc3339(NOW - 7 * 86_400)
    );
    let stats = &j["computedStats"];
    let total = stats["totalPackets"].as_u64().unwrap();
    assert!(total > 0);
    let sum = |field: &str| -> u64 {
        j[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["count"].as_u64().or(e["packetCount"].as_u64()).unwrap())
            .sum()
    };
    for field in [
        "activityTimeline",
        "packetTypeBreakdown",
        "hopDistribution",
        "uptimeHeatmap",
    ] {
        assert_eq!(sum(field), total, "{field}");
    }
    assert!(sum("observerCoverage") <= total);
    let buckets: Vec<&str> = j["activityTimeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] < w[1]));
    assert!(buckets.iter().all(|b| b.ends_with(":00:00Z")));
    let hops: Vec<&str> = j["hopDistribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hops"].as_str().unwrap())
        .collect();
    assert_eq!(hops, ["0", "1", "2", "3", "4+"]);
    // Six hours of traffic in a seven-day window.
    let hours = buckets.len() as f64;
    assert_eq!(
        stats["availabilityPct"].as_f64(),
        Some((hours * 1000.0 / 168.0).round() / 10.0)
    );
    assert_eq!(
        stats["uniqueObservers"].as_u64(),
        Some(j["observerCoverage"].as_array().unwrap().len() as u64)
    );
    assert!(stats["snrMean"].is_number() && stats["snrStdDev"].is_number());
    assert!(["A", "A-", "B+", "B", "C", "D"].contains(&stats["signalGrade"].as_str().unwrap()));
    assert!((0.0..=100.0).contains(&stats["relayPct"].as_f64().unwrap()));
    assert!(j["peerInteractions"].is_array());
    assert!(
        j["snrTrend"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["snr"].is_number())
    );
    for cell in j["uptimeHeatmap"].as_array().unwrap() {
        // 2026-01-01 was a Thursday.
        assert_eq!(cell["dayOfWeek"], 4);
        assert!(cell["hour"].as_u64().unwrap() < 6);
    }

    // days is clamped to 1..365; a window that ends before the traffic is empty.
    let a = get(&app, &format!("/api/nodes/{k}/analytics?days=0")).await;
    assert_eq!(a.json["timeRange"]["days"], 1);
    let a = get(&app, &format!("/api/nodes/{k}/analytics?days=9999")).await;
    assert_eq!(a.json["timeRange"]["days"], 365);
    assert_error(
        &get(&app, &format!("/api/nodes/{k}/analytics?days=week")).await,
        StatusCode::BAD_REQUEST,
        "days",
    );
    assert_error(
        &get(&app, &format!("/api/nodes/{}/analytics", "d".repeat(64))).await,
        StatusCode::NOT_FOUND,
        "not found",
    );

    let mut snap = get(&app, &format!("/api/nodes/{k}/analytics?days=1"))
        .await
        .json;
    trim(&mut snap, 2);
    insta::assert_json_snapshot!("nodes_analytics", snap);
}

#[tokio::test]
async fn bulk_health_is_a_bare_array() {
    let app = app();
    let all = all_nodes(&app).await;
    let a = get(&app, "/api/nodes/bulk-health").await;
    assert_eq!(a.status, StatusCode::OK);
    let rows = a.json.as_array().expect("bare array");
    assert_eq!(rows.len(), all.len().min(50));
    let keys: Vec<&str> = rows.iter().map(key).collect();
    let expected: Vec<&str> = all.iter().take(rows.len()).map(key).collect();
    assert_eq!(keys, expected, "newest advert first");
    for r in rows {
        for f in [
            "totalTransmissions",
            "totalObservations",
            "totalPackets",
            "packetsToday",
        ] {
            assert!(r["stats"][f].is_u64(), "{f}");
        }
        assert!(r["stats"].get("avgSnr").is_some() && r["stats"].get("lastHeard").is_some());
        for o in r["observers"].as_array().unwrap() {
            assert!(o["observer_id"].is_string() && o["packetCount"].is_u64());
        }
    }
    let a = get(&app, "/api/nodes/bulk-health?limit=2").await;
    assert_eq!(a.json.as_array().unwrap().len(), 2);
    let mut config = config();
    config.list_limits.bulk_health_max = Some(3);
    let small = router(state_with(config));
    assert_eq!(
        get(&small, "/api/nodes/bulk-health?limit=100")
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let a = get(&app, "/api/nodes/bulk-health?region=ZZZ").await;
    assert_eq!(a.json, json!([]));
    let regional = get(&app, "/api/nodes/bulk-health?region=SEA&limit=200")
        .await
        .json;
    let listed = get(&app, "/api/nodes?region=SEA&limit=2000").await.json;
    assert_eq!(
        regional.as_array().unwrap().len() as u64,
        listed["total"].as_u64().unwrap()
    );

    let mut snap = get(&app, "/api/nodes/bulk-health?limit=2").await.json;
    trim(&mut snap, 2);
    insta::assert_json_snapshot!("nodes_bulk_health", snap);
}

#[tokio::test]
async fn network_status_uses_the_health_thresholds() {
    let app = app();
    let all = all_nodes(&app).await;
    let a = get(&app, "/api/nodes/network-status").await;
    assert_eq!(a.status, StatusCode::OK);
    let j = &a.json;
    let n = |f: &str| j[f].as_u64().unwrap();
    assert_eq!(n("total"), all.len() as u64);
    assert_eq!(n("active") + n("degraded") + n("silent"), n("total"));
    let roles: u64 = j["roleCounts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(roles, n("total"));
    // Default thresholds: companions are active under 1 h, repeaters under 24 h.
    let cutoff = analyzer_db::time::rfc3339(NOW - 3600);
    let expected_active = all
        .iter()
        .filter(|x| x["role"] == "repeater" || x["last_seen"].as_str().unwrap() > cutoff.as_str())
        .count();
    assert_eq!(n("active"), expected_active as u64);
    insta::assert_json_snapshot!("nodes_network_status", j);

    // Tighter thresholds move nodes to degraded and silent.
    let mut config = config();
    config.health_thresholds.infra_degraded_hours = Some(0.5);
    config.health_thresholds.infra_silent_hours = Some(1.0);
    config.health_thresholds.node_degraded_hours = Some(0.5);
    config.health_thresholds.node_silent_hours = Some(1.0);
    let strict = get(&router(state_with(config)), "/api/nodes/network-status")
        .await
        .json;
    let last_hour = all
        .iter()
        .filter(|x| x["last_seen"].as_str().unwrap() > cutoff.as_str())
        .count() as u64;
    assert_eq!(strict["silent"].as_u64(), Some(n("total") - last_hour));
}

#[tokio::test]
async fn resolve_a_key_prefix() {
    let app = app();
    let all = all_nodes(&app).await;
    let target = key(&all[0]);
    let a = get(&app, &format!("/api/nodes/resolve?prefix={}", &target[..6])).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json,
        json!({"prefix": &target[..6], "pubkey": target, "name": all[0]["name"], "ambiguous": false})
    );
    let a = get(&app, "/api/nodes/resolve?prefix=0000000000").await;
    assert_eq!(a.json, json!({"prefix": "0000000000", "ambiguous": false}));
    insta::assert_json_snapshot!(
        "nodes_resolve",
        get(
            &app,
            &format!("/api/nodes/resolve?prefix={}", &target[..8].to_uppercase())
        )
        .await
        .json
    );
    // Errors are plain text, as in the reference.
    for uri in [
        "/api/nodes/resolve",
        "/api/nodes/resolve?prefix=abc",
        "/api/nodes/resolve?prefix=zzzz",
    ] {
        let a = get(&app, uri).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}");
        let ct = a.headers["content-type"].to_str().unwrap();
        assert!(ct.starts_with("text/plain"), "{uri}: {ct}");
        assert!(a.text.contains("prefix"), "{}", a.text);
    }
}

#[tokio::test]
async fn list_snapshot() {
    let app = app();
    let a = get(&app, "/api/nodes?limit=3&role=repeater").await;
    insta::assert_json_snapshot!("nodes_list", a.json);
}
