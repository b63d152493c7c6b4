//! Contract tests: channels (`/api/channels`, `/api/channels/{hash}/messages`,
//! `/api/known-channels`).

use analyzer_server::router;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn list(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().expect("array").clone()
}

#[tokio::test]
async fn channel_list_decrypted_only_by_default() {
    let app = app();
    let a = get(&app, "/api/channels").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(keys(&a.json), ["channels"]);
    let channels = list(&a.json, "channels");
    // The fixture decrypts only Public (29 messages); five hashes stay encrypted.
    assert_eq!(channels.len(), 1);
    let public = &channels[0];
    assert_eq!(
        keys(public),
        [
            "hash",
            "name",
            "lastMessage",
            "lastSender",
            "messageCount",
            "lastActivity"
        ]
    );
    assert_eq!(public["hash"], json!("Public"));
    assert_eq!(public["name"], json!("Public"));
    assert_eq!(public["messageCount"], json!(29));
    let sender = public["lastSender"].as_str().expect("sender");
    let message = public["lastMessage"].as_str().expect("message");
    assert!(
        !message.starts_with(&format!("{sender}: ")),
        "the message part only"
    );
    // lastActivity is the newest message's first_seen.
    let newest = get(&app, "/api/channels/Public/messages?limit=1").await;
    assert_eq!(
        public["lastActivity"],
        newest.json["messages"][0]["first_seen"]
    );
    assert_eq!(public["lastMessage"], newest.json["messages"][0]["text"]);
    insta::assert_json_snapshot!("channels_list", a.json);

    // `false` and `0` are the default; anything else is a 400 naming the parameter.
    assert_eq!(
        get(&app, "/api/channels?includeEncrypted=false").await.json,
        a.json
    );
    let bad = get(&app, "/api/channels?includeEncrypted=maybe").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.json["error"]
            .as_str()
            .unwrap_or("")
            .contains("includeEncrypted")
    );
}

#[tokio::test]
async fn channel_list_with_encrypted_entries() {
    let app = app();
    let a = get(&app, "/api/channels?includeEncrypted=true").await;
    let channels = list(&a.json, "channels");
    assert_eq!(channels.len(), 6);
    let mut total = 0;
    for c in &channels {
        total += c["messageCount"].as_u64().expect("count");
        let hash = c["hash"].as_str().expect("hash");
        if let Some(hex) = hash.strip_prefix("enc_") {
            assert_eq!(
                keys(c),
                [
                    "hash",
                    "name",
                    "lastMessage",
                    "lastSender",
                    "messageCount",
                    "lastActivity",
                    "encrypted"
                ]
            );
            assert_eq!(c["name"], json!(format!("Encrypted (0x{hex})")));
            assert_eq!(c["lastMessage"], Value::Null);
            assert_eq!(c["lastSender"], Value::Null);
            assert_eq!(c["encrypted"], json!(true));
        } else {
            assert_eq!(c.get("encrypted"), None);
        }
    }
    assert_eq!(total, 45, "every GRP_TXT transmission of the fixture");
    // Most recently active first.
    let times: Vec<&str> = channels
        .iter()
        .map(|c| c["lastActivity"].as_str().expect("time"))
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    insta::assert_json_snapshot!("channels_list_encrypted", a.json);
}

#[tokio::test]
async fn channel_list_region_filter() {
    let app = app();
    let all = get(&app, "/api/channels?includeEncrypted=true").await;
    assert_eq!(
        get(&app, "/api/channels?includeEncrypted=true&region=All")
            .await
            .json,
        all.json
    );
    let count = |v: &Value| -> u64 {
        list(v, "channels")
            .iter()
            .map(|c| c["messageCount"].as_u64().unwrap_or(0))
            .sum()
    };
    let pae = get(&app, "/api/channels?includeEncrypted=true&region=pae").await;
    let bfi = get(&app, "/api/channels?includeEncrypted=true&region=BFI").await;
    let both = get(
        &app,
        "/api/channels?includeEncrypted=true&region=BFI,%20PAE",
    )
    .await;
    assert!(count(&pae.json) < count(&all.json));
    assert!(count(&bfi.json) < count(&all.json));
    assert_eq!(count(&both.json), count(&all.json));
    // No observer in that region: nothing matches.
    let none = get(&app, "/api/channels?region=XYZ").await;
    assert_eq!(none.json, json!({"channels": []}));
}

#[tokio::test]
async fn messages_fields_order_and_paging() {
    let app = app();
    let a = get(&app, "/api/channels/Public/messages").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(keys(&a.json), ["messages", "total"]);
    assert_eq!(a.json["total"], json!(29));
    let messages = list(&a.json, "messages");
    assert_eq!(messages.len(), 29, "default limit 100 holds them all");
    for m in &messages {
        assert_eq!(
            keys(m),
            [
                "sender",
                "text",
                "timestamp",
                "first_seen",
                "sender_timestamp",
                "packetId",
                "packetHash",
                "repeats",
                "observers",
                "hops",
                "snr"
            ]
        );
        assert!(m["sender"].is_string() && m["text"].is_string());
        assert!(m["sender_timestamp"].is_i64() && m["packetId"].is_i64());
        assert_eq!(m["packetHash"].as_str().map(str::len), Some(16));
        let repeats = m["repeats"].as_u64().expect("repeats");
        let observers = m["observers"].as_array().expect("observers").len() as u64;
        assert!(observers >= 1 && observers <= repeats);
        assert!(m["hops"].is_u64());
        // The repeats are the packet's observations.
        let packet = get(
            &app,
            &format!("/api/packets/{}", m["packetHash"].as_str().unwrap_or("")),
        )
        .await;
        if packet.status == StatusCode::OK {
            assert_eq!(packet.json["observation_count"], m["repeats"]);
        }
    }
    // Oldest first.
    let times: Vec<(&str, i64)> = messages
        .iter()
        .map(|m| {
            (
                m["first_seen"].as_str().expect("time"),
                m["packetId"].as_i64().expect("id"),
            )
        })
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);

    // Pages are cut from the newest end: offset skips the newest messages.
    let newest = get(&app, "/api/channels/Public/messages?limit=3").await;
    assert_eq!(newest.json["total"], json!(29));
    assert_eq!(list(&newest.json, "messages"), messages[26..].to_vec());
    let before = get(&app, "/api/channels/Public/messages?limit=3&offset=3").await;
    assert_eq!(list(&before.json, "messages"), messages[23..26].to_vec());
    let tail = get(&app, "/api/channels/Public/messages?limit=3&offset=27").await;
    assert_eq!(list(&tail.json, "messages"), messages[..2].to_vec());
    let past = get(&app, "/api/channels/Public/messages?offset=100").await;
    assert_eq!(past.json, json!({"messages": [], "total": 29}));
    insta::assert_json_snapshot!("channels_messages_public_limit3", newest.json);
}

#[tokio::test]
async fn messages_limits_errors_and_unknown_channels() {
    let app = app();
    for limit in ["0", "-5", "abc"] {
        let a = get(
            &app,
            &format!("/api/channels/Public/messages?limit={limit}"),
        )
        .await;
        assert_eq!(
            list(&a.json, "messages").len(),
            29,
            "limit={limit} → default"
        );
    }
    let bad = get(&app, "/api/channels/Public/messages?offset=-1").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json["error"].as_str().unwrap_or("").contains("offset"));

    // The maximum comes from listLimits.channelMessagesMax.
    let mut config = config();
    config.list_limits.channel_messages_max = Some(5);
    let small = router(state_with(config));
    let a = get(&small, "/api/channels/Public/messages?limit=500").await;
    assert_eq!(list(&a.json, "messages").len(), 5);
    assert_eq!(a.json["total"], json!(29));

    // A channel nobody heard: empty, not an error (percent-encoded `#test`).
    for uri in [
        "/api/channels/%23test/messages",
        "/api/channels/nope/messages",
    ] {
        let a = get(&app, uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert_eq!(a.json, json!({"messages": [], "total": 0}));
    }
    // Region: only messages heard in the region.
    let pae = get(&app, "/api/channels/Public/messages?region=PAE").await;
    let n = pae.json["total"].as_u64().expect("total");
    assert!(n > 0 && n < 29);
    assert_eq!(list(&pae.json, "messages").len() as u64, n);
}

#[tokio::test]
async fn encrypted_channel_messages_have_no_text() {
    let app = app();
    let a = get(&app, "/api/channels/enc_23/messages").await;
    assert_eq!(a.json["total"], json!(5));
    for m in list(&a.json, "messages") {
        assert_eq!(m["sender"], Value::Null);
        assert_eq!(m["text"], Value::Null);
        assert_eq!(m["sender_timestamp"], Value::Null);
    }
}

#[tokio::test]
async fn known_channels_is_the_empty_snapshot_without_a_url() {
    let app = app();
    let a = get(&app, "/api/known-channels").await;
    assert_eq!(a.status, StatusCode::OK);
    // Decision: `fetchedAt` is null when nothing was ever fetched.
    assert_eq!(
        a.json,
        json!({"fetchedAt": null, "source": "", "entries": []})
    );
    assert_eq!(
        a.headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("public, max-age=30")
    );
    assert_eq!(
        get(&app, "/api/known-channels?region=us").await.json,
        a.json
    );
    assert_eq!(
        get(&app, "/api/known-channels?region=All").await.json,
        a.json
    );
    let bad = get(&app, "/api/known-channels?region=usa").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json["error"].as_str().unwrap_or("").contains("region"));

    // A configured catalogue URL is not fetched (not supported yet): say so honestly
    // instead of answering an empty catalogue. No network access happens here.
    let mut config = config();
    config.extra.insert(
        "knownChannelsUrl".into(),
        json!("http://127.0.0.1:9/catalogue.json"),
    );
    let with_url = router(state_with(config));
    let a = get(&with_url, "/api/known-channels").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.json["error"].is_string());
}

/// A state whose store holds only the last hour (the startup fill has not run), so older
/// messages are missing from memory.
fn hot_hour_only_state() -> analyzer_server::AppState {
    use std::sync::{Arc, Mutex};

    use analyzer_server::{AppState, ReaderHandle};
    use analyzer_sqlite::{OpenOptions, SqliteReader};
    use analyzer_store::{LoadConfig, StartupLoader, Store};

    let options = OpenOptions::default();
    let store = Store::new();
    let loader = StartupLoader::new(
        store.clone(),
        SqliteReader::open(database(), &options).expect("loader reader"),
        LoadConfig {
            hot_startup_hours: 1.0,
            retention_hours: 0.0,
            chunk_size: 0,
            max_memory_mb: 0,
        },
    )
    .with_now(NOW);
    let hot = loader.load_hot().expect("hot load");
    assert!(hot.boundary().is_some());
    let reader: ReaderHandle = Arc::new(Mutex::new(Box::new(
        SqliteReader::open(database(), &options).expect("reader"),
    )));
    AppState::builder(reader, store)
        .config(Arc::new(config()))
        .clock(Arc::new(|| NOW))
        .build()
}

#[tokio::test]
async fn beyond_what_memory_holds_channels_come_from_the_database() {
    let full = app();
    let partial = router(hot_hour_only_state());
    // Memory holds only the last hour: the observer analytics (memory only) see less.
    let analytics = "/api/observers/90E17AAA7E6345CF3D9844D45785450A33F3AC4DDD70646EF7E7F325B80D9D4A/analytics?days=1";
    let heard = |v: &Value| -> u64 {
        v["timeline"]
            .as_array()
            .map(|t| t.iter().map(|b| b["count"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0)
    };
    let (full_heard, partial_heard) = (
        heard(&get(&full, analytics).await.json),
        heard(&get(&partial, analytics).await.json),
    );
    assert!(partial_heard > 0 && partial_heard < full_heard);
    // The channel list is counted in the database then.
    for query in [
        "",
        "?includeEncrypted=true",
        "?includeEncrypted=true&region=PAE",
    ] {
        let uri = format!("/api/channels{query}");
        assert_eq!(
            get(&partial, &uri).await.json,
            get(&full, &uri).await.json,
            "{uri}"
        );
    }
    for query in [
        "limit=3",
        "limit=3&offset=3",
        "limit=5&offset=20",
        "offset=27",
        "",
        "limit=4&region=PAE",
        "limit=4&offset=6&region=PAE",
    ] {
        let uri = format!("/api/channels/Public/messages?{query}");
        let expected = get(&full, &uri).await;
        let got = get(&partial, &uri).await;
        assert_eq!(got.status, StatusCode::OK, "{uri}");
        assert_eq!(got.json, expected.json, "{uri}");
    }
}
