//! The typed `config.json` model.
//!
//! Key names and defaults are CoreScope's (ingest spec §9.1/§9.2), so a config written for
//! CoreScope loads unchanged. Keys this analyzer does not interpret are kept verbatim in
//! [`Config::extra`] (the server forwards several of them to the front end); they are never an
//! error. Our own additions are `mqtt.clientId`, `mqtt.watchdogSilenceSec`, per-source
//! `clientId` and `embeddedBroker`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The whole `config.json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// SQLite file (`dbPath`); default `data/meshcore.db`. See [`crate::resolve_db_path`].
    pub db_path: Option<String>,
    /// HTTP port (`port`); default 3000. See [`crate::resolve_port`].
    pub port: Option<u16>,
    /// Legacy single broker block, plus our client-id and watchdog settings.
    pub mqtt: MqttSection,
    /// Broker sources (`mqttSources`); empty means "use the fallbacks of §1.3".
    pub mqtt_sources: Vec<MqttSourceConfig>,
    /// Global IATA whitelist (`observerIATAWhitelist`), case-insensitive; empty = all.
    #[serde(rename = "observerIATAWhitelist")]
    pub observer_iata_whitelist: Vec<String>,
    /// Observer ids whose messages are dropped (`observerBlacklist`), case-insensitive.
    pub observer_blacklist: Vec<String>,
    /// Explicit channel keys, name → 32 hex chars (`channelKeys`).
    pub channel_keys: BTreeMap<String, String>,
    /// Rainbow key file (`channelKeysPath`); `CHANNEL_KEYS_PATH` wins.
    pub channel_keys_path: Option<String>,
    /// Channel names whose key is SHA-256(name)[..16] (`hashChannels`).
    pub hash_channels: Vec<String>,
    /// Region names for transport-code scope matching (`hashRegions`).
    pub hash_regions: Vec<String>,
    /// Ed25519 check on adverts (`validateSignatures`, default true).
    pub validate_signatures: Option<bool>,
    /// Geographic filter for adverts (`geo_filter`, snake case as in CoreScope).
    #[serde(rename = "geo_filter")]
    pub geo_filter: Option<GeoFilter>,
    /// What to do with adverts outside the geo filter.
    pub foreign_adverts: ForeignAdverts,
    /// Retention windows.
    pub retention: Retention,
    /// Observer metrics sampling.
    pub metrics: Metrics,
    /// Age after which neighbour edges are pruned (`neighborEdgesMaxAgeDays`, default 5).
    pub neighbor_edges_max_age_days: Option<f64>,
    /// Capacity of the ingest queue between MQTT and the writer (`ingestBufferSize`, default 50000).
    pub ingest_buffer_size: Option<i64>,
    /// Database maintenance knobs.
    pub db: DbSection,
    /// Memory limits.
    pub runtime: RuntimeSection,
    /// Client-RX coverage feature switch.
    pub client_rx_coverage: Toggle,
    /// Parsed, unused by CoreScope (`logLevel`); we use it as the default log filter.
    pub log_level: Option<String>,
    /// Write-endpoint API key (`apiKey`); none ⇒ write endpoints blocked.
    pub api_key: Option<Secret>,
    /// Server list limits.
    pub list_limits: ListLimits,
    /// Node keys hidden from the API (`nodeBlacklist`).
    pub node_blacklist: Vec<String>,
    /// Node-name prefixes hidden from the API (`hiddenNamePrefixes`; no default, as CoreScope).
    pub hidden_name_prefixes: Vec<String>,
    /// IATA code → label (`regions`).
    pub regions: BTreeMap<String, String>,
    /// Health thresholds for the API.
    pub health_thresholds: HealthThresholds,
    /// In-memory packet store knobs.
    pub packet_store: PacketStore,
    /// Allowed CORS origins (`corsAllowedOrigins`; env `CORS_ALLOWED_ORIGINS` wins).
    pub cors_allowed_origins: Vec<String>,
    /// Our addition: the in-process MQTT broker.
    pub embedded_broker: EmbeddedBroker,
    /// HTTP response compression (`compression`).
    pub compression: Compression,
    /// Named areas for the `area=` filter (`areas`: key → label and polygon or box).
    pub areas: BTreeMap<String, Area>,
    /// Initial map view (`mapDefaults`).
    pub map_defaults: MapDefaults,
    /// Every other key, verbatim (front-end passthrough, theme, branding, …).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `mqtt`: CoreScope's legacy single-broker block, plus our session settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MqttSection {
    /// Legacy broker URL, used only when `mqttSources` is empty and `MQTT_BROKER` unset.
    pub broker: Option<String>,
    /// Legacy extra topic for that broker.
    pub topic: Option<String>,
    /// Base of the stable client ids (ours); default `meshcore-analyzer`. Two analyzers sharing
    /// a broker must use different bases, or they take each other's session over.
    pub client_id: Option<String>,
    /// Silence after which a connected source is forced to reconnect (ours); default 300 s.
    pub watchdog_silence_sec: Option<u64>,
}

/// One entry of `mqttSources`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MqttSourceConfig {
    /// Tag used in logs and status; falls back to the broker URL.
    pub name: Option<String>,
    /// Broker URL.
    pub broker: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// `false` ⇒ skip TLS certificate verification.
    pub reject_unauthorized: Option<bool>,
    /// Subscriptions; default `["meshcore/#"]`.
    pub topics: Option<Vec<String>>,
    /// Packet messages only: exact match on the topic's region segment.
    pub iata_filter: Vec<String>,
    /// Region used when the topic's region segment is empty.
    pub region: Option<String>,
    /// Initial-connect wait in seconds (default 30).
    pub connect_timeout_sec: Option<u64>,
    /// Explicit MQTT client id for this source (ours); default derived from `mqtt.clientId`.
    pub client_id: Option<String>,
}

/// `geo_filter`: polygon with buffer, or the legacy bounding box.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct GeoFilter {
    /// `[lat, lon]` vertices; at least 3 to be used.
    pub polygon: Option<Vec<[f64; 2]>>,
    /// Tolerance around the polygon edges, km.
    #[serde(rename = "bufferKm")]
    pub buffer_km: Option<f64>,
    /// Legacy bounding box (all four required).
    #[serde(rename = "latMin")]
    pub lat_min: Option<f64>,
    /// Legacy bounding box.
    #[serde(rename = "latMax")]
    pub lat_max: Option<f64>,
    /// Legacy bounding box.
    #[serde(rename = "lonMin")]
    pub lon_min: Option<f64>,
    /// Legacy bounding box.
    #[serde(rename = "lonMax")]
    pub lon_max: Option<f64>,
}

/// `foreignAdverts`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ForeignAdverts {
    /// `flag` (default) or `drop`, case-insensitive.
    pub mode: Option<String>,
}

/// Parsed `foreignAdverts.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignAdvertMode {
    /// Store the advert and mark the node `foreign_advert=1`.
    Flag,
    /// Drop the message silently.
    Drop,
}

/// `retention`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Retention {
    /// Days before a silent node moves to `inactive_nodes` (default 7).
    pub node_days: Option<i64>,
    /// Days before a silent observer is soft-deleted (default 14; -1 never).
    pub observer_days: Option<i64>,
    /// Days of metrics and dropped packets (default 30).
    pub metrics_days: Option<i64>,
    /// Days of packets (default 0 = keep).
    pub packet_days: Option<i64>,
    /// Days of client receptions (default 0 = keep).
    pub client_rx_days: Option<i64>,
}

/// `metrics`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Metrics {
    /// Observer-metrics bucket width (default 300 s).
    pub sample_interval_sec: Option<i64>,
}

/// `db`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DbSection {
    /// Full VACUUM at startup when auto_vacuum is not incremental (default false).
    pub vacuum_on_startup: Option<bool>,
    /// Pages per incremental vacuum (default 1024).
    pub incremental_vacuum_pages: Option<i64>,
    /// Startup load settings.
    pub load: DbLoad,
}

/// `db.load`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DbLoad {
    /// Rows per chunk at startup (default 10000).
    pub chunk_size: Option<i64>,
}

/// `runtime`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuntimeSection {
    /// Soft memory budget in MiB (0 = none).
    #[serde(rename = "maxMemoryMB")]
    pub max_memory_mb: Option<i64>,
}

/// A block with a single `enabled` switch.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Toggle {
    /// Default false.
    pub enabled: bool,
}

/// `listLimits`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListLimits {
    /// Default 10000.
    pub packets_max: Option<i64>,
    /// Default 2000.
    pub nodes_max: Option<i64>,
    /// Default 200.
    pub analytics_max: Option<i64>,
    /// Default 500.
    pub channel_messages_max: Option<i64>,
    /// Default 200.
    pub bulk_health_max: Option<i64>,
}

/// `healthThresholds`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthThresholds {
    /// Default 24.
    pub infra_degraded_hours: Option<f64>,
    /// Default 72.
    pub infra_silent_hours: Option<f64>,
    /// Default 1.
    pub node_degraded_hours: Option<f64>,
    /// Default 24.
    pub node_silent_hours: Option<f64>,
    /// Default 24.
    pub relay_active_hours: Option<f64>,
    /// Default 60.
    pub observer_online_minutes: Option<f64>,
    /// Default 1440.
    pub observer_stale_minutes: Option<f64>,
}

/// `packetStore`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PacketStore {
    /// In-memory window in hours (0 = unlimited).
    pub retention_hours: Option<f64>,
    /// Memory budget of the store in MiB (0 = none).
    #[serde(rename = "maxMemoryMB")]
    pub max_memory_mb: Option<i64>,
    /// Hot startup window in hours (0 = off).
    pub hot_startup_hours: Option<f64>,
    /// Size warning threshold (0 ⇒ 5,000,000).
    pub max_resolved_pubkey_index_entries: Option<i64>,
    /// Ours: stop the process with a non-zero exit code when the startup load ends failed
    /// (default false: log it and keep serving what was loaded).
    pub exit_on_load_failure: Option<bool>,
}

/// `compression`: gzip of HTTP responses and WebSocket deflate.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Compression {
    /// Gzip responses for clients that accept it. CoreScope defaults to off; we default to on
    /// (JSON compresses about tenfold), `false` turns it off.
    pub gzip: Option<bool>,
    /// permessage-deflate on the WebSocket feed (default false).
    pub websocket: Option<bool>,
    /// Gzip level 1..9; anything else (CoreScope configs may say -1) means the library's
    /// default.
    pub level: Option<i64>,
    /// Smallest body that is compressed, bytes (default 256; negative values count as 0).
    pub min_size_bytes: Option<i64>,
    /// Content types (prefix match) that are compressed; default JSON, JavaScript, XML,
    /// HTML, CSS, plain text and SVG.
    pub content_types: Option<Vec<String>>,
}

impl Compression {
    /// `compression.gzip`, default true.
    pub fn gzip(&self) -> bool {
        self.gzip.unwrap_or(true)
    }
}

/// One entry of `areas`: a label and either a polygon or a latitude/longitude box.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct Area {
    /// Name shown in the area picker; entries without one are not offered.
    pub label: Option<String>,
    /// `[lat, lon]` vertices (at least 3 to be used).
    pub polygon: Option<Vec<[f64; 2]>>,
    /// Box, south edge.
    #[serde(rename = "latMin")]
    pub lat_min: Option<f64>,
    /// Box, north edge.
    #[serde(rename = "latMax")]
    pub lat_max: Option<f64>,
    /// Box, west edge.
    #[serde(rename = "lonMin")]
    pub lon_min: Option<f64>,
    /// Box, east edge.
    #[serde(rename = "lonMax")]
    pub lon_max: Option<f64>,
}

impl Area {
    /// Whether `(lat, lon)` lies inside the area: inside the polygon when it has at least 3
    /// vertices, else inside the box when all four edges are set; false otherwise.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        if !lat.is_finite() || !lon.is_finite() {
            return false;
        }
        if let Some(polygon) = self.polygon.as_deref().filter(|p| p.len() >= 3) {
            return point_in_polygon(polygon, lat, lon);
        }
        match (self.lat_min, self.lat_max, self.lon_min, self.lon_max) {
            (Some(a), Some(b), Some(c), Some(d)) => {
                lat >= a.min(b) && lat <= a.max(b) && lon >= c.min(d) && lon <= c.max(d)
            }
            _ => false,
        }
    }
}

/// Ray casting over `[lat, lon]` vertices (latitude as y, longitude as x).
fn point_in_polygon(polygon: &[[f64; 2]], lat: f64, lon: f64) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let [yi, xi] = polygon[i];
        let [yj, xj] = polygon[j];
        if (yi > lat) != (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// `mapDefaults`: where the map opens.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MapDefaults {
    /// `[lat, lon]` (default `[37.45, -122.0]`).
    pub center: Option<[f64; 2]>,
    /// Zoom level (default 9).
    pub zoom: Option<f64>,
}

/// `embeddedBroker` (ours): an in-process MQTT broker observers can publish to.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmbeddedBroker {
    /// `"auto"` (default: start it when nothing listens on the port), `true` or `false`.
    pub enabled: EmbeddedBrokerMode,
    /// Listening port (default 1883).
    pub port: Option<u16>,
    /// Listening address (default `0.0.0.0`).
    pub bind: Option<String>,
}

/// `embeddedBroker.enabled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum EmbeddedBrokerMode {
    /// Start it when nothing listens on the port.
    #[default]
    Auto,
    /// Always start it (startup fails if the port is taken).
    On,
    /// Never start it.
    Off,
}

impl<'de> Deserialize<'de> for EmbeddedBrokerMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Bool(true) => Ok(Self::On),
            Value::Bool(false) => Ok(Self::Off),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "auto" => Ok(Self::Auto),
                "true" | "on" | "yes" => Ok(Self::On),
                "false" | "off" | "no" => Ok(Self::Off),
                _ => Err(serde::de::Error::custom(format!(
                    "expected \"auto\", true or false, got {s:?}"
                ))),
            },
            other => Err(serde::de::Error::custom(format!(
                "expected \"auto\", true or false, got {other}"
            ))),
        }
    }
}

/// A string that never appears in `Debug` output (passwords, API keys).
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"****\""
        })
    }
}

/// Defaults of the spec, as constants so callers and docs agree.
pub mod defaults {
    /// `dbPath`.
    pub const DB_PATH: &str = "data/meshcore.db";
    /// `port`.
    pub const PORT: u16 = 3000;
    /// Topic subscribed when a source names none.
    pub const TOPIC: &str = "meshcore/#";
    /// Broker of the last-resort local source.
    pub const LOCAL_BROKER: &str = "mqtt://localhost:1883";
    /// `connectTimeoutSec`.
    pub const CONNECT_TIMEOUT_SEC: u64 = 30;
    /// `mqtt.clientId`.
    pub const CLIENT_ID_BASE: &str = "meshcore-analyzer";
    /// `mqtt.watchdogSilenceSec`.
    pub const WATCHDOG_SILENCE_SEC: u64 = 300;
    /// `ingestBufferSize`.
    pub const INGEST_BUFFER_SIZE: usize = 50_000;
    /// `embeddedBroker.port`.
    pub const EMBEDDED_BROKER_PORT: u16 = 1883;
    /// `embeddedBroker.bind`.
    pub const EMBEDDED_BROKER_BIND: &str = "0.0.0.0";
    /// `metrics.sampleIntervalSec`.
    pub const METRICS_SAMPLE_INTERVAL_SEC: i64 = 300;
}

impl Config {
    /// `validateSignatures`, default true.
    pub fn validate_signatures(&self) -> bool {
        self.validate_signatures.unwrap_or(true)
    }

    /// `foreignAdverts.mode`: `drop` (any case) ⇒ drop, anything else ⇒ flag, as CoreScope.
    pub fn foreign_advert_mode(&self) -> ForeignAdvertMode {
        match &self.foreign_adverts.mode {
            Some(m) if m.trim().eq_ignore_ascii_case("drop") => ForeignAdvertMode::Drop,
            _ => ForeignAdvertMode::Flag,
        }
    }

    /// `ingestBufferSize`, default 50000; values below 1 clamp to 1.
    pub fn ingest_buffer_size(&self) -> usize {
        match self.ingest_buffer_size {
            None => defaults::INGEST_BUFFER_SIZE,
            Some(n) if n < 1 => 1,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        }
    }

    /// `metrics.sampleIntervalSec`, default 300; non-positive values fall back to the default.
    pub fn metrics_sample_interval_sec(&self) -> i64 {
        match self.metrics.sample_interval_sec {
            Some(n) if n > 0 => n,
            _ => defaults::METRICS_SAMPLE_INTERVAL_SEC,
        }
    }

    /// `mqtt.watchdogSilenceSec`, default 300 s (minimum 5 s).
    pub fn watchdog_silence_sec(&self) -> u64 {
        self.mqtt
            .watchdog_silence_sec
            .unwrap_or(defaults::WATCHDOG_SILENCE_SEC)
            .max(5)
    }

    /// Base of the stable MQTT client ids.
    pub fn client_id_base(&self) -> &str {
        match self.mqtt.client_id.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => s,
            _ => defaults::CLIENT_ID_BASE,
        }
    }

    /// `embeddedBroker.port`, default 1883.
    pub fn embedded_broker_port(&self) -> u16 {
        self.embedded_broker
            .port
            .unwrap_or(defaults::EMBEDDED_BROKER_PORT)
    }

    /// `embeddedBroker.bind`, default `0.0.0.0`.
    pub fn embedded_broker_bind(&self) -> &str {
        self.embedded_broker
            .bind
            .as_deref()
            .unwrap_or(defaults::EMBEDDED_BROKER_BIND)
    }

    /// True when `observerBlacklist` contains `observer_id` (trimmed, case-insensitive).
    pub fn is_observer_blacklisted(&self, observer_id: &str) -> bool {
        let id = observer_id.trim();
        !id.is_empty()
            && self
                .observer_blacklist
                .iter()
                .any(|b| b.trim().eq_ignore_ascii_case(id))
    }
}

impl ListLimits {
    /// `listLimits.packetsMax`, default 10000.
    pub fn packets_max(&self) -> i64 {
        positive_or(self.packets_max, 10_000)
    }

    /// `listLimits.nodesMax`, default 2000.
    pub fn nodes_max(&self) -> i64 {
        positive_or(self.nodes_max, 2000)
    }

    /// `listLimits.analyticsMax`, default 200.
    pub fn analytics_max(&self) -> i64 {
        positive_or(self.analytics_max, 200)
    }

    /// `listLimits.channelMessagesMax`, default 500.
    pub fn channel_messages_max(&self) -> i64 {
        positive_or(self.channel_messages_max, 500)
    }

    /// `listLimits.bulkHealthMax`, default 200.
    pub fn bulk_health_max(&self) -> i64 {
        positive_or(self.bulk_health_max, 200)
    }
}

impl HealthThresholds {
    /// `infraDegradedHours`, default 24.
    pub fn infra_degraded_hours(&self) -> f64 {
        positive_f_or(self.infra_degraded_hours, 24.0)
    }

    /// `infraSilentHours`, default 72.
    pub fn infra_silent_hours(&self) -> f64 {
        positive_f_or(self.infra_silent_hours, 72.0)
    }

    /// `nodeDegradedHours`, default 1.
    pub fn node_degraded_hours(&self) -> f64 {
        positive_f_or(self.node_degraded_hours, 1.0)
    }

    /// `nodeSilentHours`, default 24.
    pub fn node_silent_hours(&self) -> f64 {
        positive_f_or(self.node_silent_hours, 24.0)
    }

    /// `relayActiveHours`, default 24.
    pub fn relay_active_hours(&self) -> f64 {
        positive_f_or(self.relay_active_hours, 24.0)
    }

    /// `observerOnlineMinutes`, default 60.
    pub fn observer_online_minutes(&self) -> f64 {
        positive_f_or(self.observer_online_minutes, 60.0)
    }

    /// `observerStaleMinutes`, default 1440.
    pub fn observer_stale_minutes(&self) -> f64 {
        positive_f_or(self.observer_stale_minutes, 1440.0)
    }
}

/// The value when set and positive, else the default (CoreScope ignores zero and negatives).
fn positive_or(value: Option<i64>, default: i64) -> i64 {
    value.filter(|v| *v > 0).unwrap_or(default)
}

/// Float version of [`positive_or`].
fn positive_f_or(value: Option<f64>, default: f64) -> f64 {
    value
        .filter(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(default)
}
