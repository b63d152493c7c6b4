//! Calendar formatting of Unix milliseconds (UTC), for the timestamps observers publish.

/// Civil date and time of a Unix-ms instant, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Year.
    pub year: i64,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=59.
    pub second: u32,
    /// Microseconds, 0..=999999.
    pub micros: u32,
}

impl DateTime {
    /// Splits `unix_ms` (UTC).
    pub fn from_unix_ms(unix_ms: u64) -> Self {
        let secs = unix_ms / 1000;
        let days = (secs / 86_400) as i64;
        let rem = (secs % 86_400) as u32;
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            micros: (unix_ms % 1000) as u32 * 1000,
        }
    }

    /// Python's naive `datetime.isoformat()`: `2026-05-05T09:28:56.353123` (the fraction is
    /// omitted when zero, as Python does).
    pub fn naive_iso(&self) -> String {
        let base = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.micros == 0 {
            base
        } else {
            format!("{base}.{:06}", self.micros)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_isoformat() {
        assert_eq!(DateTime::from_unix_ms(0).naive_iso(), "1970-01-01T00:00:00");
        // 2024-05-15T10:55:09Z is the v50 advert timestamp.
        assert_eq!(
            DateTime::from_unix_ms(1_715_770_509_353).naive_iso(),
            "2024-05-15T10:55:09.353000"
        );
        let leap = DateTime::from_unix_ms(1_709_164_800_000); // 2024-02-29
        assert_eq!((leap.year, leap.month, leap.day), (2024, 2, 29));
        let end = DateTime::from_unix_ms(1_767_225_599_000); // 2025-12-31T23:59:59
        assert_eq!(
            (end.year, end.month, end.day, end.hour, end.second),
            (2025, 12, 31, 23, 59)
        );
    }
}
