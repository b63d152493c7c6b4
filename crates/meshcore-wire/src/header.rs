//! The header byte and the path-length byte (spec `protocol.md` §3).

/// Largest number of path bytes a frame may carry (firmware `MAX_PATH_SIZE`).
pub const MAX_PATH_SIZE: usize = 64;
/// Largest payload the firmware accepts (`MAX_PACKET_PAYLOAD`).
pub const MAX_PACKET_PAYLOAD: usize = 184;

/// How a frame is routed: the two low bits of the header byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteType {
    /// Flood with 4 bytes of transport codes.
    TransportFlood = 0,
    /// Flood; repeaters append themselves to the path.
    Flood = 1,
    /// Source-routed; the path lists the remaining hops.
    Direct = 2,
    /// Direct with 4 bytes of transport codes.
    TransportDirect = 3,
}

impl RouteType {
    /// The route type of a header byte (every 2-bit value is named).
    pub const fn from_header(header: u8) -> Self {
        match header & 0x03 {
            0 => Self::TransportFlood,
            1 => Self::Flood,
            2 => Self::Direct,
            _ => Self::TransportDirect,
        }
    }

    /// CoreScope's name (`header.routeTypeName`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::TransportFlood => "TRANSPORT_FLOOD",
            Self::Flood => "FLOOD",
            Self::Direct => "DIRECT",
            Self::TransportDirect => "TRANSPORT_DIRECT",
        }
    }

    /// Whether 4 bytes of transport codes follow the header.
    pub const fn has_transport_codes(self) -> bool {
        matches!(self, Self::TransportFlood | Self::TransportDirect)
    }

    /// Whether the frame is source-routed (DIRECT or TRANSPORT_DIRECT).
    pub const fn is_direct(self) -> bool {
        matches!(self, Self::Direct | Self::TransportDirect)
    }
}

/// What a frame carries: bits 2-5 of the header byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadType {
    /// Encrypted request to a peer.
    Req,
    /// Encrypted response to a request.
    Response,
    /// Encrypted direct text message.
    TxtMsg,
    /// Acknowledgement of a text message.
    Ack,
    /// Signed node advertisement.
    Advert,
    /// Channel (group) text message.
    GrpTxt,
    /// Channel (group) binary datagram.
    GrpData,
    /// Anonymous request carrying the sender's public key.
    AnonReq,
    /// Returned path.
    Path,
    /// Trace of a route with per-hop SNR.
    Trace,
    /// One of several packets (repeated ACKs today).
    Multipart,
    /// Unencrypted control datagram (node discovery).
    Control,
    /// Reserved payload type 12, 13 or 14.
    Reserved(u8),
    /// Application-defined bytes.
    RawCustom,
}

impl PayloadType {
    /// The payload type of a header byte.
    pub const fn from_header(header: u8) -> Self {
        Self::from_code((header >> 2) & 0x0F)
    }

    /// The payload type for a 4-bit code (higher bits are ignored).
    pub const fn from_code(code: u8) -> Self {
        match code & 0x0F {
            0 => Self::Req,
            1 => Self::Response,
            2 => Self::TxtMsg,
            3 => Self::Ack,
            4 => Self::Advert,
            5 => Self::GrpTxt,
            6 => Self::GrpData,
            7 => Self::AnonReq,
            8 => Self::Path,
            9 => Self::Trace,
            10 => Self::Multipart,
            11 => Self::Control,
            15 => Self::RawCustom,
            other => Self::Reserved(other),
        }
    }

    /// The 4-bit code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Req => 0,
            Self::Response => 1,
            Self::TxtMsg => 2,
            Self::Ack => 3,
            Self::Advert => 4,
            Self::GrpTxt => 5,
            Self::GrpData => 6,
            Self::AnonReq => 7,
            Self::Path => 8,
            Self::Trace => 9,
            Self::Multipart => 10,
            Self::Control => 11,
            Self::Reserved(code) => code & 0x0F,
            Self::RawCustom => 15,
        }
    }

    /// CoreScope's name (`header.payloadTypeName`); reserved types are `UNKNOWN`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Req => "REQ",
            Self::Response => "RESPONSE",
            Self::TxtMsg => "TXT_MSG",
            Self::Ack => "ACK",
            Self::Advert => "ADVERT",
            Self::GrpTxt => "GRP_TXT",
            Self::GrpData => "GRP_DATA",
            Self::AnonReq => "ANON_REQ",
            Self::Path => "PATH",
            Self::Trace => "TRACE",
            Self::Multipart => "MULTIPART",
            Self::Control => "CONTROL",
            Self::Reserved(_) => "UNKNOWN",
            Self::RawCustom => "RAW_CUSTOM",
        }
    }
}

/// Builds a header byte.
pub const fn header_byte(route: RouteType, payload: PayloadType, version: u8) -> u8 {
    ((version & 0x03) << 6) | (payload.code() << 2) | route as u8
}

/// The path-length byte, split into its two fields (spec §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PathLen {
    /// Bytes per path entry: 1, 2, 3, or 4 for the reserved (invalid) size code.
    pub hash_size: u8,
    /// Number of entries (0..=63).
    pub hop_count: u8,
}

impl PathLen {
    /// Splits a path-length byte.
    pub const fn from_byte(byte: u8) -> Self {
        Self {
            hash_size: (byte >> 6) + 1,
            hop_count: byte & 0x3F,
        }
    }

    /// Encodes the byte; `hash_size` must be 1..=4 and `hop_count` at most 63.
    pub const fn to_byte(self) -> u8 {
        ((self.hash_size.wrapping_sub(1) & 0x03) << 6) | (self.hop_count & 0x3F)
    }

    /// Number of path bytes the byte claims.
    pub const fn byte_len(self) -> usize {
        self.hash_size as usize * self.hop_count as usize
    }

    /// The firmware's `Packet::isValidPathLen`: size code 3 is reserved even with no hops, and
    /// the path may not exceed [`MAX_PATH_SIZE`] bytes.
    pub const fn is_valid(self) -> bool {
        self.hash_size <= 3 && self.byte_len() <= MAX_PATH_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_split_as_the_spec_examples() {
        assert_eq!(RouteType::from_header(0x11), RouteType::Flood);
        assert_eq!(PayloadType::from_header(0x11), PayloadType::Advert);
        assert_eq!(PayloadType::from_header(0x26), PayloadType::Trace);
        assert_eq!(RouteType::from_header(0x26), RouteType::Direct);
        assert_eq!(PayloadType::from_header(0x7D), PayloadType::RawCustom);
        assert_eq!(PayloadType::from_header(0x34).name(), "UNKNOWN");
        assert_eq!(
            header_byte(RouteType::Flood, PayloadType::RawCustom, 1),
            0x7D
        );
        for code in 0..16 {
            assert_eq!(PayloadType::from_code(code).code(), code);
        }
    }

    #[test]
    fn path_len_validity_follows_the_firmware() {
        assert!(PathLen::from_byte(0x00).is_valid());
        assert!(PathLen::from_byte(0x40).is_valid());
        assert_eq!(PathLen::from_byte(0x8A).byte_len(), 30);
        assert!(
            !PathLen::from_byte(0xC0).is_valid(),
            "size code 3 is reserved even with 0 hops"
        );
        assert!(!PathLen::from_byte(0xBF).is_valid(), "63 x 3 = 189 bytes");
        assert!(!PathLen::from_byte(0x65).is_valid(), "37 x 2 = 74 bytes");
        assert_eq!(
            PathLen {
                hash_size: 2,
                hop_count: 5
            }
            .to_byte(),
            0x45
        );
    }
}
