//! Store queries behind the observers endpoints. A child module of `store`, so it reads
//! `StoreData` directly under the read lock.
//!
//! Both queries copy out what the endpoint needs and leave the parsing of decoded JSON to
//! the caller, outside the lock.

use super::*;

/// How far before the window a transmission may have been first seen and still carry an
/// observation inside it. Walking the id order newest first stops at transmissions first
/// seen earlier than `since` minus this; an observation arriving more than this long after
/// its transmission's first sighting is not counted (the mesh repeats a packet within
/// seconds, so none is expected).
const LATE_OBSERVATION_GRACE_SECS: i64 = 6 * 3600;

/// Everything one observer saw since a time, for `/api/observers/{id}/analytics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObserverActivity {
    /// The observer's observations with `timestamp >= since`, newest first.
    pub sightings: Vec<ObserverSighting>,
    /// Decoded payload JSON of each distinct transmission (`ObserverSighting::tx`).
    pub decoded: Vec<String>,
    /// Hops of each distinct path (`ObserverSighting::path`), as stored (upper case).
    pub paths: Vec<Vec<String>>,
    /// The newest observations (at most the requested number), newest first, each with
    /// its transmission.
    pub recent: Vec<(ObservationView, PacketSummary)>,
}

/// One observation in an [`ObserverActivity`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObserverSighting {
    /// Ingest time.
    pub timestamp: UnixSecs,
    /// Header payload type of the transmission.
    pub payload_type: Option<u8>,
    /// SNR in dB.
    pub snr: Option<f64>,
    /// Index into [`ObserverActivity::decoded`].
    pub tx: usize,
    /// Index into [`ObserverActivity::paths`].
    pub path: usize,
}

impl Store {
    /// Observations per observer key (`observations.observer_idx`) with
    /// `timestamp >= since` (see [`LATE_OBSERVATION_GRACE_SECS`] for the one bound).
    pub fn observations_per_observer_since(
        &self,
        since: UnixSecs,
    ) -> std::collections::HashMap<i64, usize> {
        let data = self.read();
        let mut per_global: HashMap<u32, usize> = HashMap::new();
        let stop = since.saturating_sub(LATE_OBSERVATION_GRACE_SECS);
        for &(_, slot) in data.order.iter().rev() {
            let Some(tx) = data.tx(slot) else { continue };
            if tx.first_seen < stop {
                break;
            }
            if tx.last_seen < since {
                continue;
            }
            for o in &tx.obs {
                if o.observer != NONE && i64::from(o.timestamp) >= since {
                    *per_global.entry(o.observer).or_default() += 1;
                }
            }
        }
        per_global
            .into_iter()
            .filter_map(|(g, n)| data.observers.resolve(g).map(|k| (k, n)))
            .collect()
    }

    /// What the observer with key `observer_idx` saw at or after `since`, with its
    /// `recent` newest observations rendered in full.
    pub fn observer_activity(
        &self,
        observer_idx: i64,
        since: UnixSecs,
        recent: usize,
    ) -> ObserverActivity {
        let data = self.read();
        let Some(global) = data.observers.get(observer_idx) else {
            return ObserverActivity::default();
        };
        let Some(slots) = data.by_observer.get(global as usize) else {
            return ObserverActivity::default();
        };
        let mut out = ObserverActivity::default();
        let mut path_index: HashMap<u32, usize> = HashMap::new();
        // (timestamp, observation id, slot, position in tx.obs) for the recent list.
        let mut newest: Vec<(i64, i64, u32, usize)> = Vec::new();
        for &slot in slots {
            let Some(tx) = data.tx(slot) else { continue };
            if tx.last_seen < since {
                continue;
            }
            let mut tx_index = None;
            for (pos, o) in tx.obs.iter().enumerate() {
                let ts = i64::from(o.timestamp);
                if o.observer != global || ts < since {
                    continue;
                }
                let tx_i = *tx_index.get_or_insert_with(|| {
                    out.decoded.push(tx.decoded_json.to_string());
                    out.decoded.len() - 1
                });
                let path_i = *path_index.entry(o.path).or_insert_with(|| {
                    out.paths
                        .push(parse_hops_verbatim(data.paths.resolve(o.path)));
                    out.paths.len() - 1
                });
                out.sightings.push(ObserverSighting {
                    timestamp: ts,
                    payload_type: (tx.payload_type != NO_U8).then_some(tx.payload_type),
                    snr: (o.snr != NO_CENTI).then_some(f64::from(o.snr) / 100.0),
                    tx: tx_i,
                    path: path_i,
                });
                newest.push((ts, o.id, slot, pos));
            }
        }
        out.sightings
            .sort_by_key(|s| (Reverse(s.timestamp), s.tx, s.path));
        newest.sort_unstable_by_key(|&(ts, id, _, _)| Reverse((ts, id)));
        newest.truncate(recent);
        out.recent = newest
            .into_iter()
            .filter_map(|(_, _, slot, pos)| {
                let tx = data.tx(slot)?;
                let obs = data.observation(tx.obs.get(pos)?);
                Some((obs, data.summary(slot)?))
            })
            .collect();
        out
    }
}

/// The hop strings of a `path_json` array (`["AB","C1D2"]`) in their stored case; entries
/// that are not hex strings are skipped, as the hop index does.
fn parse_hops_verbatim(path_json: &str) -> Vec<String> {
    path_json
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|h| !h.is_empty() && h.len() <= 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer_db::{ObservationRow, TransmissionRow};

    fn obs(id: i64, tx: i64, observer: i64, ts: i64, snr: f64, path: &str) -> ObservationRow {
        ObservationRow {
            id,
            transmission_id: tx,
            observer_idx: Some(observer),
            direction: None,
            snr: Some(snr),
            rssi: Some(-90.0),
            score: None,
            path_json: Some(path.into()),
            resolved_path: None,
            timestamp: ts,
        }
    }

    fn tx(id: i64, first_seen: &str, observations: Vec<ObservationRow>) -> TransmissionRow {
        TransmissionRow {
            id,
            hash: format!("{id:016x}"),
            raw_hex: "1100".into(),
            first_seen: first_seen.into(),
            last_seen: 0,
            route_type: Some(1),
            payload_type: Some(4),
            payload_version: Some(0),
            decoded_json: Some(format!(r#"{{"type":"ADVERT","pubKey":"k{id}"}}"#)),
            channel_hash: None,
            scope_name: None,
            from_pubkey: None,
            observations,
        }
    }

    const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn store() -> Store {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[
            tx(
                1,
                "2026-01-01T00:00:00Z",
                vec![
                    obs(1, 1, 7, T0, 5.0, r#"["AB"]"#),
                    obs(2, 1, 8, T0 + 5, -3.0, "[]"),
                ],
            ),
            tx(
                2,
                "2026-01-01T01:00:00Z",
                vec![obs(3, 2, 7, T0 + 3600, 1.5, r#"["AB","CD"]"#)],
            ),
        ]));
        store
    }

    #[test]
    fn counts_per_observer_since() {
        let s = store();
        let all = s.observations_per_observer_since(T0);
        assert_eq!(all.get(&7), Some(&2));
        assert_eq!(all.get(&8), Some(&1));
        let late = s.observations_per_observer_since(T0 + 1);
        assert_eq!(late.get(&7), Some(&1));
        assert_eq!(late.get(&8), Some(&1));
        assert!(s.observations_per_observer_since(T0 + 7200).is_empty());
    }

    #[test]
    fn activity_is_the_observers_own_observations_newest_first() {
        let s = store();
        let a = s.observer_activity(7, T0, 1);
        assert_eq!(a.sightings.len(), 2);
        assert_eq!(a.sightings[0].timestamp, T0 + 3600);
        assert_eq!(a.paths[a.sightings[0].path], ["AB", "CD"]);
        assert!(a.decoded[a.sightings[1].tx].contains("k1"));
        assert_eq!(a.recent.len(), 1);
        assert_eq!(a.recent[0].0.id, 3);
        assert_eq!(a.recent[0].1.id, 2);
        assert_eq!(s.observer_activity(7, T0 + 1, 20).sightings.len(), 1);
        assert!(s.observer_activity(99, T0, 20).sightings.is_empty());
    }
}
