//! Rows of `observer_metrics`: the samples observers report in their status messages
//! (spec ingest.md §4.10, analytics.md §4.2).

/// One `observer_metrics` row. Counters are cumulative since the observer's last boot;
/// noise floor and battery are instantaneous.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObserverMetricRow {
    /// `observers.id` of the reporting observer.
    pub observer_id: String,
    /// Sample time, RFC3339 as stored (rounded to the sample interval).
    pub timestamp: String,
    /// Noise floor in dBm.
    pub noise_floor: Option<f64>,
    /// Seconds spent transmitting since boot.
    pub tx_air_secs: Option<i64>,
    /// Seconds spent receiving since boot.
    pub rx_air_secs: Option<i64>,
    /// Receive errors since boot.
    pub recv_errors: Option<i64>,
    /// Battery in millivolts.
    pub battery_mv: Option<i64>,
    /// Packets sent since boot.
    pub packets_sent: Option<i64>,
    /// Packets received since boot.
    pub packets_recv: Option<i64>,
}
