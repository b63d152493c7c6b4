//! Per-route request timing for `/api/perf` and the `perf` block of `/api/health` (spec
//! api.md §0.1 "perf instrumentation", §2 "GET /api/perf").
//!
//! Every `/api/` request is timed from routing to the response head and filed under its route
//! template (`/api/nodes/{pubkey}` is reported as `/api/nodes/:pubkey`, as the reference
//! does). Each template keeps its count, its maximum and its last 100 durations (for the mean
//! and the percentiles); requests slower than [`SLOW_MS`] also go to a list of the last 50.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Value, json};

/// Requests slower than this (ms) are listed as slow.
pub(crate) const SLOW_MS: f64 = 100.0;
/// Durations kept per route template.
const SAMPLES: usize = 100;
/// Slow requests kept.
const SLOW_KEPT: usize = 50;
/// Route templates tracked at most. Paths that match no route are filed under their own
/// normalised path, so without a bound a client could grow the table without limit; past
/// the bound they share one entry.
const MAX_TEMPLATES: usize = 256;
/// The shared entry once [`MAX_TEMPLATES`] is reached.
const OVERFLOW_KEY: &str = "(other)";

/// Request timings since the last reset.
pub(crate) struct Perf {
    data: Mutex<PerfData>,
}

struct PerfData {
    since: Instant,
    total_requests: u64,
    total_ms: f64,
    slow_total: u64,
    endpoints: BTreeMap<String, EndpointStats>,
    slow: VecDeque<SlowRequest>,
}

#[derive(Default)]
struct EndpointStats {
    count: u64,
    max_ms: f64,
    recent: VecDeque<f64>,
}

/// One request slower than [`SLOW_MS`].
#[derive(Clone)]
struct SlowRequest {
    path: String,
    ms: f64,
    time: String,
    status: u16,
}

impl PerfData {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            total_requests: 0,
            total_ms: 0.0,
            slow_total: 0,
            endpoints: BTreeMap::new(),
            slow: VecDeque::new(),
        }
    }
}

impl Perf {
    /// Empty counters, starting now.
    pub(crate) fn new() -> Self {
        Self {
            data: Mutex::new(PerfData::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PerfData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Files one request: its route template, its real path (for the slow list), how long
    /// it took, its status and when it happened (`time`, ISO-8601).
    pub(crate) fn record(
        &self,
        template: &str,
        path: &str,
        ms: f64,
        status: u16,
        time: impl FnOnce() -> String,
    ) {
        let mut data = self.lock();
        data.total_requests += 1;
        data.total_ms += ms;
        let key = if data.endpoints.contains_key(template) || data.endpoints.len() < MAX_TEMPLATES {
            template
        } else {
            OVERFLOW_KEY
        };
        let entry = data.endpoints.entry(key.to_owned()).or_default();
        entry.count += 1;
        entry.max_ms = entry.max_ms.max(ms);
        if entry.recent.len() == SAMPLES {
            entry.recent.pop_front();
        }
        entry.recent.push_back(ms);
        if ms > SLOW_MS {
            data.slow_total += 1;
            if data.slow.len() == SLOW_KEPT {
                data.slow.pop_front();
            }
            data.slow.push_back(SlowRequest {
                path: path.to_owned(),
                ms: round1(ms),
                time: time(),
                status,
            });
        }
    }

    /// Forgets everything and restarts the uptime.
    pub(crate) fn reset(&self) {
        *self.lock() = PerfData::new();
    }

    /// The `/api/perf` fields: `uptime` (seconds since the last reset), `totalRequests`,
    /// `avgMs`, `endpoints{template: {count, avgMs, p50Ms, p95Ms, maxMs}}` and
    /// `slowQueries` (the last 20 slow requests, oldest first).
    pub(crate) fn report(&self) -> serde_json::Map<String, Value> {
        let data = self.lock();
        let endpoints: serde_json::Map<String, Value> = data
            .endpoints
            .iter()
            .map(|(template, stats)| {
                let mut sorted: Vec<f64> = stats.recent.iter().copied().collect();
                sorted.sort_by(f64::total_cmp);
                let avg = if sorted.is_empty() {
                    0.0
                } else {
                    sorted.iter().sum::<f64>() / sorted.len() as f64
                };
                (
                    template.clone(),
                    json!({
                        "count": stats.count,
                        "avgMs": round1(avg),
                        "p50Ms": round1(percentile(&sorted, 0.50)),
                        "p95Ms": round1(percentile(&sorted, 0.95)),
                        "maxMs": round1(stats.max_ms),
                    }),
                )
            })
            .collect();
        let skip = data.slow.len().saturating_sub(20);
        let slow: Vec<Value> = data.slow.iter().skip(skip).map(slow_json).collect();
        let mut out = serde_json::Map::new();
        out.insert("uptime".into(), json!(data.since.elapsed().as_secs()));
        out.insert("totalRequests".into(), json!(data.total_requests));
        out.insert("avgMs".into(), json!(round1(average(&data))));
        out.insert("endpoints".into(), Value::Object(endpoints));
        out.insert("slowQueries".into(), Value::Array(slow));
        out
    }

    /// The `/api/health` `perf` block: `totalRequests`, `avgMs`, `slowQueries` (how many
    /// requests were slow since the last reset) and `recentSlow` (the last five, newest
    /// first).
    pub(crate) fn health(&self) -> Value {
        let data = self.lock();
        let recent: Vec<Value> = data.slow.iter().rev().take(5).map(slow_json).collect();
        json!({
            "totalRequests": data.total_requests,
            "avgMs": round1(average(&data)),
            "slowQueries": data.slow_total,
            "recentSlow": recent,
        })
    }
}

fn average(data: &PerfData) -> f64 {
    if data.total_requests == 0 {
        0.0
    } else {
        data.total_ms / data.total_requests as f64
    }
}

fn slow_json(s: &SlowRequest) -> Value {
    json!({ "path": s.path, "ms": s.ms, "time": s.time, "status": s.status })
}

/// Nearest-rank percentile of an ascending slice (0 when empty).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The key a request is filed under: the matched route with `{x}` written `:x` (the
/// reference's notation), or, for a path no route matched, the path with every run of eight
/// or more hex digits replaced by `:id`.
pub(crate) fn template(matched: Option<&str>, path: &str) -> String {
    match matched {
        Some(route) => route
            .split('/')
            .map(
                |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => format!(":{}", name.trim_start_matches('*')),
                    None => seg.to_owned(),
                },
            )
            .collect::<Vec<_>>()
            .join("/"),
        None => path
            .split('/')
            .map(replace_hex_runs)
            .collect::<Vec<_>>()
            .join("/"),
    }
}

fn replace_hex_runs(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 8 {
            out.push_str(":id");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in seg.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_use_the_reference_notation() {
        assert_eq!(
            template(Some("/api/nodes/{pubkey}/health"), "/api/nodes/ab/health"),
            "/api/nodes/:pubkey/health"
        );
        assert_eq!(template(Some("/api/docs/{*rest}"), "/x"), "/api/docs/:rest");
        assert_eq!(
            template(None, "/api/unknown/0123456789abcdef/x"),
            "/api/unknown/:id/x"
        );
        assert_eq!(template(None, "/api/unknown/abc"), "/api/unknown/abc");
    }

    #[test]
    fn percentiles_and_slow_list() {
        let perf = Perf::new();
        for i in 1..=150 {
            perf.record("/api/x", "/api/x", f64::from(i), 200, || "t".into());
        }
        let report = perf.report();
        let x = &report["endpoints"]["/api/x"];
        assert_eq!(x["count"], 150);
        // The last 100 samples are 51..=150.
        assert_eq!(x["p50Ms"], 100.0);
        assert_eq!(x["p95Ms"], 145.0);
        assert_eq!(x["avgMs"], 100.5);
        assert_eq!(x["maxMs"], 150.0);
        assert_eq!(report["totalRequests"], 150);
        // 101..=150 were slow: 50 kept, /api/perf shows the last 20.
        assert_eq!(report["slowQueries"].as_array().unwrap().len(), 20);
        assert_eq!(report["slowQueries"][19]["ms"], 150.0);
        let health = perf.health();
        assert_eq!(health["slowQueries"], 50);
        assert_eq!(health["recentSlow"][0]["ms"], 150.0);
        perf.reset();
        assert_eq!(perf.report()["totalRequests"], 0);
    }

    #[test]
    fn unmatched_paths_cannot_grow_the_table_without_bound() {
        let perf = Perf::new();
        for i in 0..1000 {
            let path = format!("/api/nope{i}");
            perf.record(&template(None, &path), &path, 1.0, 404, String::new);
        }
        let report = perf.report();
        let endpoints = report["endpoints"].as_object().unwrap();
        assert_eq!(endpoints.len(), MAX_TEMPLATES + 1);
        assert_eq!(
            endpoints[OVERFLOW_KEY]["count"],
            (1000 - MAX_TEMPLATES) as u64
        );
    }
}
