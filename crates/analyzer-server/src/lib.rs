//! The analyzer's HTTP API: CoreScope's REST paths, query parameters and JSON field names.
//!
//! The server reads through the storage traits of `analyzer-db` and through the
//! [`IngestView`] the binary hands it; it knows nothing about MQTT or SQL. Every `/api/`
//! response carries `Cache-Control: no-store` and the `X-CoreScope-Load-Status` header;
//! errors have one shape, `{"error": "..."}`.

mod assets;
mod directory;
mod error;
mod neighbors;
mod params;
mod perf;
mod process;
mod render;
mod routes;
mod state;
mod ws;

pub use directory::{NodeDir, ObserverDir};
pub use error::ApiError;
pub use routes::{LOAD_STATUS_HEADER, openapi, router};
pub use state::{
    AppState, AppStateBuilder, Clock, IngestView, MqttSourceView, NoIngest, ReaderHandle,
    WriteStatsView,
};
pub use ws::{LiveHub, LiveMessage};

use std::future::Future;

/// Serves `router(state)` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let live = state.clone();
    axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // WebSocket clients are told (close 1001) rather than dropped.
            live.live().shutdown();
        })
        .await?;
    state.live().drain(std::time::Duration::from_secs(2)).await;
    Ok(())
}
