//! Decode throughput over a mix of real and generated frames.
//!
//! The mix (3,000 frames): the 43 decodable spec vectors repeated 10 times (430), 1,300
//! GRP_TXT (600 on Public, 400 on bundled hashtag channels, 300 on a channel we have no key
//! for), 300 adverts signed by 100 distinct keys (every advert unique), and 970 small frames
//! (ACK, TXT_MSG, PATH, TRACE) like the background traffic of a real mesh.
//!
//! Groups:
//! * `no_keys`: Public key only (always loaded), signature checks off.
//! * `keys_sigs`: Public + the bundled hashtag list, signature checks on, either `cold`
//!   (no verification cache: every advert costs a full Ed25519 verify) or `cached` (the cache
//!   is warm, as when many observers report the same advert).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use meshcore_wire::crypto::{ChannelKey, PUBLIC_CHANNEL_KEY, channel_hash, hashtag_key};
use meshcore_wire::{BUNDLED_HASHTAGS, Decoder, packet_hash, packet_hash_hex};

fn vector_frames() -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/vectors.json"
    ))
    .expect("vectors.json");
    let vectors: serde_json::Value = serde_json::from_str(&text).expect("vectors parse");
    let decoder = Decoder::new();
    vectors
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| meshcore_wire::hex::decode(v["hex"].as_str()?).ok())
        .filter(|frame| decoder.decode(frame).is_ok())
        .collect()
}

fn grp_txt(key: [u8; 16], path_hops: u8, counter: u32, text: &str) -> Vec<u8> {
    let mut plain = (1_760_000_000 + counter).to_le_bytes().to_vec();
    plain.push(0);
    plain.extend_from_slice(text.as_bytes());
    let mut frame = vec![0x15, path_hops];
    frame.extend((0..path_hops).map(|i| i.wrapping_mul(37)));
    frame.push(channel_hash(&key));
    frame.extend_from_slice(&ChannelKey::new(key).seal(&plain));
    frame
}

fn advert(seed: u8, timestamp: u32) -> Vec<u8> {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let mut app = vec![0x92];
    app.extend_from_slice(&(47_000_000 + i32::from(seed) * 1000).to_le_bytes());
    app.extend_from_slice(&(-122_000_000 - i32::from(seed) * 1000).to_le_bytes());
    app.extend_from_slice(format!("Repeater {seed}").as_bytes());
    let mut message = key.verifying_key().to_bytes().to_vec();
    message.extend_from_slice(&timestamp.to_le_bytes());
    message.extend_from_slice(&app);
    let signature = key.sign(&message).to_bytes();
    let mut frame = vec![0x11, 0x03, 0xA1, 0xB2, 0xC3];
    frame.extend_from_slice(&message[..36]);
    frame.extend_from_slice(&signature);
    frame.extend_from_slice(&app);
    frame
}

fn frame_mix() -> Vec<Vec<u8>> {
    let mut frames = Vec::with_capacity(3000);
    let vectors = vector_frames();
    for _ in 0..10 {
        frames.extend(vectors.iter().cloned());
    }
    let texts = [
        "Alice: hello mesh",
        "Bob 📡: anyone on the north ridge?",
        "wx: rain at 18:00",
    ];
    for i in 0..1300u32 {
        let text = texts[i as usize % texts.len()];
        let key = match i % 13 {
            0..=5 => PUBLIC_CHANNEL_KEY,
            6..=9 => hashtag_key(BUNDLED_HASHTAGS[i as usize % BUNDLED_HASHTAGS.len()]),
            _ => hashtag_key("#a-channel-nobody-configured"),
        };
        frames.push(grp_txt(key, (i % 6) as u8, i, text));
    }
    for i in 0..300u32 {
        frames.push(advert((i % 100) as u8, 1_760_000_000 + i));
    }
    for i in 0..970u32 {
        let b = i.to_le_bytes();
        frames.push(match i % 4 {
            0 => vec![0x0D, 0x02, 0x11, 0x22, b[0], b[1], b[2], b[3]],
            1 => {
                let mut f = vec![0x0A, 0x00, b[0], b[1], 0x12, 0x34];
                f.extend_from_slice(&[0x5A; 32]);
                f
            }
            2 => {
                let mut f = vec![0x21, 0x04, 1, 2, 3, 4, b[0], b[1], 0x99, 0x88];
                f.extend_from_slice(&[0x77; 16]);
                f
            }
            _ => vec![
                0x26, 0x02, 0x2F, 0xF8, b[0], b[1], b[2], b[3], 0, 0, 0, 0, 0, 0xAA, 0xBB, 0xCC,
            ],
        });
    }
    frames
}

fn to_hex(frame: &[u8]) -> String {
    meshcore_wire::hex::upper(frame)
}

fn bench(c: &mut Criterion) {
    let frames = frame_mix();
    let hex_frames: Vec<String> = frames.iter().map(|f| to_hex(f)).collect();
    let n = frames.len() as u64;

    let plain = Decoder::builder().validate_signatures(false).build();
    let mut group = c.benchmark_group("no_keys");
    group.throughput(Throughput::Elements(n));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for frame in &frames {
                let _ = black_box(plain.decode(black_box(frame)));
            }
        })
    });
    group.bench_function("decode+hash", |b| {
        b.iter(|| {
            for frame in &frames {
                let _ = black_box(plain.decode(black_box(frame)));
                black_box(packet_hash(frame));
            }
        })
    });
    group.bench_function("decode+json", |b| {
        let mut out = String::with_capacity(1024);
        b.iter(|| {
            for frame in &frames {
                if let Ok(packet) = plain.decode(black_box(frame)) {
                    out.clear();
                    packet.write_json(&mut out);
                    black_box(&out);
                }
            }
        })
    });
    group.bench_function("decode_hex+hash_hex+decoded_json", |b| {
        b.iter(|| {
            for text in &hex_frames {
                black_box(packet_hash_hex(black_box(text)));
                if let Ok(packet) = plain.decode_hex(text) {
                    black_box(packet.payload.to_json());
                }
            }
        })
    });
    group.finish();

    let cold = Decoder::builder()
        .bundled_hashtags()
        .signature_cache(0)
        .build();
    let cached = Decoder::builder().bundled_hashtags().build();
    eprintln!("keys_sigs: {} channel keys", cached.channel_key_count());
    for frame in &frames {
        let _ = cached.decode(frame); // warm the verification cache
    }
    let mut group = c.benchmark_group("keys_sigs");
    group.throughput(Throughput::Elements(n));
    group.sample_size(20);
    group.bench_function("decode_cold", |b| {
        b.iter(|| {
            for frame in &frames {
                let _ = black_box(cold.decode(black_box(frame)));
            }
        })
    });
    group.bench_function("decode_cached", |b| {
        b.iter(|| {
            for frame in &frames {
                let _ = black_box(cached.decode(black_box(frame)));
            }
        })
    });
    group.bench_function("decode_cached+hash+json", |b| {
        let mut out = String::with_capacity(1024);
        b.iter(|| {
            for frame in &frames {
                black_box(packet_hash(frame));
                if let Ok(packet) = cached.decode(black_box(frame)) {
                    out.clear();
                    packet.write_json(&mut out);
                    black_box(&out);
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
