//! Unit tests for loading, validation, source resolution and precedence.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_config(text, Path::new("config.json"))
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn empty_object_gives_spec_defaults() {
    let c = parse("{}").unwrap();
    assert!(c.validate_signatures());
    assert_eq!(c.foreign_advert_mode(), ForeignAdvertMode::Flag);
    assert_eq!(c.ingest_buffer_size(), 50_000);
    assert_eq!(c.metrics_sample_interval_sec(), 300);
    assert_eq!(c.embedded_broker.enabled, EmbeddedBrokerMode::Auto);
    assert_eq!(c.embedded_broker_port(), 1883);
    assert_eq!(c.client_id_base(), "meshcore-analyzer");
    assert_eq!(c.watchdog_silence_sec(), 300);
}

#[test]
fn corescope_config_with_unknown_keys_loads_and_keeps_them() {
    let text = r##"{
        "port": 8080, "dbPath": "x.db", "apiKey": "abcdefghijklmnopq",
        "mqttSources": [{"name": "local", "broker": "mqtt://localhost:1883",
                         "topics": ["meshcore/+/+/packets", "meshcore/#"], "someFutureKey": 1}],
        "branding": {"siteName": "Mesh"}, "theme": {"accent": "#fff"},
        "https": {"cert": "x"}, "defaultRegion": "SJC",
        "observerIATAWhitelist": ["sjc"], "geo_filter": {"latMin": 1, "latMax": 2, "lonMin": 3, "lonMax": 4},
        "foreignAdverts": {"mode": "DROP"}, "validateSignatures": false,
        "retention": {"nodeDays": 3, "observerDays": -1},
        "runtime": {"maxMemoryMB": 512}, "packetStore": {"maxMemoryMB": 1024, "retentionHours": 168}
    }"##;
    let c = parse(text).unwrap();
    assert_eq!(c.port, Some(8080));
    assert_eq!(c.extra["branding"]["siteName"], "Mesh");
    assert!(c.extra.contains_key("https"));
    assert!(c.extra.contains_key("defaultRegion"));
    assert_eq!(c.observer_iata_whitelist, vec!["sjc".to_owned()]);
    assert_eq!(c.geo_filter.as_ref().unwrap().lat_max, Some(2.0));
    assert_eq!(c.foreign_advert_mode(), ForeignAdvertMode::Drop);
    assert!(!c.validate_signatures());
    assert_eq!(c.retention.observer_days, Some(-1));
    assert_eq!(c.runtime.max_memory_mb, Some(512));
    assert_eq!(c.packet_store.retention_hours, Some(168.0));
    assert_eq!(c.api_key.as_ref().unwrap().expose(), "abcdefghijklmnopq");
    assert!(
        !format!("{c:?}").contains("abcdefghijklmnopq"),
        "secrets must not be in Debug output"
    );
}

#[test]
fn syntax_errors_are_reported_with_position() {
    let e = err("{\"port\": 80,,}");
    assert!(e.starts_with("config.json: (document): "), "{e}");
    assert!(e.contains("line 1"), "{e}");
    assert!(err("{} trailing").contains("(document)"));
}

#[test]
fn type_errors_name_the_key_path() {
    let e = err(
        r#"{"mqttSources": [{"broker": "mqtt://a"}, {"broker": "mqtt://b", "topics": "meshcore/#"}]}"#,
    );
    assert!(
        e.starts_with("config.json: mqttSources[1].topics: invalid type"),
        "{e}"
    );
    let e = err(r#"{"port": "3000"}"#);
    assert!(e.starts_with("config.json: port: invalid type"), "{e}");
    let e = err(r#"{"embeddedBroker": {"enabled": "sometimes"}}"#);
    assert!(
        e.contains("embeddedBroker.enabled") && e.contains("\"sometimes\""),
        "{e}"
    );
}

#[test]
fn unusable_broker_urls_stop_startup_naming_the_key() {
    let e =
        err(r#"{"mqttSources": [{"broker": "mqtt://ok"}, {"name": "x", "broker": "http://bad"}]}"#);
    assert_eq!(
        e,
        "mqttSources[1].broker: unsupported scheme \"http\" (use mqtt://, mqtts://, ws:// or wss://)"
    );
    let e = err(r#"{"mqttSources": [{"name": "x"}]}"#);
    assert_eq!(e, "mqttSources[0].broker: missing broker URL");
    let e = err(r#"{"mqtt": {"broker": "localhost"}}"#);
    assert!(e.starts_with("mqtt.broker: missing scheme"), "{e}");
    let e = err(r#"{"mqttSources": [{"broker": "mqtt://a", "topics": ["meshcore/#/x"]}]}"#);
    assert!(e.starts_with("mqttSources[0].topics[0]:"), "{e}");
}

#[test]
fn other_invalid_values_name_the_key() {
    assert!(
        err(r##"{"channelKeys": {"#test": "zz"}}"##)
            .starts_with("channelKeys.#test: expected 32 hex")
    );
    assert!(err(r#"{"foreignAdverts": {"mode": "reject"}}"#).starts_with("foreignAdverts.mode:"));
    assert!(
        err(r#"{"geo_filter": {"polygon": [[1,2],[3,4]]}}"#)
            .starts_with("geo_filter.polygon: needs at least 3")
    );
    assert!(
        err(r#"{"geo_filter": {"polygon": [[1,2],[3,4],[95,0]]}}"#)
            .starts_with("geo_filter.polygon[2]:")
    );
    assert!(err(r#"{"geo_filter": {"bufferKm": -1}}"#).starts_with("geo_filter.bufferKm:"));
    assert!(
        err(r#"{"embeddedBroker": {"bind": "everywhere"}}"#).starts_with("embeddedBroker.bind:")
    );
}

#[test]
fn embedded_broker_switch_accepts_bool_and_strings() {
    let mode = |v: &str| {
        parse(&format!(r#"{{"embeddedBroker": {{"enabled": {v}}}}}"#))
            .unwrap()
            .embedded_broker
            .enabled
    };
    assert_eq!(mode("true"), EmbeddedBrokerMode::On);
    assert_eq!(mode("false"), EmbeddedBrokerMode::Off);
    assert_eq!(mode("\"auto\""), EmbeddedBrokerMode::Auto);
    assert_eq!(mode("\"OFF\""), EmbeddedBrokerMode::Off);
}

fn sources(text: &str, env: &EnvVars) -> Vec<SourceSettings> {
    resolve_sources(&parse(text).unwrap(), env).unwrap()
}

#[test]
fn sources_from_file_get_defaults() {
    let s = sources(
        r#"{"mqttSources": [
            {"name": "remote", "broker": "mqtts://u:urlpass@broker.example:8883", "rejectUnauthorized": false,
             "iataFilter": ["SJC"], "region": "SJC", "connectTimeoutSec": 45},
            {"broker": "ws://other.example/mqtt", "username": "me", "password": "pw", "clientId": "fixed-id"}
        ]}"#,
        &EnvVars::default(),
    );
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].name, "remote");
    assert_eq!(s[0].broker.scheme, BrokerScheme::Tls);
    assert!(!s[0].tls_verify);
    assert_eq!(s[0].username.as_deref(), Some("u"));
    assert_eq!(s[0].password.as_deref(), Some("urlpass"));
    assert_eq!(s[0].topics, vec!["meshcore/#".to_owned()]);
    assert_eq!(s[0].connect_timeout, Duration::from_secs(45));
    // `meshcore-analyzer-remote` is 24 characters: shortened with a stable hash suffix.
    assert_eq!(
        s[0].client_id,
        derive_client_id("meshcore-analyzer", "remote")
    );
    assert!(s[0].client_id.starts_with("meshcore-analy-") && s[0].client_id.len() == 23);
    assert_eq!(s[0].broker_masked(), "mqtts://u:****@broker.example:8883");
    // No name: the broker URL is the tag; explicit credentials and client id win.
    assert_eq!(s[1].name, "ws://other.example/mqtt");
    assert!(s[1].tls_verify);
    assert_eq!(s[1].username.as_deref(), Some("me"));
    assert_eq!(s[1].password.as_deref(), Some("pw"));
    assert_eq!(s[1].client_id, "fixed-id");
    assert_eq!(s[1].connect_timeout, Duration::from_secs(30));
}

#[test]
fn mqtt_broker_env_replaces_all_sources() {
    let env = EnvVars {
        mqtt_broker: Some("mqtt://envhost:1999".into()),
        ..EnvVars::default()
    };
    let s = sources(
        r#"{"mqttSources": [{"broker": "mqtt://a"}, {"broker": "mqtt://b"}]}"#,
        &env,
    );
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].name, "env");
    assert_eq!(s[0].origin, SourceOrigin::Env);
    assert_eq!(s[0].broker.port, 1999);
    assert_eq!(s[0].topics, vec!["meshcore/#".to_owned()]);
    let env = EnvVars {
        mqtt_topic: Some("meshcore/SJC/#".into()),
        ..env
    };
    assert_eq!(
        sources("{}", &env)[0].topics,
        vec!["meshcore/SJC/#".to_owned()]
    );
    let bad = EnvVars {
        mqtt_broker: Some("http://x".into()),
        ..EnvVars::default()
    };
    let e = resolve_sources(&Config::default(), &bad)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("MQTT_BROKER: unsupported scheme"), "{e}");
}

#[test]
fn legacy_mqtt_block_is_used_when_no_sources() {
    let s = sources(
        r#"{"mqtt": {"broker": "mqtt://legacy:1883", "topic": "mesh/+/packets"}}"#,
        &EnvVars::default(),
    );
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].name, "default");
    assert_eq!(
        s[0].topics,
        vec!["mesh/+/packets".to_owned(), "meshcore/#".to_owned()]
    );
    // A topic already covered by meshcore/# is not subscribed twice (no double delivery).
    let s = sources(
        r#"{"mqtt": {"broker": "mqtt://legacy", "topic": "meshcore/+/+/packets"}}"#,
        &EnvVars::default(),
    );
    assert_eq!(s[0].topics, vec!["meshcore/#".to_owned()]);
}

#[test]
fn local_default_follows_the_embedded_broker_port() {
    let s = sources("{}", &EnvVars::default());
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].name, "local");
    assert_eq!(
        (s[0].broker.host.as_str(), s[0].broker.port),
        ("localhost", 1883)
    );
    let s = sources(
        r#"{"embeddedBroker": {"port": 18831}}"#,
        &EnvVars::default(),
    );
    assert_eq!(s[0].broker.port, 18831);
    let s = sources(
        r#"{"embeddedBroker": {"enabled": false, "port": 18831}}"#,
        &EnvVars::default(),
    );
    assert_eq!(s[0].broker.port, 1883);
}

#[test]
fn duplicate_source_names_are_rejected() {
    let c = parse(r#"{"mqttSources": [{"name": "a", "broker": "mqtt://x"}, {"name": "a", "broker": "mqtt://y"}]}"#).unwrap();
    let e = resolve_sources(&c, &EnvVars::default())
        .unwrap_err()
        .to_string();
    assert_eq!(e, "mqttSources[1].name: duplicate source name \"a\"");
}

#[test]
fn client_ids_are_stable_sanitised_and_portable() {
    assert_eq!(
        derive_client_id("meshcore-analyzer", "local"),
        "meshcore-analyzer-local"
    );
    assert_eq!(derive_client_id("ana", "my broker/1"), "ana-my-broker-1");
    let long = derive_client_id("meshcore-analyzer", "lincomatic-upstream");
    assert_eq!(long.len(), 23);
    assert_eq!(
        long,
        derive_client_id("meshcore-analyzer", "lincomatic-upstream")
    );
    assert_ne!(
        long,
        derive_client_id("meshcore-analyzer", "lincomatic-upstream2")
    );
    let c = parse(
        r#"{"mqtt": {"clientId": "site-b"}, "mqttSources": [{"name": "x", "broker": "mqtt://h"}]}"#,
    )
    .unwrap();
    assert_eq!(
        resolve_sources(&c, &EnvVars::default()).unwrap()[0].client_id,
        "site-b-x"
    );
}

#[test]
fn port_precedence_is_flag_env_file_default() {
    let file = parse(r#"{"port": 8080}"#).unwrap();
    let env = EnvVars {
        port: Some("9090".into()),
        ..EnvVars::default()
    };
    let flag = Overrides {
        port: Some(7070),
        ..Overrides::default()
    };
    assert_eq!(resolve_port(&file, &env, &flag).unwrap(), 7070);
    assert_eq!(
        resolve_port(&file, &env, &Overrides::default()).unwrap(),
        9090
    );
    assert_eq!(
        resolve_port(&file, &EnvVars::default(), &Overrides::default()).unwrap(),
        8080
    );
    assert_eq!(
        resolve_port(
            &Config::default(),
            &EnvVars::default(),
            &Overrides::default()
        )
        .unwrap(),
        3000
    );
    let bad = EnvVars {
        port: Some("http".into()),
        ..EnvVars::default()
    };
    assert_eq!(
        resolve_port(&file, &bad, &Overrides::default())
            .unwrap_err()
            .to_string(),
        "PORT: not a port number: \"http\""
    );
}

#[test]
fn db_path_precedence_is_flag_env_file_default() {
    let file = parse(r#"{"dbPath": "file.db"}"#).unwrap();
    let env = EnvVars {
        db_path: Some("env.db".into()),
        ..EnvVars::default()
    };
    let flag = Overrides {
        db_path: Some("flag.db".into()),
        ..Overrides::default()
    };
    assert_eq!(
        resolve_db_path(&file, &env, &flag),
        PathBuf::from("flag.db")
    );
    assert_eq!(
        resolve_db_path(&file, &env, &Overrides::default()),
        PathBuf::from("env.db")
    );
    assert_eq!(
        resolve_db_path(&file, &EnvVars::default(), &Overrides::default()),
        PathBuf::from("file.db")
    );
    assert_eq!(
        resolve_db_path(
            &Config::default(),
            &EnvVars::default(),
            &Overrides::default()
        ),
        PathBuf::from("data/meshcore.db")
    );
}

#[test]
fn lookup_prefers_dir_then_data_subdir() {
    let dir = tempfile::tempdir().unwrap();
    assert!(locate(dir.path()).is_none());
    let loaded = load_from_dir(dir.path()).unwrap();
    assert!(loaded.path.is_none());
    assert_eq!(loaded.config.port, None);

    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/config.json"), r#"{"port": 2}"#).unwrap();
    let loaded = load_from_dir(dir.path()).unwrap();
    assert_eq!(loaded.config.port, Some(2));
    assert_eq!(
        loaded.path.as_deref(),
        Some(dir.path().join("data/config.json").as_path())
    );
    // The rainbow file defaults to the directory of the config actually used.
    assert_eq!(
        loaded.channel_keys_path(&EnvVars::default()),
        dir.path().join("data/channel-rainbow.json")
    );

    std::fs::write(dir.path().join("config.json"), r#"{"port": 1}"#).unwrap();
    assert_eq!(load_from_dir(dir.path()).unwrap().config.port, Some(1));

    // A broken file stops startup instead of silently falling back.
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let e = load_from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("config.json: (document): key must be a string"),
        "{e}"
    );
}

#[test]
fn channel_keys_path_precedence() {
    let loaded = Loaded {
        config: parse(r#"{"channelKeysPath": "/etc/keys.json"}"#).unwrap(),
        path: Some(PathBuf::from("/srv/app/config.json")),
        config_dir: PathBuf::from("/srv/app"),
    };
    let env = EnvVars {
        channel_keys_path: Some("/env/keys.json".into()),
        ..EnvVars::default()
    };
    assert_eq!(
        loaded.channel_keys_path(&env),
        PathBuf::from("/env/keys.json")
    );
    assert_eq!(
        loaded.channel_keys_path(&EnvVars::default()),
        PathBuf::from("/etc/keys.json")
    );
    let bare = Loaded {
        config: Config::default(),
        ..loaded
    };
    assert_eq!(
        bare.channel_keys_path(&EnvVars::default()),
        PathBuf::from("/srv/app/channel-rainbow.json")
    );
}

#[test]
fn settings_combine_everything() {
    let loaded = Loaded {
        config: parse(r#"{"port": 1234}"#).unwrap(),
        path: None,
        config_dir: PathBuf::from("."),
    };
    let s = loaded
        .settings(&EnvVars::default(), &Overrides::default())
        .unwrap();
    assert_eq!(s.port, 1234);
    assert_eq!(s.sources.len(), 1);
    assert_eq!(s.db_path, PathBuf::from("data/meshcore.db"));
}

#[test]
fn cors_origins_env_wins_over_file() {
    let file = parse(r#"{"corsAllowedOrigins": ["https://a.example", " "]}"#).unwrap();
    assert_eq!(
        resolve_cors_origins(&file, &EnvVars::default()),
        vec!["https://a.example".to_owned()]
    );
    let env = EnvVars {
        cors_allowed_origins: Some("https://b.example, https://c.example,".into()),
        ..EnvVars::default()
    };
    assert_eq!(
        resolve_cors_origins(&file, &env),
        vec![
            "https://b.example".to_owned(),
            "https://c.example".to_owned()
        ]
    );
}

#[test]
fn blacklist_is_trimmed_and_case_insensitive() {
    let c = parse(r#"{"observerBlacklist": [" abcd "]}"#).unwrap();
    assert!(c.is_observer_blacklisted("ABCD"));
    assert!(!c.is_observer_blacklisted("abce"));
    assert!(!c.is_observer_blacklisted(""));
}

proptest::proptest! {
    /// Whatever the file holds, loading returns a config or an error; it never panics, and
    /// resolving sources of a config that loaded never panics either.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        if let Ok(c) = parse(&text) {
            let _ = resolve_sources(&c, &EnvVars::default());
        }
    }

    #[test]
    fn arbitrary_broker_urls_never_panic(url in "(mqtt|mqtts|ws|wss|http|)(://)?[a-z@:\\[\\]0-9./?#]{0,30}") {
        let text = serde_json::json!({"mqttSources": [{"broker": url}]}).to_string();
        if let Ok(c) = parse(&text) {
            let s = resolve_sources(&c, &EnvVars::default()).unwrap();
            proptest::prop_assert!(s[0].broker.port != 0);
        }
    }
}

#[test]
fn server_limits_and_thresholds_have_spec_defaults() {
    let c = parse(r#"{"listLimits": {"nodesMax": 50, "packetsMax": 0}, "healthThresholds": {"nodeSilentHours": 12}}"#).unwrap();
    assert_eq!(c.list_limits.nodes_max(), 50);
    assert_eq!(
        c.list_limits.packets_max(),
        10_000,
        "zero falls back to the default"
    );
    assert_eq!(c.list_limits.channel_messages_max(), 500);
    assert_eq!(c.health_thresholds.node_silent_hours(), 12.0);
    assert_eq!(c.health_thresholds.observer_stale_minutes(), 1440.0);
    assert_eq!(c.health_thresholds.infra_silent_hours(), 72.0);
}
