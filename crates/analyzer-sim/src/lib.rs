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
