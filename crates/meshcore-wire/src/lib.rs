//! The MeshCore wire format, as the firmware emits it and as CoreScope decodes it.
//!
//! This crate is pure: it does no I/O, holds no global state and never panics, whatever
//! bytes it is given. Spec: `shared/spec/protocol.md`.
//!
//! Decoding: build a [`Decoder`] once (channel keys, signature policy) and call
//! [`Decoder::decode`] or [`Decoder::decode_hex`]; render with [`Packet::to_json`] or
//! [`Payload::to_json`] (the exact `decoded_json` CoreScope stores). The dedup hash is
//! [`packet_hash`] / [`packet_hash_hex`].

pub mod advert;
pub mod channel;
pub mod crypto;
pub mod encode;
pub mod hash;
pub mod header;
pub mod hex;
mod json;
pub mod packet;
pub mod payload;

pub use advert::{AdvertRejection, role_name, validate_advert, verify_advert_signature};
pub use channel::BUNDLED_HASHTAGS;
pub use hash::{PacketHash, PacketHashOrFallback, packet_hash, packet_hash_hex};
pub use header::{MAX_PACKET_PAYLOAD, MAX_PATH_SIZE, PathLen, PayloadType, RouteType, header_byte};
pub use packet::{
    Anomaly, ChannelKeyError, DecodeError, Decoder, DecoderBuilder, Header, Packet, Parties, Path,
    TransportCodes, payload_parties,
};
pub use payload::{
    Ack, Advert, AnonReq, ChannelData, ChannelStatus, ChannelText, Control, ControlDetail,
    GroupMessage, Multipart, MultipartInner, Payload, PayloadError, PeerDatagram, Trace,
};
