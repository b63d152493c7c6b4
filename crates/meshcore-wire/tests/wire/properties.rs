//! Properties: the decoder, the hash and the JSON writer never panic, on any input, and
//! whatever decodes renders valid JSON.

use meshcore_wire::{Decoder, packet_hash, packet_hash_hex};
use std::sync::OnceLock;

use proptest::prelude::*;

use crate::vectors::vectors;

fn check_bytes(decoder: &Decoder, frame: &[u8]) {
    let _ = packet_hash(frame);
    if let Ok(packet) = decoder.decode(frame) {
        let json = packet.to_json();
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert!(parsed["payload"]["type"].is_string());
        serde_json::from_str::<serde_json::Value>(&packet.payload.to_json()).expect("valid JSON");
        serde_json::from_str::<serde_json::Value>(&packet.observation_path_json())
            .expect("valid JSON");
        let _ = packet.channel_hash_column();
        let _ = packet.from_pubkey_column();
        assert_eq!(packet.hash(), packet_hash(frame));
    }
}

/// One decoder with every bundled key, shared by all cases.
fn keyed() -> &'static Decoder {
    static DECODER: OnceLock<Decoder> = OnceLock::new();
    DECODER.get_or_init(|| Decoder::builder().bundled_hashtags().build())
}

/// The vectors, read once.
fn vector_hex() -> &'static [String] {
    static HEX: OnceLock<Vec<String>> = OnceLock::new();
    HEX.get_or_init(|| {
        vectors()
            .iter()
            .map(|v| v["hex"].as_str().unwrap().to_owned())
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_bytes(keyed(), &frame);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,80}") {
        let decoder = Decoder::new();
        let _ = packet_hash_hex(&text);
        let _ = decoder.decode_hex(&text);
    }

    #[test]
    fn arbitrary_hex_never_panics(frame in proptest::collection::vec(any::<u8>(), 0..300), upper in any::<bool>()) {
        let mut text: String = frame.iter().map(|b| format!("{b:02x}")).collect();
        if upper { text = text.to_uppercase(); }
        let hash = packet_hash_hex(&text);
        prop_assert_eq!(hash.hash(), packet_hash(&frame));
        let from_hex = Decoder::new().decode_hex(&text);
        let from_bytes = Decoder::new().decode(&frame);
        prop_assert_eq!(from_hex, from_bytes);
    }

    #[test]
    fn mutated_vectors_never_panic(
        index in 0usize..54,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let Ok(mut frame) = meshcore_wire::hex::decode(&vector_hex()[index]) else {
            return Ok(());
        };
        if frame.is_empty() { return Ok(()); }
        for (at, value) in flips {
            let len = frame.len();
            frame[at % len] ^= value;
        }
        let keep = frame.len() - cut % frame.len();
        frame.truncate(keep);
        check_bytes(keyed(), &frame);
    }
}
