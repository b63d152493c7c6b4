//! Throughput of the simulator: events generated per second on the default mesh, the cost
//! of rendering an event as its MQTT message, and the frame encoder it is built on.

use analyzer_sim::{SimConfig, SimEvent, Simulator, mqtt};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use meshcore_wire::PayloadType;
use meshcore_wire::crypto::{ChannelKey, PUBLIC_CHANNEL_KEY};
use meshcore_wire::encode::{
    AdvertAppData, AdvertType, Frame, MAX_FRAME_SIZE, Path, Payload, PeerBody, PeerSecret,
};

const TRANSMISSIONS: u64 = 2_000;

fn config() -> SimConfig {
    // A database-like stream: ~22 observations per transmission, status reports included.
    let base = SimConfig::for_database(1, TRANSMISSIONS, 1.0);
    Simulator::calibrate(&base, 22.5).unwrap_or(base)
}

fn generate(c: &mut Criterion) {
    let config = config();
    let events = Simulator::new(config.clone())
        .map(Iterator::count)
        .unwrap_or(0);
    let mut group = c.benchmark_group("simulate");
    group.throughput(Throughput::Elements(events as u64));
    group.sample_size(10);
    group.bench_function("events_2k_transmissions", |b| {
        b.iter(|| {
            Simulator::new(config.clone())
                .map(Iterator::count)
                .unwrap_or(0)
        })
    });
    group.finish();

    let sample: Vec<SimEvent> = Simulator::new(config)
        .map(|sim| sim.take(10_000).collect())
        .unwrap_or_default();
    let mut group = c.benchmark_group("mqtt");
    group.throughput(Throughput::Elements(sample.len() as u64));
    group.bench_function("render_10k_events", |b| {
        b.iter(|| {
            sample
                .iter()
                .map(|e| mqtt::render(e).payload.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    let mut buf = [0u8; MAX_FRAME_SIZE];
    let key = SigningKey::from_bytes(&[7; 32]);
    let app_data = AdvertAppData {
        kind: AdvertType::Repeater,
        location: Some((47.6, -122.3)),
        feat1: None,
        feat2: None,
        name: Some("Capitol Hill Rptr"),
        telemetry: None,
    };
    let path = [0x11, 0x22, 0x33, 0x44];
    group.bench_function("advert_signed", |b| {
        let frame = Frame::flood(
            Path::new(1, &path).expect("valid path"),
            Payload::Advert {
                key: &key,
                timestamp: 1_780_000_000,
                app_data: &app_data,
            },
        );
        b.iter(|| frame.emit(&mut buf))
    });
    let channel = ChannelKey::new(PUBLIC_CHANNEL_KEY);
    group.bench_function("grp_txt_sealed", |b| {
        let frame = Frame::flood(
            Path::new(2, &path).expect("valid path"),
            Payload::GrpTxt {
                key: &channel,
                timestamp: 1_780_000_000,
                flags: 0,
                text: "Alice T-Deck: Checking in from Ballard",
            },
        );
        b.iter(|| frame.emit(&mut buf))
    });
    let secret = PeerSecret::new(&[9; 32]);
    group.bench_function("txt_msg_sealed", |b| {
        let body = PeerBody::TxtMsg {
            timestamp: 1,
            txt_type: 0,
            attempt: 0,
            text: "on my way",
        };
        let frame = Frame::direct(
            Path::new(1, &path).expect("valid path"),
            Payload::Peer {
                dest_hash: 1,
                src_hash: 2,
                secret: &secret,
                body,
            },
        );
        b.iter(|| frame.emit(&mut buf))
    });
    // What the simulator does for each heard copy: splice a path in front of a prebuilt
    // payload.
    let payload = [0x5Au8; 120];
    group.bench_function("flood_copy_splice", |b| {
        let frame = Frame::flood(
            Path::new(3, &[1, 2, 3, 4, 5, 6, 7, 8, 9]).expect("valid path"),
            Payload::Raw {
                payload_type: PayloadType::GrpTxt,
                bytes: &payload,
            },
        );
        b.iter(|| frame.emit(&mut buf))
    });
    group.finish();
}

criterion_group!(benches, generate, encode);
criterion_main!(benches);
