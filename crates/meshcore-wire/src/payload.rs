//! Typed payloads, one variant per payload type, and their parsers (spec §6).
//!
//! Parsers never fail a packet: a payload too short for its layout becomes
//! [`Payload::Malformed`] (CoreScope's `payload.error`). Byte fields are kept as bytes; hex is
//! produced only when rendering JSON.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::advert::{advert_flag, advert_type};
use crate::header::PayloadType;

/// A decoded payload.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// REQ (0x00): encrypted request to a peer.
    Req(PeerDatagram),
    /// RESPONSE (0x01): encrypted response.
    Response(PeerDatagram),
    /// TXT_MSG (0x02): encrypted direct text message.
    TxtMsg(PeerDatagram),
    /// ACK (0x03).
    Ack(Ack),
    /// ADVERT (0x04): signed node advertisement.
    Advert(Advert),
    /// GRP_TXT (0x05): channel text; CoreScope calls it `CHAN` once decrypted.
    GrpTxt(GroupMessage),
    /// GRP_DATA (0x06): channel datagram.
    GrpData(GroupMessage),
    /// ANON_REQ (0x07): request carrying the sender's public key.
    AnonReq(AnonReq),
    /// PATH (0x08): returned path (encrypted; same envelope as REQ).
    Path(PeerDatagram),
    /// TRACE (0x09).
    Trace(Trace),
    /// MULTIPART (0x0A).
    Multipart(Multipart),
    /// CONTROL (0x0B).
    Control(Control),
    /// RAW_CUSTOM (0x0F): application bytes.
    RawCustom(Vec<u8>),
    /// Reserved type 12, 13 or 14 (`UNKNOWN`), with its payload bytes.
    Unknown {
        /// The 4-bit payload type.
        code: u8,
        /// The payload bytes.
        data: Vec<u8>,
    },
    /// A payload too short for its type's layout (CoreScope's partial decode with `error`).
    Malformed {
        /// The payload type from the header.
        payload_type: PayloadType,
        /// The payload bytes.
        data: Vec<u8>,
        /// What was wrong.
        error: PayloadError,
    },
}

/// Why a payload could not be parsed (`payload.error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// `"too short"`.
    TooShort,
    /// `"too short for advert"` (ADVERT payload under 100 bytes).
    TooShortForAdvert,
}

impl PayloadError {
    /// CoreScope's message.
    pub const fn message(self) -> &'static str {
        match self {
            Self::TooShort => "too short",
            Self::TooShortForAdvert => "too short for advert",
        }
    }
}

/// The envelope of REQ, RESPONSE, TXT_MSG and PATH: encrypted with a peer secret that a
/// passive analyzer cannot compute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerDatagram {
    /// First byte of the destination's public key.
    pub dest_hash: u8,
    /// First byte of the sender's public key.
    pub src_hash: u8,
    /// Truncated HMAC.
    pub mac: [u8; 2],
    /// The ciphertext (`encryptedData`, or `pathData` for PATH).
    pub ciphertext: Vec<u8>,
}

/// An acknowledgement (also the inner payload of a MULTIPART ACK).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The 4 ack-code bytes in wire order.
    pub code: [u8; 4],
    /// Payload length capped at 6 (`ackLen`).
    pub len: u8,
    /// Attempt byte (firmware >= 1.16), when present.
    pub attempt: Option<u8>,
    /// Random byte, when present.
    pub random: Option<u8>,
}

impl Ack {
    /// The ack code read as a little-endian u32, as CoreScope prints it (`extraHash`).
    pub const fn code_le(&self) -> u32 {
        u32::from_le_bytes(self.code)
    }
}

/// A node advertisement.
#[derive(Clone, Debug, PartialEq)]
pub struct Advert {
    /// The node's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The node's clock at signing time (Unix seconds).
    pub timestamp: u32,
    /// Ed25519 signature over key, timestamp and app data.
    pub signature: [u8; 64],
    /// Signature check result; `None` when validation is switched off.
    pub signature_valid: Option<bool>,
    /// The app-data flags byte; `None` when there is no app data.
    pub flags: Option<u8>,
    /// Latitude and longitude in millionths of a degree.
    pub location_micro: Option<(i32, i32)>,
    /// Feature word 1.
    pub feat1: Option<u16>,
    /// Feature word 2.
    pub feat2: Option<u16>,
    /// The sanitised name: cut at the first NUL, invalid UTF-8 replaced by U+FFFD, control
    /// characters (except TAB and LF) and DEL removed, cut to 32 bytes.
    pub name: Option<String>,
    /// Bytes of a multi-byte character split by the 32-byte cut (CoreScope renders each as
    /// U+FFFD); they are not part of [`Advert::name`].
    pub name_cut_bytes: u8,
    /// Sensor battery voltage in mV (sensor adverts, 1..=10000 only).
    pub battery_mv: Option<u16>,
    /// Sensor temperature in hundredths of a degree Celsius (-5000..=10000 only).
    pub temperature_centi_c: Option<i16>,
}

impl Advert {
    /// Latitude and longitude in degrees.
    pub fn location(&self) -> Option<(f64, f64)> {
        self.location_micro
            .map(|(lat, lon)| (f64::from(lat) / 1_000_000.0, f64::from(lon) / 1_000_000.0))
    }

    /// The advert type (low nibble of the flags).
    pub fn advert_type(&self) -> Option<u8> {
        self.flags.map(|flags| flags & 0x0F)
    }

    /// The `nodes.role` value (§6.4).
    pub fn role(&self) -> &'static str {
        crate::advert::role_name(self.flags)
    }

    /// Temperature in degrees Celsius.
    pub fn temperature_c(&self) -> Option<f64> {
        self.temperature_centi_c.map(|t| f64::from(t) / 100.0)
    }
}

/// A channel message (GRP_TXT or GRP_DATA).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupMessage {
    /// The channel hash byte (first byte of SHA-256 of the key).
    pub channel_hash: u8,
    /// Truncated HMAC.
    pub mac: [u8; 2],
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
    /// Outcome of the key search.
    pub status: ChannelStatus,
}

/// Outcome of decrypting a channel message.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelStatus {
    /// Not attempted: the ciphertext is shorter than 5 bytes (`no_key`).
    NoKey,
    /// No loaded key works (`decryption_failed`).
    DecryptionFailed,
    /// A GRP_TXT decrypted with a known key.
    Text(ChannelText),
    /// A GRP_DATA decrypted with a known key.
    Data(ChannelData),
}

impl ChannelStatus {
    /// CoreScope's `decryptionStatus`.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::NoKey => "no_key",
            Self::DecryptionFailed => "decryption_failed",
            Self::Text(_) | Self::Data(_) => "decrypted",
        }
    }

    /// The channel name when decrypted.
    pub fn channel(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(&text.channel),
            Self::Data(data) => Some(&data.channel),
            Self::NoKey | Self::DecryptionFailed => None,
        }
    }
}

/// A decrypted channel text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelText {
    /// The channel name (`"Public"`, `"#test"`, or a configured name).
    pub channel: Arc<str>,
    /// The sender's clock (Unix seconds).
    pub timestamp: u32,
    /// The flags byte (`txt_type << 2 | attempt`).
    pub flags: u8,
    /// The whole text up to the first NUL, usually `"<sender>: <message>"`.
    pub text: String,
    /// Byte length of the sender name at the start of `text`, when one was recognised (§6.5).
    pub sender_len: Option<usize>,
}

impl ChannelText {
    /// The sender name, when the text starts with one.
    pub fn sender(&self) -> Option<&str> {
        self.sender_len.and_then(|len| self.text.get(..len))
    }

    /// The message without the sender prefix.
    pub fn message(&self) -> &str {
        match self.sender_len {
            Some(len) => self.text.get(len + 2..).unwrap_or(""),
            None => &self.text,
        }
    }

    /// The `text` CoreScope reports: the full text, or nothing when the message after the
    /// sender is empty.
    pub fn reported_text(&self) -> &str {
        if self.message().is_empty() {
            ""
        } else {
            &self.text
        }
    }
}

/// A decrypted channel datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelData {
    /// The channel name.
    pub channel: Arc<str>,
    /// `data_type` (u16), when the plaintext has the 3-byte inner header.
    pub data_type: Option<u16>,
    /// `data_len`, when the plaintext has the 3-byte inner header.
    pub data_len: Option<u8>,
    /// The data bytes (empty on error).
    pub data: Vec<u8>,
    /// `"inner too short"` or `"inner data_len exceeds buffer"`.
    pub error: Option<&'static str>,
}

/// An anonymous request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnonReq {
    /// First byte of the destination's public key.
    pub dest_hash: u8,
    /// The sender's public key (CoreScope: `ephemeralPubKey`).
    pub sender_public_key: [u8; 32],
    /// Truncated HMAC.
    pub mac: [u8; 2],
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
}

/// A TRACE payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// Random tag of the trace.
    pub tag: u32,
    /// Auth code.
    pub auth_code: u32,
    /// Flags; bits 0-1 give the route entry size `1 << (flags & 3)`.
    pub flags: u8,
    /// The intended route (`pathData`).
    pub route: Vec<u8>,
    /// SNR bytes of completed hops (header path, SNR x 4), when the route is non-empty and the
    /// header path uses 1-byte entries.
    pub snr_quarter_db: SmallVec<[i8; 16]>,
}

impl Trace {
    /// Route entry size in bytes.
    pub const fn route_entry_size(&self) -> usize {
        1 << (self.flags & 3)
    }

    /// SNR of each completed hop in dB (`snrValues`).
    pub fn snr_db(&self) -> impl Iterator<Item = f64> + '_ {
        self.snr_quarter_db.iter().map(|&q| f64::from(q) / 4.0)
    }
}

/// A MULTIPART payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Multipart {
    /// Packets still to come.
    pub remaining: u8,
    /// Inner payload type (4 bits).
    pub inner_type: u8,
    /// The inner payload.
    pub inner: MultipartInner,
}

/// The inner payload of a MULTIPART.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultipartInner {
    /// An ACK (inner type 3 with at least 4 bytes).
    Ack(Ack),
    /// Anything else, as bytes (possibly empty).
    Bytes(Vec<u8>),
}

/// A CONTROL payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    /// The whole payload (`raw`); byte 0 is the flags byte.
    pub data: Vec<u8>,
    /// Sub-type specific fields.
    pub detail: ControlDetail,
}

impl Control {
    /// Byte 0.
    pub fn flags(&self) -> u8 {
        self.data.first().copied().unwrap_or(0)
    }
}

/// Sub-type specific CONTROL fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlDetail {
    /// DISCOVER_REQ (0x80-0x8F).
    DiscoverReq {
        /// Type filter (bit per advert type), with at least 6 bytes.
        filter: Option<u8>,
        /// Tag, with at least 6 bytes.
        tag: Option<u32>,
        /// "Since" timestamp, with at least 10 bytes.
        since: Option<u32>,
    },
    /// DISCOVER_RESP (0x90-0x9F).
    DiscoverResp {
        /// Node type (low nibble of byte 0).
        node_type: u8,
        /// Raw SNR byte (SNR x 4; CoreScope does not divide), with at least 6 bytes.
        snr: Option<i8>,
        /// Echoed tag, with at least 6 bytes.
        tag: Option<u32>,
        /// Public key (32 bytes) or its 8-byte prefix.
        public_key: Option<SmallVec<[u8; 32]>>,
    },
    /// Any other sub-type.
    Other,
}

impl ControlDetail {
    /// CoreScope's `ctrlSubtype`.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::DiscoverReq { .. } => "DISCOVER_REQ",
            Self::DiscoverResp { .. } => "DISCOVER_RESP",
            Self::Other => "UNKNOWN",
        }
    }
}

impl Payload {
    /// CoreScope's payload `type` string (`CHAN` for a decrypted GRP_TXT).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Req(_) => "REQ",
            Self::Response(_) => "RESPONSE",
            Self::TxtMsg(_) => "TXT_MSG",
            Self::Ack(_) => "ACK",
            Self::Advert(_) => "ADVERT",
            Self::GrpTxt(message) => match message.status {
                ChannelStatus::Text(_) => "CHAN",
                _ => "GRP_TXT",
            },
            Self::GrpData(_) => "GRP_DATA",
            Self::AnonReq(_) => "ANON_REQ",
            Self::Path(_) => "PATH",
            Self::Trace(_) => "TRACE",
            Self::Multipart(_) => "MULTIPART",
            Self::Control(_) => "CONTROL",
            Self::RawCustom(_) => "RAW_CUSTOM",
            Self::Unknown { .. } => "UNKNOWN",
            Self::Malformed { payload_type, .. } => payload_type.name(),
        }
    }

    /// The payload-level error, if the payload was too short for its layout.
    pub fn error(&self) -> Option<&'static str> {
        match self {
            Self::Malformed { error, .. } => Some(error.message()),
            Self::GrpData(GroupMessage {
                status: ChannelStatus::Data(data),
                ..
            }) => data.error,
            _ => None,
        }
    }
}

fn u16_le(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_le(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn i32_le(bytes: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

fn malformed(payload_type: PayloadType, data: &[u8], error: PayloadError) -> Payload {
    Payload::Malformed {
        payload_type,
        data: data.to_vec(),
        error,
    }
}

/// Parses the REQ/RESPONSE/TXT_MSG/PATH envelope.
pub(crate) fn parse_peer(data: &[u8]) -> Option<PeerDatagram> {
    Some(PeerDatagram {
        dest_hash: *data.first()?,
        src_hash: *data.get(1)?,
        mac: array(data, 2)?,
        ciphertext: data.get(4..)?.to_vec(),
    })
}

/// Parses an ACK body (4..=6 meaningful bytes).
pub(crate) fn parse_ack(data: &[u8]) -> Option<Ack> {
    Some(Ack {
        code: array(data, 0)?,
        // At most 6, so the cast is lossless.
        len: data.len().min(6) as u8,
        attempt: data.get(4).copied(),
        random: data.get(5).copied(),
    })
}

/// A signature check: `true` when the advert payload's signature is valid.
pub(crate) type SignatureCheck<'a> = dyn Fn(&[u8]) -> bool + 'a;

/// Parses an advert (§6.4); `verify` checks the signature when validation is on.
pub(crate) fn parse_advert(data: &[u8], verify: Option<&SignatureCheck<'_>>) -> Payload {
    let (Some(public_key), Some(timestamp), Some(signature)) = (
        array::<32>(data, 0),
        u32_le(data, 32),
        array::<64>(data, 36),
    ) else {
        return malformed(PayloadType::Advert, data, PayloadError::TooShortForAdvert);
    };
    let mut advert = Advert {
        public_key,
        timestamp,
        signature,
        signature_valid: verify.map(|verify| verify(data)),
        flags: None,
        location_micro: None,
        feat1: None,
        feat2: None,
        name: None,
        name_cut_bytes: 0,
        battery_mv: None,
        temperature_centi_c: None,
    };
    let app = &data[100..];
    if let Some(&flags) = app.first() {
        advert.flags = Some(flags);
        let mut at = 1;
        if flags & advert_flag::HAS_LOCATION != 0 {
            if let (Some(lat), Some(lon)) = (i32_le(app, at), i32_le(app, at + 4)) {
                advert.location_micro = Some((lat, lon));
                at += 8;
            }
        }
        if flags & advert_flag::HAS_FEAT1 != 0 {
            if let Some(feat) = u16_le(app, at) {
                advert.feat1 = Some(feat);
                at += 2;
            }
        }
        if flags & advert_flag::HAS_FEAT2 != 0 {
            if let Some(feat) = u16_le(app, at) {
                advert.feat2 = Some(feat);
                at += 2;
            }
        }
        if flags & advert_flag::HAS_NAME != 0 {
            let rest = app.get(at..).unwrap_or_default();
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let (name, cut) = sanitise_name(&rest[..end]);
            if !name.is_empty() || cut > 0 {
                advert.name = Some(name);
                advert.name_cut_bytes = cut;
            }
            at += end;
            while app.get(at) == Some(&0) {
                at += 1;
            }
        }
        if flags & 0x0F == advert_type::SENSOR {
            if let (Some(battery), Some(temperature)) = (u16_le(app, at), u16_le(app, at + 2)) {
                if (1..=10_000).contains(&battery) {
                    advert.battery_mv = Some(battery);
                }
                let temperature = temperature as i16;
                if (-5000..=10_000).contains(&temperature) {
                    advert.temperature_centi_c = Some(temperature);
                }
            }
        }
    }
    Payload::Advert(advert)
}

/// Most bytes of an advert name CoreScope keeps.
const MAX_NAME_BYTES: usize = 32;

/// CoreScope's name sanitising: invalid UTF-8 bytes become U+FFFD (one per byte, as Go's
/// decoder does), characters below 0x20 other than TAB and LF and DEL are removed, then the
/// result is cut to 32 bytes. Returns the whole characters kept and the number of bytes of a
/// character split by the cut.
fn sanitise_name(raw: &[u8]) -> (String, u8) {
    let mut name = String::with_capacity(raw.len().min(MAX_NAME_BYTES));
    let mut cut = 0u8;
    let mut push = |c: char, name: &mut String| -> bool {
        if (c < '\u{20}' && c != '\t' && c != '\n') || c == '\u{7f}' {
            return true;
        }
        let room = MAX_NAME_BYTES - name.len();
        if c.len_utf8() <= room {
            name.push(c);
            true
        } else {
            // At most 3 bytes of a 4-byte character can be left over.
            cut = room as u8;
            false
        }
    };
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if !push(c, &mut name) {
                return (name, cut);
            }
        }
        for _ in chunk.invalid() {
            if !push(char::REPLACEMENT_CHARACTER, &mut name) {
                return (name, cut);
            }
        }
    }
    (name, cut)
}

/// Parses an ANON_REQ.
pub(crate) fn parse_anon_req(data: &[u8]) -> Option<AnonReq> {
    Some(AnonReq {
        dest_hash: *data.first()?,
        sender_public_key: array(data, 1)?,
        mac: array(data, 33)?,
        ciphertext: data.get(35..)?.to_vec(),
    })
}

/// Parses a MULTIPART (at least 1 byte). An ACK inner type needs at least 4 ack bytes
/// (payload of 5 bytes or more); otherwise the inner bytes are reported raw.
pub(crate) fn parse_multipart(data: &[u8]) -> Option<Multipart> {
    let first = *data.first()?;
    let inner_type = first & 0x0F;
    let body = &data[1..];
    let inner = match parse_ack(body) {
        Some(ack) if inner_type == 3 => MultipartInner::Ack(ack),
        _ => MultipartInner::Bytes(body.to_vec()),
    };
    Some(Multipart {
        remaining: first >> 4,
        inner_type,
        inner,
    })
}

/// Parses a CONTROL (at least 1 byte).
pub(crate) fn parse_control(data: &[u8]) -> Option<Control> {
    let first = *data.first()?;
    let detail = match first & 0xF0 {
        0x80 => {
            let long = data.len() >= 6;
            ControlDetail::DiscoverReq {
                filter: if long { data.get(1).copied() } else { None },
                tag: if long { u32_le(data, 2) } else { None },
                since: if data.len() >= 10 {
                    u32_le(data, 6)
                } else {
                    None
                },
            }
        }
        0x90 => {
            let long = data.len() >= 6;
            let public_key = if !long {
                None
            } else if let Some(key) = data.get(6..38) {
                Some(SmallVec::from_slice(key))
            } else {
                data.get(6..14).map(SmallVec::from_slice)
            };
            ControlDetail::DiscoverResp {
                node_type: first & 0x0F,
                snr: if long {
                    data.get(1).map(|&b| b as i8)
                } else {
                    None
                },
                tag: if long { u32_le(data, 2) } else { None },
                public_key,
            }
        }
        _ => ControlDetail::Other,
    };
    Some(Control {
        data: data.to_vec(),
        detail,
    })
}

/// Parses the fixed part of a TRACE (at least 9 bytes); SNR values are filled in by the frame
/// decoder, which knows the header path.
pub(crate) fn parse_trace(data: &[u8]) -> Option<Trace> {
    Some(Trace {
        tag: u32_le(data, 0)?,
        auth_code: u32_le(data, 4)?,
        flags: *data.get(8)?,
        route: data.get(9..)?.to_vec(),
        snr_quarter_db: SmallVec::new(),
    })
}

/// Builds the payload for types whose parse failed for lack of bytes.
pub(crate) fn too_short(payload_type: PayloadType, data: &[u8]) -> Payload {
    malformed(payload_type, data, PayloadError::TooShort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_like_corescope() {
        assert_eq!(sanitise_name(b"Kpa Roof"), ("Kpa Roof".to_owned(), 0));
        assert_eq!(
            sanitise_name(b"a\x01b\rc\td\ne\x7f"),
            ("abc\td\ne".to_owned(), 0)
        );
        // Invalid bytes become one U+FFFD each (Go semantics), a truncated sequence too.
        assert_eq!(sanitise_name(b"x\xE2\x82y").0, "x\u{FFFD}\u{FFFD}y");
        // The cut is at 32 bytes; a split character leaves its bytes counted in `cut`.
        let long = "A".repeat(30) + "🌳";
        assert_eq!(sanitise_name(long.as_bytes()), ("A".repeat(30), 2));
        assert_eq!(
            sanitise_name("B".repeat(40).as_bytes()),
            ("B".repeat(32), 0)
        );
    }
}
