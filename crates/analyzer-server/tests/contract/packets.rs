//! Contract tests: packets and traces (spec api.md §3).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use analyzer_config::Config;
use analyzer_db::{ObservationWrite, PacketWrite, WriteBatch};
use analyzer_ingest::RejectCounters;
use analyzer_ingest::process::{Processor, RawMessage, SourceMeta, build_decoder};
use analyzer_server::{AppState, IngestView, MqttSourceView, ReaderHandle, router};
use analyzer_sqlite::{OpenOptions, SqliteReader};
use analyzer_store::{EvictionPolicy, LoadConfig, StartupLoader, Store};
use axum::Router;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

const TX_KEYS: &[&str] = &[
    "id",
    "raw_hex",
    "hash",
    "first_seen",
    "timestamp",
    "route_type",
    "payload_type",
    "decoded_json",
    "observation_count",
    "observer_id",
    "observer_name",
    "observer_iata",
    "snr",
    "rssi",
    "path_json",
    "direction",
    "_parsedPath",
];

const OBS_KEYS_REQUIRED: &[&str] = &[
    "id",
    "transmission_id",
    "hash",
    "observer_id",
    "observer_name",
    "observer_iata",
    "snr",
    "rssi",
    "path_json",
    "raw_hex",
    "timestamp",
    "payload_type",
    "route_type",
    "decoded_json",
];

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn packets(a: &Answer) -> &Vec<Value> {
    a.json["packets"].as_array().expect("packets array")
}

fn ids(a: &Answer) -> Vec<i64> {
    packets(a)
        .iter()
        .map(|p| p["id"].as_i64().expect("id"))
        .collect()
}

fn assert_400_naming(a: &Answer, name: &str) {
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    let message = a.json["error"].as_str().expect("error message");
    assert!(message.contains(name), "{message:?} should name {name}");
}

/// A store with the whole fixture loaded.
fn loaded_store() -> Store {
    let store = Store::new();
    let loader_reader = SqliteReader::open(database(), &OpenOptions::default()).expect("reader");
    StartupLoader::new(
        store.clone(),
        loader_reader,
        LoadConfig {
            hot_startup_hours: 0.0,
            retention_hours: 0.0,
            chunk_size: 0,
            max_memory_mb: 0,
        },
    )
    .run()
    .expect("fixture load");
    store
}

/// The router over `store` and the fixture database.
fn router_over(store: &Store, cfg: Config, ingest: Option<Arc<dyn IngestView>>) -> Router {
    let reader: ReaderHandle = Arc::new(Mutex::new(Box::new(
        SqliteReader::open(database(), &OpenOptions::default()).expect("reader"),
    )));
    let mut builder = AppState::builder(reader, store.clone())
        .config(Arc::new(cfg))
        .clock(Arc::new(|| NOW));
    if let Some(ingest) = ingest {
        builder = builder.ingest(ingest);
    }
    router(builder.build())
}

/// A router over the fixture whose store holds only what was heard in the last `hours`
/// (the rest evicted by a retention policy), with a handle on that store.
fn partial_state(hours: i64) -> (Router, Store) {
    let store = loaded_store();
    let report = store.evict(
        NOW,
        &EvictionPolicy {
            retention_secs: Some(hours * 3600),
            max_bytes: None,
        },
    );
    assert!(report.by_age > 0, "the policy must evict something");
    (router_over(&store, config(), None), store)
}

/// The hash of the packet with the fewest observations (at least two): snapshots of it stay
/// reviewable.
async fn small_packet(app: &Router) -> String {
    let all = get(app, "/api/packets?limit=10000").await;
    packets(&all)
        .iter()
        .filter(|p| p["observation_count"].as_u64() >= Some(2))
        .min_by_key(|p| (p["observation_count"].as_u64(), p["id"].as_i64()))
        .expect("a packet heard twice")["hash"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn list_defaults_shape_and_order() {
    let app = app();
    let a = get(&app, "/api/packets").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(keys(&a.json), ["packets", "total", "limit", "offset"]);
    assert_eq!(a.json["limit"], 50);
    assert_eq!(a.json["offset"], 0);
    let total = a.json["total"].as_u64().unwrap();
    assert!(total > 100, "fixture has hundreds of packets, got {total}");
    assert_eq!(packets(&a).len(), 50);
    let got = ids(&a);
    assert!(got.windows(2).all(|w| w[0] > w[1]), "newest first: {got:?}");
    for p in packets(&a) {
        assert_eq!(keys(p), TX_KEYS);
        assert!(p["hash"].as_str().unwrap().len() == 16);
        assert!(p["decoded_json"].is_string());
        assert!(p["path_json"].is_string());
        assert!(p["_parsedPath"].is_array());
        assert_eq!(p["first_seen"], p["timestamp"]);
        assert!(p["observation_count"].as_u64().unwrap() >= 1);
    }
    let asc = get(&app, "/api/packets?order=asc&limit=5").await;
    let got = ids(&asc);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "oldest first: {got:?}");
    let paged = get(&app, "/api/packets?limit=5&offset=5").await;
    assert_eq!(ids(&paged), ids(&a)[5..10]);
    insta::assert_json_snapshot!("packets_list", get(&app, "/api/packets?limit=3").await.json);
}

#[tokio::test]
async fn list_limit_clamps() {
    let app = app();
    for (uri, limit) in [
        ("/api/packets?limit=abc", 50),
        ("/api/packets?limit=0", 50),
        ("/api/packets?limit=-4", 50),
        ("/api/packets?limit=7", 7),
        ("/api/packets?limit=999999", 10_000),
    ] {
        let a = get(&app, uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert_eq!(a.json["limit"], limit, "{uri}");
    }
    let mut cfg = config();
    cfg.list_limits.packets_max = Some(4);
    let small = router(state_with(cfg));
    let a = get(&small, "/api/packets?limit=100").await;
    assert_eq!(a.json["limit"], 4);
    assert_eq!(packets(&a).len(), 4);
}

#[tokio::test]
async fn list_bad_parameters_are_400_naming_them() {
    let app = app();
    assert_400_naming(&get(&app, "/api/packets?offset=-1").await, "offset");
    assert_400_naming(&get(&app, "/api/packets?since=yesterday").await, "since");
    assert_400_naming(&get(&app, "/api/packets?until=2026-13-01").await, "until");
    // The reference reads a non-numeric type as 0 (REQ); we refuse it.
    assert_400_naming(&get(&app, "/api/packets?type=abc").await, "type");
    assert_400_naming(&get(&app, "/api/packets?route=x").await, "route");
    assert_400_naming(
        &get(&app, "/api/packets?payloadType=x").await,
        "payloadType",
    );
    assert_400_naming(&get(&app, "/api/packets?area=nowhere").await, "area");
}

#[tokio::test]
async fn list_filters() {
    let app = app();
    let all = get(&app, "/api/packets?limit=10000").await;
    let total = all.json["total"].as_u64().unwrap();
    assert_eq!(packets(&all).len() as u64, total);

    // type / route
    let adverts = get(&app, "/api/packets?type=4&limit=10000").await;
    assert!(adverts.json["total"].as_u64().unwrap() > 0);
    assert!(packets(&adverts).iter().all(|p| p["payload_type"] == 4));
    let route = packets(&all)[0]["route_type"].as_i64().unwrap();
    let by_route = get(&app, &format!("/api/packets?route={route}&limit=10000")).await;
    assert!(packets(&by_route).iter().all(|p| p["route_type"] == route));

    // hash
    let hash = packets(&all)[7]["hash"].as_str().unwrap().to_owned();
    let one = get(&app, &format!("/api/packets?hash={}", hash.to_uppercase())).await;
    assert_eq!(one.json["total"], 1);
    assert_eq!(packets(&one)[0]["hash"], hash.as_str());

    // The search overlay sends any text as `hash`: no match, not an error.
    for text in ["xyz", "7c5a", "not a hash at all"] {
        let a = get(
            &app,
            &format!("/api/packets?limit=5&hash={}", text.replace(' ', "%20")),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{text}");
        assert_eq!(a.json["total"], 0, "{text}");
        assert_eq!(a.json["packets"], json!([]));
    }
    // `payloadType` (sent by the channels page) works like `type`; `type` wins.
    let alias = get(&app, "/api/packets?payloadType=4&limit=10000").await;
    assert_eq!(alias.json, adverts.json);
    let both = get(&app, "/api/packets?type=4&payloadType=5&limit=10000").await;
    assert_eq!(both.json, adverts.json);

    // since / until are exclusive bounds on first_seen
    let pivot = packets(&all)[100]["first_seen"]
        .as_str()
        .unwrap()
        .to_owned();
    let newer = get(&app, &format!("/api/packets?since={pivot}&limit=10000")).await;
    assert!(
        packets(&newer)
            .iter()
            .all(|p| p["first_seen"].as_str().unwrap() > pivot.as_str())
    );
    let older = get(&app, &format!("/api/packets?until={pivot}&limit=10000")).await;
    assert!(
        packets(&older)
            .iter()
            .all(|p| p["first_seen"].as_str().unwrap() < pivot.as_str())
    );
    let same = packets(&all)
        .iter()
        .filter(|p| p["first_seen"] == pivot.as_str())
        .count() as u64;
    assert_eq!(
        newer.json["total"].as_u64().unwrap() + older.json["total"].as_u64().unwrap() + same,
        total
    );

    // channel
    let grp = get(&app, "/api/packets?type=5&limit=1").await;
    if let Some(p) = packets(&grp).first() {
        let decoded: Value = serde_json::from_str(p["decoded_json"].as_str().unwrap()).unwrap();
        let channel = decoded["channel"].as_str().map(str::to_owned).or_else(|| {
            decoded["channelHashHex"]
                .as_str()
                .map(|h| format!("enc_{}", h.to_uppercase()))
        });
        if let Some(channel) = channel {
            let uri = format!(
                "/api/packets?channel={}&limit=10000",
                channel.replace('#', "%23").replace(' ', "%20")
            );
            let by_channel = get(&app, &uri).await;
            assert!(by_channel.json["total"].as_u64().unwrap() >= 1, "{uri}");
            assert!(packets(&by_channel).iter().all(|p| p["payload_type"] == 5));
        }
    }
    let none = get(&app, "/api/packets?channel=no-such-channel").await;
    assert_eq!(none.json["total"], 0);
}

#[tokio::test]
async fn list_observer_and_region_filters() {
    let app = app();
    let all = get(&app, "/api/packets?limit=10000&expand=observations").await;
    let total = all.json["total"].as_u64().unwrap();
    let observer = packets(&all)[0]["observer_id"].as_str().unwrap().to_owned();
    let heard_by = |p: &Value, pred: &dyn Fn(&Value) -> bool| {
        p["observations"].as_array().unwrap().iter().any(pred)
    };
    let expected = packets(&all)
        .iter()
        .filter(|p| heard_by(p, &|o| o["observer_id"] == observer.as_str()))
        .count() as u64;
    let by_observer = get(
        &app,
        &format!("/api/packets?observer={observer}&limit=10000"),
    )
    .await;
    assert_eq!(by_observer.json["total"].as_u64().unwrap(), expected);
    assert!(expected > 0 && expected < total);
    // A comma list is a union; an unknown id alone matches nothing.
    let two = get(
        &app,
        &format!("/api/packets?observer={observer},nobody&limit=1"),
    )
    .await;
    assert_eq!(two.json["total"].as_u64().unwrap(), expected);
    let unknown = get(&app, "/api/packets?observer=nobody").await;
    assert_eq!(unknown.json["total"], 0);
    assert_eq!(unknown.json["packets"], json!([]));

    // region=All is no filter (the reference's in-memory path answered nothing).
    let region_all = get(&app, "/api/packets?region=All").await;
    assert_eq!(region_all.json["total"].as_u64().unwrap(), total);
    let mut iatas: Vec<String> = packets(&all)
        .iter()
        .flat_map(|p| p["observations"].as_array().unwrap().iter())
        .filter_map(|o| o["observer_iata"].as_str().map(str::to_owned))
        .collect();
    iatas.sort();
    iatas.dedup();
    assert!(
        iatas.len() >= 2,
        "fixture observers span regions: {iatas:?}"
    );
    let mut partial_region = false;
    for iata in &iatas {
        let uri = format!(
            "/api/packets?region={}&limit=10000&expand=observations",
            iata.to_lowercase()
        );
        let sea = get(&app, &uri).await;
        let sea_total = sea.json["total"].as_u64().unwrap();
        let expected = packets(&all)
            .iter()
            .filter(|p| heard_by(p, &|o| o["observer_iata"] == iata.as_str()))
            .count() as u64;
        assert_eq!(sea_total, expected, "{uri}");
        partial_region |= sea_total > 0 && sea_total < total;
        for p in packets(&sea) {
            assert!(heard_by(p, &|o| o["observer_iata"] == iata.as_str()));
        }
    }
    assert!(partial_region, "some region hears only part of the traffic");
    let sea_total = get(&app, &format!("/api/packets?region={}", iatas[0]))
        .await
        .json["total"]
        .as_u64()
        .unwrap();
    let two_regions = get(
        &app,
        &format!("/api/packets?region={},{}", iatas[0], iatas[1]),
    )
    .await;
    assert!(two_regions.json["total"].as_u64().unwrap() >= sea_total);
    let nowhere = get(&app, "/api/packets?region=XXX").await;
    assert_eq!(nowhere.json["total"], 0);
}

#[tokio::test]
async fn list_expand_observations() {
    let app = app();
    let a = get(&app, "/api/packets?limit=5&expand=observations").await;
    for p in packets(&a) {
        let obs = p["observations"].as_array().expect("observations");
        assert_eq!(obs.len() as u64, p["observation_count"].as_u64().unwrap());
        for o in obs {
            for k in OBS_KEYS_REQUIRED {
                assert!(o.get(*k).is_some(), "observation lacks {k}: {o}");
            }
            assert_eq!(o["transmission_id"], p["id"]);
            assert_eq!(o["hash"], p["hash"]);
        }
    }
    let plain = get(&app, "/api/packets?limit=5").await;
    assert!(
        packets(&plain)
            .iter()
            .all(|p| p.get("observations").is_none())
    );
}

#[tokio::test]
async fn list_grouped_by_hash() {
    let app = app();
    let a = get(&app, "/api/packets?groupByHash=true&limit=10000").await;
    assert_eq!(a.status, StatusCode::OK);
    let rows = packets(&a);
    let total = get(&app, "/api/packets").await.json["total"].clone();
    assert_eq!(a.json["total"], total);
    assert_eq!(rows.len() as u64, total.as_u64().unwrap());
    for r in rows {
        assert_eq!(
            keys(r),
            [
                "hash",
                "first_seen",
                "count",
                "observer_count",
                "observation_count",
                "latest",
                "observer_id",
                "observer_name",
                "observer_iata",
                "distinct_iatas",
                "path_json",
                "payload_type",
                "route_type",
                "raw_hex",
                "decoded_json",
                "snr",
                "rssi",
            ]
        );
        assert_eq!(r["count"], r["observation_count"]);
        let iatas = r["distinct_iatas"].as_array().unwrap();
        assert!(iatas.len() as u64 <= r["observer_count"].as_u64().unwrap());
    }
    let latest: Vec<&str> = rows.iter().map(|r| r["latest"].as_str().unwrap()).collect();
    assert!(latest.windows(2).all(|w| w[0] >= w[1]), "latest DESC");
    let page = get(&app, "/api/packets?groupByHash=true&limit=3&offset=2").await;
    assert_eq!(packets(&page)[..], rows[2..5]);
    let pae = get(&app, "/api/packets?groupByHash=true&region=PAE&limit=10000").await;
    assert!(pae.json["total"].as_u64().unwrap() > 0);
    for r in packets(&pae) {
        assert!(
            r["distinct_iatas"]
                .as_array()
                .unwrap()
                .contains(&json!("PAE"))
        );
    }
    insta::assert_json_snapshot!(
        "packets_grouped",
        get(&app, "/api/packets?groupByHash=true&limit=3")
            .await
            .json
    );
}

#[tokio::test]
async fn list_node_and_multi_node() {
    let app = app();
    let adverts = get(&app, "/api/packets?type=4&limit=10000").await;
    let decoded: Value =
        serde_json::from_str(packets(&adverts)[0]["decoded_json"].as_str().unwrap()).unwrap();
    let key = decoded["pubKey"]
        .as_str()
        .expect("advert pubKey")
        .to_owned();
    let by_node = get(&app, &format!("/api/packets?node={key}&limit=10000")).await;
    let got = ids(&by_node);
    assert!(got.contains(&packets(&adverts)[0]["id"].as_i64().unwrap()));
    // Multi-node: the union of the nodes' packets, ids only; other filters do not apply.
    let other = packets(&adverts)
        .iter()
        .filter_map(|p| {
            let d: Value = serde_json::from_str(p["decoded_json"].as_str()?).ok()?;
            d["pubKey"]
                .as_str()
                .filter(|k| *k != key)
                .map(str::to_owned)
        })
        .next()
        .expect("a second advertiser");
    let other_ids = ids(&get(&app, &format!("/api/packets?node={other}&limit=10000")).await);
    let multi = get(
        &app,
        &format!(
            "/api/packets?nodes={key},{}&type=4&limit=10000",
            other.to_uppercase()
        ),
    )
    .await;
    let mut want: Vec<i64> = got.iter().chain(&other_ids).copied().collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    want.dedup();
    assert_eq!(ids(&multi), want);
    assert_eq!(multi.json["total"].as_u64().unwrap() as usize, want.len());
    let asc = get(
        &app,
        &format!("/api/packets?nodes={key}&order=asc&limit=2&offset=1"),
    )
    .await;
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(
        ids(&asc),
        sorted.iter().skip(1).take(2).copied().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn list_area_attributes_by_advertised_position() {
    // A box around the whole planet: every node with a position is inside, so exactly the
    // ADVERTs of positioned nodes pass (the filter looks at the originator only).
    let mut cfg = config();
    cfg.extra.insert(
        "areas".into(),
        json!({
            "world": {"label": "World", "latMin": -90.0, "latMax": 90.0, "lonMin": -180.0, "lonMax": 180.0},
            "nowhere": {"label": "Null island", "polygon": [[0.1, 0.1], [0.1, 0.2], [0.2, 0.2]]},
            "broken": {"label": "No shape"},
        }),
    );
    let app = router(state_with(cfg));
    let world = get(&app, "/api/packets?area=world&limit=10000").await;
    assert_eq!(world.status, StatusCode::OK);
    assert!(world.json["total"].as_u64().unwrap() > 0);
    assert!(packets(&world).iter().all(|p| p["payload_type"] == 4));
    let nowhere = get(&app, "/api/packets?area=nowhere").await;
    assert_eq!(nowhere.json["total"], 0);
    assert_400_naming(&get(&app, "/api/packets?area=broken").await, "area");
    assert_400_naming(&get(&app, "/api/packets?area=mars").await, "area");
}

#[tokio::test]
async fn list_before_the_loaded_window_comes_from_the_database() {
    let full = app();
    let (partial, store) = partial_state(2);
    let oldest = store.oldest_loaded().expect("a boundary after eviction");
    assert!(oldest > START);
    let since = "2026-01-01T00:30:00Z";
    let observer = packets(&get(&full, "/api/packets?limit=1").await)[0]["observer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for query in [
        format!("since={since}&limit=20"),
        format!("since={since}&limit=20&order=asc&offset=3"),
        format!("since={since}&type=4&limit=10000"),
        format!("since={since}&region=PAE&limit=50"),
        format!("since={since}&observer={observer}&limit=50"),
        "until=2026-01-01T01:00:00Z&limit=10000&expand=observations".to_owned(),
    ] {
        let want = get(&full, &format!("/api/packets?{query}")).await;
        let got = get(&partial, &format!("/api/packets?{query}")).await;
        assert_eq!(got.status, StatusCode::OK, "{query}: {}", got.text);
        assert!(!packets(&got).is_empty(), "{query}");
        assert_eq!(got.json, want.json, "{query}");
    }
    // The evicted rows really are not in memory: without a time bound the list is shorter.
    let memory_total = get(&partial, "/api/packets").await.json["total"].clone();
    let db_total = get(&partial, "/api/packets?since=2025-01-01T00:00:00Z")
        .await
        .json["total"]
        .clone();
    assert!(memory_total.as_u64().unwrap() < db_total.as_u64().unwrap());
    // Grouped rows and multi-node lists fall back too.
    let want = get(
        &full,
        "/api/packets?groupByHash=true&since=2026-01-01T00:00:00Z&limit=10000",
    )
    .await;
    let got = get(
        &partial,
        "/api/packets?groupByHash=true&since=2026-01-01T00:00:00Z&limit=10000",
    )
    .await;
    assert_eq!(got.json["total"], want.json["total"]);
    let mut a: Vec<Value> = packets(&got).clone();
    let mut b: Vec<Value> = packets(&want).clone();
    let by_hash = |x: &Value, y: &Value| x["hash"].as_str().cmp(&y["hash"].as_str());
    a.sort_by(by_hash);
    b.sort_by(by_hash);
    assert_eq!(a, b);
    // An old packet by id comes from the database.
    let oldest_id = ids(&get(&full, "/api/packets?order=asc&limit=1").await)[0];
    let detail = get(&partial, &format!("/api/packets/{oldest_id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(
        detail.json,
        get(&full, &format!("/api/packets/{oldest_id}")).await.json
    );
}

#[tokio::test]
async fn detail_by_hash_id_and_observation_id() {
    let app = app();
    let list = get(&app, "/api/packets?limit=1&offset=3&expand=observations").await;
    let p = &packets(&list)[0];
    let hash = p["hash"].as_str().unwrap();
    let id = p["id"].as_i64().unwrap();
    let obs_id = p["observations"][0]["id"].as_i64().unwrap();
    let by_hash = get(&app, &format!("/api/packets/{hash}")).await;
    assert_eq!(by_hash.status, StatusCode::OK);
    assert_eq!(
        keys(&by_hash.json),
        ["packet", "path", "observation_count", "observations"]
    );
    assert_eq!(by_hash.json["packet"]["id"], id);
    assert!(by_hash.json["packet"]["observations"].is_array());
    assert_eq!(
        by_hash.json["observation_count"].as_u64().unwrap(),
        by_hash.json["observations"].as_array().unwrap().len() as u64
    );
    let path: Value =
        serde_json::from_str(by_hash.json["packet"]["path_json"].as_str().unwrap()).unwrap();
    assert_eq!(by_hash.json["path"], path);
    let by_id = get(&app, &format!("/api/packets/{id}")).await;
    assert_eq!(by_id.json, by_hash.json);
    let by_upper = get(&app, &format!("/api/packets/{}", hash.to_uppercase())).await;
    assert_eq!(by_upper.json, by_hash.json);
    // An observation id that is no transmission id finds its transmission.
    let max_id = ids(&get(&app, "/api/packets?limit=1").await)[0];
    let all = get(&app, "/api/packets?limit=10000&expand=observations").await;
    let (obs_only, owner) = packets(&all)
        .iter()
        .flat_map(|p| {
            p["observations"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |o| (o["id"].as_i64().unwrap(), p["id"].as_i64().unwrap()))
        })
        .find(|(o, _)| *o > max_id)
        .expect("more observations than transmissions");
    let by_obs = get(&app, &format!("/api/packets/{obs_only}")).await;
    assert_eq!(by_obs.status, StatusCode::OK);
    assert_eq!(by_obs.json["packet"]["id"], owner);
    let _ = obs_id;
    for missing in ["0123456789abcdef", "99999999", "not-an-id", "-1"] {
        let a = get(&app, &format!("/api/packets/{missing}")).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(a.json, json!({"error": "Not found"}));
    }
    let small = get(&app, &format!("/api/packets/{}", small_packet(&app).await)).await;
    insta::assert_json_snapshot!("packets_detail", small.json);
}

#[tokio::test]
async fn timestamps() {
    let app = app();
    let missing = get(&app, "/api/packets/timestamps").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json, json!({"error": "since required"}));
    assert_400_naming(
        &get(&app, "/api/packets/timestamps?since=soon").await,
        "since",
    );
    // Nothing newer: the reference answers null; we answer an empty array, since clients
    // iterate the answer.
    let none = get(&app, "/api/packets/timestamps?since=2030-01-01T00:00:00Z").await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json, json!([]));
    let since = "2026-01-01T05:50:00Z";
    let a = get(&app, &format!("/api/packets/timestamps?since={since}")).await;
    let times: Vec<&str> = a
        .json
        .as_array()
        .expect("bare array")
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(!times.is_empty());
    assert!(times.iter().all(|t| *t > since));
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "ascending");
    let listed = get(&app, &format!("/api/packets?since={since}&limit=10000")).await;
    assert_eq!(times.len() as u64, listed.json["total"].as_u64().unwrap());
    insta::assert_json_snapshot!(
        "packets_timestamps",
        get(&app, "/api/packets/timestamps?since=2026-01-01T05:30:00Z")
            .await
            .json
    );
}

#[tokio::test]
async fn observations_by_hashes() {
    let app = app();
    let list = get(&app, "/api/packets?limit=2").await;
    let h0 = packets(&list)[0]["hash"].as_str().unwrap().to_owned();
    let h1 = packets(&list)[1]["hash"].as_str().unwrap().to_owned();
    let body = json!({"hashes": [h0, h1, "0123456789abcdef", "junk"]}).to_string();
    let a = post(&app, "/api/packets/observations", &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let results = a.json["results"].as_object().unwrap();
    assert_eq!(results.len(), 4);
    assert!(!results[&h0].as_array().unwrap().is_empty());
    assert_eq!(results["0123456789abcdef"], json!([]));
    assert_eq!(results["junk"], json!([]));
    for o in results[&h1].as_array().unwrap() {
        assert_eq!(o["hash"], h1.as_str());
    }
    let too_many: Vec<String> = (0..201).map(|i| format!("{i:016x}")).collect();
    let a = post(
        &app,
        "/api/packets/observations",
        &json!({ "hashes": too_many }).to_string(),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json, json!({"error": "too many hashes (max 200)"}));
    let bad = post(&app, "/api/packets/observations", "{not json").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json["error"].as_str().unwrap().contains("invalid JSON"));
    let wrong_type = post(&app, "/api/packets/observations", r#"{"hashes": "abc"}"#).await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert!(wrong_type.json["error"].is_string());
    insta::assert_json_snapshot!(
        "packets_observations",
        post(
            &app,
            "/api/packets/observations",
            &json!({"hashes": [small_packet(&app).await, "0123456789abcdef"]}).to_string()
        )
        .await
        .json
    );
}

#[tokio::test]
async fn decode() {
    let app = app();
    let list = get(&app, "/api/packets?type=4&limit=1").await;
    let raw = packets(&list)[0]["raw_hex"].as_str().unwrap().to_owned();
    let a = post(&app, "/api/decode", &json!({ "hex": raw }).to_string()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(keys(&a.json), ["decoded"]);
    assert_eq!(keys(&a.json["decoded"]), ["header", "path", "payload"]);
    assert_eq!(a.json["decoded"]["payload"]["type"], "ADVERT");
    let missing = post(&app, "/api/decode", "{}").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json, json!({"error": "hex is required"}));
    let empty = post(&app, "/api/decode", r#"{"hex": "  "}"#).await;
    assert_eq!(empty.json, json!({"error": "hex is required"}));
    let garbage = post(&app, "/api/decode", r#"{"hex": "zz"}"#).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert!(garbage.json["error"].as_str().unwrap().contains("hex"));
    let short = post(&app, "/api/decode", r#"{"hex": "01"}"#).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.json["error"].is_string());
    let bad = post(&app, "/api/decode", "[").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json["error"].is_string());
    insta::assert_json_snapshot!("packets_decode", a.json);
}

#[tokio::test]
async fn traces() {
    let app = app();
    let list = get(&app, "/api/packets?limit=50").await;
    let p = packets(&list)
        .iter()
        .max_by_key(|p| p["observation_count"].as_u64())
        .unwrap();
    let hash = p["hash"].as_str().unwrap();
    let a = get(&app, &format!("/api/traces/{hash}")).await;
    assert_eq!(a.status, StatusCode::OK);
    let traces = a.json["traces"].as_array().unwrap();
    assert_eq!(
        traces.len() as u64,
        p["observation_count"].as_u64().unwrap()
    );
    for t in traces {
        assert_eq!(
            keys(t),
            [
                "observer",
                "observer_name",
                "time",
                "snr",
                "rssi",
                "path_json"
            ]
        );
    }
    let times: Vec<&str> = traces.iter().map(|t| t["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");
    let unknown = get(&app, "/api/traces/0123456789abcdef").await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.json, json!({"traces": []}));
    assert_400_naming(&get(&app, "/api/traces/nothex").await, "hash");
    let small = get(&app, &format!("/api/traces/{}", small_packet(&app).await)).await;
    insta::assert_json_snapshot!("packets_traces", small.json);
}

/// An ingest view that runs the real message processor and appends what it produced to
/// the store, as the binary's pipeline does after writing.
struct StoreIngest {
    store: Store,
    processor: Processor,
    next_id: AtomicI64,
    topics: Mutex<Vec<String>>,
}

impl IngestView for StoreIngest {
    fn mqtt_sources(&self) -> Vec<MqttSourceView> {
        Vec::new()
    }

    fn inject(&self, topic: &str, payload: &[u8]) -> bool {
        self.topics.lock().unwrap().push(topic.to_owned());
        let mut batch = WriteBatch::default();
        let raw = RawMessage {
            source: 0,
            topic,
            payload,
            retained: false,
            now: NOW,
        };
        self.processor
            .process(&raw, &mut batch, &RejectCounters::default());
        for packet in &batch.packets {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            self.store.append(
                packet,
                &PacketWrite {
                    transmission_id: id,
                    new_transmission: true,
                    observation: ObservationWrite::Inserted(id),
                    observer_idx: None,
                },
            );
        }
        true
    }
}

#[tokio::test]
async fn post_packet_auth_and_errors() {
    let store = loaded_store();
    let app = router_over(&store, config(), None);
    let key = [("x-api-key", API_KEY)];
    let body = r#"{"hex": "1100"}"#;
    let mut no_key_cfg = config();
    no_key_cfg.api_key = None;
    let no_key = router_over(&store, no_key_cfg, None);
    let a = send(&no_key, Method::POST, "/api/packets", &key, Some(body)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.json,
        json!({"error": "write endpoints disabled — set apiKey in config.json"})
    );
    let a = send(
        &app,
        Method::POST,
        "/api/packets",
        &[("x-api-key", "wrong")],
        Some(body),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.json, json!({"error": "unauthorized"}));
    let a = send(&app, Method::POST, "/api/packets", &[], Some(body)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    for (body, needle) in [
        ("{", "invalid JSON"),
        ("{}", "hex is required"),
        (r#"{"hex": "zz"}"#, "hex"),
        (r#"{"hex": "1100", "snr": true}"#, "snr"),
        (r#"{"hex": "1100", "observer": "a/b"}"#, "observer"),
        (r##"{"hex": "1100", "region": "#"}"##, "region"),
        (r#"{"hex": "1100", "hash": "0000000000000000"}"#, "hash"),
    ] {
        let a = send(&app, Method::POST, "/api/packets", &key, Some(body)).await;
        assert_400_naming(&a, needle);
    }
    // A valid packet with no pipeline attached.
    let raw = packets(&get(&app, "/api/packets?limit=1").await)[0]["raw_hex"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = send(
        &app,
        Method::POST,
        "/api/packets",
        &key,
        Some(&json!({ "hex": raw }).to_string()),
    )
    .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.json["error"].is_string());
}

#[tokio::test]
async fn post_packet_goes_through_ingest_into_the_store() {
    let cfg = Config::default();
    let store = loaded_store();
    let ingest = Arc::new(StoreIngest {
        store: store.clone(),
        processor: Processor::new(
            &cfg,
            build_decoder(&cfg, None),
            vec![SourceMeta {
                name: "api".into(),
                ..SourceMeta::default()
            }],
        ),
        next_id: AtomicI64::new(1_000_000),
        topics: Mutex::new(Vec::new()),
    });
    let app = router_over(&store, config(), Some(ingest.clone()));
    // A packet the fixture does not hold: a fixture channel message with its last
    // (encrypted) byte changed has another content hash.
    let list = get(&app, "/api/packets?type=5&limit=1").await;
    let raw = packets(&list)[0]["raw_hex"].as_str().unwrap().to_owned();
    let mut bytes = hex::decode(&raw).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x5a;
    let fresh = hex::encode_upper(&bytes);
    let before = get(&app, "/api/packets").await.json["total"]
        .as_u64()
        .unwrap();
    let a = send(
        &app,
        Method::POST,
        "/api/packets",
        &[("x-api-key", API_KEY)],
        Some(&json!({"hex": fresh, "observer": "bench-1", "snr": 5.5, "rssi": "-97", "region": "sea"}).to_string()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(keys(&a.json), ["id", "decoded"]);
    assert_eq!(a.json["id"], 1_000_000);
    assert_eq!(keys(&a.json["decoded"]), ["header", "path", "payload"]);
    assert_eq!(
        *ingest.topics.lock().unwrap(),
        ["meshcore/sea/bench-1/packets"]
    );
    let after = get(&app, "/api/packets").await;
    assert_eq!(after.json["total"].as_u64().unwrap(), before + 1);
    let stored = &packets(&after)[0];
    assert_eq!(stored["id"], 1_000_000);
    assert_eq!(stored["snr"], 5.5);
    assert_eq!(stored["rssi"], -97.0);
}

/// An ingest view that accepts every message and stores nothing.
struct BlackHole;

impl IngestView for BlackHole {
    fn mqtt_sources(&self) -> Vec<MqttSourceView> {
        Vec::new()
    }

    fn inject(&self, _topic: &str, _payload: &[u8]) -> bool {
        true
    }
}

#[tokio::test]
async fn post_packet_that_never_arrives_is_a_504() {
    let store = loaded_store();
    let app = router_over(&store, config(), Some(Arc::new(BlackHole)));
    // A valid frame the fixture does not hold (a zero-hop flood REQ-like frame).
    let a = send(
        &app,
        Method::POST,
        "/api/packets",
        &[("x-api-key", API_KEY)],
        Some(r#"{"hex": "0100AABBCCDDEEFF0011"}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::GATEWAY_TIMEOUT, "{}", a.text);
    assert!(a.json["error"].is_string());
}

#[tokio::test]
async fn undecodable_query_strings_and_paths_are_json_400s() {
    let app = app();
    for uri in [
        "/api/packets?since=%FF%FE",
        "/api/packets/timestamps?since=%FF",
        "/api/packets/%FF%FE",
        "/api/traces/%FF%FE",
    ] {
        let a = get(&app, uri).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.text);
        assert!(a.json["error"].is_string(), "{uri}: {}", a.text);
    }
}

#[tokio::test]
async fn list_node_includes_direct_messages_only_when_its_first_byte_is_unique() {
    let app = app();
    let nodes = get(&app, "/api/nodes?limit=1000").await;
    let keys: Vec<String> = nodes.json["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["public_key"].as_str().map(str::to_owned))
        .collect();
    let owners = |byte: &str| keys.iter().filter(|k| k.starts_with(byte)).count();
    let dms = get(&app, "/api/packets?type=2&limit=10000").await;
    let mut unique_checked = 0;
    for dm in packets(&dms) {
        let decoded: Value = serde_json::from_str(dm["decoded_json"].as_str().unwrap()).unwrap();
        let Some(src) = decoded["srcHash"].as_str() else {
            continue;
        };
        let Some(sender) = keys.iter().find(|k| k.starts_with(src)) else {
            continue;
        };
        let id = dm["id"].as_i64().unwrap();
        let listed = ids(&get(&app, &format!("/api/packets?node={sender}&limit=10000")).await);
        let multi = ids(&get(&app, &format!("/api/packets?nodes={sender}&limit=10000")).await);
        if owners(src) == 1 {
            assert!(listed.contains(&id), "DM {id} from {src} is {sender}'s");
            assert!(multi.contains(&id), "and in the multi-node list");
            unique_checked += 1;
        } else {
            assert!(
                !listed.contains(&id),
                "{src} is shared: DM {id} is nobody's"
            );
        }
    }
    assert!(
        unique_checked > 0,
        "the fixture has DMs from nodes with a unique first byte"
    );
}
