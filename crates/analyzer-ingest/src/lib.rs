//! MQTT ingestion for the MeshCore analyzer.
//!
//! Data flow: one [`source`] task per broker (rumqttc, QoS 1, persistent session) hands every
//! publish to a bounded channel; the [`pipeline`] parses and decodes it ([`message`]), builds
//! storage records and a writer thread commits them in batches through
//! [`analyzer_db::Storage::write_batch`], then broadcasts what is new. Nothing is dropped when
//! the writer is behind: the sources stop reading their sockets and the brokers hold the
//! messages in our sessions.

pub mod message;
pub mod reject;
pub mod source;
pub mod tls;

pub use tls::install_crypto_provider;

/// Current time in Unix seconds.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
