//! Contract tests: config endpoints (spec api.md §8).

use std::path::Path;
use std::sync::{Arc, Mutex};

use analyzer_config::Config;
use analyzer_db::StorageReader;
use analyzer_server::{AppState, AppStateBuilder, ReaderHandle, router};
use analyzer_sqlite::{OpenOptions, SqliteReader};
use analyzer_store::{LoadConfig, StartupLoader, Store};
use axum::Router;
use axum::http::Method;
use serde_json::{Value, json};

use crate::common::*;

/// A state builder over the fixture database (fully loaded, clock at [`NOW`]) with
/// `config`, for tests that need the builder's other settings (config dir, CORS origins).
pub fn builder_with(config: Config) -> AppStateBuilder {
    let db = database();
    let options = OpenOptions::default();
    let store = Store::new();
    let loader_reader = SqliteReader::open(db, &options).expect("loader reader");
    StartupLoader::new(
        store.clone(),
        loader_reader,
        LoadConfig {
            hot_startup_hours: 0.0,
            retention_hours: 0.0,
            chunk_size: 0,
            max_memory_mb: 0,
        },
    )
    .run()
    .expect("fixture load");
    let reader: ReaderHandle = Arc::new(Mutex::new(Box::new(
        SqliteReader::open(db, &options).expect("reader"),
    )));
    AppState::builder(reader, store)
        .config(Arc::new(config))
        .clock(Arc::new(|| NOW))
        .cors_allowed_origins(Vec::new())
}

/// The fixture config with `extra` merged in (top-level keys).
pub fn config_plus(extra: Value) -> Config {
    let mut base = serde_json::to_value(config()).expect("config to json");
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    serde_json::from_value(base).expect("config with extra keys")
}

fn app_with(config: Config) -> Router {
    router(builder_with(config).build())
}

async fn put(app: &Router, uri: &str, key: Option<&str>, body: &str) -> Answer {
    let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
    send(app, Method::PUT, uri, &headers, Some(body)).await
}

#[tokio::test]
async fn cache_is_the_cache_ttl_object_or_empty() {
    let answer = get(&app(), "/api/config/cache").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json, json!({}));
    assert_eq!(answer.headers["cache-control"], "no-store");

    let app = app_with(config_plus(json!({
        "cacheTTL": { "stats": 10, "nodeList": 90, "analyticsRF": 60 }
    })));
    let answer = get(&app, "/api/config/cache").await;
    assert_eq!(
        answer.json,
        json!({ "stats": 10, "nodeList": 90, "analyticsRF": 60 })
    );
}

#[tokio::test]
async fn client_config_defaults() {
    let answer = get(&app(), "/api/config/client").await;
    assert_eq!(answer.status, 200);
    let c = &answer.json;
    let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "roles",
            "healthThresholds",
            "map",
            "snrThresholds",
            "distThresholds",
            "maxHopDist",
            "limits",
            "perfSlowMs",
            "wsReconnectMs",
            "cacheInvalidateMs",
            "externalUrls",
            "propagationBufferMs",
            "liveMapMaxNodes",
            "timestamps",
            "customizer",
            "clientRxCoverage",
        ]
    );
    // Reference defaults: 24 h / 72 h infrastructure, 1 h / 24 h companions, observers
    // online 60 min, stale 24 h — in milliseconds.
    assert_eq!(
        c["healthThresholds"],
        json!({
            "infraDegradedMs": 86_400_000,
            "infraSilentMs": 259_200_000,
            "nodeDegradedMs": 3_600_000,
            "nodeSilentMs": 86_400_000,
            "observerOnlineMs": 3_600_000,
            "observerStaleMs": 86_400_000,
        })
    );
    assert_eq!(c["propagationBufferMs"], 5000);
    assert_eq!(c["liveMapMaxNodes"], 2000);
    // Front-end passthrough keys are null until configured (the UI has its own defaults).
    assert!(c["roles"].is_null());
    assert!(c["snrThresholds"].is_null());
    insta::assert_json_snapshot!("config_client_defaults", c);
}

#[tokio::test]
async fn client_config_reads_config_json() {
    let app = app_with(config_plus(json!({
        "healthThresholds": { "nodeDegradedHours": 2, "observerOnlineMinutes": 30.5 },
        "roles": { "repeater": { "label": "Repeater" } },
        "snrThresholds": { "good": 5 },
        "perfSlowMs": 250,
        "liveMap": { "propagationBufferMs": 1500, "maxNodes": 50 },
        "timestamps": { "defaultMode": "absolute", "timezone": "UTC", "formatPreset": "bogus",
                        "allowCustomFormat": true, "customFormat": "YYYY" },
        "tiles": { "lightDefault": "positron" },
        "mapDarkTileProvider": "esri",
        "debugAffinity": true,
        "customizer": { "disabledTabs": ["geofilter", 7] },
        "clientRxCoverage": { "enabled": true },
    })));
    let c = get(&app, "/api/config/client").await.json;
    assert_eq!(c["healthThresholds"]["nodeDegradedMs"], 7_200_000);
    assert_eq!(c["healthThresholds"]["observerOnlineMs"], 1_830_000);
    assert_eq!(c["healthThresholds"]["infraSilentMs"], 259_200_000);
    assert_eq!(c["roles"]["repeater"]["label"], "Repeater");
    assert_eq!(c["snrThresholds"], json!({ "good": 5 }));
    assert_eq!(c["perfSlowMs"], 250);
    assert_eq!(c["propagationBufferMs"], 1500);
    // maxNodes is clamped to 100..20000.
    assert_eq!(c["liveMapMaxNodes"], 100);
    assert_eq!(
        c["timestamps"],
        json!({ "defaultMode": "absolute", "timezone": "utc", "formatPreset": "iso",
                "customFormat": "YYYY", "allowCustomFormat": true })
    );
    // Deprecated spellings are migrated into map.tiles and the old key is still echoed.
    assert_eq!(
        c["map"],
        json!({ "tiles": { "lightDefault": "positron", "darkDefault": "esri" } })
    );
    assert_eq!(c["mapDarkTileProvider"], "esri");
    assert_eq!(c["debugAffinity"], true);
    assert_eq!(c["customizer"], json!({ "disabledTabs": ["geofilter"] }));
    assert_eq!(c["clientRxCoverage"], json!({ "enabled": true }));

    let app = app_with(config_plus(json!({ "liveMap": { "maxNodes": 999_999 } })));
    let c = get(&app, "/api/config/client").await.json;
    assert_eq!(c["liveMapMaxNodes"], 20_000);
}

#[tokio::test]
async fn regions_are_config_plus_observer_codes() {
    let answer = get(&app(), "/api/config/regions").await;
    assert_eq!(answer.status, 200);
    let regions = answer.json.as_object().unwrap();
    // Labels from config win; codes only seen on observers are labelled with themselves.
    assert_eq!(regions["SEA"], "Seattle");
    assert_eq!(regions["PAE"], "Everett");
    // Every code the fixture's observers report is offered.
    let rows = SqliteReader::open(database(), &OpenOptions::default())
        .expect("reader")
        .observers()
        .expect("observers");
    let mut codes: Vec<String> = rows.iter().filter_map(|o| o.iata.clone()).collect();
    codes.sort();
    codes.dedup();
    assert!(codes.len() >= 2, "{codes:?}");
    for code in &codes {
        assert!(regions.contains_key(code), "{code} missing: {regions:?}");
    }
    insta::assert_json_snapshot!("config_regions", answer.json);

    // A blacklisted observer's region is not offered (unless configured).
    let code = codes
        .iter()
        .find(|c| !matches!(c.as_str(), "SEA" | "PAE"))
        .expect("an observer region that is not configured");
    let blacklist: Vec<String> = rows
        .iter()
        .filter(|o| o.iata.as_deref() == Some(code.as_str()))
        .map(|o| o.id.clone())
        .collect();
    let app = app_with(config_plus(json!({ "observerBlacklist": blacklist })));
    let regions = get(&app, "/api/config/regions").await.json;
    assert!(regions.get(code).is_none(), "{regions}");
    assert_eq!(regions["SEA"], "Seattle");
}

#[tokio::test]
async fn theme_defaults() {
    let answer = get(&app(), "/api/config/theme").await;
    assert_eq!(answer.status, 200);
    let theme = &answer.json;
    let keys: Vec<&str> = theme
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "branding",
            "theme",
            "themeDark",
            "nodeColors",
            "typeColors",
            "home",
            "markerStroke"
        ]
    );
    assert_eq!(theme["typeColors"]["REQ"], theme["typeColors"]["REQUEST"]);
    insta::assert_json_snapshot!("config_theme_defaults", theme);
}

#[tokio::test]
async fn theme_overlays_config_then_theme_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data").join("theme.json"),
        r##"{"branding": {"siteName": "From theme.json"},
            "typeColors": {"REQUEST": "#123456"},
            "home": {"heroTitle": "Welcome"}}"##,
    )
    .unwrap();
    let config = config_plus(json!({
        "branding": { "siteName": "From config", "logoUrl": "/logo.svg" },
        "nodeColors": { "repeater": "#ff0000" },
        "typeColors": { "REQ": "#abcdef", "ADVERT": "#00ff00" },
    }));
    let app = router(
        builder_with(config)
            .config_dir(dir.path().to_owned())
            .build(),
    );
    let theme = get(&app, "/api/config/theme").await.json;
    assert_eq!(theme["branding"]["siteName"], "From theme.json");
    assert_eq!(theme["branding"]["logoUrl"], "/logo.svg");
    assert_eq!(theme["nodeColors"]["repeater"], "#ff0000");
    // Untouched defaults survive the merge.
    assert!(theme["nodeColors"]["companion"].is_string());
    // theme.json's legacy REQUEST key is renamed to REQ and wins over config's REQ; both
    // spellings are answered.
    assert_eq!(theme["typeColors"]["REQ"], "#123456");
    assert_eq!(theme["typeColors"]["REQUEST"], "#123456");
    assert_eq!(theme["typeColors"]["ADVERT"], "#00ff00");
    assert_eq!(theme["home"]["heroTitle"], "Welcome");

    // A theme.json directly in the config dir is preferred over data/theme.json.
    std::fs::write(
        dir.path().join("theme.json"),
        r#"{"branding": {"siteName": "Top"}}"#,
    )
    .unwrap();
    let theme = get(&app, "/api/config/theme").await.json;
    assert_eq!(theme["branding"]["siteName"], "Top");

    // A broken theme.json is ignored, not a 500.
    std::fs::write(dir.path().join("theme.json"), "{ not json").unwrap();
    let answer = get(&app, "/api/config/theme").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["branding"]["siteName"], "From config");
}

#[tokio::test]
async fn map_defaults_and_overrides() {
    let answer = get(&app(), "/api/config/map").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json, json!({ "center": [37.45, -122.0], "zoom": 9 }));

    let app = app_with(config_plus(json!({
        "mapDefaults": { "center": [47.6, -122.3], "zoom": 11 }
    })));
    let answer = get(&app, "/api/config/map").await;
    assert_eq!(answer.json, json!({ "center": [47.6, -122.3], "zoom": 11 }));

    let app = app_with(config_plus(json!({
        "mapDefaults": { "center": [147.6, -122.3], "zoom": 99 }
    })));
    let answer = get(&app, "/api/config/map").await;
    assert_eq!(answer.json, json!({ "center": [37.45, -122.0], "zoom": 9 }));
}

#[tokio::test]
async fn geo_filter_get() {
    let answer = get(&app(), "/api/config/geo-filter").await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json,
        json!({ "polygon": null, "bufferKm": 0, "writeEnabled": true })
    );

    let app = app_with(config_plus(json!({
        "apiKey": null,
        "geo_filter": { "polygon": [[47.0, -123.0], [48.5, -123.0], [48.5, -121.5]], "bufferKm": 20 }
    })));
    let answer = get(&app, "/api/config/geo-filter").await;
    assert_eq!(
        answer.json,
        json!({
            "polygon": [[47.0, -123.0], [48.5, -123.0], [48.5, -121.5]],
            "bufferKm": 20,
            "writeEnabled": false
        })
    );
    insta::assert_json_snapshot!("config_geo_filter_configured", answer.json);
}

const TRIANGLE: &str =
    r#"{"polygon": [[47.0, -123.0], [48.5, -123.0], [48.5, -121.5]], "bufferKm": 12.5}"#;

#[tokio::test]
async fn geo_filter_put_needs_the_key() {
    let app = app();
    let answer = put(&app, "/api/config/geo-filter", None, TRIANGLE).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json, json!({ "error": "unauthorized" }));
    let answer = put(
        &app,
        "/api/config/geo-filter",
        Some("wrong-key-wrong-key"),
        TRIANGLE,
    )
    .await;
    assert_eq!(answer.status, 401);

    let app = app_with(config_plus(json!({ "apiKey": null })));
    let answer = put(&app, "/api/config/geo-filter", Some(API_KEY), TRIANGLE).await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.json["error"],
        "write endpoints disabled — set apiKey in config.json"
    );

    let app = app_with(config_plus(json!({ "apiKey": "admin" })));
    let answer = put(&app, "/api/config/geo-filter", Some("admin"), TRIANGLE).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json["error"], "forbidden");
}

#[tokio::test]
async fn geo_filter_put_validates() {
    let app = app();
    let cases = [
        ("not json", "body must be a JSON object"),
        ("[1, 2]", "body must be a JSON object"),
        (r#"{"bufferKm": 1}"#, "polygon is required"),
        (r#"{"polygon": "x"}"#, "polygon must be a list"),
        (
            r#"{"polygon": [[1, 2], [3, 4]]}"#,
            "polygon must have 3 to 1000 points",
        ),
        (
            r#"{"polygon": [[1, 2], [3, 4], [91, 4]]}"#,
            "polygon[2] must be [lat, lon]",
        ),
        (
            r#"{"polygon": [[1, 2], [3, 4], [5, 181]]}"#,
            "polygon[2] must be [lat, lon]",
        ),
        (
            r#"{"polygon": [[1, 2], [3, 4], [5]]}"#,
            "polygon[2] must be [lat, lon]",
        ),
        (r#"{"polygon": [], "bufferKm": -1}"#, "bufferKm must be"),
        (r#"{"polygon": [], "bufferKm": 20001}"#, "bufferKm must be"),
        (r#"{"polygon": [], "bufferKm": "5"}"#, "bufferKm must be"),
    ];
    for (body, message) in cases {
        let answer = put(&app, "/api/config/geo-filter", Some(API_KEY), body).await;
        assert_eq!(answer.status, 400, "{body}");
        let error = answer.json["error"].as_str().unwrap_or_default();
        assert!(error.starts_with(message), "{body}: {error}");
    }
    let too_many: Vec<[f64; 2]> = (0..1001).map(|i| [f64::from(i) / 100.0, 1.0]).collect();
    let body = json!({ "polygon": too_many }).to_string();
    let answer = put(&app, "/api/config/geo-filter", Some(API_KEY), &body).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json["error"].as_str().unwrap().contains("got 1001"));
}

#[tokio::test]
async fn geo_filter_put_over_one_megabyte_is_413() {
    let app = app();
    let filler = "x".repeat(1_100_000);
    let body = format!(r#"{{"polygon": [], "pad": "{filler}"}}"#);
    let answer = put(&app, "/api/config/geo-filter", Some(API_KEY), &body).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert!(
        answer.json["error"]
            .as_str()
            .unwrap()
            .starts_with("request body too large")
    );
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn geo_filter_put_persists_into_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"port": 3001, "apiKey": "fixture-api-key-0123456789", "geo_filter": {"latMin": 1, "latMax": 2, "lonMin": 3, "lonMax": 4}, "zzz": [1, 2]}"#,
    )
    .unwrap();
    let config = analyzer_config::load_file(&path).unwrap();
    let state = builder_with(config)
        .config_path(Some(path.clone()))
        .config_dir(dir.path().to_owned())
        .build();
    let app = router(state);

    let answer = put(&app, "/api/config/geo-filter", Some(API_KEY), TRIANGLE).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json,
        json!({
            "polygon": [[47.0, -123.0], [48.5, -123.0], [48.5, -121.5]],
            "bufferKm": 12.5,
            "persisted": true
        })
    );
    // The file keeps its other keys in order; geo_filter is replaced as a whole.
    let saved = read_json(&path);
    let keys: Vec<&str> = saved
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["port", "apiKey", "geo_filter", "zzz"]);
    assert_eq!(
        saved["geo_filter"],
        json!({ "polygon": [[47.0, -123.0], [48.5, -123.0], [48.5, -121.5]], "bufferKm": 12.5 })
    );
    // It still loads as a config, and no temporary file is left behind.
    let reloaded = analyzer_config::load_file(&path).unwrap();
    assert_eq!(
        reloaded.geo_filter.unwrap().polygon.unwrap().len(),
        3,
        "saved filter loads"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["config.json"]);

    // The server uses the new filter at once.
    let answer = get(&app, "/api/config/geo-filter").await;
    assert_eq!(answer.json["bufferKm"], 12.5);
    assert_eq!(answer.json["polygon"].as_array().unwrap().len(), 3);

    // An empty polygon removes the filter from memory and from the file.
    let answer = put(
        &app,
        "/api/config/geo-filter",
        Some(API_KEY),
        r#"{"polygon": []}"#,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json,
        json!({ "polygon": null, "bufferKm": 0, "persisted": true })
    );
    assert!(read_json(&path).get("geo_filter").is_none());
    assert!(get(&app, "/api/config/geo-filter").await.json["polygon"].is_null());
}

#[tokio::test]
async fn geo_filter_put_creates_config_json_in_the_config_dir() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(
        builder_with(config())
            .config_dir(dir.path().to_owned())
            .build(),
    );
    let answer = put(&app, "/api/config/geo-filter", Some(API_KEY), TRIANGLE).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["persisted"], true);
    let saved = read_json(&dir.path().join("config.json"));
    assert_eq!(saved["geo_filter"]["bufferKm"], 12.5);
}

#[tokio::test]
async fn geo_filter_put_without_a_config_file_stays_in_memory() {
    let app = app();
    let answer = put(&app, "/api/config/geo-filter", Some(API_KEY), TRIANGLE).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["persisted"], false);
    assert_eq!(
        get(&app, "/api/config/geo-filter").await.json["bufferKm"],
        12.5
    );
}

#[tokio::test]
async fn geo_filter_put_fails_cleanly_when_the_file_cannot_be_saved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, "[1, 2, 3]").unwrap();
    let app = router(
        builder_with(config())
            .config_path(Some(path.clone()))
            .build(),
    );
    let answer = put(&app, "/api/config/geo-filter", Some(API_KEY), TRIANGLE).await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.json, json!({ "error": "internal server error" }));
    // Nothing changed: not the file, not the filter in use.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[1, 2, 3]");
    assert!(get(&app, "/api/config/geo-filter").await.json["polygon"].is_null());
}

#[tokio::test]
async fn areas_and_polygons() {
    let answer = get(&app(), "/api/config/areas").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json, json!([]));
    assert_eq!(
        get(&app(), "/api/config/areas/polygons").await.json,
        json!([])
    );

    let app = app_with(config_plus(json!({
        "areas": {
            "sound": { "label": "Puget Sound", "polygon": [[47, -123], [48, -123], [48, -122]] },
            "box": { "label": "Box", "latMin": 47, "latMax": 48, "lonMin": -123, "lonMax": -122 },
            "nolabel": { "latMin": 1, "latMax": 2, "lonMin": 3, "lonMax": 4 },
        }
    })));
    let areas = get(&app, "/api/config/areas").await.json;
    assert_eq!(
        areas,
        json!([{ "key": "box", "label": "Box" }, { "key": "sound", "label": "Puget Sound" }])
    );
    let polygons = get(&app, "/api/config/areas/polygons").await.json;
    insta::assert_json_snapshot!("config_area_polygons", polygons);
    assert_eq!(polygons.as_array().unwrap().len(), 3);
    assert!(polygons[0].get("polygon").is_none());
    assert_eq!(polygons[0]["latMin"], 47.0);
}

#[tokio::test]
async fn iata_coords_cover_the_fixture_regions() {
    let answer = get(&app(), "/api/iata-coords").await;
    assert_eq!(answer.status, 200);
    let coords = answer.json["coords"].as_object().unwrap();
    assert!(coords.len() >= 54, "{}", coords.len());
    for code in [
        "SEA", "PAE", "TIW", "BFI", "SJC", "SFO", "LHR", "AMS", "SYD",
    ] {
        let c = &coords[code];
        assert!(c["lat"].is_f64() && c["lon"].is_f64(), "{code}: {c}");
    }
    assert_eq!(coords["SEA"], json!({ "lat": 47.4502, "lon": -122.3088 }));
    // No radiusKm in the Go reference's table either.
    assert_eq!(coords["SEA"].as_object().unwrap().len(), 2);
}
