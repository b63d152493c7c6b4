//! The server's in-memory packet store and its startup loader.
//!
//! * [`Store`]: every transmission of the retention window with its observations in a
//!   compact layout, the indexes the API needs (hash, id, observer, node, path hop,
//!   payload type, channel, id order), live appends from ingest, eviction by age and by a
//!   memory budget measured from real allocation sizes.
//! * [`StartupLoader`]: loads the hot window first, newest first, in chunks, then fills
//!   the rest of the retention window in the background, and always ends in a terminal
//!   [`LoadState`].
//!
//! The crate is synchronous and does no I/O of its own: it reads through
//! [`analyzer_db::StorageReader`]. The server runs the loader on a thread and serves
//! requests from [`Store`] clones meanwhile.

mod intern;
pub mod load;
pub mod store;

pub use load::{
    HotLoaded, LoadConfig, LoadError, LoadHooks, LoadState, MIN_COVERAGE, StartupLoader,
};
pub use store::neighbors::{EvidenceEnd, NeighborEvidenceItem, NeighborEvidenceSnapshot};
pub use store::q_bulk::{NodeHealthSummary, ObserverHealth, centi_mean};
pub use store::q_channels::{ChannelMessagePage, ChannelMessageRef, ChannelSummary};
pub use store::q_nodes::{
    EnrichWindows, NodeEnrichment, NodeKeys, NodePathGroup, NodePaths, NodeTx, RelayStats,
};
pub use store::q_observers::{DecodedNodes, ObserverAnalytics};
pub use store::q_packets::{
    GroupedAnswer, GroupedPacket, GroupedPage, NodesQuery, PacketListQuery,
};
pub use store::q_reach::{ReachObserver, ReachPeer, ReachScan};
pub use store::{
    EvictionPolicy, EvictionReport, ObservationView, Order, PacketDetail, PacketPage, PacketQuery,
    PacketSummary, PacketsAnswer, PreparedChunk, Store, StoreCounts,
};
