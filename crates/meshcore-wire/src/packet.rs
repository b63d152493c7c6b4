//! Frame decoding (spec §8): the [`Decoder`] with its key set and options, the decoded
//! [`Packet`], and the reference's frame-level errors.

use std::collections::HashMap;
use std::sync::Arc;

use smallvec::SmallVec;
use thiserror::Error;

use crate::advert::{SignatureCache, verify_advert_signature};
use crate::channel::{self, BUNDLED_HASHTAGS, ChannelTable};
use crate::crypto::{ChannelKey, hashtag_key};
use crate::hash::{PacketHash, packet_hash};
use crate::header::{MAX_PACKET_PAYLOAD, PathLen, PayloadType, RouteType};
use crate::hex::{self, HexError};
use crate::payload::{self, ChannelStatus, GroupMessage, Payload};

/// Why a frame was rejected. Displays CoreScope's exact message; such frames are not stored.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input is not hex (after removing spaces, CR and LF).
    #[error("invalid hex: {0}")]
    InvalidHex(HexError),
    /// Fewer than 2 bytes.
    #[error("packet too short (need at least header + pathLength)")]
    TooShort,
    /// A transport route without room for the 4 code bytes.
    #[error("packet too short for transport codes")]
    TooShortForTransportCodes,
    /// No path-length byte after the header (and transport codes).
    #[error("packet too short (no path byte)")]
    NoPathByte,
    /// The path-length byte violates the firmware's rule (size code 3, or more than 64 bytes).
    #[error(
        "invalid path encoding: pathByte 0x{path_byte:02X} (hash_size={} hash_count={}) violates firmware validity (Packet.cpp:13-18, MAX_PATH_SIZE=64)",
        (path_byte >> 6) + 1,
        path_byte & 0x3F
    )]
    InvalidPathEncoding {
        /// The offending path-length byte.
        path_byte: u8,
    },
    /// The path runs past the end of the frame.
    #[error(
        "packet path length ({claimed} bytes claimed by pathByte 0x{path_byte:02X}) exceeds buffer ({frame_len} bytes)"
    )]
    PathExceedsBuffer {
        /// Path bytes the path-length byte claims.
        claimed: usize,
        /// The path-length byte.
        path_byte: u8,
        /// Total frame length.
        frame_len: usize,
    },
    /// The payload is longer than the firmware accepts.
    #[error("packet payload ({0} bytes) exceeds firmware MAX_PACKET_PAYLOAD=184 (MeshCore.h:19)")]
    PayloadTooLarge(usize),
}

/// Why a configured channel key was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ChannelKeyError {
    /// The key is not 32 hex digits.
    #[error("channel key for {name:?} must be 32 hex digits (16 bytes)")]
    BadKey {
        /// The channel name.
        name: String,
    },
}

/// The header byte, split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Route type (bits 0-1).
    pub route: RouteType,
    /// Payload type (bits 2-5).
    pub payload_type: PayloadType,
    /// Payload version (bits 6-7); not enforced, as in CoreScope.
    pub version: u8,
}

impl Header {
    /// Splits a header byte.
    pub const fn from_byte(byte: u8) -> Self {
        Self {
            route: RouteType::from_header(byte),
            payload_type: PayloadType::from_header(byte),
            version: byte >> 6,
        }
    }
}

/// The two transport codes, as the 4 wire bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransportCodes(pub [u8; 4]);

impl TransportCodes {
    /// Code 1 ("region scope") wire bytes.
    pub const fn code1(self) -> [u8; 2] {
        [self.0[0], self.0[1]]
    }

    /// Code 2 wire bytes.
    pub const fn code2(self) -> [u8; 2] {
        [self.0[2], self.0[3]]
    }
}

/// The path as CoreScope reports it (`path` object, §9.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// Reported entry size: 1-3 from the path byte, 0 for zero-hop DIRECT/TRANSPORT_DIRECT
    /// (not TRACE), and 1/2/4/8 for a TRACE route.
    pub hash_size: u8,
    /// Reported entry count (for TRACE, the number of route entries).
    pub hash_count: u8,
    /// For TRACE with a route: hops completed so far (number of SNR bytes).
    pub hops_completed: Option<u8>,
    /// Bytes per entry in `hop_bytes` (at least 1).
    entry_size: u8,
    /// The entries, concatenated.
    hop_bytes: SmallVec<[u8; 64]>,
}

impl Path {
    /// The hops, each `entry_size` bytes (node key prefixes).
    pub fn hops(&self) -> std::slice::ChunksExact<'_, u8> {
        self.hop_bytes
            .chunks_exact(usize::from(self.entry_size.max(1)))
    }

    /// The hop bytes, concatenated.
    pub fn hop_bytes(&self) -> &[u8] {
        &self.hop_bytes
    }
}

/// A packet-level anomaly CoreScope records with the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anomaly {
    /// TRACE payload shorter than 9 bytes.
    TraceTooShort,
    /// TRACE sent with a flood route.
    TraceNotDirect,
}

impl Anomaly {
    /// CoreScope's message.
    pub const fn message(self) -> &'static str {
        match self {
            Self::TraceTooShort => "TRACE payload decode failed: too short",
            Self::TraceNotDirect => {
                "TRACE packet with non-DIRECT routing (expected DIRECT or TRANSPORT_DIRECT)"
            }
        }
    }
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    /// The header byte, split.
    pub header: Header,
    /// Transport codes (routes 0 and 3 only).
    pub transport_codes: Option<TransportCodes>,
    /// The path as reported.
    pub path: Path,
    /// The payload.
    pub payload: Payload,
    /// Anomaly, if any.
    pub anomaly: Option<Anomaly>,
    /// The whole frame.
    pub raw: Vec<u8>,
}

impl Packet {
    /// The dedup hash of the frame bytes (§7). For frames received as hex, prefer
    /// [`crate::packet_hash_hex`] on the string as received: it gives the same value for
    /// clean hex, and CoreScope's fallback when the string needed cleaning.
    pub fn hash(&self) -> Option<PacketHash> {
        packet_hash(&self.raw)
    }

    /// `observations.path_json`: JSON array of upper-case hops (`"[]"` when empty); for TRACE
    /// the route hops (this is the decoded path in both cases).
    pub fn observation_path_json(&self) -> String {
        let mut out = String::with_capacity(2 + self.path.hop_bytes.len() * 3);
        crate::json::write_hops(&mut out, &self.path);
        out
    }

    /// `transmissions.channel_hash`: for GRP_TXT the channel name when decrypted, else
    /// `enc_XX` with the upper-case hash byte; `None` for other types.
    pub fn channel_hash_column(&self) -> Option<String> {
        match &self.payload {
            Payload::GrpTxt(message) => Some(match &message.status {
                ChannelStatus::Text(text) => text.channel.to_string(),
                _ => format!("enc_{:02X}", message.channel_hash),
            }),
            _ => None,
        }
    }

    /// `transmissions.from_pubkey`: the advert's public key in lower-case hex.
    pub fn from_pubkey_column(&self) -> Option<String> {
        match &self.payload {
            Payload::Advert(advert) => Some(hex::lower(&advert.public_key)),
            _ => None,
        }
    }

    /// Whether the frame is "transport scoped": it has transport codes and code 1 is not
    /// `0000` (CoreScope's condition for trying to match a region).
    pub fn is_transport_scoped(&self) -> bool {
        self.transport_codes
            .is_some_and(|codes| codes.code1() != [0, 0])
    }

    /// The first region whose transport code matches code 1 (`transmissions.scope_name`,
    /// CoreScope's `matchScope` over the `hashRegions` config): `#` is prepended to names
    /// without one. `None` when the frame is not transport scoped or no region matches.
    pub fn match_scope<'r>(&self, regions: impl IntoIterator<Item = &'r str>) -> Option<&'r str> {
        if !self.is_transport_scoped() {
            return None;
        }
        let code1 = self.transport_codes?.code1();
        let payload_type = self.header.payload_type.code();
        let payload = self.payload_bytes();
        regions
            .into_iter()
            .find(|region| crate::crypto::transport_code(region, payload_type, payload) == code1)
    }

    /// The payload bytes (everything after the path).
    pub fn payload_bytes(&self) -> &[u8] {
        let header = self.raw.first().copied().unwrap_or(0);
        let mut at = 1 + if RouteType::from_header(header).has_transport_codes() {
            4
        } else {
            0
        };
        let path_len = self
            .raw
            .get(at)
            .map_or(0, |&b| PathLen::from_byte(b).byte_len());
        at += 1 + path_len;
        self.raw.get(at..).unwrap_or_default()
    }
}

/// Decodes frames: holds the channel keys and options. Build once and share (`Send + Sync`).
///
/// Channel messages are tried only against keys whose channel hash byte matches the frame's,
/// MAC first, AES only after a MAC match. CoreScope instead tries every key in random order
/// (spec §11.5); see [`crate::channel`] for when the two can differ.
///
/// Advert signatures are verified with a small cache (default 4096 results, keyed by SHA-256
/// of the whole advert payload), because every observer reports the same advert.
#[derive(Debug)]
pub struct Decoder {
    channels: ChannelTable,
    validate_signatures: bool,
    signature_cache: Option<SignatureCache>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Default capacity of the advert verification cache.
const DEFAULT_SIGNATURE_CACHE: usize = 4096;

impl Decoder {
    /// A decoder with only the Public channel key, validating advert signatures (with a cache).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a decoder configuration.
    pub fn builder() -> DecoderBuilder {
        DecoderBuilder::new()
    }

    /// Number of channel keys loaded.
    pub fn channel_key_count(&self) -> usize {
        self.channels.len()
    }

    /// Names of the loaded channel keys, in load order.
    pub fn channel_names(&self) -> impl Iterator<Item = &str> {
        self.channels.names()
    }

    /// Whether advert signatures are checked.
    pub fn validates_signatures(&self) -> bool {
        self.validate_signatures
    }

    /// Decodes a hex frame as CoreScope does: spaces, CR and LF are removed first, either
    /// case is accepted.
    pub fn decode_hex(&self, hex_frame: &str) -> Result<Packet, DecodeError> {
        let mut frame = Vec::with_capacity(hex_frame.len() / 2);
        if hex_frame.bytes().any(|b| matches!(b, b' ' | b'\r' | b'\n')) {
            let cleaned: Vec<u8> = hex_frame
                .bytes()
                .filter(|b| !matches!(b, b' ' | b'\r' | b'\n'))
                .collect();
            hex::decode_into(&cleaned, &mut frame)
        } else {
            hex::decode_into(hex_frame.as_bytes(), &mut frame)
        }
        .map_err(DecodeError::InvalidHex)?;
        self.decode_owned(frame)
    }

    /// Decodes a frame.
    pub fn decode(&self, frame: &[u8]) -> Result<Packet, DecodeError> {
        // Check before copying, so rejected frames cost no allocation.
        check_frame(frame)?;
        self.decode_owned(frame.to_vec())
    }

    fn decode_owned(&self, raw: Vec<u8>) -> Result<Packet, DecodeError> {
        let layout = check_frame(&raw)?;
        let header = Header::from_byte(raw[0]);
        let transport_codes = layout.transport.map(TransportCodes);
        let path_len = PathLen::from_byte(layout.path_byte);
        let path_bytes = &raw[layout.path_start..layout.payload_start];
        let data = &raw[layout.payload_start..];
        let mut path = Path {
            hash_size: path_len.hash_size,
            hash_count: path_len.hop_count,
            hops_completed: None,
            entry_size: path_len.hash_size,
            hop_bytes: SmallVec::from_slice(path_bytes),
        };
        let mut anomaly = None;
        let payload_type = header.payload_type;
        let payload = match payload_type {
            PayloadType::Req => peer(payload_type, data, Payload::Req),
            PayloadType::Response => peer(payload_type, data, Payload::Response),
            PayloadType::TxtMsg => peer(payload_type, data, Payload::TxtMsg),
            PayloadType::Path => peer(payload_type, data, Payload::Path),
            PayloadType::Ack => match payload::parse_ack(data) {
                Some(ack) => Payload::Ack(ack),
                None => payload::too_short(payload_type, data),
            },
            PayloadType::Advert => {
                let verify = |payload: &[u8]| match &self.signature_cache {
                    Some(cache) => cache.verify(payload),
                    None => verify_advert_signature(payload),
                };
                payload::parse_advert(
                    data,
                    if self.validate_signatures {
                        Some(&verify)
                    } else {
                        None
                    },
                )
            }
            PayloadType::GrpTxt | PayloadType::GrpData => match data {
                [hash, mac0, mac1, ciphertext @ ..] => {
                    let mac = [*mac0, *mac1];
                    let status = if payload_type == PayloadType::GrpTxt {
                        self.channels.decrypt_text(*hash, mac, ciphertext)
                    } else {
                        self.channels.decrypt_data(*hash, mac, ciphertext)
                    };
                    let message = GroupMessage {
                        channel_hash: *hash,
                        mac,
                        ciphertext: ciphertext.to_vec(),
                        status,
                    };
                    if payload_type == PayloadType::GrpTxt {
                        Payload::GrpTxt(message)
                    } else {
                        Payload::GrpData(message)
                    }
                }
                _ => payload::too_short(payload_type, data),
            },
            PayloadType::AnonReq => match payload::parse_anon_req(data) {
                Some(request) => Payload::AnonReq(request),
                None => payload::too_short(payload_type, data),
            },
            PayloadType::Trace => match payload::parse_trace(data) {
                Some(mut trace) => {
                    if !trace.route.is_empty() {
                        if path_len.hash_size == 1 {
                            trace.snr_quarter_db = path_bytes.iter().map(|&b| b as i8).collect();
                        }
                        let entry = trace.route_entry_size();
                        let entries = trace.route.len() / entry;
                        path = Path {
                            // Entry sizes are 1, 2, 4 or 8 and a payload holds at most 175
                            // route bytes, so both casts are lossless.
                            hash_size: entry as u8,
                            hash_count: entries as u8,
                            hops_completed: Some(path_len.hop_count),
                            entry_size: entry as u8,
                            hop_bytes: SmallVec::from_slice(&trace.route[..entries * entry]),
                        };
                        if !header.route.is_direct() {
                            anomaly = Some(Anomaly::TraceNotDirect);
                        }
                    }
                    Payload::Trace(trace)
                }
                None => {
                    anomaly = Some(Anomaly::TraceTooShort);
                    payload::too_short(payload_type, data)
                }
            },
            PayloadType::Multipart => match payload::parse_multipart(data) {
                Some(multipart) => Payload::Multipart(multipart),
                None => payload::too_short(payload_type, data),
            },
            PayloadType::Control => match payload::parse_control(data) {
                Some(control) => Payload::Control(control),
                None => payload::too_short(payload_type, data),
            },
            PayloadType::RawCustom => Payload::RawCustom(data.to_vec()),
            PayloadType::Reserved(code) => Payload::Unknown {
                code,
                data: data.to_vec(),
            },
        };
        if header.route.is_direct() && path_len.hop_count == 0 && payload_type != PayloadType::Trace
        {
            path.hash_size = 0;
        }
        Ok(Packet {
            header,
            transport_codes,
            path,
            payload,
            anomaly,
            raw,
        })
    }
}

fn peer(
    payload_type: PayloadType,
    data: &[u8],
    wrap: fn(payload::PeerDatagram) -> Payload,
) -> Payload {
    match payload::parse_peer(data) {
        Some(datagram) => wrap(datagram),
        None => payload::too_short(payload_type, data),
    }
}

/// The parties a frame's payload names, read without decoding it: the one-byte
/// destination and source hashes of the peer-to-peer payloads (REQ, RESPONSE, TXT_MSG,
/// PATH), and the destination hash and the sender's public key of an ANON_REQ. Empty for
/// other payload types and for frames the decoder would reject or call too short.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parties {
    /// First byte of the destination's public key.
    pub dest_hash: Option<u8>,
    /// First byte of the sender's public key (peer-to-peer payloads).
    pub src_hash: Option<u8>,
    /// The sender's public key (ANON_REQ).
    pub sender_key: Option<[u8; 32]>,
}

/// See [`Parties`].
pub fn payload_parties(frame: &[u8]) -> Parties {
    let Ok(layout) = check_frame(frame) else {
        return Parties::default();
    };
    let data = &frame[layout.payload_start..];
    // The minimum lengths of `payload::parse_peer` and `payload::parse_anon_req`, read
    // in place (those copy the ciphertext out).
    match Header::from_byte(frame[0]).payload_type {
        PayloadType::Req | PayloadType::Response | PayloadType::TxtMsg | PayloadType::Path
            if data.len() >= 4 =>
        {
            Parties {
                dest_hash: Some(data[0]),
                src_hash: Some(data[1]),
                sender_key: None,
            }
        }
        PayloadType::AnonReq if data.len() >= 35 => Parties {
            dest_hash: Some(data[0]),
            src_hash: None,
            sender_key: data[1..33].try_into().ok(),
        },
        _ => Parties::default(),
    }
}

/// Offsets of a frame that passed the frame-level checks.
struct Layout {
    transport: Option<[u8; 4]>,
    path_byte: u8,
    path_start: usize,
    payload_start: usize,
}

/// The frame-level checks of §8.1 steps 2-6, in the reference's order.
fn check_frame(frame: &[u8]) -> Result<Layout, DecodeError> {
    if frame.len() < 2 {
        return Err(DecodeError::TooShort);
    }
    let mut at = 1;
    let mut transport = None;
    if RouteType::from_header(frame[0]).has_transport_codes() {
        let codes: [u8; 4] = frame
            .get(1..5)
            .and_then(|codes| codes.try_into().ok())
            .ok_or(DecodeError::TooShortForTransportCodes)?;
        transport = Some(codes);
        at = 5;
    }
    let path_byte = *frame.get(at).ok_or(DecodeError::NoPathByte)?;
    let path_len = PathLen::from_byte(path_byte);
    if !path_len.is_valid() {
        return Err(DecodeError::InvalidPathEncoding { path_byte });
    }
    let path_start = at + 1;
    let payload_start = path_start + path_len.byte_len();
    if payload_start > frame.len() {
        return Err(DecodeError::PathExceedsBuffer {
            claimed: path_len.byte_len(),
            path_byte,
            frame_len: frame.len(),
        });
    }
    let payload_len = frame.len() - payload_start;
    if payload_len > MAX_PACKET_PAYLOAD {
        return Err(DecodeError::PayloadTooLarge(payload_len));
    }
    Ok(Layout {
        transport,
        path_byte,
        path_start,
        payload_start,
    })
}

/// Configures a [`Decoder`]. The Public channel key is always loaded; later keys with the
/// same name replace earlier ones (CoreScope's precedence: built-in Public, key file, hashtag
/// channels, explicit keys — call the methods in that order to get the same result).
#[derive(Clone, Debug)]
pub struct DecoderBuilder {
    keys: Vec<(String, [u8; 16])>,
    validate_signatures: bool,
    signature_cache: usize,
}

impl Default for DecoderBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl DecoderBuilder {
    /// Public key only, signatures validated, verification cache on.
    pub fn new() -> Self {
        Self {
            keys: vec![channel::public_key()],
            validate_signatures: true,
            signature_cache: DEFAULT_SIGNATURE_CACHE,
        }
    }

    fn insert(mut self, name: String, key: [u8; 16]) -> Self {
        match self.keys.iter_mut().find(|(existing, _)| *existing == name) {
            Some(slot) => slot.1 = key,
            None => self.keys.push((name, key)),
        }
        self
    }

    /// Adds a channel key under `name` (config `channelKeys`; any-case `public` is stored as
    /// `Public`).
    pub fn channel_key(self, name: &str, key: [u8; 16]) -> Self {
        let name = channel::normalise_name(name).to_owned();
        self.insert(name, key)
    }

    /// Adds a channel key given as 32 hex digits (config `channelKeys` values).
    pub fn channel_key_hex(self, name: &str, key_hex: &str) -> Result<Self, ChannelKeyError> {
        let key = hex::decode(key_hex.trim())
            .ok()
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .ok_or_else(|| ChannelKeyError::BadKey {
                name: name.to_owned(),
            })?;
        Ok(self.channel_key(name, key))
    }

    /// Adds a hashtag channel (config `hashChannels`): key `SHA-256("#name")[0..16]`, with `#`
    /// prepended when missing. Blank names are ignored.
    pub fn hashtag(self, name: &str) -> Self {
        let name = name.trim();
        if name.is_empty() || name == "#" {
            return self;
        }
        let name = if name.starts_with('#') {
            name.to_owned()
        } else {
            format!("#{name}")
        };
        let key = hashtag_key(&name);
        self.insert(name, key)
    }

    /// Adds the bundled list of common hashtag channels ([`BUNDLED_HASHTAGS`]).
    pub fn bundled_hashtags(mut self) -> Self {
        for name in BUNDLED_HASHTAGS {
            self = self.hashtag(name);
        }
        self
    }

    /// Whether to check advert signatures (config `validateSignatures`, default true). When
    /// off, `signatureValid` is not reported.
    pub fn validate_signatures(mut self, validate: bool) -> Self {
        self.validate_signatures = validate;
        self
    }

    /// Capacity of the advert verification cache (0 disables it). Default 4096.
    pub fn signature_cache(mut self, capacity: usize) -> Self {
        self.signature_cache = capacity;
        self
    }

    /// Builds the decoder.
    pub fn build(self) -> Decoder {
        // Share one Arc per distinct name so decrypted payloads only bump a refcount.
        let mut names: HashMap<String, Arc<str>> = HashMap::new();
        let keys = self
            .keys
            .into_iter()
            .map(|(name, key)| {
                let shared = Arc::clone(names.entry(name.clone()).or_insert_with(|| name.into()));
                (shared, ChannelKey::new(key))
            })
            .collect();
        Decoder {
            channels: ChannelTable::new(keys),
            validate_signatures: self.validate_signatures,
            signature_cache: (self.validate_signatures && self.signature_cache > 0)
                .then(|| SignatureCache::new(self.signature_cache)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_parties_read_peer_hashes_and_the_anon_sender_key() {
        // FLOOD TXT_MSG, one 1-byte hop AB: dest 12, src 34, MAC, 16 ciphertext bytes.
        let mut dm = vec![0x09, 0x01, 0xAB, 0x12, 0x34, 0xEE, 0xEE];
        dm.extend([0u8; 16]);
        assert_eq!(
            payload_parties(&dm),
            Parties {
                dest_hash: Some(0x12),
                src_hash: Some(0x34),
                sender_key: None
            }
        );
        // FLOOD ANON_REQ, no path: dest 56, the sender's key, MAC, ciphertext.
        let mut anon = vec![0x1D, 0x00, 0x56];
        anon.extend([0x77u8; 32]);
        anon.extend([0xEE, 0xEE]);
        anon.extend([0u8; 16]);
        assert_eq!(
            payload_parties(&anon),
            Parties {
                dest_hash: Some(0x56),
                src_hash: None,
                sender_key: Some([0x77; 32])
            }
        );
        // Too short for its type, a path running past the end, and a GRP_TXT: nobody.
        assert_eq!(payload_parties(&dm[..6]), Parties::default());
        assert_eq!(payload_parties(&[0x09, 0x05, 0xAB]), Parties::default());
        let mut grp = vec![0x15, 0x00, 0x11, 0xEE, 0xEE];
        grp.extend([0u8; 16]);
        assert_eq!(payload_parties(&grp), Parties::default());
    }

    #[test]
    fn transport_scope_matches_the_ottawa_capture() {
        // v87: code1 FA1A is the #ottawa region code of this payload.
        let packet = Decoder::new()
            .decode_hex(
                "14FA1A0000034E927D596EA23622BCB4D5945E49348165AF7DABA3F5DCEED85F430E0856DB5B591E86AB33\
                 63BC00E1BA30776698F72FC57C7168E66A4875CDB710F3C175FC2B3FE75A036EF14FA59A709062D3A9FF70\
                 14F2E7A8512C",
            )
            .unwrap();
        assert!(packet.is_transport_scoped());
        assert_eq!(packet.match_scope(["toronto", "ottawa"]), Some("ottawa"));
        assert_eq!(packet.match_scope(["#ottawa"]), Some("#ottawa"));
        assert_eq!(packet.match_scope(["#toronto"]), None);
        // v59 has codes AABB/CCDD that match nothing; a flood frame has no scope at all.
        let flood = Decoder::new().decode_hex("0E00AABBCCDD").unwrap();
        assert!(!flood.is_transport_scoped());
        assert_eq!(flood.match_scope(["ottawa"]), None);
    }

    #[test]
    fn decoder_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Decoder>();
        assert_send_sync::<Packet>();
    }

    #[test]
    fn frame_errors_carry_the_reference_messages() {
        let decoder = Decoder::new();
        assert_eq!(
            decoder.decode(&[0x12, 0xC0]).unwrap_err().to_string(),
            "invalid path encoding: pathByte 0xC0 (hash_size=4 hash_count=0) violates firmware validity (Packet.cpp:13-18, MAX_PATH_SIZE=64)"
        );
        assert_eq!(
            decoder.decode(&[0x00, 1, 2, 3]),
            Err(DecodeError::TooShortForTransportCodes)
        );
        assert_eq!(
            decoder.decode(&[0x00, 1, 2, 3, 4]),
            Err(DecodeError::NoPathByte)
        );
        let mut big = vec![0x11, 0x00];
        big.extend_from_slice(&[0; 185]);
        assert_eq!(decoder.decode(&big), Err(DecodeError::PayloadTooLarge(185)));
        big.pop();
        assert!(
            decoder.decode(&big).is_ok(),
            "184 payload bytes are allowed"
        );
    }
}
