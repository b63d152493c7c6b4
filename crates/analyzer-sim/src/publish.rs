//! Publishes a simulated event stream to an MQTT broker exactly as observer bridges do
//! (feature `publish`): one message per event, topic and JSON from [`crate::mqtt::render`],
//! QoS 0 like the bridge.
//!
//! Pacing is either a fixed message rate (load tests), the simulated clock scaled by a speed
//! factor (live demos: speed 1 is real time), or none (as fast as the broker takes them).
//! Plain `mqtt://`/`tcp://` and `ws://` brokers are supported; TLS brokers are refused with a
//! clear error for now.

use std::future::Future;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, QoS};
use tokio::time::Instant;

use crate::event::SimEvent;
use crate::mqtt;

/// How fast to publish.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// As fast as the connection allows.
    Unlimited,
    /// This many messages per second.
    Rate(f64),
    /// Follow the events' simulated timestamps, `speed` times faster than real time.
    SimulatedTime {
        /// 1.0 = real time.
        speed: f64,
    },
}

/// Where and how to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishOptions {
    /// Broker URL: `mqtt://host:port`, `tcp://host:port` or `ws://host:port/path`.
    pub broker: String,
    /// MQTT client id.
    pub client_id: String,
    /// User name and password, if the broker wants them.
    pub credentials: Option<(String, String)>,
    /// Pacing.
    pub pace: Pace,
    /// Stop after this many messages; `None` = until the stream ends or shutdown.
    pub max_messages: Option<u64>,
}

/// What was published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// `.../packets` messages.
    pub packets: u64,
    /// `.../status` messages.
    pub statuses: u64,
}

impl PublishStats {
    /// All messages.
    pub fn total(&self) -> u64 {
        self.packets + self.statuses
    }
}

/// Why publishing stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The broker URL cannot be used.
    #[error("unusable broker URL {url:?}: {reason}")]
    BrokerUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A pacing value is not a positive finite number.
    #[error("pace must be a positive, finite rate or speed")]
    InvalidPace,
    /// The connection failed or was lost.
    #[error("MQTT connection to {broker} failed: {source}")]
    Connection {
        /// The broker URL.
        broker: String,
        /// The client library's error.
        #[source]
        source: Box<rumqttc::ConnectionError>,
    },
}

/// Publishes `events` until the stream ends, `max_messages` is reached or `shutdown`
/// resolves, then disconnects cleanly (every message handed to the client is on the wire when
/// this returns `Ok`).
pub async fn publish<I, S>(
    events: I,
    options: &PublishOptions,
    shutdown: S,
) -> Result<PublishStats, PublishError>
where
    I: IntoIterator<Item = SimEvent>,
    S: Future<Output = ()>,
{
    let mqtt_options = mqtt_options(options)?;
    let mut pacer = Pacer::new(options.pace)?;
    let (client, mut event_loop) = AsyncClient::new(mqtt_options, 1024);
    let broker = options.broker.clone();
    // The event loop does the network I/O; it ends when our DISCONNECT is written or the
    // connection fails.
    let pump = tokio::spawn(async move {
        loop {
            match event_loop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return Ok(()),
                Ok(_) => {}
                Err(source) => return Err(source),
            }
        }
    });
    let mut stats = PublishStats::default();
    let publishing = async {
        for event in events {
            if options.max_messages.is_some_and(|max| stats.total() >= max) {
                break;
            }
            if let Some(deadline) = pacer.deadline(stats.total(), event.time_ms()) {
                tokio::time::sleep_until(deadline).await;
            }
            let message = mqtt::render(&event);
            let qos = QoS::AtMostOnce;
            if client
                .publish(message.topic, qos, message.retain, message.payload)
                .await
                .is_err()
            {
                // The event loop has stopped; its result says why.
                return;
            }
            match event {
                SimEvent::Packet(_) => stats.packets += 1,
                SimEvent::Status(_) => stats.statuses += 1,
            }
        }
    };
    tokio::select! {
        () = publishing => {}
        () = shutdown => {}
    }
    // Queued after every publish, so the event loop writes it last.
    let _ = client.disconnect().await;
    match pump.await {
        Ok(Ok(())) => Ok(stats),
        Ok(Err(source)) => Err(PublishError::Connection {
            broker,
            source: Box::new(source),
        }),
        // The pump task only ends by returning; a join error means the runtime is going away.
        Err(_) => Ok(stats),
    }
}

fn mqtt_options(options: &PublishOptions) -> Result<MqttOptions, PublishError> {
    let url = options.broker.trim();
    let bad = |reason: &str| PublishError::BrokerUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let scheme = url
        .split("://")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let normalised = match scheme.as_str() {
        "mqtt" | "tcp" => format!("mqtt://{}", &url[scheme.len() + 3..]),
        "ws" => url.to_owned(),
        "mqtts" | "ssl" | "wss" => {
            return Err(bad("TLS brokers are not supported by the simulator yet"));
        }
        _ => return Err(bad("expected mqtt://, tcp:// or ws://")),
    };
    if options.client_id.is_empty() || options.client_id.contains(['&', '#', '?']) {
        return Err(bad(
            "client id must be non-empty and free of '&', '#' and '?'",
        ));
    }
    let separator = if normalised.contains('?') { '&' } else { '?' };
    let with_id = format!("{normalised}{separator}client_id={}", options.client_id);
    let mut mqtt_options =
        MqttOptions::parse_url(with_id).map_err(|error| bad(&error.to_string()))?;
    mqtt_options.set_keep_alive(Duration::from_secs(30));
    if let Some((user, password)) = &options.credentials {
        mqtt_options.set_credentials(user, password);
    }
    Ok(mqtt_options)
}

/// When each message may go out.
#[derive(Debug)]
struct Pacer {
    pace: Pace,
    started: Instant,
    first_event_ms: Option<u64>,
}

impl Pacer {
    fn new(pace: Pace) -> Result<Self, PublishError> {
        let valid = |x: f64| x.is_finite() && x > 0.0;
        match pace {
            Pace::Rate(rate) if !valid(rate) => return Err(PublishError::InvalidPace),
            Pace::SimulatedTime { speed } if !valid(speed) => {
                return Err(PublishError::InvalidPace);
            }
            _ => {}
        }
        Ok(Self {
            pace,
            started: Instant::now(),
            first_event_ms: None,
        })
    }

    /// The instant before which message number `sent` (of an event at `event_ms`) must not go
    /// out, or `None` for "now".
    fn deadline(&mut self, sent: u64, event_ms: u64) -> Option<Instant> {
        let offset_s = match self.pace {
            Pace::Unlimited => return None,
            Pace::Rate(rate) => sent as f64 / rate,
            Pace::SimulatedTime { speed } => {
                let first = *self.first_event_ms.get_or_insert(event_ms);
                event_ms.saturating_sub(first) as f64 / 1000.0 / speed
            }
        };
        Some(self.started + Duration::from_secs_f64(offset_s.min(1e9)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_spreads_messages_evenly_or_follows_the_simulated_clock() {
        let mut rate = Pacer::new(Pace::Rate(200.0)).unwrap();
        let start = rate.started;
        assert_eq!(rate.deadline(0, 0), Some(start));
        assert_eq!(
            rate.deadline(100, 0),
            Some(start + Duration::from_millis(500))
        );
        let mut sim = Pacer::new(Pace::SimulatedTime { speed: 10.0 }).unwrap();
        let start = sim.started;
        assert_eq!(sim.deadline(0, 50_000), Some(start));
        assert_eq!(
            sim.deadline(1, 60_000),
            Some(start + Duration::from_secs(1))
        );
        assert_eq!(Pacer::new(Pace::Unlimited).unwrap().deadline(5, 5), None);
        assert!(Pacer::new(Pace::Rate(0.0)).is_err());
        assert!(Pacer::new(Pace::SimulatedTime { speed: f64::NAN }).is_err());
    }

    #[test]
    fn broker_urls_are_checked() {
        let options = |broker: &str| PublishOptions {
            broker: broker.to_owned(),
            client_id: "sim".to_owned(),
            credentials: None,
            pace: Pace::Unlimited,
            max_messages: None,
        };
        assert!(mqtt_options(&options("mqtt://127.0.0.1:1883")).is_ok());
        assert!(mqtt_options(&options("tcp://localhost:1883")).is_ok());
        assert!(matches!(
            mqtt_options(&options("mqtts://x:8883")),
            Err(PublishError::BrokerUrl { .. })
        ));
        assert!(matches!(
            mqtt_options(&options("http://x")),
            Err(PublishError::BrokerUrl { .. })
        ));
        let mut bad_id = options("mqtt://127.0.0.1:1883");
        bad_id.client_id = String::new();
        assert!(mqtt_options(&bad_id).is_err());
    }
}
