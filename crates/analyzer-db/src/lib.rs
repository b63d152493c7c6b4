//! The analyzer's storage interface: what ingest writes, what the server reads, and the
//! traits a database backend implements.
//!
//! This crate holds no SQL and depends on no database driver. `analyzer-sqlite` implements
//! the traits on the CoreScope SQLite schema; a PostgreSQL backend can implement the same
//! traits later. Callers choose a backend once, in `main`.
//!
//! Threading model: writes are synchronous and run on one dedicated writer thread that owns
//! a [`Storage`] value; it interleaves [`Storage::write_batch`] with the small maintenance
//! steps ([`Storage::run_background_step`], [`Storage::prune_step`],
//! [`Storage::incremental_vacuum`]) so no maintenance job holds the write lock for long.
//! Readers use their own [`StorageReader`] handles.

pub mod admin_rows;
pub mod channel_rows;
pub mod error;
pub mod observer_metrics;
pub mod packet_query;
pub mod records;
pub mod rows;
pub mod time;

pub use admin_rows::{DatabasePages, DroppedPacketRow, DroppedQuery};
pub use channel_rows::ChannelSummaryRow;
pub use error::{BoxError, DbError, DbResult};
pub use observer_metrics::ObserverMetricRow;
pub use packet_query::{TxFilter, TxListPage, TxListQuery, TxSort};
pub use records::{
    BatchOutcome, ClientReception, ClockSkewEvent, ContentHash, ContentHashParseError,
    DroppedPacket, NeighborEdge, NodeAdvert, ObservationWrite, ObserverRef, ObserverStatus,
    PacketObservation, PacketWrite, RecordKind, Rejected, WriteBatch, WriteCounters,
};
pub use rows::{
    NeighborEdgeRow, NodeRow, ObservationRow, ObserverRow, StoreStats, TransmissionPage,
    TransmissionPageQuery, TransmissionRow, Watermark,
};
pub use time::UnixSecs;

/// Retention settings (config keys `retention.*` and `neighborEdgesMaxAgeDays`).
///
/// A value of `None` disables that job. Defaults follow the reference (spec ingest.md §7,
/// §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// `retention.packetDays`: delete transmissions (and their observations) not heard for
    /// this many days. Keyed on `last_seen`, unlike the reference's `first_seen`, so a
    /// packet re-heard yesterday is kept.
    pub packet_days: Option<u32>,
    /// `retention.nodeDays`: move nodes not heard for this long to `inactive_nodes`.
    pub node_days: Option<u32>,
    /// `retention.observerDays`: soft-delete observers (`inactive = 1`) and their metrics.
    pub observer_days: Option<u32>,
    /// `retention.metricsDays`: prune `observer_metrics` and `dropped_packets`.
    pub metrics_days: Option<u32>,
    /// `retention.clientRxDays`: prune `client_receptions` and `client_observers`.
    pub client_rx_days: Option<u32>,
    /// `neighborEdgesMaxAgeDays`: prune `neighbor_edges`.
    pub neighbor_edge_days: Option<u32>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            packet_days: None,
            node_days: Some(7),
            observer_days: Some(14),
            metrics_days: Some(30),
            client_rx_days: None,
            neighbor_edge_days: Some(5),
        }
    }
}

/// Rows affected by one [`Storage::prune_step`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Transmissions deleted.
    pub transmissions: u64,
    /// Observations deleted.
    pub observations: u64,
    /// Nodes moved to `inactive_nodes`.
    pub nodes_retired: u64,
    /// Observers soft-deleted.
    pub observers_retired: u64,
    /// `observer_metrics` rows deleted.
    pub metrics: u64,
    /// `dropped_packets` rows deleted.
    pub dropped_packets: u64,
    /// `client_receptions` + `client_observers` rows deleted.
    pub client_rx: u64,
    /// `neighbor_edges` rows deleted.
    pub neighbor_edges: u64,
    /// False once the pass that this step belongs to has finished every job.
    pub more: bool,
}

impl PruneReport {
    /// Adds another step's counts (the `more` flag is taken from `other`).
    pub fn accumulate(&mut self, other: &PruneReport) {
        self.transmissions += other.transmissions;
        self.observations += other.observations;
        self.nodes_retired += other.nodes_retired;
        self.observers_retired += other.observers_retired;
        self.metrics += other.metrics;
        self.dropped_packets += other.dropped_packets;
        self.client_rx += other.client_rx;
        self.neighbor_edges += other.neighbor_edges;
        self.more = other.more;
    }
}

/// Result of [`Storage::incremental_vacuum`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VacuumReport {
    /// Free pages before the call.
    pub free_pages_before: u64,
    /// Free pages still in the file after the call (0 when everything was returned).
    pub free_pages_after: u64,
    /// Page size in bytes.
    pub page_size: u64,
}

/// Result of [`Storage::run_background_step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackgroundStep {
    /// Nothing left to do.
    Idle,
    /// One bounded step of the named job ran; call again.
    Progress {
        /// Job name (as recorded in `_async_migrations` where the reference has one).
        job: String,
        /// Rows touched by this step.
        rows: u64,
    },
    /// The named job finished in this step.
    Finished {
        /// Job name.
        job: String,
    },
}

/// Read access to the store. Implementations may be a read-only connection.
pub trait StorageReader {
    /// Counts for `/api/stats`, relative to `now`.
    fn stats(&self, now: UnixSecs) -> DbResult<StoreStats>;

    /// Highest transmission and observation ids.
    fn watermark(&self) -> DbResult<Watermark>;

    /// One newest-first page of transmissions with their observations (keyset
    /// pagination on id; never `OFFSET`).
    fn load_transmissions(&self, query: &TransmissionPageQuery) -> DbResult<TransmissionPage>;

    /// Transmissions with `id > after_id`, oldest first, at most `limit`, each with all
    /// its observations: the poller's view of rows another process wrote.
    fn transmissions_after(&self, after_id: i64, limit: usize) -> DbResult<Vec<TransmissionRow>>;

    /// Observations with `id > after_id`, oldest first, at most `limit` (late
    /// observations of transmissions already loaded).
    fn observations_after(&self, after_id: i64, limit: usize) -> DbResult<Vec<ObservationRow>>;

    /// One transmission by content hash, with observations; [`DbError::NotFound`] if absent.
    fn transmission_by_hash(&self, hash: &str) -> DbResult<TransmissionRow>;

    /// All observer rows (active and inactive), by key.
    fn observers(&self) -> DbResult<Vec<ObserverRow>>;

    /// All rows of `nodes`.
    fn nodes(&self) -> DbResult<Vec<NodeRow>>;

    /// A filtered, ordered page of transmissions with their observations and the number of
    /// matching rows (`/api/packets` before the in-memory window).
    fn query_transmissions(&self, _query: &TxListQuery) -> DbResult<TxListPage> {
        Err(DbError::Unsupported("query_transmissions"))
    }

    /// One transmission by id, with observations; [`DbError::NotFound`] if absent.
    fn transmission_by_id(&self, _id: i64) -> DbResult<TransmissionRow> {
        Err(DbError::Unsupported("transmission_by_id"))
    }

    /// The transmission id of observation `observation_id`; [`DbError::NotFound`] if absent.
    fn transmission_id_of_observation(&self, _observation_id: i64) -> DbResult<i64> {
        Err(DbError::Unsupported("transmission_id_of_observation"))
    }

    /// `observer_metrics` rows with `since <= timestamp` (and `timestamp <= until` when
    /// given), oldest first; of one observer (exact `observers.id`) or, with `None`, of
    /// every observer ordered by observer id then time.
    fn observer_metrics(
        &self,
        _observer_id: Option<&str>,
        _since: UnixSecs,
        _until: Option<UnixSecs>,
    ) -> DbResult<Vec<ObserverMetricRow>> {
        Err(DbError::Unsupported("observer_metrics"))
    }

    /// Every channel of GRP_TXT transmissions (`channel_hash` set) with its count and
    /// newest message; with `observers`, only transmissions observed by one of those
    /// observer keys count (an empty list matches nothing).
    fn channel_summaries(&self, _observers: Option<&[i64]>) -> DbResult<Vec<ChannelSummaryRow>> {
        Err(DbError::Unsupported("channel_summaries"))
    }

    /// Ids below `below_id` of the transmissions with an observation at or after `since`,
    /// newest first. Where a newest-first load finds the older transmissions re-heard
    /// inside its window without reading every older row. A candidate list: the caller
    /// still applies the `last_seen` window when it loads them
    /// ([`StorageReader::load_transmissions_by_ids`]).
    fn transmission_ids_heard_since(&self, _below_id: i64, _since: UnixSecs) -> DbResult<Vec<i64>> {
        Err(DbError::Unsupported("transmission_ids_heard_since"))
    }

    /// The transmissions with these ids and `last_seen >= min_last_seen` (rows never
    /// backfilled fall back to `first_seen`; `None` = no window), each with all its
    /// observations, newest id first.
    fn load_transmissions_by_ids(
        &self,
        _ids: &[i64],
        _min_last_seen: Option<UnixSecs>,
    ) -> DbResult<Vec<TransmissionRow>> {
        Err(DbError::Unsupported("load_transmissions_by_ids"))
    }

    /// Transmissions with `last_seen >= since`: the rows a retention window holds, the
    /// denominator of the startup load's coverage when the load stopped early.
    fn count_transmissions_since(&self, _since: UnixSecs) -> DbResult<u64> {
        Err(DbError::Unsupported("count_transmissions_since"))
    }

    /// Rows of `dropped_packets` matching `query`, newest first (highest id first).
    fn dropped_packets(&self, _query: &DroppedQuery) -> DbResult<Vec<DroppedPacketRow>> {
        Err(DbError::Unsupported("dropped_packets"))
    }

    /// Page count, page size, cache size and write-ahead log size of the database.
    fn database_pages(&self) -> DbResult<DatabasePages> {
        Err(DbError::Unsupported("database_pages"))
    }

    /// Writes a consistent snapshot of the whole database to the new file `path` (which
    /// must not exist) and returns its size in bytes.
    fn snapshot_into(&self, _path: &std::path::Path) -> DbResult<u64> {
        Err(DbError::Unsupported("snapshot_into"))
    }
}

/// Write access: owned by the single writer thread.
pub trait Storage: StorageReader {
    /// Writes every record of `batch` in one transaction. Invalid records are skipped and
    /// reported in [`BatchOutcome::rejected`]; an error means nothing of the batch was
    /// committed.
    fn write_batch(&mut self, batch: &WriteBatch) -> DbResult<BatchOutcome>;

    /// Runs one bounded step of pending background work (migrations' backfills, deferred
    /// index builds). Cheap when there is nothing to do.
    fn run_background_step(&mut self) -> DbResult<BackgroundStep>;

    /// Runs one bounded step (at most `max_rows` rows per table) of a retention pass
    /// measured against `now`. Call until the report's `more` is false, interleaved with
    /// writes, then call [`Storage::incremental_vacuum`].
    fn prune_step(
        &mut self,
        policy: &RetentionPolicy,
        now: UnixSecs,
        max_rows: usize,
    ) -> DbResult<PruneReport>;

    /// Returns up to `max_pages` free pages to the file system.
    fn incremental_vacuum(&mut self, max_pages: u32) -> DbResult<VacuumReport>;

    /// Flushes the write-ahead log into the main file and truncates it.
    fn checkpoint(&mut self) -> DbResult<()>;

    /// Adds neighbour-graph evidence in one transaction: each edge's count is added to the
    /// stored count and `last_seen` only moves forward. Self-edges and empty keys are
    /// skipped. Returns the number of edges written.
    fn write_neighbor_edges(&mut self, edges: &[NeighborEdge]) -> DbResult<usize>;
}
