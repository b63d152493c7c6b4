//! `config.json` for the MeshCore analyzer: CoreScope's keys and defaults, its file lookup, the
//! MQTT source resolution order and the flag > env > file precedence of `port` and `dbPath`.
//!
//! The crate reads the config file and the process environment and nothing else. Every error
//! names the key (or environment variable) and the problem, e.g.
//! `mqttSources[1].broker: unsupported scheme "http" (use mqtt://, mqtts://, ws:// or wss://)`.
//!
//! Typical use in the binary:
//!
//! ```no_run
//! use analyzer_config::{EnvVars, Overrides, load_from_dir};
//! let loaded = load_from_dir(std::path::Path::new(".")).expect("config");
//! let env = EnvVars::from_process();
//! let settings = loaded.settings(&env, &Overrides::default()).expect("settings");
//! println!("{} sources, port {}", settings.sources.len(), settings.port);
//! ```

mod broker_url;
mod model;
mod sources;

use std::path::{Path, PathBuf};

pub use broker_url::{BrokerScheme, BrokerUrl, BrokerUrlError, mask_password};
pub use model::{
    Area, Compression, Config, DbLoad, DbSection, EmbeddedBroker, EmbeddedBrokerMode,
    ForeignAdvertMode, ForeignAdverts, GeoFilter, HealthThresholds, ListLimits, MapDefaults,
    Metrics, MqttSection, MqttSourceConfig, PacketStore, Retention, RuntimeSection, Secret, Toggle,
    defaults,
};
pub use sources::{SourceOrigin, SourceSettings, derive_client_id, resolve_sources};

/// Why the configuration cannot be used. Startup stops on any of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON, or a key has the wrong type.
    #[error("{path}: {key}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// Key path such as `mqttSources[0].topics`, or `(document)` for syntax errors.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A value parses but cannot be used.
    #[error("{key}: {message}")]
    Invalid {
        /// Key path (`mqttSources[1].broker`) or environment variable (`MQTT_BROKER`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The environment variables the analyzer honours. Captured once so tests can supply their own.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    /// `MQTT_BROKER`: replaces every configured source with one source named `env`.
    pub mqtt_broker: Option<String>,
    /// `MQTT_TOPIC`: topic of that source (default `meshcore/#`).
    pub mqtt_topic: Option<String>,
    /// `PORT`: HTTP port, below the `--port` flag and above `port`.
    pub port: Option<String>,
    /// `DB_PATH`: database, below the `--db` flag and above `dbPath`.
    pub db_path: Option<String>,
    /// `CHANNEL_KEYS_PATH`: rainbow key file, above `channelKeysPath`.
    pub channel_keys_path: Option<String>,
    /// `CORS_ALLOWED_ORIGINS`: comma list, above `corsAllowedOrigins`.
    pub cors_allowed_origins: Option<String>,
}

impl EnvVars {
    /// Reads the variables from the process environment; empty values count as unset.
    pub fn from_process() -> Self {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            mqtt_broker: get("MQTT_BROKER"),
            mqtt_topic: get("MQTT_TOPIC"),
            port: get("PORT"),
            db_path: get("DB_PATH"),
            channel_keys_path: get("CHANNEL_KEYS_PATH"),
            cors_allowed_origins: get("CORS_ALLOWED_ORIGINS"),
        }
    }
}

/// Values given on the command line; they win over everything.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--port`.
    pub port: Option<u16>,
    /// `--db`.
    pub db_path: Option<PathBuf>,
}

/// A parsed config and where it came from.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The config (all defaults when no file was found).
    pub config: Config,
    /// The file it was read from, if any.
    pub path: Option<PathBuf>,
    /// The config directory that was searched.
    pub config_dir: PathBuf,
}

/// Everything the process needs to start, resolved and validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// HTTP port.
    pub port: u16,
    /// SQLite file.
    pub db_path: PathBuf,
    /// MQTT sources in config order.
    pub sources: Vec<SourceSettings>,
    /// Rainbow channel-key file to try (it may not exist).
    pub channel_keys_path: PathBuf,
    /// Allowed CORS origins: `CORS_ALLOWED_ORIGINS` (comma list) > `corsAllowedOrigins`.
    pub cors_allowed_origins: Vec<String>,
}

/// Parses config text. `path` is only used in error messages.
pub fn parse_config(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let config: Config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let key = e.path().to_string();
        let syntax = e.inner().is_syntax() || e.inner().is_eof();
        let key = if syntax || matches!(key.as_str(), "" | "." | "?") {
            "(document)".to_owned()
        } else {
            key
        };
        ConfigError::Parse {
            path: path.to_owned(),
            key,
            message: e.inner().to_string(),
        }
    })?;
    de.end().map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        key: "(document)".to_owned(),
        message: e.to_string(),
    })?;
    validate(&config)?;
    Ok(config)
}

/// Reads and parses one file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_config(&text, path)
}

/// The config file the server uses for `config_dir`: `<dir>/config.json`, else
/// `<dir>/data/config.json` (CoreScope's lookup). `None` when neither exists.
pub fn locate(config_dir: &Path) -> Option<PathBuf> {
    [
        config_dir.join("config.json"),
        config_dir.join("data").join("config.json"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Finds and loads the config of `config_dir`. No file ⇒ all defaults. Unlike CoreScope's
/// server, which silently skips an unparseable file, a file that exists but does not parse
/// stops startup: running on defaults next to a broken config hides the mistake.
pub fn load_from_dir(config_dir: &Path) -> Result<Loaded, ConfigError> {
    let path = locate(config_dir);
    let config = match &path {
        Some(p) => load_file(p)?,
        None => Config::default(),
    };
    Ok(Loaded {
        config,
        path,
        config_dir: config_dir.to_owned(),
    })
}

impl Loaded {
    /// Resolves port, database, sources and key file against the environment and flags.
    pub fn settings(&self, env: &EnvVars, overrides: &Overrides) -> Result<Settings, ConfigError> {
        Ok(Settings {
            port: resolve_port(&self.config, env, overrides)?,
            db_path: resolve_db_path(&self.config, env, overrides),
            sources: resolve_sources(&self.config, env)?,
            channel_keys_path: self.channel_keys_path(env),
            cors_allowed_origins: resolve_cors_origins(&self.config, env),
        })
    }

    /// `CHANNEL_KEYS_PATH` > `channelKeysPath` > `<dir of config>/channel-rainbow.json`.
    pub fn channel_keys_path(&self, env: &EnvVars) -> PathBuf {
        if let Some(p) = &env.channel_keys_path {
            return PathBuf::from(p);
        }
        if let Some(p) = self
            .config
            .channel_keys_path
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            return PathBuf::from(p);
        }
        let dir = match &self.path {
            Some(p) => p.parent().map(Path::to_owned).unwrap_or_default(),
            None => self.config_dir.clone(),
        };
        dir.join("channel-rainbow.json")
    }
}

/// `CORS_ALLOWED_ORIGINS` (comma-separated, blanks dropped) > `corsAllowedOrigins`.
pub fn resolve_cors_origins(config: &Config, env: &EnvVars) -> Vec<String> {
    let clean = |v: &mut dyn Iterator<Item = &str>| -> Vec<String> {
        v.map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match &env.cors_allowed_origins {
        Some(list) => clean(&mut list.split(',')),
        None => clean(&mut config.cors_allowed_origins.iter().map(String::as_str)),
    }
}

/// `--port` > `PORT` > `port` > 3000.
pub fn resolve_port(
    config: &Config,
    env: &EnvVars,
    overrides: &Overrides,
) -> Result<u16, ConfigError> {
    if let Some(p) = overrides.port {
        return Ok(p);
    }
    if let Some(text) = &env.port {
        return text
            .trim()
            .parse::<u16>()
            .map_err(|_| ConfigError::invalid("PORT", format!("not a port number: {text:?}")));
    }
    Ok(config.port.unwrap_or(defaults::PORT))
}

/// `--db` > `DB_PATH` > `dbPath` > `data/meshcore.db`.
pub fn resolve_db_path(config: &Config, env: &EnvVars, overrides: &Overrides) -> PathBuf {
    if let Some(p) = &overrides.db_path {
        return p.clone();
    }
    if let Some(p) = &env.db_path {
        return PathBuf::from(p);
    }
    match config.db_path.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(defaults::DB_PATH),
    }
}

/// Checks the values that parse but cannot work. Sources are checked by [`resolve_sources`].
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    for (i, source) in config.mqtt_sources.iter().enumerate() {
        sources::validate_source(source, i)?;
    }
    if let Some(broker) = config
        .mqtt
        .broker
        .as_deref()
        .filter(|b| !b.trim().is_empty())
    {
        BrokerUrl::parse(broker).map_err(|e| ConfigError::invalid("mqtt.broker", e.to_string()))?;
    }
    for (name, key) in &config.channel_keys {
        let ok = key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(ConfigError::invalid(
                format!("channelKeys.{name}"),
                format!("expected 32 hex characters (a 16-byte AES key), got {key:?}"),
            ));
        }
    }
    if let Some(geo) = &config.geo_filter {
        validate_geo_filter(geo)?;
    }
    if let Some(mode) = &config.foreign_adverts.mode {
        let m = mode.trim();
        if !m.eq_ignore_ascii_case("flag") && !m.eq_ignore_ascii_case("drop") {
            return Err(ConfigError::invalid(
                "foreignAdverts.mode",
                format!("expected \"flag\" or \"drop\", got {mode:?}"),
            ));
        }
    }
    if config.embedded_broker.port == Some(0) {
        return Err(ConfigError::invalid(
            "embeddedBroker.port",
            "port 0 is not a listening port",
        ));
    }
    if let Some(bind) = &config.embedded_broker.bind {
        if bind.parse::<std::net::IpAddr>().is_err() {
            return Err(ConfigError::invalid(
                "embeddedBroker.bind",
                format!(
                    "expected an IP address such as \"0.0.0.0\" or \"127.0.0.1\", got {bind:?}"
                ),
            ));
        }
    }
    Ok(())
}

fn validate_geo_filter(geo: &GeoFilter) -> Result<(), ConfigError> {
    if let Some(polygon) = &geo.polygon {
        for (i, [lat, lon]) in polygon.iter().enumerate() {
            if !lat.is_finite() || !lon.is_finite() || lat.abs() > 90.0 || lon.abs() > 180.0 {
                return Err(ConfigError::invalid(
                    format!("geo_filter.polygon[{i}]"),
                    format!("[{lat}, {lon}] is not a [lat, lon] pair within ±90/±180"),
                ));
            }
        }
        if !polygon.is_empty() && polygon.len() < 3 {
            return Err(ConfigError::invalid(
                "geo_filter.polygon",
                format!(
                    "needs at least 3 [lat, lon] vertices, got {}",
                    polygon.len()
                ),
            ));
        }
    }
    if let Some(b) = geo.buffer_km {
        if !b.is_finite() || b < 0.0 {
            return Err(ConfigError::invalid(
                "geo_filter.bufferKm",
                format!("must be ≥ 0, got {b}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
