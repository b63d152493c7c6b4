//! An in-memory [`BatchWriter`] with the storage's dedup semantics, for tests and benchmarks.
//!
//! Transmissions are unique by hash; observations by (transmission, observer, path), and an
//! observation without observer never conflicts, as the SQLite unique index.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use analyzer_db::{
    BatchOutcome, ContentHash, DbResult, DroppedPacket, ObservationWrite, ObserverStatus,
    PacketObservation, PacketWrite, WriteBatch,
};

use crate::writer::BatchWriter;

/// What the memory writer holds.
#[derive(Debug, Default)]
pub struct MemoryState {
    /// Transmission ids by hash.
    pub transmissions: HashMap<ContentHash, i64>,
    /// Stored observations, in insertion order.
    pub observations: Vec<PacketObservation>,
    /// Observation ids by (transmission id, observer id, path).
    pub observation_keys: HashMap<(i64, String, String), i64>,
    /// Status messages, in order.
    pub statuses: Vec<ObserverStatus>,
    /// Dropped packets, in order.
    pub dropped: Vec<DroppedPacket>,
    /// Committed batches.
    pub batches: u64,
}

/// A shareable in-memory writer; clones see the same state.
#[derive(Debug, Clone, Default)]
pub struct MemoryWriter {
    /// The state, for inspection.
    pub state: Arc<Mutex<MemoryState>>,
}

impl MemoryWriter {
    /// Runs `f` on the state.
    pub fn with<T>(&self, f: impl FnOnce(&MemoryState) -> T) -> T {
        f(&self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl BatchWriter for MemoryWriter {
    fn write_batch(&mut self, batch: &WriteBatch) -> DbResult<BatchOutcome> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut outcome = BatchOutcome::default();
        for packet in &batch.packets {
            let next_tx = state.transmissions.len() as i64 + 1;
            let mut new_transmission = false;
            let transmission_id = *state.transmissions.entry(packet.hash).or_insert_with(|| {
                new_transmission = true;
                next_tx
            });
            if new_transmission {
                outcome.counters.tx_inserted += 1;
            } else {
                outcome.counters.tx_dupes += 1;
            }
            let next_obs = state.observations.len() as i64 + 1;
            let observation = match &packet.observer {
                Some(o) => {
                    let key = (transmission_id, o.id.clone(), packet.path_json.clone());
                    match state.observation_keys.get(&key) {
                        Some(id) => ObservationWrite::Duplicate(*id),
                        None => {
                            state.observation_keys.insert(key, next_obs);
                            ObservationWrite::Inserted(next_obs)
                        }
                    }
                }
                None => ObservationWrite::Inserted(next_obs),
            };
            if let ObservationWrite::Inserted(_) = observation {
                state.observations.push(packet.clone());
                outcome.counters.obs_inserted += 1;
            } else {
                outcome.counters.obs_merged += 1;
            }
            if packet.advert.is_some() {
                outcome.counters.node_upserts += 1;
            }
            outcome.packets.push(Some(PacketWrite {
                transmission_id,
                new_transmission,
                observation,
                observer_idx: None,
            }));
        }
        state.statuses.extend(batch.statuses.iter().cloned());
        state.dropped.extend(batch.dropped.iter().cloned());
        outcome.counters.dropped_recorded += batch.dropped.len() as u64;
        state.batches += 1;
        Ok(outcome)
    }
}
