//! Timestamp text formats of the CoreScope schema, computed without a date library.
//!
//! The schema stores some times as RFC3339 UTC text with second precision
//! (`2026-01-02T03:04:05Z`) and some as SQLite's `YYYY-MM-DD HH:MM:SS`. Both compare
//! correctly as strings only when they are always written in exactly that shape, so every
//! backend formats through these functions.

/// Seconds since the Unix epoch (UTC). Negative values are before 1970.
pub type UnixSecs = i64;

/// Formats `secs` as RFC3339 UTC with second precision, e.g. `2026-01-02T03:04:05Z`.
pub fn rfc3339(secs: UnixSecs) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Formats `secs` the way SQLite's `datetime()` / `CURRENT_TIMESTAMP` do:
/// `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn sqlite_datetime(secs: UnixSecs) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// Parses the time formats found in CoreScope databases back to epoch seconds:
/// RFC3339 with `Z` or a numeric offset and an optional fraction (Node-era rows carry
/// milliseconds), and SQLite's `YYYY-MM-DD HH:MM:SS`. Returns `None` for anything else.
pub fn parse_time(text: &str) -> Option<UnixSecs> {
    let b = text.trim().as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            part.iter()
                .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0')),
        )
    };
    if b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if let Some((b'.', tail)) = rest.split_first() {
        let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &tail[digits..];
    }
    let offset = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let hours = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let mins = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            let off = hours * 3600 + mins * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// Splits epoch seconds into (year, month, day, hour, minute, second), proleptic
/// Gregorian calendar, UTC.
fn civil(secs: UnixSecs) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Era-based conversion from days since 1970-01-01 to a civil date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, sod / 3600, sod % 3600 / 60, sod % 60)
}

/// Days since 1970-01-01 of a civil date (inverse of [`civil`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_323_045), "2026-01-02T03:04:05Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(sqlite_datetime(1_767_323_045), "2026-01-02 03:04:05");
    }

    #[test]
    fn parses_every_format_found_in_reference_databases() {
        assert_eq!(parse_time("2026-01-02T03:04:05Z"), Some(1_767_323_045));
        assert_eq!(parse_time("2026-01-02T03:04:05.678Z"), Some(1_767_323_045));
        assert_eq!(parse_time("2026-01-02 03:04:05"), Some(1_767_323_045));
        assert_eq!(parse_time("2026-01-02T05:04:05+02:00"), Some(1_767_323_045));
        assert_eq!(parse_time("2026-01-02T03:04:05"), Some(1_767_323_045));
        assert_eq!(parse_time("2026-13-02T03:04:05Z"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-01-02T03:04:05.Z"), None);
    }

    #[test]
    fn round_trips_across_four_centuries() {
        let mut t = -12_219_292_800i64; // 1582-10-15
        while t < 32_503_680_000 {
            assert_eq!(parse_time(&rfc3339(t)), Some(t), "{t}");
            t += 86_400 * 37 + 3_601;
        }
    }
}
