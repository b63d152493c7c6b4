//! Frame encoder: the inverse of the decoder (spec `protocol.md` §2-§6).
//!
//! A [`Frame`] is a typed description of one on-air packet: route type, optional transport
//! codes, the path and a typed [`Payload`]. [`Frame::emit`] writes it into a caller buffer
//! (no allocation) and [`Frame::to_vec`] returns it as a `Vec<u8>`. Encoding never panics:
//! impossible inputs (a path over 64 bytes, a payload over 184 bytes, a TRACE route that is not
//! a whole number of entries, ...) are reported as an [`EncodeError`].
//!
//! Everything that needs a key is computed here, exactly as the firmware does it:
//! * adverts are signed with Ed25519 over `pubkey || timestamp || app data`;
//! * channel payloads (GRP_TXT, GRP_DATA) are sealed with a [`ChannelKey`]
//!   (AES-128-ECB, zero padding, 2-byte HMAC first);
//! * peer payloads (REQ, RESPONSE, TXT_MSG, PATH, ANON_REQ) are sealed with a [`PeerSecret`],
//!   which is the real X25519 shared secret of the two nodes' Ed25519 keys
//!   ([`PeerSecret::ecdh`]), so a node that owns one of the two private keys could decrypt
//!   what the encoder produced;
//! * transport code 1 can be derived from a region name ([`TransportCodes::Region`]).

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::crypto::{CIPHER_BLOCK_SIZE, CIPHER_MAC_SIZE, ChannelKey, transport_code};
use crate::header::{
    MAX_PACKET_PAYLOAD, MAX_PATH_SIZE, PathLen, PayloadType, RouteType, header_byte,
};

/// The largest frame the encoder can produce: header, transport codes, path byte, a full path
/// and a full payload (254 bytes, within the firmware's 255-byte `MAX_TRANS_UNIT`).
pub const MAX_FRAME_SIZE: usize = 1 + 4 + 1 + MAX_PATH_SIZE + MAX_PACKET_PAYLOAD;
/// Largest advert app data the firmware emits (`MAX_ADVERT_DATA_SIZE`).
pub const MAX_ADVERT_DATA_SIZE: usize = 32;
/// Size of an Ed25519 public key and of the pubkey field of adverts and ANON_REQ.
pub const PUB_KEY_SIZE: usize = 32;
/// Size of an Ed25519 signature.
pub const SIGNATURE_SIZE: usize = 64;

/// Why a frame could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// Path entries must be 1, 2 or 3 bytes.
    InvalidHashSize(u8),
    /// The path is not a whole number of entries.
    PathNotWholeEntries {
        /// Bytes of path given.
        len: usize,
        /// Bytes per entry.
        hash_size: u8,
    },
    /// The path is longer than [`MAX_PATH_SIZE`] bytes or 63 entries.
    PathTooLong(usize),
    /// The payload would exceed [`MAX_PACKET_PAYLOAD`] bytes.
    PayloadTooLarge(usize),
    /// The caller's buffer is too small for the frame.
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// Route types 0 and 3 need transport codes; routes 1 and 2 cannot carry them.
    TransportCodesMismatch(RouteType),
    /// The payload version must fit in two bits (0..=3).
    InvalidVersion(u8),
    /// Advert location outside [-90, 90] x [-180, 180] or not finite.
    InvalidLocation,
    /// Advert app data over [`MAX_ADVERT_DATA_SIZE`] bytes (only raw app data can be too long;
    /// typed app data cuts the name to fit).
    AppDataTooLong(usize),
    /// A TRACE route that is not a whole number of `1 << (flags & 3)`-byte entries.
    TraceRouteNotWholeEntries {
        /// Bytes of route given.
        len: usize,
        /// Bytes per entry.
        entry_size: usize,
    },
    /// GRP_DATA data over 255 bytes (its length field is one byte).
    DataTooLong(usize),
    /// MULTIPART `remaining` must fit in 4 bits.
    InvalidRemaining(u8),
    /// A DISCOVER_RESP carries a full 32-byte key or an 8-byte prefix, nothing else.
    InvalidDiscoverKeyLength(usize),
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidHashSize(size) => write!(f, "path hash size {size} is not 1, 2 or 3"),
            Self::PathNotWholeEntries { len, hash_size } => {
                write!(
                    f,
                    "path of {len} bytes is not a whole number of {hash_size}-byte entries"
                )
            }
            Self::PathTooLong(len) => {
                write!(
                    f,
                    "path of {len} bytes exceeds {MAX_PATH_SIZE} bytes or 63 entries"
                )
            }
            Self::PayloadTooLarge(len) => {
                write!(
                    f,
                    "payload of {len} bytes exceeds {MAX_PACKET_PAYLOAD} bytes"
                )
            }
            Self::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "frame needs {needed} bytes but the buffer has {available}"
                )
            }
            Self::TransportCodesMismatch(route) => {
                write!(
                    f,
                    "route type {} and the presence of transport codes disagree",
                    route.name()
                )
            }
            Self::InvalidVersion(version) => write!(f, "payload version {version} exceeds 3"),
            Self::InvalidLocation => write!(f, "advert location is out of range or not finite"),
            Self::AppDataTooLong(len) => {
                write!(
                    f,
                    "advert app data of {len} bytes exceeds {MAX_ADVERT_DATA_SIZE} bytes"
                )
            }
            Self::TraceRouteNotWholeEntries { len, entry_size } => write!(
                f,
                "trace route of {len} bytes is not a whole number of {entry_size}-byte entries"
            ),
            Self::DataTooLong(len) => write!(f, "group data of {len} bytes exceeds 255 bytes"),
            Self::InvalidRemaining(remaining) => {
                write!(f, "multipart remaining count {remaining} exceeds 15")
            }
            Self::InvalidDiscoverKeyLength(len) => {
                write!(
                    f,
                    "discover response key of {len} bytes is neither 32 nor 8 bytes"
                )
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// A validated header path: `hop_count` entries of `hash_size` bytes each.
///
/// For flood frames the entries are the key prefixes of the repeaters that forwarded it (first
/// repeater first); for direct frames the remaining route; for TRACE the SNR bytes of the
/// completed hops (1-byte entries, see [`Path::trace_snrs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path<'a> {
    hash_size: u8,
    bytes: &'a [u8],
}

impl<'a> Path<'a> {
    /// A path of `bytes`, split in `hash_size`-byte entries (1, 2 or 3).
    pub fn new(hash_size: u8, bytes: &'a [u8]) -> Result<Self, EncodeError> {
        if !(1..=3).contains(&hash_size) {
            return Err(EncodeError::InvalidHashSize(hash_size));
        }
        if bytes.len() % usize::from(hash_size) != 0 {
            return Err(EncodeError::PathNotWholeEntries {
                len: bytes.len(),
                hash_size,
            });
        }
        if bytes.len() > MAX_PATH_SIZE || bytes.len() / usize::from(hash_size) > 63 {
            return Err(EncodeError::PathTooLong(bytes.len()));
        }
        Ok(Self { hash_size, bytes })
    }

    /// A path with no hops; the size bits still carry the originator's choice of entry size.
    pub fn empty(hash_size: u8) -> Result<Self, EncodeError> {
        Self::new(hash_size, &[])
    }

    /// The header path of a TRACE: one byte per completed hop, the SNR × 4 as `i8` bytes
    /// (see [`snr_to_byte`]).
    pub fn trace_snrs(snr_bytes: &'a [u8]) -> Result<Self, EncodeError> {
        Self::new(1, snr_bytes)
    }

    /// Bytes per entry.
    pub fn hash_size(&self) -> u8 {
        self.hash_size
    }

    /// Number of entries.
    pub fn hop_count(&self) -> usize {
        self.bytes.len() / usize::from(self.hash_size)
    }

    /// The raw path bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The path-length byte (spec §3.3).
    pub fn len_byte(&self) -> u8 {
        // `new` guarantees hop_count <= 63 and hash_size in 1..=3, so the casts are exact.
        PathLen {
            hash_size: self.hash_size,
            hop_count: self.hop_count() as u8,
        }
        .to_byte()
    }
}

/// The two transport codes of route types 0 and 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportCodes<'a> {
    /// Codes given as their wire bytes (code 1 then code 2).
    Wire {
        /// Transport code 1 ("region scope"), wire byte order.
        code1: [u8; 2],
        /// Transport code 2 (reserved, 0 in practice), wire byte order.
        code2: [u8; 2],
    },
    /// Code 1 computed over the payload for this region (`#` prepended if missing, spec §3.2),
    /// code 2 zero.
    Region(&'a str),
}

/// Advert type: the low nibble of the advert flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdvertType {
    /// No type (0).
    None,
    /// Companion/chat node (1).
    Chat,
    /// Repeater (2).
    Repeater,
    /// Room server (3).
    Room,
    /// Sensor (4).
    Sensor,
}

impl AdvertType {
    /// The 4-bit code in the flags byte.
    pub const fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Chat => 1,
            Self::Repeater => 2,
            Self::Room => 3,
            Self::Sensor => 4,
        }
    }
}

/// Typed advert app data (spec §6.4). Encoded as the firmware does: flags, then the optional
/// blocks in order, then the name cut at a UTF-8 boundary so that the whole fits in
/// [`MAX_ADVERT_DATA_SIZE`] bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdvertAppData<'a> {
    /// Node type.
    pub kind: AdvertType,
    /// Latitude and longitude in degrees.
    pub location: Option<(f64, f64)>,
    /// Feature word 1 (reserved by the firmware).
    pub feat1: Option<u16>,
    /// Feature word 2 (reserved by the firmware).
    pub feat2: Option<u16>,
    /// Node name.
    pub name: Option<&'a str>,
    /// Sensor telemetry after the name and a NUL (CoreScope's extension for sensor adverts,
    /// vector v100); the name is cut shorter to make room.
    pub telemetry: Option<SensorTelemetry>,
}

/// Battery and temperature a sensor appends to its advert app data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SensorTelemetry {
    /// Battery voltage, mV (CoreScope shows 1..=10000). CoreScope skips every NUL after the
    /// name before reading it, so a value whose low byte is 0 is misread there.
    pub battery_mv: u16,
    /// Temperature in hundredths of a degree Celsius (CoreScope shows -5000..=10000).
    pub temperature_centi_c: i16,
}

impl AdvertAppData<'_> {
    /// Writes the app data into `out` and returns its length (at most 32).
    pub fn encode(&self, out: &mut [u8; MAX_ADVERT_DATA_SIZE]) -> Result<usize, EncodeError> {
        let mut flags = self.kind.code();
        let mut len = 1;
        if let Some((lat, lon)) = self.location {
            let lat = microdegrees(lat, 90.0)?;
            let lon = microdegrees(lon, 180.0)?;
            flags |= 0x10;
            out[len..len + 4].copy_from_slice(&lat.to_le_bytes());
            out[len + 4..len + 8].copy_from_slice(&lon.to_le_bytes());
            len += 8;
        }
        if let Some(feat1) = self.feat1 {
            flags |= 0x20;
            out[len..len + 2].copy_from_slice(&feat1.to_le_bytes());
            len += 2;
        }
        if let Some(feat2) = self.feat2 {
            flags |= 0x40;
            out[len..len + 2].copy_from_slice(&feat2.to_le_bytes());
            len += 2;
        }
        let telemetry_len = if self.telemetry.is_some() { 5 } else { 0 };
        if let Some(name) = self.name {
            flags |= 0x80;
            let name = truncate_utf8(name, MAX_ADVERT_DATA_SIZE - len - telemetry_len);
            out[len..len + name.len()].copy_from_slice(name.as_bytes());
            len += name.len();
        }
        if let Some(telemetry) = self.telemetry {
            out[len] = 0;
            out[len + 1..len + 3].copy_from_slice(&telemetry.battery_mv.to_le_bytes());
            out[len + 3..len + 5].copy_from_slice(&telemetry.temperature_centi_c.to_le_bytes());
            len += 5;
        }
        out[0] = flags;
        Ok(len)
    }
}

/// The body of a peer datagram before encryption (spec §6.1, §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerBody<'a> {
    /// TXT_MSG: `timestamp | (txt_type << 2 | attempt) | text`.
    TxtMsg {
        /// Sender's clock, Unix seconds.
        timestamp: u32,
        /// 0 plain, 1 CLI command, 2 signed plain.
        txt_type: u8,
        /// Retry number (low two bits are sent).
        attempt: u8,
        /// UTF-8 text.
        text: &'a str,
    },
    /// REQ: `timestamp | request type | data`.
    Req {
        /// Sender's clock, Unix seconds.
        timestamp: u32,
        /// Request type (1 status, 2 keep-alive, 3 telemetry, ...).
        req_type: u8,
        /// Request data.
        data: &'a [u8],
    },
    /// RESPONSE: `tag | data` (the tag echoes the request's timestamp).
    Response {
        /// Echo of the request's timestamp.
        tag: u32,
        /// Response data.
        data: &'a [u8],
    },
    /// PATH: `path_len | path | extra_type | extra` (the path back to the sender).
    Path {
        /// The returned path.
        path: Path<'a>,
        /// Low 4 bits: type of the extra bytes (3 = ACK); 0xFF = none.
        extra_type: u8,
        /// Extra bytes (an ACK code, or 4 random bytes with 0xFF).
        extra: &'a [u8],
    },
}

impl PeerBody<'_> {
    fn payload_type(&self) -> PayloadType {
        match self {
            Self::TxtMsg { .. } => PayloadType::TxtMsg,
            Self::Req { .. } => PayloadType::Req,
            Self::Response { .. } => PayloadType::Response,
            Self::Path { .. } => PayloadType::Path,
        }
    }

    /// Length of the plaintext before padding.
    pub fn plaintext_len(&self) -> usize {
        match self {
            Self::TxtMsg { text, .. } => 5 + text.len(),
            Self::Req { data, .. } => 5 + data.len(),
            Self::Response { data, .. } => 4 + data.len(),
            Self::Path { path, extra, .. } => 1 + path.bytes().len() + 1 + extra.len(),
        }
    }

    /// Writes the plaintext (unpadded) into `out`, which must hold [`Self::plaintext_len`] bytes.
    fn write_plaintext(&self, out: &mut [u8]) {
        match *self {
            Self::TxtMsg {
                timestamp,
                txt_type,
                attempt,
                text,
            } => {
                out[..4].copy_from_slice(&timestamp.to_le_bytes());
                out[4] = (txt_type << 2) | (attempt & 3);
                out[5..5 + text.len()].copy_from_slice(text.as_bytes());
            }
            Self::Req {
                timestamp,
                req_type,
                data,
            } => {
                out[..4].copy_from_slice(&timestamp.to_le_bytes());
                out[4] = req_type;
                out[5..5 + data.len()].copy_from_slice(data);
            }
            Self::Response { tag, data } => {
                out[..4].copy_from_slice(&tag.to_le_bytes());
                out[4..4 + data.len()].copy_from_slice(data);
            }
            Self::Path {
                path,
                extra_type,
                extra,
            } => {
                out[0] = path.len_byte();
                let n = path.bytes().len();
                out[1..1 + n].copy_from_slice(path.bytes());
                out[1 + n] = extra_type;
                out[2 + n..2 + n + extra.len()].copy_from_slice(extra);
            }
        }
    }
}

/// CONTROL payloads (spec §6.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control<'a> {
    /// DISCOVER_REQ: `0x80 | prefix_only`, type filter, tag, optional `since`.
    DiscoverReq {
        /// Ask responders for an 8-byte key prefix instead of the full key.
        prefix_only: bool,
        /// Bit per advert type that should answer.
        type_filter: u8,
        /// Random tag echoed by the responses.
        tag: u32,
        /// Only nodes heard since this Unix time (optional).
        since: Option<u32>,
    },
    /// DISCOVER_RESP: `0x90 | node type`, SNR × 4, tag, 32-byte key or 8-byte prefix.
    DiscoverResp {
        /// Responder's advert type (low nibble).
        node_type: u8,
        /// SNR of the request as heard, × 4.
        snr_x4: i8,
        /// Echo of the request's tag.
        tag: u32,
        /// 32-byte public key or its 8-byte prefix.
        public_key: &'a [u8],
    },
}

/// A typed payload. See [`Frame`].
#[derive(Clone, Copy, Debug)]
pub enum Payload<'a> {
    /// ADVERT signed now with `key`.
    Advert {
        /// The advertising node's key; the public half goes in the payload.
        key: &'a SigningKey,
        /// Node clock, Unix seconds.
        timestamp: u32,
        /// App data.
        app_data: &'a AdvertAppData<'a>,
    },
    /// ADVERT from given parts (to rebuild a capture, or to forge a bad signature).
    SignedAdvert {
        /// Public key field.
        public_key: &'a [u8; PUB_KEY_SIZE],
        /// Timestamp field.
        timestamp: u32,
        /// Signature field, written verbatim.
        signature: &'a [u8; SIGNATURE_SIZE],
        /// Raw app data (at most 84 bytes so the payload fits).
        app_data: &'a [u8],
    },
    /// GRP_TXT: `channel hash | MAC | AES(timestamp | flags | text)`.
    GrpTxt {
        /// The channel's key.
        key: &'a ChannelKey,
        /// Sender's clock, Unix seconds.
        timestamp: u32,
        /// `txt_type << 2 | attempt`; senders use 0.
        flags: u8,
        /// `"<sender name>: <message>"`.
        text: &'a str,
    },
    /// GRP_DATA: `channel hash | MAC | AES(data_type u16 | data_len u8 | data)`.
    GrpData {
        /// The channel's key.
        key: &'a ChannelKey,
        /// Data type (0xFFFF = developer namespace).
        data_type: u16,
        /// Data bytes (at most 255, and the payload must fit).
        data: &'a [u8],
    },
    /// REQ, RESPONSE, TXT_MSG or PATH: `dest hash | src hash | MAC | ciphertext`.
    Peer {
        /// First byte of the destination's public key.
        dest_hash: u8,
        /// First byte of the sender's public key.
        src_hash: u8,
        /// The pair's shared secret.
        secret: &'a PeerSecret,
        /// What to encrypt; also decides the payload type.
        body: PeerBody<'a>,
    },
    /// ACK: 4-byte ack code, then optional attempt and random bytes (spec §6.3).
    Ack {
        /// Ack code in wire order (see [`ack_code`]).
        code: [u8; 4],
        /// Attempt byte (firmware >= 1.16).
        attempt: Option<u8>,
        /// Random byte making repeated attempts distinct (only written with `attempt`).
        rand: Option<u8>,
    },
    /// ANON_REQ: `dest hash | sender pubkey | MAC | ciphertext`.
    AnonReq {
        /// First byte of the destination's public key.
        dest_hash: u8,
        /// The sender's public key.
        sender: &'a [u8; PUB_KEY_SIZE],
        /// Shared secret of the sender and the destination.
        secret: &'a PeerSecret,
        /// Plaintext (e.g. `timestamp | password` for a login).
        plaintext: &'a [u8],
    },
    /// TRACE: `tag | auth | flags | route`; the header path holds the SNR bytes.
    Trace {
        /// Random tag.
        tag: u32,
        /// Auth code.
        auth: u32,
        /// Bits 0-1: route entries are `1 << (flags & 3)` bytes.
        flags: u8,
        /// The intended route.
        route: &'a [u8],
    },
    /// MULTIPART: `remaining << 4 | inner type`, then the inner payload.
    Multipart {
        /// Packets still to come (0..=15).
        remaining: u8,
        /// Type of the inner payload (ACK in practice).
        inner_type: PayloadType,
        /// Inner payload bytes.
        inner: &'a [u8],
    },
    /// CONTROL (node discovery).
    Control(Control<'a>),
    /// RAW_CUSTOM: application bytes.
    RawCustom(&'a [u8]),
    /// Any payload type with payload bytes given verbatim (reserved types, prebuilt payloads).
    Raw {
        /// The type to put in the header.
        payload_type: PayloadType,
        /// The payload bytes.
        bytes: &'a [u8],
    },
}

impl Payload<'_> {
    /// The payload type this payload goes out as.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Self::Advert { .. } | Self::SignedAdvert { .. } => PayloadType::Advert,
            Self::GrpTxt { .. } => PayloadType::GrpTxt,
            Self::GrpData { .. } => PayloadType::GrpData,
            Self::Peer { body, .. } => body.payload_type(),
            Self::Ack { .. } => PayloadType::Ack,
            Self::AnonReq { .. } => PayloadType::AnonReq,
            Self::Trace { .. } => PayloadType::Trace,
            Self::Multipart { .. } => PayloadType::Multipart,
            Self::Control(_) => PayloadType::Control,
            Self::RawCustom(_) => PayloadType::RawCustom,
            Self::Raw { payload_type, .. } => *payload_type,
        }
    }

    /// Validates the payload and returns its encoded length (which may exceed 184; the frame
    /// checks that).
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        let sealed =
            |plain: usize| CIPHER_MAC_SIZE + plain.div_ceil(CIPHER_BLOCK_SIZE) * CIPHER_BLOCK_SIZE;
        Ok(match self {
            Self::Advert { app_data, .. } => {
                // Validates the location and measures the (possibly cut) name.
                let mut scratch = [0u8; MAX_ADVERT_DATA_SIZE];
                PUB_KEY_SIZE + 4 + SIGNATURE_SIZE + app_data.encode(&mut scratch)?
            }
            Self::SignedAdvert { app_data, .. } => {
                PUB_KEY_SIZE + 4 + SIGNATURE_SIZE + app_data.len()
            }
            Self::GrpTxt { text, .. } => 1 + sealed(5 + text.len()),
            Self::GrpData { data, .. } => {
                if data.len() > usize::from(u8::MAX) {
                    return Err(EncodeError::DataTooLong(data.len()));
                }
                1 + sealed(3 + data.len())
            }
            Self::Peer { body, .. } => 2 + sealed(body.plaintext_len()),
            Self::Ack { attempt, rand, .. } => {
                4 + usize::from(attempt.is_some())
                    + usize::from(attempt.is_some() && rand.is_some())
            }
            Self::AnonReq { plaintext, .. } => 1 + PUB_KEY_SIZE + sealed(plaintext.len()),
            Self::Trace { flags, route, .. } => {
                let entry_size = 1usize << (flags & 3);
                if route.len() % entry_size != 0 {
                    return Err(EncodeError::TraceRouteNotWholeEntries {
                        len: route.len(),
                        entry_size,
                    });
                }
                9 + route.len()
            }
            Self::Multipart {
                remaining, inner, ..
            } => {
                if *remaining > 15 {
                    return Err(EncodeError::InvalidRemaining(*remaining));
                }
                1 + inner.len()
            }
            Self::Control(Control::DiscoverReq { since, .. }) => {
                6 + 4 * usize::from(since.is_some())
            }
            Self::Control(Control::DiscoverResp { public_key, .. }) => {
                if public_key.len() != 32 && public_key.len() != 8 {
                    return Err(EncodeError::InvalidDiscoverKeyLength(public_key.len()));
                }
                6 + public_key.len()
            }
            Self::RawCustom(bytes) | Self::Raw { bytes, .. } => bytes.len(),
        })
    }

    /// Writes the payload into `out`, which is exactly [`Self::encoded_len`] bytes long.
    fn write(&self, out: &mut [u8]) {
        match *self {
            Self::Advert {
                key,
                timestamp,
                app_data,
            } => {
                let public_key = key.verifying_key().to_bytes();
                let mut app = [0u8; MAX_ADVERT_DATA_SIZE];
                // Already validated by `encoded_len`; an error here cannot happen.
                let app_len = app_data.encode(&mut app).unwrap_or(0);
                let mut message = [0u8; PUB_KEY_SIZE + 4 + MAX_ADVERT_DATA_SIZE];
                message[..32].copy_from_slice(&public_key);
                message[32..36].copy_from_slice(&timestamp.to_le_bytes());
                message[36..36 + app_len].copy_from_slice(&app[..app_len]);
                let signature = key.sign(&message[..36 + app_len]).to_bytes();
                write_advert(out, &public_key, timestamp, &signature, &app[..app_len]);
            }
            Self::SignedAdvert {
                public_key,
                timestamp,
                signature,
                app_data,
            } => {
                write_advert(out, public_key, timestamp, signature, app_data);
            }
            Self::GrpTxt {
                key,
                timestamp,
                flags,
                text,
            } => {
                out[0] = key.hash();
                let body = &mut out[1 + CIPHER_MAC_SIZE..];
                body.fill(0);
                body[..4].copy_from_slice(&timestamp.to_le_bytes());
                body[4] = flags;
                body[5..5 + text.len()].copy_from_slice(text.as_bytes());
                seal_channel(key, &mut out[1..]);
            }
            Self::GrpData {
                key,
                data_type,
                data,
            } => {
                out[0] = key.hash();
                let body = &mut out[1 + CIPHER_MAC_SIZE..];
                body.fill(0);
                body[..2].copy_from_slice(&data_type.to_le_bytes());
                // `encoded_len` checked data.len() <= 255.
                body[2] = data.len() as u8;
                body[3..3 + data.len()].copy_from_slice(data);
                seal_channel(key, &mut out[1..]);
            }
            Self::Peer {
                dest_hash,
                src_hash,
                secret,
                body,
            } => {
                out[0] = dest_hash;
                out[1] = src_hash;
                let plain = &mut out[2 + CIPHER_MAC_SIZE..];
                plain.fill(0);
                body.write_plaintext(plain);
                secret.seal_in_place(&mut out[2..]);
            }
            Self::Ack {
                code,
                attempt,
                rand,
            } => {
                out[..4].copy_from_slice(&code);
                if let Some(attempt) = attempt {
                    out[4] = attempt;
                    if let Some(rand) = rand {
                        out[5] = rand;
                    }
                }
            }
            Self::AnonReq {
                dest_hash,
                sender,
                secret,
                plaintext,
            } => {
                out[0] = dest_hash;
                out[1..33].copy_from_slice(sender);
                let plain = &mut out[33 + CIPHER_MAC_SIZE..];
                plain.fill(0);
                plain[..plaintext.len()].copy_from_slice(plaintext);
                secret.seal_in_place(&mut out[33..]);
            }
            Self::Trace {
                tag,
                auth,
                flags,
                route,
            } => {
                out[..4].copy_from_slice(&tag.to_le_bytes());
                out[4..8].copy_from_slice(&auth.to_le_bytes());
                out[8] = flags;
                out[9..].copy_from_slice(route);
            }
            Self::Multipart {
                remaining,
                inner_type,
                inner,
            } => {
                out[0] = (remaining << 4) | inner_type.code();
                out[1..].copy_from_slice(inner);
            }
            Self::Control(Control::DiscoverReq {
                prefix_only,
                type_filter,
                tag,
                since,
            }) => {
                out[0] = 0x80 | u8::from(prefix_only);
                out[1] = type_filter;
                out[2..6].copy_from_slice(&tag.to_le_bytes());
                if let Some(since) = since {
                    out[6..10].copy_from_slice(&since.to_le_bytes());
                }
            }
            Self::Control(Control::DiscoverResp {
                node_type,
                snr_x4,
                tag,
                public_key,
            }) => {
                out[0] = 0x90 | (node_type & 0x0F);
                out[1] = snr_x4 as u8;
                out[2..6].copy_from_slice(&tag.to_le_bytes());
                out[6..].copy_from_slice(public_key);
            }
            Self::RawCustom(bytes) | Self::Raw { bytes, .. } => out.copy_from_slice(bytes),
        }
    }
}

/// One frame to encode.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Route type (bits 0-1 of the header).
    pub route: RouteType,
    /// Payload version (bits 6-7); 0 for everything the firmware sends.
    pub version: u8,
    /// Transport codes: required for route types 0 and 3, forbidden otherwise.
    pub transport: Option<TransportCodes<'a>>,
    /// Header path.
    pub path: Path<'a>,
    /// Payload.
    pub payload: Payload<'a>,
}

impl<'a> Frame<'a> {
    /// A FLOOD frame (no transport codes, version 0).
    pub fn flood(path: Path<'a>, payload: Payload<'a>) -> Self {
        Self {
            route: RouteType::Flood,
            version: 0,
            transport: None,
            path,
            payload,
        }
    }

    /// A DIRECT frame (no transport codes, version 0).
    pub fn direct(path: Path<'a>, payload: Payload<'a>) -> Self {
        Self {
            route: RouteType::Direct,
            version: 0,
            transport: None,
            path,
            payload,
        }
    }

    /// Total encoded length, after validating everything.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        if self.version > 3 {
            return Err(EncodeError::InvalidVersion(self.version));
        }
        if self.route.has_transport_codes() != self.transport.is_some() {
            return Err(EncodeError::TransportCodesMismatch(self.route));
        }
        let payload_len = self.payload.encoded_len()?;
        if payload_len > MAX_PACKET_PAYLOAD {
            return Err(EncodeError::PayloadTooLarge(payload_len));
        }
        let transport_len = if self.transport.is_some() { 4 } else { 0 };
        Ok(1 + transport_len + 1 + self.path.bytes().len() + payload_len)
    }

    /// Writes the frame at the start of `out` and returns its length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let total = self.encoded_len()?;
        if out.len() < total {
            return Err(EncodeError::BufferTooSmall {
                needed: total,
                available: out.len(),
            });
        }
        let out = &mut out[..total];
        let payload_type = self.payload.payload_type();
        out[0] = header_byte(self.route, payload_type, self.version);
        let mut pos = 1;
        if self.transport.is_some() {
            pos += 4;
        }
        out[pos] = self.path.len_byte();
        pos += 1;
        let path = self.path.bytes();
        out[pos..pos + path.len()].copy_from_slice(path);
        pos += path.len();
        let (head, payload) = out.split_at_mut(pos);
        self.payload.write(payload);
        match self.transport {
            Some(TransportCodes::Wire { code1, code2 }) => {
                head[1..3].copy_from_slice(&code1);
                head[3..5].copy_from_slice(&code2);
            }
            Some(TransportCodes::Region(region)) => {
                head[1..3].copy_from_slice(&transport_code(region, payload_type.code(), payload));
                head[3..5].copy_from_slice(&[0, 0]);
            }
            None => {}
        }
        Ok(total)
    }

    /// The encoded frame as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let mut buf = [0u8; MAX_FRAME_SIZE];
        let len = self.emit(&mut buf)?;
        Ok(buf[..len].to_vec())
    }
}

/// The shared secret of two nodes, with its AES key schedule and HMAC state ready.
///
/// MeshCore seals peer datagrams with the 32-byte X25519 secret: AES-128 uses its first 16
/// bytes, the 2-byte HMAC-SHA256 uses all 32 (spec §4).
#[derive(Clone)]
pub struct PeerSecret {
    cipher: Aes128,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PeerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSecret").finish_non_exhaustive()
    }
}

impl PeerSecret {
    /// Prepares a 32-byte secret.
    pub fn new(secret: &[u8; 32]) -> Self {
        let mut key16 = [0u8; 16];
        key16.copy_from_slice(&secret[..16]);
        let cipher = Aes128::new(&Array::from(key16));
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Self { cipher, mac }
    }

    /// The firmware's ECDH: X25519 of our Ed25519 private key (its SHA-512-expanded, clamped
    /// scalar) and the peer's Ed25519 public key mapped to Montgomery form. Both ends of a pair
    /// get the same secret.
    pub fn ecdh(own: &SigningKey, peer: &VerifyingKey) -> Self {
        Self::new(&ecdh_secret(own, peer))
    }

    /// Encrypt-then-MAC in place: `buf` = 2 MAC bytes followed by the zero-padded plaintext
    /// (a whole number of 16-byte blocks). A trailing partial block is left unencrypted.
    fn seal_in_place(&self, buf: &mut [u8]) {
        let (mac, body) = buf.split_at_mut(CIPHER_MAC_SIZE);
        for block in body.chunks_exact_mut(CIPHER_BLOCK_SIZE) {
            if let Ok(block) = <&mut Array<u8, _>>::try_from(block) {
                self.cipher.encrypt_block(block);
            }
        }
        let mut hmac = self.mac.clone();
        hmac.update(body);
        let tag = hmac.finalize().into_bytes();
        mac.copy_from_slice(&tag[..CIPHER_MAC_SIZE]);
    }
}

/// The raw 32-byte X25519 secret between `own` and `peer` (see [`PeerSecret::ecdh`]).
pub fn ecdh_secret(own: &SigningKey, peer: &VerifyingKey) -> [u8; 32] {
    peer.to_montgomery()
        .mul_clamped(own.to_scalar_bytes())
        .to_bytes()
}

/// The ACK code of a plain TXT_MSG: the first 4 bytes of
/// `SHA-256(timestamp | flags | text || author's public key)` (spec §6.3), in wire order.
pub fn ack_code(timestamp: u32, flags: u8, text: &str, author: &[u8; PUB_KEY_SIZE]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(timestamp.to_le_bytes());
    hasher.update([flags]);
    hasher.update(text.as_bytes());
    hasher.update(author);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// An SNR in dB as a TRACE/CONTROL byte: SNR × 4 rounded, saturated to `i8`, as its wire byte.
pub fn snr_to_byte(snr_db: f32) -> u8 {
    // `as` saturates and maps NaN to 0, which is what we want for a radio reading.
    ((snr_db * 4.0).round() as i8) as u8
}

/// The longest prefix of `text` that fits in `max` bytes without splitting a character.
pub fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn microdegrees(degrees: f64, limit: f64) -> Result<i32, EncodeError> {
    if !degrees.is_finite() || degrees.abs() > limit {
        return Err(EncodeError::InvalidLocation);
    }
    // |degrees| <= 180, so the product fits in i32.
    Ok((degrees * 1_000_000.0).round() as i32)
}

fn write_advert(
    out: &mut [u8],
    public_key: &[u8; PUB_KEY_SIZE],
    timestamp: u32,
    signature: &[u8; SIGNATURE_SIZE],
    app_data: &[u8],
) {
    out[..32].copy_from_slice(public_key);
    out[32..36].copy_from_slice(&timestamp.to_le_bytes());
    out[36..100].copy_from_slice(signature);
    out[100..100 + app_data.len()].copy_from_slice(app_data);
}

/// `buf` = 2 MAC bytes then the zero-padded plaintext; encrypts and fills in the MAC.
fn seal_channel(key: &ChannelKey, buf: &mut [u8]) {
    let (mac, body) = buf.split_at_mut(CIPHER_MAC_SIZE);
    key.encrypt_in_place(body);
    mac.copy_from_slice(&key.mac(body));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PUBLIC_CHANNEL_KEY;
    use ed25519_dalek::Verifier;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn public_grp_txt_re_encrypts_to_the_captured_bytes() {
        // v83: FLOOD GRP_TXT on Public, zero hops in 1-byte mode.
        let key = ChannelKey::new(PUBLIC_CHANNEL_KEY);
        let frame = Frame::flood(
            Path::empty(1).unwrap(),
            Payload::GrpTxt {
                key: &key,
                timestamp: 1758484279,
                flags: 0,
                text: "🌲 Tree: ☁️",
            },
        );
        let expected =
            unhex("150011C3C1354D619BAE9590E4D177DB7EEAF982F5BDCF78005D75157D9535FA90178F785D");
        assert_eq!(frame.to_vec().unwrap(), expected);
    }

    #[test]
    fn hashtag_grp_txt_with_three_byte_hops_matches_the_capture() {
        // v81: #bot, path 0x83 = 3 hops of 3 bytes.
        let key = ChannelKey::hashtag("#bot");
        let path = unhex("3fa002860ccae0eed9");
        let frame = Frame::flood(
            Path::new(3, &path).unwrap(),
            Payload::GrpTxt {
                key: &key,
                timestamp: 1772919297,
                flags: 0,
                text: "Roy B V4: P",
            },
        );
        assert_eq!(
            frame.to_vec().unwrap(),
            unhex("15833fa002860ccae0eed9ca78b9ab0775d477c1f6490a398bf4edc75240")
        );
    }

    #[test]
    fn grp_data_matches_the_synthetic_vector() {
        // v99: #test, data type 0xFFFF, "hello".
        let key = ChannelKey::hashtag("#test");
        let frame = Frame::flood(
            Path::empty(1).unwrap(),
            Payload::GrpData {
                key: &key,
                data_type: 0xFFFF,
                data: b"hello",
            },
        );
        assert_eq!(
            frame.to_vec().unwrap(),
            unhex("1900D93278E04B0107B9A4E5DEEF165A8DF6546EED")
        );
    }

    #[test]
    fn advert_layout_rebuilds_the_v50_capture() {
        let raw = unhex(
            "11451000D818206D3AAC152C8A91F89957E6D30CA51F36E28790228971C473B755F244F718754CF5EE4A2FD58D944466E42CDED140C66D0CC590183E32BAF40F112BE8F3F2BDF6012B4B2793C52F1D36F69EE054D9A05593286F78453E56C0EC4A3EB95DDA2A7543FCCC00B939CACC009278603902FC12BCF84B706120526F6F6620536F6C6172",
        );
        let payload = &raw[12..];
        let public_key: [u8; 32] = payload[..32].try_into().unwrap();
        let signature: [u8; 64] = payload[36..100].try_into().unwrap();
        // The typed app data must produce exactly the captured app data bytes.
        let mut app = [0u8; MAX_ADVERT_DATA_SIZE];
        let app_len = AdvertAppData {
            kind: AdvertType::Repeater,
            location: Some((37.31468, -121.8921)),
            feat1: None,
            feat2: None,
            name: Some("Kpa Roof Solar"),
            telemetry: None,
        }
        .encode(&mut app)
        .unwrap();
        assert_eq!(&app[..app_len], &payload[100..]);
        let frame = Frame::flood(
            Path::new(2, &raw[2..12]).unwrap(),
            Payload::SignedAdvert {
                public_key: &public_key,
                timestamp: 1715770509,
                signature: &signature,
                app_data: &app[..app_len],
            },
        );
        assert_eq!(frame.to_vec().unwrap(), raw);
        // And the captured signature verifies over what we laid out.
        let vk = VerifyingKey::from_bytes(&public_key).unwrap();
        let mut msg = payload[..36].to_vec();
        msg.extend_from_slice(&payload[100..]);
        vk.verify(&msg, &ed25519_dalek::Signature::from_bytes(&signature))
            .unwrap();
    }

    #[test]
    fn sensor_telemetry_rebuilds_v100() {
        let raw = unhex(
            "1200AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA78563412BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB9440933402E0E6B8F853656E736F723100740E220B",
        );
        let mut app = [0u8; MAX_ADVERT_DATA_SIZE];
        let app_len = AdvertAppData {
            kind: AdvertType::Sensor,
            location: Some((37.0, -122.1)),
            feat1: None,
            feat2: None,
            name: Some("Sensor1"),
            telemetry: Some(SensorTelemetry {
                battery_mv: 3700,
                temperature_centi_c: 2850,
            }),
        }
        .encode(&mut app)
        .unwrap();
        let frame = Frame::direct(
            Path::empty(1).unwrap(),
            Payload::SignedAdvert {
                public_key: &[0xAA; 32],
                timestamp: 0x12345678,
                signature: &[0xBB; 64],
                app_data: &app[..app_len],
            },
        );
        assert_eq!(frame.to_vec().unwrap(), raw);
        // A long name is cut so that the telemetry still fits in 32 bytes.
        let app_len = AdvertAppData {
            kind: AdvertType::Sensor,
            location: Some((37.0, -122.1)),
            feat1: None,
            feat2: None,
            name: Some("A very long sensor name indeed"),
            telemetry: Some(SensorTelemetry {
                battery_mv: 1,
                temperature_centi_c: -5,
            }),
        }
        .encode(&mut app)
        .unwrap();
        assert_eq!(app_len, MAX_ADVERT_DATA_SIZE);
        assert_eq!(&app[9..27], b"A very long sensor");
        assert_eq!(&app[27..], &[0, 1, 0, 0xFB, 0xFF]);
    }

    #[test]
    fn signed_adverts_verify_and_names_are_cut_at_a_character_boundary() {
        let sk = key(7);
        // 23 bytes of room after flags + location; "é" is 2 bytes and must not be split.
        let name = "Capitol Hill Repeaterée extra";
        let app_data = AdvertAppData {
            kind: AdvertType::Repeater,
            location: Some((47.6, -122.3)),
            feat1: None,
            feat2: None,
            name: Some(name),
            telemetry: None,
        };
        let frame = Frame::flood(
            Path::empty(1).unwrap(),
            Payload::Advert {
                key: &sk,
                timestamp: 1_780_000_000,
                app_data: &app_data,
            },
        );
        let raw = frame.to_vec().unwrap();
        assert_eq!(raw[0], 0x11);
        let payload = &raw[2..];
        assert_eq!(&payload[..32], sk.verifying_key().as_bytes());
        let app = &payload[100..];
        assert!(app.len() <= MAX_ADVERT_DATA_SIZE);
        assert_eq!(app[0], 0x92);
        let name_bytes = &app[9..];
        assert_eq!(
            std::str::from_utf8(name_bytes).unwrap(),
            "Capitol Hill Repeateré"
        );
        let mut msg = payload[..36].to_vec();
        msg.extend_from_slice(app);
        let sig = ed25519_dalek::Signature::from_bytes(payload[36..100].try_into().unwrap());
        sk.verifying_key().verify(&msg, &sig).unwrap();
    }

    #[test]
    fn trace_rebuilds_v52() {
        let route = unhex("C0DE1000DEDE");
        let snrs = [snr_to_byte(11.75), snr_to_byte(-2.0)];
        let frame = Frame::direct(
            Path::trace_snrs(&snrs).unwrap(),
            Payload::Trace {
                tag: 2820893201,
                auth: 0,
                flags: 1,
                route: &route,
            },
        );
        assert_eq!(
            frame.to_vec().unwrap(),
            unhex("26022FF8116A23A80000000001C0DE1000DEDE")
        );
        let bad = Frame::direct(
            Path::empty(1).unwrap(),
            Payload::Trace {
                tag: 1,
                auth: 0,
                flags: 1,
                route: &[1, 2, 3],
            },
        );
        assert_eq!(
            bad.to_vec(),
            Err(EncodeError::TraceRouteNotWholeEntries {
                len: 3,
                entry_size: 2
            })
        );
    }

    #[test]
    fn ack_multipart_and_control_rebuild_their_vectors() {
        let hops = unhex("B891647E");
        let inner = unhex("AABBCCDD0409");
        let prefix = unhex("0102030405060708");
        let ack = Frame::direct(
            Path::empty(1).unwrap(),
            Payload::Ack {
                code: [0xAA, 0xBB, 0xCC, 0xDD],
                attempt: Some(2),
                rand: Some(0x5A),
            },
        );
        assert_eq!(ack.to_vec().unwrap(), unhex("0E00AABBCCDD025A"));
        let flood_ack = Frame::flood(
            Path::new(1, &hops).unwrap(),
            Payload::Ack {
                code: [0xBB, 0x40, 0xBA, 0x70],
                attempt: None,
                rand: None,
            },
        );
        assert_eq!(flood_ack.to_vec().unwrap(), unhex("0D04B891647EBB40BA70"));
        let multi = Frame::direct(
            Path::empty(1).unwrap(),
            Payload::Multipart {
                remaining: 3,
                inner_type: PayloadType::Ack,
                inner: &inner,
            },
        );
        assert_eq!(multi.to_vec().unwrap(), unhex("2A0033AABBCCDD0409"));
        let req = Frame::direct(
            Path::empty(1).unwrap(),
            Payload::Control(Control::DiscoverReq {
                prefix_only: false,
                type_filter: 4,
                tag: 0x04030201,
                since: Some(0),
            }),
        );
        assert_eq!(req.to_vec().unwrap(), unhex("2E0080040102030400000000"));
        let resp = Frame::direct(
            Path::empty(1).unwrap(),
            Payload::Control(Control::DiscoverResp {
                node_type: 1,
                snr_x4: 8,
                tag: 0xDDCCBBAA,
                public_key: &prefix,
            }),
        );
        assert_eq!(
            resp.to_vec().unwrap(),
            unhex("2E009108AABBCCDD0102030405060708")
        );
    }

    #[test]
    fn transport_codes_are_computed_for_a_region() {
        // v87 carries a GRP_TXT with an unknown channel key; rebuild it from its payload bytes.
        let raw = unhex(
            "14FA1A0000034E927D596EA23622BCB4D5945E49348165AF7DABA3F5DCEED85F430E0856DB5B591E86AB3363BC00E1BA30776698F72FC57C7168E66A4875CDB710F3C175FC2B3FE75A036EF14FA59A709062D3A9FF7014F2E7A8512C",
        );
        let frame = Frame {
            route: RouteType::TransportFlood,
            version: 0,
            transport: Some(TransportCodes::Region("ottawa")),
            path: Path::new(1, &raw[6..9]).unwrap(),
            payload: Payload::Raw {
                payload_type: PayloadType::GrpTxt,
                bytes: &raw[9..],
            },
        };
        assert_eq!(frame.to_vec().unwrap(), raw);
    }

    #[test]
    fn peer_secrets_agree_and_txt_msgs_decrypt_with_them() {
        let (alice, bob) = (key(1), key(2));
        let ab = ecdh_secret(&alice, &bob.verifying_key());
        let ba = ecdh_secret(&bob, &alice.verifying_key());
        assert_eq!(ab, ba);
        assert_ne!(ab, ecdh_secret(&alice, &key(3).verifying_key()));
        let secret = PeerSecret::new(&ab);
        let body = PeerBody::TxtMsg {
            timestamp: 1_780_000_000,
            txt_type: 0,
            attempt: 1,
            text: "hi bob",
        };
        let frame = Frame::direct(
            Path::new(1, &[0x42, 0x43]).unwrap(),
            Payload::Peer {
                dest_hash: bob.verifying_key().as_bytes()[0],
                src_hash: alice.verifying_key().as_bytes()[0],
                secret: &secret,
                body,
            },
        );
        let raw = frame.to_vec().unwrap();
        assert_eq!(raw[0], 0x0A);
        assert_eq!(raw[1], 0x02);
        let payload = &raw[4..];
        assert_eq!(payload.len(), 4 + 16);
        // Decrypt with the other side's view of the secret.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&ba).unwrap();
        mac.update(&payload[4..]);
        assert_eq!(&mac.finalize().into_bytes()[..2], &payload[2..4]);
        let cipher = ChannelKey::new(ba[..16].try_into().unwrap());
        let mut plain = payload[4..].to_vec();
        cipher.decrypt_in_place(&mut plain);
        assert_eq!(&plain[..4], &1_780_000_000u32.to_le_bytes());
        assert_eq!(plain[4], 1);
        assert_eq!(&plain[5..11], b"hi bob");
    }

    #[test]
    fn impossible_inputs_are_errors_not_panics() {
        assert_eq!(Path::new(4, &[]), Err(EncodeError::InvalidHashSize(4)));
        assert_eq!(Path::new(0, &[]), Err(EncodeError::InvalidHashSize(0)));
        assert_eq!(
            Path::new(2, &[1, 2, 3]),
            Err(EncodeError::PathNotWholeEntries {
                len: 3,
                hash_size: 2
            })
        );
        assert_eq!(
            Path::new(1, &[0; 64]),
            Err(EncodeError::PathTooLong(64)),
            "64 hops > 63"
        );
        assert!(Path::new(2, &[0; 64]).is_ok());
        assert_eq!(Path::new(3, &[0; 66]), Err(EncodeError::PathTooLong(66)));
        let big = [0u8; 185];
        let frame = Frame::flood(Path::empty(1).unwrap(), Payload::RawCustom(&big));
        assert_eq!(frame.to_vec(), Err(EncodeError::PayloadTooLarge(185)));
        let frame = Frame::flood(Path::empty(1).unwrap(), Payload::RawCustom(&big[..184]));
        assert_eq!(frame.to_vec().unwrap().len(), 186);
        let key = ChannelKey::new(PUBLIC_CHANNEL_KEY);
        let long = "x".repeat(172);
        let frame = Frame::flood(
            Path::empty(1).unwrap(),
            Payload::GrpTxt {
                key: &key,
                timestamp: 1,
                flags: 0,
                text: &long,
            },
        );
        assert_eq!(
            frame.to_vec(),
            Err(EncodeError::PayloadTooLarge(1 + 2 + 192))
        );
        let frame = Frame::flood(
            Path::empty(1).unwrap(),
            Payload::GrpTxt {
                key: &key,
                timestamp: 1,
                flags: 0,
                text: &long[..171],
            },
        );
        // 171 + 5 = 176 plaintext bytes = 11 blocks, the most a payload can hold.
        assert_eq!(frame.to_vec().unwrap().len(), 2 + 1 + 2 + 176);
        let mut frame = Frame::flood(Path::empty(1).unwrap(), Payload::RawCustom(&[1]));
        frame.route = RouteType::TransportDirect;
        assert_eq!(
            frame.to_vec(),
            Err(EncodeError::TransportCodesMismatch(
                RouteType::TransportDirect
            ))
        );
        let mut small = [0u8; 2];
        let frame = Frame::flood(Path::empty(1).unwrap(), Payload::RawCustom(&[1]));
        assert_eq!(
            frame.emit(&mut small),
            Err(EncodeError::BufferTooSmall {
                needed: 3,
                available: 2
            })
        );
        let app = AdvertAppData {
            kind: AdvertType::Chat,
            location: Some((f64::NAN, 0.0)),
            feat1: None,
            feat2: None,
            name: None,
            telemetry: None,
        };
        let sk = SigningKey::from_bytes(&[9; 32]);
        let frame = Frame::flood(
            Path::empty(1).unwrap(),
            Payload::Advert {
                key: &sk,
                timestamp: 0,
                app_data: &app,
            },
        );
        assert_eq!(frame.to_vec(), Err(EncodeError::InvalidLocation));
        assert_eq!(snr_to_byte(f32::NAN), 0);
        assert_eq!(snr_to_byte(100.0), 0x7F);
        assert_eq!(snr_to_byte(-100.0), 0x80);
        assert_eq!(truncate_utf8("aé", 2), "a");
    }

    #[test]
    fn path_len_bytes_follow_the_spec_examples() {
        assert_eq!(Path::new(2, &[0; 10]).unwrap().len_byte(), 0x45);
        assert_eq!(Path::new(3, &[0; 9]).unwrap().len_byte(), 0x83);
        assert_eq!(Path::empty(2).unwrap().len_byte(), 0x40);
        assert_eq!(Path::new(1, &[0; 63]).unwrap().len_byte(), 0x3F);
    }
}

/// Round trips through the crate's decoder: whatever the encoder builds, the decoder reads
/// back with the same fields, signatures verify and channel messages decrypt.
#[cfg(test)]
mod round_trip {
    use super::*;
    use crate::crypto::PUBLIC_CHANNEL_KEY;
    use crate::{ChannelStatus, ControlDetail, Decoder, MultipartInner, Payload as Decoded};
    use proptest::prelude::*;

    fn decoder() -> Decoder {
        Decoder::builder().hashtag("#test").build()
    }

    fn arb_path() -> impl Strategy<Value = (u8, Vec<u8>)> {
        (1u8..=3).prop_flat_map(|size| {
            let max_hops = (MAX_PATH_SIZE / usize::from(size)).min(63);
            (
                Just(size),
                proptest::collection::vec(any::<u8>(), 0..=max_hops * usize::from(size)),
            )
                .prop_map(|(size, mut bytes)| {
                    bytes.truncate(bytes.len() / usize::from(size) * usize::from(size));
                    (size, bytes)
                })
        })
    }

    proptest! {
        #[test]
        fn channel_text_decrypts_to_what_was_sent(
            (size, path) in arb_path(),
            sender in "[A-Za-z0-9][A-Za-z0-9 ]{0,20}",
            message in "[A-Za-z0-9 .,!?]{1,80}",
            timestamp in 1u32..,
            public in any::<bool>(),
        ) {
            let key = if public { ChannelKey::new(PUBLIC_CHANNEL_KEY) } else { ChannelKey::hashtag("#test") };
            let text = format!("{sender}: {message}");
            let frame = Frame::flood(
                Path::new(size, &path).unwrap(),
                Payload::GrpTxt { key: &key, timestamp, flags: 0, text: &text },
            );
            let raw = frame.to_vec().unwrap();
            let packet = decoder().decode(&raw).unwrap();
            prop_assert_eq!(packet.path.hop_bytes(), &path[..]);
            let Decoded::GrpTxt(group) = &packet.payload else { panic!("{:?}", packet.payload) };
            let ChannelStatus::Text(decrypted) = &group.status else { panic!("{:?}", group.status) };
            prop_assert_eq!(&*decrypted.channel, if public { "Public" } else { "#test" });
            prop_assert_eq!(&decrypted.text, &text);
            prop_assert_eq!(decrypted.timestamp, timestamp);
        }

        #[test]
        fn adverts_verify_and_keep_their_fields(
            seed in any::<[u8; 32]>(),
            (size, path) in arb_path(),
            timestamp in any::<u32>(),
            name in "[A-Za-z0-9][A-Za-z0-9 ]{0,40}",
            lat in -90.0f64..=90.0,
            lon in -180.0f64..=180.0,
            located in any::<bool>(),
            kind in 0usize..4,
            // CoreScope skips every NUL after the name, so a battery value whose low byte is 0
            // would be misread by it (and by our decoder, which matches it).
            battery_mv in (1u16..=10_000).prop_filter("low byte 0", |b| b & 0xFF != 0),
            temperature_centi_c in -5_000i16..=10_000,
        ) {
            let key = SigningKey::from_bytes(&seed);
            let kinds = [AdvertType::Chat, AdvertType::Repeater, AdvertType::Room, AdvertType::Sensor];
            let sensor = kinds[kind] == AdvertType::Sensor;
            let telemetry = sensor.then_some(SensorTelemetry { battery_mv, temperature_centi_c });
            let app_data = AdvertAppData {
                kind: kinds[kind],
                location: located.then_some((lat, lon)),
                feat1: None,
                feat2: None,
                name: Some(&name),
                telemetry,
            };
            let frame = Frame::flood(
                Path::new(size, &path).unwrap(),
                Payload::Advert { key: &key, timestamp, app_data: &app_data },
            );
            let packet = decoder().decode(&frame.to_vec().unwrap()).unwrap();
            let Decoded::Advert(advert) = &packet.payload else { panic!("{:?}", packet.payload) };
            prop_assert_eq!(advert.signature_valid, Some(true));
            prop_assert_eq!(advert.public_key, key.verifying_key().to_bytes());
            prop_assert_eq!(advert.timestamp, timestamp);
            prop_assert_eq!(advert.advert_type(), Some(kinds[kind].code()));
            let room = if located { 23 } else { 31 } - if sensor { 5 } else { 0 };
            prop_assert_eq!(advert.name.as_deref(), Some(truncate_utf8(&name, room)));
            if sensor {
                prop_assert_eq!(advert.battery_mv, Some(battery_mv));
                prop_assert_eq!(advert.temperature_centi_c, Some(temperature_centi_c));
            } else {
                prop_assert_eq!(advert.battery_mv, None);
            }
            if located {
                let (dlat, dlon) = advert.location().unwrap();
                prop_assert!((dlat - lat).abs() < 1e-6 && (dlon - lon).abs() < 1e-6);
            } else {
                prop_assert_eq!(advert.location(), None);
            }
        }

        #[test]
        fn traces_acks_and_control_read_back(
            snrs in proptest::collection::vec(any::<u8>(), 0..10),
            flags in 0u8..3,
            entries in 1usize..8,
            tag in 1u32..,
            code in any::<[u8; 4]>(),
            attempt in proptest::option::of(any::<u8>()),
            rand in any::<u8>(),
            node_type in 0u8..16,
            snr_x4 in any::<i8>(),
        ) {
            let route: Vec<u8> = (0..entries << flags).map(|i| i as u8).collect();
            let frame = Frame::direct(
                Path::trace_snrs(&snrs).unwrap(),
                Payload::Trace { tag, auth: 0, flags, route: &route },
            );
            let packet = decoder().decode(&frame.to_vec().unwrap()).unwrap();
            let Decoded::Trace(trace) = &packet.payload else { panic!("{:?}", packet.payload) };
            prop_assert_eq!(trace.tag, tag);
            prop_assert_eq!(&trace.route, &route);
            let got: Vec<u8> = trace.snr_quarter_db.iter().map(|&q| q as u8).collect();
            prop_assert_eq!(got, snrs.clone());
            prop_assert_eq!(packet.path.hops_completed, Some(snrs.len() as u8));

            let frame = Frame::direct(
                Path::empty(1).unwrap(),
                Payload::Ack { code, attempt, rand: Some(rand) },
            );
            let packet = decoder().decode(&frame.to_vec().unwrap()).unwrap();
            let Decoded::Ack(ack) = packet.payload else { panic!("{:?}", packet.payload) };
            prop_assert_eq!(ack.code, code);
            prop_assert_eq!(ack.attempt, attempt);
            prop_assert_eq!(ack.random, attempt.map(|_| rand));

            let mut inner = code.to_vec();
            inner.extend([1, rand]);
            let frame = Frame::direct(
                Path::empty(1).unwrap(),
                Payload::Multipart { remaining: 2, inner_type: PayloadType::Ack, inner: &inner },
            );
            let packet = decoder().decode(&frame.to_vec().unwrap()).unwrap();
            let Decoded::Multipart(multi) = packet.payload else { panic!("{:?}", packet.payload) };
            prop_assert_eq!(multi.remaining, 2);
            let MultipartInner::Ack(ack) = multi.inner else { panic!("not an ack") };
            prop_assert_eq!(ack.code, code);

            let key = [7u8; 32];
            let frame = Frame::direct(
                Path::empty(1).unwrap(),
                Payload::Control(Control::DiscoverResp { node_type, snr_x4, tag, public_key: &key }),
            );
            let packet = decoder().decode(&frame.to_vec().unwrap()).unwrap();
            let Decoded::Control(control) = packet.payload else { panic!("{:?}", packet.payload) };
            let ControlDetail::DiscoverResp { node_type: got_type, snr, tag: got_tag, public_key } =
                control.detail else { panic!("not a discover response") };
            prop_assert_eq!(got_type, node_type);
            prop_assert_eq!(snr, Some(snr_x4));
            prop_assert_eq!(got_tag, Some(tag));
            prop_assert_eq!(public_key.as_deref(), Some(&key[..]));
        }

        #[test]
        fn peer_payloads_and_group_data_keep_their_envelope(
            (size, path) in arb_path(),
            dest in any::<u8>(),
            src in any::<u8>(),
            secret in any::<[u8; 32]>(),
            data in proptest::collection::vec(any::<u8>(), 0..120),
            region in proptest::option::of("[a-z]{2,8}"),
        ) {
            let secret = PeerSecret::new(&secret);
            let payload = Payload::Peer {
                dest_hash: dest,
                src_hash: src,
                secret: &secret,
                body: PeerBody::Req { timestamp: 5, req_type: 1, data: &data },
            };
            let mut frame = Frame::direct(Path::new(size, &path).unwrap(), payload);
            if let Some(region) = &region {
                frame.route = RouteType::TransportDirect;
                frame.transport = Some(TransportCodes::Region(region));
            }
            let raw = frame.to_vec().unwrap();
            let packet = decoder().decode(&raw).unwrap();
            let Decoded::Req(req) = &packet.payload else { panic!("{:?}", packet.payload) };
            prop_assert_eq!((req.dest_hash, req.src_hash), (dest, src));
            prop_assert_eq!(req.ciphertext.len(), (5 + data.len()).div_ceil(16) * 16);
            if let Some(region) = &region {
                let offset = raw.len() - packet.payload_bytes().len();
                let code = transport_code(region, 0, &raw[offset..]);
                prop_assert_eq!(&packet.transport_codes.unwrap().0[..2], &code[..]);
            }

            let key = ChannelKey::hashtag("#test");
            let data = &data[..data.len().min(150)];
            let frame = Frame::flood(
                Path::new(size, &path).unwrap(),
                Payload::GrpData { key: &key, data_type: 0xFFFF, data },
            );
            let packet = decoder().decode(&frame.to_vec().unwrap()).unwrap();
            let Decoded::GrpData(group) = &packet.payload else { panic!("{:?}", packet.payload) };
            let ChannelStatus::Data(decrypted) = &group.status else { panic!("{:?}", group.status) };
            prop_assert_eq!(&decrypted.data, &data.to_vec());
            prop_assert_eq!(decrypted.data_type, Some(0xFFFF));
        }
    }
}
