//! Demo traffic: a simulated mesh whose observers publish to the analyzer in real time, so a
//! fresh install shows a living network. It goes through the analyzer's own embedded MQTT
//! broker when that runs (the whole path, visible to its subscribers), else straight into the
//! ingest queue in-process; never into an external broker, which other subscribers may share.
//! It goes quiet while a real observer is publishing and resumes when that observer has been
//! silent for a while.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use analyzer_ingest::{IngestEvent, Injector};
use analyzer_sim::{SimConfig, SimEvent, Simulator};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Demo traffic pauses while a real observer has published within this long.
const REAL_TRAFFIC_QUIET: Duration = Duration::from_secs(600);

/// Where the demo's messages go.
enum Sink {
    /// The embedded broker at this address.
    Mqtt(AsyncClient),
    /// The ingest queue.
    InProcess(Injector),
}

impl Sink {
    fn to_embedded_broker(seed: u64, addr: std::net::SocketAddr) -> Self {
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        };
        let mut options =
            MqttOptions::new(format!("meshcore-analyzer-demo-{seed}"), host, addr.port());
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        tokio::spawn(async move {
            loop {
                if let Err(error) = eventloop.poll().await {
                    tracing::debug!(%error, "Demo MQTT connection error; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        });
        Self::Mqtt(client)
    }

    async fn send(&self, event: &SimEvent) -> anyhow::Result<()> {
        let message = analyzer_sim::mqtt::render(event);
        match self {
            Self::Mqtt(client) => {
                let qos = if matches!(event, SimEvent::Status(_)) {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                };
                client
                    .publish(message.topic, qos, message.retain, message.payload)
                    .await?;
            }
            Self::InProcess(injector) => {
                injector
                    .send(&message.topic, message.payload.into_bytes(), message.retain)
                    .await?;
            }
        }
        Ok(())
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Starts the demo: through the embedded broker at `embedded_broker` when it runs, else
/// in-process through `injector`.
pub fn spawn(
    seed: u64,
    embedded_broker: Option<std::net::SocketAddr>,
    injector: Injector,
    events: broadcast::Receiver<IngestEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(error) = run(seed, embedded_broker, injector, events).await {
            tracing::warn!(%error, "Demo traffic stopped");
        }
    })
}

async fn run(
    seed: u64,
    embedded_broker: Option<std::net::SocketAddr>,
    injector: Injector,
    events: broadcast::Receiver<IngestEvent>,
) -> anyhow::Result<()> {
    // Each observer uploads about a quarter of the copies it hears, which gives the ~20-30
    // observations per transmission of real networks (the reference's production figure is 27).
    let config = SimConfig {
        seed,
        start_ms: unix_ms(),
        capture_probability: 0.25,
        ..SimConfig::default()
    };
    let simulator = Simulator::new(config)?;
    let demo_observers: HashSet<String> = simulator
        .mesh()
        .observers
        .iter()
        .map(|o| o.public_key_hex.clone())
        .collect();
    let last_real = Arc::new(AtomicI64::new(i64::MIN));
    tokio::spawn(watch_real_observers(
        events,
        demo_observers,
        last_real.clone(),
    ));

    let (sink, via) = match embedded_broker {
        Some(addr) => (
            Sink::to_embedded_broker(seed, addr),
            format!("embedded broker {addr}"),
        ),
        None => (Sink::InProcess(injector), "in-process".to_owned()),
    };
    tracing::info!(%via, nodes = simulator.mesh().nodes.len(),
        observers = simulator.mesh().observers.len(), "Demo traffic started");

    let mut paused = false;
    for event in simulator {
        let wait = event.time_ms().saturating_sub(unix_ms());
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        let quiet_since = last_real.load(Ordering::Relaxed);
        let real_active = quiet_since != i64::MIN
            && (unix_ms() as i64).saturating_sub(quiet_since)
                < REAL_TRAFFIC_QUIET.as_millis() as i64;
        if real_active != paused {
            paused = real_active;
            if paused {
                tracing::info!("A real observer is publishing: demo traffic paused");
            } else {
                tracing::info!("No real observer for 10 minutes: demo traffic resumed");
            }
        }
        if !paused {
            sink.send(&event).await?;
        }
    }
    Ok(())
}

async fn watch_real_observers(
    mut events: broadcast::Receiver<IngestEvent>,
    demo_observers: HashSet<String>,
    last_real: Arc<AtomicI64>,
) {
    loop {
        let observer = match events.recv().await {
            Ok(IngestEvent::Packet(packet)) => {
                packet.record.observer.as_ref().map(|o| o.id.clone())
            }
            Ok(IngestEvent::Observer(status)) => Some(status.id.clone()),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if let Some(id) = observer
            && !demo_observers.contains(&id)
        {
            last_real.store(unix_ms() as i64, Ordering::Relaxed);
        }
    }
}
