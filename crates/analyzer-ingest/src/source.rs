//! One MQTT source: connection, subscriptions, reconnect with backoff, the liveness watchdog
//! and the per-source status the API shows.
//!
//! Session semantics: every source connects with a stable client id and `clean_session =
//! false` and subscribes with QoS 1, so the broker keeps our subscriptions and queues QoS 1
//! messages while we are disconnected or restarting, and delivers them when we come back
//! (as long as the broker's own session expiry and queue limits allow; Mosquitto keeps
//! persistent sessions indefinitely by default). Publishers sending QoS 0 are delivered at
//! QoS 0 and are not queued by the broker.
//!
//! Back-pressure: the event loop awaits the bounded channel to the pipeline. While it waits it
//! does not read the socket, so TCP flow control and the broker's in-flight window hold the
//! rest; nothing is dropped here. If the wait outlasts the keep-alive the broker closes the
//! connection, and the session (with its queue) survives the reconnect.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use analyzer_config::{BrokerScheme, SourceSettings};
use rumqttc::{
    AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter, SubscribeReasonCode,
    TlsConfiguration, Transport,
};
use tokio::sync::{mpsc, watch};

use crate::now_unix;
use crate::tls::{TlsError, client_config};

/// Capacity of the client's request channel, which carries the deferred acks: above any
/// broker's in-flight window for one subscriber (Mosquitto 20, rumqttd 500 as we configure it).
const ACK_CAPACITY: usize = 4096;

/// Backoff after the first failed connection attempt; doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Largest MQTT packet the client accepts. Larger ones would make the client drop the
/// connection (and a broker would redeliver them forever), so the limit is generous; the
/// pipeline rejects anything over [`crate::message::MAX_MESSAGE_BYTES`] as `oversize`.
pub const MAX_INCOMING_PACKET: usize = 8 * 1024 * 1024;
/// MQTT keep-alive, as CoreScope.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// One publish handed to the pipeline.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Index of the source in the configured list.
    pub source: usize,
    /// The MQTT publish (topic, payload, retain flag).
    pub publish: rumqttc::Publish,
    /// Receipt time, Unix seconds.
    pub received_at: i64,
    /// Receipt instant, for commit-latency measurement.
    pub received: Instant,
    /// The client that must acknowledge the publish to its broker once the batch holding it
    /// is committed (`None` for in-process messages).
    pub ack: Option<AsyncClient>,
}

impl Inbound {
    /// Acknowledges the publish to its broker (after its batch is durable). A failed ack is
    /// harmless: the broker redelivers the message on the next connection and the dedup key
    /// makes it a no-op.
    pub fn acknowledge(&self) {
        if let Some(client) = &self.ack {
            if let Err(error) = client.try_ack(&self.publish) {
                tracing::debug!(%error, "MQTT ack not sent; the broker will redeliver");
            }
        }
    }
}

/// Tunables of the source loop; the defaults suit production, tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct SourceOptions {
    /// Silence after which a source that had been receiving is forced to reconnect.
    pub watchdog_silence: Duration,
    /// How often the watchdog looks.
    pub watchdog_interval: Duration,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            watchdog_silence: Duration::from_secs(300),
            watchdog_interval: Duration::from_secs(60),
        }
    }
}

/// Live status of one source, updated by its task and read by the API.
#[derive(Debug)]
pub struct SourceStatus {
    name: String,
    broker: String,
    client_id: String,
    connected: AtomicBool,
    last_connect_unix: AtomicI64,
    last_disconnect_unix: AtomicI64,
    last_packet_unix: AtomicI64,
    connect_count: AtomicU64,
    disconnect_count: AtomicU64,
    packets_total: AtomicU64,
    forced_reconnects: AtomicU64,
    stalled: AtomicBool,
    last_error: Mutex<Option<String>>,
    window: Mutex<RateWindow>,
}

/// A copy of a source's status (ingest spec §1.6 fields, camelCase as CoreScope's stats file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSnapshot {
    /// Source name.
    pub name: String,
    /// Broker URL, password masked.
    pub broker: String,
    /// MQTT client id (the broker keeps our session under it).
    pub client_id: String,
    /// Connected now.
    pub connected: bool,
    /// Last connect, Unix seconds (0 = never).
    pub last_connect_unix: i64,
    /// Last disconnect, Unix seconds (0 = never).
    pub last_disconnect_unix: i64,
    /// Last message, Unix seconds (0 = never).
    pub last_packet_unix: i64,
    /// Successful connects.
    pub connect_count: u64,
    /// Disconnects (including forced ones).
    pub disconnect_count: u64,
    /// Messages received.
    pub packets_total: u64,
    /// Messages received in the last 300 s.
    #[serde(rename = "packetsLast5m")]
    pub packets_last_5m: u64,
    /// Reconnects forced by the watchdog.
    pub forced_reconnects: u64,
    /// The watchdog considers the source stalled.
    pub stalled: bool,
    /// Last connection error; cleared on connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Per-second message counts over the last 300 s.
#[derive(Debug)]
struct RateWindow {
    slots: [(i64, u32); 300],
}

impl RateWindow {
    fn add(&mut self, now: i64) {
        let slot = &mut self.slots[now.rem_euclid(300) as usize];
        if slot.0 != now {
            *slot = (now, 0);
        }
        slot.1 = slot.1.saturating_add(1);
    }

    fn sum(&self, now: i64) -> u64 {
        self.slots
            .iter()
            .filter(|(t, _)| *t <= now && now.saturating_sub(*t) < 300)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }
}

impl SourceStatus {
    /// A fresh status for a source that has not connected yet.
    pub fn new(settings: &SourceSettings) -> Self {
        Self {
            name: settings.name.clone(),
            broker: settings.broker_masked(),
            client_id: settings.client_id.clone(),
            connected: AtomicBool::new(false),
            last_connect_unix: AtomicI64::new(0),
            last_disconnect_unix: AtomicI64::new(0),
            last_packet_unix: AtomicI64::new(0),
            connect_count: AtomicU64::new(0),
            disconnect_count: AtomicU64::new(0),
            packets_total: AtomicU64::new(0),
            forced_reconnects: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
            last_error: Mutex::new(None),
            window: Mutex::new(RateWindow {
                slots: [(-1, 0); 300],
            }),
        }
    }

    /// Source name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connected now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// A consistent-enough copy for the API (fields are sampled independently).
    pub fn snapshot(&self) -> SourceSnapshot {
        let now = now_unix();
        SourceSnapshot {
            name: self.name.clone(),
            broker: self.broker.clone(),
            client_id: self.client_id.clone(),
            connected: self.connected.load(Ordering::Relaxed),
            last_connect_unix: self.last_connect_unix.load(Ordering::Relaxed),
            last_disconnect_unix: self.last_disconnect_unix.load(Ordering::Relaxed),
            last_packet_unix: self.last_packet_unix.load(Ordering::Relaxed),
            connect_count: self.connect_count.load(Ordering::Relaxed),
            disconnect_count: self.disconnect_count.load(Ordering::Relaxed),
            packets_total: self.packets_total.load(Ordering::Relaxed),
            packets_last_5m: lock(&self.window).sum(now),
            forced_reconnects: self.forced_reconnects.load(Ordering::Relaxed),
            stalled: self.stalled.load(Ordering::Relaxed),
            last_error: lock(&self.last_error).clone(),
        }
    }

    fn mark_connect(&self, now: i64) {
        self.connected.store(true, Ordering::Relaxed);
        self.last_connect_unix.store(now, Ordering::Relaxed);
        self.connect_count.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = None;
    }

    fn mark_disconnect(&self, now: i64, error: Option<String>) {
        if self.connected.swap(false, Ordering::Relaxed) {
            self.last_disconnect_unix.store(now, Ordering::Relaxed);
            self.disconnect_count.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(e) = error {
            *lock(&self.last_error) = Some(e);
        }
    }

    fn mark_message(&self, now: i64) {
        self.last_packet_unix.store(now, Ordering::Relaxed);
        self.packets_total.fetch_add(1, Ordering::Relaxed);
        lock(&self.window).add(now);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds the rumqttc options of a source: transport from the URL scheme, credentials, stable
/// client id, persistent session.
pub fn mqtt_options(settings: &SourceSettings) -> Result<MqttOptions, TlsError> {
    let url = &settings.broker;
    let host = if url.scheme.is_websocket() {
        url.websocket_url()
    } else {
        url.host.clone()
    };
    let mut options = MqttOptions::new(settings.client_id.clone(), host, url.port);
    let tls = |verify| -> Result<TlsConfiguration, TlsError> {
        Ok(TlsConfiguration::Rustls(Arc::new(client_config(verify)?)))
    };
    // The scheme decides TLS, never the other way round (a `ws://` URL with a TLS transport
    // would silently connect in cleartext, rumqtt#1065).
    match url.scheme {
        BrokerScheme::Tcp => {}
        BrokerScheme::Tls => {
            options.set_transport(Transport::Tls(tls(settings.tls_verify)?));
        }
        BrokerScheme::Ws => {
            options.set_transport(Transport::Ws);
        }
        BrokerScheme::Wss => {
            options.set_transport(Transport::Wss(tls(settings.tls_verify)?));
        }
    }
    if let Some(user) = &settings.username {
        options.set_credentials(user.clone(), settings.password.clone().unwrap_or_default());
    }
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_session(false)
        .set_max_packet_size(MAX_INCOMING_PACKET, 64 * 1024)
        // A publish is acknowledged only once the batch holding it is committed, so a crash
        // never loses a message the broker considers delivered.
        .set_manual_acks(true);
    Ok(options)
}

/// Why one connection generation ended.
enum Ended {
    Shutdown,
    PipelineClosed,
    ForcedReconnect,
}

/// Runs one source until `shutdown` turns true (or the pipeline goes away). Never returns an
/// error: every failure is retried with backoff and shown in the status.
pub async fn run_source(
    index: usize,
    settings: SourceSettings,
    status: Arc<SourceStatus>,
    out: mpsc::Sender<Inbound>,
    mut shutdown: watch::Receiver<bool>,
    options: SourceOptions,
) {
    let tag = settings.name.clone();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mqtt = match mqtt_options(&settings) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(source = %tag, error = %e, "MQTT source cannot be configured; retrying in 30 s");
                status.mark_disconnect(now_unix(), Some(e.to_string()));
                if sleep_or_shutdown(MAX_BACKOFF, &mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        match connection(
            index,
            &settings,
            mqtt,
            &status,
            &out,
            &mut shutdown,
            options,
        )
        .await
        {
            Ended::Shutdown | Ended::PipelineClosed => return,
            Ended::ForcedReconnect => continue,
        }
    }
}

/// Sleeps; true when shutdown was requested meanwhile.
async fn sleep_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => *shutdown.borrow(),
        r = shutdown.changed() => r.is_err() || *shutdown.borrow(),
    }
}

/// One client instance, with rumqttc's own reconnects inside; returns when the watchdog wants
/// a fresh socket, or on shutdown.
async fn connection(
    index: usize,
    settings: &SourceSettings,
    mqtt: MqttOptions,
    status: &SourceStatus,
    out: &mpsc::Sender<Inbound>,
    shutdown: &mut watch::Receiver<bool>,
    options: SourceOptions,
) -> Ended {
    let tag = settings.name.as_str();
    // Room for the acks of every unacknowledged publish the broker may have in flight.
    let (client, mut eventloop) = AsyncClient::new(mqtt, ACK_CAPACITY);
    let mut network = eventloop.network_options();
    network.set_connection_timeout(10);
    eventloop.set_network_options(network);
    let filters: Vec<SubscribeFilter> = settings
        .topics
        .iter()
        .map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce))
        .collect();
    let mut backoff = MIN_BACKOFF;
    let mut attempt: u64 = 0;
    let mut watchdog = tokio::time::interval(options.watchdog_interval);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut connected_at = Instant::now();
    let mut last_message: Option<Instant> = None;
    let mut never_warned = false;

    loop {
        let event = tokio::select! {
            biased;
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    hand_over_buffered(index, status, &mut eventloop, out).await;
                    disconnect_cleanly(&client, &mut eventloop, Some(Forward { index, status, out })).await;
                    status.mark_disconnect(now_unix(), None);
                    return Ended::Shutdown;
                }
                continue;
            }
            _ = watchdog.tick() => {
                if !status.is_connected() {
                    continue;
                }
                let silence = options.watchdog_silence;
                match last_message {
                    Some(at) if at.elapsed() > silence => {
                        if !status.stalled.swap(true, Ordering::Relaxed) {
                            tracing::warn!(source = %tag, silent_secs = at.elapsed().as_secs(),
                                "MQTT source stalled: no message within the watchdog threshold; forcing a reconnect");
                        } else {
                            tracing::debug!(source = %tag, "MQTT source still stalled; reconnecting again");
                        }
                        hand_over_buffered(index, status, &mut eventloop, out).await;
                        status.forced_reconnects.fetch_add(1, Ordering::Relaxed);
                        status.mark_disconnect(now_unix(), Some("watchdog: no message within threshold".into()));
                        return Ended::ForcedReconnect;
                    }
                    // Still silent after a forced reconnect: try again, once per threshold.
                    None if status.stalled.load(Ordering::Relaxed) && connected_at.elapsed() > silence => {
                        tracing::debug!(source = %tag, "MQTT source still stalled after a reconnect; reconnecting again");
                        hand_over_buffered(index, status, &mut eventloop, out).await;
                        status.forced_reconnects.fetch_add(1, Ordering::Relaxed);
                        status.mark_disconnect(now_unix(), Some("watchdog: still no message after reconnect".into()));
                        return Ended::ForcedReconnect;
                    }
                    None if connected_at.elapsed() > silence && !never_warned => {
                        never_warned = true;
                        tracing::warn!(source = %tag, topics = ?settings.topics,
                            "MQTT source connected but has NEVER received a message (check topics and broker ACLs)");
                    }
                    _ => {}
                }
                continue;
            }
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                attempt = 0;
                backoff = MIN_BACKOFF;
                connected_at = Instant::now();
                status.mark_connect(now_unix());
                tracing::info!(source = %tag, broker = %status.broker, client_id = %settings.client_id,
                    session_present = ack.session_present, "MQTT source connected");
                // Subscribing again on a resumed session is harmless and picks up topic changes.
                if let Err(e) = client.try_subscribe_many(filters.clone()) {
                    tracing::error!(source = %tag, error = %e, "MQTT subscribe request failed");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                for (filter, code) in settings.topics.iter().zip(&ack.return_codes) {
                    match code {
                        SubscribeReasonCode::Failure => {
                            let msg = format!("subscription to {filter:?} refused by the broker");
                            tracing::error!(source = %tag, "{msg}");
                            *lock(&status.last_error) = Some(msg);
                        }
                        SubscribeReasonCode::Success(qos) if *qos != QoS::AtLeastOnce => {
                            tracing::warn!(source = %tag, filter = %filter, granted = ?qos,
                                "Broker granted a lower QoS: messages published while we are away may be lost");
                        }
                        SubscribeReasonCode::Success(_) => {}
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let now = now_unix();
                status.mark_message(now);
                last_message = Some(Instant::now());
                if status.stalled.swap(false, Ordering::Relaxed) {
                    tracing::info!(source = %tag, "MQTT source recovered: messages are flowing again");
                }
                let inbound = Inbound {
                    source: index,
                    publish,
                    received_at: now,
                    received: Instant::now(),
                    ack: Some(client.clone()),
                };
                // Back-pressure: wait for room instead of dropping (the broker holds the rest:
                // nothing is acknowledged before its batch is committed). Not cancelled by
                // shutdown: the writer keeps draining the queue until every source has ended.
                if out.send(inbound).await.is_err() {
                    disconnect_cleanly(&client, &mut eventloop, None).await;
                    status.mark_disconnect(now_unix(), None);
                    return Ended::PipelineClosed;
                }
            }
            Ok(Event::Incoming(Packet::Disconnect)) => {
                status.mark_disconnect(now_unix(), Some("broker sent DISCONNECT".into()));
            }
            Ok(_) => {}
            Err(error) => {
                attempt += 1;
                let was_connected = status.is_connected();
                status.mark_disconnect(now_unix(), Some(error.to_string()));
                if was_connected || attempt == 1 {
                    tracing::warn!(source = %tag, broker = %status.broker, error = %error,
                        "MQTT connection lost; reconnecting with backoff");
                } else {
                    tracing::debug!(source = %tag, attempt, error = %error, "MQTT connection attempt failed");
                }
                if sleep_or_shutdown(backoff, shutdown).await {
                    return Ended::Shutdown;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// rumqttc reads up to ten packets at a time; the publishes it has not returned yet sit in its
/// event buffer. Before the event loop is dropped they are handed to the pipeline (they are
/// not acknowledged on this connection, so the broker also redelivers them on the next).
async fn hand_over_buffered(
    index: usize,
    status: &SourceStatus,
    eventloop: &mut rumqttc::EventLoop,
    out: &mpsc::Sender<Inbound>,
) {
    while let Some(event) = eventloop.state.events.pop_front() {
        if let Event::Incoming(Packet::Publish(publish)) = event {
            let now = now_unix();
            status.mark_message(now);
            // Not acknowledged: this connection is ending, so the broker redelivers it on
            // the next one and the dedup key makes that a no-op.
            let inbound = Inbound {
                source: index,
                publish,
                received_at: now,
                received: Instant::now(),
                ack: None,
            };
            if out.send(inbound).await.is_err() {
                return;
            }
        }
    }
}

/// Sends DISCONNECT so the broker ends the connection without waiting for the keep-alive;
/// the persistent session stays on the broker.
async fn disconnect_cleanly(
    client: &AsyncClient,
    eventloop: &mut rumqttc::EventLoop,
    forward: Option<Forward<'_>>,
) {
    if client.try_disconnect().is_err() {
        return;
    }
    // Publishes read while the DISCONNECT goes out are acknowledged too: hand them over.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Err(_) | Ok(Err(_)) | Ok(Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect))) => break,
            Ok(Ok(Event::Incoming(Packet::Publish(publish)))) => {
                if let Some(f) = &forward {
                    let now = now_unix();
                    f.status.mark_message(now);
                    let inbound = Inbound {
                        source: f.index,
                        publish,
                        received_at: now,
                        received: Instant::now(),
                        ack: None,
                    };
                    if f.out.send(inbound).await.is_err() {
                        return;
                    }
                }
            }
            Ok(Ok(_)) => {}
        }
    }
    if let Some(f) = forward {
        hand_over_buffered(f.index, f.status, eventloop, f.out).await;
    }
}

/// Where [`disconnect_cleanly`] hands late publishes.
struct Forward<'a> {
    index: usize,
    status: &'a SourceStatus,
    out: &'a mpsc::Sender<Inbound>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> SourceSettings {
        let config: analyzer_config::Config =
            serde_json::from_value(serde_json::json!({"mqttSources": [{"name": "s", "broker": url, "username": "u", "password": "p"}]}))
                .unwrap();
        analyzer_config::resolve_sources(&config, &analyzer_config::EnvVars::default())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn options_use_a_persistent_session_and_stable_id() {
        let o = mqtt_options(&settings("mqtt://broker.example:1884")).unwrap();
        assert!(!o.clean_session());
        assert_eq!(o.client_id(), "meshcore-analyzer-s");
        assert_eq!(o.broker_address(), ("broker.example".to_owned(), 1884));
        assert_eq!(o.keep_alive(), KEEP_ALIVE);
        let login = o.credentials().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("u", "p")
        );
        assert!(matches!(o.transport(), Transport::Tcp));
    }

    #[test]
    fn scheme_selects_the_transport() {
        assert!(matches!(
            mqtt_options(&settings("mqtts://h")).unwrap().transport(),
            Transport::Tls(_)
        ));
        assert!(matches!(
            mqtt_options(&settings("ws://h/mqtt")).unwrap().transport(),
            Transport::Ws
        ));
        let o = mqtt_options(&settings("wss://h:8443/mqtt")).unwrap();
        assert!(matches!(o.transport(), Transport::Wss(_)));
        assert_eq!(o.broker_address().0, "wss://h:8443/mqtt");
    }

    #[test]
    fn rate_window_counts_the_last_five_minutes() {
        let mut w = RateWindow {
            slots: [(-1, 0); 300],
        };
        for t in [1000, 1000, 1001, 1299] {
            w.add(t);
        }
        assert_eq!(w.sum(1299), 4);
        assert_eq!(w.sum(1300), 2, "t=1000 has left the window");
        assert_eq!(w.sum(1600), 0);
        w.add(1300); // reuses the slot of t=1000
        assert_eq!(w.sum(1300), 3);
    }

    #[test]
    fn status_tracks_connects_messages_and_errors() {
        let s = SourceStatus::new(&settings("mqtt://u:secret@h"));
        assert!(!s.snapshot().broker.contains("secret"));
        s.mark_disconnect(5, Some("refused".into()));
        let snap = s.snapshot();
        assert_eq!(
            (snap.disconnect_count, snap.last_error.as_deref()),
            (0, Some("refused")),
            "never connected"
        );
        s.mark_connect(10);
        s.mark_message(now_unix());
        s.mark_message(now_unix());
        s.mark_disconnect(20, Some("io".into()));
        let snap = s.snapshot();
        assert_eq!(snap.connect_count, 1);
        assert_eq!(snap.disconnect_count, 1);
        assert_eq!(snap.packets_total, 2);
        assert_eq!(snap.packets_last_5m, 2);
        assert_eq!(snap.last_disconnect_unix, 20);
        assert!(!snap.connected);
        s.mark_connect(30);
        assert_eq!(s.snapshot().last_error, None, "a connect clears the error");
        let json = serde_json::to_value(s.snapshot()).unwrap();
        for key in [
            "lastConnectUnix",
            "lastDisconnectUnix",
            "lastPacketUnix",
            "connectCount",
            "disconnectCount",
            "packetsTotal",
            "packetsLast5m",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}
