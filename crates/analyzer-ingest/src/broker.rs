//! The embedded MQTT broker (feature `embedded-broker`): rumqttd in-process, so observers can
//! publish straight to the analyzer without a Mosquitto install. Our own client then connects
//! to it like to any other broker.
//!
//! Limits: rumqttd has no shutdown API, so the broker runs on its own threads until the
//! process exits, and one process can run it once per port. It speaks MQTT 3.1.1 without TLS
//! or authentication here: bind it to a trusted network (`embeddedBroker.bind`). Persistent
//! sessions (clean session false) are kept in memory only: a restart of the analyzer loses
//! what the embedded broker held, unlike an external broker.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use analyzer_config::{Config, EmbeddedBrokerMode};
use rumqttd::{ConnectionSettings, RouterConfig, ServerSettings};

/// Why the embedded broker did not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// `embeddedBroker.bind` is not an IP address.
    #[error("embeddedBroker.bind: {0:?} is not an IP address")]
    BadBind(String),
    /// The port is taken (only an error when the broker is forced on).
    #[error("embedded MQTT broker: cannot listen on {addr}: {source}")]
    PortTaken {
        /// Address tried.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// The broker thread could not be spawned.
    #[error("embedded MQTT broker: cannot start its thread: {0}")]
    Spawn(std::io::Error),
    /// The broker did not accept connections in time.
    #[error("embedded MQTT broker did not come up on {0}")]
    NotListening(SocketAddr),
}

/// What [`start_from_config`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerStart {
    /// Running on this address.
    Started(SocketAddr),
    /// `auto` and something already listens on the port (e.g. Mosquitto): not started.
    PortInUse(SocketAddr),
    /// Switched off.
    Disabled,
}

/// Starts the broker per `embeddedBroker`: `true` ⇒ start (error if the port is taken),
/// `"auto"` ⇒ start when the port is free, `false` ⇒ do nothing.
pub fn start_from_config(config: &Config) -> Result<BrokerStart, BrokerError> {
    let bind_text = config.embedded_broker_bind();
    let bind: IpAddr = bind_text
        .parse()
        .map_err(|_| BrokerError::BadBind(bind_text.to_owned()))?;
    let addr = SocketAddr::new(bind, config.embedded_broker_port());
    match config.embedded_broker.enabled {
        EmbeddedBrokerMode::Off => Ok(BrokerStart::Disabled),
        EmbeddedBrokerMode::On => start(addr).map(BrokerStart::Started),
        EmbeddedBrokerMode::Auto => match start(addr) {
            Ok(a) => Ok(BrokerStart::Started(a)),
            Err(BrokerError::PortTaken { .. }) => {
                tracing::info!(%addr, "Something already listens on the MQTT port; not starting the embedded broker");
                Ok(BrokerStart::PortInUse(addr))
            }
            Err(e) => Err(e),
        },
    }
}

/// Starts rumqttd on `addr` (port 0 picks a free port) and waits until it accepts
/// connections. Returns the address it listens on.
pub fn start(addr: SocketAddr) -> Result<SocketAddr, BrokerError> {
    // rumqttd binds inside its own thread and only logs a failure there; probe first so a
    // taken port is reported to the caller.
    let probe =
        TcpListener::bind(addr).map_err(|source| BrokerError::PortTaken { addr, source })?;
    let addr = probe
        .local_addr()
        .map_err(|source| BrokerError::PortTaken { addr, source })?;
    drop(probe);

    let server = ServerSettings {
        name: "embedded-v4".to_owned(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = rumqttd::Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 500,
            // Per-filter in-memory log of 8 × 8 MiB (about 400,000 packet messages): the backlog
            // a slow or absent persistent subscriber can fall behind by before rumqttd drops the
            // oldest segment. Memory is only used as the log fills.
            max_segment_size: 8 << 20,
            max_segment_count: 8,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("embedded".to_owned(), server)])),
        ..rumqttd::Config::default()
    };
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("embedded-mqtt".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "Embedded MQTT broker stopped");
            }
        })
        .map_err(BrokerError::Spawn)?;
    let connect_to = if addr.ip().is_unspecified() {
        SocketAddr::new(
            if addr.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            },
            addr.port(),
        )
    } else {
        addr
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&connect_to, Duration::from_millis(200)).is_ok() {
            tracing::info!(%addr, "Embedded MQTT broker listening");
            return Ok(addr);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::NotListening(addr))
}
