//! Runs every vector of `tests/data/vectors.json` (copy of `shared/spec/vectors.json`) through
//! the decoder and compares with CoreScope's recorded output.

use meshcore_wire::{Decoder, Payload, packet_hash_hex, role_name, validate_advert};
use serde_json::Value;

pub(crate) fn vectors() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vectors.json");
    let text = std::fs::read_to_string(path).expect("vectors.json is present");
    serde_json::from_str(&text).expect("vectors.json parses")
}

/// The keys of CoreScope's key set that matter for the vectors: Public (built in), `#bot` and
/// `#test`. Our bundled list is larger than CoreScope's in one relevant place: it holds
/// `#testing`, which decrypts v87 (see `bundled_list_decrypts_the_ottawa_capture`).
fn decoder() -> Decoder {
    Decoder::builder().hashtag("#bot").hashtag("test").build()
}

#[test]
fn every_vector_decodes_like_corescope() {
    let decoder = decoder();
    let vectors = vectors();
    assert_eq!(vectors.len(), 54);
    let mut byte_identical = 0;
    let mut failures = Vec::new();
    for vector in &vectors {
        let id = vector["id"].as_str().unwrap();
        let hex = vector["hex"].as_str().unwrap();
        let expect = &vector["expect"];
        if let Err(problem) = check(&decoder, hex, expect, &mut byte_identical) {
            failures.push(format!("{id}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing vectors:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let decodable = vectors
        .iter()
        .filter(|v| v["expect"]["decode_ok"] == true)
        .count();
    eprintln!("decoded_json byte-identical for {byte_identical} of {decodable} decodable vectors");
    assert_eq!(byte_identical, decodable);
}

macro_rules! ensure_eq {
    ($left:expr, $right:expr, $what:expr) => {
        if $left != $right {
            return Err(format!("{}: got {:?}, want {:?}", $what, $left, $right));
        }
    };
}

fn check(
    decoder: &Decoder,
    hex: &str,
    expect: &Value,
    identical: &mut usize,
) -> Result<(), String> {
    ensure_eq!(
        packet_hash_hex(hex).to_string(),
        expect["hash"].as_str().unwrap(),
        "hash"
    );
    let result = decoder.decode_hex(hex);
    if expect["decode_ok"] == false {
        return match result {
            Ok(_) => Err("decoded, expected an error".into()),
            Err(error) => {
                ensure_eq!(
                    error.to_string(),
                    expect["error"].as_str().unwrap(),
                    "error"
                );
                Ok(())
            }
        };
    }
    let packet = result.map_err(|e| format!("unexpected error {e}"))?;
    // The bytes entry point agrees with the hex one, and the byte hash with the string hash.
    let again = decoder
        .decode(&packet.raw)
        .map_err(|e| format!("bytes: {e}"))?;
    ensure_eq!(again, packet, "decode(bytes)");
    ensure_eq!(
        packet.hash().map(|h| h.to_string()),
        Some(expect["hash"].as_str().unwrap().to_owned()),
        "byte hash"
    );

    ensure_eq!(
        packet.header.route as u64,
        expect["route_type"].as_u64().unwrap(),
        "route"
    );
    ensure_eq!(
        packet.header.route.name(),
        expect["route_type_name"].as_str().unwrap(),
        "route name"
    );
    ensure_eq!(
        u64::from(packet.header.payload_type.code()),
        expect["payload_type"].as_u64().unwrap(),
        "ptype"
    );
    ensure_eq!(
        packet.header.payload_type.name(),
        expect["payload_type_name"].as_str().unwrap(),
        "ptype name"
    );
    ensure_eq!(
        u64::from(packet.header.version),
        expect["payload_version"].as_u64().unwrap(),
        "version"
    );

    let json: Value =
        serde_json::from_str(&packet.to_json()).map_err(|e| format!("to_json: {e}"))?;
    ensure_eq!(
        json["transportCodes"],
        expect["transport_codes"],
        "transportCodes"
    );
    ensure_eq!(json["path"], expect["path_object"], "path object");
    ensure_eq!(
        json["header"]["payloadTypeName"],
        expect["payload_type_name"],
        "header json"
    );
    ensure_eq!(json["raw"].as_str().unwrap(), hex.to_uppercase(), "raw");
    ensure_eq!(json["anomaly"], expect["anomaly"], "anomaly");
    ensure_eq!(json["payload"], expect["payload"], "payload in to_json");
    ensure_eq!(
        packet.path.hops_completed.map(u64::from),
        expect["hops_completed"].as_u64(),
        "hops completed"
    );

    let decoded_json = packet.payload.to_json();
    let parsed: Value = serde_json::from_str(&decoded_json).map_err(|e| format!("json: {e}"))?;
    ensure_eq!(parsed, expect["payload"], "payload JSON value");
    if decoded_json == expect["decoded_json"].as_str().unwrap() {
        *identical += 1;
    } else {
        return Err(format!(
            "decoded_json not byte-identical:\n  got  {decoded_json}\n  want {}",
            expect["decoded_json"]
        ));
    }

    let path_json: Value = serde_json::from_str(&packet.observation_path_json()).unwrap();
    ensure_eq!(
        path_json,
        expect["observation_path_json"],
        "observation path_json"
    );
    ensure_eq!(
        packet.channel_hash_column().as_deref(),
        expect["channel_hash_column"].as_str(),
        "channel_hash column"
    );
    ensure_eq!(
        packet.from_pubkey_column().as_deref(),
        expect["from_pubkey_column"].as_str(),
        "from_pubkey column"
    );

    if let Payload::Advert(advert) = &packet.payload {
        let fields = &expect["key_fields"];
        ensure_eq!(advert.role(), fields["role"].as_str().unwrap(), "role");
        ensure_eq!(
            role_name(advert.flags),
            fields["role"].as_str().unwrap(),
            "role_name"
        );
        ensure_eq!(
            advert.signature_valid,
            fields["signature_valid"].as_bool(),
            "signature"
        );
        // Every advert in the set has a sane key, location and name.
        ensure_eq!(
            validate_advert(advert),
            Ok::<(), meshcore_wire::AdvertRejection>(()),
            "ValidateAdvert"
        );
    }
    Ok(())
}

#[test]
fn vectors_decode_without_keys_except_channel_text() {
    // With signature checks off, adverts carry no signatureValid and nothing else changes
    // for non-channel payloads.
    let decoder = Decoder::builder().validate_signatures(false).build();
    for vector in vectors() {
        let expect = &vector["expect"];
        let Ok(packet) = decoder.decode_hex(vector["hex"].as_str().unwrap()) else {
            continue;
        };
        let mut want = expect["payload"].clone();
        if let Payload::Advert(_) = packet.payload {
            want.as_object_mut().unwrap().remove("signatureValid");
        }
        let got: Value = serde_json::from_str(&packet.payload.to_json()).unwrap();
        let hashtag_channel = expect["payload"]["decryptionStatus"] == "decrypted"
            && expect["payload"]["channel"] != "Public";
        if hashtag_channel {
            assert_eq!(
                got["decryptionStatus"], "decryption_failed",
                "{}",
                vector["id"]
            );
        } else {
            assert_eq!(got, want, "{}", vector["id"]);
        }
    }
}

#[test]
fn bundled_list_decrypts_the_ottawa_capture() {
    // v87 is a real capture CoreScope could not decrypt with its key set; `#testing` is in our
    // bundled list, and the plaintext passes every validity check, so we decrypt it.
    let vector = vectors().into_iter().find(|v| v["id"] == "v87").unwrap();
    let packet = Decoder::builder()
        .bundled_hashtags()
        .build()
        .decode_hex(vector["hex"].as_str().unwrap())
        .unwrap();
    assert_eq!(packet.channel_hash_column().as_deref(), Some("#testing"));
    assert_eq!(
        packet.payload.to_json(),
        "{\"type\":\"CHAN\",\"channelHash\":89,\"channelHashHex\":\"59\",\"decryptionStatus\":\"decrypted\",\"channel\":\"#testing\",\"text\":\"MrAlders0n: Thank you! Testing out how the scopes feature works\",\"sender\":\"MrAlders0n\",\"sender_timestamp\":1771554160}"
    );
    // Every other vector decodes the same with the whole bundled list loaded.
    let bundled = Decoder::builder().bundled_hashtags().build();
    for vector in vectors() {
        if vector["id"] == "v87" || vector["expect"]["decode_ok"] == false {
            continue;
        }
        let packet = bundled.decode_hex(vector["hex"].as_str().unwrap()).unwrap();
        assert_eq!(
            packet.payload.to_json(),
            vector["expect"]["decoded_json"].as_str().unwrap()
        );
    }
}

#[test]
fn server_decoder_variant_matches_the_server_column() {
    // The server column was produced with signature validation on and no channel keys; ours
    // never decrypts in this rendering, so the key set does not matter.
    let decoder = decoder();
    for vector in vectors() {
        let expect = &vector["expect"];
        let Ok(packet) = decoder.decode_hex(vector["hex"].as_str().unwrap()) else {
            continue;
        };
        let want = expect
            .get("server_api_decode_payload")
            .unwrap_or(&expect["payload"]);
        let got: Value = serde_json::from_str(&packet.server_payload_json()).unwrap();
        assert_eq!(&got, want, "{}", vector["id"]);
        let api: Value = serde_json::from_str(&packet.api_decode_json()).unwrap();
        assert_eq!(&api["decoded"]["payload"], want, "{}", vector["id"]);
        assert_eq!(
            api["decoded"]["path"], expect["path_object"],
            "{}",
            vector["id"]
        );
        assert_eq!(
            api["decoded"]["header"]["routeType"], expect["route_type"],
            "{}",
            vector["id"]
        );
        assert!(api["decoded"].get("transportCodes").is_none());
    }
}
