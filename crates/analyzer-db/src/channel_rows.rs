//! Per-channel aggregates of GRP_TXT transmissions (`/api/channels` when the server does
//! not hold every transmission in memory).

/// One channel (`transmissions.channel_hash`) with its message count and newest message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChannelSummaryRow {
    /// `transmissions.channel_hash`: the channel name, `enc_XX` or `ch<n>`.
    pub channel: String,
    /// GRP_TXT transmissions of the channel (after the region filter).
    pub message_count: u64,
    /// `first_seen` of the newest one (highest id), RFC3339 as stored.
    pub last_first_seen: String,
    /// Decoded payload JSON of the newest one.
    pub last_decoded_json: Option<String>,
}
