//! Contract tests: health, stats, perf, the middleware every response passes through, and
//! the OpenAPI document and docs page.

use axum::Router;
use axum::http::Method;
use serde_json::{Value, json};

use crate::common::*;
use analyzer_server::router;

use crate::config::{builder_with, config_plus};

#[tokio::test]
async fn stats_counts_the_fixture_database() {
    let app = app();
    let answer = get(&app, "/api/stats").await;
    assert_eq!(answer.status, 200);
    let stats = &answer.json;
    assert!(
        stats["totalTransmissions"].as_u64().unwrap() > 100,
        "{stats}"
    );
    assert!(
        stats["totalObservations"].as_u64().unwrap()
            > stats["totalTransmissions"].as_u64().unwrap()
    );
    assert_eq!(stats["totalObservers"], 6);
}

// ---------------------------------------------------------------------------------------
// Perf instrumentation.

#[tokio::test]
async fn perf_counts_requests_per_route_template() {
    let app = app();
    get(&app, "/api/stats").await;
    get(&app, "/api/stats").await;
    get(&app, "/api/config/map").await;
    get(&app, "/api/docs/swagger-ui.css").await;
    get(&app, "/api/no-such/0123456789abcdef").await;
    let answer = get(&app, "/api/perf").await;
    assert_eq!(answer.status, 200);
    let perf = &answer.json;
    let keys: Vec<&str> = perf
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "uptime",
            "totalRequests",
            "avgMs",
            "endpoints",
            "slowQueries",
            "packetStore"
        ]
    );
    // The /api/perf request itself is recorded after its answer is built.
    assert_eq!(perf["totalRequests"], 5);
    let endpoints = &perf["endpoints"];
    assert_eq!(endpoints["/api/stats"]["count"], 2);
    assert_eq!(endpoints["/api/config/map"]["count"], 1);
    // Path parameters are written the reference's way (`:name`); paths that match no route
    // have long hex runs replaced with `:id`.
    assert_eq!(endpoints["/api/docs/:file"]["count"], 1);
    assert_eq!(endpoints["/api/no-such/:id"]["count"], 1);
    for field in ["count", "avgMs", "p50Ms", "p95Ms", "maxMs"] {
        assert!(endpoints["/api/stats"][field].is_number(), "{field}");
    }
    assert!(perf["avgMs"].is_number());
    assert!(perf["slowQueries"].is_array());
    assert!(perf["packetStore"]["totalLoaded"].as_u64().unwrap() > 100);
    insta::assert_json_snapshot!("system_perf_after_five_requests", perf, {
        ".uptime" => "[seconds]",
        ".avgMs" => "[ms]",
        ".endpoints.*.avgMs" => "[ms]",
        ".endpoints.*.p50Ms" => "[ms]",
        ".endpoints.*.p95Ms" => "[ms]",
        ".endpoints.*.maxMs" => "[ms]",
        ".packetStore" => "[packetStore]",
        // A loaded machine may make a request slow; the slow list has its own unit test.
        ".slowQueries" => "[slow requests]",
    });
    // Non-API paths are not timed.
    get(&app, "/ws-nope").await;
    let perf = get(&app, "/api/perf").await.json;
    assert_eq!(perf["totalRequests"], 6);
    assert_eq!(perf["endpoints"]["/api/perf"]["count"], 1);
}

#[tokio::test]
async fn perf_reset_needs_the_key_and_clears() {
    let app = app();
    get(&app, "/api/stats").await;
    let answer = send(&app, Method::POST, "/api/perf/reset", &[], None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json, json!({ "error": "unauthorized" }));
    let answer = send(
        &app,
        Method::POST,
        "/api/perf/reset",
        &[("x-api-key", API_KEY)],
        None,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json, json!({ "ok": true }));
    let perf = get(&app, "/api/perf").await.json;
    // Only the reset request's own timing (recorded after the reset) survives.
    assert_eq!(perf["totalRequests"], 1);
    assert!(perf["endpoints"].get("/api/stats").is_none());
    assert_eq!(perf["endpoints"]["/api/perf/reset"]["count"], 1);

    let app = router(builder_with(config_plus(json!({ "apiKey": null }))).build());
    let answer = send(
        &app,
        Method::POST,
        "/api/perf/reset",
        &[("x-api-key", API_KEY)],
        None,
    )
    .await;
    assert_eq!(answer.status, 403);
}

#[tokio::test]
async fn health_reports_request_timings() {
    let app = app();
    get(&app, "/api/stats").await;
    let answer = get(&app, "/api/health").await;
    assert_eq!(answer.status, 200);
    let health = &answer.json;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["perf"]["totalRequests"], 1);
    assert!(health["perf"]["avgMs"].is_number());
    assert_eq!(health["perf"]["slowQueries"], 0);
    assert_eq!(health["perf"]["recentSlow"], json!([]));
    assert_eq!(health["websocket"]["clients"], 0);
    assert!(health["packetStore"]["packets"].as_u64().unwrap() > 100);
}

// ---------------------------------------------------------------------------------------
// Middleware.

#[tokio::test]
async fn errors_and_404s_carry_the_load_status_and_json_shape() {
    let app = app();
    let answer = get(&app, "/api/no-such-endpoint").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.headers["x-corescope-load-status"], "ready");
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert!(answer.json["error"].is_string());

    // Wrong method: axum's empty 405 becomes the JSON error shape, keeping `Allow`.
    let answer = send(&app, Method::DELETE, "/api/stats", &[], None).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(
        answer.json,
        json!({ "error": "method DELETE not allowed on /api/stats" })
    );
    assert!(answer.headers.contains_key("allow"));
    assert_eq!(answer.headers["x-corescope-load-status"], "ready");

    let answer = send(&app, Method::GET, "/api/perf/reset", &[], None).await;
    assert_eq!(answer.status, 405);
    assert!(answer.json["error"].is_string());
}

#[tokio::test]
async fn cache_control_is_no_store_unless_the_handler_sets_one() {
    let app = app();
    let answer = get(&app, "/api/config/client").await;
    assert_eq!(answer.headers["cache-control"], "no-store");
    // The Swagger UI assets are static: they set their own.
    let answer = get(&app, "/api/docs/swagger-ui.css").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["cache-control"], "public, max-age=3600");
}

fn cors_app(origins: &[&str]) -> Router {
    router(
        builder_with(config())
            .cors_allowed_origins(origins.iter().map(|o| (*o).to_owned()).collect())
            .build(),
    )
}

#[tokio::test]
async fn cors_allowed_origin_is_echoed() {
    let app = cors_app(&["https://mesh.example.org", "https://other.example"]);
    let origin = [("origin", "https://mesh.example.org")];
    let answer = send(&app, Method::OPTIONS, "/api/stats", &origin, None).await;
    assert_eq!(answer.status, 204);
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://mesh.example.org"
    );
    assert_eq!(answer.headers["vary"], "Origin");
    assert_eq!(
        answer.headers["access-control-allow-methods"],
        "GET, HEAD, OPTIONS"
    );
    assert_eq!(
        answer.headers["access-control-allow-headers"],
        "Content-Type, X-API-Key"
    );
    assert!(
        !answer
            .headers
            .contains_key("access-control-allow-credentials")
    );
    assert_eq!(answer.headers["x-corescope-load-status"], "ready");

    let answer = send(&app, Method::GET, "/api/config/map", &origin, None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://mesh.example.org"
    );
}

#[tokio::test]
async fn cors_other_origins_are_refused() {
    let app = cors_app(&["https://mesh.example.org"]);
    let origin = [("origin", "https://evil.example")];
    let answer = send(&app, Method::OPTIONS, "/api/stats", &origin, None).await;
    assert_eq!(answer.status, 403);
    assert!(answer.json["error"].is_string());
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
    // Other methods pass, without CORS headers (the browser then blocks the read).
    let answer = send(&app, Method::GET, "/api/config/map", &origin, None).await;
    assert_eq!(answer.status, 200);
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
    // No Origin: not a CORS request.
    let answer = get(&app, "/api/config/map").await;
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn cors_wildcard_and_disabled() {
    let app = cors_app(&["*"]);
    let origin = [("origin", "https://anything.example")];
    let answer = send(&app, Method::OPTIONS, "/api/config/map", &origin, None).await;
    assert_eq!(answer.status, 204);
    assert_eq!(answer.headers["access-control-allow-origin"], "*");
    assert!(!answer.headers.contains_key("vary"));

    // No origins configured: no CORS at all; a preflight reaches the router (405 JSON).
    let app = cors_app(&[]);
    let answer = send(&app, Method::OPTIONS, "/api/stats", &origin, None).await;
    assert_eq!(answer.status, 405);
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
}

/// gzip magic bytes (no gzip reader is among the dependencies; the size comparison in the
/// test shows the body is really compressed).
fn assert_gzip(bytes: &[u8]) {
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
}

async fn raw(
    app: &Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (axum::http::HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder().uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (headers, body.to_vec())
}

#[tokio::test]
async fn gzip_when_accepted_and_enabled() {
    let app = app();
    let accept = [("accept-encoding", "gzip")];
    let (plain_headers, plain) = raw(&app, "/api/config/theme", &[]).await;
    assert!(!plain_headers.contains_key("content-encoding"));
    let (headers, body) = raw(&app, "/api/config/theme", &accept).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert!(
        headers["vary"]
            .to_str()
            .unwrap()
            .contains("accept-encoding")
    );
    assert!(!headers.contains_key("content-length"));
    assert_gzip(&body);
    assert!(
        body.len() < plain.len() / 2,
        "{} vs {}",
        body.len(),
        plain.len()
    );
    // Small bodies are not worth it.
    let (headers, _) = raw(&app, "/api/config/map", &accept).await;
    assert!(!headers.contains_key("content-encoding"));
    // Images are never compressed.
    let (headers, _) = raw(&app, "/api/docs/favicon-32x32.png", &accept).await;
    assert_eq!(headers["content-type"], "image/png");
    assert!(!headers.contains_key("content-encoding"));
    // JavaScript is.
    let (headers, _) = raw(&app, "/api/docs/swagger-ui-bundle.js", &accept).await;
    assert_eq!(headers["content-encoding"], "gzip");
}

#[tokio::test]
async fn gzip_can_be_turned_off() {
    let app =
        router(builder_with(config_plus(json!({ "compression": { "gzip": false } }))).build());
    let (headers, body) = raw(&app, "/api/config/theme", &[("accept-encoding", "gzip")]).await;
    assert!(!headers.contains_key("content-encoding"));
    assert!(serde_json::from_slice::<Value>(&body).is_ok());
}

// ---------------------------------------------------------------------------------------
// OpenAPI and docs.

/// Fills path parameters with a harmless value.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "0000000000000000"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn spec_lists_exactly_the_served_routes() {
    let app = app();
    let answer = get(&app, "/api/spec").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["access-control-allow-origin"], "*");
    assert!(answer.text.contains("\n  \"openapi\""), "pretty-printed");
    let spec = &answer.json;
    assert_eq!(spec["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        spec["components"]["securitySchemes"]["ApiKeyAuth"],
        json!({
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "The `apiKey` of config.json (at least 16 characters, not a placeholder)."
        })
    );
    let paths = spec["paths"].as_object().unwrap();
    for known in [
        "/api/stats",
        "/api/health",
        "/api/perf",
        "/api/perf/reset",
        "/api/config/client",
        "/api/config/theme",
        "/api/config/geo-filter",
        "/api/iata-coords",
    ] {
        assert!(paths.contains_key(known), "{known} missing from the spec");
    }
    // The spec and docs routes themselves are not listed (as in the reference).
    assert!(!paths.contains_key("/api/spec"));
    assert!(!paths.contains_key("/api/docs"));
    // Keyed routes carry the security requirement.
    for (path, method) in [
        ("/api/config/geo-filter", "put"),
        ("/api/perf/reset", "post"),
    ] {
        assert_eq!(
            paths[path][method]["security"],
            json!([{ "ApiKeyAuth": [] }]),
            "{method} {path}"
        );
    }
    assert!(
        paths["/api/config/geo-filter"]["get"]
            .get("security")
            .is_none()
    );
    // Every documented operation is routed: none answers with the unknown-endpoint 404 or a
    // 405. Path parameters get a dummy value, bodies are empty (so 4xx answers are fine).
    for (path, item) in paths {
        let uri = concrete(path);
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let answer = send(&app, m, &uri, &[], None).await;
            assert_ne!(answer.status, 405, "{method} {path}");
            let error = answer.json["error"].as_str().unwrap_or_default();
            assert!(
                !error.starts_with("no such endpoint"),
                "{method} {path} is documented but not routed"
            );
            // A route that refuses a request without X-API-Key must say so in the document
            // (`security(("ApiKeyAuth" = []))` in its #[utoipa::path]).
            if answer.status == 401 && error == "unauthorized" {
                assert_eq!(
                    item[method]["security"],
                    json!([{ "ApiKeyAuth": [] }]),
                    "{method} {path} needs X-API-Key but its #[utoipa::path] lacks \
                     security((\"ApiKeyAuth\" = []))"
                );
            }
        }
    }
}

#[tokio::test]
async fn openapi_function_matches_the_served_document() {
    let served = get(&app(), "/api/spec").await.json;
    let built = serde_json::to_value(analyzer_server::openapi()).unwrap();
    assert_eq!(served, built);
}

#[tokio::test]
async fn docs_page_is_served_from_the_binary() {
    let app = app();
    for uri in ["/api/docs", "/api/docs/"] {
        let answer = get(&app, uri).await;
        assert_eq!(answer.status, 200, "{uri}");
        assert!(
            answer.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = &answer.text;
        assert!(html.contains("swagger-ui"), "{html}");
        let sources: Vec<&str> = html
            .split("src=\"")
            .skip(1)
            .chain(html.split("href=\"").skip(1))
            .map(|rest| rest.split('"').next().unwrap_or_default())
            .collect();
        assert!(sources.len() >= 4, "{sources:?}");
        for source in &sources {
            assert!(
                source.starts_with("/api/docs/"),
                "{source} is not served locally"
            );
            let asset = get(&app, source).await;
            assert_eq!(asset.status, 200, "{source}");
        }
    }
    let init = get(&app, "/api/docs/swagger-initializer.js").await;
    assert_eq!(init.status, 200);
    assert!(init.text.contains("\"/api/spec\""), "{}", init.text);
    assert!(!init.text.contains("https://"), "{}", init.text);
    let missing = get(&app, "/api/docs/nope.js").await;
    assert_eq!(missing.status, 404);
    assert!(missing.json["error"].is_string());
}

#[tokio::test]
async fn websocket_upgrades_are_not_compressed() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app()).await;
    });
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("accept-encoding", "gzip".parse().unwrap());
    let (_client, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(response.status(), 101);
    assert!(!response.headers().contains_key("content-encoding"));
    assert_eq!(response.headers()["x-corescope-load-status"], "ready");
}

#[tokio::test]
async fn gzip_settings_from_a_corescope_config() {
    // CoreScope configs may carry Go's "default level" (-1); it must load and mean the
    // default. minSizeBytes 0 compresses even small answers; contentTypes narrows the list.
    let config = analyzer_config::parse_config(
        r#"{"compression": {"gzip": true, "level": -1, "minSizeBytes": 0,
                            "contentTypes": ["application/json"]}}"#,
        std::path::Path::new("config.json"),
    )
    .expect("CoreScope compression block loads");
    let app = router(builder_with(config).build());
    let accept = [("accept-encoding", "gzip")];
    let (headers, body) = raw(&app, "/api/config/map", &accept).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert_gzip(&body);
    let (headers, _) = raw(&app, "/api/docs/swagger-ui-bundle.js", &accept).await;
    assert!(!headers.contains_key("content-encoding"));
}
