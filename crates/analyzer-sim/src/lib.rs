//! A deterministic synthetic MeshCore mesh, for demos, benchmarks and load tests.
//!
//! [`Simulator`] builds a mesh from a [`SimConfig`] (nodes with real Ed25519 keys, names,
//! roles and positions around a city; observers with IATA codes; radio links whose SNR and
//! RSSI fall with distance) and runs traffic on it: signed adverts, channel messages on Public
//! and hashtag channels, direct messages with their ACK/PATH replies, requests and responses,
//! anonymous logins, traces with per-hop SNR, node discovery, RAW_CUSTOM, and a configurable
//! share of malformed frames. It is an `Iterator` of [`SimEvent`]s in time order: what each
//! observer heard (frame, SNR, RSSI) and its periodic status. [`mqtt::render`] turns an event
//! into the exact topic and JSON an observer bridge publishes.
//!
//! Every frame is built by `meshcore_wire::encode`, so it is valid MeshCore (apart from the
//! deliberately malformed ones, which are flagged). Same seed and settings, same events.
//!
//! ```
//! use analyzer_sim::{SimConfig, SimEvent, Simulator, mqtt};
//!
//! // 200 transmissions (packets heard by at least one observer) on a small mesh.
//! let config = SimConfig { nodes: 60, observers: 4, max_packets: Some(200), ..SimConfig::default() };
//! let mut sim = Simulator::new(config)?;
//! let first = sim.next().expect("events");
//! let message = mqtt::render(&first);
//! assert!(message.topic.starts_with("meshcore/"));
//! assert_eq!(sim.by_ref().count() > 0, true);
//! assert_eq!(sim.packets_observed(), 200);
//! # Ok::<(), analyzer_sim::SimError>(())
//! ```
//!
//! A database generator asks for "N transmissions with about M observations over D days"
//! with [`SimConfig::for_database`] then [`Simulator::calibrate`]; a live demo uses
//! [`SimConfig::for_demo`] and paces events by their timestamps (or [`publish`] with
//! [`publish::Pace::SimulatedTime`]).
//!
//! Not modelled: collisions and channel occupancy (overlapping floods do not interfere),
//! duty-cycle limits, node churn, and clock drift beyond a fixed per-node skew.

pub mod config;
pub mod event;
pub mod mesh;
pub mod mqtt;
pub mod names;
#[cfg(feature = "publish")]
pub mod publish;
pub mod radio;
mod sim;
pub mod time;

pub use config::{Airport, SimConfig, TrafficMix};
pub use event::{Direction, PacketEvent, SimEvent, StatusEvent};
pub use mesh::{Mesh, Node, ObserverInfo, Role};
pub use sim::Simulator;

/// Why a simulation could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A setting is out of range; the message says which.
    #[error("invalid simulator settings: {0}")]
    InvalidConfig(String),
}
