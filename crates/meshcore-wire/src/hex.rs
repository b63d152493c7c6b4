//! Hex decoding with Go `encoding/hex` semantics and error texts, and allocation-free hex
//! encoding helpers.
//!
//! CoreScope reports hex errors verbatim (`invalid hex: encoding/hex: ...`), so the decoder
//! reproduces Go's checking order: pairs are checked left to right, the first invalid byte of a
//! pair wins, and an odd length is reported only after every complete pair was valid (and the
//! dangling last character is itself a hex digit).

use std::fmt;

/// Why a hex string could not be decoded; displays Go's `encoding/hex` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HexError {
    /// The string has an odd number of hex digits (`encoding/hex: odd length hex string`).
    OddLength,
    /// A byte that is not a hex digit (`encoding/hex: invalid byte: U+005A 'Z'`).
    InvalidByte(u8),
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::OddLength => f.write_str("encoding/hex: odd length hex string"),
            Self::InvalidByte(byte) => {
                // Go formats the byte as a rune with `%#U`: the quoted character follows only
                // when Go considers it printable (`strconv.IsPrint`).
                write!(f, "encoding/hex: invalid byte: U+{:04X}", byte)?;
                if go_is_print_latin1(byte) {
                    write!(f, " '{}'", char::from(byte))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for HexError {}

/// Go's `strconv.IsPrint` restricted to U+0000..U+00FF (the only runes a single byte yields).
fn go_is_print_latin1(byte: u8) -> bool {
    // ASCII space and graphic characters; in Latin-1 the no-break space (U+00A0) and the soft
    // hyphen (U+00AD) are not printable for Go, the C1 controls never are.
    matches!(byte, 0x20..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// Value of one hex digit (either case), or `None`.
const fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex digits (either case) into `out`, which is cleared first. Errors match Go's
/// `hex.DecodeString` exactly.
pub fn decode_into(src: &[u8], out: &mut Vec<u8>) -> Result<(), HexError> {
    out.clear();
    out.reserve(src.len() / 2);
    let mut pairs = src.chunks_exact(2);
    for pair in &mut pairs {
        let high = hex_value(pair[0]).ok_or(HexError::InvalidByte(pair[0]))?;
        let low = hex_value(pair[1]).ok_or(HexError::InvalidByte(pair[1]))?;
        out.push((high << 4) | low);
    }
    if let [last] = pairs.remainder() {
        return Err(match hex_value(*last) {
            None => HexError::InvalidByte(*last),
            Some(_) => HexError::OddLength,
        });
    }
    Ok(())
}

/// Decodes a hex string (either case) with Go's error semantics.
pub fn decode(src: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::new();
    decode_into(src.as_bytes(), &mut out)?;
    Ok(out)
}

const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends the lower-case hex of `bytes` to `out`.
pub fn push_lower(out: &mut String, bytes: &[u8]) {
    push_with(out, bytes, LOWER);
}

/// Appends the upper-case hex of `bytes` to `out`.
pub fn push_upper(out: &mut String, bytes: &[u8]) {
    push_with(out, bytes, UPPER);
}

fn push_with(out: &mut String, bytes: &[u8], digits: &[u8; 16]) {
    out.reserve(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(digits[usize::from(byte >> 4)]));
        out.push(char::from(digits[usize::from(byte & 0x0F)]));
    }
}

/// The lower-case hex of `bytes`.
pub fn lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_lower(&mut out, bytes);
    out
}

/// The upper-case hex of `bytes`.
pub fn upper(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_upper(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_like_go() {
        assert_eq!(
            decode("ZZZZ").unwrap_err().to_string(),
            "encoding/hex: invalid byte: U+005A 'Z'"
        );
        assert_eq!(
            decode("120").unwrap_err().to_string(),
            "encoding/hex: odd length hex string"
        );
        // The invalid dangling character is reported instead of the odd length.
        assert_eq!(
            decode("12G").unwrap_err().to_string(),
            "encoding/hex: invalid byte: U+0047 'G'"
        );
        // Non-printable bytes carry no quoted character.
        assert_eq!(
            decode("1\t").unwrap_err().to_string(),
            "encoding/hex: invalid byte: U+0009"
        );
        // A multi-byte UTF-8 character is reported by its first byte, as Go does.
        assert_eq!(
            decode("é0").unwrap_err().to_string(),
            "encoding/hex: invalid byte: U+00C3 'Ã'"
        );
        // The first bad byte of a pair wins over an invalid later pair.
        assert_eq!(decode("0xZZ").unwrap_err(), HexError::InvalidByte(b'x'));
    }

    #[test]
    fn decodes_both_cases_and_encodes_both_cases() {
        assert_eq!(decode("aBcD01").unwrap(), vec![0xAB, 0xCD, 0x01]);
        assert_eq!(lower(&[0xAB, 0x0F]), "ab0f");
        assert_eq!(upper(&[0xAB, 0x0F]), "AB0F");
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }
}
