//! Config endpoints (spec api.md).

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The config routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
