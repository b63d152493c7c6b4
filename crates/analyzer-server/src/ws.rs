//! The live feed: `/ws` broadcasts each new observation as `{"type":"packet","data":{…}}`.
//!
//! A message is serialised once and shared by every client.

use std::sync::Arc;

use analyzer_db::{PacketObservation, PacketWrite};
use tokio::sync::broadcast;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Messages queued per client before it counts as lagging.
const CLIENT_QUEUE: usize = 1024;

/// One live message, serialised once.
#[derive(Debug)]
pub struct LiveMessage {
    /// The JSON text sent to clients.
    pub json: Arc<str>,
    /// Header payload type (for subscriptions).
    pub payload_type: u8,
}

/// Fan-out of live messages to every connected client.
pub struct LiveHub {
    sender: broadcast::Sender<Arc<LiveMessage>>,
}

impl LiveHub {
    pub(crate) fn new() -> Self {
        Self {
            sender: broadcast::channel(CLIENT_QUEUE).0,
        }
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        self.sender.receiver_count()
    }

    /// A receiver of every message published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveMessage>> {
        self.sender.subscribe()
    }

    pub(crate) fn publish(
        &self,
        _state: &AppState,
        packet: &PacketObservation,
        write: &PacketWrite,
    ) {
        if self.sender.receiver_count() == 0 {
            return;
        }
        let data = serde_json::json!({
            "type": "packet",
            "data": {
                "id": write.transmission_id,
                "raw_hex": packet.raw_hex,
                "hash": String::from_utf8_lossy(&packet.hash.to_hex()),
                "payload_type": packet.payload_type,
                "route_type": packet.route_type,
                "decoded_json": packet.decoded_json,
                "path_json": packet.path_json,
                "snr": packet.snr,
                "rssi": packet.rssi,
            }
        });
        let _ = self.sender.send(Arc::new(LiveMessage {
            json: data.to_string().into(),
            payload_type: packet.payload_type,
        }));
    }
}

/// The `/ws` route.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
