//! The CoreScope schema (spec ingest.md §6.2) as data: table DDL, the columns each table
//! must have, the indexes, the `packets_v` view and the migration marker names.
//!
//! One deliberate difference from the reference: `observers` carries an explicit
//! `observer_idx INTEGER PRIMARY KEY AUTOINCREMENT` column (the last column) and
//! `id TEXT NOT NULL UNIQUE`. `observer_idx` is an alias of `rowid`, so the reference's
//! `observers.rowid = observations.observer_idx` joins and `ON CONFLICT(id)` upserts still
//! work, but `VACUUM` can no longer renumber the rows that observations point at.

/// Fresh-database DDL, in dependency order. Every statement is `IF NOT EXISTS`, so the
/// list also creates tables that an older database lacks.
pub const CREATE_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS nodes (
        public_key TEXT PRIMARY KEY,
        name TEXT,
        role TEXT,
        lat REAL,
        lon REAL,
        last_seen TEXT,
        first_seen TEXT,
        advert_count INTEGER DEFAULT 0,
        battery_mv INTEGER,
        temperature_c REAL,
        foreign_advert INTEGER DEFAULT 0,
        default_scope TEXT DEFAULT NULL,
        multibyte_sup INTEGER NOT NULL DEFAULT 0,
        multibyte_evidence TEXT
    )",
    "CREATE TABLE IF NOT EXISTS inactive_nodes (
        public_key TEXT PRIMARY KEY,
        name TEXT,
        role TEXT,
        lat REAL,
        lon REAL,
        last_seen TEXT,
        first_seen TEXT,
        advert_count INTEGER DEFAULT 0,
        battery_mv INTEGER,
        temperature_c REAL,
        foreign_advert INTEGER DEFAULT 0,
        default_scope TEXT DEFAULT NULL,
        multibyte_sup INTEGER NOT NULL DEFAULT 0,
        multibyte_evidence TEXT
    )",
    "CREATE TABLE IF NOT EXISTS observers (
        id TEXT NOT NULL UNIQUE,
        name TEXT,
        iata TEXT,
        last_seen TEXT,
        first_seen TEXT,
        packet_count INTEGER DEFAULT 0,
        model TEXT,
        firmware TEXT,
        client_version TEXT,
        radio TEXT,
        battery_mv INTEGER,
        uptime_secs INTEGER,
        noise_floor REAL,
        inactive INTEGER DEFAULT 0,
        last_packet_at TEXT DEFAULT NULL,
        clock_skew_seconds INTEGER DEFAULT NULL,
        clock_skew_count_24h INTEGER DEFAULT 0,
        clock_last_naive_at TEXT DEFAULT NULL,
        can_relay INTEGER DEFAULT 1,
        can_relay_seen INTEGER DEFAULT 0,
        observer_idx INTEGER PRIMARY KEY AUTOINCREMENT
    )",
    "CREATE TABLE IF NOT EXISTS transmissions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        raw_hex TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        first_seen TEXT NOT NULL,
        route_type INTEGER,
        payload_type INTEGER,
        payload_version INTEGER,
        decoded_json TEXT,
        from_pubkey TEXT,
        last_seen INTEGER NOT NULL DEFAULT 0,
        created_at TEXT DEFAULT (datetime('now')),
        channel_hash TEXT DEFAULT NULL,
        scope_name TEXT DEFAULT NULL
    )",
    "CREATE TABLE IF NOT EXISTS observations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        transmission_id INTEGER NOT NULL REFERENCES transmissions(id),
        observer_idx INTEGER,
        direction TEXT,
        snr REAL,
        rssi REAL,
        score INTEGER,
        path_json TEXT,
        timestamp INTEGER NOT NULL,
        resolved_path TEXT,
        raw_hex TEXT
    )",
    "CREATE TABLE IF NOT EXISTS observer_metrics (
        observer_id TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        noise_floor REAL,
        tx_air_secs INTEGER,
        rx_air_secs INTEGER,
        recv_errors INTEGER,
        battery_mv INTEGER,
        packets_sent INTEGER,
        packets_recv INTEGER,
        PRIMARY KEY (observer_id, timestamp)
    )",
    "CREATE TABLE IF NOT EXISTS dropped_packets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        hash TEXT,
        raw_hex TEXT,
        reason TEXT NOT NULL,
        observer_id TEXT,
        observer_name TEXT,
        node_pubkey TEXT,
        node_name TEXT,
        dropped_at DATETIME DEFAULT CURRENT_TIMESTAMP
    )",
    "CREATE TABLE IF NOT EXISTS neighbor_edges (
        node_a TEXT NOT NULL,
        node_b TEXT NOT NULL,
        count INTEGER DEFAULT 1,
        last_seen TEXT,
        PRIMARY KEY (node_a, node_b)
    )",
    "CREATE TABLE IF NOT EXISTS client_receptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        rx_pubkey TEXT NOT NULL,
        heard_key TEXT NOT NULL,
        heard_keylen INTEGER NOT NULL,
        rssi INTEGER,
        snr REAL,
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        pos_acc_m REAL,
        rx_at TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        src TEXT NOT NULL,
        UNIQUE (rx_pubkey, heard_key, rx_at)
    )",
    "CREATE TABLE IF NOT EXISTS client_observers (
        pubkey TEXT PRIMARY KEY,
        name TEXT,
        last_seen TEXT
    )",
    "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS _async_migrations (
        name TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL DEFAULT (datetime('now')),
        ended_at TEXT,
        error TEXT
    )",
];

/// A column an existing table must have, with the declaration `ALTER TABLE ADD COLUMN`
/// uses when it is missing. `None` means the column cannot be added afterwards (it is part
/// of the table's identity); a database without it is not a CoreScope v3 database.
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// Declaration for `ALTER TABLE … ADD COLUMN`.
    pub add: Option<&'static str>,
}

const fn req(name: &'static str) -> Column {
    Column { name, add: None }
}

const fn add(name: &'static str, decl: &'static str) -> Column {
    Column {
        name,
        add: Some(decl),
    }
}

const NODE_COLUMNS: &[Column] = &[
    req("public_key"),
    add("name", "TEXT"),
    add("role", "TEXT"),
    add("lat", "REAL"),
    add("lon", "REAL"),
    add("last_seen", "TEXT"),
    add("first_seen", "TEXT"),
    add("advert_count", "INTEGER DEFAULT 0"),
    add("battery_mv", "INTEGER"),
    add("temperature_c", "REAL"),
    add("foreign_advert", "INTEGER DEFAULT 0"),
    add("default_scope", "TEXT DEFAULT NULL"),
    add("multibyte_sup", "INTEGER NOT NULL DEFAULT 0"),
    add("multibyte_evidence", "TEXT"),
];

/// Required columns per table, in canonical order.
pub const TABLE_COLUMNS: &[(&str, &[Column])] = &[
    ("nodes", NODE_COLUMNS),
    ("inactive_nodes", NODE_COLUMNS),
    (
        "observers",
        &[
            req("id"),
            add("name", "TEXT"),
            add("iata", "TEXT"),
            add("last_seen", "TEXT"),
            add("first_seen", "TEXT"),
            add("packet_count", "INTEGER DEFAULT 0"),
            add("model", "TEXT"),
            add("firmware", "TEXT"),
            add("client_version", "TEXT"),
            add("radio", "TEXT"),
            add("battery_mv", "INTEGER"),
            add("uptime_secs", "INTEGER"),
            add("noise_floor", "REAL"),
            add("inactive", "INTEGER DEFAULT 0"),
            add("last_packet_at", "TEXT DEFAULT NULL"),
            add("clock_skew_seconds", "INTEGER DEFAULT NULL"),
            add("clock_skew_count_24h", "INTEGER DEFAULT 0"),
            add("clock_last_naive_at", "TEXT DEFAULT NULL"),
            add("can_relay", "INTEGER DEFAULT 1"),
            add("can_relay_seen", "INTEGER DEFAULT 0"),
        ],
    ),
    (
        "transmissions",
        &[
            req("id"),
            req("raw_hex"),
            req("hash"),
            req("first_seen"),
            add("route_type", "INTEGER"),
            add("payload_type", "INTEGER"),
            add("payload_version", "INTEGER"),
            add("decoded_json", "TEXT"),
            add("from_pubkey", "TEXT"),
            add("last_seen", "INTEGER NOT NULL DEFAULT 0"),
            add("created_at", "TEXT"),
            add("channel_hash", "TEXT DEFAULT NULL"),
            add("scope_name", "TEXT DEFAULT NULL"),
        ],
    ),
    (
        "observations",
        &[
            req("id"),
            req("transmission_id"),
            req("observer_idx"),
            add("direction", "TEXT"),
            add("snr", "REAL"),
            add("rssi", "REAL"),
            add("score", "INTEGER"),
            add("path_json", "TEXT"),
            req("timestamp"),
            add("resolved_path", "TEXT"),
            add("raw_hex", "TEXT"),
        ],
    ),
    (
        "observer_metrics",
        &[
            req("observer_id"),
            req("timestamp"),
            add("noise_floor", "REAL"),
            add("tx_air_secs", "INTEGER"),
            add("rx_air_secs", "INTEGER"),
            add("recv_errors", "INTEGER"),
            add("battery_mv", "INTEGER"),
            add("packets_sent", "INTEGER"),
            add("packets_recv", "INTEGER"),
        ],
    ),
    (
        "dropped_packets",
        &[
            req("id"),
            add("hash", "TEXT"),
            add("raw_hex", "TEXT"),
            req("reason"),
            add("observer_id", "TEXT"),
            add("observer_name", "TEXT"),
            add("node_pubkey", "TEXT"),
            add("node_name", "TEXT"),
            add("dropped_at", "DATETIME"),
        ],
    ),
    (
        "neighbor_edges",
        &[
            req("node_a"),
            req("node_b"),
            add("count", "INTEGER DEFAULT 1"),
            add("last_seen", "TEXT"),
        ],
    ),
    (
        "client_observers",
        &[req("pubkey"), add("name", "TEXT"), add("last_seen", "TEXT")],
    ),
];

/// Node columns copied between `nodes` and `inactive_nodes`, by name (never `SELECT *`,
/// so tables whose columns were added in a different order still line up).
pub const NODE_COLUMN_LIST: &str = "public_key, name, role, lat, lon, last_seen, first_seen, \
     advert_count, battery_mv, temperature_c, foreign_advert, default_scope, multibyte_sup, \
     multibyte_evidence";

/// Indexes created synchronously at open (cheap, or needed by the writer's statements).
pub const CREATE_INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_nodes_last_seen ON nodes(last_seen)",
    "CREATE INDEX IF NOT EXISTS idx_nodes_foreign_advert ON nodes(foreign_advert) \
     WHERE foreign_advert = 1",
    "CREATE INDEX IF NOT EXISTS idx_inactive_nodes_last_seen ON inactive_nodes(last_seen)",
    "CREATE INDEX IF NOT EXISTS idx_observers_last_seen ON observers(last_seen)",
    "CREATE INDEX IF NOT EXISTS idx_transmissions_hash ON transmissions(hash)",
    "CREATE INDEX IF NOT EXISTS idx_transmissions_first_seen ON transmissions(first_seen)",
    "CREATE INDEX IF NOT EXISTS idx_transmissions_payload_type ON transmissions(payload_type)",
    "CREATE INDEX IF NOT EXISTS idx_transmissions_from_pubkey ON transmissions(from_pubkey)",
    "CREATE INDEX IF NOT EXISTS idx_tx_channel_hash ON transmissions(channel_hash) \
     WHERE payload_type = 5",
    "CREATE INDEX IF NOT EXISTS idx_tx_scope_name ON transmissions(scope_name) \
     WHERE scope_name IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS idx_tx_last_seen_zero ON transmissions(id) WHERE last_seen = 0",
    "DROP INDEX IF EXISTS idx_tx_last_seen",
    "CREATE INDEX IF NOT EXISTS idx_observations_transmission_id \
     ON observations(transmission_id)",
    "CREATE INDEX IF NOT EXISTS idx_observations_observer_idx ON observations(observer_idx)",
    "CREATE INDEX IF NOT EXISTS idx_observations_timestamp ON observations(timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_observations_tx_ts ON observations(transmission_id, timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_observer_metrics_timestamp ON observer_metrics(timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_dropped_observer ON dropped_packets(observer_id)",
    "CREATE INDEX IF NOT EXISTS idx_dropped_node ON dropped_packets(node_pubkey)",
    "CREATE INDEX IF NOT EXISTS idx_client_recept_heard_geo \
     ON client_receptions(heard_key, heard_keylen, lat, lon)",
    "CREATE INDEX IF NOT EXISTS idx_client_recept_latlon ON client_receptions(lat, lon)",
    "CREATE INDEX IF NOT EXISTS idx_client_recept_rxat ON client_receptions(rx_at)",
    "DROP INDEX IF EXISTS idx_client_recept_rxpk",
];

/// The observation dedup key the writer's upsert relies on.
pub const CREATE_DEDUP_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS idx_observations_dedup \
     ON observations(transmission_id, observer_idx, COALESCE(path_json, ''))";

/// Composite index built by the reference's async migration `obs_observer_ts_idx_v1`.
pub const CREATE_OBSERVER_TS_INDEX: &str = "CREATE INDEX IF NOT EXISTS \
     idx_observations_observer_idx_timestamp ON observations(observer_idx, timestamp)";

/// `packets_v`: one row per observation (spec ingest.md §6.2), recreated at every open.
pub const CREATE_PACKETS_VIEW: &str = "CREATE VIEW packets_v AS
    SELECT o.id AS id,
           COALESCE(NULLIF(o.raw_hex, ''), t.raw_hex) AS raw_hex,
           datetime(o.timestamp, 'unixepoch') AS timestamp,
           obs.id AS observer_id,
           obs.name AS observer_name,
           o.direction AS direction,
           o.snr AS snr,
           o.rssi AS rssi,
           o.score AS score,
           t.hash AS hash,
           t.route_type AS route_type,
           t.payload_type AS payload_type,
           t.payload_version AS payload_version,
           o.path_json AS path_json,
           t.decoded_json AS decoded_json,
           t.created_at AS created_at
    FROM observations o
    JOIN transmissions t ON t.id = o.transmission_id
    LEFT JOIN observers obs ON obs.rowid = o.observer_idx
         AND (obs.inactive IS NULL OR obs.inactive = 0)";

/// `_migrations` markers of the reference whose effect a freshly created database already
/// has. Writing them lets the reference ingestor open our file without re-running them.
pub const REFERENCE_MARKERS: &[&str] = &[
    "advert_count_unique_v1",
    "noise_floor_real_v1",
    "node_telemetry_v1",
    "obs_timestamp_index_v1",
    "observer_metrics_v1",
    "observer_metrics_ts_idx",
    "observers_inactive_v1",
    "observer_metrics_packets_v1",
    "channel_hash_v1",
    "dropped_packets_v1",
    "observers_last_packet_at_v1",
    "observers_clock_naive_v1",
    "cleanup_legacy_null_hash_ts",
    "foreign_advert_v1",
    "from_pubkey_v1",
    "channel_hash_casing_v1",
    "scope_name_v1",
    "nodes_default_scope_v1",
    "observations_raw_hex_v1",
    "obs_observer_ts_idx_v1",
    "backfill_path_json_from_raw_hex_v1",
];

/// Reference markers that only record a schema shape; once our migrator has ensured the
/// shape they are true of any database we opened.
pub const SHAPE_MARKERS: &[&str] = &[
    "node_telemetry_v1",
    "obs_timestamp_index_v1",
    "observer_metrics_v1",
    "observer_metrics_ts_idx",
    "observers_inactive_v1",
    "observer_metrics_packets_v1",
    "dropped_packets_v1",
    "observers_clock_naive_v1",
    "foreign_advert_v1",
    "from_pubkey_v1",
    "scope_name_v1",
    "nodes_default_scope_v1",
    "observations_raw_hex_v1",
];

/// Our own marker: fresh schema created by this crate.
pub const MARKER_SCHEMA: &str = "mca_schema_v1";
/// Our own marker: `observers` rebuilt with an explicit integer key (rowids preserved).
pub const MARKER_OBSERVER_KEY: &str = "mca_observers_stable_key_v1";
/// Our own marker: duplicate observations merged and `idx_observations_dedup` created.
pub const MARKER_DEDUP: &str = "mca_observations_dedup_v1";

/// Reference async migration: composite observer/timestamp index.
pub const ASYNC_OBSERVER_TS_INDEX: &str = "obs_observer_ts_idx_v1";
/// Reference async migration: `transmissions.last_seen` backfill.
pub const ASYNC_TX_LAST_SEEN: &str = "tx_last_seen_backfill_v1";
/// Our background job: `from_pubkey` of ADVERT rows (the reference runs it every boot).
pub const ASYNC_FROM_PUBKEY: &str = "mca_from_pubkey_backfill_v1";
/// Our background job standing in for the reference's `channel_hash_v1` backfill.
pub const ASYNC_CHANNEL_HASH: &str = "mca_channel_hash_backfill_v1";
