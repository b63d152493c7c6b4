//! SQLite backend of the analyzer's storage traits, on the CoreScope schema.
//!
//! * [`SqliteStorage`] is the single writer: it opens or creates the file, sets the pragmas,
//!   runs the embedded migrations (spec ingest.md §6.4, plus our own fixes) and implements
//!   [`analyzer_db::Storage`]: batched writes in one transaction each, retention in small
//!   steps, incremental vacuum, and the background backfills.
//! * [`SqliteReader`] is a read-only connection implementing [`analyzer_db::StorageReader`],
//!   for the server or for following a database another process writes.
//!
//! Only this crate contains SQL.
//!
//! Durability: WAL mode. With the default [`Synchronous::Normal`] a committed batch
//! survives a crash or kill of the process (the WAL is in the OS page cache), but the most
//! recent commits can be lost on power loss or kernel panic (never corrupting the file);
//! [`Synchronous::Full`] fsyncs the WAL at every commit and closes that window too, at the
//! cost measured in the crate's benchmark.

mod cells;
mod migrate;
mod read;
mod read_admin;
mod read_channels;
mod read_observers;
mod read_packets;
mod retention;
pub mod schema;
mod write;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use analyzer_db::{
    BackgroundStep, BatchOutcome, DbError, DbResult, NodeRow, ObservationRow, ObserverRow,
    PruneReport, RetentionPolicy, Storage, StorageReader, StoreStats, TransmissionPage,
    TransmissionPageQuery, TransmissionRow, UnixSecs, VacuumReport, Watermark, WriteBatch,
};
use rusqlite::{Connection, OpenFlags};

pub use migrate::MigrationReport;

/// How hard SQLite works to make commits durable (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// WAL-safe: no corruption ever, committed data survives process crashes; the last
    /// commits before a power loss may be rolled back.
    Normal,
    /// fsync at every commit: committed data also survives power loss.
    Full,
}

/// Settings for [`SqliteStorage::open`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Durability level.
    pub synchronous: Synchronous,
    /// How long a statement waits for a lock held by another connection.
    pub busy_timeout: Duration,
    /// Page cache size in KiB.
    pub cache_size_kib: u32,
    /// Bytes of the file mapped into memory for reads (0 = off).
    pub mmap_size: u64,
    /// `metrics.sampleIntervalSec`: `observer_metrics` bucket width (≥ 1).
    pub metrics_sample_interval_secs: u32,
    /// `db.vacuumOnStartup`: convert a database that lacks incremental auto-vacuum with a
    /// full `VACUUM` (blocks the open; needs free disk space of about the database size).
    pub vacuum_on_startup: bool,
    /// Rows (ids) per background-migration step.
    pub background_batch_rows: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
            cache_size_kib: 64 * 1024,
            mmap_size: 256 * 1024 * 1024,
            metrics_sample_interval_secs: 300,
            vacuum_on_startup: false,
            background_batch_rows: 10_000,
        }
    }
}

/// The writer: owns one read-write connection.
pub struct SqliteStorage {
    conn: Connection,
    path: PathBuf,
    options: OpenOptions,
    migration: MigrationReport,
    background: VecDeque<migrate::BgJob>,
    prune: retention::PruneState,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.path)
            .field("background_jobs", &self.background.len())
            .finish_non_exhaustive()
    }
}

impl SqliteStorage {
    /// Opens (creating if needed, including the parent directory) and migrates the database
    /// at `path`.
    pub fn open(path: impl AsRef<Path>, options: OpenOptions) -> DbResult<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = Connection::open(&path).map_err(map_err)?;
        // Must precede the first table of a new file; a no-op on existing files.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
            .map_err(map_err)?;
        configure(&conn, &options, false)?;
        check_is_database(&conn)?;
        let (migration, background) = migrate::migrate(&mut conn)?;
        let storage = Self {
            conn,
            path,
            options,
            migration,
            background,
            prune: retention::PruneState::default(),
        };
        if storage.options.vacuum_on_startup && storage.auto_vacuum_mode()? != 2 {
            // Safe since observers have an explicit key: VACUUM cannot re-point observations.
            storage
                .conn
                .execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM")
                .map_err(map_err)?;
        }
        Ok(storage)
    }

    /// What the migrator did during [`SqliteStorage::open`].
    pub fn migration_report(&self) -> &MigrationReport {
        &self.migration
    }

    /// Number of background jobs still pending.
    pub fn pending_background_jobs(&self) -> usize {
        self.background.len()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `PRAGMA auto_vacuum`: 0 none, 1 full, 2 incremental.
    pub fn auto_vacuum_mode(&self) -> DbResult<i64> {
        self.conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .map_err(map_err)
    }

    /// Runs `PRAGMA integrity_check` and returns its messages (`["ok"]` when healthy).
    pub fn integrity_check(&self) -> DbResult<Vec<String>> {
        integrity_check(&self.conn)
    }

    /// Runs every pending background job to completion (for tools and tests; the writer
    /// thread should interleave [`Storage::run_background_step`] with batches instead).
    pub fn finish_background(&mut self) -> DbResult<()> {
        while self.run_background_step()? != BackgroundStep::Idle {}
        Ok(())
    }

    /// All `neighbor_edges` rows (the persisted neighbour graph).
    pub fn neighbor_edges(&self) -> DbResult<Vec<analyzer_db::NeighborEdgeRow>> {
        read::neighbor_edges(&self.conn)
    }

    /// Direct access to the connection for tests and diagnostics in this workspace.
    #[doc(hidden)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// A read-only connection for the server or for following another writer.
pub struct SqliteReader {
    conn: Connection,
}

impl std::fmt::Debug for SqliteReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteReader").finish_non_exhaustive()
    }
}

impl SqliteReader {
    /// Opens an existing database read-only. It must already be migrated (opened once by
    /// [`SqliteStorage`]).
    pub fn open(path: impl AsRef<Path>, options: &OpenOptions) -> DbResult<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
        configure(&conn, options, true)?;
        check_is_database(&conn)?;
        if !migrate::table_exists(&conn, "transmissions")? {
            return Err(DbError::UnsupportedSchema("no transmissions table".into()));
        }
        Ok(Self { conn })
    }

    /// All `neighbor_edges` rows (the persisted neighbour graph).
    pub fn neighbor_edges(&self) -> DbResult<Vec<analyzer_db::NeighborEdgeRow>> {
        read::neighbor_edges(&self.conn)
    }
}

fn configure(conn: &Connection, options: &OpenOptions, read_only: bool) -> DbResult<()> {
    conn.busy_timeout(options.busy_timeout).map_err(map_err)?;
    // The writer uses about 20 distinct statements; keep them all prepared.
    conn.set_prepared_statement_cache_capacity(64);
    let sync = match options.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    let mut pragmas = format!(
        "PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -{};
         PRAGMA mmap_size = {};
         PRAGMA temp_store = MEMORY;",
        options.cache_size_kib, options.mmap_size
    );
    if !read_only {
        pragmas.push_str(&format!(
            "PRAGMA synchronous = {sync};
             PRAGMA journal_size_limit = 67108864;"
        ));
    }
    conn.execute_batch(&pragmas).map_err(map_err)?;
    if !read_only {
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::UnsupportedSchema(format!(
                "could not switch to WAL (journal_mode is {mode})"
            )));
        }
    }
    Ok(())
}

/// Fails early and clearly on files that are not SQLite databases.
fn check_is_database(conn: &Connection) -> DbResult<()> {
    conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|_| ())
    .map_err(map_err)
}

fn integrity_check(conn: &Connection) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    Ok(rows)
}

/// Maps driver errors onto [`DbError`].
/// `SELECT COUNT(*)` over the window; a full scan of the narrow `last_seen` column, run once
/// at the end of a startup load that stopped early.
fn count_transmissions_since(conn: &Connection, since: analyzer_db::UnixSecs) -> DbResult<u64> {
    conn.query_row(
        "SELECT COUNT(*) FROM transmissions WHERE last_seen >= ?1",
        [since],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| u64::try_from(n).unwrap_or(0))
    .map_err(map_err)
}

pub(crate) fn map_err(e: rusqlite::Error) -> DbError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::QueryReturnedNoRows => DbError::NotFound,
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbError::Busy,
            ErrorCode::DatabaseCorrupt => DbError::Corrupt(e.to_string()),
            ErrorCode::NotADatabase => DbError::UnsupportedSchema(e.to_string()),
            _ => DbError::Backend(Box::new(e)),
        },
        _ => DbError::Backend(Box::new(e)),
    }
}

/// The read queries, the same over the writer's and a reader's connection (`self.conn`).
macro_rules! impl_storage_reader {
    ($t:ty) => {
        impl StorageReader for $t {
            fn stats(&self, now: UnixSecs) -> DbResult<StoreStats> {
                read::stats(&self.conn, now)
            }
            fn watermark(&self) -> DbResult<Watermark> {
                read::watermark(&self.conn)
            }
            fn load_transmissions(
                &self,
                query: &TransmissionPageQuery,
            ) -> DbResult<TransmissionPage> {
                read::load_transmissions(&self.conn, query)
            }
            fn transmissions_after(
                &self,
                after_id: i64,
                limit: usize,
            ) -> DbResult<Vec<TransmissionRow>> {
                read::transmissions_after(&self.conn, after_id, limit)
            }
            fn observations_after(
                &self,
                after_id: i64,
                limit: usize,
            ) -> DbResult<Vec<ObservationRow>> {
                read::observations_after(&self.conn, after_id, limit)
            }
            fn transmission_by_hash(&self, hash: &str) -> DbResult<TransmissionRow> {
                read::transmission_by_hash(&self.conn, hash)
            }
            fn observers(&self) -> DbResult<Vec<ObserverRow>> {
                read::observers(&self.conn)
            }
            fn nodes(&self) -> DbResult<Vec<NodeRow>> {
                read::nodes(&self.conn)
            }
            fn query_transmissions(
                &self,
                q: &analyzer_db::TxListQuery,
            ) -> DbResult<analyzer_db::TxListPage> {
                read_packets::query_transmissions(&self.conn, q)
            }
            fn transmission_by_id(&self, id: i64) -> DbResult<TransmissionRow> {
                read_packets::transmission_by_id(&self.conn, id)
            }
            fn transmission_id_of_observation(&self, observation_id: i64) -> DbResult<i64> {
                read_packets::transmission_id_of_observation(&self.conn, observation_id)
            }
            fn observer_metrics(
                &self,
                observer_id: Option<&str>,
                since: UnixSecs,
                until: Option<UnixSecs>,
            ) -> DbResult<Vec<analyzer_db::ObserverMetricRow>> {
                read_observers::observer_metrics(&self.conn, observer_id, since, until)
            }
            fn channel_summaries(
                &self,
                observers: Option<&[i64]>,
            ) -> DbResult<Vec<analyzer_db::ChannelSummaryRow>> {
                read_channels::channel_summaries(&self.conn, observers)
            }

            fn transmission_ids_heard_since(
                &self,
                below_id: i64,
                since: analyzer_db::UnixSecs,
            ) -> DbResult<Vec<i64>> {
                read::transmission_ids_heard_since(&self.conn, below_id, since)
            }

            fn load_transmissions_by_ids(
                &self,
                ids: &[i64],
                min_last_seen: Option<analyzer_db::UnixSecs>,
            ) -> DbResult<Vec<analyzer_db::TransmissionRow>> {
                read::load_transmissions_by_ids(&self.conn, ids, min_last_seen)
            }

            fn count_transmissions_since(&self, since: analyzer_db::UnixSecs) -> DbResult<u64> {
                count_transmissions_since(&self.conn, since)
            }
            fn dropped_packets(
                &self,
                q: &analyzer_db::DroppedQuery,
            ) -> DbResult<Vec<analyzer_db::DroppedPacketRow>> {
                read_admin::dropped_packets(&self.conn, q)
            }
            fn database_pages(&self) -> DbResult<analyzer_db::DatabasePages> {
                read_admin::database_pages(&self.conn)
            }
            fn snapshot_into(&self, path: &Path) -> DbResult<u64> {
                read_admin::snapshot_into(&self.conn, path)
            }
        }
    };
}

impl_storage_reader!(SqliteStorage);

impl_storage_reader!(SqliteReader);

impl Storage for SqliteStorage {
    fn write_batch(&mut self, batch: &WriteBatch) -> DbResult<BatchOutcome> {
        write::write_batch(
            &mut self.conn,
            batch,
            self.options.metrics_sample_interval_secs,
        )
    }

    fn run_background_step(&mut self) -> DbResult<BackgroundStep> {
        let rows = i64::from(self.options.background_batch_rows.max(1));
        migrate::background_step(&mut self.conn, &mut self.background, rows)
    }

    fn prune_step(
        &mut self,
        policy: &RetentionPolicy,
        now: UnixSecs,
        max_rows: usize,
    ) -> DbResult<PruneReport> {
        retention::prune_step(&mut self.conn, &mut self.prune, policy, now, max_rows)
    }

    fn incremental_vacuum(&mut self, max_pages: u32) -> DbResult<VacuumReport> {
        retention::incremental_vacuum(&self.conn, max_pages)
    }

    fn write_neighbor_edges(&mut self, edges: &[analyzer_db::NeighborEdge]) -> DbResult<usize> {
        write::write_neighbor_edges(&mut self.conn, edges)
    }

    fn checkpoint(&mut self) -> DbResult<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(map_err)
    }
}
