//! The route table and the middleware every response passes through.
//!
//! Each group of endpoints lives in its own module and returns an [`OpenApiRouter`] whose
//! handlers carry `#[utoipa::path]` annotations, so the OpenAPI document is built from the
//! same table that routes requests and cannot drift from it.
//!
//! A handler behind the API key (spec api.md §0.3) calls [`crate::params::check_api_key`] and
//! marks itself in its annotation so the document shows the lock:
//!
//! ```text
//! #[utoipa::path(post, path = "/api/perf/reset", tag = "health",
//!     security(("ApiKeyAuth" = [])),
//!     responses(...))]
//! ```
//!
//! `ApiKeyAuth` (header `X-API-Key`) is declared once, on [`ApiDoc`].
//!
//! Middleware, outermost first (spec api.md §0.1):
//! 1. `X-CoreScope-Load-Status` on every response (API, WebSocket upgrade, errors, 404s);
//! 2. gzip for clients that accept it (`compression.gzip`, on unless set to `false`), only
//!    for text-like content types, never for WebSocket upgrades, images or octet-streams;
//! 3. CORS (`corsAllowedOrigins` / `CORS_ALLOWED_ORIGINS`);
//! 4. on the API routes: request timing for `/api/perf` ([`crate::perf`]), one JSON error
//!    shape for every error (including extractor rejections, 405 and 413), a 1 MB request body
//!    limit, and `Cache-Control: no-store` unless the handler set its own.

mod channels;
pub(crate) mod config;
mod misc;
mod nodes;
pub(crate) mod observers;
mod packets;
mod reach;
mod system;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::perf::{self, Perf};
use crate::state::AppState;

pub(crate) use system::unix_now;

/// Header the reference sets on every response while (and after) the startup load runs.
pub const LOAD_STATUS_HEADER: HeaderName = HeaderName::from_static("x-corescope-load-status");

/// Largest request body accepted (1 MB); larger ones are answered 413.
pub(crate) const BODY_LIMIT: usize = 1 << 20;

/// Response extension a handler may set to keep a deliberately non-JSON error body (the
/// reference answers a few endpoints' errors in plain text). Without it every 4xx/5xx
/// response that is not JSON is rewritten to `{"error": "<text>"}`.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct PlainTextError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "meshcore-analyzer API",
        description = "CoreScope-compatible REST API of meshcore-analyzer.",
        license(name = "MIT")
    ),
    modifiers(&SecurityAddon),
    tags(
        (name = "health", description = "Health, statistics and performance"),
        (name = "packets", description = "Transmissions, observations and traces"),
        (name = "nodes", description = "Nodes heard on the mesh"),
        (name = "observers", description = "Observer radios"),
        (name = "channels", description = "Group channels and their messages"),
        (name = "config", description = "Settings the web UI reads"),
    ),
    components(schemas())
)]
struct ApiDoc;

/// Declares the `ApiKeyAuth` scheme (header `X-API-Key`) that keyed routes refer to.
struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ApiKeyAuth",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "The `apiKey` of config.json (at least 16 characters, not a placeholder).",
            ))),
        );
    }
}

/// Every API route with its OpenAPI description.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(system::routes())
        .merge(packets::routes())
        .merge(nodes::routes())
        .merge(reach::routes())
        .merge(observers::routes())
        .merge(channels::routes())
        .merge(config::routes())
        .merge(misc::routes())
}

/// The OpenAPI document of every route (what `/api/spec` serves). `/api/spec` and
/// `/api/docs` themselves are not in it, as in the reference.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().split_for_parts().1;
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let perf = Arc::new(Perf::new());
    let (api, spec) = api().split_for_parts();
    let mut spec = spec;
    spec.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let spec = Arc::new(spec.to_pretty_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "OpenAPI document does not serialise");
        "{}".to_owned()
    }));
    let api = api
        .route(
            "/api/spec",
            get(move || {
                let spec = spec.clone();
                async move { spec_response(&spec) }
            }),
        )
        .route("/api/docs", get(docs_index))
        .route("/api/docs/", get(docs_index))
        .route("/api/docs/{*file}", get(docs_file))
        .fallback(api_not_found)
        .layer(middleware::from_fn(no_store))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(
            (state.clone(), perf.clone()),
            track_perf,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(Extension(perf));
    let (ws, _) = crate::ws::routes().split_for_parts();
    let mut app = Router::new()
        .merge(api)
        .merge(ws)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ws::upgrade_any_path,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), cors));
    let compression = &state.config().compression;
    if compression.gzip() {
        app = app.layer(compression_layer(compression));
    }
    app.layer(middleware::from_fn_with_state(state.clone(), load_status))
        .with_state(state)
}

async fn load_status(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let value = state.store().load_state().status_header();
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(LOAD_STATUS_HEADER, value);
    }
    response
}

/// `Cache-Control: no-store` unless the handler chose its own (#1551 of the reference: a
/// CDN in front must not cache live data). The first request that shows a CDN's headers is
/// logged once, so an operator knows one is in the path.
async fn no_store(request: Request, next: Next) -> Response {
    static CDN_SEEN: AtomicBool = AtomicBool::new(false);
    const CDN_HEADERS: [&str; 4] = [
        "cf-connecting-ip",
        "cf-ray",
        "fastly-client-ip",
        "true-client-ip",
    ];
    if let Some(name) = CDN_HEADERS
        .iter()
        .find(|h| request.headers().contains_key(**h))
    {
        if !CDN_SEEN.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                header = name,
                "Requests arrive through a CDN; API answers carry Cache-Control: no-store, \
                 make sure the CDN honours it for /api/"
            );
        }
    }
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Times `/api/` requests under their route template.
async fn track_perf(
    State((state, perf)): State<(AppState, Arc<Perf>)>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !path.starts_with("/api/") {
        return next.run(request).await;
    }
    let path = path.to_owned();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // The reference files every slow request with status 200; we record the real status.
    perf.record(
        &perf::template(matched.as_deref(), &path),
        &path,
        ms,
        response.status().as_u16(),
        || crate::render::iso(state.now()),
    );
    response
}

/// Rewrites every error response that is not JSON (axum's extractor rejections, 405, 413)
/// into the API's one error shape, keeping status and headers such as `Allow`.
async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || is_json(response.headers())
        || response.extensions().get::<PlainTextError>().is_some()
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("request body too large (limit {BODY_LIMIT} bytes)")
        }
        StatusCode::METHOD_NOT_ALLOWED => format!("method {method} not allowed on {path}"),
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
        _ => text,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({ "error": message }).to_string();
    Response::from_parts(parts, Body::from(body))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.starts_with("application/json") || v.contains("+json")
        })
}

/// CORS as the reference does it (spec api.md §0.1): only when origins are configured; an
/// allowed `Origin` gets `Access-Control-Allow-Origin` (`*` when the list holds `*`, else the
/// origin itself with `Vary: Origin`) and read-only methods, and a preflight from it is
/// answered 204; a preflight from any other origin is 403, other requests from it pass
/// without CORS headers. No credentials.
async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let allowed = &state.inner.cors_origins;
    if allowed.is_empty() {
        return next.run(request).await;
    }
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let wildcard = allowed.iter().any(|a| a == "*");
    let permitted = wildcard
        || origin.to_str().is_ok_and(|o| {
            allowed
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(o))
        });
    let preflight = request.method() == Method::OPTIONS;
    if !permitted {
        if preflight {
            return ApiError::forbidden("origin not allowed").into_response();
        }
        return next.run(request).await;
    }
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        if wildcard {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        } else {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, X-API-Key"),
    );
    response
}

/// Content types gzip is applied to unless `compression.contentTypes` lists others.
const COMPRESSIBLE: &[&str] = &[
    "application/json",
    "application/javascript",
    "text/javascript",
    "application/xml",
    "text/xml",
    "text/html",
    "text/css",
    "text/plain",
    "image/svg+xml",
];

/// Smallest body gzipped unless `compression.minSizeBytes` says otherwise.
const MIN_COMPRESS_BYTES: u64 = 256;

fn compression_layer(
    config: &analyzer_config::Compression,
) -> CompressionLayer<impl Predicate + Send + Sync + 'static> {
    let types: Arc<[String]> = match &config.content_types {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect(),
        _ => COMPRESSIBLE.iter().map(|t| (*t).to_owned()).collect(),
    };
    let textual = move |status: StatusCode,
                        _: axum::http::Version,
                        headers: &HeaderMap,
                        _: &axum::http::Extensions| {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return false;
        }
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let ct = ct.trim().to_ascii_lowercase();
                types.iter().any(|t| ct.starts_with(t.as_str()))
            })
    };
    let predicate = SizeAbove::new(
        config
            .min_size_bytes
            .map_or(MIN_COMPRESS_BYTES, |n| n.max(0) as u64),
    )
    .and(textual);
    let level = match config.level {
        Some(level @ 1..=9) => CompressionLevel::Precise(level as i32),
        _ => CompressionLevel::Default,
    };
    CompressionLayer::new()
        .gzip(true)
        .quality(level)
        .compress_when(predicate)
}

/// Unknown API paths are a clean 404 (the reference falls through to its SPA with a 200);
/// every other path is the web UI ([`crate::assets`]).
async fn api_not_found(State(state): State<AppState>, request: Request) -> Response {
    if !crate::assets::is_api_path(request.uri().path()) {
        return crate::assets::serve(request, &state.inner.csp).await;
    }
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

/// `GET /api/spec`: the OpenAPI document, readable from any origin.
fn spec_response(spec: &Arc<String>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        spec.as_str().to_owned(),
    )
        .into_response()
}

/// Swagger UI settings: read `/api/spec`, never call the public validator.
fn swagger_config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(utoipa_swagger_ui::Config::from("/api/spec").validator_url("none"))
        })
        .clone()
}

/// `GET /api/docs`: Swagger UI from the binary (no CDN), its asset links made absolute so
/// the page works with and without a trailing slash.
async fn docs_index() -> Response {
    match utoipa_swagger_ui::serve("index.html", swagger_config()) {
        Ok(Some(file)) => {
            let html = String::from_utf8_lossy(&file.bytes)
                .replace("\"./", "\"/api/docs/")
                .replace("href=\"index.css\"", "href=\"/api/docs/index.css\"");
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        Ok(None) => ApiError::not_found("Swagger UI is not bundled").into_response(),
        Err(e) => ApiError::internal("Swagger UI", e).into_response(),
    }
}

/// `GET /api/docs/<file>`: the Swagger UI assets.
async fn docs_file(Path(file): Path<String>) -> Response {
    match utoipa_swagger_ui::serve(&file, swagger_config()) {
        Ok(Some(asset)) => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, asset.content_type),
                    (header::CACHE_CONTROL, "public, max-age=3600".to_owned()),
                ],
                asset.bytes.into_owned(),
            )
                .into_response();
            if asset.gzpipped {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => ApiError::not_found(format!("no such file: /api/docs/{file}")).into_response(),
        Err(e) => ApiError::internal("Swagger UI", e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Json;
    use axum::routing::post;
    use http_body_util::BodyExt;
    use serde_json::Value;
    use tower::ServiceExt;

    async fn call(router: &Router, request: axum::http::Request<Body>) -> (StatusCode, Value) {
        let response = router.clone().oneshot(request).await.expect("response");
        let status = response.status();
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&bytes).expect("JSON body"))
    }

    #[tokio::test]
    async fn extractor_rejections_get_the_json_error_shape() {
        let router: Router = Router::new()
            .route(
                "/api/echo/{n}",
                post(|Path(n): Path<u32>, Json(v): Json<Value>| async move { Json((n, v)) }),
            )
            .route(
                "/api/plain",
                get(|| async {
                    let mut r = (StatusCode::BAD_REQUEST, "kept as text").into_response();
                    r.extensions_mut().insert(PlainTextError);
                    r
                }),
            )
            .layer(middleware::from_fn(json_errors));
        let json_request = |uri: &str, body: &str| {
            axum::http::Request::post(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_owned()))
                .unwrap()
        };
        let (status, body) = call(&router, json_request("/api/echo/1", "{oops")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");
        let (status, body) = call(&router, json_request("/api/echo/x", "{}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].is_string(), "{body}");
        let request = axum::http::Request::post("/api/echo/1")
            .body(Body::from("{}"))
            .unwrap();
        let (status, body) = call(&router, request).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(body["error"].is_string(), "{body}");

        // A handler may keep a deliberate plain-text error.
        let response = router
            .clone()
            .oneshot(
                axum::http::Request::get("/api/plain")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"kept as text");
    }
}
