//! Advert helpers: Ed25519 signature checks with a small verification cache, the ingest-time
//! validity gate (`ValidateAdvert`, spec §8.3) and the node role names (§6.4).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::payload::Advert;

/// Advert type codes (low nibble of the advert flags byte).
pub mod advert_type {
    /// No type.
    pub const NONE: u8 = 0;
    /// Companion (chat) node.
    pub const CHAT: u8 = 1;
    /// Repeater.
    pub const REPEATER: u8 = 2;
    /// Room server.
    pub const ROOM: u8 = 3;
    /// Sensor.
    pub const SENSOR: u8 = 4;
}

/// Flag bits of the advert flags byte.
pub mod advert_flag {
    /// Latitude and longitude follow.
    pub const HAS_LOCATION: u8 = 0x10;
    /// Feature word 1 follows.
    pub const HAS_FEAT1: u8 = 0x20;
    /// Feature word 2 follows.
    pub const HAS_FEAT2: u8 = 0x40;
    /// A name follows.
    pub const HAS_NAME: u8 = 0x80;
}

const ROLE_NAMES: [&str; 16] = [
    "none",
    "companion",
    "repeater",
    "room",
    "sensor",
    "type-5",
    "type-6",
    "type-7",
    "type-8",
    "type-9",
    "type-10",
    "type-11",
    "type-12",
    "type-13",
    "type-14",
    "type-15",
];

/// The `nodes.role` value for an advert flags byte (`None` = no app data = `"companion"`),
/// as CoreScope's `advertRole`.
pub fn role_name(flags: Option<u8>) -> &'static str {
    match flags {
        None => "companion",
        Some(flags) => ROLE_NAMES[usize::from(flags & 0x0F)],
    }
}

/// Why an advert fails CoreScope's ingest gate (`ValidateAdvert`); such adverts are dropped.
#[derive(Clone, Debug, PartialEq)]
pub enum AdvertRejection {
    /// The public key is all zeros.
    ZeroPublicKey,
    /// Latitude outside -90..=90 (or not finite).
    LatitudeOutOfRange(f64),
    /// Longitude outside -180..=180 (or not finite).
    LongitudeOutOfRange(f64),
    /// The name holds a control byte (0x00-0x08, 0x0B, 0x0C, 0x0E-0x1F or 0x7F).
    NameHasControlCharacter,
    /// The name is longer than 64 bytes.
    NameTooLong(usize),
}

impl fmt::Display for AdvertRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroPublicKey => f.write_str("pubkey is all zeros"),
            Self::LatitudeOutOfRange(lat) => write!(f, "latitude {lat} out of range"),
            Self::LongitudeOutOfRange(lon) => write!(f, "longitude {lon} out of range"),
            Self::NameHasControlCharacter => f.write_str("name contains control characters"),
            Self::NameTooLong(len) => write!(f, "name too long ({len} bytes)"),
        }
    }
}

impl std::error::Error for AdvertRejection {}

/// CoreScope's `ValidateAdvert` gate (spec §8.3, ingest.md §4.4): a decoded advert with a
/// public key is stored only when this passes. The signature is checked separately
/// ([`Advert::signature_valid`]).
pub fn validate_advert(advert: &Advert) -> Result<(), AdvertRejection> {
    if advert.public_key.iter().all(|&b| b == 0) {
        return Err(AdvertRejection::ZeroPublicKey);
    }
    if let Some((lat, lon)) = advert.location() {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(AdvertRejection::LatitudeOutOfRange(lat));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(AdvertRejection::LongitudeOutOfRange(lon));
        }
    }
    if let Some(name) = &advert.name {
        if name
            .bytes()
            .any(|b| matches!(b, 0x00..=0x08 | 0x0B | 0x0C | 0x0E..=0x1F | 0x7F))
        {
            return Err(AdvertRejection::NameHasControlCharacter);
        }
        let len = name.len() + usize::from(advert.name_cut_bytes);
        if len > 64 {
            return Err(AdvertRejection::NameTooLong(len));
        }
    }
    Ok(())
}

/// Verifies an advert signature: Ed25519 (`verify`, not `verify_strict`, because the firmware's
/// verifier is lenient) of `payload[0..36] || payload[100..]` under the key `payload[0..32]`.
/// `payload` must be at least 100 bytes; shorter input is reported as invalid.
pub fn verify_advert_signature(payload: &[u8]) -> bool {
    let (Some(key), Some(signature)) = (payload.get(..32), payload.get(36..100)) else {
        return false;
    };
    let Ok(key) = <[u8; 32]>::try_from(key) else {
        return false;
    };
    let Ok(signature) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&key) else {
        return false;
    };
    let signature = Signature::from_bytes(&signature);
    // The signed message is at most 36 + 84 bytes for a legal payload; build it on the stack.
    let mut message = [0u8; 36 + 256];
    let app_data = &payload[100..];
    let Some(slot) = message.get_mut(36..36 + app_data.len()) else {
        return false;
    };
    slot.copy_from_slice(app_data);
    message[..36].copy_from_slice(&payload[..36]);
    key.verify(&message[..36 + app_data.len()], &signature)
        .is_ok()
}

/// A bounded cache of advert verification results. Real traffic hears each advert through
/// many observers, and a verification costs ~40 µs, so remembering results pays off.
///
/// Entries are keyed by SHA-256 of the whole signed payload (key, timestamp, signature and app
/// data), so a cached "valid" can never be reused for a different message. Two generations
/// bound memory: when the young one fills up, the old one is dropped.
pub(crate) struct SignatureCache {
    capacity: usize,
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    young: HashMap<[u8; 16], bool>,
    old: HashMap<[u8; 16], bool>,
}

impl SignatureCache {
    /// A cache remembering up to about `capacity` results (at most twice that).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            generations: Mutex::new(Generations::default()),
        }
    }

    /// Verifies `payload` (see [`verify_advert_signature`]), using a remembered result when
    /// there is one.
    pub(crate) fn verify(&self, payload: &[u8]) -> bool {
        let digest = Sha256::digest(payload);
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        if let Some(valid) = self.lookup(&key) {
            return valid;
        }
        let valid = verify_advert_signature(payload);
        if let Ok(mut generations) = self.generations.lock() {
            if generations.young.len() >= self.capacity {
                generations.old = std::mem::take(&mut generations.young);
            }
            generations.young.insert(key, valid);
        }
        valid
    }

    fn lookup(&self, key: &[u8; 16]) -> Option<bool> {
        let generations = self.generations.lock().ok()?;
        generations
            .young
            .get(key)
            .or_else(|| generations.old.get(key))
            .copied()
    }
}

impl fmt::Debug for SignatureCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_follow_the_reference() {
        assert_eq!(role_name(None), "companion");
        assert_eq!(role_name(Some(0x92)), "repeater");
        assert_eq!(role_name(Some(0x81)), "companion");
        assert_eq!(role_name(Some(0x00)), "none");
        assert_eq!(role_name(Some(0x93)), "room");
        assert_eq!(role_name(Some(0x94)), "sensor");
        assert_eq!(role_name(Some(0x0F)), "type-15");
    }

    #[test]
    fn short_payloads_never_verify() {
        assert!(!verify_advert_signature(&[]));
        assert!(!verify_advert_signature(&[0xAA; 99]));
        assert!(!verify_advert_signature(&[0xAA; 300]));
    }
}
