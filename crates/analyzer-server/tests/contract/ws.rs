//! Contract tests: the live feed `/ws` over real sockets (spec api.md §11).
//!
//! Each test serves the router on a loopback port, connects with tokio-tungstenite and
//! publishes observations through `AppState::publish_live`, as the binary does for every
//! committed row. Observations are built from rows of the fixture database, so the
//! transmission is in the store and `first_seen` / `observation_count` come from it.

use std::net::SocketAddr;
use std::time::Duration;

use analyzer_config::Config;
use analyzer_db::{
    ContentHash, ObservationWrite, ObserverRef, ObserverRow, PacketObservation, PacketWrite,
    StorageReader, TransmissionRow,
};
use analyzer_server::{AppState, router};
use analyzer_sqlite::{OpenOptions, SqliteReader};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[allow(unused_imports)]
use crate::common::*;

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Serves the router over `state` on a loopback port.
async fn serve(state: AppState) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });
    addr
}

async fn connect(addr: SocketAddr) -> Client {
    let (client, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .expect("upgrade");
    assert_eq!(response.status(), 101);
    client
}

/// Waits until the hub counts `n` clients.
async fn wait_clients(state: &AppState, n: usize) {
    for _ in 0..500 {
        if state.live().clients() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} clients connected, expected {n}", state.live().clients());
}

/// The next text message as JSON (pings and pongs skipped).
async fn next_json(client: &mut Client) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), client.next())
            .await
            .expect("a message within 10 s")
            .expect("stream open")
            .expect("frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Asserts nothing arrives within a short while.
async fn assert_silent(client: &mut Client) {
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(200), client.next()).await {
        panic!("expected no message, got {frame:?}");
    }
}

async fn subscribe(client: &mut Client, body: &str) -> Value {
    client.send(Message::Text(body.into())).await.expect("send");
    next_json(client).await
}

/// The fixture's transmissions (with observations) and observers.
fn fixture_rows() -> (Vec<TransmissionRow>, Vec<ObserverRow>) {
    let reader = SqliteReader::open(database(), &OpenOptions::default()).expect("reader");
    let txs = reader
        .transmissions_after(0, 10_000)
        .expect("transmissions");
    let observers = reader.observers().expect("observers");
    (txs, observers)
}

/// The `i`-th observation of `tx` as ingestion would hand it to the live feed.
fn observation(
    tx: &TransmissionRow,
    i: usize,
    observers: &[ObserverRow],
) -> (PacketObservation, PacketWrite) {
    let obs = &tx.observations[i];
    let observer = obs
        .observer_idx
        .and_then(|k| observers.iter().find(|o| o.idx == k))
        .map(|o| ObserverRef {
            id: o.id.clone(),
            name: o.name.clone(),
            iata: o.iata.clone(),
        });
    let packet = PacketObservation {
        hash: ContentHash::parse(&tx.hash).expect("hash"),
        raw_hex: tx.raw_hex.clone(),
        route_type: tx.route_type.unwrap_or(0) as u8,
        payload_type: tx.payload_type.unwrap_or(0) as u8,
        payload_version: tx.payload_version.unwrap_or(0) as u8,
        decoded_json: tx.decoded_json.clone().unwrap_or_default(),
        channel_hash: tx.channel_hash.clone(),
        scope_name: tx.scope_name.clone(),
        from_pubkey: tx.from_pubkey.clone(),
        observer,
        direction: obs.direction.clone(),
        snr: obs.snr,
        rssi: obs.rssi,
        score: obs.score,
        path_json: obs.path_json.clone().unwrap_or_else(|| "[]".into()),
        resolved_path: obs.resolved_path.clone(),
        received_at: obs.timestamp,
        advert: None,
    };
    let write = PacketWrite {
        transmission_id: tx.id,
        new_transmission: false,
        observation: ObservationWrite::Inserted(obs.id),
        observer_idx: obs.observer_idx,
    };
    (packet, write)
}

/// First transmission of this payload type heard by an observer, with a non-empty path
/// when `with_path`.
fn find(txs: &[TransmissionRow], payload_type: i64, with_path: bool) -> &TransmissionRow {
    txs.iter()
        .find(|t| {
            t.payload_type == Some(payload_type)
                && t.observations.first().is_some_and(|o| {
                    o.observer_idx.is_some()
                        && (!with_path || o.path_json.as_deref().is_some_and(|p| p != "[]"))
                })
        })
        .unwrap_or_else(|| panic!("fixture has a packet of type {payload_type}"))
}

#[tokio::test]
async fn a_published_observation_reaches_the_client_with_every_field() {
    let state = state();
    let addr = serve(state.clone()).await;
    let mut client = connect(addr).await;
    wait_clients(&state, 1).await;
    let (txs, observers) = fixture_rows();
    let advert = find(&txs, 4, true);
    let (mut packet, write) = observation(advert, 0, &observers);
    // A resolved path as ingestion computes it (one hop resolved, one not).
    packet.resolved_path = Some(format!(
        r#"["{}",null]"#,
        advert.from_pubkey.clone().unwrap_or_default()
    ));
    state.publish_live(&packet, &write);
    let message = next_json(&mut client).await;

    assert_eq!(message["type"], "packet");
    let data = &message["data"];
    for (key, kind) in [
        ("id", "number"),
        ("raw_hex", "string"),
        ("hash", "string"),
        ("first_seen", "string"),
        ("timestamp", "string"),
        ("route_type", "number"),
        ("payload_type", "number"),
        ("decoded_json", "string"),
        ("observer_id", "string"),
        ("observer_name", "string"),
        ("snr", "number"),
        ("rssi", "number"),
        ("path_json", "string"),
        ("observation_count", "number"),
        ("resolved_path", "array"),
        ("decoded", "object"),
        ("packet", "object"),
    ] {
        let value = &data[key];
        let actual = match value {
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Bool(_) => "bool",
            Value::Null => "null",
        };
        assert_eq!(actual, kind, "data.{key} = {value}");
    }
    assert_eq!(data["id"], advert.id);
    assert_eq!(data["hash"], advert.hash);
    assert_eq!(data["timestamp"], data["first_seen"]);
    assert_eq!(data["observation_count"], advert.observations.len());
    assert_eq!(data["decoded"]["header"]["payloadTypeName"], "ADVERT");
    let parsed: Value = serde_json::from_str(data["decoded_json"].as_str().unwrap()).unwrap();
    assert_eq!(data["decoded"]["payload"], parsed);
    // Not a TRACE: no path object.
    assert!(data["decoded"].get("path").is_none());
    // `packet` repeats the flat fields and nothing else.
    let flat: serde_json::Map<String, Value> = data
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "decoded" && *k != "packet")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(data["packet"], Value::Object(flat));
    insta::assert_json_snapshot!("ws_packet_advert", message);
}

#[tokio::test]
async fn a_trace_carries_the_re_decoded_path() {
    // Vector v52 (spec vectors.json): TRACE with 2 SNR bytes and a 3-hop route.
    let state = state();
    let addr = serve(state.clone()).await;
    let mut client = connect(addr).await;
    wait_clients(&state, 1).await;
    let (txs, observers) = fixture_rows();
    let (mut packet, write) = observation(&txs[0], 0, &observers);
    packet.raw_hex = "26022FF8116A23A80000000001C0DE1000DEDE".into();
    packet.hash = ContentHash::parse("c04d62f7a310cceb").unwrap();
    packet.route_type = 2;
    packet.payload_type = 9;
    packet.decoded_json = r#"{"type":"TRACE","pathData":"c0de1000dede","snrValues":[11.75,-2],"tag":2820893201,"traceFlags":1}"#.into();
    packet.path_json = r#"["C0DE","1000","DEDE"]"#.into();
    state.publish_live(&packet, &write);
    let message = next_json(&mut client).await;
    let decoded = &message["data"]["decoded"];
    assert_eq!(decoded["header"]["payloadTypeName"], "TRACE");
    assert_eq!(
        decoded["path"],
        serde_json::json!({"hashSize": 2, "hashCount": 3, "hops": ["C0DE", "1000", "DEDE"], "hopsCompleted": 2})
    );
    assert_eq!(
        decoded["payload"]["snrValues"],
        serde_json::json!([11.75, -2])
    );
}

#[tokio::test]
async fn subscriptions_filter_by_payload_type_region_and_node() {
    let state = state();
    let addr = serve(state.clone()).await;
    let mut client = connect(addr).await;
    wait_clients(&state, 1).await;
    let (txs, observers) = fixture_rows();
    let advert = find(&txs, 4, true);
    let other_type = txs
        .iter()
        .find(|t| {
            t.payload_type != Some(4)
                && t.observations
                    .first()
                    .is_some_and(|o| o.observer_idx.is_some())
        })
        .expect("a non-advert");
    let (advert_obs, advert_write) = observation(advert, 0, &observers);
    let (other_obs, other_write) = observation(other_type, 0, &observers);

    // Payload type: only adverts.
    let ack = subscribe(&mut client, r#"{"type":"subscribe","payloadTypes":[4]}"#).await;
    insta::assert_json_snapshot!("ws_subscribed_types", ack);
    state.publish_live(&other_obs, &other_write);
    state.publish_live(&advert_obs, &advert_write);
    assert_eq!(next_json(&mut client).await["data"]["id"], advert.id);

    // Region: the advert's observer region passes, another region does not.
    let iata = advert_obs
        .observer
        .as_ref()
        .and_then(|o| o.iata.clone())
        .expect("observer region");
    let elsewhere = observers
        .iter()
        .filter_map(|o| o.iata.clone())
        .find(|code| *code != iata)
        .expect("a second region");
    let ack = subscribe(
        &mut client,
        &format!(
            r#"{{"type":"subscribe","region":["{}"]}}"#,
            elsewhere.to_lowercase()
        ),
    )
    .await;
    assert_eq!(ack["data"]["region"], serde_json::json!([elsewhere]));
    state.publish_live(&advert_obs, &advert_write);
    assert_silent(&mut client).await;
    subscribe(
        &mut client,
        &format!(r#"{{"type":"subscribe","region":["{elsewhere}","{iata}"]}}"#),
    )
    .await;
    state.publish_live(&advert_obs, &advert_write);
    assert_eq!(next_json(&mut client).await["data"]["id"], advert.id);

    // Node: a prefix of the advert's sender key; the other packet does not involve it
    // unless a hop happens to be a prefix of that key.
    let key = advert.from_pubkey.clone().expect("advert key");
    let ack = subscribe(
        &mut client,
        &format!(
            r#"{{"type":"subscribe","nodes":["{}"]}}"#,
            key[..8].to_uppercase()
        ),
    )
    .await;
    assert_eq!(ack["data"]["nodes"], serde_json::json!([&key[..8]]));
    let unrelated = txs
        .iter()
        .find(|t| {
            t.payload_type != Some(4)
                && t.observations.first().is_some_and(|o| {
                    let hops: Vec<String> =
                        serde_json::from_str(o.path_json.as_deref().unwrap_or("[]"))
                            .unwrap_or_default();
                    !hops.iter().any(|h| key.starts_with(&h.to_lowercase()))
                })
        })
        .expect("a packet not involving the node");
    let (unrelated_obs, unrelated_write) = observation(unrelated, 0, &observers);
    state.publish_live(&unrelated_obs, &unrelated_write);
    state.publish_live(&advert_obs, &advert_write);
    assert_eq!(next_json(&mut client).await["data"]["id"], advert.id);

    // A packet relayed by the node: its first hop is a prefix of the subscribed key.
    let relayed = txs
        .iter()
        .find_map(|t| {
            let o = t.observations.first()?;
            let hops: Vec<String> = serde_json::from_str(o.path_json.as_deref()?).ok()?;
            let hop = hops.first()?.to_lowercase();
            Some((t, hop))
        })
        .expect("a packet with a path");
    let ack = subscribe(
        &mut client,
        &format!(r#"{{"type":"subscribe","nodes":["{}00"]}}"#, relayed.1),
    )
    .await;
    assert_eq!(ack["type"], "subscribed");
    let (relayed_obs, relayed_write) = observation(relayed.0, 0, &observers);
    state.publish_live(&relayed_obs, &relayed_write);
    assert_eq!(next_json(&mut client).await["data"]["id"], relayed.0.id);

    // An empty subscription is everything again.
    let ack = subscribe(&mut client, r#"{"type":"subscribe"}"#).await;
    insta::assert_json_snapshot!("ws_subscribed_all", ack);
    state.publish_live(&other_obs, &other_write);
    assert_eq!(next_json(&mut client).await["data"]["id"], other_type.id);
}

#[tokio::test]
async fn bad_client_messages_get_an_error_and_keep_the_filter() {
    let state = state();
    let addr = serve(state.clone()).await;
    let mut client = connect(addr).await;
    wait_clients(&state, 1).await;
    subscribe(&mut client, r#"{"type":"subscribe","payloadTypes":[4]}"#).await;
    let error = subscribe(&mut client, "{not json").await;
    assert_eq!(error["type"], "error");
    assert!(
        error["data"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON"),
        "{error}"
    );
    let error = subscribe(&mut client, r#"{"type":"subscribe","payloadTypes":[99]}"#).await;
    insta::assert_json_snapshot!("ws_error_payload_types", error);
    let error = subscribe(&mut client, r#"{"type":"hello"}"#).await;
    assert_eq!(error["type"], "error");

    // The advert-only filter is still in force.
    let (txs, observers) = fixture_rows();
    let advert = find(&txs, 4, false);
    let other = txs
        .iter()
        .find(|t| t.payload_type != Some(4) && !t.observations.is_empty())
        .unwrap();
    let (o, w) = observation(other, 0, &observers);
    state.publish_live(&o, &w);
    let (a, aw) = observation(advert, 0, &observers);
    state.publish_live(&a, &aw);
    assert_eq!(next_json(&mut client).await["data"]["id"], advert.id);
}

#[tokio::test]
async fn merged_duplicate_observations_are_not_broadcast() {
    // The database merged the report into an existing row: the reference's poller never
    // sees a new row, so nothing is sent.
    let state = state();
    let addr = serve(state.clone()).await;
    let mut client = connect(addr).await;
    wait_clients(&state, 1).await;
    let (txs, observers) = fixture_rows();
    let (packet, mut write) = observation(&txs[0], 0, &observers);
    write.observation = ObservationWrite::Duplicate(write.observation.id());
    state.publish_live(&packet, &write);
    let (packet2, write2) = observation(&txs[1], 0, &observers);
    state.publish_live(&packet2, &write2);
    assert_eq!(next_json(&mut client).await["data"]["id"], txs[1].id);
}

#[tokio::test]
async fn a_slow_client_does_not_hold_up_a_fast_one_and_is_told_it_lagged() {
    let state = state();
    let addr = serve(state.clone()).await;
    // The slow client: a small receive buffer, and it does not read for a while.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket.connect(addr).await.expect("connect");
    let (mut slow, _) =
        tokio_tungstenite::client_async(format!("ws://{addr}/ws"), MaybeTlsStream::Plain(stream))
            .await
            .expect("slow upgrade");
    let mut fast = connect(addr).await;
    wait_clients(&state, 2).await;

    let (txs, observers) = fixture_rows();
    let (mut packet, write) = observation(&txs[0], 0, &observers);
    // Big messages so the socket buffers fill after a few hundred.
    packet.raw_hex = format!("{}{}", packet.raw_hex, "AB".repeat(8_000));
    let total = 3_000;
    let started = std::time::Instant::now();
    let mut slowest_batch = Duration::ZERO;
    for batch in 0..total / 100 {
        let t = std::time::Instant::now();
        for _ in 0..100 {
            state.publish_live(&packet, &write);
        }
        for _ in 0..100 {
            let m = next_json(&mut fast).await;
            assert_eq!(m["type"], "packet", "batch {batch}: {m}");
        }
        slowest_batch = slowest_batch.max(t.elapsed());
    }
    let elapsed = started.elapsed();
    // The fast client got everything, promptly, while the slow one read nothing.
    assert!(
        slowest_batch < Duration::from_secs(5),
        "slowest batch of 100 took {slowest_batch:?} (all: {elapsed:?})"
    );

    // Now the slow client reads: it finds a lagged notice, then the feed continues.
    let mut received = 0u64;
    let mut missed = 0u64;
    loop {
        let m = next_json(&mut slow).await;
        match m["type"].as_str() {
            Some("packet") => received += 1,
            Some("lagged") => {
                let n = m["data"]["missed"].as_u64().expect("missed count");
                assert!(n > 0);
                missed += n;
            }
            other => panic!("unexpected {other:?}"),
        }
        if received + missed == total as u64 {
            break;
        }
    }
    assert!(missed > 0, "the slow client never lagged");
    assert!(received > 0);
    let stats = state.live().stats();
    assert!(stats.lag_events >= 1 && stats.missed == missed, "{stats:?}");
    // The slow client is still connected and gets new messages.
    assert_eq!(state.live().clients(), 2);
    state.publish_live(&packet, &write);
    assert_eq!(next_json(&mut slow).await["type"], "packet");
    assert_eq!(next_json(&mut fast).await["type"], "packet");
}

#[tokio::test]
async fn foreign_origins_are_refused_with_403() {
    let config: Config = serde_json::from_value(serde_json::json!({
        "corsAllowedOrigins": ["https://Map.Example.org", "*"],
    }))
    .expect("config");
    let state = state_with(config);
    let addr = serve(state.clone()).await;
    let attempt = |origin: Option<&'static str>| async move {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((_, response)) => response.status().as_u16(),
            Err(WsError::Http(response)) => response.status().as_u16(),
            Err(other) => panic!("{other}"),
        }
    };
    assert_eq!(attempt(None).await, 101);
    let same_host: &'static str = Box::leak(format!("http://{addr}").into_boxed_str());
    assert_eq!(attempt(Some(same_host)).await, 101);
    assert_eq!(attempt(Some("https://map.example.org")).await, 101);
    // `*` in corsAllowedOrigins does not open the feed to every site.
    assert_eq!(attempt(Some("https://evil.example")).await, 403);
    assert_eq!(attempt(Some("null")).await, 403);
}

#[tokio::test]
async fn a_client_message_over_512_bytes_closes_with_1009() {
    let state = state();
    let addr = serve(state.clone()).await;
    let mut client = connect(addr).await;
    // 512 bytes is still fine (and answered).
    let padded = format!(
        r#"{{"type":"subscribe","region":[]{}}}"#,
        " ".repeat(512 - r#"{"type":"subscribe","region":[]}"#.len())
    );
    assert_eq!(padded.len(), 512);
    assert_eq!(subscribe(&mut client, &padded).await["type"], "subscribed");
    client
        .send(Message::Text("x".repeat(513).into()))
        .await
        .expect("send");
    let frame = tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .expect("an answer");
    match frame {
        Some(Ok(Message::Close(Some(close)))) => assert_eq!(close.code, CloseCode::Size),
        other => panic!("expected close 1009, got {other:?}"),
    }
}

#[tokio::test]
async fn shutdown_sends_close_1001_to_every_client() {
    let state = state();
    let addr = serve(state.clone()).await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    wait_clients(&state, 2).await;
    state.live().shutdown();
    for client in [&mut a, &mut b] {
        let frame = tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .expect("an answer");
        match frame {
            Some(Ok(Message::Close(Some(close)))) => {
                assert_eq!(close.code, CloseCode::Away);
                assert_eq!(close.reason.as_str(), "server shutting down");
            }
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
    state.live().drain(Duration::from_secs(5)).await;
    assert_eq!(state.live().clients(), 0);
}

#[tokio::test]
async fn plain_get_of_ws_is_not_an_upgrade() {
    let answer = get(&app(), "/ws").await;
    assert!(answer.status.is_client_error(), "{:?}", answer.status);
    // The load-status header is on the WebSocket route too.
    assert!(answer.headers.contains_key("x-corescope-load-status"));
}
