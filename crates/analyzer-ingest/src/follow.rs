//! Following a database another process writes (the server running without ingestion): new
//! rows are found by id watermark, never by time, so nothing is missed or repeated when
//! clocks or batches disagree.
//!
//! In-process ingestion does not need this: its [`crate::IngestEvent`]s reach the store
//! directly. [`Follower::poll`] is synchronous (storage readers are); [`run_follower`] drives it
//! on the blocking pool at a fixed interval.

use std::time::Duration;

use analyzer_db::{DbResult, ObservationRow, StorageReader, TransmissionRow, Watermark};
use tokio::sync::{mpsc, watch};

/// Rows that appeared since the previous poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewRows {
    /// New transmissions, oldest first, each with all its observations.
    pub transmissions: Vec<TransmissionRow>,
    /// New observations of transmissions delivered earlier, oldest first.
    pub observations: Vec<ObservationRow>,
}

impl NewRows {
    /// True when nothing is new.
    pub fn is_empty(&self) -> bool {
        self.transmissions.is_empty() && self.observations.is_empty()
    }
}

/// Tracks the id watermarks of one reader.
#[derive(Debug)]
pub struct Follower<R> {
    reader: R,
    watermark: Watermark,
    page: usize,
    /// Observation ids above the observation watermark that were already delivered with
    /// their transmission; skipped when the scan reaches them.
    delivered_ahead: std::collections::BTreeSet<i64>,
}

impl<R: StorageReader> Follower<R> {
    /// Starts after `start` (typically the watermark of the initial load).
    pub fn new(reader: R, start: Watermark, page: usize) -> Self {
        Self {
            reader,
            watermark: start,
            page: page.max(1),
            delivered_ahead: Default::default(),
        }
    }

    /// The ids fully accounted for.
    pub fn watermark(&self) -> Watermark {
        self.watermark
    }

    /// Reads up to one page of new transmissions (with their observations) and one page of
    /// observations, and returns what is new. No row is returned twice, and none is skipped:
    /// an observation of a transmission not returned yet stops the observation scan until
    /// its transmission has been delivered.
    pub fn poll(&mut self) -> DbResult<NewRows> {
        let old_tx = self.watermark.transmission_id;
        let transmissions = self.reader.transmissions_after(old_tx, self.page)?;
        let new_tx = transmissions.last().map_or(old_tx, |t| t.id.max(old_tx));
        for tx in &transmissions {
            for o in &tx.observations {
                if o.id > self.watermark.observation_id {
                    self.delivered_ahead.insert(o.id);
                }
            }
        }
        let mut observations = Vec::new();
        let mut obs_mark = self.watermark.observation_id;
        for o in self.reader.observations_after(obs_mark, self.page)? {
            if o.transmission_id > new_tx {
                // Its transmission comes in a later page: stop here and rescan from here.
                break;
            }
            obs_mark = o.id;
            if !self.delivered_ahead.remove(&o.id) {
                observations.push(o);
            }
        }
        // Forget anything the watermark has passed (e.g. rows deleted meanwhile).
        self.delivered_ahead = self.delivered_ahead.split_off(&(obs_mark + 1));
        self.watermark = Watermark {
            transmission_id: new_tx,
            observation_id: obs_mark,
        };
        Ok(NewRows {
            transmissions,
            observations,
        })
    }
}

/// Polls every `interval` until `shutdown` turns true, sending non-empty results to `out`.
/// Errors are logged and retried at the next tick.
pub async fn run_follower<R>(
    follower: Follower<R>,
    interval: Duration,
    out: mpsc::Sender<NewRows>,
    mut shutdown: watch::Receiver<bool>,
) where
    R: StorageReader + Send + 'static,
{
    let mut follower = Some(follower);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
        }
        let Some(mut f) = follower.take() else { return };
        let joined = tokio::task::spawn_blocking(move || {
            let result = f.poll();
            (f, result)
        })
        .await;
        let Ok((f, result)) = joined else { return };
        follower = Some(f);
        match result {
            Ok(rows) if rows.is_empty() => {}
            Ok(rows) => {
                if out.send(rows).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "Following the database failed; retrying"),
        }
    }
}
