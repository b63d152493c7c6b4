//! The dedup hash (`transmissions.hash`, spec §7): the first 8 bytes of SHA-256 over the payload
//! type nibble, the path-length byte for TRACE, and the payload. Path, route, version and
//! transport codes are excluded, so every observer of one transmission computes the same value.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::hex;

/// A dedup hash: 8 bytes, rendered as 16 lower-case hex digits like CoreScope's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketHash(pub [u8; 8]);

impl PacketHash {
    /// The 8 hash bytes.
    pub const fn bytes(self) -> [u8; 8] {
        self.0
    }
}

impl fmt::Display for PacketHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// The hash CoreScope stores for a raw hex string: the real hash, or, when the string is not
/// valid hex or too short to locate the payload, the fallback CoreScope uses instead.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PacketHashOrFallback {
    /// The SHA-256 based hash.
    Hash(PacketHash),
    /// The first 16 characters of the input string (all of it if shorter), case preserved.
    Fallback(String),
}

impl PacketHashOrFallback {
    /// The real hash, if one could be computed.
    pub fn hash(&self) -> Option<PacketHash> {
        match self {
            Self::Hash(hash) => Some(*hash),
            Self::Fallback(_) => None,
        }
    }
}

impl fmt::Display for PacketHashOrFallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hash(hash) => hash.fmt(f),
            Self::Fallback(text) => f.write_str(text),
        }
    }
}

/// The dedup hash of a frame, or `None` when the frame is too short to locate its payload
/// (fewer than 2 bytes, no path byte, or a path that runs past the end). As in the reference,
/// the path byte is not validated here: size code 3 counts as 4-byte entries.
pub fn packet_hash(frame: &[u8]) -> Option<PacketHash> {
    if frame.len() < 2 {
        return None;
    }
    let header = frame[0];
    let mut offset = 1;
    if matches!(header & 0x03, 0 | 3) {
        offset += 4;
    }
    let path_byte = *frame.get(offset)?;
    offset += 1;
    let start = offset + (usize::from(path_byte >> 6) + 1) * usize::from(path_byte & 0x3F);
    let payload = frame.get(start..)?;
    let payload_type = (header >> 2) & 0x0F;
    let mut hasher = Sha256::new();
    if payload_type == 9 {
        // TRACE: the firmware hashes its uint16 path_len (little-endian) as well.
        hasher.update([payload_type, path_byte, 0x00]);
    } else {
        hasher.update([payload_type]);
    }
    hasher.update(payload);
    let digest = hasher.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    Some(PacketHash(out))
}

/// The dedup hash of a raw hex string exactly as received (no whitespace stripping; either
/// case), with CoreScope's fallback to the first 16 characters of the input.
pub fn packet_hash_hex(raw: &str) -> PacketHashOrFallback {
    // Frames are at most 255 bytes; decode on the stack when possible.
    let mut stack = [0u8; 256];
    let bytes = raw.as_bytes();
    let decoded: Option<PacketHash> = if bytes.len() <= 2 * stack.len() && bytes.len() % 2 == 0 {
        let n = bytes.len() / 2;
        let mut ok = true;
        for (slot, pair) in stack[..n].iter_mut().zip(bytes.chunks_exact(2)) {
            match (hex_digit(pair[0]), hex_digit(pair[1])) {
                (Some(high), Some(low)) => *slot = (high << 4) | low,
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok { packet_hash(&stack[..n]) } else { None }
    } else if bytes.len() % 2 == 0 {
        hex::decode(raw).ok().and_then(|frame| packet_hash(&frame))
    } else {
        None
    };
    match decoded {
        Some(hash) => PacketHashOrFallback::Hash(hash),
        None => PacketHashOrFallback::Fallback(fallback(raw)),
    }
}

const fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The first 16 characters of `raw`. Go slices bytes (`raw[:16]`); for valid hex input that is
/// the same thing, and for other input we cut at a character boundary so the result stays a
/// valid string.
fn fallback(raw: &str) -> String {
    if raw.len() <= 16 {
        return raw.to_owned();
    }
    let mut end = 16;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    raw[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_hash_includes_the_path_byte() {
        // Golden value from the CoreScope tests (v57).
        assert_eq!(
            packet_hash_hex("2502AABBDEADBEEF").to_string(),
            "b1baaf3bf0d0726c"
        );
        assert_eq!(
            packet_hash_hex("2502aabbdeadbeef").to_string(),
            "b1baaf3bf0d0726c"
        );
        // One more SNR byte appended by the next hop gives a different hash.
        assert_ne!(
            packet_hash_hex("2503AABBCCDEADBEEF").to_string(),
            "b1baaf3bf0d0726c"
        );
    }

    #[test]
    fn path_and_route_are_excluded() {
        let flood = packet_hash_hex("0100AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let direct = packet_hash_hex("0240AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let transport = packet_hash_hex("031122334400AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(flood.to_string(), "ae7e493927c6bc4e");
        assert_eq!(flood, direct);
        assert_eq!(flood, transport);
    }

    #[test]
    fn fallback_keeps_the_input_case_and_length() {
        assert_eq!(
            packet_hash_hex("ZZZZ"),
            PacketHashOrFallback::Fallback("ZZZZ".into())
        );
        assert_eq!(
            packet_hash_hex("120AAAAAAAAAAAaaaaaa").to_string(),
            "120AAAAAAAAAAAaa",
            "path claims more bytes than the frame has"
        );
        assert_eq!(
            packet_hash_hex("FF").to_string(),
            "FF",
            "a single byte has no path byte"
        );
        assert_eq!(
            packet_hash_hex("12 00").to_string(),
            "12 00",
            "spaces are not stripped"
        );
        assert_eq!(packet_hash_hex("ééééééééé").to_string(), "éééééééé");
        // An empty payload is fine: the hash covers just the type nibble.
        assert!(packet_hash_hex("0100").hash().is_some());
    }

    #[test]
    fn bytes_and_hex_entry_points_agree() {
        let frame = [0x15, 0x00, 0x11, 0xC3, 0xC1, 0x35];
        assert_eq!(packet_hash(&frame), packet_hash_hex("150011C3C135").hash());
        assert_eq!(packet_hash(&[0x14, 1, 2, 3, 4]), None);
    }
}
