//! Integration tests: the store's queries, live appends and eviction, and the loader's
//! terminal-state contract on real SQLite files built by each test.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use analyzer_db::{
    ContentHash, DbError, DbResult, NodeRow, ObservationRow, ObservationWrite, ObserverRef,
    ObserverRow, PacketObservation, PacketWrite, Storage, StorageReader, StoreStats,
    TransmissionPage, TransmissionPageQuery, TransmissionRow, UnixSecs, Watermark, WriteBatch,
};
use analyzer_sqlite::{OpenOptions, SqliteReader, SqliteStorage};
use analyzer_store::{
    EvictionPolicy, LoadConfig, LoadHooks, Order, PacketQuery, PacketsAnswer, StartupLoader, Store,
};

const NOW: i64 = 1_780_000_000;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

fn packet(n: u64, observer: &str, path: &str, at: i64) -> PacketObservation {
    PacketObservation {
        hash: ContentHash(n.to_be_bytes()),
        raw_hex: format!("15{n:016x}AABB"),
        route_type: 1,
        payload_type: 5,
        payload_version: 0,
        decoded_json: format!(r#"{{"type":"GRP_TXT","n":{n}}}"#),
        channel_hash: Some(format!("enc_{:02X}", n % 4)),
        scope_name: None,
        from_pubkey: None,
        observer: Some(ObserverRef {
            id: observer.to_owned(),
            name: None,
            iata: None,
        }),
        direction: Some("rx".into()),
        snr: Some(7.5),
        rssi: Some(-90.0),
        score: None,
        path_json: path.to_owned(),
        resolved_path: None,
        received_at: at,
        advert: None,
    }
}

fn advert(n: u64, key: &str, observer: &str, at: i64) -> PacketObservation {
    let mut p = packet(n, observer, "[]", at);
    p.payload_type = 4;
    p.channel_hash = None;
    p.decoded_json = format!(r#"{{"type":"ADVERT","pubKey":"{key}"}}"#);
    p.from_pubkey = Some(key.to_owned());
    p
}

/// A database of `n` transmissions spread evenly over `span` seconds before `NOW` (the
/// newest first in id order is the oldest: ids follow ingest order), each heard by two
/// observers. Returns its path.
fn build_db(dir: &Path, n: u64, span: i64, pad: usize) -> PathBuf {
    let path = dir.join("fixture.db");
    let mut storage = SqliteStorage::open(&path, OpenOptions::default()).expect("open");
    let mut packets = Vec::new();
    for i in 0..n {
        let at = NOW - span + (span * i as i64) / n.max(1) as i64;
        let mut p = packet(i + 1, "obs-a", r#"["AB","CD"]"#, at);
        p.decoded_json.push_str(&" ".repeat(pad));
        let mut q = p.clone();
        q.observer = Some(ObserverRef {
            id: "obs-b".into(),
            name: None,
            iata: None,
        });
        q.path_json = r#"["EF"]"#.into();
        q.received_at = at + 1;
        packets.push(p);
        packets.push(q);
        if packets.len() >= 2000 {
            let batch = WriteBatch {
                packets: std::mem::take(&mut packets),
                ..WriteBatch::default()
            };
            storage.write_batch(&batch).expect("write");
        }
    }
    let batch = WriteBatch {
        packets,
        ..WriteBatch::default()
    };
    storage.write_batch(&batch).expect("write");
    path
}

fn reader(path: &Path) -> SqliteReader {
    SqliteReader::open(path, &OpenOptions::default()).expect("reader")
}

fn config(hot: f64, retention: f64, chunk: usize) -> LoadConfig {
    LoadConfig {
        hot_startup_hours: hot,
        retention_hours: retention,
        chunk_size: chunk,
        max_memory_mb: 0,
    }
}

/// A reader that fails the `load_transmissions` calls `fails` says (1-based call number),
/// like a connection that dies. It offers the lookup of older transmissions re-heard in
/// the hot window only when built [`FailingReader::with_lookup`]; otherwise the loader
/// pages through everything.
struct FailingReader {
    inner: SqliteReader,
    calls: AtomicUsize,
    fails: Box<dyn Fn(usize) -> bool + Send + Sync>,
    /// Counts the `load_transmissions_by_ids` calls when the lookup is offered.
    lookups: Option<Arc<AtomicUsize>>,
}

impl FailingReader {
    fn new(inner: SqliteReader, fails: impl Fn(usize) -> bool + Send + Sync + 'static) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
            fails: Box::new(fails),
            lookups: None,
        }
    }

    fn with_lookup(mut self, lookups: Arc<AtomicUsize>) -> Self {
        self.lookups = Some(lookups);
        self
    }
}

impl StorageReader for FailingReader {
    fn stats(&self, now: UnixSecs) -> DbResult<StoreStats> {
        self.inner.stats(now)
    }
    fn watermark(&self) -> DbResult<Watermark> {
        self.inner.watermark()
    }
    fn load_transmissions(&self, query: &TransmissionPageQuery) -> DbResult<TransmissionPage> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if (self.fails)(call) {
            return Err(DbError::Backend(Box::new(std::io::Error::other(
                "connection reset by peer",
            ))));
        }
        self.inner.load_transmissions(query)
    }
    fn transmission_ids_heard_since(&self, below_id: i64, since: UnixSecs) -> DbResult<Vec<i64>> {
        match self.lookups {
            Some(_) => self.inner.transmission_ids_heard_since(below_id, since),
            None => Err(DbError::Unsupported("transmission_ids_heard_since")),
        }
    }
    fn load_transmissions_by_ids(
        &self,
        ids: &[i64],
        min_last_seen: Option<UnixSecs>,
    ) -> DbResult<Vec<TransmissionRow>> {
        let Some(lookups) = &self.lookups else {
            return Err(DbError::Unsupported("load_transmissions_by_ids"));
        };
        lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.load_transmissions_by_ids(ids, min_last_seen)
    }
    fn transmissions_after(&self, after_id: i64, limit: usize) -> DbResult<Vec<TransmissionRow>> {
        self.inner.transmissions_after(after_id, limit)
    }
    fn observations_after(&self, after_id: i64, limit: usize) -> DbResult<Vec<ObservationRow>> {
        self.inner.observations_after(after_id, limit)
    }
    fn transmission_by_hash(&self, hash: &str) -> DbResult<TransmissionRow> {
        self.inner.transmission_by_hash(hash)
    }
    fn observers(&self) -> DbResult<Vec<ObserverRow>> {
        self.inner.observers()
    }
    fn nodes(&self) -> DbResult<Vec<NodeRow>> {
        self.inner.nodes()
    }
}

/// Records the loader's instants and what the store held at each.
#[derive(Default)]
struct Recorder {
    store: Mutex<Option<Store>>,
    last_hot_chunk: Mutex<Option<Instant>>,
    hot_finished: Mutex<Option<(Instant, Option<i64>, usize)>>,
    fill_entered: Mutex<Vec<(Instant, Option<i64>)>>,
}

impl LoadHooks for Recorder {
    fn hot_chunk_merged(&self, _chunk: usize, _rows: u64) {
        *self.last_hot_chunk.lock().unwrap() = Some(Instant::now());
    }
    fn hot_load_finished(&self, boundary: Option<i64>) {
        let n = self
            .store
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, |s| s.counts().transmissions);
        *self.hot_finished.lock().unwrap() = Some((Instant::now(), boundary, n));
    }
    fn fill_entered(&self) {
        let oldest = self
            .store
            .lock()
            .unwrap()
            .as_ref()
            .and_then(Store::oldest_loaded);
        self.fill_entered
            .lock()
            .unwrap()
            .push((Instant::now(), oldest));
    }
}

fn recorder(store: &Store) -> Arc<Recorder> {
    let r = Arc::new(Recorder::default());
    *r.store.lock().unwrap() = Some(store.clone());
    r
}

fn all(store: &Store) -> Vec<i64> {
    match store.packets(&PacketQuery {
        limit: usize::MAX,
        ..PacketQuery::default()
    }) {
        PacketsAnswer::Page(p) => p.packets.iter().map(|p| p.id).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

// ---- Terminal-state contract ----

#[test]
fn hot_window_zero_loads_once_completes_at_once_and_never_fills() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 300, 10 * DAY, 0);
    let store = Store::new();
    let hooks = recorder(&store);
    let state = StartupLoader::new(store.clone(), reader(&path), config(0.0, 0.0, 64))
        .with_hooks(hooks.clone())
        .with_now(NOW)
        .run()
        .expect("load");
    assert!(state.background_load_complete && !state.background_load_failed);
    assert!(state.load_complete);
    assert_eq!(state.background_load_progress, 100);
    assert_eq!(state.load_coverage_ratio, 1.0);
    assert_eq!(state.rows_in_window, 300);
    assert!(
        hooks.fill_entered.lock().unwrap().is_empty(),
        "the fill must not run"
    );
    assert_eq!(store.counts().transmissions, 300);
    assert_eq!(store.counts().observations, 600);
    assert_eq!(state.status_header(), "ready");
}

#[test]
fn hot_window_zero_with_retention_loads_only_the_retention_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 200, 10 * DAY, 0);
    let store = Store::new();
    let state = StartupLoader::new(store.clone(), reader(&path), config(0.0, 5.0 * 24.0, 50))
        .with_now(NOW)
        .run()
        .expect("load");
    assert!(state.background_load_complete && !state.background_load_failed);
    let n = store.counts().transmissions;
    assert!((95..=105).contains(&n), "about half of 10 days: {n}");
    assert_eq!(state.oldest_loaded, Some(NOW - 5 * DAY));
}

#[test]
fn connection_failing_before_the_first_chunk_ends_failed_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 100, DAY, 0);
    let store = Store::new();
    let failing = FailingReader::new(reader(&path), |_| true);
    let err = StartupLoader::new(store.clone(), failing, config(24.0, 48.0, 10))
        .with_now(NOW)
        .run()
        .expect_err("must fail");
    assert!(
        err.to_string().contains("connection reset by peer"),
        "{err}"
    );
    let state = store.load_state();
    assert!(
        state.background_load_complete,
        "a terminal state was reached"
    );
    assert!(state.background_load_failed);
    let message = state.background_load_error.expect("error kept");
    assert!(message.contains("load failed at chunk 1"), "{message}");
    assert!(message.contains("connection reset by peer"), "{message}");
    assert!(!state.load_complete);
    assert_eq!(store.counts().transmissions, 0);
}

#[test]
fn connection_failing_after_the_first_chunk_ends_failed_and_keeps_what_was_merged() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 100, DAY, 0);
    let store = Store::new();
    let failing = FailingReader::new(reader(&path), |call| call >= 2);
    let result = StartupLoader::new(store.clone(), failing, config(48.0, 96.0, 10))
        .with_now(NOW)
        .run();
    assert!(result.is_err());
    let state = store.load_state();
    assert!(state.background_load_complete && state.background_load_failed);
    let message = state.background_load_error.clone().expect("error kept");
    assert!(message.contains("load failed at chunk 2"), "{message}");
    assert_eq!(
        store.counts().transmissions,
        10,
        "the first chunk stays served"
    );
    assert_eq!(state.status_header(), "loading; progress=10");
}

#[test]
fn empty_database_ends_complete_and_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 0, DAY, 0);
    for (hot, retention) in [(24.0, 192.0), (0.0, 0.0), (24.0, 0.0)] {
        let store = Store::new();
        let state = StartupLoader::new(store.clone(), reader(&path), config(hot, retention, 100))
            .with_now(NOW)
            .run()
            .expect("load");
        assert!(state.background_load_complete, "{hot}/{retention}");
        assert!(!state.background_load_failed, "{hot}/{retention}");
        assert_eq!(state.load_coverage_ratio, 1.0);
        assert_eq!(state.background_load_error, None);
        assert_eq!(store.counts().transmissions, 0);
    }
}

#[test]
fn fill_is_entered_only_after_the_last_hot_chunk_and_the_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 400, 4 * DAY, 0);
    let store = Store::new();
    let hooks = recorder(&store);
    StartupLoader::new(store.clone(), reader(&path), config(24.0, 96.0, 25))
        .with_hooks(hooks.clone())
        .with_now(NOW)
        .run()
        .expect("load");
    let last_chunk = hooks
        .last_hot_chunk
        .lock()
        .unwrap()
        .expect("hot chunks merged");
    let (finished, boundary, _) = hooks.hot_finished.lock().unwrap().expect("hot finished");
    let fills = hooks.fill_entered.lock().unwrap();
    assert_eq!(fills.len(), 1);
    let (entered, oldest_at_entry) = fills[0];
    assert!(last_chunk <= finished && finished <= entered);
    assert_eq!(boundary, Some(NOW - DAY));
    assert_eq!(
        oldest_at_entry,
        Some(NOW - DAY),
        "the boundary is set when the fill starts"
    );
}

#[test]
fn fill_really_loads_the_rows_older_than_the_hot_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 1400, 14 * DAY, 0);
    let store = Store::new();
    let hooks = recorder(&store);
    let counting = Arc::new(AtomicUsize::new(0));
    let calls = counting.clone();
    let counted = FailingReader::new(reader(&path), move |_| {
        calls.fetch_add(1, Ordering::SeqCst);
        false
    });
    let state = StartupLoader::new(store.clone(), counted, config(24.0, 15.0 * 24.0, 100))
        .with_hooks(hooks.clone())
        .with_now(NOW)
        .run()
        .expect("load");
    let (_, _, hot_rows) = hooks.hot_finished.lock().unwrap().expect("hot finished");
    assert!((95..=105).contains(&hot_rows), "one day of 14: {hot_rows}");
    let loaded = store.counts().transmissions;
    assert_eq!(loaded, 1400);
    // The id order stays exact whether batches were appended, prepended or interleaved.
    let ids = all(&store);
    assert_eq!(ids, (1..=1400).rev().collect::<Vec<i64>>());
    assert_eq!(store.by_id(700).map(|d| d.summary.id), Some(700));
    assert!(loaded > hot_rows);
    let oldest = match store.packets(&PacketQuery {
        limit: 1,
        order: Order::OldestFirst,
        ..PacketQuery::default()
    }) {
        PacketsAnswer::Page(p) => p.packets[0].last_seen,
        other => panic!("{other:?}"),
    };
    assert!(oldest < NOW - DAY, "older than the hot cutoff");
    assert!(oldest < NOW - 13 * DAY);
    assert!(state.background_load_complete && !state.background_load_failed);
    assert_eq!(state.background_load_progress, 100);
    assert_eq!(state.load_coverage_ratio, 1.0);
    assert_eq!(state.rows_in_window, 1400);
    assert_eq!(state.oldest_loaded, Some(NOW - 15 * DAY));
    // 14 hot pages; the fill skips the newest page, which the hot load found entirely
    // inside the hot window, and reads the other 13.
    assert_eq!(counting.load(Ordering::SeqCst), 14 + 13);
}

#[test]
fn hot_load_finds_old_transmissions_reheard_in_the_window_without_paging_through_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 1400, 14 * DAY, 0);
    // Transmissions 10 and 700 (days old) are heard again an hour ago by a third observer.
    {
        let mut storage = SqliteStorage::open(&path, OpenOptions::default()).expect("open");
        let again = |n: u64| {
            let mut p = packet(n, "obs-c", r#"["99"]"#, NOW - HOUR);
            p.observer = Some(ObserverRef {
                id: "obs-c".into(),
                name: None,
                iata: None,
            });
            p
        };
        let batch = WriteBatch {
            packets: vec![again(10), again(700)],
            ..WriteBatch::default()
        };
        storage.write_batch(&batch).expect("write");
    }
    let store = Store::new();
    let hooks = recorder(&store);
    let (pages, by_ids) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let page_calls = pages.clone();
    let counting = FailingReader::new(reader(&path), move |_| {
        page_calls.fetch_add(1, Ordering::SeqCst);
        false
    })
    .with_lookup(by_ids.clone());
    let loader = StartupLoader::new(store.clone(), counting, config(24.0, 0.0, 100))
        .with_hooks(hooks.clone())
        .with_now(NOW);
    let hot = loader.load_hot().expect("hot load");
    let (_, _, hot_rows) = hooks.hot_finished.lock().unwrap().expect("hot finished");
    assert_eq!(
        hot_rows, 102,
        "the last day's 100 plus the two re-heard ones"
    );
    for id in [10, 700] {
        let detail = store
            .by_id(id)
            .expect("re-heard transmission loaded by the hot load");
        assert_eq!(detail.observations.len(), 3, "with all its observations");
    }
    // One full page, one short page, then one lookup: not the 12 older pages.
    assert_eq!(pages.load(Ordering::SeqCst), 2);
    assert_eq!(by_ids.load(Ordering::SeqCst), 1);
    loader.fill(hot);
    assert_eq!(store.counts().transmissions, 1400);
    assert_eq!(all(&store), (1..=1400).rev().collect::<Vec<i64>>());
}

#[test]
fn no_retention_limit_fills_the_whole_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 300, 30 * DAY, 0);
    let store = Store::new();
    let state = StartupLoader::new(store.clone(), reader(&path), config(24.0, 0.0, 64))
        .with_now(NOW)
        .run()
        .expect("load");
    assert!(state.background_load_complete && !state.background_load_failed);
    assert_eq!(store.counts().transmissions, 300);
    assert_eq!(
        state.oldest_loaded, None,
        "nothing is older than what is loaded"
    );
}

#[test]
fn coverage_below_ninety_percent_fails_with_the_percentage() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 2000, 10 * DAY, 2000);
    let store = Store::new();
    let mut cfg = config(24.0, 0.0, 100);
    cfg.max_memory_mb = 1;
    let state = StartupLoader::new(store.clone(), reader(&path), cfg)
        .with_now(NOW)
        .run()
        .expect("load");
    assert!(state.background_load_complete, "terminal");
    assert!(state.background_load_failed);
    let message = state.background_load_error.expect("error");
    assert!(
        message.starts_with("loaded ") && message.contains("% of 2000 rows"),
        "{message}"
    );
    assert!(state.load_coverage_ratio < 0.9);
    assert!(store.counts().transmissions < 2000);
}

/// With a retention window, coverage is measured against the rows of that window, not the
/// whole file: a budget-stopped load of a 5-day window over a 10-day file reports the ~1000
/// rows of the window.
#[test]
fn coverage_counts_the_rows_of_the_retention_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 2000, 10 * DAY, 2000);
    let store = Store::new();
    let mut cfg = config(24.0, 5.0 * 24.0, 100);
    cfg.max_memory_mb = 1;
    let state = StartupLoader::new(store.clone(), reader(&path), cfg)
        .with_now(NOW)
        .run()
        .expect("load");
    assert!(state.background_load_complete && state.background_load_failed);
    assert!(
        (995..=1005).contains(&state.rows_in_window),
        "the 5-day window holds about 1000 of the 2000 rows: {}",
        state.rows_in_window
    );
    let message = state.background_load_error.expect("error");
    assert!(
        message.contains(&format!("% of {} rows", state.rows_in_window)),
        "{message}"
    );
}

#[test]
fn chunk_errors_during_the_fill_fail_with_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 1000, 10 * DAY, 0);
    // Hot load: 1000 ids / 100 per page = 10 pages. Fill pages are calls 11..; the third
    // fill page fails twice (query and retry).
    let failing = FailingReader::new(reader(&path), |call| call == 13 || call == 14);
    let store = Store::new();
    let state = StartupLoader::new(store.clone(), failing, config(24.0, 11.0 * 24.0, 100))
        .with_now(NOW)
        .run()
        .expect("hot load succeeds");
    assert!(state.background_load_complete && state.background_load_failed);
    assert_eq!(
        state.background_load_error.as_deref(),
        Some("1 chunk error(s) during background load")
    );
    assert!(state.load_coverage_ratio >= 0.9);
    let loaded = store.counts().transmissions;
    assert_eq!(loaded, 900, "only the failed page is missing");
}

#[test]
fn a_fill_chunk_that_fails_once_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 500, 10 * DAY, 0);
    let failing = FailingReader::new(reader(&path), |call| call == 7);
    let store = Store::new();
    let state = StartupLoader::new(store.clone(), failing, config(24.0, 0.0, 100))
        .with_now(NOW)
        .run()
        .expect("load");
    assert!(!state.background_load_failed, "{state:?}");
    assert_eq!(store.counts().transmissions, 500);
}

// ---- Store behaviour ----

fn write(n: u64, observation: i64, new: bool, observer: i64) -> PacketWrite {
    PacketWrite {
        transmission_id: n as i64,
        new_transmission: new,
        observation: ObservationWrite::Inserted(observation),
        observer_idx: Some(observer),
    }
}

/// A FLOOD TXT_MSG from the node whose key starts with `src` to the one starting `dest`.
fn direct_message(n: u64, dest: u8, src: u8, at: i64) -> PacketObservation {
    let mut p = packet(n, "x", "[]", at);
    p.raw_hex = format!("0900{dest:02X}{src:02X}EEEE{n:016X}");
    p.payload_type = 2;
    p.channel_hash = None;
    p.decoded_json =
        format!(r#"{{"type":"TXT_MSG","destHash":"{dest:02x}","srcHash":"{src:02x}"}}"#);
    p
}

#[test]
fn node_filter_finds_direct_messages_by_unique_first_byte_and_anon_requests_by_sender_key() {
    let store = Store::new();
    let alice = format!("a1{}", "0".repeat(62));
    let bob_byte = 0xb2u8;
    // 1: alice → bob; 2: bob → someone else; 3: an ANON_REQ from alice's key to bob;
    // 4: a channel message (names nobody).
    let mut anon = packet(3, "x", "[]", NOW + 3);
    anon.raw_hex = format!("1D00B2{}EEEE{}", alice.to_uppercase(), "00".repeat(16));
    anon.payload_type = 7;
    anon.channel_hash = None;
    let packets = [
        direct_message(1, bob_byte, 0xa1, NOW + 1),
        direct_message(2, 0x33, bob_byte, NOW + 2),
        anon,
        packet(4, "x", "[]", NOW + 4),
    ];
    for (i, p) in packets.iter().enumerate() {
        assert!(store.append(p, &write(i as u64 + 1, i as i64 + 1, true, 0)));
    }
    let ids = |node: &str, peer: Option<u8>| -> Vec<i64> {
        match store.packets(&PacketQuery {
            limit: 10,
            node: Some(node.to_owned()),
            node_peer_hash: peer,
            ..PacketQuery::default()
        }) {
            PacketsAnswer::Page(p) => p.packets.iter().map(|p| p.id).collect(),
            other => panic!("{other:?}"),
        }
    };
    let bob = format!("b2{}", "f".repeat(62));
    assert_eq!(
        ids(&bob, Some(bob_byte)),
        vec![3, 2, 1],
        "sent, received, anon-addressed"
    );
    assert!(
        ids(&bob, None).is_empty(),
        "an ambiguous first byte attributes nothing"
    );
    assert_eq!(
        ids(&alice, None),
        vec![3],
        "the ANON_REQ carries alice's whole key"
    );
    assert_eq!(ids(&alice, Some(0xa1)), vec![3, 1]);
    // The same answers through the linear scan (a second criterion defeats the index).
    let scanned = match store.packets(&PacketQuery {
        limit: 10,
        node: Some(bob.clone()),
        node_peer_hash: Some(bob_byte),
        since: Some(NOW + 1),
        ..PacketQuery::default()
    }) {
        PacketsAnswer::Page(p) => p.packets.iter().map(|p| p.id).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(scanned, vec![3, 2]);
    // Eviction takes them out of the new indexes too.
    store.evict(
        NOW + 10_000,
        &EvictionPolicy {
            retention_secs: Some(1),
            max_bytes: None,
        },
    );
    assert!(ids(&bob, Some(bob_byte)).is_empty());
    assert!(ids(&alice, None).is_empty());
}

#[test]
fn queries_filter_page_and_order_like_the_api() {
    let store = Store::new();
    for n in 1..=20u64 {
        let p = if n % 5 == 0 {
            advert(n, &format!("AB{n:062x}"), "x", NOW + n as i64)
        } else {
            packet(
                n,
                "x",
                if n % 2 == 0 { r#"["AB","CD"]"# } else { "[]" },
                NOW + n as i64,
            )
        };
        assert!(store.append(&p, &write(n, n as i64 * 10, true, (n % 3) as i64)));
    }
    let page = |q: PacketQuery| match store.packets(&q) {
        PacketsAnswer::Page(p) => (p.total, p.packets.iter().map(|p| p.id).collect::<Vec<_>>()),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        page(PacketQuery {
            limit: 3,
            ..Default::default()
        }),
        (20, vec![20, 19, 18])
    );
    assert_eq!(
        page(PacketQuery {
            limit: 3,
            offset: 18,
            ..Default::default()
        }),
        (20, vec![2, 1])
    );
    assert_eq!(
        page(PacketQuery {
            limit: 2,
            order: Order::OldestFirst,
            ..Default::default()
        }),
        (20, vec![1, 2])
    );
    assert_eq!(
        page(PacketQuery {
            limit: 10,
            payload_type: Some(4),
            ..Default::default()
        }),
        (4, vec![20, 15, 10, 5])
    );
    assert_eq!(
        page(PacketQuery {
            limit: 3,
            observers: vec![0],
            ..Default::default()
        })
        .0,
        6
    );
    assert_eq!(
        page(PacketQuery {
            limit: 3,
            observers: vec![99],
            ..Default::default()
        }),
        (0, vec![])
    );
    assert_eq!(
        page(PacketQuery {
            limit: 9,
            hash: Some(ContentHash(7u64.to_be_bytes())),
            ..Default::default()
        }),
        (1, vec![7])
    );
    assert_eq!(
        page(PacketQuery {
            limit: 9,
            since: Some(NOW + 17),
            ..Default::default()
        }),
        (3, vec![20, 19, 18])
    );
    assert_eq!(
        page(PacketQuery {
            limit: 9,
            since: Some(NOW + 2),
            until: Some(NOW + 5),
            ..Default::default()
        }),
        (2, vec![4, 3])
    );
    assert_eq!(
        page(PacketQuery {
            limit: 9,
            channel: Some("enc_01".into()),
            ..Default::default()
        }),
        (4, vec![17, 13, 9, 1])
    );
    // Node: the adverts it sent plus packets relayed through a hop that prefixes its key.
    let (total, ids) = page(PacketQuery {
        limit: 50,
        node: Some(format!("AB{:062x}", 5)),
        ..Default::default()
    });
    assert_eq!(total, 9, "{ids:?}"); // advert 5 + the 8 even non-advert packets with hop AB
    assert!(ids.contains(&5) && !ids.contains(&15));
    // Detail by hash and by id agree, with the packet hex in its stored case.
    let d = store.by_id(7).expect("present");
    assert_eq!(
        store.by_hash(&ContentHash(7u64.to_be_bytes())),
        Some(d.clone())
    );
    assert_eq!(d.summary.raw_hex, format!("15{:016x}AABB", 7));
    assert_eq!(d.observations.len(), 1);
    assert_eq!(d.observations[0].observer_idx, Some(1));
    assert_eq!(d.observations[0].snr, Some(7.5));
    assert_eq!(d.observations[0].path_json, "[]");
    assert_eq!(store.by_id(99), None);
}

#[test]
fn live_reobservations_join_their_transmission() {
    let store = Store::new();
    let p = packet(1, "x", "[]", NOW);
    store.append(&p, &write(1, 10, true, 1));
    let mut again = packet(1, "y", r#"["AB","CD","EF"]"#, NOW + 60);
    again.snr = None;
    store.append(&again, &write(1, 11, false, 2));
    // The same observation row again (a duplicate write) is not added twice.
    store.append(
        &again,
        &PacketWrite {
            observation: ObservationWrite::Duplicate(11),
            ..write(1, 11, false, 2)
        },
    );
    let d = store.by_id(1).expect("present");
    assert_eq!(d.observations.len(), 2);
    assert_eq!(d.summary.observer_count, 2);
    assert_eq!(d.summary.last_seen, NOW + 60);
    assert_eq!(d.summary.first_seen, NOW);
    let best = d.summary.best.expect("best");
    assert_eq!(
        best.path_json, r#"["AB","CD","EF"]"#,
        "the longest path is the best"
    );
    assert_eq!(best.snr, None);
    assert_eq!(d.observations[0].id, 11, "newest first");
    // A re-observation of a transmission that is not in memory is skipped and counted.
    assert!(!store.append(&packet(9, "x", "[]", NOW), &write(9, 90, false, 1)));
    assert_eq!(store.counts().live_skipped, 1);
    // Untrusted bad hex is rejected and counted, never a panic.
    let mut bad = packet(2, "x", "[]", NOW);
    bad.raw_hex = "zz".into();
    assert!(!store.append(&bad, &write(2, 20, true, 1)));
    assert_eq!(store.counts().rejected, 1);
    assert_eq!(store.counts().transmissions, 1);
}

#[test]
fn eviction_by_age_uses_last_seen_and_queries_before_it_go_to_the_database() {
    let store = Store::new();
    for n in 1..=10u64 {
        store.append(
            &packet(n, "x", "[]", NOW - (10 - n as i64) * DAY),
            &write(n, n as i64, true, 1),
        );
    }
    // Transmission 1 is old by first_seen but was heard again today: it stays.
    store.append(&packet(1, "x", "[]", NOW), &write(1, 100, false, 1));
    let report = store.evict(
        NOW,
        &EvictionPolicy {
            retention_secs: Some(3 * DAY),
            max_bytes: None,
        },
    );
    assert_eq!(report.by_age, 5, "{report:?}"); // 2..=6; 7 sits exactly on the cutoff
    let mut ids = all(&store);
    ids.sort();
    assert_eq!(ids, vec![1, 7, 8, 9, 10]);
    assert!(report.bytes_after < report.bytes_before);
    assert_eq!(store.counts().observations, 6);
    // Once the loader set a boundary, older ranges are answered from the database.
    let dir = tempfile::tempdir().unwrap();
    let path = build_db(dir.path(), 0, DAY, 0);
    StartupLoader::new(store.clone(), reader(&path), config(0.0, 72.0, 10))
        .with_now(NOW)
        .run()
        .expect("load");
    let q = PacketQuery {
        limit: 5,
        since: Some(NOW - 5 * DAY),
        ..Default::default()
    };
    assert_eq!(
        store.packets(&q),
        PacketsAnswer::BeforeLoadedWindow {
            oldest_loaded: NOW - 3 * DAY
        }
    );
    let q = PacketQuery {
        limit: 5,
        since: Some(NOW - 2 * DAY),
        ..Default::default()
    };
    assert!(matches!(store.packets(&q), PacketsAnswer::Page(p) if p.total == 2));
}

#[test]
fn eviction_by_memory_budget_drops_the_least_recently_seen_until_under_it() {
    let store = Store::new();
    for n in 1..=2000u64 {
        let mut p = packet(n, "x", r#"["AB"]"#, NOW + n as i64);
        p.decoded_json.push_str(&"x".repeat(1000));
        store.append(&p, &write(n, n as i64, true, 1));
    }
    let before = store.allocated_bytes();
    assert!(before > 2_000_000, "the JSON alone is 2 MB: {before}");
    let budget = before / 2;
    let report = store.evict(
        NOW,
        &EvictionPolicy {
            retention_secs: None,
            max_bytes: Some(budget),
        },
    );
    assert!(report.by_memory > 900, "{report:?}");
    assert!(
        store.allocated_bytes() <= budget,
        "{} > {budget}",
        store.allocated_bytes()
    );
    let ids = all(&store);
    assert_eq!(
        ids.iter().min(),
        Some(&(report.by_memory as i64 + 1)),
        "the oldest went first"
    );
    // Ranges reaching before the newest evicted transmission go to the database.
    let boundary = store.oldest_loaded().expect("boundary set by eviction");
    assert_eq!(boundary, NOW + report.by_memory as i64 + 1);
    let q = PacketQuery {
        limit: 5,
        since: Some(NOW),
        ..Default::default()
    };
    assert_eq!(
        store.packets(&q),
        PacketsAnswer::BeforeLoadedWindow {
            oldest_loaded: boundary
        }
    );
    // Under budget, nothing more is evicted.
    let again = store.evict(
        NOW,
        &EvictionPolicy {
            retention_secs: None,
            max_bytes: Some(budget),
        },
    );
    assert_eq!(again.by_memory, 0);
}

#[test]
fn accounting_follows_real_allocations() {
    let store = Store::new();
    let empty = store.allocated_bytes();
    let mut p = packet(1, "x", "[]", NOW);
    p.decoded_json = "j".repeat(100_000);
    store.append(&p, &write(1, 1, true, 1));
    let one = store.allocated_bytes();
    assert!(
        one >= empty + 100_000 && one < empty + 120_000,
        "{empty} -> {one}"
    );
    store.evict(
        NOW + 10 * DAY,
        &EvictionPolicy {
            retention_secs: Some(DAY),
            max_bytes: None,
        },
    );
    assert!(store.allocated_bytes() < one - 100_000);
}
