//! The reference's JSON shapes shared by several endpoints (spec api.md §0.5): the
//! transmission ("packet") and the observation. Key order is the reference's.

use analyzer_db::time::rfc3339;
use analyzer_store::{ObservationView, PacketSummary};
use serde_json::{Map, Value, json};

use crate::directory::ObserverDir;

/// A JSON object under construction.
pub type Object = Map<String, Value>;

/// Epoch seconds as the reference's ISO-8601 text (`2026-01-01T00:00:00Z`).
pub fn iso(secs: i64) -> String {
    rfc3339(secs)
}

/// Epoch seconds as an observation timestamp (`2026-01-01T00:00:00.000Z`).
pub fn iso_millis(secs: i64) -> String {
    let mut text = rfc3339(secs);
    text.insert_str(text.len() - 1, ".000");
    text
}

/// Hops of a `path_json` array (`["A1","B2"]`), or `None` when it is not a JSON array of
/// strings.
pub fn parsed_path(path_json: &str) -> Option<Vec<String>> {
    serde_json::from_str::<Vec<String>>(path_json).ok()
}

/// The transmission object (`txToMap`): list fields, then the observer, signal and path of
/// the best (longest-path) observation.
pub fn packet(p: &PacketSummary, observers: &ObserverDir) -> Object {
    let mut o = Object::with_capacity(20);
    o.insert("id".into(), json!(p.id));
    o.insert("raw_hex".into(), json!(p.raw_hex));
    o.insert(
        "hash".into(),
        json!(String::from_utf8_lossy(&p.hash.to_hex())),
    );
    o.insert("first_seen".into(), json!(iso(p.first_seen)));
    o.insert("timestamp".into(), json!(iso(p.first_seen)));
    o.insert("route_type".into(), json!(p.route_type));
    o.insert("payload_type".into(), json!(p.payload_type));
    o.insert("decoded_json".into(), json!(p.decoded_json));
    o.insert("observation_count".into(), json!(p.observation_count));
    let best = p.best.as_ref();
    let observer = best
        .and_then(|b| b.observer_idx)
        .and_then(|k| observers.by_idx(k));
    o.insert("observer_id".into(), json!(observer.map(|r| &r.id)));
    o.insert(
        "observer_name".into(),
        json!(observer.and_then(|r| r.name.as_deref())),
    );
    o.insert(
        "observer_iata".into(),
        json!(observer.and_then(|r| r.iata.as_deref())),
    );
    o.insert("snr".into(), json!(best.and_then(|b| b.snr)));
    o.insert("rssi".into(), json!(best.and_then(|b| b.rssi)));
    let path_json = best.map_or("[]", |b| b.path_json.as_str());
    o.insert("path_json".into(), json!(path_json));
    o.insert(
        "direction".into(),
        json!(best.and_then(|b| b.direction.as_deref())),
    );
    o.insert("_parsedPath".into(), json!(parsed_path(path_json)));
    o
}

/// The observation object (`ObservationResp`), with the parent's packet fields.
pub fn observation(v: &ObservationView, p: &PacketSummary, observers: &ObserverDir) -> Object {
    let observer = v.observer_idx.and_then(|k| observers.by_idx(k));
    let mut o = Object::with_capacity(16);
    o.insert("id".into(), json!(v.id));
    o.insert("transmission_id".into(), json!(p.id));
    o.insert(
        "hash".into(),
        json!(String::from_utf8_lossy(&p.hash.to_hex())),
    );
    o.insert("observer_id".into(), json!(observer.map(|r| &r.id)));
    o.insert(
        "observer_name".into(),
        json!(observer.and_then(|r| r.name.as_deref())),
    );
    o.insert(
        "observer_iata".into(),
        json!(observer.and_then(|r| r.iata.as_deref())),
    );
    o.insert("snr".into(), json!(v.snr));
    o.insert("rssi".into(), json!(v.rssi));
    if let Some(score) = v.score {
        o.insert("score".into(), json!(score));
    }
    o.insert("path_json".into(), json!(v.path_json));
    if let Some(direction) = &v.direction {
        o.insert("direction".into(), json!(direction));
    }
    o.insert("raw_hex".into(), json!(p.raw_hex));
    o.insert("timestamp".into(), json!(iso_millis(v.timestamp)));
    o.insert("payload_type".into(), json!(p.payload_type));
    o.insert("route_type".into(), json!(p.route_type));
    o.insert("decoded_json".into(), json!(p.decoded_json));
    o
}

/// Rounds to `places` decimals, half away from zero (the reference truncates negatives
/// toward zero after adding 0.5, so -1.26 became -1.2; we give -1.3).
pub(crate) fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_as_the_reference_does() {
        assert_eq!(iso(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(iso_millis(1_767_225_600), "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn parsed_path_reads_hop_arrays_only() {
        assert_eq!(
            parsed_path(r#"["A1","B2"]"#),
            Some(vec!["A1".to_owned(), "B2".to_owned()])
        );
        assert_eq!(parsed_path("[]"), Some(vec![]));
        assert_eq!(parsed_path("not json"), None);
    }
}
