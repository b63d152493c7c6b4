//! Retention and vacuum on the writer thread: a [`BatchWriter`] around any
//! [`Storage`] that, between batches, runs pending background migrations, then a retention
//! pass at start-up and every hour in small steps, then returns the freed pages to the file
//! system with incremental vacuum. No step holds the write lock for long, so ingestion keeps
//! flowing during a pass.

use std::time::{Duration, Instant};

use analyzer_config::Config;
use analyzer_db::{
    BackgroundStep, BatchOutcome, DbResult, PruneReport, RetentionPolicy, Storage, WriteBatch,
};

use crate::writer::BatchWriter;

/// Time between retention passes (the reference prunes hourly or daily depending on the table).
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);
/// Rows per table per retention step.
const PRUNE_STEP_ROWS: usize = 1000;

/// The retention policy of `config` (spec ingest.md §7, §9.1): `retention.nodeDays` (7),
/// `retention.observerDays` (14; 0 means 14, negative never), `retention.metricsDays` (30),
/// `retention.packetDays` (0 = keep), `retention.clientRxDays` (0 = keep),
/// `neighborEdgesMaxAgeDays` (5). A zero or negative value switches a job off unless noted.
pub fn retention_policy(config: &Config) -> RetentionPolicy {
    let days = |value: Option<i64>, default: Option<u32>| match value {
        None => default,
        Some(d) if d <= 0 => None,
        Some(d) => Some(u32::try_from(d).unwrap_or(u32::MAX)),
    };
    let r = &config.retention;
    RetentionPolicy {
        packet_days: days(r.packet_days, None),
        node_days: days(r.node_days, Some(7)),
        observer_days: match r.observer_days {
            Some(0) | None => Some(14),
            other => days(other, Some(14)),
        },
        metrics_days: days(r.metrics_days, Some(30)),
        client_rx_days: days(r.client_rx_days, None),
        neighbor_edge_days: match config.neighbor_edges_max_age_days {
            None => Some(5),
            Some(d) if d.is_finite() && d > 0.0 => Some(d.ceil() as u32),
            Some(_) => None,
        },
    }
}

/// Where the maintenance cycle stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the next pass.
    Waiting,
    /// Pruning in steps.
    Pruning,
    /// Returning free pages.
    Vacuuming,
}

/// A storage backend with retention and vacuum scheduled between batches.
#[derive(Debug)]
pub struct MaintainedStorage<S> {
    storage: S,
    policy: RetentionPolicy,
    vacuum_pages: u32,
    next_pass: Instant,
    phase: Phase,
    pass: PruneReport,
    now: fn() -> i64,
}

impl<S: Storage + Send> MaintainedStorage<S> {
    /// Wraps `storage`; the first retention pass runs as soon as background migrations are done.
    pub fn new(storage: S, policy: RetentionPolicy, vacuum_pages: u32) -> Self {
        Self {
            storage,
            policy,
            vacuum_pages: vacuum_pages.max(1),
            next_pass: Instant::now(),
            phase: Phase::Waiting,
            pass: PruneReport::default(),
            now: crate::now_unix,
        }
    }

    /// From `config`: its retention policy and `db.incrementalVacuumPages` (1024).
    pub fn from_config(storage: S, config: &Config) -> Self {
        let pages = config
            .db
            .incremental_vacuum_pages
            .filter(|p| *p > 0)
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(1024);
        Self::new(storage, retention_policy(config), pages)
    }

    /// The wrapped storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// One maintenance step; returns whether there is more to do right away.
    pub fn step(&mut self) -> DbResult<bool> {
        match self.phase {
            Phase::Waiting => {
                if let BackgroundStep::Progress { .. } | BackgroundStep::Finished { .. } =
                    self.storage.run_background_step()?
                {
                    return Ok(true);
                }
                if Instant::now() < self.next_pass {
                    return Ok(false);
                }
                self.phase = Phase::Pruning;
                self.pass = PruneReport::default();
                Ok(true)
            }
            Phase::Pruning => {
                let report =
                    self.storage
                        .prune_step(&self.policy, (self.now)(), PRUNE_STEP_ROWS)?;
                self.pass.accumulate(&report);
                if !report.more {
                    let p = &self.pass;
                    tracing::info!(
                        transmissions = p.transmissions,
                        observations = p.observations,
                        nodes_retired = p.nodes_retired,
                        observers_retired = p.observers_retired,
                        metrics = p.metrics,
                        dropped_packets = p.dropped_packets,
                        neighbor_edges = p.neighbor_edges,
                        "Retention pass done"
                    );
                    self.phase = Phase::Vacuuming;
                }
                Ok(true)
            }
            Phase::Vacuuming => {
                let report = self.storage.incremental_vacuum(self.vacuum_pages)?;
                if report.free_pages_after == 0
                    || report.free_pages_after >= report.free_pages_before
                {
                    if report.free_pages_before > 0 {
                        tracing::debug!(
                            pages = report.free_pages_before,
                            "Returned free pages to the file system"
                        );
                    }
                    self.phase = Phase::Waiting;
                    self.next_pass = Instant::now() + RETENTION_INTERVAL;
                    return Ok(false);
                }
                Ok(true)
            }
        }
    }
}

impl<S: Storage + Send> BatchWriter for MaintainedStorage<S> {
    fn write_batch(&mut self, batch: &WriteBatch) -> DbResult<BatchOutcome> {
        self.storage.write_batch(batch)
    }

    fn idle(&mut self) {
        if let Err(error) = self.step() {
            tracing::warn!(%error, "Storage maintenance step failed; retrying later");
            // Do not spin on a persistent error: try the pass again at the next interval.
            self.phase = Phase::Waiting;
            self.next_pass = Instant::now() + RETENTION_INTERVAL;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> Config {
        serde_json::from_value(json).expect("config")
    }

    #[test]
    fn policy_defaults_follow_the_reference() {
        let policy = retention_policy(&Config::default());
        assert_eq!(policy, RetentionPolicy::default());
        assert_eq!(
            policy.packet_days, None,
            "packets are kept unless retention.packetDays is set"
        );
    }

    #[test]
    fn policy_reads_the_config_keys() {
        let policy = retention_policy(&config(serde_json::json!({
            "retention": { "packetDays": 30, "nodeDays": 3, "observerDays": -1, "metricsDays": 0 },
            "neighborEdgesMaxAgeDays": 2.5
        })));
        assert_eq!(policy.packet_days, Some(30));
        assert_eq!(policy.node_days, Some(3));
        assert_eq!(policy.observer_days, None, "-1 means never");
        assert_eq!(policy.metrics_days, None);
        assert_eq!(policy.neighbor_edge_days, Some(3));
        let zero = retention_policy(&config(
            serde_json::json!({ "retention": { "observerDays": 0 } }),
        ));
        assert_eq!(
            zero.observer_days,
            Some(14),
            "0 means the default, as in the reference"
        );
    }

    /// A real database with ten-day-old packets and `retention.packetDays = 1`: a pass run in
    /// steps deletes them and returns the freed pages, and the next pass waits an hour.
    #[test]
    fn a_pass_prunes_old_packets_and_returns_the_pages() {
        use analyzer_db::StorageReader;

        use crate::RejectCounters;
        use crate::process::{Processor, RawMessage, SourceMeta, build_decoder};

        let dir = tempfile::tempdir().expect("tempdir");
        let storage = analyzer_sqlite::SqliteStorage::open(
            dir.path().join("m.db"),
            analyzer_sqlite::OpenOptions::default(),
        )
        .expect("open");
        let config = config(serde_json::json!({ "retention": { "packetDays": 1 } }));
        let processor = Processor::new(
            &config,
            build_decoder(&config, None),
            vec![SourceMeta::default()],
        );
        let rejects = RejectCounters::default();
        let now = crate::now_unix();
        let mut batch = WriteBatch::default();
        for n in 0..3000u32 {
            let age_days = if n < 2000 { 10 } else { 0 };
            let raw = format!("3D00A5{:08X}{}", n, "00".repeat(100));
            let payload = serde_json::json!({ "raw": raw }).to_string();
            let topic = "meshcore/SEA/AABBCCDD/packets";
            let message = RawMessage {
                source: 0,
                topic,
                payload: payload.as_bytes(),
                retained: false,
                now: now - age_days * 86_400,
            };
            processor.process(&message, &mut batch, &rejects);
        }
        let mut maintained = MaintainedStorage::from_config(storage, &config);
        maintained.write_batch(&batch).expect("write");
        assert_eq!(
            maintained
                .storage()
                .stats(now)
                .expect("stats")
                .transmissions,
            3000
        );

        let mut steps = 0;
        while maintained.step().expect("step") {
            steps += 1;
            assert!(steps < 1000, "the pass ends");
        }
        assert!(steps > 2, "the pass ran in several small steps ({steps})");
        let stats = maintained.storage().stats(now).expect("stats");
        assert_eq!(
            stats.transmissions, 1000,
            "only the recent packets are kept"
        );
        let free: i64 = maintained
            .storage()
            .connection()
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .expect("freelist");
        assert_eq!(free, 0, "the freed pages went back to the file system");
        assert!(
            !maintained.step().expect("step"),
            "the next pass waits for its interval"
        );
    }
}
