//! Rows and figures of the operator endpoints: the dropped-packet log
//! (`/api/dropped-packets`) and the database's own page statistics (`/api/perf/sqlite`).

/// Filter and size of a `dropped_packets` read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DroppedQuery {
    /// Rows to return at most.
    pub limit: usize,
    /// Only rows of this observer id (case-insensitive).
    pub observer_id: Option<String>,
    /// Only rows of this node public key (case-insensitive).
    pub node_pubkey: Option<String>,
}

/// One row of `dropped_packets`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DroppedPacketRow {
    /// Row id.
    pub id: i64,
    /// Content hash, when it could be computed.
    pub hash: Option<String>,
    /// The packet hex as received.
    pub raw_hex: Option<String>,
    /// Why it was dropped, e.g. `invalid signature`.
    pub reason: String,
    /// Observer that published it.
    pub observer_id: Option<String>,
    /// Observer name.
    pub observer_name: Option<String>,
    /// Node the packet claimed to come from.
    pub node_pubkey: Option<String>,
    /// Node name the packet claimed.
    pub node_name: Option<String>,
    /// Drop time as stored (SQLite `YYYY-MM-DD HH:MM:SS`, UTC).
    pub dropped_at: Option<String>,
}

/// Page statistics of the database file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatabasePages {
    /// `PRAGMA page_count`.
    pub page_count: i64,
    /// `PRAGMA page_size` in bytes.
    pub page_size: i64,
    /// `PRAGMA cache_size` of the reading connection (pages when positive, KiB when
    /// negative, as SQLite reports it).
    pub cache_size: i64,
    /// Size of the write-ahead log file in bytes (0 when there is none).
    pub wal_bytes: u64,
}
