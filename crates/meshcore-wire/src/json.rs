//! JSON rendering byte-compatible with CoreScope (Go `encoding/json`, spec §9.2-9.4): Go
//! struct key order, "omit when empty/zero" rules, shortest float formatting without a forced
//! decimal point, HTML-safe string escaping and the per-field hex case conventions.

use std::fmt::Write as _;

use crate::hex;
use crate::packet::{Packet, Path};
use crate::payload::{
    Ack, ChannelStatus, Control, ControlDetail, GroupMessage, MultipartInner, Payload, PeerDatagram,
};

impl Packet {
    /// The full decoded object: `{"header":…,"transportCodes":…,"path":…,"payload":…,"raw":…
    /// [,"anomaly":…]}`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256 + self.raw.len() * 4);
        self.write_json(&mut out);
        out
    }

    /// Appends [`Packet::to_json`] to `out`.
    pub fn write_json(&self, out: &mut String) {
        let header = &self.header;
        out.push_str("{\"header\":{\"routeType\":");
        push_u64(out, header.route as u64);
        out.push_str(",\"routeTypeName\":\"");
        out.push_str(header.route.name());
        out.push_str("\",\"payloadType\":");
        push_u64(out, u64::from(header.payload_type.code()));
        out.push_str(",\"payloadTypeName\":\"");
        out.push_str(header.payload_type.name());
        out.push_str("\",\"payloadVersion\":");
        push_u64(out, u64::from(header.version));
        out.push_str("},\"transportCodes\":");
        match self.transport_codes {
            Some(codes) => {
                out.push_str("{\"code1\":\"");
                hex::push_upper(out, &codes.code1());
                out.push_str("\",\"code2\":\"");
                hex::push_upper(out, &codes.code2());
                out.push_str("\"}");
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"path\":{\"hashSize\":");
        push_u64(out, u64::from(self.path.hash_size));
        out.push_str(",\"hashCount\":");
        push_u64(out, u64::from(self.path.hash_count));
        out.push_str(",\"hops\":");
        write_hops(out, &self.path);
        if let Some(done) = self.path.hops_completed {
            out.push_str(",\"hopsCompleted\":");
            push_u64(out, u64::from(done));
        }
        out.push_str("},\"payload\":");
        self.payload.write_json(out);
        out.push_str(",\"raw\":\"");
        hex::push_upper(out, &self.raw);
        out.push('"');
        if let Some(anomaly) = self.anomaly {
            out.push_str(",\"anomaly\":");
            push_str(out, anomaly.message());
        }
        out.push('}');
    }
}

impl Packet {
    /// The payload as CoreScope's *server* decoder renders it (spec §9.6; used by
    /// `POST /api/decode`): channel messages are never decrypted (GRP_TXT shows
    /// `type, mac, encryptedData, channelHash`; GRP_DATA adds `channelHashHex`), adverts show
    /// no `feat1`/`feat2` values and no telemetry, and their name is all remaining app data
    /// with trailing NULs trimmed and control characters removed (interior NULs do not end
    /// it), CONTROL stops after `ctrlLength`, and TRACE lists `snrValues` after `traceFlags`.
    /// Other payloads render as [`Payload::to_json`]. Values match the vectors' server
    /// column; key order is the reference's where the spec states it.
    pub fn server_payload_json(&self) -> String {
        let mut out = String::with_capacity(128);
        self.write_server_payload_json(&mut out);
        out
    }

    /// The `POST /api/decode` body: `{"decoded":{"header":…,"path":…,"payload":…}}` with the
    /// server payload of [`Packet::server_payload_json`] (no transport codes, no anomaly).
    pub fn api_decode_json(&self) -> String {
        let full = self.to_json();
        let mut out = String::with_capacity(full.len() + 64);
        out.push_str("{\"decoded\":");
        // Reuse the header and path rendering of the full object: everything up to its
        // "transportCodes" key, then the path object.
        let header_end = full.find(",\"transportCodes\":").unwrap_or(0);
        out.push_str(&full[..header_end]);
        out.push_str(",\"path\":{\"hashSize\":");
        push_u64(&mut out, u64::from(self.path.hash_size));
        out.push_str(",\"hashCount\":");
        push_u64(&mut out, u64::from(self.path.hash_count));
        out.push_str(",\"hops\":");
        write_hops(&mut out, &self.path);
        if let Some(done) = self.path.hops_completed {
            out.push_str(",\"hopsCompleted\":");
            push_u64(&mut out, u64::from(done));
        }
        out.push_str("},\"payload\":");
        self.write_server_payload_json(&mut out);
        out.push_str("}}");
        out
    }

    fn write_server_payload_json(&self, out: &mut String) {
        match &self.payload {
            Payload::GrpTxt(message) | Payload::GrpData(message) => {
                let mut obj = Object::open(out);
                obj.str("type", self.header.payload_type.name());
                obj.hex_lower("mac", &message.mac);
                obj.hex_lower("encryptedData", &message.ciphertext);
                obj.u64_nonzero("channelHash", u64::from(message.channel_hash));
                if matches!(self.payload, Payload::GrpData(_)) {
                    obj.key("channelHashHex");
                    obj.out.push('"');
                    hex::push_upper(obj.out, &[message.channel_hash]);
                    obj.out.push('"');
                }
                obj.close();
            }
            Payload::Advert(advert) => {
                let mut trimmed = advert.clone();
                trimmed.feat1 = None;
                trimmed.feat2 = None;
                trimmed.battery_mv = None;
                trimmed.temperature_centi_c = None;
                trimmed.name_cut_bytes = 0;
                trimmed.name = server_advert_name(self.payload_bytes(), advert.flags);
                Payload::Advert(trimmed).write_json(out);
            }
            Payload::Control(control) => {
                let mut obj = Object::open(out);
                obj.str("type", "CONTROL");
                obj.hex_lower("raw", &control.data);
                obj.hex_lower("ctrlFlags", &[control.flags()]);
                obj.bool("ctrlZeroHop", control.flags() & 0x80 != 0);
                obj.u64("ctrlLength", control.data.len() as u64);
                obj.close();
            }
            Payload::Trace(trace) => {
                let mut obj = Object::open(out);
                obj.str("type", "TRACE");
                obj.hex_lower("pathData", &trace.route);
                obj.u64_nonzero("tag", u64::from(trace.tag));
                obj.u64_nonzero("authCode", u64::from(trace.auth_code));
                obj.u64("traceFlags", u64::from(trace.flags));
                if !trace.snr_quarter_db.is_empty() {
                    obj.key("snrValues");
                    obj.out.push('[');
                    for (index, snr) in trace.snr_db().enumerate() {
                        if index > 0 {
                            obj.out.push(',');
                        }
                        push_f64(obj.out, snr);
                    }
                    obj.out.push(']');
                }
                obj.close();
            }
            other => other.write_json(out),
        }
    }
}

/// The server decoder's advert name: all app data after the flags and the optional blocks,
/// trailing NULs trimmed, then control characters (below 0x20 except TAB and LF, and DEL,
/// including interior NULs) removed; invalid UTF-8 becomes U+FFFD.
fn server_advert_name(payload: &[u8], flags: Option<u8>) -> Option<String> {
    let flags = flags?;
    if flags & 0x80 == 0 {
        return None;
    }
    let app = payload.get(100..)?;
    let mut at = 1;
    for (bit, len) in [(0x10u8, 8usize), (0x20, 2), (0x40, 2)] {
        if flags & bit != 0 && app.len() >= at + len {
            at += len;
        }
    }
    let mut rest = app.get(at..)?;
    while let [head @ .., 0] = rest {
        rest = head;
    }
    let mut name = String::with_capacity(rest.len());
    for chunk in rest.utf8_chunks() {
        for c in chunk.valid().chars() {
            if !((c < '\u{20}' && c != '\t' && c != '\n') || c == '\u{7f}') {
                name.push(c);
            }
        }
        for _ in chunk.invalid() {
            name.push(char::REPLACEMENT_CHARACTER);
        }
    }
    (!name.is_empty()).then_some(name)
}

/// Writes the hops as a JSON array of upper-case hex strings.
pub(crate) fn write_hops(out: &mut String, path: &Path) {
    out.push('[');
    for (index, hop) in path.hops().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push('"');
        hex::push_upper(out, hop);
        out.push('"');
    }
    out.push(']');
}

impl Payload {
    /// The exact `transmissions.decoded_json` string CoreScope's ingestor stores.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(128);
        self.write_json(&mut out);
        out
    }

    /// Appends [`Payload::to_json`] to `out`.
    pub fn write_json(&self, out: &mut String) {
        let mut obj = Object::open(out);
        obj.str("type", self.type_name());
        match self {
            Payload::Req(datagram) | Payload::Response(datagram) | Payload::TxtMsg(datagram) => {
                peer(&mut obj, datagram, "encryptedData")
            }
            Payload::Path(datagram) => peer(&mut obj, datagram, "pathData"),
            Payload::Ack(ack) => {
                obj.hex_lower("extraHash", &ack.code_le().to_be_bytes());
                ack_fields(&mut obj, ack, ["ackLen", "ackAttempt", "ackRand"]);
            }
            Payload::Advert(advert) => {
                obj.hex_lower("pubKey", &advert.public_key);
                obj.u64_nonzero("timestamp", u64::from(advert.timestamp));
                obj.key("timestampISO");
                push_iso_time(obj.out, advert.timestamp);
                obj.hex_lower("signature", &advert.signature);
                if let Some(valid) = advert.signature_valid {
                    obj.bool("signatureValid", valid);
                }
                if let Some(flags) = advert.flags {
                    obj.key("flags");
                    let mut inner = Object::open(obj.out);
                    inner.u64("raw", u64::from(flags));
                    let kind = flags & 0x0F;
                    inner.u64("type", u64::from(kind));
                    inner.bool("chat", kind == 1);
                    inner.bool("repeater", kind == 2);
                    inner.bool("room", kind == 3);
                    inner.bool("sensor", kind == 4);
                    inner.bool("hasLocation", flags & 0x10 != 0);
                    inner.bool("hasFeat1", flags & 0x20 != 0);
                    inner.bool("hasFeat2", flags & 0x40 != 0);
                    inner.bool("hasName", flags & 0x80 != 0);
                    inner.close();
                }
                if let Some((lat, lon)) = advert.location() {
                    obj.f64("lat", lat);
                    obj.f64("lon", lon);
                }
                if let Some(name) = &advert.name {
                    obj.key("name");
                    push_str_with_cut(obj.out, name, advert.name_cut_bytes);
                }
                if let Some(feat) = advert.feat1 {
                    obj.u64("feat1", u64::from(feat));
                }
                if let Some(feat) = advert.feat2 {
                    obj.u64("feat2", u64::from(feat));
                }
                if let Some(battery) = advert.battery_mv {
                    obj.u64("battery_mv", u64::from(battery));
                }
                if let Some(temperature) = advert.temperature_c() {
                    obj.f64("temperature_c", temperature);
                }
            }
            Payload::GrpTxt(message) | Payload::GrpData(message) => group(&mut obj, message),
            Payload::AnonReq(request) => {
                obj.hex_lower("destHash", &[request.dest_hash]);
                obj.hex_lower("mac", &request.mac);
                obj.hex_lower("encryptedData", &request.ciphertext);
                obj.hex_lower("ephemeralPubKey", &request.sender_public_key);
            }
            Payload::Trace(trace) => {
                obj.hex_lower("pathData", &trace.route);
                if !trace.snr_quarter_db.is_empty() {
                    obj.key("snrValues");
                    obj.out.push('[');
                    for (index, snr) in trace.snr_db().enumerate() {
                        if index > 0 {
                            obj.out.push(',');
                        }
                        push_f64(obj.out, snr);
                    }
                    obj.out.push(']');
                }
                obj.u64_nonzero("tag", u64::from(trace.tag));
                obj.u64_nonzero("authCode", u64::from(trace.auth_code));
                obj.u64("traceFlags", u64::from(trace.flags));
            }
            Payload::Multipart(multipart) => {
                obj.u64("remaining", u64::from(multipart.remaining));
                obj.u64("innerType", u64::from(multipart.inner_type));
                obj.str(
                    "innerTypeName",
                    crate::header::PayloadType::from_code(multipart.inner_type).name(),
                );
                match &multipart.inner {
                    MultipartInner::Ack(ack) => {
                        obj.hex_lower("innerAckCrc", &ack.code_le().to_be_bytes());
                        ack_fields(
                            &mut obj,
                            ack,
                            ["innerAckLen", "innerAckAttempt", "innerAckRand"],
                        );
                    }
                    MultipartInner::Bytes(bytes) => obj.hex_lower("innerPayload", bytes),
                }
            }
            Payload::Control(control) => control_fields(&mut obj, control),
            Payload::RawCustom(data) => {
                obj.hex_lower("raw", data);
                obj.u64("rawLength", data.len() as u64);
                if let Some(first) = data.first() {
                    obj.key("firstByteTag");
                    obj.out.push('"');
                    hex::push_upper(obj.out, &[*first]);
                    obj.out.push('"');
                }
            }
            Payload::Unknown { data, .. } => obj.hex_lower("raw", data),
            Payload::Malformed { data, error, .. } => {
                obj.hex_lower("raw", data);
                obj.str("error", error.message());
            }
        }
        obj.close();
    }
}

fn peer(obj: &mut Object<'_>, datagram: &PeerDatagram, data_key: &str) {
    obj.hex_lower("destHash", &[datagram.dest_hash]);
    obj.hex_lower("srcHash", &[datagram.src_hash]);
    obj.hex_lower("mac", &datagram.mac);
    obj.hex_lower(data_key, &datagram.ciphertext);
}

fn ack_fields(obj: &mut Object<'_>, ack: &Ack, keys: [&str; 3]) {
    obj.u64(keys[0], u64::from(ack.len));
    if let Some(attempt) = ack.attempt {
        obj.u64(keys[1], u64::from(attempt));
    }
    if let Some(random) = ack.random {
        obj.u64(keys[2], u64::from(random));
    }
}

fn group(obj: &mut Object<'_>, message: &GroupMessage) {
    let decrypted = matches!(
        message.status,
        ChannelStatus::Text(_) | ChannelStatus::Data(_)
    );
    if !decrypted {
        obj.hex_lower("mac", &message.mac);
        obj.hex_lower("encryptedData", &message.ciphertext);
    }
    obj.u64_nonzero("channelHash", u64::from(message.channel_hash));
    obj.key("channelHashHex");
    obj.out.push('"');
    hex::push_upper(obj.out, &[message.channel_hash]);
    obj.out.push('"');
    obj.str("decryptionStatus", message.status.name());
    match &message.status {
        ChannelStatus::NoKey | ChannelStatus::DecryptionFailed => {}
        ChannelStatus::Text(text) => {
            obj.str("channel", &text.channel);
            obj.str("text", text.reported_text());
            if let Some(sender) = text.sender() {
                obj.str("sender", sender);
            }
            obj.u64_nonzero("sender_timestamp", u64::from(text.timestamp));
        }
        ChannelStatus::Data(data) => {
            obj.str("channel", &data.channel);
            if let Some(data_type) = data.data_type {
                obj.u64("dataType", u64::from(data_type));
            }
            if let Some(len) = data.data_len {
                obj.u64("dataLen", u64::from(len));
            }
            obj.hex_lower("decryptedBlob", &data.data);
            if let Some(error) = data.error {
                obj.str("error", error);
            }
        }
    }
}

fn control_fields(obj: &mut Object<'_>, control: &Control) {
    obj.hex_lower("raw", &control.data);
    obj.hex_lower("ctrlFlags", &[control.flags()]);
    obj.bool("ctrlZeroHop", control.flags() & 0x80 != 0);
    obj.u64("ctrlLength", control.data.len() as u64);
    obj.str("ctrlSubtype", control.detail.name());
    match &control.detail {
        ControlDetail::DiscoverReq { filter, tag, since } => {
            if let Some(filter) = filter {
                obj.u64("ctrlFilter", u64::from(*filter));
            }
            if let Some(tag) = tag {
                obj.u64("ctrlTag", u64::from(*tag));
            }
            if let Some(since) = since {
                obj.u64("ctrlSince", u64::from(*since));
            }
        }
        ControlDetail::DiscoverResp {
            node_type,
            snr,
            tag,
            public_key,
        } => {
            if let Some(tag) = tag {
                obj.u64("ctrlTag", u64::from(*tag));
            }
            obj.u64("ctrlNodeType", u64::from(*node_type));
            if let Some(snr) = snr {
                obj.key("ctrlSNR");
                let _ = write!(obj.out, "{snr}");
            }
            if let Some(key) = public_key {
                obj.hex_lower("ctrlPubKey", key);
            }
        }
        ControlDetail::Other => {}
    }
}

/// A JSON object being written; keys are emitted in call order.
struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    fn close(self) {
        self.out.push('}');
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    /// A string field, omitted when empty (Go `omitempty`).
    fn str(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.key(key);
            push_str(self.out, value);
        }
    }

    /// A lower-case hex field, omitted when empty.
    fn hex_lower(&mut self, key: &str, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.key(key);
            self.out.push('"');
            hex::push_lower(self.out, bytes);
            self.out.push('"');
        }
    }

    fn u64(&mut self, key: &str, value: u64) {
        self.key(key);
        push_u64(self.out, value);
    }

    /// A plain (non-pointer) integer field: omitted when zero.
    fn u64_nonzero(&mut self, key: &str, value: u64) {
        if value != 0 {
            self.u64(key, value);
        }
    }

    fn f64(&mut self, key: &str, value: f64) {
        self.key(key);
        push_f64(self.out, value);
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }
}

/// Decimal digits without the formatting machinery (this is on the per-frame path).
fn push_u64(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
}

/// Go's float64 encoding: shortest round-trip digits, no forced decimal point, exponent form
/// only below 1e-6 or from 1e21 on (`5e-7`, `1e+21`).
pub(crate) fn push_f64(out: &mut String, value: f64) {
    if !value.is_finite() {
        // Go refuses to encode these; CoreScope never produces them. Emit null rather than
        // invalid JSON.
        out.push_str("null");
        return;
    }
    let abs = value.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` gives the same shortest digits as `5e-7` / `1e21`; Go writes `5e-7`
        // (it trims `e-07`) and `1e+21`, so only positive exponents need a sign added.
        let formatted = format!("{value:e}");
        match formatted.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exponent}");
            }
            _ => out.push_str(&formatted),
        }
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Writes a JSON string with Go's escaping: `"` `\` and control characters escaped (`\n`,
/// `\r`, `\t`, `\b`, `\f`, else `\u00xx`), `<` `>` `&` as `\u003c` `\u003e` `\u0026`, and
/// U+2028/U+2029 as `\u2028`/`\u2029`.
pub(crate) fn push_str(out: &mut String, value: &str) {
    out.push('"');
    push_escaped(out, value);
    out.push('"');
}

/// Like [`push_str`], followed by `cut` invalid bytes rendered as Go does (`\ufffd` each).
fn push_str_with_cut(out: &mut String, value: &str, cut: u8) {
    out.push('"');
    push_escaped(out, value);
    for _ in 0..cut {
        out.push_str("\\ufffd");
    }
    out.push('"');
}

fn push_escaped(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (index, c) in value.char_indices() {
        let escape: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '<' => Some("\\u003c"),
            '>' => Some("\\u003e"),
            '&' => Some("\\u0026"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            c if c < '\u{20}' => None,
            _ => continue,
        };
        out.push_str(&value[start..index]);
        match escape {
            Some(escape) => out.push_str(escape),
            None => {
                let byte = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xF)]));
            }
        }
        start = index + c.len_utf8();
    }
    out.push_str(&value[start..]);
}

/// Writes `"YYYY-MM-DDTHH:MM:SS.000Z"` for Unix seconds (UTC).
fn push_iso_time(out: &mut String, seconds: u32) {
    let seconds = i64::from(seconds);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        out,
        "\"{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z\"",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    );
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's civil-from-days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(value: f64) -> String {
        let mut out = String::new();
        push_f64(&mut out, value);
        out
    }

    fn string(value: &str) -> String {
        let mut out = String::new();
        push_str(&mut out, value);
        out
    }

    #[test]
    fn integers_print_in_decimal() {
        for value in [0, 7, 10, 4_110_493_363, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, value);
            assert_eq!(out, value.to_string());
        }
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(float(37.0), "37");
        assert_eq!(float(-122.1), "-122.1");
        assert_eq!(float(3.75), "3.75");
        assert_eq!(float(-2.0), "-2");
        assert_eq!(float(0.0), "0");
        assert_eq!(float(37.31468), "37.31468");
        assert_eq!(float(5e-7), "5e-7");
        assert_eq!(float(1e21), "1e+21");
        assert_eq!(float(0.000001), "0.000001");
    }

    #[test]
    fn strings_escape_like_go() {
        assert_eq!(string("A&B: <hi>"), r#""A\u0026B: \u003chi\u003e""#);
        assert_eq!(string("a\"b\\c\nd\re\tf"), r#""a\"b\\c\nd\re\tf""#);
        assert_eq!(string("\u{1}\u{1f}\u{7f}"), "\"\\u0001\\u001f\u{7f}\"");
        assert_eq!(string("x\u{2028}y\u{2029}"), r#""x\u2028y\u2029""#);
        assert_eq!(string("🌲 Tree"), "\"🌲 Tree\"");
    }

    #[test]
    fn iso_times_are_utc_with_millis() {
        let iso = |s| {
            let mut out = String::new();
            push_iso_time(&mut out, s);
            out
        };
        assert_eq!(iso(0), "\"1970-01-01T00:00:00.000Z\"");
        assert_eq!(iso(1_715_770_509), "\"2024-05-15T10:55:09.000Z\"");
        assert_eq!(iso(305_419_896), "\"1979-09-05T22:51:36.000Z\"");
        assert_eq!(iso(u32::MAX), "\"2106-02-07T06:28:15.000Z\"");
        assert_eq!(iso(951_782_400), "\"2000-02-29T00:00:00.000Z\"");
    }
}
