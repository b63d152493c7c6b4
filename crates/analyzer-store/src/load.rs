//! The startup loader: the hot window first (newest first, in chunks), then a background
//! fill of the rest of the retention window (newest to oldest), ending in one defined
//! terminal state on every path.
//!
//! Ordering by construction (the #1809 race): [`StartupLoader::fill`] takes a
//! [`HotLoaded`] token by value, and only [`StartupLoader::load_hot`] can create one, after
//! its last chunk was merged and the hot boundary (`oldestLoaded`) was recorded. There is
//! no way to start the fill early.
//!
//! Terminal states ([`LoadState`]): `backgroundLoadComplete` means a terminal state was
//! reached and `backgroundLoadFailed` qualifies it, on every failure path alike (unlike the
//! reference, which signals some failures with `complete = false`):
//!
//! | path | complete | failed | error |
//! |---|---|---|---|
//! | hot load fails (first query or mid-way) | true | true | `load failed at chunk N: …` |
//! | `hotStartupHours` = 0 (one load, no fill) | true | false* | — |
//! | empty database | true | false | — (coverage 1.0) |
//! | fill reached the end of the window | true | false* | — |
//! | coverage below 0.90 | true | true | `loaded X.X% of N rows in the window (M in memory)` |
//! | chunk errors during the fill | true | true | `K chunk error(s) during background load` |
//!
//! (*) unless the coverage rule applies. With no retention limit the window is the whole
//! database and the fill loads all of it (bounded by the memory budget).
//!
//! Coverage. The reader interface has no windowed `COUNT`, so the rows in the window are
//! counted as the loader pages through them (every row of the window passes through a page
//! once the scan finishes); when the scan stops early (memory budget) the total
//! transmission count of the database is used instead, which can only lower the ratio.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use analyzer_db::time::rfc3339;
use analyzer_db::{DbError, StorageReader, TransmissionPageQuery, UnixSecs};

use crate::store::{PreparedChunk, Store};

/// Coverage below this ratio fails the load.
pub const MIN_COVERAGE: f64 = 0.90;

/// Loader settings (config keys in parentheses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadConfig {
    /// `packetStore.hotStartupHours`: the window loaded before the background fill
    /// (0 = load the whole retention window at once, no fill). Clamped to the retention.
    pub hot_startup_hours: f64,
    /// `packetStore.retentionHours`: the window kept in memory (0 = no limit).
    pub retention_hours: f64,
    /// `db.load.chunkSize`: transmission ids examined per query (0 = 10,000).
    pub chunk_size: usize,
    /// `packetStore.maxMemoryMB`: loading stops once the store holds this much (0 = no
    /// budget).
    pub max_memory_mb: u64,
}

impl LoadConfig {
    fn chunk(&self) -> usize {
        if self.chunk_size == 0 {
            10_000
        } else {
            self.chunk_size
        }
    }

    fn hot_hours(&self) -> f64 {
        let hot = self.hot_startup_hours.max(0.0);
        if self.retention_hours > 0.0 {
            hot.min(self.retention_hours)
        } else {
            hot
        }
    }

    fn budget(&self) -> Option<usize> {
        (self.max_memory_mb > 0).then(|| (self.max_memory_mb as usize).saturating_mul(1 << 20))
    }
}

/// The observable load state, with the reference's `/api/perf` `packetStore` field names.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadState {
    /// Effective hot window in hours (after clamping to the retention).
    pub hot_startup_hours: f64,
    /// `packetStore.retentionHours` (0 = unlimited).
    pub retention_hours: f64,
    /// The hot window is loaded: the load-status header says `ready` from now on.
    pub load_complete: bool,
    /// Transmissions merged so far (the header's `progress=`).
    pub load_progress_rows: u64,
    /// At least one chunk was merged (or the load ended).
    pub first_chunk_ready: bool,
    /// A terminal state was reached (see the module docs).
    pub background_load_complete: bool,
    /// The terminal state is a failure; see `backgroundLoadError`.
    pub background_load_failed: bool,
    /// Progress of the whole load, 0 to 100.
    pub background_load_progress: u8,
    /// Why the load failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_load_error: Option<String>,
    /// Every transmission seen at or after this time is in memory (RFC3339 in JSON).
    #[serde(serialize_with = "ser_time")]
    pub oldest_loaded: Option<UnixSecs>,
    /// Loaded rows / rows in the window.
    pub load_coverage_ratio: f64,
    /// Rows counted in the window (the coverage denominator).
    pub rows_in_window: u64,
}

impl LoadState {
    /// The `X-CoreScope-Load-Status` header value: `loading; progress=N` until the hot
    /// window is loaded, then `ready`.
    pub fn status_header(&self) -> String {
        if self.load_complete {
            "ready".to_owned()
        } else {
            format!("loading; progress={}", self.load_progress_rows)
        }
    }
}

fn ser_time<S: serde::Serializer>(t: &Option<UnixSecs>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_str(""),
    }
}

/// Why the hot load stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A query of the hot load failed; what was merged before stays served.
    #[error("load failed at chunk {chunk}: {message}")]
    HotLoad {
        /// 1-based chunk number.
        chunk: usize,
        /// The storage error with its causes.
        message: String,
        /// The storage error.
        #[source]
        source: DbError,
    },
}

/// Instants the loader reports, for tests and instrumentation. All methods default to
/// doing nothing.
pub trait LoadHooks: Send + Sync {
    /// A hot-load chunk was merged (1-based number, transmissions merged so far).
    fn hot_chunk_merged(&self, _chunk: usize, _rows_total: u64) {}
    /// The hot load finished and recorded its boundary.
    fn hot_load_finished(&self, _oldest_loaded: Option<UnixSecs>) {}
    /// The background fill started.
    fn fill_entered(&self) {}
}

/// Proof that the hot load finished: its boundary is recorded. Only
/// [`StartupLoader::load_hot`] creates it; [`StartupLoader::fill`] consumes it.
#[derive(Debug)]
pub struct HotLoaded {
    boundary: Option<UnixSecs>,
    stopped_by_budget: bool,
    top: Option<i64>,
    full_prefix_end: Option<i64>,
    full_prefix_rows: u64,
}

impl HotLoaded {
    /// The recorded boundary.
    pub fn boundary(&self) -> Option<UnixSecs> {
        self.boundary
    }
}

/// Loads a [`Store`] from a [`StorageReader`]; run it on its own thread.
pub struct StartupLoader<R> {
    store: Store,
    reader: R,
    config: LoadConfig,
    hooks: Option<Arc<dyn LoadHooks>>,
    now: Option<UnixSecs>,
}

/// Counters of one paged scan.
#[derive(Default)]
struct Scan {
    rows_seen: u64,
    chunks: usize,
    chunk_errors: usize,
    stopped_by_budget: bool,
    /// Highest id of the scan (for progress).
    top: Option<i64>,
    /// Where the scan starts (`before_id`).
    start_before: Option<i64>,
    /// Hot scan: the ids from the top down to here were all in the hot window (every page
    /// so far came back full), so they are all loaded and the fill can start below them.
    full_prefix_end: Option<i64>,
    /// Rows in that prefix.
    full_prefix_rows: u64,
    /// Still inside the leading run of full pages.
    in_full_prefix: bool,
}

impl<R: StorageReader> StartupLoader<R> {
    /// A loader filling `store`.
    pub fn new(store: Store, reader: R, config: LoadConfig) -> Self {
        Self {
            store,
            reader,
            config,
            hooks: None,
            now: None,
        }
    }

    /// Reports instants to `hooks`.
    pub fn with_hooks(mut self, hooks: Arc<dyn LoadHooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// Measures the windows from `now` instead of the system clock.
    pub fn with_now(mut self, now: UnixSecs) -> Self {
        self.now = Some(now);
        self
    }

    /// Hot load, then the fill; always ends in a terminal state. Returns the final state,
    /// or the hot load's error (the state then says failed, and what was merged stays).
    pub fn run(self) -> Result<LoadState, LoadError> {
        let hot = self.load_hot()?;
        self.fill(hot);
        Ok(self.store.load_state())
    }

    /// Loads the hot window (or, with `hotStartupHours` = 0, the whole retention window and
    /// ends the load).
    pub fn load_hot(&self) -> Result<HotLoaded, LoadError> {
        let now = self.now();
        let hot_hours = self.config.hot_hours();
        {
            let mut st = self.store.state_lock();
            *st = LoadState {
                hot_startup_hours: hot_hours,
                retention_hours: self.config.retention_hours.max(0.0),
                ..LoadState::default()
            };
        }
        let window = if hot_hours > 0.0 {
            hot_hours
        } else {
            self.config.retention_hours
        };
        let cutoff = (window > 0.0).then(|| now - hours_to_secs(window));
        tracing::info!(
            hot_hours,
            retention_hours = self.config.retention_hours,
            cutoff = cutoff.map(rfc3339),
            "Loading the hot window"
        );
        let mut scan = Scan {
            in_full_prefix: true,
            ..Scan::default()
        };
        let result = self.scan(cutoff, &mut scan, true);
        if let Err(e) = result {
            let mut st = self.store.state_lock();
            st.first_chunk_ready = true;
            st.background_load_complete = true;
            st.background_load_failed = true;
            st.background_load_error = Some(e.to_string());
            drop(st);
            tracing::error!(error = %e, "Startup load failed; serving what was loaded");
            return Err(e);
        }
        let boundary = if scan.stopped_by_budget {
            self.store.oldest_first_seen()
        } else {
            cutoff
        };
        self.store.set_oldest_loaded(boundary);
        {
            let mut st = self.store.state_lock();
            st.load_complete = true;
            st.first_chunk_ready = true;
        }
        if let Some(h) = &self.hooks {
            h.hot_load_finished(boundary);
        }
        let counts = self.store.counts();
        tracing::info!(
            transmissions = counts.transmissions,
            observations = counts.observations,
            bytes = counts.allocated_bytes,
            oldest_loaded = boundary.map(rfc3339),
            "Hot window loaded"
        );
        if hot_hours <= 0.0 {
            // One load: the terminal state is set now and no fill follows.
            self.finish(scan.rows_seen, cutoff, scan.stopped_by_budget, 0, now);
        }
        Ok(HotLoaded {
            boundary,
            stopped_by_budget: scan.stopped_by_budget,
            top: scan.top,
            full_prefix_end: scan.full_prefix_end,
            full_prefix_rows: scan.full_prefix_rows,
        })
    }

    /// Fills the rest of the retention window, newest to oldest, and sets the terminal
    /// state. Does nothing when the hot load was the whole load.
    pub fn fill(&self, hot: HotLoaded) {
        if self.store.load_state().background_load_complete {
            return;
        }
        if let Some(h) = &self.hooks {
            h.fill_entered();
        }
        let now = self.now();
        let lower = (self.config.retention_hours > 0.0)
            .then(|| now - hours_to_secs(self.config.retention_hours));
        tracing::info!(
            oldest_loaded = hot.boundary.map(rfc3339),
            target = lower.map(rfc3339),
            "Starting the background fill"
        );
        // The leading ids the hot load found entirely inside the hot window are loaded
        // already: the fill starts below them and counts their rows as seen.
        let mut scan = Scan {
            stopped_by_budget: hot.stopped_by_budget,
            rows_seen: hot.full_prefix_rows,
            top: hot.top,
            start_before: hot.full_prefix_end,
            ..Scan::default()
        };
        if hot.full_prefix_end.is_some() {
            tracing::info!(
                skipped_rows = hot.full_prefix_rows,
                below_id = hot.full_prefix_end,
                "Fill starts below the ids the hot load covered entirely"
            );
        }
        if !scan.stopped_by_budget {
            // The fill scan has no failure exit: failed chunks are counted and skipped.
            let _ = self.scan(lower, &mut scan, false);
        }
        if !scan.stopped_by_budget {
            self.store.set_oldest_loaded(lower);
        }
        self.finish(
            scan.rows_seen,
            lower,
            scan.stopped_by_budget,
            scan.chunk_errors,
            now,
        );
    }

    /// Pages through the transmissions with `last_seen >= lower`, newest id first, merging
    /// each page. In the hot load the first failing query ends the scan; in the fill it is
    /// retried once, then counted and skipped.
    fn scan(&self, lower: Option<UnixSecs>, scan: &mut Scan, hot: bool) -> Result<(), LoadError> {
        // Two stages on the two cores: this thread queries the next page while a worker
        // decodes and merges the previous one (at most one page waits in between).
        let stop = AtomicBool::new(false);
        let merger = Merger {
            store: &self.store,
            hooks: self.hooks.as_deref(),
            hot,
            budget: self.config.budget(),
            started: Instant::now(),
            stop: &stop,
        };
        let result = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Page>(1);
            let worker = s.spawn(move || merger.run(rx));
            let result = self.query_pages(lower, scan, hot, &stop, &tx);
            drop(tx);
            // The worker only ends when the channel closes; a panic there is a bug.
            let stopped = worker.join().unwrap_or(false);
            result.map(|()| stopped)
        });
        scan.stopped_by_budget |= result.as_ref().is_ok_and(|&stopped| stopped);
        result.map(|_| ())
    }

    fn query_pages(
        &self,
        lower: Option<UnixSecs>,
        scan: &mut Scan,
        hot: bool,
        stop: &AtomicBool,
        out: &SyncSender<Page>,
    ) -> Result<(), LoadError> {
        let chunk = self.config.chunk();
        let mut before_id: Option<i64> = scan.start_before;
        while !stop.load(Ordering::Relaxed) {
            let query = TransmissionPageQuery {
                before_id,
                min_last_seen: lower,
                scan_limit: chunk,
            };
            let query_started = Instant::now();
            let page = match self.reader.load_transmissions(&query) {
                Ok(page) => page,
                Err(first) => {
                    let retried = if hot {
                        Err(first)
                    } else {
                        self.reader.load_transmissions(&query)
                    };
                    match retried {
                        Ok(page) => page,
                        Err(source) if hot => {
                            return Err(LoadError::HotLoad {
                                chunk: scan.chunks + 1,
                                message: error_chain(&source),
                                source,
                            });
                        }
                        Err(source) => {
                            scan.chunk_errors += 1;
                            scan.chunks += 1;
                            tracing::warn!(chunk = scan.chunks, error = %error_chain(&source), "Background fill chunk failed; skipping it");
                            let from = before_id.or_else(|| scan.top.map(|t| t + 1));
                            match from {
                                Some(b) if b > 1 => {
                                    before_id = Some(b - chunk as i64);
                                    continue;
                                }
                                _ => return Ok(()),
                            }
                        }
                    }
                }
            };
            scan.chunks += 1;
            if scan.top.is_none() {
                scan.top = page
                    .transmissions
                    .first()
                    .map(|t| t.id)
                    .or(page.next_before_id);
            }
            scan.rows_seen += page.transmissions.len() as u64;
            let next = page.next_before_id;
            if scan.in_full_prefix {
                if page.transmissions.len() >= chunk && next.is_some() {
                    scan.full_prefix_end = next;
                    scan.full_prefix_rows = scan.rows_seen;
                } else {
                    scan.in_full_prefix = false;
                }
            }
            let short = page.transmissions.len() < chunk;
            let message = Page {
                chunk: scan.chunks,
                rows: page.transmissions,
                progress: scan_progress(scan.top, next),
                rows_seen: scan.rows_seen,
                query_ms: query_started.elapsed().as_millis() as u64,
            };
            if out.send(message).is_err() {
                return Ok(());
            }
            // Below the first short page of a hot load the window holds only older
            // transmissions re-heard lately. They are found through the observation time
            // index instead of by reading every older row (4 s of a cold start on a 2.5 GB
            // file). Only when a fill follows: it reads the older rows anyway and so also
            // catches one whose `last_seen` moved without a new observation row.
            if hot
                && short
                && self.config.hot_hours() > 0.0
                && let (Some(below), Some(since)) = (next, lower)
                && self.load_stragglers(below, since, scan, stop, out)?
            {
                return Ok(());
            }
            match next {
                Some(n) => before_id = Some(n),
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Loads the transmissions below `below` that have an observation at or after `since`
    /// (and are inside the window), in chunks. False when the storage cannot list them,
    /// so the caller keeps paging.
    fn load_stragglers(
        &self,
        below: i64,
        since: UnixSecs,
        scan: &mut Scan,
        stop: &AtomicBool,
        out: &SyncSender<Page>,
    ) -> Result<bool, LoadError> {
        let hot_error = |scan: &Scan, source: DbError| LoadError::HotLoad {
            chunk: scan.chunks + 1,
            message: error_chain(&source),
            source,
        };
        let started = Instant::now();
        let ids = match self.reader.transmission_ids_heard_since(below, since) {
            Ok(ids) => ids,
            Err(DbError::Unsupported(_)) => return Ok(false),
            Err(source) => return Err(hot_error(scan, source)),
        };
        tracing::info!(
            candidates = ids.len(),
            below_id = below,
            query_ms = started.elapsed().as_millis() as u64,
            "Older transmissions heard inside the hot window, found by observation time"
        );
        for part in ids.chunks(self.config.chunk()) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let query_started = Instant::now();
            let rows = self
                .reader
                .load_transmissions_by_ids(part, Some(since))
                .map_err(|source| hot_error(scan, source))?;
            scan.chunks += 1;
            scan.rows_seen += part.len() as u64;
            let page = Page {
                chunk: scan.chunks,
                rows,
                progress: 100,
                rows_seen: scan.rows_seen,
                query_ms: query_started.elapsed().as_millis() as u64,
            };
            if out.send(page).is_err() {
                break;
            }
        }
        Ok(true)
    }

    /// Sets the terminal state from the coverage and the chunk errors.
    fn finish(
        &self,
        rows_seen: u64,
        lower: Option<UnixSecs>,
        stopped: bool,
        chunk_errors: usize,
        now: UnixSecs,
    ) {
        let in_memory = self.store.count_seen_since(lower.unwrap_or(i64::MIN)) as u64;
        let denominator = if stopped {
            // The rows of the window the load was meant to hold (all rows when there is
            // no window, or when the backend cannot count a window).
            let in_window = match lower {
                Some(since) => self.reader.count_transmissions_since(since).ok(),
                None => None,
            };
            in_window
                .or_else(|| self.reader.stats(now).ok().map(|s| s.transmissions))
                .map_or(rows_seen, |n| n.max(rows_seen))
        } else {
            rows_seen
        };
        let ratio = if denominator == 0 {
            1.0
        } else {
            (in_memory as f64 / denominator as f64).min(1.0)
        };
        let error = if ratio < MIN_COVERAGE {
            Some(format!(
                "loaded {:.1}% of {denominator} rows in the window ({in_memory} in memory)",
                ratio * 100.0
            ))
        } else if chunk_errors > 0 {
            Some(format!(
                "{chunk_errors} chunk error(s) during background load"
            ))
        } else {
            None
        };
        let mut st = self.store.state_lock();
        st.rows_in_window = denominator;
        st.load_coverage_ratio = ratio;
        st.background_load_progress = 100;
        st.background_load_failed = error.is_some();
        st.background_load_error = error.clone();
        st.background_load_complete = true;
        st.first_chunk_ready = true;
        drop(st);
        match error {
            Some(e) => tracing::error!(coverage = ratio, error = %e, "Background load FAILED"),
            None => tracing::info!(coverage = ratio, in_memory, "Background load complete"),
        }
    }

    fn now(&self) -> UnixSecs {
        self.now.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }
}

fn hours_to_secs(hours: f64) -> i64 {
    (hours * 3600.0).round() as i64
}

/// One page handed from the query stage to the merge stage.
struct Page {
    chunk: usize,
    rows: Vec<analyzer_db::TransmissionRow>,
    progress: u8,
    rows_seen: u64,
    query_ms: u64,
}

/// The merge stage of a scan.
struct Merger<'a> {
    store: &'a Store,
    hooks: Option<&'a dyn LoadHooks>,
    hot: bool,
    budget: Option<usize>,
    started: Instant,
    stop: &'a AtomicBool,
}

impl Merger<'_> {
    /// Merges pages until the channel closes; returns true when the budget stopped it.
    fn run(self, pages: Receiver<Page>) -> bool {
        let mut stopped = false;
        for page in pages {
            if stopped {
                continue; // Drain what was already queried; the producer stops.
            }
            let rows: Vec<_> = if self.hot {
                page.rows
            } else {
                // Rows the hot load (or live ingest) already put in memory are skipped.
                page.rows
                    .into_iter()
                    .filter(|t| !self.store.contains_id(t.id))
                    .collect()
            };
            let prepare_started = Instant::now();
            let prepared = PreparedChunk::from_rows(&rows);
            drop(rows);
            let prepare_ms = prepare_started.elapsed().as_millis() as u64;
            let merge_started = Instant::now();
            let merged = self.store.merge(prepared);
            let merge_ms = merge_started.elapsed().as_millis() as u64;
            let total_rows = {
                let mut st = self.store.state_lock();
                st.load_progress_rows += merged as u64;
                st.first_chunk_ready = true;
                st.background_load_progress = if self.hot { 0 } else { page.progress };
                st.load_progress_rows
            };
            let elapsed = self.started.elapsed().as_secs_f64();
            let rate = page.rows_seen as f64 / elapsed.max(1e-6);
            let done = f64::from(page.progress) / 100.0;
            let eta = if done > 0.0 {
                elapsed * (1.0 - done) / done
            } else {
                f64::NAN
            };
            tracing::info!(
                phase = if self.hot { "hot" } else { "fill" },
                chunk = page.chunk,
                merged,
                total_rows,
                rows_per_sec = rate.round(),
                progress_pct = page.progress,
                eta_secs = eta.round(),
                query_ms = page.query_ms,
                prepare_ms,
                merge_ms,
                "Loaded a chunk"
            );
            if self.hot
                && let Some(h) = self.hooks
            {
                h.hot_chunk_merged(page.chunk, total_rows);
            }
            if self
                .budget
                .is_some_and(|b| self.store.allocated_bytes() >= b)
            {
                stopped = true;
                self.stop.store(true, Ordering::Relaxed);
                tracing::warn!(
                    bytes = self.store.allocated_bytes(),
                    "Memory budget reached; loading stops"
                );
            }
        }
        stopped
    }
}

/// Share of the id space scanned, 0 to 100.
fn scan_progress(top: Option<i64>, next: Option<i64>) -> u8 {
    match (top, next) {
        (_, None) => 100,
        (Some(top), Some(next)) if top > 0 => {
            (((top - next).max(0) as f64 / top as f64) * 100.0).clamp(0.0, 99.0) as u8
        }
        _ => 0,
    }
}

/// The error and its causes, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
