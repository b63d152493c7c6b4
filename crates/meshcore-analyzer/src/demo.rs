//! Demo traffic: a simulated mesh whose observers publish to the analyzer's broker in real
//! time, so a fresh install shows a living network. It goes quiet while a real observer is
//! publishing and resumes when that observer has been silent for a while.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use analyzer_config::{BrokerScheme, SourceSettings};
use analyzer_ingest::IngestEvent;
use analyzer_sim::{SimConfig, SimEvent, Simulator};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Demo traffic pauses while a real observer has published within this long.
const REAL_TRAFFIC_QUIET: Duration = Duration::from_secs(600);

/// Where the demo publishes: a plain-MQTT broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoTarget {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// The broker the demo should publish to: the embedded broker if it runs, else the first
/// configured plain-MQTT source (by default `mqtt://localhost:1883`).
pub fn target_broker(
    sources: &[SourceSettings],
    embedded_broker: Option<std::net::SocketAddr>,
) -> Option<DemoTarget> {
    if let Some(addr) = embedded_broker {
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        };
        return Some(DemoTarget {
            host,
            port: addr.port(),
        });
    }
    sources
        .iter()
        .find(|s| s.broker.scheme == BrokerScheme::Tcp)
        .map(|s| DemoTarget {
            host: s.broker.host.clone(),
            port: s.broker.port,
        })
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Starts the demo. Without a target broker it logs why and does nothing.
pub fn spawn(
    seed: u64,
    target: Option<DemoTarget>,
    events: broadcast::Receiver<IngestEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(target) = target else {
            tracing::warn!(
                "Demo traffic needs a plain mqtt:// broker to publish to; none is configured"
            );
            return;
        };
        if let Err(error) = run(seed, target, events).await {
            tracing::warn!(%error, "Demo traffic stopped");
        }
    })
}

async fn run(
    seed: u64,
    target: DemoTarget,
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

    let mut options = MqttOptions::new(
        format!("meshcore-analyzer-demo-{seed}"),
        &target.host,
        target.port,
    );
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
    tracing::info!(broker = %format!("{}:{}", target.host, target.port), nodes = simulator.mesh().nodes.len(),
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
        if paused {
            continue;
        }
        let message = analyzer_sim::mqtt::render(&event);
        let qos = if matches!(event, SimEvent::Status(_)) {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        };
        client
            .publish(message.topic, qos, message.retain, message.payload)
            .await?;
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
