//! Renders events as the MQTT messages an observer bridge (meshcoretomqtt) publishes:
//! `meshcore/{IATA}/{OBSERVER_PUBKEY}/packets` and `.../status` (ingest.md §1.1, §2.1, §2.2).
//!
//! Field names, value types (the bridge sends most packet numbers as strings) and key order
//! follow the bridge. Timestamps are naive ISO strings as Python's `isoformat()` prints them;
//! the simulator's "local time" is UTC.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::event::{Direction, PacketEvent, SimEvent, StatusEvent};
use crate::mesh::upper_hex;
use crate::radio;
use crate::time::DateTime;

/// One MQTT publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttMessage {
    /// Topic, `meshcore/{IATA}/{pubkey}/packets` or `/status`.
    pub topic: String,
    /// JSON payload.
    pub payload: String,
    /// Whether the bridge publishes it retained (only the "online" status on connect is; the
    /// periodic ones are not).
    pub retain: bool,
}

/// The topic and JSON an observer publishes for `event`.
pub fn render(event: &SimEvent) -> MqttMessage {
    match event {
        SimEvent::Packet(packet) => render_packet(packet),
        SimEvent::Status(status) => render_status(status),
    }
}

#[derive(Serialize)]
struct PacketJson<'a> {
    origin: &'a str,
    origin_id: &'a str,
    timestamp: String,
    #[serde(rename = "type")]
    kind: &'static str,
    direction: &'static str,
    time: String,
    date: String,
    len: String,
    packet_type: String,
    route: &'static str,
    payload_len: String,
    raw: String,
    // The bridge sends the radio fields, the airtime and the hash for received frames only.
    #[serde(rename = "SNR", skip_serializing_if = "Option::is_none")]
    snr: Option<String>,
    #[serde(rename = "RSSI", skip_serializing_if = "Option::is_none")]
    rssi: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

/// The `.../packets` message for a frame an observer heard.
pub fn render_packet(event: &PacketEvent) -> MqttMessage {
    let observer = &event.observer;
    let when = DateTime::from_unix_ms(event.time_ms);
    let raw = &event.raw;
    let layout = Layout::of(raw);
    let rx = event.direction == Direction::Rx;
    let score = event.snr_db.map(|snr| {
        ((radio::reception_probability(f64::from(snr)) * 1000.0).round() as u32).to_string()
    });
    let path = layout
        .filter(|l| rx && l.direct && l.hop_count > 0)
        .map(|l| {
            raw[l.path_start..l.path_start + l.hop_count * l.hash_size]
                .chunks(l.hash_size)
                .map(upper_hex)
                .collect::<Vec<_>>()
                .join(",")
        });
    let json = PacketJson {
        origin: &observer.name,
        origin_id: &observer.public_key_hex,
        timestamp: when.naive_iso(),
        kind: "PACKET",
        direction: event.direction.as_str(),
        time: format!("{:02}:{:02}:{:02}", when.hour, when.minute, when.second),
        date: format!("{}/{}/{}", when.day, when.month, when.year),
        len: raw.len().to_string(),
        packet_type: raw.first().map_or(0, |h| (h >> 2) & 0x0F).to_string(),
        route: if raw.first().is_some_and(|h| matches!(h & 3, 2 | 3)) {
            "D"
        } else {
            "F"
        },
        payload_len: layout
            .map_or(0, |l| raw.len().saturating_sub(l.payload_start))
            .to_string(),
        raw: upper_hex(raw),
        snr: event.snr_db.map(|snr| (snr.round() as i32).to_string()),
        rssi: event.rssi_dbm.map(|rssi| (rssi.round() as i32).to_string()),
        score,
        duration: rx.then(|| (radio::airtime_ms(raw.len()).round() as u64).to_string()),
        hash: rx.then(|| packet_hash(raw)),
        path,
    };
    MqttMessage {
        topic: format!(
            "meshcore/{}/{}/packets",
            observer.iata, observer.public_key_hex
        ),
        payload: serde_json::to_string(&json).unwrap_or_default(),
        retain: false,
    }
}

#[derive(Serialize)]
struct StatusJson<'a> {
    status: &'static str,
    timestamp: String,
    origin: &'a str,
    origin_id: &'a str,
    radio: &'a str,
    model: &'a str,
    firmware_version: &'a str,
    client_version: &'a str,
    stats: StatsJson,
}

#[derive(Serialize)]
struct StatsJson {
    battery_mv: u32,
    uptime_secs: u64,
    debug_flags: u32,
    queue_len: u32,
    noise_floor: i32,
    tx_air_secs: u64,
    rx_air_secs: u64,
    recv_errors: u64,
}

/// The periodic `.../status` message (status "online", not retained).
pub fn render_status(event: &StatusEvent) -> MqttMessage {
    let observer = &event.observer;
    let json = StatusJson {
        status: "online",
        timestamp: DateTime::from_unix_ms(event.time_ms).naive_iso(),
        origin: &observer.name,
        origin_id: &observer.public_key_hex,
        radio: &observer.radio,
        model: &observer.model,
        firmware_version: &observer.firmware,
        client_version: &observer.client_version,
        stats: StatsJson {
            battery_mv: event.battery_mv,
            uptime_secs: event.uptime_secs,
            debug_flags: 0,
            queue_len: event.queue_len,
            noise_floor: event.noise_floor_dbm.round() as i32,
            tx_air_secs: event.tx_air_secs,
            rx_air_secs: event.rx_air_secs,
            recv_errors: event.recv_errors,
        },
    };
    MqttMessage {
        topic: format!(
            "meshcore/{}/{}/status",
            observer.iata, observer.public_key_hex
        ),
        payload: serde_json::to_string(&json).unwrap_or_default(),
        retain: false,
    }
}

/// Where the parts of a well-formed frame start.
#[derive(Clone, Copy)]
struct Layout {
    direct: bool,
    path_start: usize,
    hash_size: usize,
    hop_count: usize,
    payload_start: usize,
}

impl Layout {
    /// The layout, or `None` when the frame is too short or its path does not fit.
    fn of(raw: &[u8]) -> Option<Self> {
        let header = *raw.first()?;
        let path_byte_at = if matches!(header & 3, 0 | 3) { 5 } else { 1 };
        let path_byte = *raw.get(path_byte_at)?;
        let hash_size = usize::from(path_byte >> 6) + 1;
        let hop_count = usize::from(path_byte & 0x3F);
        let payload_start = path_byte_at + 1 + hash_size * hop_count;
        (hash_size <= 3 && payload_start <= raw.len()).then_some(Self {
            direct: matches!(header & 3, 2 | 3),
            path_start: path_byte_at + 1,
            hash_size,
            hop_count,
            payload_start,
        })
    }
}

/// The firmware's packet hash as the bridge prints it: SHA-256 of the payload type, (for
/// TRACE) the path-length byte and a zero, and the payload; first 8 bytes, upper-case hex.
/// Frames without a readable layout get the first 16 hex digits of the frame.
pub fn packet_hash(raw: &[u8]) -> String {
    let Some(layout) = Layout::of(raw) else {
        return upper_hex(&raw[..raw.len().min(8)]);
    };
    let payload_type = (raw[0] >> 2) & 0x0F;
    let mut hasher = Sha256::new();
    hasher.update([payload_type]);
    if payload_type == 9 {
        hasher.update([raw[layout.path_start - 1], 0]);
    }
    hasher.update(&raw[layout.payload_start..]);
    upper_hex(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn packet_hash_matches_the_spec_examples() {
        // v50, v83 and the v88 TRACE (spec §7).
        let v50 = unhex(
            "11451000D818206D3AAC152C8A91F89957E6D30CA51F36E28790228971C473B755F244F718754CF5EE4A2FD58D944466E42CDED140C66D0CC590183E32BAF40F112BE8F3F2BDF6012B4B2793C52F1D36F69EE054D9A05593286F78453E56C0EC4A3EB95DDA2A7543FCCC00B939CACC009278603902FC12BCF84B706120526F6F6620536F6C6172",
        );
        assert_eq!(packet_hash(&v50), "4DF1EC064DA2AC27");
        let v83 =
            unhex("150011C3C1354D619BAE9590E4D177DB7EEAF982F5BDCF78005D75157D9535FA90178F785D");
        assert_eq!(packet_hash(&v83), "B35E8EC0E974A30B");
        assert_eq!(
            packet_hash(&unhex("260130A24D89BD0000000000FB")),
            "2C9D6AB99D59069C"
        );
    }
}
