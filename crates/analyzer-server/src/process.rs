//! Facts about this process for the health endpoints.

/// Resident set size in bytes, from `/proc/self/status` (`None` off Linux).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix("VmRSS:")?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// Bytes as megabytes with one decimal, as the reference reports memory.
pub fn megabytes(bytes: u64) -> f64 {
    (bytes as f64 / (1024.0 * 1024.0) * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = super::resident_bytes().expect("VmRSS present");
            assert!(
                rss > 1024 * 1024,
                "a test process uses more than 1 MiB: {rss}"
            );
        }
    }

    #[test]
    fn megabytes_round_to_one_decimal() {
        assert_eq!(super::megabytes(1024 * 1024 * 3 / 2), 1.5);
        assert_eq!(super::megabytes(0), 0.0);
    }
}
