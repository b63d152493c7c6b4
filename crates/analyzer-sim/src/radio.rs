//! Radio model: distances, log-distance path loss with shadowing, SNR/RSSI, reception odds and
//! LoRa airtime.
//!
//! The numbers are those of a typical MeshCore deployment (22 dBm, SF11, 250 kHz, CR 4/5) and
//! an urban/suburban path-loss exponent. They are meant to look plausible on a map and in SNR
//! histograms, not to predict real coverage.

use rand::{Rng, RngExt};

/// Transmit power, dBm.
pub const TX_POWER_DBM: f64 = 22.0;
/// Path loss at 1 km, dB.
pub const PATH_LOSS_1KM_DB: f64 = 120.0;
/// Path-loss exponent.
pub const PATH_LOSS_EXPONENT: f64 = 3.5;
/// Standard deviation of the fixed per-link shadowing, dB.
pub const SHADOWING_SIGMA_DB: f64 = 7.0;
/// Standard deviation of the per-packet fading, dB.
pub const FADING_SIGMA_DB: f64 = 2.5;
/// SNR at which half the packets are received (SF11 demodulation floor is about -17.5 dB).
pub const SNR_THRESHOLD_DB: f64 = -15.0;
/// Links whose mean SNR is below this are not kept at all (reception odds are negligible).
pub const LINK_CUTOFF_SNR_DB: f64 = -21.0;
/// Highest SNR a LoRa modem reports.
pub const MAX_SNR_DB: f64 = 13.5;
/// Radio settings string observers report (`freqMHz,bwkHz,SF,CR`).
pub const RADIO_SETTINGS: &str = "910.525,250,11,5";

/// Great-circle distance in km (haversine; plenty for a region).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371.0 * a.sqrt().asin()
}

/// Mean received power over `distance_km`, dBm, before shadowing. `elevated_db` is the gain
/// of antennas on roofs and hills (repeaters).
pub fn mean_rssi_dbm(distance_km: f64, elevated_db: f64) -> f64 {
    let d = distance_km.max(0.05);
    TX_POWER_DBM - (PATH_LOSS_1KM_DB + 10.0 * PATH_LOSS_EXPONENT * d.log10()) + elevated_db
}

/// Probability of decoding a packet received at `snr_db` (logistic around the threshold).
pub fn reception_probability(snr_db: f64) -> f64 {
    1.0 / (1.0 + (-(snr_db - SNR_THRESHOLD_DB) / 1.2).exp())
}

/// A standard normal sample (Box-Muller; `rand` 0.10 has no normal distribution built in).
pub fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Time on air of a `len`-byte LoRa frame at SF11, 250 kHz, CR 4/5, explicit header, CRC on,
/// 16-symbol preamble (the MeshCore default), in ms.
pub fn airtime_ms(len: usize) -> f64 {
    const SF: f64 = 11.0;
    const SYMBOL_MS: f64 = 2048.0 / 250.0;
    let payload_bits = 8.0 * len as f64 - 4.0 * SF + 28.0 + 16.0;
    let symbols = 8.0 + ((payload_bits / (4.0 * SF)).ceil() * 5.0).max(0.0);
    (16.0 + 4.25 + symbols) * SYMBOL_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_falls_with_distance_and_reception_with_snr() {
        assert!(mean_rssi_dbm(1.0, 0.0) > mean_rssi_dbm(5.0, 0.0));
        assert!(mean_rssi_dbm(5.0, 0.0) > mean_rssi_dbm(20.0, 0.0));
        assert!(reception_probability(0.0) > 0.99);
        assert!((reception_probability(SNR_THRESHOLD_DB) - 0.5).abs() < 1e-9);
        assert!(reception_probability(-22.0) < 0.01);
        let seattle_tacoma = distance_km(47.6062, -122.3321, 47.2529, -122.4443);
        assert!((seattle_tacoma - 40.2).abs() < 1.0, "{seattle_tacoma}");
        assert!(airtime_ms(100) > airtime_ms(20));
        assert!((300.0..1500.0).contains(&airtime_ms(100)));
    }
}
