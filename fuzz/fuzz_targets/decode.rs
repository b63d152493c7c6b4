//! Fuzz target: decode arbitrary bytes (as a frame and as hex text), hash them and render
//! every JSON form. Run with `cargo fuzz run -s none decode` (stable rustc needs `-s none`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use meshcore_wire::{Decoder, packet_hash, packet_hash_hex};

fn decoder() -> &'static Decoder {
    static DECODER: OnceLock<Decoder> = OnceLock::new();
    DECODER.get_or_init(|| Decoder::builder().bundled_hashtags().build())
}

fuzz_target!(|data: &[u8]| {
    let decoder = decoder();
    let _ = packet_hash(data);
    if let Ok(packet) = decoder.decode(data) {
        let json = packet.to_json();
        assert!(json.starts_with("{\"header\":"));
        let _ = packet.payload.to_json();
        let _ = packet.observation_path_json();
        let _ = packet.channel_hash_column();
        let _ = packet.from_pubkey_column();
        assert_eq!(packet.hash(), packet_hash(data));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = packet_hash_hex(text);
        if let Ok(packet) = decoder.decode_hex(text) {
            let _ = packet.to_json();
        }
    }
});
