//! Behaviour of the simulated stream as a consumer sees it: frames decode with the real
//! decoder, signatures verify, channel messages decrypt to what was sent, TRACE SNRs come back,
//! the stream is deterministic and time-ordered, malformed frames come at the configured rate,
//! and the MQTT messages carry the observer bridge's topics and field names.

use std::collections::{HashMap, HashSet};

use analyzer_sim::{Direction, SimConfig, SimEvent, Simulator, mqtt};
use meshcore_wire::{ChannelStatus, Decoder, Payload, PayloadType};

fn small(seed: u64, packets: u64) -> SimConfig {
    SimConfig {
        seed,
        nodes: 150,
        observers: 8,
        max_packets: Some(packets),
        ..SimConfig::default()
    }
}

fn decoder(config: &SimConfig) -> Decoder {
    config
        .hashtag_channels
        .iter()
        .fold(Decoder::builder(), |builder, name| builder.hashtag(name))
        .build()
}

#[test]
fn every_frame_decodes_and_carries_what_was_sent() {
    let config = SimConfig {
        malformed_rate: 0.01,
        ..small(7, 4_000)
    };
    let decoder = decoder(&config);
    let sim = Simulator::new(config).unwrap();
    let names: HashSet<String> = sim.mesh().nodes.iter().map(|n| n.name.clone()).collect();
    let keys: HashSet<[u8; 32]> = sim.mesh().nodes.iter().map(|n| n.public_key).collect();
    let mut seen_types = HashSet::new();
    let mut seen_hash_sizes = HashSet::new();
    let (mut packets, mut malformed, mut statuses, mut sensor_adverts) = (0, 0, 0, 0);
    let mut last_time = 0;
    for event in sim {
        assert!(event.time_ms() >= last_time, "events come in time order");
        last_time = event.time_ms();
        let SimEvent::Packet(event) = event else {
            statuses += 1;
            continue;
        };
        packets += 1;
        let decoded = decoder.decode(&event.raw);
        if event.malformed {
            malformed += 1;
            assert!(
                decoded.is_err(),
                "malformed frame accepted: {:02X?}",
                event.raw
            );
            continue;
        }
        let packet = decoded.unwrap_or_else(|e| panic!("{e}: {:02X?}", event.raw));
        seen_types.insert(packet.header.payload_type);
        if !matches!(packet.payload, Payload::Trace(_)) && !packet.path.hop_bytes().is_empty() {
            seen_hash_sizes.insert(packet.path.hash_size);
        }
        match &packet.payload {
            Payload::Malformed { error, .. } => panic!("partial decode {error:?}"),
            Payload::Advert(advert) => {
                assert_eq!(advert.signature_valid, Some(true));
                assert!(keys.contains(&advert.public_key));
                if advert.advert_type() == Some(4) {
                    sensor_adverts += 1;
                    let battery = advert.battery_mv.expect("sensor battery");
                    assert!((3_600..4_100).contains(&battery), "{battery}");
                    let celsius = advert.temperature_c().expect("sensor temperature");
                    assert!((-10.0..35.0).contains(&celsius), "{celsius}");
                }
                assert!(
                    names.contains(advert.name.as_deref().unwrap_or(""))
                        || advert.name_cut_bytes == 0
                );
            }
            Payload::GrpTxt(message) => {
                let ChannelStatus::Text(text) = &message.status else {
                    panic!("channel text did not decrypt: {:?}", message.status)
                };
                let sender = text.sender().expect("sender prefix");
                assert!(names.contains(sender), "{sender}");
                assert!(!text.message().is_empty());
            }
            Payload::GrpData(message) => {
                assert!(
                    matches!(message.status, ChannelStatus::Data(_)),
                    "{:?}",
                    message.status
                );
            }
            Payload::Trace(trace) => {
                // One SNR byte per completed hop, each a plausible LoRa SNR.
                assert_eq!(trace.snr_quarter_db.len(), packet.raw[1] as usize);
                assert!(trace.snr_db().all(|snr| (-25.0..=14.0).contains(&snr)));
                assert!(!trace.route.is_empty());
            }
            _ => {}
        }
    }
    assert!(statuses > 0, "observers report their status");
    assert!(sensor_adverts > 0, "sensors advertise telemetry");
    let share = malformed as f64 / packets as f64;
    assert!((0.005..0.02).contains(&share), "malformed share {share}");
    for expected in [
        PayloadType::Req,
        PayloadType::Response,
        PayloadType::TxtMsg,
        PayloadType::Ack,
        PayloadType::Advert,
        PayloadType::GrpTxt,
        PayloadType::GrpData,
        PayloadType::AnonReq,
        PayloadType::Path,
        PayloadType::Trace,
        PayloadType::Multipart,
        PayloadType::Control,
        PayloadType::RawCustom,
    ] {
        assert!(
            seen_types.contains(&expected),
            "no {expected:?} in the stream"
        );
    }
    assert_eq!(
        seen_hash_sizes,
        HashSet::from([1, 2, 3]),
        "1, 2 and 3-byte paths"
    );
}

#[test]
fn flood_paths_list_repeaters_and_grow_hop_by_hop() {
    let sim = Simulator::new(small(3, 1_500)).unwrap();
    let repeater_prefixes: HashSet<Vec<u8>> = sim
        .mesh()
        .repeaters
        .iter()
        .flat_map(|&r| (1..=3).map(move |n| (r, n)))
        .map(|(r, n)| sim.mesh().nodes[r as usize].public_key[..n].to_vec())
        .collect();
    let decoder = Decoder::new();
    let mut max_hops_per_packet: HashMap<u64, usize> = HashMap::new();
    for event in sim {
        let SimEvent::Packet(event) = event else {
            continue;
        };
        if event.malformed {
            continue;
        }
        let packet = decoder.decode(&event.raw).unwrap();
        if packet.header.route != meshcore_wire::RouteType::Flood {
            continue;
        }
        for hop in packet.path.hops() {
            assert!(
                repeater_prefixes.contains(hop),
                "hop {hop:02X?} is not a repeater"
            );
        }
        let hops = packet.path.hops().count();
        let entry = max_hops_per_packet.entry(event.packet_id).or_default();
        *entry = (*entry).max(hops);
    }
    let multi_hop = max_hops_per_packet.values().filter(|&&h| h >= 2).count();
    assert!(
        multi_hop * 2 > max_hops_per_packet.len(),
        "most floods travel several hops"
    );
}

#[test]
fn same_seed_same_events_other_seed_other_events() {
    let run = |seed| -> Vec<SimEvent> { Simulator::new(small(seed, 400)).unwrap().collect() };
    let a = run(11);
    assert!(a.len() > 400);
    assert_eq!(a, run(11));
    assert_ne!(a, run(12));
}

#[test]
fn a_mesh_whose_observers_hear_nothing_still_ends() {
    // Six nodes spread over a 1 500 km radius: nobody is in range of anybody.
    let config = SimConfig {
        nodes: 6,
        observers: 1,
        radius_km: 1_500.0,
        status_interval_ms: 0,
        publish_tx: false,
        ..small(1, 10)
    };
    let events = Simulator::new(config).unwrap().count();
    assert!(events < 10, "{events}");
}

#[test]
fn bounded_runs_originate_exactly_the_requested_packets() {
    let mut sim = Simulator::new(small(5, 1_000)).unwrap();
    let ids: HashSet<u64> = sim
        .by_ref()
        .filter_map(|e| match e {
            SimEvent::Packet(p) => Some(p.packet_id),
            SimEvent::Status(_) => None,
        })
        .collect();
    assert_eq!(sim.packets_observed(), 1_000);
    assert_eq!(ids.len(), 1_000, "every counted packet reached an observer");
    assert!(sim.packets_originated() >= 1_000);
}

#[test]
fn malformed_rate_is_respected() {
    let config = SimConfig {
        malformed_rate: 0.1,
        status_interval_ms: 0,
        ..small(9, 2_000)
    };
    let (mut total, mut bad) = (0usize, 0usize);
    let decoder = Decoder::new();
    for event in Simulator::new(config).unwrap() {
        let SimEvent::Packet(event) = event else {
            panic!("no status with interval 0")
        };
        total += 1;
        if event.malformed {
            bad += 1;
            assert!(decoder.decode(&event.raw).is_err());
        }
    }
    let share = bad as f64 / total as f64;
    assert!((0.09..0.11).contains(&share), "{share} of {total}");
}

#[test]
fn calibration_aims_at_observations_per_transmission_and_the_time_span() {
    // A gen-db style request: 3 000 transmissions with ~6 observations each over one day.
    let base = SimConfig {
        nodes: 150,
        observers: 8,
        ..SimConfig::for_database(21, 3_000, 1.0)
    };
    let tuned = Simulator::calibrate(&base, 6.0).unwrap();
    assert!(tuned.capture_probability < 1.0);
    let mut sim = Simulator::new(tuned).unwrap();
    let (mut events, mut first, mut last) = (0, None, 0);
    for event in sim.by_ref() {
        first.get_or_insert(event.time_ms());
        last = event.time_ms();
        events += u64::from(matches!(event, SimEvent::Packet(_)));
    }
    assert_eq!(sim.packets_observed(), 3_000);
    let ratio = events as f64 / 3_000.0;
    assert!((5.4..6.6).contains(&ratio), "{ratio}");
    let days = (last - first.unwrap()) as f64 / 86_400_000.0;
    assert!((0.85..1.15).contains(&days), "{days}");
}

#[test]
fn mqtt_messages_use_the_bridge_topics_and_fields() {
    let sim = Simulator::new(small(4, 300)).unwrap();
    let (mut packet_seen, mut status_seen) = (false, false);
    let (mut rx_seen, mut tx_seen) = (false, false);
    for event in sim {
        let message = mqtt::render(&event);
        let observer = event.observer();
        let json: serde_json::Value = serde_json::from_str(&message.payload).unwrap();
        let parts: Vec<&str> = message.topic.split('/').collect();
        assert_eq!(
            parts[..3],
            [
                "meshcore",
                observer.iata.as_str(),
                observer.public_key_hex.as_str()
            ]
        );
        assert_eq!(json["origin"], observer.name.as_str());
        assert_eq!(json["origin_id"], observer.public_key_hex.as_str());
        let timestamp = json["timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() >= 19 && !timestamp.ends_with('Z'),
            "naive ISO: {timestamp}"
        );
        match &event {
            SimEvent::Packet(packet) => {
                packet_seen = true;
                assert_eq!(parts[3], "packets");
                assert_eq!(json["type"], "PACKET");
                let raw = json["raw"].as_str().unwrap();
                assert_eq!(raw, raw.to_uppercase());
                assert_eq!(raw.len(), packet.raw.len() * 2);
                for key in ["len", "packet_type", "payload_len", "route", "time", "date"] {
                    assert!(
                        json[key].is_string(),
                        "{key} is a string like the bridge sends"
                    );
                }
                let rx_fields = ["SNR", "RSSI", "score", "duration", "hash"];
                match packet.direction {
                    Direction::Rx => {
                        rx_seen = true;
                        assert_eq!(json["direction"], "rx");
                        for key in rx_fields {
                            assert!(
                                json[key].is_string(),
                                "{key} is a string like the bridge sends"
                            );
                        }
                        let snr: f64 = json["SNR"].as_str().unwrap().parse().unwrap();
                        assert!((snr - f64::from(packet.snr_db.unwrap())).abs() <= 0.5);
                        let rssi: f64 = json["RSSI"].as_str().unwrap().parse().unwrap();
                        assert!((-140.0..-20.0).contains(&rssi), "{rssi}");
                    }
                    Direction::Tx => {
                        tx_seen = true;
                        assert_eq!(json["direction"], "tx");
                        assert!(packet.snr_db.is_none() && packet.rssi_dbm.is_none());
                        for key in rx_fields {
                            assert!(json.get(key).is_none(), "{key} is only sent for rx");
                        }
                    }
                }
            }
            SimEvent::Status(status) => {
                status_seen = true;
                assert_eq!(parts[3], "status");
                assert_eq!(json["status"], "online");
                for key in ["radio", "model", "firmware_version", "client_version"] {
                    assert!(json[key].is_string(), "{key}");
                }
                let stats = &json["stats"];
                assert_eq!(stats["battery_mv"], status.battery_mv);
                assert_eq!(stats["uptime_secs"], status.uptime_secs);
                for key in [
                    "noise_floor",
                    "tx_air_secs",
                    "rx_air_secs",
                    "recv_errors",
                    "queue_len",
                ] {
                    assert!(stats[key].is_number(), "{key}");
                }
            }
        }
    }
    assert!(packet_seen && status_seen && rx_seen && tx_seen);
}

#[test]
fn bad_settings_are_rejected() {
    for config in [
        SimConfig {
            nodes: 2,
            ..SimConfig::default()
        },
        SimConfig {
            malformed_rate: 1.5,
            ..SimConfig::default()
        },
        SimConfig {
            radius_km: f64::NAN,
            ..SimConfig::default()
        },
        SimConfig {
            airports: vec![],
            ..SimConfig::default()
        },
        SimConfig {
            mean_interval_ms: 0.0,
            ..SimConfig::default()
        },
        SimConfig {
            observers: 0,
            ..SimConfig::default()
        },
        SimConfig {
            capture_probability: 0.0,
            ..SimConfig::default()
        },
        SimConfig {
            status_interval_ms: u64::MAX,
            ..SimConfig::default()
        },
        SimConfig {
            start_ms: u64::MAX,
            ..SimConfig::default()
        },
        SimConfig {
            nodes: 1_000_000,
            ..SimConfig::default()
        },
    ] {
        assert!(Simulator::new(config).is_err());
    }
}

#[test]
fn nodes_advertise_in_turn_repeaters_more_often() {
    use analyzer_sim::Role;
    let sim = Simulator::new(small(8, 6_000)).unwrap();
    let roles: HashMap<[u8; 32], Role> = sim
        .mesh()
        .nodes
        .iter()
        .map(|n| (n.public_key, n.role))
        .collect();
    let n_repeaters = sim.mesh().repeaters.len() as f64;
    let n_companions = sim.mesh().companions.len() as f64;
    let decoder = Decoder::new();
    let mut adverts: HashMap<[u8; 32], HashSet<u32>> = HashMap::new();
    for event in sim {
        let SimEvent::Packet(event) = event else {
            continue;
        };
        if let Ok(packet) = decoder.decode(&event.raw) {
            if let Payload::Advert(advert) = packet.payload {
                adverts
                    .entry(advert.public_key)
                    .or_default()
                    .insert(advert.timestamp);
            }
        }
    }
    let count = |role| -> f64 {
        adverts
            .iter()
            .filter(|(key, _)| roles[*key] == role)
            .map(|(_, ts)| ts.len() as f64)
            .sum()
    };
    let per_repeater = count(Role::Repeater) / n_repeaters;
    let per_companion = count(Role::Companion) / n_companions;
    assert!(per_repeater >= 3.0, "{per_repeater}");
    let ratio = per_repeater / per_companion;
    assert!(
        (2.0..5.0).contains(&ratio),
        "repeaters advertise {ratio}x as often as companions"
    );
    // Every repeater has been heard advertising.
    let heard_repeaters = adverts
        .keys()
        .filter(|k| roles[*k] == Role::Repeater)
        .count();
    assert!(
        heard_repeaters as f64 >= 0.9 * n_repeaters,
        "{heard_repeaters} of {n_repeaters}"
    );
}

#[test]
fn demo_streams_are_unbounded_and_start_when_asked() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let start = 1_790_000_000_000;
    let mut sim = Simulator::new(SimConfig::for_demo(2, start)).unwrap();
    assert_send(&sim);
    let events: Vec<SimEvent> = sim.by_ref().take(5_000).collect();
    assert_eq!(events.len(), 5_000);
    assert!(events.iter().all(|e| e.time_ms() >= start));
    let span_s = (events[4_999].time_ms() - start) as f64 / 1000.0;
    let rate = sim.packets_originated() as f64 / span_s;
    // 0.5 packets/s originated, plus the replies they cause.
    assert!((0.5..1.0).contains(&rate), "{rate} packets/s");
}

#[cfg(feature = "publish")]
mod publishing {
    use super::*;
    use analyzer_sim::publish::{Pace, PublishError, PublishOptions, publish};
    use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
    use std::time::Duration;

    fn options(broker: String) -> PublishOptions {
        PublishOptions {
            broker,
            client_id: "analyzer-sim-test".to_owned(),
            credentials: None,
            pace: Pace::Rate(2_000.0),
            max_messages: Some(250),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subscriber_receives_every_event_as_the_bridge_renders_it() {
        let addr = analyzer_ingest::broker::start("127.0.0.1:0".parse().unwrap()).unwrap();
        let (subscriber, mut event_loop) = AsyncClient::new(
            MqttOptions::new("subscriber", "127.0.0.1", addr.port()),
            100,
        );
        subscriber
            .subscribe("meshcore/#", QoS::AtMostOnce)
            .await
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(event) = event_loop.poll().await {
                match event {
                    Event::Incoming(Incoming::SubAck(_)) => {
                        let _ = tx.send(None);
                    }
                    Event::Incoming(Incoming::Publish(p)) => {
                        let _ = tx.send(Some((p.topic, p.payload.to_vec())));
                    }
                    _ => {}
                }
            }
        });
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap(),
            Some(None)
        );

        let config = SimConfig {
            status_interval_ms: 5_000,
            ..small(6, 200)
        };
        let events: Vec<SimEvent> = Simulator::new(config).unwrap().collect();
        assert!(events.len() > 250);
        let broker = format!("mqtt://127.0.0.1:{}", addr.port());
        let stats = publish(events.clone(), &options(broker), std::future::pending())
            .await
            .unwrap();
        assert_eq!(stats.total(), 250);
        let statuses = events[..250]
            .iter()
            .filter(|e| matches!(e, SimEvent::Status(_)))
            .count();
        assert!(statuses > 0);
        assert_eq!(stats.statuses, statuses as u64);
        for event in &events[..250] {
            let expected = mqtt::render(event);
            let received = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("message within 10 s")
                .flatten()
                .unwrap();
            assert_eq!(received.0, expected.topic);
            assert_eq!(String::from_utf8(received.1).unwrap(), expected.payload);
        }
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_a_connection_error() {
        // Bind then drop a listener: nothing listens on that port any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let events = Simulator::new(small(6, 20)).unwrap();
        let result = publish(
            events,
            &options(format!("mqtt://127.0.0.1:{port}")),
            std::future::pending(),
        )
        .await;
        assert!(
            matches!(result, Err(PublishError::Connection { .. })),
            "{result:?}"
        );
    }
}

mod any_settings {
    use super::*;
    use analyzer_sim::TrafficMix;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Whatever valid settings a user picks, the stream ends, stays in time order and
        /// every frame not flagged malformed decodes.
        #[test]
        fn valid_settings_give_decodable_streams(
            seed in any::<u64>(),
            nodes in 4usize..80,
            repeater_share in 0.05f64..0.6,
            room_share in 0.0f64..0.15,
            sensor_share in 0.0f64..0.15,
            observers in 1usize..10,
            radius_km in 0.5f64..200.0,
            center_lat in -80.0f64..80.0,
            center_lon in -180.0f64..180.0,
            malformed_rate in 0.0f64..0.3,
            weights in proptest::collection::vec(0.0f64..10.0, 9),
        ) {
            let mix = TrafficMix {
                advert: weights[0] + 0.1,
                channel_text: weights[1],
                channel_data: weights[2],
                direct_message: weights[3],
                request: weights[4],
                anon_request: weights[5],
                trace: weights[6],
                discover: weights[7],
                raw_custom: weights[8],
            };
            let config = SimConfig {
                seed,
                nodes,
                repeater_share,
                room_share,
                sensor_share,
                observers,
                radius_km,
                center_lat,
                center_lon,
                malformed_rate,
                mix,
                max_packets: Some(150),
                ..SimConfig::default()
            };
            prop_assume!(config.validate().is_ok());
            let decoder = decoder(&config);
            let mut last = 0;
            for event in Simulator::new(config).unwrap() {
                prop_assert!(event.time_ms() >= last);
                last = event.time_ms();
                if let SimEvent::Packet(packet) = event {
                    prop_assert_eq!(decoder.decode(&packet.raw).is_err(), packet.malformed);
                }
            }
        }
    }
}
