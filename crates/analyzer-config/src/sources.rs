//! MQTT source resolution (ingest spec §1.3) and stable client ids.
//!
//! Order: `mqttSources` from the file; `MQTT_BROKER` replaces them all with one source named
//! `env`; otherwise the legacy `mqtt.broker` becomes a source named `default`; otherwise one
//! source named `local` on `mqtt://localhost:<embeddedBroker.port>` (1883 by default).

use std::time::Duration;

use crate::{BrokerUrl, Config, ConfigError, MqttSourceConfig, defaults};

/// Where a source came from, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceOrigin {
    /// `mqttSources[i]`.
    File(usize),
    /// `MQTT_BROKER`.
    Env,
    /// Legacy `mqtt.broker`.
    Legacy,
    /// The local default.
    LocalDefault,
}

/// One broker connection, validated and with every default applied.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Tag in logs and status (unique; duplicates are rejected).
    pub name: String,
    /// Where it came from.
    pub origin: SourceOrigin,
    /// The broker as written (shown masked).
    pub broker_raw: String,
    /// The parsed broker URL.
    pub broker: BrokerUrl,
    /// User name (config, else the URL's).
    pub username: Option<String>,
    /// Password (config, else the URL's).
    pub password: Option<String>,
    /// Verify the broker's TLS certificate (`rejectUnauthorized` ≠ false).
    pub tls_verify: bool,
    /// Subscriptions (QoS 1).
    pub topics: Vec<String>,
    /// Per-source region filter for packet messages (exact match).
    pub iata_filter: Vec<String>,
    /// Region used when the topic has an empty region segment.
    pub region: Option<String>,
    /// How long startup waits for the first connection before going on without it.
    pub connect_timeout: Duration,
    /// Stable MQTT client id; the broker keeps the session (subscriptions and queued QoS 1
    /// messages) under this id while we are away.
    pub client_id: String,
}

impl SourceSettings {
    /// The broker URL with the password masked.
    pub fn broker_masked(&self) -> String {
        crate::mask_password(&self.broker_raw)
    }
}

/// Maximum client-id length every MQTT 3.1.1 broker must accept.
const PORTABLE_CLIENT_ID_LEN: usize = 23;

/// `<base>-<name>` reduced to `[A-Za-z0-9_-]`; when longer than 23 characters (the length every
/// 3.1.1 broker must accept), the tail is replaced by a hash of the full id so it stays unique
/// and stable.
pub fn derive_client_id(base: &str, source_name: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let full = format!("{}-{}", clean(base), clean(source_name));
    if full.len() <= PORTABLE_CLIENT_ID_LEN {
        return full;
    }
    // FNV-1a 32: stable across releases and platforms, unlike std's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for b in full.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{}-{hash:08x}", &full[..PORTABLE_CLIENT_ID_LEN - 9])
}

pub(crate) fn validate_source(source: &MqttSourceConfig, index: usize) -> Result<(), ConfigError> {
    let key = |field: &str| format!("mqttSources[{index}].{field}");
    let broker = source.broker.as_deref().unwrap_or("");
    if broker.trim().is_empty() {
        return Err(ConfigError::invalid(key("broker"), "missing broker URL"));
    }
    BrokerUrl::parse(broker).map_err(|e| ConfigError::invalid(key("broker"), e.to_string()))?;
    if let Some(topics) = &source.topics {
        for (t, topic) in topics.iter().enumerate() {
            check_topic_filter(topic)
                .map_err(|m| ConfigError::invalid(key(&format!("topics[{t}]")), m))?;
        }
    }
    if let Some(id) = &source.client_id {
        if id.trim().is_empty() {
            return Err(ConfigError::invalid(key("clientId"), "must not be empty"));
        }
    }
    Ok(())
}

/// MQTT filter rules: non-empty, `#` only as the last level, `+` only as a whole level.
fn check_topic_filter(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("empty topic filter".to_owned());
    }
    let levels: Vec<&str> = topic.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i != levels.len() - 1) {
            return Err(format!("{topic:?}: '#' must be the whole last level"));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!("{topic:?}: '+' must be a whole level"));
        }
    }
    Ok(())
}

/// Applies the §1.3 order and validates the result. Names must be unique (CoreScope only logs
/// duplicates; two sources with one name would share a client id and fight over the session).
pub fn resolve_sources(
    config: &Config,
    env: &crate::EnvVars,
) -> Result<Vec<SourceSettings>, ConfigError> {
    let base = config.client_id_base();
    let mut out = Vec::new();
    if let Some(broker) = env.mqtt_broker.as_deref().filter(|b| !b.trim().is_empty()) {
        let topic = env.mqtt_topic.clone().filter(|t| !t.trim().is_empty());
        let topics = vec![topic.unwrap_or_else(|| defaults::TOPIC.to_owned())];
        check_topic_filter(&topics[0]).map_err(|m| ConfigError::invalid("MQTT_TOPIC", m))?;
        out.push(simple_source(
            "env",
            broker,
            topics,
            SourceOrigin::Env,
            "MQTT_BROKER",
            base,
        )?);
    } else if !config.mqtt_sources.is_empty() {
        for (i, source) in config.mqtt_sources.iter().enumerate() {
            validate_source(source, i)?;
            let broker_raw = source.broker.clone().unwrap_or_default().trim().to_owned();
            let broker = BrokerUrl::parse(&broker_raw).map_err(|e| {
                ConfigError::invalid(format!("mqttSources[{i}].broker"), e.to_string())
            })?;
            let name = match source.name.as_deref().map(str::trim) {
                Some(n) if !n.is_empty() => n.to_owned(),
                _ => crate::mask_password(&broker_raw),
            };
            let topics = match &source.topics {
                Some(t) if !t.is_empty() => t.clone(),
                _ => vec![defaults::TOPIC.to_owned()],
            };
            let client_id = match source.client_id.as_deref().map(str::trim) {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => derive_client_id(base, &name),
            };
            out.push(SourceSettings {
                username: nonempty(source.username.clone()).or_else(|| broker.username.clone()),
                password: nonempty(source.password.as_ref().map(|p| p.expose().to_owned()))
                    .or_else(|| broker.password.clone()),
                tls_verify: source.reject_unauthorized != Some(false),
                iata_filter: source.iata_filter.clone(),
                region: nonempty(source.region.clone()),
                connect_timeout: Duration::from_secs(
                    source
                        .connect_timeout_sec
                        .filter(|s| *s > 0)
                        .unwrap_or(defaults::CONNECT_TIMEOUT_SEC),
                ),
                name,
                origin: SourceOrigin::File(i),
                broker_raw,
                broker,
                topics,
                client_id,
            });
        }
    } else if let Some(broker) = config
        .mqtt
        .broker
        .as_deref()
        .filter(|b| !b.trim().is_empty())
    {
        let mut topics = Vec::new();
        if let Some(t) = config
            .mqtt
            .topic
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        {
            check_topic_filter(t).map_err(|m| ConfigError::invalid("mqtt.topic", m))?;
            topics.push(t.to_owned());
        }
        // CoreScope subscribes to the legacy topic *and* meshcore/#; the overlap makes brokers
        // deliver a publish twice (spec §12.15), so the catch-all alone is enough when present.
        if !topics.iter().any(|t| t == defaults::TOPIC) {
            topics.retain(|t| !t.starts_with("meshcore/"));
            topics.push(defaults::TOPIC.to_owned());
        }
        out.push(simple_source(
            "default",
            broker,
            topics,
            SourceOrigin::Legacy,
            "mqtt.broker",
            base,
        )?);
    } else {
        let url = if config.embedded_broker.enabled == crate::EmbeddedBrokerMode::Off {
            defaults::LOCAL_BROKER.to_owned()
        } else {
            format!("mqtt://localhost:{}", config.embedded_broker_port())
        };
        let topics = vec![defaults::TOPIC.to_owned()];
        out.push(simple_source(
            "local",
            &url,
            topics,
            SourceOrigin::LocalDefault,
            "(default)",
            base,
        )?);
    }
    for (i, s) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.name == s.name) {
            let key = match s.origin {
                SourceOrigin::File(j) => format!("mqttSources[{j}].name"),
                _ => "mqttSources".to_owned(),
            };
            return Err(ConfigError::invalid(
                key,
                format!("duplicate source name {:?}", s.name),
            ));
        }
        if out[..i].iter().any(|o| o.client_id == s.client_id) {
            let key = match s.origin {
                SourceOrigin::File(j) => format!("mqttSources[{j}].clientId"),
                _ => "mqttSources".to_owned(),
            };
            return Err(ConfigError::invalid(
                key,
                format!("duplicate MQTT client id {:?}", s.client_id),
            ));
        }
    }
    Ok(out)
}

fn simple_source(
    name: &str,
    broker_raw: &str,
    topics: Vec<String>,
    origin: SourceOrigin,
    key: &str,
    base: &str,
) -> Result<SourceSettings, ConfigError> {
    let broker =
        BrokerUrl::parse(broker_raw).map_err(|e| ConfigError::invalid(key, e.to_string()))?;
    Ok(SourceSettings {
        name: name.to_owned(),
        origin,
        broker_raw: broker_raw.trim().to_owned(),
        username: broker.username.clone(),
        password: broker.password.clone(),
        tls_verify: true,
        topics,
        iata_filter: Vec::new(),
        region: None,
        connect_timeout: Duration::from_secs(defaults::CONNECT_TIMEOUT_SEC),
        client_id: derive_client_id(base, name),
        broker,
    })
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}
