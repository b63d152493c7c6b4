//! Query-parameter parsing shared by the endpoints (spec api.md §0.4) and the write-key
//! check (§0.3).

use std::collections::HashMap;

use axum::http::HeaderMap;

use crate::error::ApiError;

/// A request's query string as a map (the handlers' `Query` extractor).
pub type Params = HashMap<String, String>;

/// A query parameter, trimmed; `None` when absent or blank.
pub fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Runs a store query (or any CPU-heavy work) on the blocking pool, off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal("store query task failed", e))
}

/// `clampLimit`: empty, non-numeric or ≤ 0 ⇒ `default`; above `max` ⇒ `max`.
pub fn clamp_limit(raw: Option<&str>, default: usize, max: usize) -> usize {
    match raw.map(str::trim).and_then(|v| v.parse::<i64>().ok()) {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(max).min(max),
        _ => default,
    }
}

/// `offset`: a non-negative integer, default 0; anything else is a 400 naming the parameter.
pub fn offset(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(0),
        Some(v) => v.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("offset must be a non-negative integer, got {v:?}"))
        }),
    }
}

/// `region`: comma-separated IATA codes, trimmed and upper-cased; `All` (any case) or
/// nothing means no filter (`None`).
pub fn regions(raw: Option<&str>) -> Option<Vec<String>> {
    let codes: Vec<String> = raw?
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    if codes.is_empty() || codes.iter().any(|c| c == "ALL") {
        None
    } else {
        Some(codes)
    }
}

/// Why a write request was refused.
pub fn check_api_key(configured: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = configured.filter(|k| !k.is_empty()) else {
        return Err(ApiError::forbidden(
            "write endpoints disabled — set apiKey in config.json",
        ));
    };
    let given = headers
        .get("x-api-key")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !constant_time_eq(given, key.as_bytes()) {
        return Err(ApiError::unauthorized("unauthorized"));
    }
    if is_weak_key(key) {
        return Err(ApiError::forbidden("forbidden"));
    }
    Ok(())
}

/// Keys the reference refuses to honour: common placeholders and anything under 16 chars.
pub fn is_weak_key(key: &str) -> bool {
    const WEAK: &[&str] = &[
        "change-me",
        "changeme",
        "test",
        "admin",
        "secret",
        "password",
        "default",
        "example",
        "apikey",
        "api-key",
        "your-secret-api-key-here",
    ];
    key.chars().count() < 16 || WEAK.iter().any(|w| w.eq_ignore_ascii_case(key))
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in b.iter().enumerate() {
        diff |= usize::from(x ^ a.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_clamp_like_the_reference() {
        assert_eq!(clamp_limit(None, 50, 10_000), 50);
        assert_eq!(clamp_limit(Some("abc"), 50, 10_000), 50);
        assert_eq!(clamp_limit(Some("0"), 50, 10_000), 50);
        assert_eq!(clamp_limit(Some("-3"), 50, 10_000), 50);
        assert_eq!(clamp_limit(Some("20"), 50, 10_000), 20);
        assert_eq!(clamp_limit(Some("99999"), 50, 10_000), 10_000);
    }

    #[test]
    fn region_all_means_no_filter() {
        assert_eq!(regions(Some("All")), None);
        assert_eq!(regions(Some(" all ")), None);
        assert_eq!(regions(Some("")), None);
        assert_eq!(
            regions(Some("sjc, Pdx")),
            Some(vec!["SJC".to_owned(), "PDX".to_owned()])
        );
    }

    #[test]
    fn api_key_gate() {
        let mut headers = HeaderMap::new();
        let strong = "a-long-enough-secret-key";
        assert_eq!(
            check_api_key(None, &headers).unwrap_err().status(),
            axum::http::StatusCode::FORBIDDEN
        );
        assert_eq!(
            check_api_key(Some(strong), &headers).unwrap_err().status(),
            axum::http::StatusCode::UNAUTHORIZED
        );
        headers.insert("x-api-key", strong.parse().unwrap());
        assert!(check_api_key(Some(strong), &headers).is_ok());
        headers.insert("x-api-key", "admin".parse().unwrap());
        assert_eq!(
            check_api_key(Some("admin"), &headers).unwrap_err().status(),
            axum::http::StatusCode::FORBIDDEN
        );
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"abcd", b"abcd"));
    }
}
