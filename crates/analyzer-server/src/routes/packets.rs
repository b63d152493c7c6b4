//! Packets endpoints (spec api.md).

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The packets routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
