//! The MeshCore wire format, as the firmware emits it and as CoreScope decodes it.
//!
//! This crate is pure: it does no I/O, holds no global state and never panics, whatever
//! bytes it is given. Spec: `shared/spec/protocol.md`.

pub mod crypto;
pub mod encode;
pub mod header;

pub use header::{MAX_PACKET_PAYLOAD, MAX_PATH_SIZE, PathLen, PayloadType, RouteType, header_byte};
