//! Channels endpoints (spec api.md §6).
//!
//! The reference reads `/api/channels` and `/api/channels/{hash}/messages` from SQL; we
//! serve them from the in-memory store's `by_channel` index and parse the decoded JSON of
//! only the rows shown (the newest message of each channel, the page of messages).
//!
//! The store may not hold everything: while the startup load is still filling it, or
//! once retention or the memory budget evicted older transmissions (`oldest_loaded`
//! set). Then the message list takes its `total` from the database, and a page reaching
//! past the newest messages memory holds for sure is read from the database too; the
//! channel list is then counted in the database.
//!
//! Message text and sender names come from the mesh and are untrusted: they only ever
//! leave as JSON strings.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use analyzer_db::time::parse_time;
use analyzer_db::{
    ChannelSummaryRow, ContentHash, DbError, TransmissionRow, TxFilter, TxListQuery, TxSort,
};
use analyzer_store::{ChannelMessageRef, ChannelSummary, ObservationView};

use crate::directory::ObserverDir;
use crate::error::ApiError;
use crate::params;
use crate::params::{Params, param};
use crate::render::{self, Object};
use crate::state::AppState;

/// The channels routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels))
        .routes(routes!(channel_messages))
        .routes(routes!(known_channels))
}

/// Default page size of `/api/channels/{hash}/messages`.
const DEFAULT_MESSAGES: usize = 100;
/// Prefix of `transmissions.channel_hash` for channels no key decrypts.
const ENCRYPTED_PREFIX: &str = "enc_";

/// Every channel heard, with its newest message.
#[utoipa::path(get, path = "/api/channels", tag = "channels",
    params(("region" = Option<String>, Query, description = "Comma-separated IATA codes (All = no filter)"),
        ("includeEncrypted" = Option<String>, Query, description = "true to list channels no key decrypts (default false)")),
    responses((status = 200, description = "{channels[{hash, name, lastMessage, lastSender, messageCount, lastActivity}]}", body = Object),
        (status = 400, description = "Bad includeEncrypted", body = Object)))]
async fn list_channels(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let include_encrypted = match param(&p, "includeEncrypted") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "includeEncrypted must be true or false, got {v:?}"
            )));
        }
    };
    let keys = region_keys(&state, p.get("region").map(String::as_str)).await?;
    let store = state.store().clone();
    let memory_keys = keys.clone();
    let mut summaries =
        tokio::task::spawn_blocking(move || store.channel_summaries(memory_keys.as_deref()))
            .await
            .map_err(|e| ApiError::internal("channels task failed", e))?;
    if state.store().oldest_loaded().is_some() {
        // Memory may lack older messages (and channels heard only before its boundary):
        // count in the database, as the reference does.
        match state
            .db_result(move |r| r.channel_summaries(keys.as_deref()))
            .await?
        {
            Ok(rows) => summaries = rows.into_iter().map(summary_from_row).collect(),
            Err(DbError::Unsupported(_)) => {}
            Err(e) => return Err(ApiError::internal("channel summaries query failed", e)),
        }
    }
    let channels = tokio::task::spawn_blocking(move || {
        summaries.retain(|c| include_encrypted || !c.channel.starts_with(ENCRYPTED_PREFIX));
        // Most recently active first; the name breaks ties so the order is stable.
        summaries.sort_by(|a, b| {
            b.last_activity
                .cmp(&a.last_activity)
                .then_with(|| a.channel.cmp(&b.channel))
        });
        summaries
            .into_iter()
            .map(|c| {
                let mut o = Object::with_capacity(7);
                o.insert("hash".into(), json!(c.channel));
                if let Some(hex) = c.channel.strip_prefix(ENCRYPTED_PREFIX) {
                    o.insert("name".into(), json!(format!("Encrypted (0x{hex})")));
                    o.insert("lastMessage".into(), Value::Null);
                    o.insert("lastSender".into(), Value::Null);
                } else {
                    let message = Message::parse(&c.last_decoded_json);
                    o.insert("name".into(), json!(c.channel));
                    o.insert("lastMessage".into(), json!(message.text));
                    o.insert("lastSender".into(), json!(message.sender));
                }
                o.insert("messageCount".into(), json!(c.message_count));
                o.insert("lastActivity".into(), json!(render::iso(c.last_activity)));
                if c.channel.starts_with(ENCRYPTED_PREFIX) {
                    o.insert("encrypted".into(), json!(true));
                }
                Value::Object(o)
            })
            .collect::<Vec<Value>>()
    })
    .await
    .map_err(|e| ApiError::internal("channels task failed", e))?;
    Ok(Json(json!({ "channels": channels })))
}

/// A page of one channel's messages, oldest first, paged from the newest end.
#[utoipa::path(get, path = "/api/channels/{hash}/messages", tag = "channels",
    params(("hash" = String, Path, description = "Channel name (e.g. Public, #test) or enc_XX"),
        ("limit" = Option<String>, Query, description = "Page size (default 100, max listLimits.channelMessagesMax)"),
        ("offset" = Option<String>, Query, description = "Newest messages skipped"),
        ("region" = Option<String>, Query, description = "Comma-separated IATA codes (All = no filter)")),
    responses((status = 200, description = "{messages[...], total}", body = Object),
        (status = 400, description = "Bad offset", body = Object)))]
async fn channel_messages(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let max = usize::try_from(state.config().list_limits.channel_messages_max()).unwrap_or(500);
    let limit = params::clamp_limit(p.get("limit").map(String::as_str), DEFAULT_MESSAGES, max);
    let offset = params::offset(p.get("offset").map(String::as_str))?;
    let keys = region_keys(&state, p.get("region").map(String::as_str)).await?;
    let observers = state.observers().await?;
    let store = state.store().clone();
    let (memory_hash, memory_keys) = (hash.clone(), keys.clone());
    let mut page = tokio::task::spawn_blocking(move || {
        store.channel_messages(&memory_hash, memory_keys.as_deref(), limit, offset)
    })
    .await
    .map_err(|e| ApiError::internal("channel messages task failed", e))?;
    if page.complete_newest < page.total || state.store().oldest_loaded().is_some() {
        // Memory may lack older messages: the total, and a page reaching past what
        // memory holds for sure, come from the database.
        let serve_from_memory = offset.saturating_add(limit) <= page.complete_newest;
        let query = TxListQuery {
            filter: TxFilter {
                channel: Some(hash),
                payload_type: Some(i64::from(GRP_TXT)),
                region_observers: keys,
                ..TxFilter::default()
            },
            sort: TxSort::NewestFirst,
            limit: if serve_from_memory { 0 } else { limit },
            offset,
        };
        match state
            .db_result(move |r| r.query_transmissions(&query))
            .await?
        {
            Ok(db) => {
                page.total = usize::try_from(db.total).unwrap_or(usize::MAX);
                if !serve_from_memory {
                    page.messages = db.transmissions.iter().rev().filter_map(from_row).collect();
                }
            }
            // A backend without the query: answer from memory.
            Err(DbError::Unsupported(_)) => {}
            Err(e) => return Err(ApiError::internal("channel messages query failed", e)),
        }
    }
    let messages: Vec<Value> = page
        .messages
        .iter()
        .map(|m| Value::Object(message_object(m, &observers)))
        .collect();
    Ok(Json(json!({ "messages": messages, "total": page.total })))
}

/// A database channel row in the shape the store answers.
fn summary_from_row(row: ChannelSummaryRow) -> ChannelSummary {
    ChannelSummary {
        channel: row.channel,
        message_count: usize::try_from(row.message_count).unwrap_or(usize::MAX),
        last_activity: parse_time(&row.last_first_seen).unwrap_or(0),
        last_decoded_json: row.last_decoded_json.unwrap_or_default(),
    }
}

/// Header payload type of group text messages.
const GRP_TXT: u8 = 5;

/// A database row in the shape of a stored message; `None` for an unusable hash.
fn from_row(row: &TransmissionRow) -> Option<ChannelMessageRef> {
    let hash = ContentHash::parse(&row.hash).ok()?;
    let first_seen = parse_time(&row.first_seen).unwrap_or(row.last_seen);
    let mut observations: Vec<ObservationView> = row
        .observations
        .iter()
        .map(|o| ObservationView {
            id: o.id,
            observer_idx: o.observer_idx,
            timestamp: o.timestamp,
            snr: o.snr,
            rssi: o.rssi,
            score: o.score,
            direction: o.direction.clone(),
            path_json: o.path_json.clone().unwrap_or_else(|| "[]".to_owned()),
        })
        .collect();
    observations.sort_by_key(|o| (o.timestamp, o.id));
    Some(ChannelMessageRef {
        id: row.id,
        hash,
        first_seen,
        decoded_json: row.decoded_json.clone().unwrap_or_default(),
        observations,
    })
}

/// The community channel catalogue. We do not fetch `knownChannelsUrl` yet: without it
/// configured this is the reference's empty snapshot; with it configured we say so with a
/// 503 rather than pretend the catalogue is empty.
#[utoipa::path(get, path = "/api/known-channels", tag = "channels",
    params(("region" = Option<String>, Query, description = "ISO-3166 alpha-2 country code")),
    responses((status = 200, description = "{fetchedAt, source, entries[]}", body = Object),
        (status = 400, description = "Bad region", body = Object),
        (status = 503, description = "knownChannelsUrl is configured but fetching it is not supported", body = Object)))]
async fn known_channels(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    if let Some(region) = param(&p, "region")
        && !region.eq_ignore_ascii_case("all")
        && !(region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(ApiError::bad_request(format!(
            "region must be an ISO-3166 alpha-2 country code, got {region:?}"
        )));
    }
    let url = state
        .config()
        .extra
        .get("knownChannelsUrl")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    if !url.is_empty() {
        return Err(ApiError::unavailable(
            "knownChannelsUrl is configured but this server does not fetch the catalogue yet",
        ));
    }
    let mut response = Json(json!({
        "fetchedAt": Value::Null,
        "source": "",
        "entries": [],
    }))
    .into_response();
    // An empty snapshot is cached briefly (the reference: 30 s when empty, 300 s otherwise).
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=30"),
    );
    Ok(response)
}

/// Observer keys of the `region` filter: `None` = no filter; an empty list when no
/// observer carries those codes (nothing matches).
async fn region_keys(state: &AppState, raw: Option<&str>) -> Result<Option<Vec<i64>>, ApiError> {
    match params::regions(raw) {
        None => Ok(None),
        Some(codes) => Ok(Some(state.observers().await?.keys_in_regions(&codes))),
    }
}

/// Sender and text of a decoded channel message.
#[derive(Debug, Default, PartialEq)]
struct Message {
    sender: Option<String>,
    text: Option<String>,
    sender_timestamp: Option<i64>,
}

impl Message {
    /// Reads `sender`, `text` and `sender_timestamp` of a decoded GRP_TXT / CHAN payload.
    /// The decoder stores the full text (`"sender: message"`); the message part is
    /// returned as `text`. Without a `sender` field the reference's split rule applies: a
    /// `": "` at a byte index in 1..50 whose prefix holds none of `:`, `[`, `]`.
    /// Anything unparsable yields no sender and no text.
    fn parse(decoded_json: &str) -> Self {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(decoded_json) else {
            return Self::default();
        };
        let text = map
            .get("text")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        let declared = map
            .get("sender")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let sender_timestamp = map.get("sender_timestamp").and_then(Value::as_i64);
        let (sender, text) = match (declared, text) {
            (Some(sender), Some(text)) => {
                let body = text
                    .strip_prefix(sender)
                    .and_then(|rest| rest.strip_prefix(": "))
                    .unwrap_or(text);
                (Some(sender), Some(body))
            }
            (Some(sender), None) => (Some(sender), None),
            (None, Some(text)) => match text.find(": ") {
                Some(i) if i > 0 && i < 50 && !text[..i].contains([':', '[', ']']) => {
                    (Some(&text[..i]), Some(&text[i + 2..]))
                }
                _ => (None, Some(text)),
            },
            (None, None) => (None, None),
        };
        Self {
            sender: sender.map(str::to_owned),
            text: text.map(str::to_owned),
            sender_timestamp,
        }
    }
}

/// One message object: sender and text from the payload, hops and SNR of the first
/// observation, every observer that heard it (names, in order of hearing).
fn message_object(m: &ChannelMessageRef, observers: &ObserverDir) -> Object {
    let message = Message::parse(&m.decoded_json);
    let first = m.observations.first();
    let heard_at = first.map_or(m.first_seen, |o| o.timestamp.min(m.first_seen));
    let mut names: Vec<String> = Vec::new();
    for o in &m.observations {
        let Some(row) = o.observer_idx.and_then(|k| observers.by_idx(k)) else {
            continue;
        };
        let name = row
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| row.id.clone());
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let hops = first
        .and_then(|o| render::parsed_path(&o.path_json))
        .map_or(0, |p| p.len());
    let mut o = Object::with_capacity(11);
    o.insert("sender".into(), json!(message.sender));
    o.insert("text".into(), json!(message.text));
    o.insert("timestamp".into(), json!(render::iso(heard_at)));
    o.insert("first_seen".into(), json!(render::iso(m.first_seen)));
    o.insert("sender_timestamp".into(), json!(message.sender_timestamp));
    o.insert("packetId".into(), json!(m.id));
    o.insert(
        "packetHash".into(),
        json!(String::from_utf8_lossy(&m.hash.to_hex())),
    );
    o.insert("repeats".into(), json!(m.observations.len()));
    o.insert("observers".into(), json!(names));
    o.insert("hops".into(), json!(hops));
    o.insert("snr".into(), json!(first.and_then(|o| o.snr)));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_and_text_are_split() {
        let m = Message::parse(
            r#"{"type":"CHAN","text":"Quinn 88: Test: 1","sender":"Quinn 88","sender_timestamp":17}"#,
        );
        assert_eq!(m.sender.as_deref(), Some("Quinn 88"));
        assert_eq!(m.text.as_deref(), Some("Test: 1"));
        assert_eq!(m.sender_timestamp, Some(17));
        // No sender field: the reference's split rule.
        let m = Message::parse(r#"{"type":"CHAN","text":"ann: hello"}"#);
        assert_eq!(
            (m.sender.as_deref(), m.text.as_deref()),
            (Some("ann"), Some("hello"))
        );
        let m = Message::parse(r#"{"type":"CHAN","text":"[bot]: hi"}"#);
        assert_eq!((m.sender, m.text.as_deref()), (None, Some("[bot]: hi")));
        let m = Message::parse(r#"{"type":"CHAN","text":": x"}"#);
        assert_eq!(m.sender, None);
        // Encrypted and junk payloads carry nothing.
        assert_eq!(
            Message::parse(r#"{"type":"GRP_TXT","mac":"ab"}"#),
            Message::default()
        );
        assert_eq!(Message::parse("not json"), Message::default());
        assert_eq!(Message::parse(r#"["text"]"#), Message::default());
    }

    #[test]
    fn split_respects_char_boundaries() {
        // Multi-byte characters before the separator: the index is a byte index.
        let m = Message::parse(r#"{"type":"CHAN","text":"🌲 Tree: ☁️"}"#);
        assert_eq!(
            (m.sender.as_deref(), m.text.as_deref()),
            (Some("🌲 Tree"), Some("☁️"))
        );
    }
}
