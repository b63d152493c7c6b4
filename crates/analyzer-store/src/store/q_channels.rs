//! Store queries behind the channels endpoints. A child module of `store`, so it reads
//! `StoreData` directly under the read lock.
//!
//! Both queries walk the `by_channel` index (only GRP_TXT transmissions carry a channel)
//! and copy out the few rows the answer needs; decoded JSON is parsed by the caller,
//! outside the lock, and only for the rows it shows.

use super::*;

/// One channel of `/api/channels`, before its newest message is parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSummary {
    /// `transmissions.channel_hash`: the channel name, `enc_XX` or `ch<n>`.
    pub channel: String,
    /// Transmissions of the channel in memory (after the region filter).
    pub message_count: usize,
    /// `first_seen` of the newest one (the highest transmission id, the last message
    /// of the channel's message list).
    pub last_activity: UnixSecs,
    /// Decoded payload JSON of the newest one, verbatim.
    pub last_decoded_json: String,
}

/// One page of a channel's messages, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelMessagePage {
    /// Messages of the channel in memory (after the region filter), before paging.
    pub total: usize,
    /// The page, oldest first.
    pub messages: Vec<ChannelMessageRef>,
    /// How many of the newest matching messages memory is known to hold completely: all
    /// of them when the store holds everything (no `oldest_loaded` boundary), else the
    /// newest run first seen at or after the boundary (older transmissions may have been
    /// evicted or not loaded yet). A page reaching past this count must come from the
    /// database.
    pub complete_newest: usize,
}

/// One message (transmission) of a channel with its observations.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelMessageRef {
    /// `transmissions.id`.
    pub id: i64,
    /// Content hash.
    pub hash: ContentHash,
    /// First ingest time.
    pub first_seen: UnixSecs,
    /// Decoded payload JSON, verbatim.
    pub decoded_json: String,
    /// Every observation in memory, oldest first.
    pub observations: Vec<ObservationView>,
}

impl Store {
    /// Every channel with at least one transmission in memory heard by one of
    /// `observers` (observer keys; `None` = no filter, an empty list matches nothing).
    pub fn channel_summaries(&self, observers: Option<&[i64]>) -> Vec<ChannelSummary> {
        let data = self.read();
        let Some(filter) = ObserverFilter::new(&data, observers) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(data.by_channel.len());
        for (&channel, slots) in &data.by_channel {
            let mut count = 0;
            let mut newest: Option<&Tx> = None;
            for &slot in slots {
                let Some(tx) = data.tx(slot).filter(|tx| filter.matches(tx)) else {
                    continue;
                };
                count += 1;
                if newest.is_none_or(|n| tx.id > n.id) {
                    newest = Some(tx);
                }
            }
            if let Some(tx) = newest {
                out.push(ChannelSummary {
                    channel: data.strings.resolve(channel).to_owned(),
                    message_count: count,
                    last_activity: tx.first_seen,
                    last_decoded_json: tx.decoded_json.to_string(),
                });
            }
        }
        out
    }

    /// A page of the messages of `channel` heard by one of `observers` (`None` = no
    /// filter), ordered oldest first (by transmission id) and paged from the newest end: `offset` skips the
    /// newest messages and the page holds the `limit` messages before them, so offset 0
    /// is the latest page (what a chat view shows first).
    pub fn channel_messages(
        &self,
        channel: &str,
        observers: Option<&[i64]>,
        limit: usize,
        offset: usize,
    ) -> ChannelMessagePage {
        let data = self.read();
        let Some(filter) = ObserverFilter::new(&data, observers) else {
            return ChannelMessagePage::default();
        };
        let Some(slots) = data
            .strings
            .get(channel)
            .and_then(|id| data.by_channel.get(&id))
        else {
            return ChannelMessagePage::default();
        };
        // Transmission id order: the order ingest first saw them, as the database
        // fallback pages them.
        let mut hits: Vec<(i64, i64, u32)> = slots
            .iter()
            .filter_map(|&slot| {
                let tx = data.tx(slot).filter(|tx| filter.matches(tx))?;
                Some((tx.id, tx.first_seen, slot))
            })
            .collect();
        hits.sort_unstable();
        let total = hits.len();
        let complete_newest = match data.oldest_loaded {
            None => total,
            Some(boundary) => hits
                .iter()
                .rev()
                .take_while(|&&(_, first_seen, _)| first_seen >= boundary)
                .count(),
        };
        let end = total.saturating_sub(offset);
        let start = end.saturating_sub(limit);
        let messages = hits[start..end]
            .iter()
            .filter_map(|&(_, _, slot)| {
                let tx = data.tx(slot)?;
                let mut observations: Vec<ObservationView> =
                    tx.obs.iter().map(|o| data.observation(o)).collect();
                observations.sort_by_key(|o| (o.timestamp, o.id));
                Some(ChannelMessageRef {
                    id: tx.id,
                    hash: ContentHash(tx.hash),
                    first_seen: tx.first_seen,
                    decoded_json: tx.decoded_json.to_string(),
                    observations,
                })
            })
            .collect();
        ChannelMessagePage {
            total,
            messages,
            complete_newest,
        }
    }
}

/// Observer keys resolved to the store's global observer ids.
struct ObserverFilter(Option<Vec<u32>>);

impl ObserverFilter {
    /// `None` when a filter is given but none of its observers is known (nothing matches).
    fn new(data: &StoreData, keys: Option<&[i64]>) -> Option<Self> {
        match keys {
            None => Some(Self(None)),
            Some(keys) => {
                let ids: Vec<u32> = keys.iter().filter_map(|&k| data.observers.get(k)).collect();
                (!ids.is_empty()).then_some(Self(Some(ids)))
            }
        }
    }

    fn matches(&self, tx: &Tx) -> bool {
        self.0
            .as_ref()
            .is_none_or(|ids| tx.obs.iter().any(|o| ids.contains(&o.observer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer_db::{ObservationRow, TransmissionRow};

    fn row(id: i64, channel: &str, minute: i64, observer: i64) -> TransmissionRow {
        let ts = 1_767_225_600 + minute * 60;
        TransmissionRow {
            id,
            hash: format!("{id:016x}"),
            raw_hex: "1500".into(),
            first_seen: analyzer_db::time::rfc3339(ts),
            last_seen: ts,
            route_type: Some(1),
            payload_type: Some(5),
            payload_version: Some(0),
            decoded_json: Some(format!(r#"{{"type":"CHAN","text":"m{id}"}}"#)),
            channel_hash: Some(channel.into()),
            scope_name: None,
            from_pubkey: None,
            observations: vec![ObservationRow {
                id,
                transmission_id: id,
                observer_idx: Some(observer),
                direction: None,
                snr: Some(1.0),
                rssi: None,
                score: None,
                path_json: Some("[]".into()),
                resolved_path: None,
                timestamp: ts,
            }],
        }
    }

    fn store() -> Store {
        let store = Store::new();
        store.merge(PreparedChunk::from_rows(&[
            row(1, "Public", 0, 1),
            row(2, "Public", 1, 2),
            row(3, "Public", 2, 1),
            row(4, "enc_AB", 3, 2),
        ]));
        store
    }

    #[test]
    fn summaries_count_and_take_the_newest_message() {
        let s = store();
        let mut all = s.channel_summaries(None);
        all.sort_by(|a, b| a.channel.cmp(&b.channel));
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].channel.as_str(), all[0].message_count),
            ("Public", 3)
        );
        assert!(all[0].last_decoded_json.contains("m3"));
        let only_2 = s.channel_summaries(Some(&[2]));
        assert_eq!(only_2.len(), 2);
        assert!(only_2.iter().all(|c| c.message_count == 1));
        assert!(s.channel_summaries(Some(&[99])).is_empty());
    }

    #[test]
    fn messages_page_from_the_newest_end_oldest_first() {
        let s = store();
        let ids = |p: &ChannelMessagePage| p.messages.iter().map(|m| m.id).collect::<Vec<_>>();
        let page = s.channel_messages("Public", None, 2, 0);
        assert_eq!((page.total, ids(&page)), (3, vec![2, 3]));
        assert_eq!(ids(&s.channel_messages("Public", None, 2, 2)), vec![1]);
        assert!(s.channel_messages("Public", None, 2, 5).messages.is_empty());
        assert_eq!(
            ids(&s.channel_messages("Public", Some(&[1]), 10, 0)),
            vec![1, 3]
        );
        assert_eq!(s.channel_messages("nope", None, 10, 0).total, 0);
        assert_eq!(s.channel_messages("Public", None, 1, 0).complete_newest, 3);
        // Memory holds only what was first seen from minute 1 on for sure.
        s.set_oldest_loaded(Some(1_767_225_600 + 60));
        assert_eq!(s.channel_messages("Public", None, 1, 0).complete_newest, 2);
    }
}
