//! Rows another process wrote, found by the database follower: late observations of
//! transmissions already in memory.

use super::*;
use analyzer_db::ObservationRow;

impl PreparedChunk {
    /// Late observations (oldest first) of transmissions the store may hold. Merging the
    /// chunk adds each to its transmission when that is in memory and skips (and counts as
    /// `live_skipped`) the rest: an observation alone never creates a transmission.
    pub fn from_late_observations(rows: &[ObservationRow]) -> Self {
        let mut chunk = Self {
            late_only: true,
            ..Self::default()
        };
        let mut by_tx: Vec<&ObservationRow> = rows.iter().collect();
        by_tx.sort_by_key(|o| (o.transmission_id, o.id));
        for group in by_tx.chunk_by(|a, b| a.transmission_id == b.transmission_id) {
            let mut obs = Vec::with_capacity(group.len());
            let mut last_seen = i64::MIN;
            for o in group {
                last_seen = last_seen.max(o.timestamp);
                obs.push(Obs {
                    id: o.id,
                    timestamp: secs_u32(o.timestamp),
                    observer: o.observer_idx.map_or(NONE, |k| chunk.observers.intern(k)),
                    path: chunk.intern_path(o.path_json.as_deref().unwrap_or("[]")),
                    snr: centi(o.snr),
                    rssi: centi(o.rssi),
                    score: opt_score(o.score),
                    direction: chunk.opt_str(o.direction.as_deref()),
                });
            }
            let tx = Tx {
                id: group[0].transmission_id,
                // Neutral for the merge: it keeps the stored transmission's first_seen.
                first_seen: i64::MAX,
                last_seen,
                hash: [0; 8],
                raw: Box::default(),
                decoded_json: Box::default(),
                obs,
                channel: NONE,
                scope: NONE,
                from_pubkey: NONE,
                route_type: NO_U8,
                payload_type: NO_U8,
                payload_version: NO_U8,
                raw_upper: false,
            };
            chunk.push_keys(&tx.obs);
            chunk.txs.push(tx);
        }
        chunk
    }
}

impl StoreData {
    /// Merges the observations of a late-only `tx` into the transmission with its id.
    pub(super) fn merge_late(&mut self, tx: Tx) {
        match self.slot_of_id(tx.id) {
            Some(slot) => self.merge_into(slot, tx),
            None => self.live_skipped += tx.obs.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer_db::TransmissionRow;

    fn obs(id: i64, tx: i64, ts: i64) -> ObservationRow {
        ObservationRow {
            id,
            transmission_id: tx,
            observer_idx: Some(3),
            direction: None,
            snr: Some(5.5),
            rssi: Some(-90.0),
            score: None,
            path_json: Some(r#"["AB"]"#.into()),
            resolved_path: None,
            timestamp: ts,
        }
    }

    #[test]
    fn late_observations_join_their_transmission_and_never_create_one() {
        let store = Store::new();
        let row = TransmissionRow {
            id: 10,
            hash: "0123456789abcdef".into(),
            raw_hex: "1100".into(),
            first_seen: "2026-01-01T00:00:00Z".into(),
            last_seen: 1_767_225_600,
            route_type: Some(1),
            payload_type: Some(4),
            payload_version: Some(0),
            decoded_json: Some("{}".into()),
            channel_hash: None,
            scope_name: None,
            from_pubkey: None,
            observations: vec![obs(1, 10, 1_767_225_600)],
        };
        store.merge(PreparedChunk::from_rows(&[row]));
        let late = [obs(2, 10, 1_767_225_700), obs(3, 99, 1_767_225_700)];
        store.merge(PreparedChunk::from_late_observations(&late));
        let detail = store.by_id(10).expect("transmission kept");
        assert_eq!(detail.observations.len(), 2);
        assert_eq!(detail.summary.last_seen, 1_767_225_700);
        assert_eq!(detail.summary.first_seen, 1_767_225_600);
        assert_eq!(detail.summary.raw_hex, "1100");
        assert!(store.by_id(99).is_none());
        let counts = store.counts();
        assert_eq!((counts.transmissions, counts.observations), (1, 2));
        assert_eq!(counts.live_skipped, 1);
    }
}
