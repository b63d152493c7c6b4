//! The live feed: a WebSocket that pushes every new observation to the web UI.
//!
//! # Endpoint
//!
//! `GET /ws` with the usual upgrade headers. The reference also upgrades *any* non-API path
//! that carries `Upgrade: websocket` (the web UI connects to the root path `/`); that is
//! [`upgrade_any_path`], a middleware the router installs in front of everything else
//! (API paths under `/api/` are left to their handlers). No authentication; an `Origin`
//! header must name the server itself or one of `corsAllowedOrigins` (compared
//! case-insensitively; `*` does not count for the WebSocket), otherwise the upgrade is
//! refused with 403. A request without `Origin` (not a browser) is allowed.
//!
//! # Messages from the server
//!
//! * `{"type":"packet","data":{…}}` — one per new observation, exactly the reference's shape
//!   (spec api.md §11): the flat fields `id` (transmission id), `raw_hex`, `hash`,
//!   `first_seen`, `timestamp` (= `first_seen`), `route_type`, `payload_type`,
//!   `decoded_json` (string), `observer_id`, `observer_name`, `snr`, `rssi`, `path_json`,
//!   `direction`, `observation_count` (observations of the transmission now in memory),
//!   `resolved_path` (only when ingestion resolved the hops), then
//!   `decoded = {"header":{"payloadTypeName":…},"payload":<decoded_json parsed>}` plus, for
//!   TRACE only, `"path"` from a re-decode of the raw hex (it carries `hopsCompleted`), and
//!   `packet` = a copy of the flat fields. A re-report of an observation the database
//!   merged into an existing row (same observer, same path) is not a new observation and is
//!   not sent, as in the reference, whose poller only sees new rows.
//! * `{"type":"lagged","data":{"missed":N}}` — this client fell more than [`CLIENT_QUEUE`]
//!   messages behind (its connection or its reader is slower than the feed); the `N`
//!   oldest messages were skipped and the feed continues with the newest. The connection
//!   stays open. (The reference drops such messages silently; the notice lets a client
//!   reload what it missed from `/api/packets`.)
//! * `{"type":"subscribed","data":{"region":[…],"payloadTypes":[…],"nodes":[…]}}` — the
//!   filter now in force, in answer to a subscription (normalised: regions upper-case,
//!   node prefixes lower-case; an empty list means "all").
//! * `{"type":"error","data":{"message":"…"}}` — a client message was not understood; the
//!   previous filter stays in force.
//!
//! # Messages from the client
//!
//! Text messages of at most [`MAX_CLIENT_MESSAGE`] bytes; a larger one closes the
//! connection with 1009 (message too big), as the reference's read limit does. Binary
//! messages are ignored. The only message understood is a subscription, which *replaces*
//! the previous filter (the default is everything, which is what the web UI uses):
//!
//! ```json
//! {"type":"subscribe","region":["SEA"],"payloadTypes":[4,5],"nodes":["a1b2c3"]}
//! ```
//!
//! * `region`: observer IATA codes (case-insensitive); a packet passes when the observer
//!   that heard it is in one of them. `All` (any case) means every region, as in the API.
//! * `payloadTypes`: header payload types 0–15.
//! * `nodes`: public keys or key prefixes (2–64 hex characters); a packet passes when it
//!   involves one of them: the ADVERT's sender key or a resolved hop starts with the
//!   prefix, or a path hop and the prefix are prefixes of one another (a hop is a 1–3 byte
//!   key prefix, so it matches every node whose key starts with it, as `/api/packets?node=`
//!   does). The 512-byte limit leaves room for about six full keys; use prefixes (8 hex
//!   characters are unambiguous in practice) to follow more nodes.
//!
//! Absent or empty fields do not filter; the fields combine with AND. Anything else (bad
//! JSON, another `type`, a bad field) is answered with an `error` message.
//!
//! # Fan-out
//!
//! A message is serialised once and the same bytes go to every client. The hub is a
//! [`tokio::sync::broadcast`] ring of [`CLIENT_QUEUE`] messages: each client reads it at
//! its own pace, so the memory held does not grow with the number of clients, and a slow
//! client never holds up the others — when it falls a full ring behind it skips ahead
//! (and is told so). Each client task writes whatever is ready in one flush, at most one
//! flush per [`COALESCE`] (25 ms) while messages keep coming. Timers as in
//! the reference: a ping every [`PING_EVERY`], the connection is dropped when nothing
//! (pong or anything else) arrived for [`READ_DEADLINE`], and a write that does not complete
//! within [`WRITE_TIMEOUT`] drops the connection. On [`LiveHub::shutdown`] every client
//! gets the close frame `1001 "server shutting down"`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use analyzer_db::{ObservationWrite, PacketObservation, PacketWrite};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::SinkExt;
use meshcore_wire::PayloadType;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, MissedTickBehavior};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::render::iso;
use crate::state::AppState;

/// Messages a client may fall behind before it skips ahead (the reference buffers 256 per
/// client; the ring is shared, so a deeper one costs no memory per client and absorbs the
/// bursts a large ingest batch produces).
pub const CLIENT_QUEUE: usize = 1024;
/// Largest message a client may send, in bytes.
pub const MAX_CLIENT_MESSAGE: usize = 512;
/// Interval of server pings.
pub const PING_EVERY: Duration = Duration::from_secs(30);
/// A connection from which nothing arrived for this long is dropped.
pub const READ_DEADLINE: Duration = Duration::from_secs(60);
/// A write (one batch of messages) that takes longer drops the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages written per flush at most.
const BATCH: usize = 64;
/// After a write, a client's next write waits this long so that messages arriving close
/// together go out in one flush (one system call and one wake-up per client instead of one
/// per message; the reference sends once a second, after its poll).
pub const COALESCE: Duration = Duration::from_millis(25);
/// Close reason sent on shutdown.
const SHUTDOWN_REASON: &str = "server shutting down";

/// One live message, serialised once, with what subscriptions filter on.
#[derive(Debug)]
pub struct LiveMessage {
    /// The JSON text sent to clients (shared, not copied, per client).
    pub json: Utf8Bytes,
    /// Header payload type.
    pub payload_type: u8,
    /// IATA code of the observer that heard it (upper-case), when known.
    pub iata: Option<Box<str>>,
    /// Full node keys involved (lower-case): the ADVERT sender and resolved hops.
    pub node_keys: Vec<Box<str>>,
    /// Path hops (lower-case key prefixes).
    pub hops: Vec<Box<str>>,
}

/// Counters of the live feed since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Clients connected now.
    pub clients: usize,
    /// Messages published (sent to the ring; zero clients ⇒ nothing is built).
    pub published: u64,
    /// Times a client fell a full queue behind and skipped ahead.
    pub lag_events: u64,
    /// Messages skipped by lagging clients, summed over clients.
    pub missed: u64,
}

/// Fan-out of live messages to every connected client.
pub struct LiveHub {
    sender: broadcast::Sender<Arc<LiveMessage>>,
    shutdown: watch::Sender<bool>,
    published: AtomicU64,
    lag_events: AtomicU64,
    missed: AtomicU64,
}

impl LiveHub {
    pub(crate) fn new() -> Self {
        Self {
            sender: broadcast::channel(CLIENT_QUEUE).0,
            shutdown: watch::channel(false).0,
            published: AtomicU64::new(0),
            lag_events: AtomicU64::new(0),
            missed: AtomicU64::new(0),
        }
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Counters since start.
    pub fn stats(&self) -> LiveStats {
        LiveStats {
            clients: self.clients(),
            published: self.published.load(Ordering::Relaxed),
            lag_events: self.lag_events.load(Ordering::Relaxed),
            missed: self.missed.load(Ordering::Relaxed),
        }
    }

    /// A receiver of every message published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveMessage>> {
        self.sender.subscribe()
    }

    /// Closes every connection with `1001 "server shutting down"` and refuses new ones the
    /// same way. Call it when the server starts its graceful shutdown; see
    /// [`LiveHub::drain`] to wait for the close frames to go out.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Waits until every client is gone or `max` has passed (after [`LiveHub::shutdown`]).
    pub async fn drain(&self, max: Duration) {
        let until = Instant::now() + max;
        while self.clients() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) fn publish(
        &self,
        state: &AppState,
        packet: &PacketObservation,
        write: &PacketWrite,
    ) {
        if self.sender.receiver_count() == 0 {
            return;
        }
        // The database merged it into an existing row: not a new observation.
        if matches!(write.observation, ObservationWrite::Duplicate(_)) {
            return;
        }
        let message = build_message(state, packet, write);
        self.published.fetch_add(1, Ordering::Relaxed);
        let _ = self.sender.send(Arc::new(message));
    }

    fn note_lag(&self, missed: u64) {
        self.lag_events.fetch_add(1, Ordering::Relaxed);
        self.missed.fetch_add(missed, Ordering::Relaxed);
    }
}

impl AppState {
    /// The live feed (client count, counters, shutdown).
    pub fn live(&self) -> &LiveHub {
        &self.inner.live
    }
}

/// Builds the `packet` message of one observation.
fn build_message(state: &AppState, p: &PacketObservation, w: &PacketWrite) -> LiveMessage {
    // Transmission facts from the store (the binary appends the row before publishing).
    let (first_seen, observation_count) = match state.store().by_id(w.transmission_id) {
        Some(detail) => (
            detail.summary.first_seen,
            Some(detail.summary.observation_count),
        ),
        // Not in memory (a re-observation of an evicted transmission): the observation's
        // own time is the best first_seen known here, the count is unknown.
        None => (p.received_at, None),
    };
    let observer = p.observer.as_ref().filter(|o| !o.id.is_empty());
    let snapshot = observer.and_then(|o| {
        let dir = state.observers_now()?;
        let row = dir.by_id(&o.id)?;
        Some((row.name.clone(), row.iata.clone()))
    });
    let non_empty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let observer_name = observer
        .and_then(|o| non_empty(&o.name))
        .or_else(|| snapshot.as_ref().and_then(|(name, _)| non_empty(name)));
    let iata = observer
        .and_then(|o| non_empty(&o.iata))
        .or_else(|| snapshot.as_ref().and_then(|(_, iata)| non_empty(iata)))
        .map(|code| code.to_ascii_uppercase().into_boxed_str());
    let resolved: Option<Vec<Option<String>>> = p
        .resolved_path
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    let hops: Vec<String> = serde_json::from_str(&p.path_json).unwrap_or_default();

    let mut flat = Map::with_capacity(17);
    flat.insert("id".into(), json!(w.transmission_id));
    flat.insert("raw_hex".into(), json!(p.raw_hex));
    flat.insert("hash".into(), json!(p.hash.to_string()));
    flat.insert("first_seen".into(), json!(iso(first_seen)));
    flat.insert("timestamp".into(), json!(iso(first_seen)));
    flat.insert("route_type".into(), json!(p.route_type));
    flat.insert("payload_type".into(), json!(p.payload_type));
    flat.insert("decoded_json".into(), json!(p.decoded_json));
    flat.insert("observer_id".into(), json!(observer.map(|o| &o.id)));
    flat.insert("observer_name".into(), json!(observer_name));
    flat.insert("snr".into(), json!(p.snr));
    flat.insert("rssi".into(), json!(p.rssi));
    flat.insert("path_json".into(), json!(p.path_json));
    flat.insert("direction".into(), json!(p.direction));
    flat.insert("observation_count".into(), json!(observation_count));
    if let Some(resolved) = &resolved {
        flat.insert("resolved_path".into(), json!(resolved));
    }

    let payload_type = PayloadType::from_code(p.payload_type);
    let mut decoded = Map::with_capacity(3);
    decoded.insert(
        "header".into(),
        json!({ "payloadTypeName": payload_type.name() }),
    );
    decoded.insert(
        "payload".into(),
        serde_json::from_str::<Value>(&p.decoded_json).unwrap_or(Value::Null),
    );
    if payload_type == PayloadType::Trace
        && let Some(path) = trace_path(state, &p.raw_hex)
    {
        decoded.insert("path".into(), path);
    }

    // {"type":"packet","data":{<flat…>,"decoded":{…},"packet":{<flat…>}}}: the flat object
    // is serialised once and spliced in twice.
    let flat = Value::Object(flat).to_string();
    let decoded = Value::Object(decoded).to_string();
    let mut text = String::with_capacity(2 * flat.len() + decoded.len() + 64);
    text.push_str("{\"type\":\"packet\",\"data\":");
    text.push_str(&flat[..flat.len() - 1]);
    text.push_str(",\"decoded\":");
    text.push_str(&decoded);
    text.push_str(",\"packet\":");
    text.push_str(&flat);
    text.push_str("}}");

    let mut node_keys: Vec<Box<str>> = Vec::new();
    if let Some(key) = p.from_pubkey.as_deref().filter(|k| !k.is_empty()) {
        node_keys.push(key.to_ascii_lowercase().into());
    }
    for key in resolved.iter().flatten().flatten() {
        if !key.is_empty() {
            node_keys.push(key.to_ascii_lowercase().into());
        }
    }
    LiveMessage {
        json: text.into(),
        payload_type: p.payload_type,
        iata,
        node_keys,
        hops: hops
            .iter()
            .filter(|h| !h.is_empty())
            .map(|h| h.to_ascii_lowercase().into())
            .collect(),
    }
}

/// The path object of a TRACE re-decoded from its raw hex (it carries `hopsCompleted`).
fn trace_path(state: &AppState, raw_hex: &str) -> Option<Value> {
    let packet = state.inner.decoder.decode_hex(raw_hex).ok()?;
    let mut full: Value = serde_json::from_str(&packet.to_json()).ok()?;
    full.get_mut("path").map(Value::take)
}

/// A client's filter; `None` = no filter on that field.
#[derive(Debug, Default, Clone, PartialEq)]
struct Filter {
    regions: Option<Vec<String>>,
    payload_types: Option<BTreeSet<u8>>,
    nodes: Option<Vec<String>>,
}

impl Filter {
    fn accepts(&self, m: &LiveMessage) -> bool {
        if let Some(types) = &self.payload_types
            && !types.contains(&m.payload_type)
        {
            return false;
        }
        if let Some(regions) = &self.regions {
            let Some(iata) = m.iata.as_deref() else {
                return false;
            };
            if !regions.iter().any(|r| r.as_str() == iata) {
                return false;
            }
        }
        if let Some(nodes) = &self.nodes {
            let involved = nodes.iter().any(|prefix| {
                m.node_keys.iter().any(|k| k.starts_with(prefix.as_str()))
                    || m.hops
                        .iter()
                        .any(|h| h.starts_with(prefix.as_str()) || prefix.starts_with(&**h))
            });
            if !involved {
                return false;
            }
        }
        true
    }

    /// The `subscribed` answer.
    fn describe(&self) -> String {
        let types: Vec<u8> = self
            .payload_types
            .as_ref()
            .map(|t| t.iter().copied().collect())
            .unwrap_or_default();
        json!({
            "type": "subscribed",
            "data": {
                "region": self.regions.clone().unwrap_or_default(),
                "payloadTypes": types,
                "nodes": self.nodes.clone().unwrap_or_default(),
            }
        })
        .to_string()
    }
}

/// Reads a client text message: the new filter, or why it was refused.
fn parse_client_message(text: &str) -> Result<Filter, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("expected a JSON object".into());
    };
    match object.get("type").and_then(Value::as_str) {
        Some("subscribe") => {}
        Some(other) => {
            return Err(format!(
                "unsupported message type {:?}; only \"subscribe\" is understood",
                other.chars().take(32).collect::<String>()
            ));
        }
        None => return Err("missing \"type\"".into()),
    }
    let list = |name: &str| -> Result<Option<Vec<Value>>, String> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) if items.is_empty() => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items.clone())),
            Some(_) => Err(format!("\"{name}\" must be an array")),
        }
    };
    let mut filter = Filter::default();
    if let Some(items) = list("region")? {
        let mut regions = Vec::with_capacity(items.len());
        for item in items {
            let code = item
                .as_str()
                .map(str::trim)
                .filter(|c| {
                    !c.is_empty()
                        && c.len() <= 16
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
                .ok_or("\"region\" entries must be region codes such as \"SEA\"")?;
            if code.eq_ignore_ascii_case("all") {
                regions.clear();
                break;
            }
            regions.push(code.to_ascii_uppercase());
        }
        filter.regions = (!regions.is_empty()).then_some(regions);
    }
    if let Some(items) = list("payloadTypes")? {
        let types = items
            .iter()
            .map(|v| v.as_u64().filter(|&t| t <= 15).map(|t| t as u8))
            .collect::<Option<BTreeSet<u8>>>()
            .ok_or("\"payloadTypes\" entries must be integers 0-15")?;
        filter.payload_types = Some(types);
    }
    if let Some(items) = list("nodes")? {
        let nodes = items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::trim)
                    .filter(|k| {
                        (2..=64).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_hexdigit())
                    })
                    .map(str::to_ascii_lowercase)
            })
            .collect::<Option<Vec<String>>>()
            .ok_or(
                "\"nodes\" entries must be public keys or key prefixes of 2-64 hex characters",
            )?;
        filter.nodes = Some(nodes);
    }
    Ok(filter)
}

fn error_message(message: &str) -> String {
    json!({ "type": "error", "data": { "message": message } }).to_string()
}

fn lagged_message(missed: u64) -> Utf8Bytes {
    json!({ "type": "lagged", "data": { "missed": missed } })
        .to_string()
        .into()
}

/// Whether a browser origin may open the feed (spec api.md §11): no `Origin` ⇒ yes; its
/// host equal to `Host` ⇒ yes; else it must equal one of `corsAllowedOrigins`
/// (case-insensitive, `*` ignored).
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
    if let (Some(a), Some(b)) = (origin_host, host)
        && !a.is_empty()
        && a.eq_ignore_ascii_case(b.trim())
    {
        return true;
    }
    allowed
        .iter()
        .map(|o| o.trim())
        .filter(|o| *o != "*")
        .any(|o| o.eq_ignore_ascii_case(origin))
}

/// Checks the origin and upgrades.
fn accept(state: AppState, headers: &HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    if !origin_allowed(headers, &state.config().cors_allowed_origins) {
        return ApiError::forbidden("origin not allowed").into_response();
    }
    let hub = state.live();
    let receiver = hub.subscribe();
    let shutdown = hub.shutdown.subscribe();
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| serve_client(socket, state, receiver, shutdown))
}

async fn ws_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    accept(state, &headers, upgrade)
}

/// Upgrades a request for any non-API path that asks for a WebSocket (the reference's
/// static handler does this; the web UI connects to `/`), and passes everything else on.
/// Installed by the router in front of every route.
pub(crate) async fn upgrade_any_path(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let wants_ws = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !wants_ws || request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let (mut parts, _body) = request.into_parts();
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => accept(state, &parts.headers, upgrade),
        Err(rejection) => rejection.into_response(),
    }
}

/// Why a connection ended (for the log).
#[derive(Debug)]
enum End {
    Closed,
    Shutdown,
    ReadTimeout,
    WriteTimeout,
    TooBig,
    Error(String),
}

async fn serve_client(
    mut socket: WebSocket,
    state: AppState,
    mut feed: broadcast::Receiver<Arc<LiveMessage>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let end = client_loop(&mut socket, &state, &mut feed, &mut shutdown).await;
    match &end {
        End::Error(error) => tracing::debug!(%error, "WebSocket client gone"),
        other => tracing::debug!(end = ?other, "WebSocket client gone"),
    }
    let close = match end {
        End::Shutdown => Some((close_code::AWAY, SHUTDOWN_REASON)),
        End::TooBig => Some((close_code::SIZE, "message too big")),
        End::ReadTimeout => Some((close_code::POLICY, "no pong")),
        End::Closed | End::WriteTimeout | End::Error(_) => None,
    };
    if let Some((code, reason)) = close {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(frame)).await;
    }
}

async fn client_loop(
    socket: &mut WebSocket,
    state: &AppState,
    feed: &mut broadcast::Receiver<Arc<LiveMessage>>,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let hub = state.live();
    let mut filter = Filter::default();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let read_deadline = tokio::time::sleep(READ_DEADLINE);
    tokio::pin!(read_deadline);
    // Earliest time of the next write of the feed (see COALESCE).
    let mut write_after = Instant::now();
    loop {
        if *shutdown.borrow_and_update() {
            return End::Shutdown;
        }
        let pausing = Instant::now() < write_after;
        tokio::select! {
            biased;
            _ = shutdown.changed() => return End::Shutdown,
            () = &mut read_deadline => return End::ReadTimeout,
            incoming = socket.recv() => {
                read_deadline.as_mut().reset(Instant::now() + READ_DEADLINE);
                match incoming {
                    None => return End::Closed,
                    Some(Err(error)) => {
                        let text = error.to_string();
                        return if text.contains("Message too long") || text.contains("Space limit") {
                            End::TooBig
                        } else {
                            End::Error(text)
                        };
                    }
                    Some(Ok(Message::Text(text))) => {
                        let answer = match parse_client_message(text.as_str()) {
                            Ok(new) => {
                                filter = new;
                                filter.describe()
                            }
                            Err(why) => error_message(&why),
                        };
                        match tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Text(answer.into()))).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => return End::Error(e.to_string()),
                            Err(_) => return End::WriteTimeout,
                        }
                    }
                    // Pongs refresh the deadline (done above); pings are answered by the
                    // protocol layer; binary messages and close handshakes need nothing.
                    Some(Ok(_)) => {}
                }
            }
            () = tokio::time::sleep_until(write_after), if pausing => {}
            first = feed.recv(), if !pausing => {
                let written = tokio::time::timeout(WRITE_TIMEOUT, async {
                    let mut queued = 0usize;
                    let mut next = match first {
                        Ok(m) => Some(Ok(m)),
                        Err(broadcast::error::RecvError::Lagged(n)) => Some(Err(n)),
                        Err(broadcast::error::RecvError::Closed) => None,
                    };
                    let mut taken = 0;
                    while let Some(item) = next.take() {
                        taken += 1;
                        match item {
                            Ok(m) if filter.accepts(&m) => {
                                socket.feed(Message::Text(m.json.clone())).await?;
                                queued += 1;
                            }
                            Ok(_) => {}
                            Err(missed) => {
                                hub.note_lag(missed);
                                socket.feed(Message::Text(lagged_message(missed))).await?;
                                queued += 1;
                            }
                        }
                        if taken < BATCH {
                            next = match feed.try_recv() {
                                Ok(m) => Some(Ok(m)),
                                Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Err(n)),
                                Err(_) => None,
                            };
                        }
                    }
                    if queued > 0 {
                        socket.flush().await?;
                    }
                    Ok::<usize, axum::Error>(queued)
                })
                .await;
                match written {
                    Ok(Ok(0)) => {}
                    Ok(Ok(_)) => write_after = Instant::now() + COALESCE,
                    Ok(Err(e)) => return End::Error(e.to_string()),
                    Err(_) => return End::WriteTimeout,
                }
            }
            _ = ping.tick() => {
                match tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Ping(Default::default()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return End::Error(e.to_string()),
                    Err(_) => return End::WriteTimeout,
                }
            }
        }
    }
}

/// The `/ws` route.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().route("/ws", get(ws_handler))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload_type: u8, iata: Option<&str>, keys: &[&str], hops: &[&str]) -> LiveMessage {
        LiveMessage {
            json: "{}".into(),
            payload_type,
            iata: iata.map(Into::into),
            node_keys: keys.iter().map(|k| (*k).into()).collect(),
            hops: hops.iter().map(|h| (*h).into()).collect(),
        }
    }

    #[test]
    fn subscriptions_parse_and_normalise() {
        let f = parse_client_message(
            r#"{"type":"subscribe","region":[" sea ","PAE"],"payloadTypes":[5,4,4],"nodes":["A1B2"]}"#,
        )
        .unwrap();
        assert_eq!(f.regions, Some(vec!["SEA".to_owned(), "PAE".to_owned()]));
        assert_eq!(f.payload_types, Some([4, 5].into_iter().collect()));
        assert_eq!(f.nodes, Some(vec!["a1b2".to_owned()]));
        // Empty and absent fields do not filter; "All" is every region.
        let f =
            parse_client_message(r#"{"type":"subscribe","region":["All"],"nodes":[]}"#).unwrap();
        assert_eq!(f, Filter::default());
        for bad in [
            "not json",
            "[1]",
            r#"{"region":["SEA"]}"#,
            r#"{"type":"hello"}"#,
            r#"{"type":"subscribe","region":"SEA"}"#,
            r#"{"type":"subscribe","region":["S E A"]}"#,
            r#"{"type":"subscribe","payloadTypes":[16]}"#,
            r#"{"type":"subscribe","payloadTypes":[-1]}"#,
            r#"{"type":"subscribe","payloadTypes":["4"]}"#,
            r#"{"type":"subscribe","nodes":["xyz1"]}"#,
            r#"{"type":"subscribe","nodes":["a"]}"#,
        ] {
            assert!(parse_client_message(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_match_type_region_and_node() {
        let advert = message(4, Some("SEA"), &["a1b2c3d4"], &["ff"]);
        let text = message(5, Some("PAE"), &[], &["a1b2", "77"]);
        let nowhere = message(5, None, &[], &[]);
        let all = Filter::default();
        assert!(all.accepts(&advert) && all.accepts(&text) && all.accepts(&nowhere));

        let types = parse_client_message(r#"{"type":"subscribe","payloadTypes":[4]}"#).unwrap();
        assert!(types.accepts(&advert) && !types.accepts(&text));

        let region = parse_client_message(r#"{"type":"subscribe","region":["sea"]}"#).unwrap();
        assert!(region.accepts(&advert) && !region.accepts(&text) && !region.accepts(&nowhere));

        // A key prefix matches the sender key; a hop matches keys it is a prefix of, and
        // a short subscription prefix matches longer hops.
        let node = parse_client_message(r#"{"type":"subscribe","nodes":["a1b2c3"]}"#).unwrap();
        assert!(node.accepts(&advert) && node.accepts(&text) && !node.accepts(&nowhere));
        let short = parse_client_message(r#"{"type":"subscribe","nodes":["77"]}"#).unwrap();
        assert!(!short.accepts(&advert) && short.accepts(&text));
        let other = parse_client_message(r#"{"type":"subscribe","nodes":["a1b3"]}"#).unwrap();
        assert!(!other.accepts(&advert) && !other.accepts(&text));

        let both =
            parse_client_message(r#"{"type":"subscribe","region":["PAE"],"payloadTypes":[4]}"#)
                .unwrap();
        assert!(!both.accepts(&advert) && !both.accepts(&text));
    }

    /// A state over an empty database.
    fn empty_state() -> (tempfile::TempDir, AppState) {
        use analyzer_sqlite::{OpenOptions, SqliteReader, SqliteStorage};
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("empty.db");
        drop(SqliteStorage::open(&db, OpenOptions::default()).unwrap());
        let reader: Box<dyn analyzer_db::StorageReader + Send> =
            Box::new(SqliteReader::open(&db, &OpenOptions::default()).unwrap());
        let reader = Arc::new(std::sync::Mutex::new(reader));
        let state = AppState::builder(reader, analyzer_store::Store::new()).build();
        (dir, state)
    }

    #[tokio::test]
    async fn any_non_api_path_upgrades_when_installed() {
        let (_dir, state) = empty_state();
        let app = crate::routes::router(state.clone()).layer(axum::middleware::from_fn_with_state(
            state.clone(),
            upgrade_any_path,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        // The web UI's socket: the root path.
        for path in ["/", "/ws", "/live"] {
            let (client, response) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}"))
                .await
                .unwrap();
            assert_eq!(response.status(), 101, "{path}");
            drop(client);
        }
        // API paths are left to their handlers even with upgrade headers.
        match tokio_tungstenite::connect_async(format!("ws://{addr}/api/no-such-thing")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 404);
            }
            other => panic!("expected 404, got {other:?}"),
        }
        // Plain requests pass through the middleware untouched.
        let response = reqwest::get(format!("http://{addr}/api/no-such-thing"))
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }

    /// The shutdown sequence `crate::serve` should follow: axum's graceful shutdown does not
    /// wait for upgraded connections, so the hub is told when the signal fires and the
    /// close frames go out while the caller drains.
    #[tokio::test]
    async fn graceful_shutdown_closes_clients_with_1001() {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message as Frame;
        let (_dir, state) = empty_state();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let live = state.clone();
        let server = tokio::spawn(
            axum::serve(listener, crate::routes::router(state.clone()))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                    live.live().shutdown();
                })
                .into_future(),
        );
        let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve returns although a WebSocket is open")
            .unwrap()
            .unwrap();
        state.live().drain(Duration::from_secs(2)).await;
        match tokio::time::timeout(Duration::from_secs(5), client.next()).await {
            Ok(Some(Ok(Frame::Close(Some(frame))))) => {
                assert_eq!(u16::from(frame.code), 1001);
                assert_eq!(frame.reason.as_str(), SHUTDOWN_REASON);
            }
            other => panic!("expected close 1001, got {other:?}"),
        }
    }

    #[test]
    fn origins_follow_the_reference() {
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, "analyzer.example:8080".parse().unwrap());
            if let Some(o) = origin {
                h.insert(header::ORIGIN, o.parse().unwrap());
            }
            h
        };
        let allowed = vec!["https://Map.Example".to_owned(), "*".to_owned()];
        assert!(origin_allowed(&headers(None), &[]));
        assert!(origin_allowed(
            &headers(Some("http://ANALYZER.example:8080")),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("http://analyzer.example")),
            &[]
        ));
        assert!(origin_allowed(
            &headers(Some("https://map.example")),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("https://map.example.evil")),
            &allowed
        ));
        // "*" does not open the WebSocket to every site.
        assert!(!origin_allowed(
            &headers(Some("https://evil.example")),
            &allowed
        ));
        assert!(!origin_allowed(&headers(Some("null")), &allowed));
    }
}
