//! Filtered, paged transmission lists answered by the database: `/api/packets` when the
//! query reaches before what the server holds in memory (spec server.md §1.4).

use crate::rows::TransmissionRow;
use crate::time::UnixSecs;

/// Predicates of a transmission list. `None` (or an empty filter) matches everything; a
/// `Some` list that is empty matches nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TxFilter {
    /// Header payload type.
    pub payload_type: Option<i64>,
    /// Header route type.
    pub route_type: Option<i64>,
    /// Content hash (16 hex, any case).
    pub hash: Option<String>,
    /// Observer keys (`observations.observer_idx`): some observation is from one of them.
    pub observers: Option<Vec<i64>>,
    /// Observer keys of the requested regions: some observation is from one of them
    /// (applied in addition to [`TxFilter::observers`]).
    pub region_observers: Option<Vec<i64>>,
    /// Node public keys: the transmission is an ADVERT from one of them, or one of its
    /// observation paths holds a hop that is a prefix (1 to 4 bytes) of one of them.
    pub nodes: Option<Vec<String>>,
    /// Originator public keys (`from_pubkey`, the `area` filter).
    pub originators: Option<Vec<String>>,
    /// `transmissions.channel_hash` (channel name or `enc_XX`).
    pub channel: Option<String>,
    /// Lower bound on `first_seen`.
    pub since: Option<UnixSecs>,
    /// Upper bound on `first_seen`.
    pub until: Option<UnixSecs>,
    /// Whether `since`/`until` include their bounds (multi-node lists) or not (the
    /// packet list).
    pub inclusive_bounds: bool,
}

/// Order of a transmission list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TxSort {
    /// Highest id first.
    #[default]
    NewestFirst,
    /// Lowest id first.
    OldestFirst,
    /// Most recently heard (`last_seen`) first, then highest id.
    LatestHeardFirst,
}

/// A filtered page request for [`crate::StorageReader::query_transmissions`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TxListQuery {
    /// Predicates.
    pub filter: TxFilter,
    /// Order.
    pub sort: TxSort,
    /// Page size.
    pub limit: usize,
    /// Rows skipped before the page.
    pub offset: usize,
}

/// One page of a filtered transmission list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TxListPage {
    /// Matching rows before paging.
    pub total: u64,
    /// The page, in the requested order, each with all its observations (newest first).
    pub transmissions: Vec<TransmissionRow>,
}
