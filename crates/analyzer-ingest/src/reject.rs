//! Why a message was not stored, with per-reason counters and rate-limited logging.
//!
//! Every message that does not become a row is counted under exactly one [`Reject`] reason.
//! Bad input is logged at most once per reason per [`LOG_INTERVAL`], with the number of
//! suppressed lines since the last one, so a flood of garbage cannot flood the log either.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Minimum time between two log lines of the same reason.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Why a message (or the packet in it) was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// The payload is not JSON.
    NotJson,
    /// The payload is JSON but not an object.
    NotObject,
    /// The payload is larger than [`crate::message::MAX_MESSAGE_BYTES`].
    Oversize,
    /// A packets topic without a usable `raw` string.
    MissingRaw,
    /// `raw` is not valid hex.
    BadHex,
    /// The frame is truncated or violates the firmware's limits.
    DecodeError,
    /// A topic we do not handle, without `raw`.
    UnknownTopic,
    /// A topic observers publish without `raw` by design (`debug`, …). Not an error.
    Rawless,
    /// `meshcore/status` or `meshcore/events/connection` (legacy bridges). Not an error.
    LegacyTopic,
    /// The observer is in `observerBlacklist`.
    Blacklisted,
    /// The region is not in `observerIATAWhitelist`.
    IataWhitelist,
    /// The region is not in the source's `iataFilter`.
    SourceIataFilter,
    /// A corrupt ADVERT (bad key, coordinates or name).
    BadAdvert,
    /// An ADVERT whose Ed25519 signature does not verify (recorded in `dropped_packets`).
    InvalidSignature,
    /// An ADVERT outside the geo filter with `foreignAdverts.mode = drop`.
    ForeignAdvert,
    /// A Format-2 companion message without `text`.
    BadCompanion,
    /// A client-RX report that cannot be attributed or located (bad key, no GPS, not rx, …).
    BadClientRx,
    /// The storage backend refused the record.
    StorageRejected,
    /// The storage write failed; the batch was lost.
    WriteError,
}

impl Reject {
    /// Every reason, in counter order.
    pub const ALL: [Reject; 19] = [
        Reject::NotJson,
        Reject::NotObject,
        Reject::Oversize,
        Reject::MissingRaw,
        Reject::BadHex,
        Reject::DecodeError,
        Reject::UnknownTopic,
        Reject::Rawless,
        Reject::LegacyTopic,
        Reject::Blacklisted,
        Reject::IataWhitelist,
        Reject::SourceIataFilter,
        Reject::BadAdvert,
        Reject::InvalidSignature,
        Reject::ForeignAdvert,
        Reject::BadCompanion,
        Reject::BadClientRx,
        Reject::StorageRejected,
        Reject::WriteError,
    ];

    /// Stable snake-case name for counters and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reject::NotJson => "not_json",
            Reject::NotObject => "not_object",
            Reject::Oversize => "oversize",
            Reject::MissingRaw => "missing_raw",
            Reject::BadHex => "bad_hex",
            Reject::DecodeError => "decode_error",
            Reject::UnknownTopic => "unknown_topic",
            Reject::Rawless => "rawless",
            Reject::LegacyTopic => "legacy_topic",
            Reject::Blacklisted => "blacklisted",
            Reject::IataWhitelist => "iata_whitelist",
            Reject::SourceIataFilter => "source_iata_filter",
            Reject::BadAdvert => "bad_advert",
            Reject::InvalidSignature => "invalid_signature",
            Reject::ForeignAdvert => "foreign_advert",
            Reject::BadCompanion => "bad_companion",
            Reject::BadClientRx => "bad_client_rx",
            Reject::StorageRejected => "storage_rejected",
            Reject::WriteError => "write_error",
        }
    }

    /// True for malformed or untrusted input (logged, rate-limited); false for policy filters
    /// and by-design rawless topics (counted, not logged).
    pub const fn is_bad_input(self) -> bool {
        !matches!(
            self,
            Reject::Rawless
                | Reject::LegacyTopic
                | Reject::Blacklisted
                | Reject::IataWhitelist
                | Reject::SourceIataFilter
                | Reject::ForeignAdvert
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Per-reason counters plus the log limiter. Shared by every source and the pipeline.
#[derive(Debug)]
pub struct RejectCounters {
    counts: [AtomicU64; Reject::ALL.len()],
    log_state: Mutex<[LogSlot; Reject::ALL.len()]>,
}

#[derive(Debug, Clone, Copy, Default)]
struct LogSlot {
    last: Option<Instant>,
    suppressed: u64,
}

impl Default for RejectCounters {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            log_state: Mutex::new([LogSlot::default(); Reject::ALL.len()]),
        }
    }
}

impl RejectCounters {
    /// Counts one rejection and logs it unless the reason logged within [`LOG_INTERVAL`].
    /// `detail` is only evaluated when a line is written.
    pub fn record(&self, reason: Reject, detail: impl FnOnce() -> String) {
        self.counts[reason.index()].fetch_add(1, Ordering::Relaxed);
        if !reason.is_bad_input() {
            return;
        }
        if let Some(suppressed) = self.should_log(reason, Instant::now()) {
            let detail = detail();
            if suppressed > 0 {
                tracing::warn!(
                    reason = reason.as_str(),
                    suppressed,
                    "Rejected MQTT message: {detail}"
                );
            } else {
                tracing::warn!(reason = reason.as_str(), "Rejected MQTT message: {detail}");
            }
        }
    }

    /// `Some(suppressed count)` when a line may be written now.
    fn should_log(&self, reason: Reject, now: Instant) -> Option<u64> {
        let mut slots = self.log_state.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut slots[reason.index()];
        match slot.last {
            Some(last) if now.duration_since(last) < LOG_INTERVAL => {
                slot.suppressed += 1;
                None
            }
            _ => {
                let suppressed = std::mem::take(&mut slot.suppressed);
                slot.last = Some(now);
                Some(suppressed)
            }
        }
    }

    /// The count of one reason.
    pub fn get(&self, reason: Reject) -> u64 {
        self.counts[reason.index()].load(Ordering::Relaxed)
    }

    /// `(name, count)` for every reason with a non-zero count.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Reject::ALL
            .iter()
            .map(|r| (r.as_str(), self.get(*r)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_in_index_order() {
        for (i, r) in Reject::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
    }

    #[test]
    fn counts_every_rejection_but_logs_at_a_bounded_rate() {
        let c = RejectCounters::default();
        let t0 = Instant::now();
        assert_eq!(c.should_log(Reject::BadHex, t0), Some(0));
        assert_eq!(
            c.should_log(Reject::BadHex, t0 + Duration::from_secs(1)),
            None
        );
        assert_eq!(
            c.should_log(Reject::BadHex, t0 + Duration::from_secs(2)),
            None
        );
        // Another reason has its own budget.
        assert_eq!(
            c.should_log(Reject::NotJson, t0 + Duration::from_secs(2)),
            Some(0)
        );
        assert_eq!(c.should_log(Reject::BadHex, t0 + LOG_INTERVAL), Some(2));

        for _ in 0..5 {
            c.record(Reject::NotJson, || "x".into());
        }
        c.record(Reject::Blacklisted, || {
            unreachable!("policy drops are not logged")
        });
        assert_eq!(c.get(Reject::NotJson), 5);
        assert_eq!(c.get(Reject::Blacklisted), 1);
        assert_eq!(c.snapshot(), vec![("not_json", 5), ("blacklisted", 1)]);
    }
}
