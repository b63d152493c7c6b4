//! Channels endpoints (spec api.md).

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The channels routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
