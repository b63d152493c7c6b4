//! Database rows for the store's unit tests.

use analyzer_db::{ObservationRow, TransmissionRow};

use super::ADVERT;

/// 2026-01-01T00:00:00Z.
pub(super) const T0: i64 = 1_767_225_600;
/// The originator of every ADVERT built by [`tx`] (lower case; rows carry it upper case,
/// as some databases do).
pub(super) const ORIGIN: &str = "aa11223344556677889900112233445566778899001122334455667788990011";

/// One observation by observer key `observer` at `ts` with path `path`.
pub(super) fn obs(
    id: i64,
    tx: i64,
    observer: i64,
    ts: i64,
    snr: f64,
    path: &str,
) -> ObservationRow {
    ObservationRow {
        id,
        transmission_id: tx,
        observer_idx: Some(observer),
        direction: None,
        snr: Some(snr),
        rssi: None,
        score: None,
        path_json: Some(path.into()),
        resolved_path: None,
        timestamp: ts,
    }
}

/// A transmission of `payload_type` first seen at [`T0`]; an ADVERT comes from [`ORIGIN`].
pub(super) fn tx(id: i64, payload_type: u8, observations: Vec<ObservationRow>) -> TransmissionRow {
    TransmissionRow {
        id,
        hash: format!("{id:016x}"),
        raw_hex: "1100".into(),
        first_seen: "2026-01-01T00:00:00Z".into(),
        last_seen: 0,
        route_type: Some(1),
        payload_type: Some(i64::from(payload_type)),
        payload_version: Some(0),
        decoded_json: None,
        channel_hash: None,
        scope_name: None,
        from_pubkey: (payload_type == ADVERT).then(|| ORIGIN.to_uppercase()),
        observations,
    }
}
