//! Hand-built frames for each payload layout and the decoder's edge cases.

use ed25519_dalek::{Signer, SigningKey};
use meshcore_wire::crypto::{ChannelKey, PUBLIC_CHANNEL_KEY, hashtag_key};
use meshcore_wire::{
    AdvertRejection, ChannelStatus, DecodeError, Decoder, Payload, validate_advert,
};
use serde_json::{Value, json};

fn json_of(decoder: &Decoder, frame: &[u8]) -> Value {
    let packet = decoder.decode(frame).expect("frame decodes");
    serde_json::from_str(&packet.payload.to_json()).expect("valid JSON")
}

fn payload_json(frame: &[u8]) -> String {
    Decoder::new()
        .decode(frame)
        .expect("frame decodes")
        .payload
        .to_json()
}

/// A FLOOD zero-hop frame of `payload_type` carrying `payload`.
fn flood(payload_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![(payload_type << 2) | 1, 0x00];
    frame.extend_from_slice(payload);
    frame
}

/// A signed advert payload with the given app data.
fn advert_payload(seed: u8, timestamp: u32, app_data: &[u8]) -> Vec<u8> {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let public = key.verifying_key().to_bytes();
    let mut message = public.to_vec();
    message.extend_from_slice(&timestamp.to_le_bytes());
    message.extend_from_slice(app_data);
    let signature = key.sign(&message).to_bytes();
    let mut payload = message[..36].to_vec();
    payload.extend_from_slice(&signature);
    payload.extend_from_slice(app_data);
    payload
}

fn advert_frame(app_data: &[u8]) -> Vec<u8> {
    flood(4, &advert_payload(7, 1_700_000_000, app_data))
}

fn name_app(flags: u8, name: &[u8]) -> Vec<u8> {
    let mut app = vec![flags];
    app.extend_from_slice(name);
    app
}

#[test]
fn signed_adverts_verify_and_tampering_is_detected() {
    let decoder = Decoder::new();
    let frame = advert_frame(&name_app(0x81, b"Alice"));
    let payload = json_of(&decoder, &frame);
    assert_eq!(payload["signatureValid"], true);
    assert_eq!(payload["name"], "Alice");
    assert_eq!(payload["flags"]["chat"], true);
    // Decoding again hits the verification cache and must give the same answer.
    assert_eq!(json_of(&decoder, &frame)["signatureValid"], true);
    let mut tampered = frame.clone();
    *tampered.last_mut().unwrap() ^= 0x01;
    assert_eq!(json_of(&decoder, &tampered)["signatureValid"], false);
    // Without the cache too.
    let uncached = Decoder::builder().signature_cache(0).build();
    assert_eq!(json_of(&uncached, &frame)["signatureValid"], true);
    assert_eq!(json_of(&uncached, &tampered)["signatureValid"], false);
    // Validation off: the field is absent.
    let off = Decoder::builder().validate_signatures(false).build();
    assert!(json_of(&off, &frame).get("signatureValid").is_none());
}

#[test]
fn advert_names_are_cut_at_32_bytes_even_inside_a_character() {
    // 30 ASCII bytes then a 4-byte emoji: the cut leaves 2 bytes of it, which CoreScope's
    // JSON encoder writes as two escaped replacement characters.
    let mut name = "N".repeat(30).into_bytes();
    name.extend_from_slice("🌳".as_bytes());
    let json = payload_json(&advert_frame(&name_app(0x82, &name)));
    assert!(
        json.ends_with(&format!("\"name\":\"{}\\ufffd\\ufffd\"}}", "N".repeat(30))),
        "{json}"
    );
    // A plain long name is cut to exactly 32 bytes.
    let json = payload_json(&advert_frame(&name_app(0x82, "L".repeat(40).as_bytes())));
    assert!(
        json.contains(&format!("\"name\":\"{}\"", "L".repeat(32))),
        "{json}"
    );
}

#[test]
fn advert_names_lose_control_characters_and_stop_at_nul() {
    let json = json_of(
        &Decoder::new(),
        &advert_frame(&name_app(0x82, b"Re\x01p\rea\x7fter\x00junk")),
    );
    assert_eq!(json["name"], "Repeater");
    // TAB and LF are kept.
    let decoder = Decoder::new();
    let packet = decoder
        .decode(&advert_frame(&name_app(0x82, b"a\tb")))
        .unwrap();
    let Payload::Advert(advert) = &packet.payload else {
        panic!("advert")
    };
    assert_eq!(advert.name.as_deref(), Some("a\tb"));
    // A name of only control characters is omitted.
    let json = json_of(&decoder, &advert_frame(&name_app(0x82, b"\x01\x02")));
    assert!(json.get("name").is_none());
    // Invalid UTF-8 becomes U+FFFD.
    let json = json_of(&decoder, &advert_frame(&name_app(0x82, b"x\xFFy")));
    assert_eq!(json["name"], "x\u{FFFD}y");
}

#[test]
fn advert_optional_blocks_are_skipped_when_short_and_ordered_in_json() {
    // Location flag set but only 3 bytes follow: no lat/lon, flag still reported.
    let json = json_of(&Decoder::new(), &advert_frame(&[0x12, 1, 2, 3]));
    assert_eq!(json["flags"]["hasLocation"], true);
    assert!(json.get("lat").is_none());
    // All blocks: lat, lon, feat1, feat2, name in JSON order with name before feat1.
    let mut app = vec![0xF2];
    app.extend_from_slice(&(-33_868_800i32).to_le_bytes());
    app.extend_from_slice(&151_209_300i32.to_le_bytes());
    app.extend_from_slice(&0x0102u16.to_le_bytes());
    app.extend_from_slice(&0x0304u16.to_le_bytes());
    app.extend_from_slice(b"Syd");
    let json = payload_json(&advert_frame(&app));
    assert!(
        json.contains(
            "\"lat\":-33.8688,\"lon\":151.2093,\"name\":\"Syd\",\"feat1\":258,\"feat2\":772"
        ),
        "{json}"
    );
    // No app data at all: no flags object, role companion.
    let packet = Decoder::new().decode(&advert_frame(&[])).unwrap();
    let Payload::Advert(advert) = &packet.payload else {
        panic!("advert")
    };
    assert_eq!(advert.role(), "companion");
    assert!(!packet.payload.to_json().contains("flags"));
}

#[test]
fn sensor_telemetry_is_reported_only_in_range() {
    let telemetry = |battery: u16, temperature: i16| {
        let mut app = name_app(0x84, b"S1\x00");
        app.extend_from_slice(&battery.to_le_bytes());
        app.extend_from_slice(&temperature.to_le_bytes());
        json_of(&Decoder::new(), &advert_frame(&app))
    };
    let ok = telemetry(3700, -1250);
    assert_eq!(ok["battery_mv"], 3700);
    assert_eq!(ok["temperature_c"], -12.5);
    let edges = telemetry(10_000, 10_000);
    assert_eq!(edges["battery_mv"], 10_000);
    assert_eq!(edges["temperature_c"], 100.0);
    let out = telemetry(0, -5001);
    assert!(out.get("battery_mv").is_none() && out.get("temperature_c").is_none());
    let high = telemetry(10_001, 10_001);
    assert!(high.get("battery_mv").is_none() && high.get("temperature_c").is_none());
    // Non-sensor adverts never read telemetry.
    let mut app = name_app(0x82, b"R\x00");
    app.extend_from_slice(&[0x74, 0x0E, 0x22, 0x0B]);
    assert!(
        json_of(&Decoder::new(), &advert_frame(&app))
            .get("battery_mv")
            .is_none()
    );
}

#[test]
fn the_advert_gate_rejects_what_corescope_rejects() {
    let decode = |frame: &[u8]| match Decoder::new().decode(frame).unwrap().payload {
        Payload::Advert(advert) => advert,
        other => panic!("not an advert: {other:?}"),
    };
    let mut app = vec![0x92];
    app.extend_from_slice(&91_000_000i32.to_le_bytes());
    app.extend_from_slice(&0i32.to_le_bytes());
    app.extend_from_slice(b"X");
    assert!(matches!(
        validate_advert(&decode(&advert_frame(&app))),
        Err(AdvertRejection::LatitudeOutOfRange(_))
    ));
    // TAB, LF and CR pass the gate; the decoder strips the other control characters, so a
    // name with one can only come from elsewhere (e.g. a hand-built value).
    let mut named = decode(&advert_frame(&name_app(0x82, b"a\tb\nc\rd")));
    assert_eq!(validate_advert(&named), Ok(()));
    named.name = Some("a\u{1}b".into());
    assert_eq!(
        validate_advert(&named),
        Err(AdvertRejection::NameHasControlCharacter)
    );
    named.name = Some("n".repeat(65));
    assert_eq!(
        validate_advert(&named),
        Err(AdvertRejection::NameTooLong(65))
    );
    let mut zero = advert_payload(1, 5, b"");
    zero[..32].fill(0);
    assert_eq!(
        validate_advert(&decode(&flood(4, &zero))),
        Err(AdvertRejection::ZeroPublicKey)
    );
    assert_eq!(
        validate_advert(&decode(&advert_frame(&name_app(0x82, b"ok\r")))),
        Ok(())
    );
}

#[test]
fn acks_report_length_attempt_and_random() {
    assert_eq!(
        payload_json(&flood(3, &[1, 2, 3])),
        r#"{"type":"ACK","raw":"010203","error":"too short"}"#
    );
    assert_eq!(
        payload_json(&flood(3, &[0xBB, 0x40, 0xBA, 0x70])),
        r#"{"type":"ACK","extraHash":"70ba40bb","ackLen":4}"#
    );
    assert_eq!(
        payload_json(&flood(3, &[1, 2, 3, 4, 5])),
        r#"{"type":"ACK","extraHash":"04030201","ackLen":5,"ackAttempt":5}"#
    );
    assert_eq!(
        payload_json(&flood(3, &[1, 2, 3, 4, 5, 6, 7, 8])),
        r#"{"type":"ACK","extraHash":"04030201","ackLen":6,"ackAttempt":5,"ackRand":6}"#
    );
}

#[test]
fn multipart_layouts() {
    assert_eq!(
        payload_json(&flood(10, &[])),
        r#"{"type":"MULTIPART","error":"too short"}"#
    );
    assert_eq!(
        payload_json(&flood(10, &[0x23, 1, 2, 3, 4])),
        r#"{"type":"MULTIPART","remaining":2,"innerType":3,"innerTypeName":"ACK","innerAckCrc":"04030201","innerAckLen":4}"#
    );
    // An ACK inner type with too few bytes falls back to the raw inner payload.
    assert_eq!(
        payload_json(&flood(10, &[0x03, 1, 2, 3])),
        r#"{"type":"MULTIPART","remaining":0,"innerType":3,"innerTypeName":"ACK","innerPayload":"010203"}"#
    );
    assert_eq!(
        payload_json(&flood(10, &[0x1D])),
        r#"{"type":"MULTIPART","remaining":1,"innerType":13,"innerTypeName":"UNKNOWN"}"#
    );
}

#[test]
fn control_lengths_decide_the_fields() {
    assert_eq!(
        payload_json(&flood(11, &[])),
        r#"{"type":"CONTROL","error":"too short"}"#
    );
    assert_eq!(
        payload_json(&flood(11, &[0x81, 4, 1, 0, 0])),
        r#"{"type":"CONTROL","raw":"8104010000","ctrlFlags":"81","ctrlZeroHop":true,"ctrlLength":5,"ctrlSubtype":"DISCOVER_REQ"}"#
    );
    assert_eq!(
        payload_json(&flood(11, &[0x80, 4, 1, 0, 0, 0])),
        r#"{"type":"CONTROL","raw":"800401000000","ctrlFlags":"80","ctrlZeroHop":true,"ctrlLength":6,"ctrlSubtype":"DISCOVER_REQ","ctrlFilter":4,"ctrlTag":1}"#
    );
    assert_eq!(
        payload_json(&flood(11, &[0x93, 0xF8])),
        r#"{"type":"CONTROL","raw":"93f8","ctrlFlags":"93","ctrlZeroHop":true,"ctrlLength":2,"ctrlSubtype":"DISCOVER_RESP","ctrlNodeType":3}"#
    );
    // Negative raw SNR, and 7 key bytes: too few for the 8-byte prefix.
    let mut resp = vec![0x92, 0xF8, 1, 0, 0, 0];
    resp.extend_from_slice(&[0xAA; 7]);
    assert_eq!(
        payload_json(&flood(11, &resp)),
        r#"{"type":"CONTROL","raw":"92f801000000aaaaaaaaaaaaaa","ctrlFlags":"92","ctrlZeroHop":true,"ctrlLength":13,"ctrlSubtype":"DISCOVER_RESP","ctrlTag":1,"ctrlNodeType":2,"ctrlSNR":-8}"#
    );
    assert_eq!(
        payload_json(&flood(11, &[0x10, 0xFF])),
        r#"{"type":"CONTROL","raw":"10ff","ctrlFlags":"10","ctrlZeroHop":false,"ctrlLength":2,"ctrlSubtype":"UNKNOWN"}"#
    );
}

#[test]
fn trace_with_two_byte_header_path_has_hops_completed_but_no_snr() {
    // DIRECT TRACE, header path byte 0x41: one 2-byte entry; route of 2 one-byte entries.
    let frame = [
        0x26, 0x41, 0x10, 0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xAA, 0xBB,
    ];
    let packet = Decoder::new().decode(&frame).unwrap();
    assert_eq!(packet.path.hops_completed, Some(1));
    assert_eq!(packet.observation_path_json(), r#"["AA","BB"]"#);
    assert_eq!(
        packet.payload.to_json(),
        r#"{"type":"TRACE","pathData":"aabb","tag":1,"traceFlags":0}"#
    );
    assert_eq!(packet.anomaly, None);
}

#[test]
fn trace_of_exactly_nine_bytes_keeps_the_header_path() {
    let frame = [0x26, 0x02, 0x10, 0x20, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    let packet = Decoder::new().decode(&frame).unwrap();
    let json: Value = serde_json::from_str(&packet.to_json()).unwrap();
    assert_eq!(
        json["path"],
        json!({"hashSize": 1, "hashCount": 2, "hops": ["10", "20"]})
    );
    assert_eq!(
        json["payload"],
        json!({"type": "TRACE", "tag": 1, "authCode": 2, "traceFlags": 3})
    );
    // A trailing partial route entry is dropped (8-byte entries, 9 route bytes).
    let mut long = vec![0x26, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 3];
    long.extend_from_slice(&[0xCC; 9]);
    let packet = Decoder::new().decode(&long).unwrap();
    assert_eq!((packet.path.hash_size, packet.path.hash_count), (8, 1));
    assert_eq!(packet.observation_path_json(), r#"["CCCCCCCCCCCCCCCC"]"#);
}

fn grp_txt(key: &[u8; 16], hash: u8, plaintext: &[u8]) -> Vec<u8> {
    let mut payload = vec![hash];
    payload.extend_from_slice(&ChannelKey::new(*key).seal(plaintext));
    flood(5, &payload)
}

fn text_plain(text: &[u8]) -> Vec<u8> {
    let mut plain = 1_700_000_000u32.to_le_bytes().to_vec();
    plain.push(0);
    plain.extend_from_slice(text);
    plain
}

#[test]
fn channel_text_sender_split_and_escaping() {
    let decode = |text: &[u8]| payload_json(&grp_txt(&PUBLIC_CHANNEL_KEY, 0x11, &text_plain(text)));
    assert_eq!(
        decode(b"Bob: "),
        r#"{"type":"CHAN","channelHash":17,"channelHashHex":"11","decryptionStatus":"decrypted","channel":"Public","sender":"Bob","sender_timestamp":1700000000}"#
    );
    assert_eq!(
        decode(b"A&B: <hi>"),
        r#"{"type":"CHAN","channelHash":17,"channelHashHex":"11","decryptionStatus":"decrypted","channel":"Public","text":"A\u0026B: \u003chi\u003e","sender":"A\u0026B","sender_timestamp":1700000000}"#
    );
    assert!(!decode(b"[bot] x: hi").contains("\"sender\":"));
    assert!(!decode(b"no separator at all").contains("\"sender\":"));
}

#[test]
fn channel_text_validity_heuristics_decide_the_status() {
    let status = |text: &[u8]| {
        let frame = grp_txt(&PUBLIC_CHANNEL_KEY, 0x11, &text_plain(text));
        match Decoder::new().decode(&frame).unwrap().payload {
            Payload::GrpTxt(message) => message.status.name(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(status(b"two \x01\x02 controls"), "decrypted");
    assert_eq!(
        status(b"three \x01\x02\r controls"),
        "decryption_failed",
        "CR counts"
    );
    assert_eq!(status(b"tabs\t\t\tand\n\n\nnewlines"), "decrypted");
    assert_eq!(
        status("\u{FFFD}\u{FFFD}\u{FFFD}".as_bytes()),
        "decryption_failed"
    );
    assert_eq!(status(b"bad \xFF utf8"), "decryption_failed");
    assert_eq!(
        status(b"ok\x00\xFF\xFF after the NUL is ignored"),
        "decrypted"
    );
}

#[test]
fn short_ciphertext_is_no_key_and_short_payload_is_too_short() {
    assert_eq!(
        payload_json(&flood(5, &[0x11, 0xAA, 0xBB, 1, 2, 3, 4])),
        r#"{"type":"GRP_TXT","mac":"aabb","encryptedData":"01020304","channelHash":17,"channelHashHex":"11","decryptionStatus":"no_key"}"#
    );
    assert_eq!(
        payload_json(&flood(5, &[0x00, 0xAA, 0xBB])),
        r#"{"type":"GRP_TXT","mac":"aabb","channelHashHex":"00","decryptionStatus":"no_key"}"#
    );
    assert_eq!(
        payload_json(&flood(6, &[0x11, 0xAA])),
        r#"{"type":"GRP_DATA","raw":"11aa","error":"too short"}"#
    );
    assert_eq!(
        payload_json(&[0x01, 0x00]),
        r#"{"type":"REQ","error":"too short"}"#
    );
    assert_eq!(
        payload_json(&flood(15, &[])),
        r#"{"type":"RAW_CUSTOM","rawLength":0}"#
    );
    assert_eq!(payload_json(&flood(12, &[])), r#"{"type":"UNKNOWN"}"#);
}

#[test]
fn keys_are_tried_only_for_their_own_channel_hash() {
    // Deliberate difference from CoreScope (spec §11.5): a frame sealed with the Public key
    // but carrying another hash byte is not decrypted, although the reference (which tries
    // every key) would decrypt it.
    let frame = grp_txt(&PUBLIC_CHANNEL_KEY, 0x12, &text_plain(b"Eve: hi"));
    let packet = Decoder::new().decode(&frame).unwrap();
    assert_eq!(packet.channel_hash_column().as_deref(), Some("enc_12"));
    let right = grp_txt(&PUBLIC_CHANNEL_KEY, 0x11, &text_plain(b"Eve: hi"));
    assert_eq!(
        Decoder::new()
            .decode(&right)
            .unwrap()
            .channel_hash_column()
            .as_deref(),
        Some("Public")
    );
}

#[test]
fn configured_and_hashtag_keys_decrypt_with_their_names() {
    let secret = [0x42u8; 16];
    let hash = meshcore_wire::crypto::channel_hash(&secret);
    let decoder = Decoder::builder()
        .channel_key("Ops", [0u8; 16])
        .channel_key("Ops", secret) // later keys with the same name replace earlier ones
        .hashtag("weather")
        .build();
    assert_eq!(decoder.channel_key_count(), 3);
    let frame = grp_txt(&secret, hash, &text_plain(b"hq: check"));
    assert_eq!(
        decoder
            .decode(&frame)
            .unwrap()
            .channel_hash_column()
            .as_deref(),
        Some("Ops")
    );
    let key = hashtag_key("#weather");
    let frame = grp_txt(
        &key,
        meshcore_wire::crypto::channel_hash(&key),
        &text_plain(b"wx: rain"),
    );
    assert_eq!(
        decoder
            .decode(&frame)
            .unwrap()
            .channel_hash_column()
            .as_deref(),
        Some("#weather")
    );
    // "public" in any case is the Public channel.
    let decoder = Decoder::builder()
        .channel_key("PUBLIC", PUBLIC_CHANNEL_KEY)
        .build();
    assert_eq!(decoder.channel_names().collect::<Vec<_>>(), ["Public"]);
    assert!(Decoder::builder().channel_key_hex("x", "abcd").is_err());
    assert!(
        Decoder::builder()
            .channel_key_hex("x", "9cd8fcf22a47333b591d96a2b848b73f")
            .is_ok()
    );
}

#[test]
fn group_data_inner_errors() {
    let key = hashtag_key("#test");
    let hash = meshcore_wire::crypto::channel_hash(&key);
    let mut payload = vec![hash];
    payload.extend_from_slice(&ChannelKey::new(key).seal(&[0x01, 0x00, 200, 1, 2, 3]));
    let decoder = Decoder::builder().hashtag("#test").build();
    let packet = decoder.decode(&flood(6, &payload)).unwrap();
    assert_eq!(
        packet.payload.to_json(),
        r##"{"type":"GRP_DATA","channelHash":217,"channelHashHex":"D9","decryptionStatus":"decrypted","channel":"#test","dataType":1,"dataLen":200,"error":"inner data_len exceeds buffer"}"##
    );
    assert!(matches!(
        packet.payload,
        Payload::GrpData(ref message) if matches!(message.status, ChannelStatus::Data(_))
    ));
    // GRP_DATA never counts as a channel_hash column (GRP_TXT only).
    assert_eq!(packet.channel_hash_column(), None);
}

#[test]
fn hex_input_is_cleaned_like_corescope() {
    let decoder = Decoder::new();
    let spaced = decoder.decode_hex("0e00 aabb\r\nccdd").unwrap();
    assert_eq!(
        spaced.to_json().rsplit_once("\"raw\":").unwrap().1,
        "\"0E00AABBCCDD\"}"
    );
    assert_eq!(
        decoder
            .decode_hex("0e00\taabbccdd")
            .unwrap_err()
            .to_string(),
        "invalid hex: encoding/hex: invalid byte: U+0009"
    );
    assert_eq!(decoder.decode_hex("").unwrap_err(), DecodeError::TooShort);
}

#[test]
fn full_packet_json_has_the_reference_shape() {
    let packet = Decoder::new().decode_hex("0E41AABB11223344").unwrap();
    assert_eq!(
        packet.to_json(),
        r#"{"header":{"routeType":2,"routeTypeName":"DIRECT","payloadType":3,"payloadTypeName":"ACK","payloadVersion":0},"transportCodes":null,"path":{"hashSize":2,"hashCount":1,"hops":["AABB"]},"payload":{"type":"ACK","extraHash":"44332211","ackLen":4},"raw":"0E41AABB11223344"}"#
    );
}
