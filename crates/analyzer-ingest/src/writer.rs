//! The writer thread: takes messages off the ingest queue, turns them into records, commits
//! them in batches and broadcasts what is new.
//!
//! Batching is "group commit without a timer": the thread takes every message already queued
//! (up to [`WriterOptions::max_batch`]) and commits them in one transaction. When traffic is
//! light a batch is one message and nothing waits; under a burst, batches grow while the
//! previous commit runs, which is what keeps throughput up. Commit latency is measured from
//! MQTT receipt to the end of the commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use analyzer_db::{
    BatchOutcome, DbResult, ObservationWrite, ObserverStatus, PacketObservation, PacketWrite,
    Storage, WriteBatch,
};
use tokio::sync::{broadcast, mpsc};

use crate::process::{Outcome, Processor, RawMessage};
use crate::reject::{Reject, RejectCounters};
use crate::source::Inbound;

/// Where batches go: a [`Storage`] backend, or a test double.
pub trait BatchWriter: Send {
    /// Writes one batch in one transaction (see [`Storage::write_batch`]).
    fn write_batch(&mut self, batch: &WriteBatch) -> DbResult<BatchOutcome>;

    /// A chance for one small maintenance step between writes: called when the queue has been
    /// empty for [`WriterOptions::idle_interval`], and between batches at least once per
    /// [`MAINTENANCE_INTERVAL`] under sustained load, so background work never starves.
    fn idle(&mut self) {}
}

impl<S: Storage + Send> BatchWriter for S {
    fn write_batch(&mut self, batch: &WriteBatch) -> DbResult<BatchOutcome> {
        Storage::write_batch(self, batch)
    }

    fn idle(&mut self) {
        if let Err(e) = self.run_background_step() {
            tracing::warn!(error = %e, "Background storage step failed");
        }
    }
}

/// Longest time between two [`BatchWriter::idle`] calls while batches keep coming.
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(1);

/// Something new in the store, for the in-memory store and WebSocket clients.
#[derive(Debug, Clone)]
pub enum IngestEvent {
    /// A new observation row (possibly of a new transmission). Duplicates of a sighting that
    /// is already stored (same hash, observer and path, e.g. from two brokers) are not sent.
    Packet(Arc<StoredPacket>),
    /// An observer status was stored.
    Observer(Arc<ObserverStatus>),
}

/// A packet observation as written, with its row ids.
#[derive(Debug, Clone)]
pub struct StoredPacket {
    /// The record.
    pub record: PacketObservation,
    /// Row ids and whether the transmission is new.
    pub write: PacketWrite,
}

/// Writer tunables.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Most messages per transaction.
    pub max_batch: usize,
    /// Queue-empty time after which [`BatchWriter::idle`] runs.
    pub idle_interval: Duration,
    /// Attempts per batch before it is given up (with growing pauses in between). Busy and
    /// I/O errors (database locked, disk full) are retried without limit instead.
    pub max_attempts: u32,
    /// Pause after the first failed attempt; it grows 4× per attempt up to 5 s.
    pub retry_pause: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            max_batch: 500,
            idle_interval: Duration::from_millis(250),
            max_attempts: 5,
            retry_pause: Duration::from_millis(50),
        }
    }
}

/// Pipeline counters (process lifetime).
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Messages processed (stored, or rejected and counted).
    pub received: AtomicU64,
    /// Packet observations handed to storage.
    pub packets: AtomicU64,
    /// Status messages handed to storage.
    pub statuses: AtomicU64,
    /// New transmissions.
    pub tx_inserted: AtomicU64,
    /// Packets of an already known transmission.
    pub tx_dupes: AtomicU64,
    /// New observation rows.
    pub obs_inserted: AtomicU64,
    /// Observations merged into an existing row (duplicate sightings).
    pub obs_duplicates: AtomicU64,
    /// Node upserts.
    pub node_upserts: AtomicU64,
    /// Observer upserts.
    pub observer_upserts: AtomicU64,
    /// `dropped_packets` rows (invalid signatures).
    pub dropped_recorded: AtomicU64,
    /// Committed batches.
    pub batches: AtomicU64,
    /// Largest batch (messages).
    pub max_batch: AtomicU64,
    /// Failed write attempts.
    pub write_errors: AtomicU64,
    /// Sum of commit latencies (receipt of the oldest message → commit), µs.
    pub latency_us_sum: AtomicU64,
    /// Worst commit latency, µs.
    pub latency_us_max: AtomicU64,
    /// Latest commit latency, µs.
    pub latency_us_last: AtomicU64,
    /// Batches whose oldest message waited more than [`CONTENTION_WAIT`] for its write.
    pub contended: AtomicU64,
    /// The latest commits' wait and hold times.
    pub recent: std::sync::Mutex<CommitSamples>,
}

/// A wait longer than this counts as contention (the reference's 100 ms).
pub const CONTENTION_WAIT: Duration = Duration::from_millis(100);
/// Commits kept for the percentiles (the reference's rolling window).
const SAMPLES: usize = 1024;

/// Wait (oldest message's receipt → write start) and hold (write start → commit) times of
/// the latest [`SAMPLES`] commits, in µs.
#[derive(Debug, Default)]
pub struct CommitSamples {
    samples: std::collections::VecDeque<(u64, u64)>,
}

impl CommitSamples {
    fn push(&mut self, wait_us: u64, hold_us: u64) {
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((wait_us, hold_us));
    }
}

/// p50, p95, p99 and max of a set of durations, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(mut us: Vec<u64>) -> Self {
        if us.is_empty() {
            return Self::default();
        }
        us.sort_unstable();
        // Nearest rank.
        let at = |q: f64| {
            let rank = ((q * us.len() as f64).ceil() as usize).clamp(1, us.len());
            us[rank - 1] as f64 / 1000.0
        };
        Self {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// The writer's commit timings (`writer_perf` of `/api/perf/write-sources`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CommitPerf {
    /// Commits since start.
    pub count: u64,
    /// Commits whose wait exceeded [`CONTENTION_WAIT`], since start.
    pub contention_total: u64,
    /// Wait before the write, over the latest commits.
    pub wait_ms: Percentiles,
    /// Time the write held the database, over the latest commits.
    pub hold_ms: Percentiles,
}

/// A copy of [`IngestCounters`] for the API and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestStats {
    /// Messages processed.
    pub received: u64,
    /// Packet observations handed to storage.
    pub packets: u64,
    /// Status messages handed to storage.
    pub statuses: u64,
    /// New transmissions (`tx_inserted`).
    pub tx_inserted: u64,
    /// Packets of known transmissions (`tx_dupes`).
    pub tx_dupes: u64,
    /// New observation rows (`obs_inserted`).
    pub obs_inserted: u64,
    /// Duplicate sightings merged into existing rows.
    pub obs_duplicates: u64,
    /// Node upserts.
    pub node_upserts: u64,
    /// Observer upserts.
    pub observer_upserts: u64,
    /// Invalid-signature drops recorded (`sig_drops`).
    pub dropped_recorded: u64,
    /// Committed batches.
    pub batches: u64,
    /// Largest batch.
    pub max_batch: u64,
    /// Failed write attempts (`write_errors`).
    pub write_errors: u64,
    /// Mean commit latency, µs.
    pub latency_us_avg: u64,
    /// Worst commit latency, µs.
    pub latency_us_max: u64,
    /// Latest commit latency, µs.
    pub latency_us_last: u64,
}

impl IngestCounters {
    /// The writer's commit timings.
    pub fn commit_perf(&self) -> CommitPerf {
        let (waits, holds): (Vec<u64>, Vec<u64>) = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .samples
            .iter()
            .copied()
            .unzip();
        CommitPerf {
            count: self.batches.load(Ordering::Relaxed),
            contention_total: self.contended.load(Ordering::Relaxed),
            wait_ms: Percentiles::of(waits),
            hold_ms: Percentiles::of(holds),
        }
    }

    /// Samples every counter.
    pub fn snapshot(&self) -> IngestStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let batches = get(&self.batches);
        IngestStats {
            received: get(&self.received),
            packets: get(&self.packets),
            statuses: get(&self.statuses),
            tx_inserted: get(&self.tx_inserted),
            tx_dupes: get(&self.tx_dupes),
            obs_inserted: get(&self.obs_inserted),
            obs_duplicates: get(&self.obs_duplicates),
            node_upserts: get(&self.node_upserts),
            observer_upserts: get(&self.observer_upserts),
            dropped_recorded: get(&self.dropped_recorded),
            batches,
            max_batch: get(&self.max_batch),
            write_errors: get(&self.write_errors),
            latency_us_avg: get(&self.latency_us_sum).checked_div(batches).unwrap_or(0),
            latency_us_max: get(&self.latency_us_max),
            latency_us_last: get(&self.latency_us_last),
        }
    }
}

/// Runs the writer loop on the current thread until the queue is closed and drained.
pub fn run_writer(
    mut queue: mpsc::Receiver<Inbound>,
    processor: Processor,
    mut writer: Box<dyn BatchWriter>,
    events: broadcast::Sender<IngestEvent>,
    counters: Arc<IngestCounters>,
    rejects: Arc<RejectCounters>,
    options: WriterOptions,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "Cannot start the writer's timer runtime; ingestion stops");
            return;
        }
    };
    let mut batch = WriteBatch::default();
    let mut last_idle = std::time::Instant::now();
    loop {
        let first = match runtime
            .block_on(async { tokio::time::timeout(options.idle_interval, queue.recv()).await })
        {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(_) => {
                writer.idle();
                last_idle = std::time::Instant::now();
                continue;
            }
        };
        let oldest = first.received;
        let mut n_messages = 1u64;
        let mut next = Some(first);
        // Acknowledged to their brokers only after the batch is committed (or given up on).
        let mut to_ack: Vec<Inbound> = Vec::new();
        while let Some(message) = next.take() {
            let raw = RawMessage {
                source: message.source,
                topic: &message.publish.topic,
                payload: &message.publish.payload,
                retained: message.publish.retain,
                now: message.received_at,
            };
            let outcome = processor.process(&raw, &mut batch, &rejects);
            match outcome {
                Outcome::Packet | Outcome::Companion | Outcome::ClientRx => {
                    counters.packets.fetch_add(1, Ordering::Relaxed)
                }
                Outcome::Status => counters.statuses.fetch_add(1, Ordering::Relaxed),
                Outcome::Rejected(_) => 0,
            };
            // Counted once processed, so a reader that sees it also sees the outcome counters.
            counters.received.fetch_add(1, Ordering::Relaxed);
            if message.ack.is_some() {
                to_ack.push(message);
            }
            if (n_messages as usize) < options.max_batch {
                if let Ok(m) = queue.try_recv() {
                    n_messages += 1;
                    next = Some(m);
                }
            }
        }
        if !batch.is_empty() {
            let wait = oldest.elapsed();
            let write_started = std::time::Instant::now();
            commit(
                &mut *writer,
                &mut batch,
                &events,
                &counters,
                &rejects,
                &options,
            );
            let hold = write_started.elapsed();
            counters.batches.fetch_add(1, Ordering::Relaxed);
            if wait > CONTENTION_WAIT {
                counters.contended.fetch_add(1, Ordering::Relaxed);
            }
            let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
            counters
                .recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(us(wait), us(hold));
            counters.max_batch.fetch_max(n_messages, Ordering::Relaxed);
            // Receipt of the oldest message → commit.
            let latency = us(wait + hold);
            counters
                .latency_us_sum
                .fetch_add(latency, Ordering::Relaxed);
            counters
                .latency_us_max
                .fetch_max(latency, Ordering::Relaxed);
            counters.latency_us_last.store(latency, Ordering::Relaxed);
        }
        batch.clear();
        for message in &to_ack {
            message.acknowledge();
        }
        if last_idle.elapsed() >= MAINTENANCE_INTERVAL {
            writer.idle();
            last_idle = std::time::Instant::now();
        }
    }
    tracing::info!("Ingest writer stopped: queue closed and drained");
}

fn commit(
    writer: &mut dyn BatchWriter,
    batch: &mut WriteBatch,
    events: &broadcast::Sender<IngestEvent>,
    counters: &IngestCounters,
    rejects: &RejectCounters,
    options: &WriterOptions,
) {
    let mut pause = options.retry_pause;
    let mut attempt = 1;
    let outcome = loop {
        match writer.write_batch(batch) {
            Ok(outcome) => break outcome,
            Err(e) => {
                counters.write_errors.fetch_add(1, Ordering::Relaxed);
                // A locked or full database gets better: keep the batch and wait (the
                // brokers hold the backlog meanwhile). Other errors are retried a few times.
                let transient =
                    matches!(e, analyzer_db::DbError::Busy | analyzer_db::DbError::Io(_));
                if !transient && attempt >= options.max_attempts {
                    tracing::error!(error = %e, records = batch.len(), attempts = attempt,
                        "Storage write failed; giving up on this batch");
                    for _ in 0..batch.len() {
                        rejects.record(Reject::WriteError, || e.to_string());
                    }
                    return;
                }
                tracing::warn!(error = %e, attempt, "Storage write failed; retrying");
                // The queue fills meanwhile and back-pressure reaches the brokers.
                std::thread::sleep(pause);
                pause = (pause * 4).min(Duration::from_secs(5));
                attempt += 1;
            }
        }
    };
    let c = &outcome.counters;
    counters
        .tx_inserted
        .fetch_add(c.tx_inserted, Ordering::Relaxed);
    counters.tx_dupes.fetch_add(c.tx_dupes, Ordering::Relaxed);
    counters
        .obs_inserted
        .fetch_add(c.obs_inserted, Ordering::Relaxed);
    counters
        .obs_duplicates
        .fetch_add(c.obs_merged, Ordering::Relaxed);
    counters
        .node_upserts
        .fetch_add(c.node_upserts, Ordering::Relaxed);
    counters
        .observer_upserts
        .fetch_add(c.observer_upserts, Ordering::Relaxed);
    counters
        .dropped_recorded
        .fetch_add(c.dropped_recorded, Ordering::Relaxed);
    for rejected in &outcome.rejected {
        rejects.record(Reject::StorageRejected, || {
            format!(
                "{:?} #{}: {}",
                rejected.kind, rejected.index, rejected.reason
            )
        });
    }
    if events.receiver_count() == 0 {
        return;
    }
    // Move the records out of the batch: it is cleared right after.
    let packets = std::mem::take(&mut batch.packets);
    for (record, write) in packets.into_iter().zip(outcome.packets.iter()) {
        if let Some(write) = write {
            if matches!(write.observation, ObservationWrite::Inserted(_)) {
                let _ = events.send(IngestEvent::Packet(Arc::new(StoredPacket {
                    record,
                    write: *write,
                })));
            }
        }
    }
    let refused_status = |index: usize| {
        outcome
            .rejected
            .iter()
            .any(|r| r.kind == analyzer_db::RecordKind::Status && r.index == index)
    };
    for (index, status) in std::mem::take(&mut batch.statuses).into_iter().enumerate() {
        if !refused_status(index) {
            let _ = events.send(IngestEvent::Observer(Arc::new(status)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_percentiles_use_the_latest_samples_by_nearest_rank() {
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
        let p = Percentiles::of((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        let counters = IngestCounters::default();
        {
            let mut recent = counters.recent.lock().unwrap();
            recent.push(9_000_000, 9_000_000); // pushed out by the next 1,024
            for i in 0..SAMPLES as u64 {
                recent.push(1000, 2000 + i);
            }
        }
        let perf = counters.commit_perf();
        assert_eq!(perf.wait_ms.max, 1.0);
        assert_eq!(perf.hold_ms.p50, 2.511);
        assert_eq!(perf.hold_ms.max, 3.023);
    }
    use crate::memory::MemoryWriter;

    /// Fails `failures` times with `error()`, then writes to memory.
    struct Flaky {
        failures: u32,
        error: fn() -> analyzer_db::DbError,
        inner: MemoryWriter,
    }

    impl BatchWriter for Flaky {
        fn write_batch(&mut self, batch: &WriteBatch) -> DbResult<BatchOutcome> {
            if self.failures > 0 {
                self.failures -= 1;
                return Err((self.error)());
            }
            self.inner.write_batch(batch)
        }
    }

    fn one_status() -> WriteBatch {
        let mut batch = WriteBatch::default();
        batch.statuses.push(ObserverStatus {
            id: "OBS".into(),
            ..ObserverStatus::default()
        });
        batch
    }

    fn run_commit(writer: &mut Flaky) -> (IngestCounters, RejectCounters) {
        let (events, _) = broadcast::channel(4);
        let counters = IngestCounters::default();
        let rejects = RejectCounters::default();
        let options = WriterOptions {
            max_attempts: 2,
            retry_pause: Duration::from_millis(1),
            ..WriterOptions::default()
        };
        commit(
            writer,
            &mut one_status(),
            &events,
            &counters,
            &rejects,
            &options,
        );
        (counters, rejects)
    }

    #[test]
    fn busy_database_is_waited_out_not_dropped() {
        let mut w = Flaky {
            failures: 4,
            error: || analyzer_db::DbError::Busy,
            inner: MemoryWriter::default(),
        };
        let (counters, rejects) = run_commit(&mut w);
        assert_eq!(
            w.inner.with(|s| s.statuses.len()),
            1,
            "written after the lock cleared"
        );
        assert_eq!(counters.write_errors.load(Ordering::Relaxed), 4);
        assert_eq!(rejects.get(Reject::WriteError), 0);
    }

    #[test]
    fn other_errors_give_up_after_the_attempt_limit_and_count() {
        let mut w = Flaky {
            failures: 10,
            error: || analyzer_db::DbError::Corrupt("bad page".into()),
            inner: MemoryWriter::default(),
        };
        let (counters, rejects) = run_commit(&mut w);
        assert_eq!(w.inner.with(|s| s.statuses.len()), 0);
        assert_eq!(counters.write_errors.load(Ordering::Relaxed), 2);
        assert_eq!(rejects.get(Reject::WriteError), 1);
    }
}
