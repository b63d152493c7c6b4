//! Pure message handling: topic parsing, the dispatch order of ingest spec §3, packet-message
//! fields (§2.1), status-message fields (§2.2) and envelope timestamps (§2.3).
//!
//! Nothing here does I/O or keeps state; everything is a function of the message, the
//! filters and the current time, so the rules are unit-tested one by one.

use analyzer_db::{ObserverStatus, UnixSecs};
use serde_json::{Map, Value};

use crate::reject::Reject;

/// Largest MQTT payload we look at. A packet message is well under 2 KiB; anything this big is
/// an error or an attack and is counted as `oversize` without being parsed.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The topic split into its first four segments (CoreScope: `parts[1]` region,
/// `parts[2]` observer id, `parts[3]` kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic<'a> {
    /// The whole topic.
    pub full: &'a str,
    /// Number of `/`-separated segments.
    pub segments: usize,
    /// `parts[0]`.
    pub root: &'a str,
    /// `parts[1]` (region / IATA), empty when absent.
    pub region: &'a str,
    /// `parts[2]` (observer id, case preserved), empty when absent.
    pub observer: &'a str,
    /// `parts[3]` (message kind), empty when absent.
    pub kind: &'a str,
}

impl<'a> Topic<'a> {
    /// Splits a topic without allocating.
    pub fn parse(full: &'a str) -> Self {
        let mut parts = full.split('/');
        let root = parts.next().unwrap_or_default();
        let region = parts.next();
        let observer = parts.next();
        let kind = parts.next();
        let segments = 1
            + usize::from(region.is_some())
            + usize::from(observer.is_some())
            + usize::from(kind.is_some())
            + parts.count();
        Self {
            full,
            segments,
            root,
            region: region.unwrap_or_default(),
            observer: observer.unwrap_or_default(),
            kind: kind.unwrap_or_default(),
        }
    }

    /// `meshcore/<IATA>/<observer>/status`.
    pub fn is_status(&self) -> bool {
        self.segments >= 4 && self.kind == "status"
    }

    /// Legacy companion-bridge topics CoreScope skips explicitly.
    pub fn is_legacy_skip(&self) -> bool {
        self.full == "meshcore/status" || self.full == "meshcore/events/connection"
    }

    /// `meshcore/message/channel/<n>` or `meshcore/message/direct/<id>` (Format 2).
    pub fn companion_kind(&self) -> Option<CompanionKind> {
        if self.root != "meshcore" || self.region != "message" {
            return None;
        }
        match self.observer {
            "channel" => Some(CompanionKind::Channel),
            "direct" => Some(CompanionKind::Direct),
            _ => None,
        }
    }

    /// Topics observers publish without a `raw` field by design (`debug`, `raw`, …).
    pub fn is_known_rawless(&self) -> bool {
        self.segments >= 4 && matches!(self.kind, "debug" | "raw" | "internal" | "response")
    }
}

/// The two Format-2 companion-bridge topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompanionKind {
    /// `meshcore/message/channel/<n>`.
    Channel,
    /// `meshcore/message/direct/<id>`.
    Direct,
}

/// The filters of the dispatch order that come from configuration.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// `observerBlacklist`, trimmed and upper-cased.
    pub blacklist: Vec<String>,
    /// `observerIATAWhitelist`, upper-cased; empty = all.
    pub iata_whitelist: Vec<String>,
    /// `clientRxCoverage.enabled`: route `meshcore/client/<pubkey>/packets` to client-RX.
    pub client_rx: bool,
}

impl Filters {
    /// Builds the filters from the configuration.
    pub fn from_config(config: &analyzer_config::Config) -> Self {
        let norm = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_ascii_uppercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        Self {
            blacklist: norm(&config.observer_blacklist),
            iata_whitelist: norm(&config.observer_iata_whitelist),
            client_rx: config.client_rx_coverage.enabled,
        }
    }

    fn blacklisted(&self, observer: &str) -> bool {
        let id = observer.trim();
        !id.is_empty() && self.blacklist.iter().any(|b| b.eq_ignore_ascii_case(id))
    }

    fn iata_allowed(&self, region: &str) -> bool {
        self.iata_whitelist.is_empty()
            || self
                .iata_whitelist
                .iter()
                .any(|w| w.eq_ignore_ascii_case(region))
    }
}

/// Where a message goes, per the dispatch order of spec §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Observer status (§4.10).
    Status,
    /// Raw-packet pipeline (§4).
    Packet,
    /// Format-2 companion message (§2.4).
    Companion(CompanionKind),
    /// Client-RX coverage report from a companion app (§4.13).
    ClientRx,
    /// Not processed, for the reason given (counted).
    Drop(Reject),
}

/// Applies the dispatch order of spec §3 to a parsed message. `source_iata_filter` is the
/// per-source `iataFilter` (exact match, packet messages only).
pub fn route(
    topic: &Topic<'_>,
    message: &Map<String, Value>,
    filters: &Filters,
    source_iata_filter: &[String],
) -> Route {
    if filters.client_rx
        && topic.root == "meshcore"
        && topic.region == "client"
        && topic.segments >= 4
    {
        if filters.blacklisted(topic.observer) {
            return Route::Drop(Reject::Blacklisted);
        }
        return Route::ClientRx;
    }
    if topic.is_legacy_skip() {
        return Route::Drop(Reject::LegacyTopic);
    }
    if filters.blacklisted(topic.observer) {
        return Route::Drop(Reject::Blacklisted);
    }
    if topic.segments >= 2 && !filters.iata_allowed(topic.region) {
        return Route::Drop(Reject::IataWhitelist);
    }
    if topic.is_status() {
        return Route::Status;
    }
    if !source_iata_filter.is_empty() && !source_iata_filter.iter().any(|f| f == topic.region) {
        return Route::Drop(Reject::SourceIataFilter);
    }
    match message.get("raw") {
        Some(Value::String(raw)) if !raw.trim().is_empty() => return Route::Packet,
        Some(Value::String(_)) | None => {}
        // A `raw` that is not a string is malformed input, not a rawless message.
        Some(_) => return Route::Drop(Reject::MissingRaw),
    }
    if let Some(kind) = topic.companion_kind() {
        return Route::Companion(kind);
    }
    if topic.kind == "packets" || topic.kind == "packet" {
        return Route::Drop(Reject::MissingRaw);
    }
    if topic.is_known_rawless() {
        return Route::Drop(Reject::Rawless);
    }
    Route::Drop(Reject::UnknownTopic)
}

/// Parses an MQTT payload into a JSON object, or the reason it is not one.
pub fn parse_payload(payload: &[u8]) -> Result<Map<String, Value>, Reject> {
    if payload.len() > MAX_MESSAGE_BYTES {
        return Err(Reject::Oversize);
    }
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Reject::NotObject),
        Err(_) => Err(Reject::NotJson),
    }
}

/// CoreScope's `toFloat64`: JSON numbers; strings trimmed and stripped of one trailing unit
/// (`dBm`, `dB`, `mW`, `km`, `mi`, `m`, case-insensitive, in that order) then parsed;
/// anything else (or a non-finite result) is absent.
pub fn coerce_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => {
            let mut t = s.trim();
            for unit in ["dBm", "dB", "mW", "km", "mi", "m"] {
                if t.len() >= unit.len() {
                    let split = t.len() - unit.len();
                    if t.is_char_boundary(split) && t[split..].eq_ignore_ascii_case(unit) {
                        t = t[..split].trim_end();
                        break;
                    }
                }
            }
            t.parse::<f64>().ok().filter(|f| f.is_finite())
        }
        _ => None,
    }
}

/// Looks up `primary`, else `fallback`. As in CoreScope, when `primary` exists but does not
/// parse, `fallback` is not tried.
fn lookup_f64(message: &Map<String, Value>, primary: &str, fallback: &str) -> Option<f64> {
    match message.get(primary) {
        Some(v) => coerce_f64(v),
        None => message.get(fallback).and_then(coerce_f64),
    }
}

fn nonempty_str<'a>(message: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    match message.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// The fields of a packet message the pipeline uses (spec §2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct PacketFields<'a> {
    /// The packet hex as received.
    pub raw: &'a str,
    /// `SNR` else `snr`.
    pub snr: Option<f64>,
    /// `RSSI` else `rssi`.
    pub rssi: Option<f64>,
    /// `score` else `Score`, truncated to an integer.
    pub score: Option<i64>,
    /// `direction` else `Direction`, verbatim.
    pub direction: Option<&'a str>,
    /// `origin`: observer name.
    pub origin: Option<&'a str>,
    /// `region`: overrides the topic region for the observer row.
    pub region: Option<&'a str>,
    /// `timestamp`: the bridge's envelope time.
    pub timestamp: Option<&'a str>,
}

/// Extracts the packet fields; `None` when `raw` is missing or empty.
pub fn packet_fields(message: &Map<String, Value>) -> Option<PacketFields<'_>> {
    let raw = nonempty_str(message, "raw")?;
    let direction = match message.get("direction") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => None,
        None => nonempty_str(message, "Direction"),
    };
    Some(PacketFields {
        raw,
        snr: lookup_f64(message, "SNR", "snr"),
        rssi: lookup_f64(message, "RSSI", "rssi"),
        score: lookup_f64(message, "score", "Score").map(|f| f as i64),
        direction: direction.filter(|d| !d.is_empty()),
        origin: nonempty_str(message, "origin"),
        region: nonempty_str(message, "region")
            .map(str::trim)
            .filter(|r| !r.is_empty()),
        timestamp: nonempty_str(message, "timestamp"),
    })
}

/// Effective region of the observer row: payload `region` > topic region > source `region`.
pub fn effective_region<'a>(
    fields_region: Option<&'a str>,
    topic: &Topic<'a>,
    source_region: Option<&'a str>,
) -> Option<&'a str> {
    fields_region
        .or_else(|| Some(topic.region).filter(|r| !r.trim().is_empty()))
        .or(source_region)
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

/// `repeat`: bool, `on/true/1/yes`, `off/false/0/no`, or a number (≠ 0 ⇒ true).
fn parse_repeat(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "1" | "yes" => Some(true),
            "off" | "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Builds the observer status record of a status message (spec §2.2 extraction table).
/// `retained` is the MQTT retain flag: a retained status is a replay, metadata only.
pub fn status_record(
    topic: &Topic<'_>,
    message: &Map<String, Value>,
    retained: bool,
    now: UnixSecs,
) -> ObserverStatus {
    let stats = match message.get("stats") {
        Some(Value::Object(s)) => Some(s),
        _ => None,
    };
    // Numeric fields are read from `stats` first, then from the top level.
    let num = |key: &str| -> Option<f64> {
        stats
            .and_then(|s| s.get(key))
            .and_then(coerce_f64)
            .or_else(|| message.get(key).and_then(coerce_f64))
    };
    let int = |key: &str| num(key).map(|f| f.round() as i64);
    let text = |key: &str| nonempty_str(message, key).map(str::to_owned);
    ObserverStatus {
        id: topic.observer.to_owned(),
        name: text("origin"),
        iata: Some(topic.region.trim().to_ascii_uppercase()).filter(|r| !r.is_empty()),
        model: text("model"),
        // The later key wins, as in CoreScope.
        firmware: text("firmware_version").or_else(|| text("firmware")),
        client_version: text("clientVersion").or_else(|| text("client_version")),
        radio: text("radio"),
        battery_mv: int("battery_mv"),
        uptime_secs: int("uptime_secs"),
        noise_floor: num("noise_floor"),
        can_relay: message.get("repeat").and_then(parse_repeat),
        tx_air_secs: int("tx_air_secs"),
        rx_air_secs: int("rx_air_secs"),
        recv_errors: int("recv_errors"),
        packets_sent: int("packets_sent"),
        packets_recv: int("packets_recv"),
        retained,
        received_at: now,
    }
}

/// Result of resolving an envelope timestamp (spec §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxTime {
    /// The time to use (epoch seconds).
    pub at: UnixSecs,
    /// For a naive (zone-less) time more than 15 min off: the signed skew
    /// (envelope − now), to record as a clock-skew event.
    pub naive_skew: Option<i64>,
    /// Why the envelope time was replaced by `now`, if it was.
    pub clamped: Option<Clamp>,
}

/// Why an envelope time was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clamp {
    /// Not a time we can parse.
    Unparseable,
    /// More than 14 h in the future.
    FarFuture,
    /// More than 30 days in the past.
    TooOld,
    /// Naive and more than 15 minutes from now.
    NaiveSkew,
    /// Zone-aware and in the future.
    Future,
}

/// Resolves the envelope `timestamp` against `now` with CoreScope's rules.
pub fn resolve_rx_time(timestamp: Option<&str>, now: UnixSecs) -> RxTime {
    let keep = |at| RxTime {
        at,
        naive_skew: None,
        clamped: None,
    };
    let clamp = |why| RxTime {
        at: now,
        naive_skew: None,
        clamped: Some(why),
    };
    let Some(text) = timestamp.map(str::trim).filter(|t| !t.is_empty()) else {
        return keep(now);
    };
    let Some(t) = analyzer_db::time::parse_time(text) else {
        return clamp(Clamp::Unparseable);
    };
    // Naive = nothing after the seconds and optional fraction (no `Z`, no offset).
    let zoned = text.len() > 19 && {
        let tail = &text[19..];
        let tail = tail.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
        !tail.is_empty()
    };
    if t > now + 14 * 3600 {
        return clamp(Clamp::FarFuture);
    }
    if t < now - 30 * 86_400 {
        return clamp(Clamp::TooOld);
    }
    if !zoned {
        let skew = t - now;
        if skew.abs() > 15 * 60 {
            return RxTime {
                at: now,
                naive_skew: Some(skew),
                clamped: Some(Clamp::NaiveSkew),
            };
        }
        return keep(t);
    }
    if t > now {
        return clamp(Clamp::Future);
    }
    keep(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn topic_segments() {
        let t = Topic::parse("meshcore/SJC/ABCD/packets");
        assert_eq!(
            (t.segments, t.root, t.region, t.observer, t.kind),
            (4, "meshcore", "SJC", "ABCD", "packets")
        );
        let t = Topic::parse("meshcore/SJC");
        assert_eq!(
            (t.segments, t.region, t.observer, t.kind),
            (2, "SJC", "", "")
        );
        assert_eq!(Topic::parse("a/b/c/d/e/f").segments, 6);
        assert!(Topic::parse("meshcore/SJC/ABCD/status").is_status());
        assert!(!Topic::parse("meshcore/status").is_status());
        assert_eq!(
            Topic::parse("meshcore/message/channel/3").companion_kind(),
            Some(CompanionKind::Channel)
        );
        assert_eq!(
            Topic::parse("meshcore/message/direct/x").companion_kind(),
            Some(CompanionKind::Direct)
        );
    }

    fn filters(blacklist: &[&str], whitelist: &[&str]) -> Filters {
        let config: analyzer_config::Config = serde_json::from_value(json!({
            "observerBlacklist": blacklist, "observerIATAWhitelist": whitelist
        }))
        .unwrap();
        Filters::from_config(&config)
    }

    #[test]
    fn dispatch_order_follows_the_spec() {
        let none = Filters::default();
        let packet = obj(json!({"raw": "1100"}));
        let status = obj(json!({"status": "online"}));
        let r = |topic: &str, m: &Map<String, Value>, f: &Filters, src: &[String]| {
            route(&Topic::parse(topic), m, f, src)
        };

        assert_eq!(
            r("meshcore/SJC/AB/packets", &packet, &none, &[]),
            Route::Packet
        );
        // Any topic with raw goes to the packet path; the 4th segment is not checked.
        assert_eq!(
            r("meshcore/SJC/AB/packet", &packet, &none, &[]),
            Route::Packet
        );
        assert_eq!(
            r("meshcore/SJC/AB/status", &status, &none, &[]),
            Route::Status
        );
        assert_eq!(
            r("meshcore/status", &packet, &none, &[]),
            Route::Drop(Reject::LegacyTopic)
        );
        assert_eq!(
            r("meshcore/events/connection", &status, &none, &[]),
            Route::Drop(Reject::LegacyTopic)
        );

        // Blacklist is trimmed and case-insensitive, and beats everything after it.
        let bl = filters(&[" ab "], &[]);
        assert_eq!(
            r("meshcore/SJC/Ab/status", &status, &bl, &[]),
            Route::Drop(Reject::Blacklisted)
        );
        assert_eq!(
            r("meshcore/SJC/AB/packets", &packet, &bl, &[]),
            Route::Drop(Reject::Blacklisted)
        );

        // Global whitelist: case-insensitive, applies to status too.
        let wl = filters(&[], &["sjc"]);
        assert_eq!(
            r("meshcore/sjc/AB/packets", &packet, &wl, &[]),
            Route::Packet
        );
        assert_eq!(
            r("meshcore/SFO/AB/status", &status, &wl, &[]),
            Route::Drop(Reject::IataWhitelist)
        );

        // Per-source filter: exact match, packets only (status passes).
        let src = vec!["SJC".to_owned()];
        assert_eq!(
            r("meshcore/SJC/AB/packets", &packet, &none, &src),
            Route::Packet
        );
        assert_eq!(
            r("meshcore/sjc/AB/packets", &packet, &none, &src),
            Route::Drop(Reject::SourceIataFilter)
        );
        assert_eq!(
            r("meshcore/SFO/AB/status", &status, &none, &src),
            Route::Status
        );
        assert_eq!(
            r(
                "meshcore/message/channel/1",
                &obj(json!({"text": "x"})),
                &none,
                &src
            ),
            Route::Drop(Reject::SourceIataFilter)
        );
    }

    #[test]
    fn rawless_messages_are_classified() {
        let none = Filters::default();
        let r = |topic: &str, m: Value| route(&Topic::parse(topic), &obj(m), &none, &[]);
        assert_eq!(
            r("meshcore/SJC/AB/packets", json!({"SNR": "1"})),
            Route::Drop(Reject::MissingRaw)
        );
        assert_eq!(
            r("meshcore/SJC/AB/packets", json!({"raw": ""})),
            Route::Drop(Reject::MissingRaw)
        );
        assert_eq!(
            r("meshcore/SJC/AB/packets", json!({"raw": 12})),
            Route::Drop(Reject::MissingRaw)
        );
        assert_eq!(
            r("meshcore/SJC/AB/debug", json!({"msg": "x"})),
            Route::Drop(Reject::Rawless)
        );
        assert_eq!(
            r("other/thing", json!({"a": 1})),
            Route::Drop(Reject::UnknownTopic)
        );
        assert_eq!(
            r("meshcore/message/channel/2", json!({"text": "hi"})),
            Route::Companion(CompanionKind::Channel)
        );
    }

    #[test]
    fn payload_parsing_rejects_with_reasons() {
        assert_eq!(parse_payload(b"not json"), Err(Reject::NotJson));
        assert_eq!(parse_payload(b"[1,2]"), Err(Reject::NotObject));
        assert_eq!(
            parse_payload(&vec![b' '; MAX_MESSAGE_BYTES + 1]),
            Err(Reject::Oversize)
        );
        assert!(parse_payload(br#"{"raw":"11"}"#).is_ok());
    }

    #[test]
    fn numeric_coercion_matches_corescope() {
        assert_eq!(coerce_f64(&json!(-7.5)), Some(-7.5));
        assert_eq!(coerce_f64(&json!(" 12 ")), Some(12.0));
        assert_eq!(coerce_f64(&json!("-110dBm")), Some(-110.0));
        assert_eq!(coerce_f64(&json!("9.5 dB")), Some(9.5));
        assert_eq!(coerce_f64(&json!("3KM")), Some(3.0));
        assert_eq!(coerce_f64(&json!("20m")), Some(20.0));
        assert_eq!(coerce_f64(&json!("abc")), None);
        assert_eq!(
            coerce_f64(&json!("1dBdB")),
            None,
            "only one unit suffix is stripped"
        );
        assert_eq!(coerce_f64(&json!("NaN")), None);
        assert_eq!(coerce_f64(&json!(true)), None);
        assert_eq!(coerce_f64(&json!(null)), None);
        assert_eq!(coerce_f64(&json!("dBm")), None);
        assert_eq!(coerce_f64(&json!("ümlaut")), None);
    }

    #[test]
    fn packet_fields_lookup_rules() {
        let m = obj(
            json!({"raw": "11AA", "SNR": "12.25", "snr": 1, "rssi": "-98", "Score": 1000.9,
                           "Direction": "rx", "origin": "Roof", "region": " SFO ", "timestamp": "2026-05-05T09:28:56"}),
        );
        let f = packet_fields(&m).unwrap();
        assert_eq!(f.raw, "11AA");
        assert_eq!(f.snr, Some(12.25));
        assert_eq!(f.rssi, Some(-98.0));
        assert_eq!(f.score, Some(1000));
        assert_eq!(f.direction, Some("rx"));
        assert_eq!(f.origin, Some("Roof"));
        assert_eq!(f.region, Some("SFO"));
        // Capitalised key present but unparsable: the lower-case key is not tried.
        let m = obj(json!({"raw": "11", "SNR": "bad", "snr": 5}));
        assert_eq!(packet_fields(&m).unwrap().snr, None);
        // Every RF field is optional.
        let m = obj(json!({"raw": "11"}));
        let f = packet_fields(&m).unwrap();
        assert_eq!(
            (f.snr, f.rssi, f.score, f.direction, f.origin),
            (None, None, None, None, None)
        );
        assert!(packet_fields(&obj(json!({"raw": ""}))).is_none());
    }

    #[test]
    fn effective_region_precedence() {
        let t = Topic::parse("meshcore/SJC/AB/packets");
        assert_eq!(effective_region(Some("SFO"), &t, Some("LAX")), Some("SFO"));
        assert_eq!(effective_region(None, &t, Some("LAX")), Some("SJC"));
        let t = Topic::parse("meshcore//AB/packets");
        assert_eq!(effective_region(None, &t, Some("LAX")), Some("LAX"));
        assert_eq!(effective_region(None, &t, None), None);
    }

    #[test]
    fn status_extraction_table() {
        let m = obj(json!({
            "status": "online", "origin": "Example Repeater", "radio": "869.525,250,11,5",
            "model": "Heltec V3", "firmware": "old", "firmware_version": "1.12.0",
            "client_version": "meshcoretomqtt/1.0.8.0", "repeat": "on", "battery_mv": 1,
            "stats": {"battery_mv": 4209.4, "uptime_secs": 75821, "noise_floor": -109.5,
                      "tx_air_secs": 80, "rx_air_secs": "1903", "recv_errors": 934}
        }));
        let s = status_record(&Topic::parse("meshcore/sjc/PK/status"), &m, true, 1000);
        assert_eq!(s.id, "PK");
        assert_eq!(s.name.as_deref(), Some("Example Repeater"));
        assert_eq!(s.iata.as_deref(), Some("SJC"));
        assert_eq!(s.model.as_deref(), Some("Heltec V3"));
        assert_eq!(s.firmware.as_deref(), Some("1.12.0"));
        assert_eq!(s.client_version.as_deref(), Some("meshcoretomqtt/1.0.8.0"));
        assert_eq!(s.radio.as_deref(), Some("869.525,250,11,5"));
        assert_eq!(s.battery_mv, Some(4209), "stats wins over the top level");
        assert_eq!(s.uptime_secs, Some(75821));
        assert_eq!(s.noise_floor, Some(-109.5));
        assert_eq!(s.tx_air_secs, Some(80));
        assert_eq!(s.rx_air_secs, Some(1903));
        assert_eq!(s.recv_errors, Some(934));
        assert_eq!(s.can_relay, Some(true));
        assert!(s.retained);
        assert!(s.has_metrics());
        // Top-level fallback and repeat variants.
        let m = obj(json!({"battery_mv": 3900, "repeat": 0, "clientVersion": "x"}));
        let s = status_record(&Topic::parse("meshcore/SJC/PK/status"), &m, false, 0);
        assert_eq!(s.battery_mv, Some(3900));
        assert_eq!(s.can_relay, Some(false));
        assert_eq!(s.client_version.as_deref(), Some("x"));
        let s = status_record(
            &Topic::parse("meshcore/SJC/PK/status"),
            &obj(json!({"repeat": "maybe"})),
            false,
            0,
        );
        assert_eq!(s.can_relay, None);
        assert!(!s.has_metrics());
    }

    #[test]
    fn envelope_time_rules() {
        let now = analyzer_db::time::parse_time("2026-05-05T12:00:00Z").unwrap();
        let r = |t: &str| resolve_rx_time(Some(t), now);
        assert_eq!(
            resolve_rx_time(None, now),
            RxTime {
                at: now,
                naive_skew: None,
                clamped: None
            }
        );
        assert_eq!(r("garbage").clamped, Some(Clamp::Unparseable));
        assert_eq!(r("2026-05-06T12:00:00Z").clamped, Some(Clamp::FarFuture));
        assert_eq!(r("2026-03-01T12:00:00Z").clamped, Some(Clamp::TooOld));
        // Zone-aware, in the past: kept; in the near future: now.
        assert_eq!(r("2026-05-05T11:00:00Z").at, now - 3600);
        assert_eq!(r("2026-05-05T13:00:00+02:00").at, now - 3600);
        assert_eq!(r("2026-05-05T12:05:00Z").clamped, Some(Clamp::Future));
        // Naive: within 15 min kept (fraction allowed); beyond: now plus the signed skew.
        assert_eq!(r("2026-05-05T11:50:00.353123").at, now - 600);
        let skewed = r("2026-05-05T14:00:00");
        assert_eq!(
            (skewed.at, skewed.naive_skew, skewed.clamped),
            (now, Some(7200), Some(Clamp::NaiveSkew))
        );
        assert_eq!(r("2026-05-05T10:00:00").naive_skew, Some(-7200));
    }
}
