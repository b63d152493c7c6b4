//! The web UI: static files under `web/`, embedded into release builds and read from disk
//! in debug builds (rust-embed), so one binary is the whole product.
//!
//! Every path that is not an API path ends up here (spec api.md §12):
//! * `/` and `/index.html` ⇒ `index.html` with `Cache-Control: no-cache`;
//! * an existing file ⇒ that file with its content type and an `ETag` (a `304` when the
//!   browser's `If-None-Match` matches); `vendor/` files are versioned by folder name and
//!   cached for a year, everything else is revalidated (`no-cache`);
//! * a path containing `..`, `\` (raw or percent-encoded) ⇒ `400`, before any lookup;
//! * a missing file under one of the asset folders (`app/`, `css/`, `vendor/`) ⇒ `404`, so a
//!   broken module import shows up as such; any other unknown path ⇒ `index.html` (SPA
//!   fallback: the UI routes with `#/…`, old deep links keep working).
//!
//! Every answer carries a strict `Content-Security-Policy` (scripts only from this origin,
//! no inline script; sockets to this origin), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: same-origin`. The end-to-end browser tests and their `node_modules`
//! are not part of the embedded tree.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::routes::PlainTextError;

/// The files of `web/` (without the browser tests and any `node_modules`).
#[derive(rust_embed::Embed)]
#[folder = "../../web/"]
#[exclude = "e2e/*"]
#[exclude = "node_modules/*"]
#[exclude = "*/node_modules/*"]
#[exclude = "*.md"]
#[exclude = ".*"]
struct Assets;

/// The policy every static answer carries: nothing inline may run (the UI builds its DOM
/// from data with `textContent`, so injected markup could not run either), sockets and
/// fetches go to this origin only, images from this origin, `data:` URLs and the map tile
/// hosts ([`tile_sources`]).
pub(crate) fn content_security_policy(
    extra: &std::collections::BTreeMap<String, serde_json::Value>,
) -> HeaderValue {
    let tiles = tile_sources(extra).join(" ");
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: {tiles}; \
         font-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; \
         form-action 'self'"
    );
    // Every source was checked to be plain host characters, so this cannot fail; the
    // fallback is the policy without tiles.
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             font-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; \
             base-uri 'none'; form-action 'self'",
        )
    })
}

/// OpenStreetMap's standard tiles, the map's default.
const OSM_TILES: &str = "https://tile.openstreetmap.org";
/// CARTO's tiles (the `positron`, `voyager` and `dark_all` presets).
const CARTO_TILES: &str = "https://*.basemaps.cartocdn.com";

/// The image sources the web map needs: OpenStreetMap (the default), and the hosts of the
/// tile settings of `map.tiles` (or the deprecated top-level `tiles` and
/// `mapDarkTileProvider`): `url`, `darkUrl`, `lightDefault`, `darkDefault`, each a preset
/// name or a URL template whose `{s}` subdomain becomes `*`. A value that is not a plain
/// `http(s)://host[:port]/…` template is left out (config text never reaches the header
/// unchecked).
pub(crate) fn tile_sources(
    extra: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Vec<String> {
    let mut sources = vec![OSM_TILES.to_owned()];
    let settings = crate::routes::config::map_settings(extra);
    let tiles = settings.get("tiles");
    for key in ["url", "darkUrl", "lightDefault", "darkDefault"] {
        let Some(value) = tiles.and_then(|t| t.get(key)).and_then(|v| v.as_str()) else {
            continue;
        };
        let source = match value.trim().to_ascii_lowercase().as_str() {
            "osm" => Some(OSM_TILES.to_owned()),
            "positron" | "voyager" | "dark_all" => Some(CARTO_TILES.to_owned()),
            _ => tile_origin(value.trim()),
        };
        if let Some(source) = source
            && !sources.contains(&source)
        {
            sources.push(source);
        }
    }
    sources
}

/// `scheme://host[:port]` of a tile URL template, with a leading `{s}.` label as `*.`.
fn tile_origin(template: &str) -> Option<String> {
    let (scheme, rest) = template.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    let host = match host.strip_prefix("{s}.") {
        Some(tail) => format!("*.{tail}"),
        None => host.to_owned(),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*');
    let valid = !host.is_empty()
        && host.chars().all(plain)
        && !host.trim_start_matches("*.").contains('*')
        && host
            .trim_start_matches("*.")
            .contains(|c: char| c.is_ascii_alphanumeric());
    valid.then(|| format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Folders whose missing files are a 404 rather than the SPA page.
const ASSET_DIRS: [&str; 3] = ["app/", "css/", "vendor/"];

/// Whether `path` belongs to the API (which answers its own 404s as JSON).
pub(crate) fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Answers a non-API request from the embedded web UI.
pub(crate) async fn serve(request: Request, csp: &HeaderValue) -> Response {
    let mut response = answer(&request);
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    response
}

fn answer(request: &Request) -> Response {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let raw_path = request.uri().path();
    if is_traversal(raw_path) {
        return plain(StatusCode::BAD_REQUEST, "bad request");
    }
    let path = percent_decode(raw_path);
    let path = path.trim_start_matches('/');
    let name = if path.is_empty() { "index.html" } else { path };
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    match Assets::get(name) {
        Some(file) => file_response(name, &file, if_none_match.as_ref()),
        None if ASSET_DIRS.iter().any(|dir| name.starts_with(dir)) => {
            plain(StatusCode::NOT_FOUND, "not found")
        }
        None => match Assets::get("index.html") {
            Some(index) => file_response("index.html", &index, if_none_match.as_ref()),
            None => plain(
                StatusCode::NOT_FOUND,
                "Frontend not found. API available at /api/",
            ),
        },
    }
}

/// Rejects `..` and backslashes, raw or percent-encoded (any case), as the reference does.
fn is_traversal(raw_path: &str) -> bool {
    let lower = raw_path.to_ascii_lowercase();
    if lower.contains("..") || lower.contains('\\') || lower.contains("%5c") {
        return true;
    }
    let decoded = percent_decode(raw_path);
    decoded.contains("..") || decoded.contains('\\') || decoded.contains('\0')
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are; invalid UTF-8 is replaced).
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(text) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(text, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn file_response(
    name: &str,
    file: &rust_embed::EmbeddedFile,
    if_none_match: Option<&HeaderValue>,
) -> Response {
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let cache = if name.starts_with("vendor/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let not_modified = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(Body::from(file.data.clone().into_owned()));
        let mime = content_type(name, file.metadata.mimetype());
        if let Ok(value) = HeaderValue::from_str(&mime) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    security_headers(response)
}

/// The content type of `name`: JavaScript modules as `text/javascript` (what browsers
/// expect for `type="module"`), text types with `charset=utf-8`.
fn content_type(name: &str, guessed: &str) -> String {
    let mime = if name.ends_with(".js") || name.ends_with(".mjs") {
        "text/javascript"
    } else {
        guessed
    };
    if mime.starts_with("text/") || mime == "application/json" || mime == "image/svg+xml" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response();
    // Static errors stay plain text (the API's JSON error rewriting is for `/api/`).
    response.extensions_mut().insert(PlainTextError);
    security_headers(response)
}

fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn get(uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let request = Request::get(uri).body(Body::empty()).expect("request");
        let csp = content_security_policy(&std::collections::BTreeMap::new());
        let response = serve(request, &csp).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[test]
    fn tile_hosts_from_the_map_settings_join_img_src_and_nothing_else_does() {
        let extra =
            |v: serde_json::Value| -> std::collections::BTreeMap<String, serde_json::Value> {
                serde_json::from_value(v).unwrap()
            };
        assert_eq!(
            tile_sources(&extra(serde_json::json!({}))),
            vec!["https://tile.openstreetmap.org"]
        );
        let configured = extra(serde_json::json!({
            "map": {"tiles": {
                "url": "https://{s}.tiles.example.net:8443/{z}/{x}/{y}.png",
                "darkDefault": "dark_all",
                "lightDefault": "osm",
                "darkUrl": "https://x.example'; script-src *; y/{z}.png",
            }},
        }));
        assert_eq!(
            tile_sources(&configured),
            vec![
                "https://tile.openstreetmap.org",
                "https://*.tiles.example.net:8443",
                "https://*.basemaps.cartocdn.com",
            ],
            "a value that is not a plain host is left out"
        );
        // The deprecated spellings count too.
        let legacy = extra(serde_json::json!({
            "tiles": {"url": "http://tiles.local/{z}/{x}/{y}.png"},
            "mapDarkTileProvider": "positron",
        }));
        assert_eq!(
            tile_sources(&legacy),
            vec![
                "https://tile.openstreetmap.org",
                "http://tiles.local",
                "https://*.basemaps.cartocdn.com",
            ]
        );
        for bad in [
            "javascript:alert(1)",
            "https://",
            "https://*/x",
            "https://{s}/x",
            "ftp://h/x",
        ] {
            assert_eq!(tile_origin(bad), None, "{bad}");
        }
        let csp = content_security_policy(&configured);
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("img-src 'self' data: https://tile.openstreetmap.org https://*.tiles.example.net:8443 https://*.basemaps.cartocdn.com;"),
            "{csp}"
        );
        assert_eq!(csp.matches("script-src").count(), 1, "{csp}");
    }

    #[tokio::test]
    async fn index_and_spa_fallback() {
        for uri in ["/", "/index.html", "/packets", "/nodes/abc"] {
            let (status, headers, body) = get(uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("script-src 'self';"), "{csp}");
            assert!(!csp.contains("unsafe-inline"), "{csp}");
            assert!(body.contains("<main"), "{uri}");
        }
    }

    #[tokio::test]
    async fn files_have_their_content_type_and_an_etag() {
        let (status, headers, _) = get("/app/main.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let etag = headers[header::ETAG].clone();
        let (status, _, _) = get("/css/app.css").await;
        assert_eq!(status, StatusCode::OK);
        let request = Request::get("/app/main.js")
            .header(header::IF_NONE_MATCH, etag)
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            serve(request, &content_security_policy(&Default::default()))
                .await
                .status(),
            StatusCode::NOT_MODIFIED
        );
        // A missing module is a 404, not the SPA page.
        assert_eq!(get("/app/missing.js").await.0, StatusCode::NOT_FOUND);
        // The browser tests are not served.
        assert_ne!(
            get("/e2e/package.json").await.2.trim_start().chars().next(),
            Some('{')
        );
    }

    #[tokio::test]
    async fn traversal_is_refused() {
        for uri in [
            "/../Cargo.toml",
            "/app/%2e%2e/%2E%2E/Cargo.toml",
            "/app/%2e./x",
            "/app\\x",
            "/app%5c..%5cx",
            "/app%5Cx",
        ] {
            assert_eq!(get(uri).await.0, StatusCode::BAD_REQUEST, "{uri}");
        }
    }
}
