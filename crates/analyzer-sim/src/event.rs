//! What the simulator produces: what each observer hears, and its periodic status.

use std::sync::Arc;

use crate::mesh::ObserverInfo;

/// One event of the simulated stream, in time order.
#[derive(Clone, Debug, PartialEq)]
pub enum SimEvent {
    /// An observer heard a frame (an MQTT `.../packets` message).
    Packet(PacketEvent),
    /// An observer reports its status (an MQTT `.../status` message).
    Status(StatusEvent),
}

impl SimEvent {
    /// When it happened, Unix ms.
    pub fn time_ms(&self) -> u64 {
        match self {
            Self::Packet(packet) => packet.time_ms,
            Self::Status(status) => status.time_ms,
        }
    }

    /// Who reported it.
    pub fn observer(&self) -> &Arc<ObserverInfo> {
        match self {
            Self::Packet(packet) => &packet.observer,
            Self::Status(status) => &status.observer,
        }
    }
}

/// An observer heard a frame.
#[derive(Clone, Debug, PartialEq)]
pub struct PacketEvent {
    /// Reception time, Unix ms.
    pub time_ms: u64,
    /// The observer.
    pub observer: Arc<ObserverInfo>,
    /// Whether the observer received the frame or sent it itself (forwarding or
    /// originating); the bridge publishes both.
    pub direction: Direction,
    /// The frame as received or sent (path as it was on air at that moment).
    pub raw: Vec<u8>,
    /// SNR of the reception, dB (`None` for the observer's own transmissions).
    pub snr_db: Option<f32>,
    /// RSSI of the reception, dBm (`None` for the observer's own transmissions).
    pub rssi_dbm: Option<f32>,
    /// Sequence number of the originated packet this is a copy of (all copies of one
    /// transmission share it; TRACE hops too).
    pub packet_id: u64,
    /// Whether the frame was deliberately corrupted (see `SimConfig::malformed_rate`); such a
    /// frame is rejected by a decoder.
    pub malformed: bool,
}

/// Which way a frame went at the observer (MQTT `direction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received over the air (`"rx"`).
    Rx,
    /// Transmitted by the observer itself (`"tx"`).
    Tx,
}

impl Direction {
    /// The bridge's string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rx => "rx",
            Self::Tx => "tx",
        }
    }
}

/// An observer's periodic status (ingest.md §2.2 fields).
#[derive(Clone, Debug, PartialEq)]
pub struct StatusEvent {
    /// Report time, Unix ms.
    pub time_ms: u64,
    /// The observer (model, firmware, radio are in here).
    pub observer: Arc<ObserverInfo>,
    /// Battery voltage, mV.
    pub battery_mv: u32,
    /// Seconds since boot.
    pub uptime_secs: u64,
    /// Noise floor, dBm.
    pub noise_floor_dbm: f32,
    /// Seconds spent transmitting since boot.
    pub tx_air_secs: u64,
    /// Seconds spent receiving since boot.
    pub rx_air_secs: u64,
    /// Frames that failed to decode since boot.
    pub recv_errors: u64,
    /// Packets waiting in the transmit queue.
    pub queue_len: u32,
}
