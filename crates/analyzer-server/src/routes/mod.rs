//! The route table and the middleware every response passes through.
//!
//! Each group of endpoints lives in its own module and returns an [`OpenApiRouter`] whose
//! handlers carry `#[utoipa::path]` annotations, so the OpenAPI document is built from the
//! same table that routes requests and cannot drift from it.

mod channels;
mod config;
mod nodes;
mod observers;
mod packets;
mod system;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

pub(crate) use system::unix_now;

/// Header the reference sets on every response while (and after) the startup load runs.
pub const LOAD_STATUS_HEADER: HeaderName = HeaderName::from_static("x-corescope-load-status");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "meshcore-analyzer API",
        description = "CoreScope-compatible REST API of meshcore-analyzer.",
        license(name = "MIT")
    ),
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

/// Every API route with its OpenAPI description.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(system::routes())
        .merge(packets::routes())
        .merge(nodes::routes())
        .merge(observers::routes())
        .merge(channels::routes())
        .merge(config::routes())
}

/// The OpenAPI document of every route (what `/api/spec` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let (api, _spec) = api().split_for_parts();
    let api = api
        .fallback(api_not_found)
        .layer(middleware::from_fn(no_store));
    let (ws, _) = crate::ws::routes().split_for_parts();
    Router::new()
        .merge(api)
        .merge(ws)
        .layer(middleware::from_fn_with_state(state.clone(), load_status))
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

async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Unknown API paths are a clean 404 (the reference falls through to its SPA with a 200).
async fn api_not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        request.method(),
        request.uri().path()
    ))
}
