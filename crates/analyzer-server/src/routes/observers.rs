//! Observers endpoints (spec api.md §5, analytics.md §4.2 and §4.3).
//!
//! The observer rows come from the observers snapshot ([`crate::directory::ObserverDir`]),
//! activity counts and analytics from the in-memory store's per-observer index, and the
//! RF metrics from `observer_metrics` through the storage reader.
//!
//! Visibility: observers listed in `observerBlacklist` are hidden everywhere (404 on the
//! per-observer endpoints). Soft-deleted observers (`inactive = 1`, set by observer
//! retention or the blacklist) are left out of the list, which is what the soft delete is
//! for (the reference's `packets_v` view and observer count drop them too), but their
//! detail, analytics and metrics still answer: packets in memory still name them, and a
//! link from such a packet should not lead to a 404.

use std::collections::{BTreeMap, HashMap};

use analyzer_db::time::parse_time;
use analyzer_db::{ObserverMetricRow, ObserverRow, UnixSecs};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::directory::{NodeDir, ObserverDir};
use crate::error::ApiError;
use crate::params::{Params, param};
use crate::render::{self, Object, round};
use crate::state::AppState;

/// The observers routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_observers))
        .routes(routes!(metrics_summary))
        .routes(routes!(observer_detail))
        .routes(routes!(observer_analytics))
        .routes(routes!(observer_metrics))
}

/// How long a naive-clock event keeps the observer flagged (spec analytics.md "Observer
/// naive-clock flag": "the API shows it for 24 h").
const NAIVE_CLOCK_WINDOW_SECS: i64 = 86_400;
/// `recentPackets` length of the observer analytics.
const RECENT_PACKETS: usize = 20;

/// Every visible, active observer with its activity of the last hour.
#[utoipa::path(get, path = "/api/observers", tag = "observers",
    responses((status = 200, description = "{observers[...], server_time}", body = Object)))]
async fn list_observers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = state.now();
    let observers = state.observers().await?;
    let nodes = state.nodes().await?;
    let last_hour = hourly_counts(&state, now).await?;
    let mut rows: Vec<&ObserverRow> = observers
        .rows()
        .iter()
        .filter(|r| !r.inactive && visible(&state, r))
        .collect();
    // Most recently heard first, as the reference's `ORDER BY last_seen DESC`.
    rows.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| a.id.cmp(&b.id)));
    let list: Vec<Value> = rows
        .into_iter()
        .map(|r| Value::Object(observer_object(r, &last_hour, Some(&nodes), now)))
        .collect();
    Ok(Json(json!({
        "observers": list,
        "server_time": render::iso(now),
    })))
}

/// One observer (the list object without `lat`, `lon`, `nodeRole`).
#[utoipa::path(get, path = "/api/observers/{id}", tag = "observers",
    params(("id" = String, Path, description = "Observer id (case-insensitive)")),
    responses((status = 200, description = "The observer", body = Object),
        (status = 404, description = "Observer not found", body = Object)))]
async fn observer_detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = state.now();
    let observers = state.observers().await?;
    let row = find(&state, &observers, &id)?;
    let last_hour = hourly_counts(&state, now).await?;
    Ok(Json(Value::Object(observer_object(
        row, &last_hour, None, now,
    ))))
}

/// Packets over time, packet types, distinct nodes over time, SNR histogram and the
/// newest observations of one observer over the last `days` days.
#[utoipa::path(get, path = "/api/observers/{id}/analytics", tag = "observers",
    params(("id" = String, Path, description = "Observer id (case-insensitive)"),
        ("days" = Option<String>, Query, description = "Window in days (default 7, clamped to 1..365)")),
    responses((status = 200, description = "{timeline, packetTypes, nodesTimeline, snrDistribution, recentPackets}", body = Object),
        (status = 400, description = "days is not an integer", body = Object),
        (status = 404, description = "Observer not found", body = Object)))]
async fn observer_analytics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let days = match param(&p, "days") {
        None => 7,
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("days must be an integer, got {v:?}")))?
            .clamp(1, 365),
    };
    let observers = state.observers().await?;
    let key = find(&state, &observers, &id)?.idx;
    let since = state.now() - days * 86_400;
    let store = state.store().clone();
    let bucket = bucket_secs(days);
    let body = tokio::task::spawn_blocking(move || {
        let analytics = store.observer_analytics(key, since, bucket, RECENT_PACKETS, decoded_nodes);
        analytics_body(&analytics, bucket, &observers)
    })
    .await
    .map_err(|e| ApiError::internal("observer analytics task failed", e))?;
    Ok(Json(body))
}

/// RF samples of one observer with airtime and error rates computed between samples.
#[utoipa::path(get, path = "/api/observers/{id}/metrics", tag = "observers",
    params(("id" = String, Path, description = "Observer id (case-insensitive)"),
        ("since" = Option<String>, Query, description = "ISO time (default now - 24 h), inclusive"),
        ("until" = Option<String>, Query, description = "ISO time, inclusive"),
        ("resolution" = Option<String>, Query, description = "5m (default, raw samples), 1h or 1d (last sample per UTC bucket)")),
    responses((status = 200, description = "{observer_id, observer_name, reboots, metrics}", body = Object),
        (status = 400, description = "Bad since, until or resolution", body = Object),
        (status = 404, description = "Observer not found", body = Object)))]
async fn observer_metrics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let bucket = match param(&p, "resolution") {
        None | Some("5m") => 300,
        Some("1h") => 3600,
        Some("1d") => 86_400,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "resolution must be one of 5m, 1h, 1d, got {v:?}"
            )));
        }
    };
    let since = time_param(&p, "since")?.unwrap_or(state.now() - 86_400);
    let until = time_param(&p, "until")?;
    let observers = state.observers().await?;
    let row = find(&state, &observers, &id)?;
    let (observer_id, observer_name) = (row.id.clone(), row.name.clone());
    let query_id = observer_id.clone();
    let samples = state
        .db("observer metrics", move |r| {
            r.observer_metrics(Some(&query_id), since, until)
        })
        .await?;
    let samples = if bucket == 300 {
        samples
    } else {
        last_per_bucket(samples, bucket)
    };
    let (metrics, reboots) = with_deltas(&samples, bucket);
    Ok(Json(json!({
        "observer_id": observer_id,
        "observer_name": observer_name,
        "reboots": reboots,
        "metrics": metrics,
    })))
}

/// Noise-floor summary per observer over a window (RF health grid).
#[utoipa::path(get, path = "/api/observers/metrics/summary", tag = "observers",
    params(("window" = Option<String>, Query, description = "Nd or a Go duration such as 24h, 90m (default 24h)"),
        ("region" = Option<String>, Query, description = "One IATA code (case-insensitive)")),
    responses((status = 200, description = "{observers[...]}", body = Object),
        (status = 400, description = "Bad window", body = Object)))]
async fn metrics_summary(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let window = match param(&p, "window") {
        None => 86_400,
        Some(v) => parse_window(v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "window must be a positive duration such as 7d, 24h or 90m, got {v:?}"
            ))
        })?,
    };
    // `All` means no filter, as everywhere in the API (spec api.md §0.4).
    let region = param(&p, "region")
        .filter(|r| !r.eq_ignore_ascii_case("all"))
        .map(str::to_owned);
    let since = state.now() - window;
    let observers = state.observers().await?;
    let samples = state
        .db("observer metrics summary", move |r| {
            r.observer_metrics(None, since, None)
        })
        .await?;
    let mut entries: Vec<(Option<f64>, String, Object)> = Vec::new();
    for group in samples.chunk_by(|a, b| a.observer_id == b.observer_id) {
        let id = group[0].observer_id.as_str();
        if state.config().is_observer_blacklisted(id) {
            continue;
        }
        let row = observers.by_id(id);
        let iata = row.and_then(|r| r.iata.as_deref()).map(str::trim);
        if let Some(region) = &region
            && !iata.is_some_and(|i| i.eq_ignore_ascii_case(region))
        {
            continue;
        }
        let floors: Vec<f64> = group.iter().filter_map(|m| m.noise_floor).collect();
        let max = floors.iter().copied().reduce(f64::max);
        let avg = (!floors.is_empty())
            .then(|| round(floors.iter().sum::<f64>() / floors.len() as f64, 2));
        let mut o = Object::new();
        o.insert("observer_id".into(), json!(id));
        o.insert(
            "observer_name".into(),
            json!(row.and_then(|r| r.name.as_deref())),
        );
        if let Some(iata) = iata.filter(|i| !i.is_empty()) {
            o.insert("iata".into(), json!(iata));
        }
        o.insert("current_noise_floor".into(), json!(floors.last()));
        o.insert("avg_noise_floor_24h".into(), json!(avg));
        o.insert("max_noise_floor_24h".into(), json!(max));
        o.insert(
            "battery_mv".into(),
            json!(group.iter().rev().find_map(|m| m.battery_mv)),
        );
        o.insert("sample_count".into(), json!(group.len()));
        o.insert("sparkline".into(), json!(floors));
        entries.push((max, id.to_owned(), o));
    }
    // Loudest first; observers without a noise floor last.
    entries.sort_by(|a, b| {
        let key = |m: Option<f64>| m.unwrap_or(f64::NEG_INFINITY);
        key(b.0).total_cmp(&key(a.0)).then_with(|| a.1.cmp(&b.1))
    });
    let list: Vec<Value> = entries
        .into_iter()
        .map(|(_, _, o)| Value::Object(o))
        .collect();
    Ok(Json(json!({ "observers": list })))
}

/// False for observers in `observerBlacklist`.
fn visible(state: &AppState, row: &ObserverRow) -> bool {
    !state.config().is_observer_blacklisted(&row.id)
}

/// The visible observer with id `id` (any case), or the reference's 404.
fn find<'a>(state: &AppState, dir: &'a ObserverDir, id: &str) -> Result<&'a ObserverRow, ApiError> {
    dir.by_id(id.trim())
        .filter(|r| visible(state, r))
        .ok_or_else(|| ApiError::not_found("Observer not found"))
}

/// Observations per observer key over the hour before `now`, counted on the blocking pool.
async fn hourly_counts(state: &AppState, now: UnixSecs) -> Result<HashMap<i64, usize>, ApiError> {
    let store = state.store().clone();
    tokio::task::spawn_blocking(move || store.observations_per_observer_since(now - 3600))
        .await
        .map_err(|e| ApiError::internal("observer counts task failed", e))
}

/// An ISO time parameter; unparsable is a 400 naming it.
fn time_param(p: &Params, name: &str) -> Result<Option<UnixSecs>, ApiError> {
    param(p, name)
        .map(|v| {
            parse_time(v).ok_or_else(|| {
                ApiError::bad_request(format!("{name} must be an ISO-8601 time, got {v:?}"))
            })
        })
        .transpose()
}

/// The observer object of the list (with `nodes`: `lat`, `lon`, `nodeRole`) and of the
/// detail (without them). Key order is the reference's.
fn observer_object(
    r: &ObserverRow,
    last_hour: &HashMap<i64, usize>,
    nodes: Option<&NodeDir>,
    now: UnixSecs,
) -> Object {
    let mut o = Object::with_capacity(24);
    o.insert("id".into(), json!(r.id));
    o.insert("name".into(), json!(r.name));
    o.insert("iata".into(), json!(r.iata));
    o.insert("last_seen".into(), json!(r.last_seen));
    o.insert("first_seen".into(), json!(r.first_seen));
    o.insert("packet_count".into(), json!(r.packet_count));
    o.insert("model".into(), json!(r.model));
    o.insert("firmware".into(), json!(r.firmware));
    o.insert("client_version".into(), json!(r.client_version));
    o.insert("radio".into(), json!(r.radio));
    o.insert("battery_mv".into(), json!(r.battery_mv));
    o.insert("uptime_secs".into(), json!(r.uptime_secs));
    o.insert("noise_floor".into(), json!(r.noise_floor));
    o.insert("last_packet_at".into(), json!(r.last_packet_at));
    o.insert(
        "packetsLastHour".into(),
        json!(last_hour.get(&r.idx).copied().unwrap_or(0)),
    );
    if let Some(nodes) = nodes {
        let node = nodes.get(&r.id);
        o.insert("lat".into(), json!(node.and_then(|n| n.lat)));
        o.insert("lon".into(), json!(node.and_then(|n| n.lon)));
        o.insert(
            "nodeRole".into(),
            json!(node.and_then(|n| n.role.as_deref())),
        );
    }
    let clock = naive_clock(r, now);
    o.insert("clock_naive".into(), json!(clock.naive));
    o.insert("clock_skew_seconds".into(), json!(r.clock_skew_seconds));
    o.insert("clock_skew_count_24h".into(), json!(clock.count_24h));
    o.insert("clock_last_naive_at".into(), json!(r.clock_last_naive_at));
    if r.can_relay_seen {
        o.insert("can_relay".into(), json!(r.can_relay));
    }
    o
}

/// The naive-clock flag as the API shows it.
#[derive(Debug, PartialEq, Eq)]
struct NaiveClock {
    /// A naive (zone-less, off by more than 15 min) envelope time was seen in the last 24 h.
    naive: bool,
    /// Events in the 24 h window. The stored count is only reset by the next event, so
    /// an observer whose last event is older than a day shows 0, not a stale count.
    count_24h: i64,
}

fn naive_clock(r: &ObserverRow, now: UnixSecs) -> NaiveClock {
    let recent = r
        .clock_last_naive_at
        .as_deref()
        .and_then(parse_time)
        .is_some_and(|t| now - t < NAIVE_CLOCK_WINDOW_SECS);
    NaiveClock {
        naive: recent,
        count_24h: if recent { r.clock_skew_count_24h } else { 0 },
    }
}

/// Timeline bucket of the observer analytics: an hour up to 1 day, 4 hours up to 7 days,
/// else a day.
fn bucket_secs(days: i64) -> i64 {
    if days <= 1 {
        3600
    } else if days <= 7 {
        4 * 3600
    } else {
        86_400
    }
}

/// The analytics answer from the store's aggregates.
fn analytics_body(
    analytics: &analyzer_store::ObserverAnalytics,
    bucket: i64,
    observers: &ObserverDir,
) -> Value {
    let label = |t: i64| bucket_label(t, bucket);
    let timeline: Vec<Value> = analytics
        .timeline
        .iter()
        .map(|&(t, count, _)| json!({ "label": label(t), "count": count }))
        .collect();
    let nodes_timeline: Vec<Value> = analytics
        .timeline
        .iter()
        .map(|&(t, _, nodes)| json!({ "label": label(t), "count": nodes }))
        .collect();
    let packet_types: Map<String, Value> = analytics
        .packet_types
        .iter()
        .map(|&(t, n)| (t.to_string(), json!(n)))
        .collect();
    let mut snr: BTreeMap<i64, usize> = BTreeMap::new();
    for &(centi, n) in &analytics.snr_centi {
        *snr.entry(snr_bucket(f64::from(centi) / 100.0)).or_default() += n;
    }
    let snr_distribution: Vec<Value> = snr
        .into_iter()
        .map(|(a, count)| json!({ "range": format!("{a} to {}", a + 2), "count": count }))
        .collect();
    let recent: Vec<Value> = analytics
        .recent
        .iter()
        .map(|(o, p)| Value::Object(render::observation(o, p, observers)))
        .collect();
    json!({
        "timeline": timeline,
        "packetTypes": packet_types,
        "nodesTimeline": nodes_timeline,
        "snrDistribution": snr_distribution,
        "recentPackets": recent,
    })
}

/// Lower edge of the 2-dB SNR bucket holding `snr`.
///
/// The reference computes `trunc(snr)/2*2` and subtracts 2 for negative values only when
/// the truncation changed the value, which puts e.g. −2.5 dB into "−2 to 0" (spec
/// analytics.md §4.3 quirk). We floor instead, so every value lands in the bucket whose
/// range contains it (−2.5 → "-4 to -2"); the labels keep the reference's format.
fn snr_bucket(snr: f64) -> i64 {
    ((snr / 2.0).floor() as i64) * 2
}

/// The reference's bucket labels: `15:04` for hourly, `Mon 15:04` for 4-hour and
/// `Jan 02` for daily buckets (UTC).
fn bucket_label(start: UnixSecs, bucket: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let text = render::iso(start); // YYYY-MM-DDTHH:MM:SSZ
    let hhmm = text.get(11..16).unwrap_or("00:00");
    match bucket {
        3600 => hhmm.to_owned(),
        b if b < 86_400 => {
            let weekday = WEEKDAYS[start.div_euclid(86_400).rem_euclid(7) as usize];
            format!("{weekday} {hhmm}")
        }
        _ => {
            let month = text
                .get(5..7)
                .and_then(|m| m.parse::<usize>().ok())
                .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
                .copied()
                .unwrap_or("???");
            format!("{month} {}", text.get(8..10).unwrap_or("00"))
        }
    }
}

/// Node identifiers a decoded payload names: `pubKey`, `srcHash`, `destHash`. Only those
/// three fields are read (borrowed where the JSON has no escapes); the rest is skipped
/// without building values, which made the first analytics request of an observer several
/// times slower.
pub(crate) fn decoded_nodes(decoded_json: &str) -> Vec<String> {
    use std::borrow::Cow;
    /// A field's value: text, or anything else (ignored, as a non-string was before).
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text<'a> {
        Str(#[serde(borrow)] Cow<'a, str>),
        Other(serde::de::IgnoredAny),
    }
    #[derive(Deserialize)]
    struct Named<'a> {
        #[serde(rename = "pubKey", borrow, default)]
        pub_key: Option<Text<'a>>,
        #[serde(rename = "srcHash", borrow, default)]
        src_hash: Option<Text<'a>>,
        #[serde(rename = "destHash", borrow, default)]
        dest_hash: Option<Text<'a>>,
    }
    let Ok(named) = serde_json::from_str::<Named<'_>>(decoded_json) else {
        return Vec::new();
    };
    [named.pub_key, named.src_hash, named.dest_hash]
        .into_iter()
        .filter_map(|v| match v {
            Some(Text::Str(text)) if !text.is_empty() => Some(text.into_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod decoded_nodes_tests {
    use super::decoded_nodes;

    #[test]
    fn reads_the_three_fields_and_ignores_everything_else() {
        assert_eq!(
            decoded_nodes(
                r#"{"type":"TXT_MSG","destHash":"ab","x":{"pubKey":"no"},"srcHash":"cd"}"#
            ),
            vec!["cd", "ab"]
        );
        assert_eq!(
            decoded_nodes(r#"{"pubKey":"a\u0062c","srcHash":7,"destHash":""}"#),
            vec!["abc"]
        );
        assert!(decoded_nodes("not json").is_empty());
        assert!(decoded_nodes("[1,2]").is_empty());
    }
}

/// `Nd` (days) or a Go duration (`24h`, `1h30m`, `90m`, `3600s`, `1.5h`) in seconds;
/// `None` unless positive.
fn parse_window(text: &str) -> Option<i64> {
    if let Some(days) = text.strip_suffix('d') {
        return days
            .parse::<i64>()
            .ok()
            .filter(|&d| d > 0)?
            .checked_mul(86_400);
    }
    let mut rest = text;
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest.get(..digits)?.parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    let secs = total.floor();
    (1.0..1e12).contains(&secs).then_some(secs as i64)
}

/// The last sample of each UTC bucket, with its timestamp rewritten to the bucket start
/// (post-reboot counters stay the baseline of the next bucket). Unparsable times are
/// dropped: they cannot be placed in a bucket.
fn last_per_bucket(samples: Vec<ObserverMetricRow>, bucket: i64) -> Vec<ObserverMetricRow> {
    let mut out: Vec<(i64, ObserverMetricRow)> = Vec::new();
    for mut m in samples {
        let Some(t) = parse_time(&m.timestamp) else {
            continue;
        };
        let start = t.div_euclid(bucket) * bucket;
        m.timestamp = render::iso(start);
        match out.last_mut() {
            Some((s, last)) if *s == start => *last = m,
            _ => out.push((start, m)),
        }
    }
    out.into_iter().map(|(_, m)| m).collect()
}

/// The metric objects with rates between consecutive samples, and the reboot times.
///
/// A sample gets null rates when it is the first, its time is unparsable, the gap to the
/// previous one exceeds two buckets or is not positive. Otherwise a decrease of any
/// cumulative counter marks a reboot (`is_reboot_sample`, no rates); else airtime
/// percentages (clamped to 0..100) and the receive error rate are computed, to 2 dp.
fn with_deltas(samples: &[ObserverMetricRow], bucket: i64) -> (Vec<Value>, Vec<String>) {
    let mut metrics = Vec::with_capacity(samples.len());
    let mut reboots = Vec::new();
    let mut prev: Option<(i64, &ObserverMetricRow)> = None;
    for m in samples {
        let t = parse_time(&m.timestamp);
        let mut o = Object::with_capacity(14);
        o.insert("timestamp".into(), json!(m.timestamp));
        o.insert("noise_floor".into(), json!(m.noise_floor));
        let counters = [
            ("tx_air_secs", m.tx_air_secs),
            ("rx_air_secs", m.rx_air_secs),
            ("recv_errors", m.recv_errors),
        ];
        for (name, v) in counters {
            if let Some(v) = v {
                o.insert(name.into(), json!(v));
            }
        }
        o.insert("battery_mv".into(), json!(m.battery_mv));
        for (name, v) in [
            ("packets_sent", m.packets_sent),
            ("packets_recv", m.packets_recv),
        ] {
            if let Some(v) = v {
                o.insert(name.into(), json!(v));
            }
        }
        let mut rates: (Option<f64>, Option<f64>, Option<f64>) = (None, None, None);
        let mut reboot = false;
        if let (Some(t), Some((pt, p))) = (t, prev) {
            let dt = t - pt;
            if dt > 0 && dt <= 2 * bucket {
                let pairs = [
                    (p.tx_air_secs, m.tx_air_secs),
                    (p.rx_air_secs, m.rx_air_secs),
                    (p.recv_errors, m.recv_errors),
                    (p.packets_sent, m.packets_sent),
                    (p.packets_recv, m.packets_recv),
                ];
                reboot = pairs
                    .iter()
                    .any(|&(a, b)| matches!((a, b), (Some(a), Some(b)) if b < a));
                if !reboot {
                    let pct = |a: Option<i64>, b: Option<i64>| {
                        let delta = b? - a?;
                        Some(round(
                            (100.0 * delta as f64 / dt as f64).clamp(0.0, 100.0),
                            2,
                        ))
                    };
                    rates.0 = pct(p.tx_air_secs, m.tx_air_secs);
                    rates.1 = pct(p.rx_air_secs, m.rx_air_secs);
                    rates.2 = (|| {
                        let errors = m.recv_errors? - p.recv_errors?;
                        let received = m.packets_recv? - p.packets_recv?;
                        let denominator = received + errors;
                        (denominator > 0)
                            .then(|| round(100.0 * errors as f64 / denominator as f64, 2))
                    })();
                }
            }
        }
        o.insert("tx_airtime_pct".into(), json!(rates.0));
        o.insert("rx_airtime_pct".into(), json!(rates.1));
        o.insert("recv_error_rate".into(), json!(rates.2));
        if reboot {
            o.insert("is_reboot_sample".into(), json!(true));
            reboots.push(m.timestamp.clone());
        }
        metrics.push(Value::Object(o));
        prev = t.map(|t| (t, m));
    }
    (metrics, reboots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snr_buckets_hold_their_values() {
        assert_eq!(snr_bucket(5.5), 4);
        assert_eq!(snr_bucket(0.0), 0);
        assert_eq!(snr_bucket(-0.5), -2);
        // The reference puts -2.5 into "-2 to 0"; it belongs to "-4 to -2".
        assert_eq!(snr_bucket(-2.5), -4);
        assert_eq!(snr_bucket(-2.0), -2);
    }

    #[test]
    fn labels_follow_the_bucket_size() {
        let t = 1_767_225_600 + 15 * 3600 + 4 * 60; // Thu 2026-01-01 15:04
        assert_eq!(bucket_label(t, 3600), "15:04");
        assert_eq!(bucket_label(t + 4 * 86_400, 4 * 3600), "Mon 15:04");
        assert_eq!(bucket_label(t + 31 * 86_400, 86_400), "Feb 01");
    }

    #[test]
    fn windows_are_days_or_go_durations() {
        assert_eq!(parse_window("24h"), Some(86_400));
        assert_eq!(parse_window("7d"), Some(7 * 86_400));
        assert_eq!(parse_window("1h30m"), Some(5400));
        assert_eq!(parse_window("1.5h"), Some(5400));
        assert_eq!(parse_window("90s"), Some(90));
        for bad in ["", "abc", "24", "-1h", "0d", "0s", "5x", "h", "1d2h"] {
            assert_eq!(parse_window(bad), None, "{bad}");
        }
    }

    #[test]
    fn naive_clock_shows_for_a_day() {
        let now = 1_767_225_600;
        let mut r = ObserverRow {
            clock_last_naive_at: Some(render::iso(now - 3600)),
            clock_skew_count_24h: 3,
            ..ObserverRow::default()
        };
        assert_eq!(
            naive_clock(&r, now),
            NaiveClock {
                naive: true,
                count_24h: 3
            }
        );
        r.clock_last_naive_at = Some(render::iso(now - 86_400));
        assert_eq!(
            naive_clock(&r, now),
            NaiveClock {
                naive: false,
                count_24h: 0
            }
        );
        r.clock_last_naive_at = Some("garbage".into());
        assert!(!naive_clock(&r, now).naive);
    }

    fn sample(ts: i64, tx: i64, rx: i64, errors: i64, recv: Option<i64>) -> ObserverMetricRow {
        ObserverMetricRow {
            observer_id: "O".into(),
            timestamp: render::iso(ts),
            noise_floor: Some(-100.0),
            tx_air_secs: Some(tx),
            rx_air_secs: Some(rx),
            recv_errors: Some(errors),
            battery_mv: Some(4000),
            packets_sent: None,
            packets_recv: recv,
        }
    }

    #[test]
    fn deltas_rates_reboots_and_gaps() {
        let t = 1_767_225_600;
        let samples = [
            sample(t, 0, 0, 0, Some(0)),
            sample(t + 300, 3, 600, 10, Some(90)), // 1 %, 200 % → 100, 10 errors of 100
            sample(t + 600, 1, 700, 12, Some(100)), // tx went down: reboot
            sample(t + 1800, 2, 800, 13, Some(110)), // gap of 4 buckets: no rates
            sample(t + 1800, 2, 800, 13, Some(110)), // same time: no rates
        ];
        let (m, reboots) = with_deltas(&samples, 300);
        assert_eq!(m[0]["tx_airtime_pct"], Value::Null);
        assert_eq!(m[1]["tx_airtime_pct"], json!(1.0));
        assert_eq!(m[1]["rx_airtime_pct"], json!(100.0));
        assert_eq!(m[1]["recv_error_rate"], json!(10.0));
        assert_eq!(m[1].get("is_reboot_sample"), None);
        assert_eq!(m[2]["is_reboot_sample"], json!(true));
        assert_eq!(m[2]["tx_airtime_pct"], Value::Null);
        assert_eq!(reboots, [render::iso(t + 600)]);
        assert_eq!(m[3]["rx_airtime_pct"], Value::Null);
        assert_eq!(m[4]["rx_airtime_pct"], Value::Null);
        assert_eq!(m[0].get("packets_sent"), None);
    }

    #[test]
    fn hourly_resolution_keeps_the_last_sample_per_hour() {
        let t = 1_767_225_600;
        let samples = vec![
            sample(t, 0, 0, 0, None),
            sample(t + 3000, 5, 5, 0, None),
            sample(t + 3600, 9, 9, 0, None),
        ];
        let out = last_per_bucket(samples, 3600);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].timestamp, render::iso(t));
        assert_eq!(out[0].tx_air_secs, Some(5));
        assert_eq!(out[1].timestamp, render::iso(t + 3600));
    }
}
