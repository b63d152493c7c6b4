//! From one MQTT message to storage records: dispatch, decode, the advert gate (validity,
//! signature policy, geo filter), row assembly (ingest spec §4.5) and Format-2 companion rows.
//!
//! Synchronous and free of I/O: the writer thread calls [`Processor::process`] for each
//! message and commits what it appended to the [`WriteBatch`].

use analyzer_config::{Config, ForeignAdvertMode, GeoFilter};
use analyzer_db::{
    ClockSkewEvent, ContentHash, DroppedPacket, NodeAdvert, ObserverRef, PacketObservation,
    UnixSecs, WriteBatch,
};
use meshcore_wire::{DecodeError, Decoder, Packet, Payload, RouteType};
use serde_json::{Map, Value};

use crate::message::{self, CompanionKind, Filters, Route, Topic};
use crate::reject::{Reject, RejectCounters};

/// Per-source facts the pipeline needs.
#[derive(Debug, Clone, Default)]
pub struct SourceMeta {
    /// Source name (logs).
    pub name: String,
    /// `iataFilter`.
    pub iata_filter: Vec<String>,
    /// `region` fallback.
    pub region: Option<String>,
}

impl SourceMeta {
    /// From resolved source settings.
    pub fn from_settings(s: &analyzer_config::SourceSettings) -> Self {
        Self {
            name: s.name.clone(),
            iata_filter: s.iata_filter.clone(),
            region: s.region.clone(),
        }
    }
}

/// One MQTT message as the pipeline sees it.
#[derive(Debug, Clone, Copy)]
pub struct RawMessage<'a> {
    /// Index of the source in the configured list.
    pub source: usize,
    /// MQTT topic.
    pub topic: &'a str,
    /// MQTT payload.
    pub payload: &'a [u8],
    /// The broker's retain flag (a replay, not a live message).
    pub retained: bool,
    /// Ingest time.
    pub now: UnixSecs,
}

/// What a message became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A packet observation was appended.
    Packet,
    /// An observer status was appended.
    Status,
    /// A companion (Format-2) row was appended.
    Companion,
    /// A client-RX coverage reception was appended.
    ClientRx,
    /// Nothing stored (a `dropped_packets` row may have been appended).
    Rejected(Reject),
}

/// Turns messages into records. Build once; cheap to call.
#[derive(Debug)]
pub struct Processor {
    decoder: Decoder,
    filters: Filters,
    sources: Vec<SourceMeta>,
    geo_filter: Option<GeoFilter>,
    foreign_mode: ForeignAdvertMode,
    hash_regions: Vec<String>,
}

impl Processor {
    /// A processor for `config`, with `decoder` (built by [`build_decoder`]) and the sources in
    /// configured order.
    pub fn new(config: &Config, decoder: Decoder, sources: Vec<SourceMeta>) -> Self {
        let hash_regions = config
            .hash_regions
            .iter()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty() && *r != "#")
            .map(|r| {
                if r.starts_with('#') {
                    r.to_owned()
                } else {
                    format!("#{r}")
                }
            })
            .collect();
        Self {
            decoder,
            filters: Filters::from_config(config),
            sources,
            geo_filter: config.geo_filter.clone(),
            foreign_mode: config.foreign_advert_mode(),
            hash_regions,
        }
    }

    /// Processes one message, appending records to `batch` and counting rejections in
    /// `rejects`.
    pub fn process(
        &self,
        message: &RawMessage<'_>,
        batch: &mut WriteBatch,
        rejects: &RejectCounters,
    ) -> Outcome {
        let RawMessage {
            source,
            topic,
            payload,
            ..
        } = *message;
        let default_meta = SourceMeta::default();
        let meta = self.sources.get(source).unwrap_or(&default_meta);
        let mut detail = None;
        let outcome = self.process_inner(meta, message, batch, &mut detail);
        if let Outcome::Rejected(reason) = outcome {
            rejects.record(reason, || {
                let detail = detail.map(|d| format!("{d}: ")).unwrap_or_default();
                format!(
                    "{detail}source={} topic={} bytes={}",
                    meta.name,
                    redact_topic(topic),
                    payload.len()
                )
            });
        }
        outcome
    }

    fn process_inner(
        &self,
        meta: &SourceMeta,
        raw: &RawMessage<'_>,
        batch: &mut WriteBatch,
        detail: &mut Option<String>,
    ) -> Outcome {
        let RawMessage {
            topic: topic_text,
            payload,
            retained,
            now,
            ..
        } = *raw;
        let message = match message::parse_payload(payload) {
            Ok(m) => m,
            Err(reason) => return Outcome::Rejected(reason),
        };
        let topic = Topic::parse(topic_text);
        match message::route(&topic, &message, &self.filters, &meta.iata_filter) {
            Route::Drop(reason) => Outcome::Rejected(reason),
            Route::Status => {
                if topic.observer.trim().is_empty() {
                    return Outcome::Rejected(Reject::UnknownTopic);
                }
                batch
                    .statuses
                    .push(message::status_record(&topic, &message, retained, now));
                Outcome::Status
            }
            Route::Packet => self.packet(meta, &topic, &message, now, batch, detail),
            Route::Companion(kind) => companion(kind, &topic, &message, now, batch),
            Route::ClientRx => self.client_rx(&topic, &message, now, batch, detail),
        }
    }

    fn packet(
        &self,
        meta: &SourceMeta,
        topic: &Topic<'_>,
        message: &Map<String, Value>,
        now: UnixSecs,
        batch: &mut WriteBatch,
        detail: &mut Option<String>,
    ) -> Outcome {
        let Some(fields) = message::packet_fields(message) else {
            return Outcome::Rejected(Reject::MissingRaw);
        };
        let packet = match self.decoder.decode_hex(fields.raw) {
            Ok(p) => p,
            Err(e) => {
                let reason = if matches!(e, DecodeError::InvalidHex(_)) {
                    Reject::BadHex
                } else {
                    Reject::DecodeError
                };
                *detail = Some(format!("{e} (rawHexLen={})", fields.raw.len()));
                return Outcome::Rejected(reason);
            }
        };
        let Some(hash) = packet.hash() else {
            return Outcome::Rejected(Reject::DecodeError);
        };
        let hash = ContentHash(hash.0);
        let observer_id = topic.observer.trim();
        let mut advert_record = None;
        if let Payload::Advert(advert) = &packet.payload {
            if let Err(e) = meshcore_wire::validate_advert(advert) {
                *detail = Some(format!("skipping corrupted ADVERT: {e}"));
                return Outcome::Rejected(Reject::BadAdvert);
            }
            let public_key = meshcore_wire::hex::lower(&advert.public_key);
            if advert.signature_valid == Some(false) {
                *detail = Some(format!(
                    "DROPPED invalid signature: hash={hash} name={:?} pubkey={}",
                    advert.name.as_deref().unwrap_or(""),
                    public_key.get(..16).unwrap_or_default()
                ));
                batch.dropped.push(DroppedPacket {
                    hash: Some(hash),
                    raw_hex: Some(fields.raw.to_owned()),
                    reason: "invalid signature".to_owned(),
                    observer_id: Some(observer_id.to_owned()).filter(|o| !o.is_empty()),
                    observer_name: fields.origin.map(str::to_owned),
                    node_pubkey: Some(public_key),
                    node_name: advert.name.clone(),
                    dropped_at: now,
                });

                return Outcome::Rejected(Reject::InvalidSignature);
            }
            let (lat, lon) = match advert.location() {
                Some((lat, lon)) => (Some(lat), Some(lon)),
                None => (None, None),
            };
            let foreign = !crate::geo::node_in_area(self.geo_filter.as_ref(), lat, lon);
            if foreign && self.foreign_mode == ForeignAdvertMode::Drop {
                return Outcome::Rejected(Reject::ForeignAdvert);
            }
            if foreign {
                tracing::info!(pubkey = %&public_key[..16], ?lat, ?lon, "Foreign advert (outside geo_filter), flagged");
            }
            advert_record = Some(NodeAdvert {
                public_key,
                name: advert.name.clone(),
                role: Some(advert.role().to_owned()),
                lat,
                lon,
                battery_mv: advert.battery_mv.map(i64::from),
                temperature_c: advert.temperature_c(),
                foreign,
            });
        }
        if !observer_id.is_empty() {
            if let Some(skew) = message::resolve_rx_time(fields.timestamp, now).naive_skew {
                batch.clock_skews.push(ClockSkewEvent {
                    observer_id: observer_id.to_owned(),
                    skew_seconds: skew,
                    at: now,
                });
            }
        }
        let observer = (!observer_id.is_empty()).then(|| ObserverRef {
            id: observer_id.to_owned(),
            name: fields.origin.map(str::to_owned),
            iata: message::effective_region(fields.region, topic, meta.region.as_deref())
                .map(|r| r.to_ascii_uppercase()),
        });
        batch.packets.push(PacketObservation {
            hash,
            raw_hex: fields.raw.to_owned(),
            route_type: packet.header.route as u8,
            payload_type: packet.header.payload_type.code(),
            payload_version: packet.header.version,
            decoded_json: packet.payload.to_json(),
            channel_hash: packet.channel_hash_column(),
            scope_name: self.scope_name(&packet),
            from_pubkey: packet.from_pubkey_column(),
            observer,
            direction: fields.direction.map(str::to_owned),
            snr: fields.snr,
            rssi: fields.rssi,
            score: fields.score,
            path_json: packet.observation_path_json(),
            resolved_path: None,
            received_at: now,
            advert: advert_record,
        });
        Outcome::Packet
    }

    /// Client-RX coverage (spec §4.13): which node a companion heard, and where it was.
    fn client_rx(
        &self,
        topic: &Topic<'_>,
        message: &Map<String, Value>,
        now: UnixSecs,
        batch: &mut WriteBatch,
        detail: &mut Option<String>,
    ) -> Outcome {
        let mut reject = |why: &str| {
            *detail = Some(why.to_owned());
            Outcome::Rejected(Reject::BadClientRx)
        };
        let rx_pubkey = topic.observer.trim().to_ascii_lowercase();
        if !(2..=64).contains(&rx_pubkey.len()) || !rx_pubkey.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return reject("client key is not 2-64 hex characters");
        }
        let Some(fields) = message::packet_fields(message) else {
            return reject("missing raw");
        };
        let gps = match message.get("gps") {
            Some(Value::Object(g)) => g,
            _ => return reject("missing gps"),
        };
        let (Some(lat), Some(lon)) = (
            gps.get("lat").and_then(message::coerce_f64),
            gps.get("lon").and_then(message::coerce_f64),
        ) else {
            return reject("gps.lat / gps.lon missing or not numbers");
        };
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            return reject("gps position out of range");
        }
        if !fields
            .direction
            .is_some_and(|d| d.eq_ignore_ascii_case("rx"))
        {
            return reject("direction is not rx");
        }
        let packet = match self.decoder.decode_hex(fields.raw) {
            Ok(p) => p,
            Err(e) => {
                *detail = Some(format!("{e} (rawHexLen={})", fields.raw.len()));
                return Outcome::Rejected(Reject::DecodeError);
            }
        };
        let (heard_key, heard_keylen, src) = match packet.path.hops().last() {
            Some(hop) => {
                if !matches!(
                    packet.header.route,
                    RouteType::TransportFlood | RouteType::Flood
                ) {
                    return reject("hops on a non-flood route");
                }
                if hop.len() < 2 {
                    return reject("1-byte hop is too ambiguous to attribute");
                }
                (meshcore_wire::hex::lower(hop), hop.len() as i64, "rxlog")
            }
            None => match &packet.payload {
                Payload::Advert(advert) => {
                    (meshcore_wire::hex::lower(&advert.public_key), 32, "advert")
                }
                _ => return reject("zero-hop packet that is not an advert"),
            },
        };
        let accuracy = gps.get("acc_m").and_then(message::coerce_f64);
        batch.client_receptions.push(analyzer_db::ClientReception {
            rx_pubkey,
            heard_key,
            heard_keylen,
            rssi: fields.rssi.map(|r| r as i64),
            snr: fields.snr,
            lat,
            lon,
            pos_acc_m: accuracy,
            rx_at: message::resolve_rx_time(fields.timestamp, now).at,
            ingested_at: now,
            src: src.to_owned(),
            rx_name: fields.origin.map(str::to_owned),
        });
        Outcome::ClientRx
    }

    /// `scope_name` (spec §4.5): for transport routes with code1 ≠ 0000, the first
    /// `hashRegions` entry whose transport code matches, `""` if none; `None` otherwise.
    fn scope_name(&self, packet: &Packet) -> Option<String> {
        let codes = packet.transport_codes?;
        if !matches!(
            packet.header.route,
            RouteType::TransportFlood | RouteType::TransportDirect
        ) {
            return None;
        }
        let code1 = codes.code1();
        if code1 == [0, 0] {
            return None;
        }
        let payload_type = packet.header.payload_type.code();
        let payload = packet.payload_bytes();
        let matched = self.hash_regions.iter().find(|region| {
            meshcore_wire::crypto::transport_code(region, payload_type, payload) == code1
        });
        Some(matched.cloned().unwrap_or_default())
    }
}

/// Cuts the observer segment to 8 characters, as CoreScope's decode-error log.
fn redact_topic(topic: &str) -> String {
    let mut parts: Vec<&str> = topic.splitn(4, '/').collect();
    if let Some(observer) = parts.get_mut(2) {
        if observer.len() > 8 {
            *observer = observer.get(..8).unwrap_or(observer);
        }
    }
    parts.join("/").chars().take(120).collect()
}

/// Format-2 companion rows (spec §2.4): a synthetic GRP_TXT/TXT_MSG transmission.
fn companion(
    kind: CompanionKind,
    topic: &Topic<'_>,
    message: &Map<String, Value>,
    now: UnixSecs,
    batch: &mut WriteBatch,
) -> Outcome {
    let Some(text) = message
        .get("text")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return Outcome::Rejected(Reject::BadCompanion);
    };
    let now_text = analyzer_db::time::rfc3339(now);
    let sender = text
        .find(": ")
        .filter(|i| *i > 0 && *i < 50)
        .map(|i| &text[..i]);
    let sender_timestamp = message.get("sender_timestamp").and_then(Value::as_i64);
    let mut decoded = Map::new();
    let (hash_input, payload_type, channel_hash) = match kind {
        CompanionKind::Channel => {
            let idx = match message.get("channel_idx") {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => topic.kind.to_owned(),
            };
            decoded.insert("type".into(), "CHAN".into());
            decoded.insert("channel".into(), format!("ch{idx}").into());
            (
                format!("ch:{idx}:{text}:{now_text}"),
                5u8,
                Some(format!("ch{idx}")),
            )
        }
        CompanionKind::Direct => {
            decoded.insert("type".into(), "DM".into());
            (format!("dm:{text}:{now_text}"), 2u8, None)
        }
    };
    decoded.insert("text".into(), text.into());
    if let Some(sender) = sender {
        decoded.insert("sender".into(), sender.into());
    }
    if let Some(ts) = sender_timestamp {
        decoded.insert("sender_timestamp".into(), ts.into());
    }
    let fields = |k1: &str, k2: &str| match message.get(k1) {
        Some(v) => message::coerce_f64(v),
        None => message.get(k2).and_then(message::coerce_f64),
    };
    batch.packets.push(PacketObservation {
        hash: ContentHash(sha256_prefix8(hash_input.as_bytes())),
        raw_hex: String::new(),
        route_type: 1,
        payload_type,
        payload_version: 0,
        decoded_json: Value::Object(decoded).to_string(),
        channel_hash,
        scope_name: None,
        from_pubkey: None,
        observer: None,
        direction: message
            .get("direction")
            .and_then(Value::as_str)
            .map(str::to_owned),
        snr: fields("SNR", "snr"),
        rssi: fields("RSSI", "rssi"),
        score: fields("score", "Score").map(|f| f as i64),
        path_json: "[]".to_owned(),
        resolved_path: None,
        received_at: now,
        advert: None,
    });
    Outcome::Companion
}

/// Builds the decoder from the configuration (spec §4.1 key priority, low → high): the
/// built-in Public key, the rainbow file (`rainbow`: name → hex), `hashChannels`, then
/// `channelKeys` (`public` normalised to `Public`). Bad rainbow entries are skipped with a
/// warning; bad `channelKeys` were already refused by config validation.
pub fn build_decoder(config: &Config, rainbow: Option<&Map<String, Value>>) -> Decoder {
    let mut builder = Decoder::builder().validate_signatures(config.validate_signatures());
    for (name, key) in rainbow.into_iter().flatten() {
        match key.as_str().and_then(parse_key) {
            Some(k) => builder = builder.channel_key(name, k),
            None => {
                tracing::warn!(channel = %name, "Skipping rainbow channel key: not 32 hex characters")
            }
        }
    }
    for name in &config.hash_channels {
        builder = builder.hashtag(name);
    }
    for (name, key) in &config.channel_keys {
        let name = if name.eq_ignore_ascii_case("public") {
            "Public"
        } else {
            name.as_str()
        };
        match parse_key(key) {
            Some(k) => builder = builder.channel_key(name, k),
            None => tracing::warn!(channel = %name, "Skipping channel key: not 32 hex characters"),
        }
    }
    builder.build()
}

fn parse_key(text: &str) -> Option<[u8; 16]> {
    meshcore_wire::hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
}

/// First 8 bytes of SHA-256 (the companion rows' synthetic hash).
fn sha256_prefix8(data: &[u8]) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(data);
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Frames from spec/vectors.json.
    const TXT_MSG: &str = "0A00D69FD7A5A7475DB07337749AE61FA53A4788E976"; // v47
    const ADVERT_FLOOD: &str = "11451000D818206D3AAC152C8A91F89957E6D30CA51F36E28790228971C473B755F244F718754CF5EE4A2FD58D944466E42CDED140C66D0CC590183E32BAF40F112BE8F3F2BDF6012B4B2793C52F1D36F69EE054D9A05593286F78453E56C0EC4A3EB95DDA2A7543FCCC00B939CACC009278603902FC12BCF84B706120526F6F6620536F6C6172"; // v50
    const ADVERT_BAD_SIG: &str = "1200AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA78563412BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB9440933402E0E6B8F853656E736F723100740E220B"; // v100
    const CHAN_BOT: &str = "15833fa002860ccae0eed9ca78b9ab0775d477c1f6490a398bf4edc75240"; // v81
    const TRANSPORT_OTTAWA: &str = "14FA1A0000034E927D596EA23622BCB4D5945E49348165AF7DABA3F5DCEED85F430E0856DB5B591E86AB3363BC00E1BA30776698F72FC57C7168E66A4875CDB710F3C175FC2B3FE75A036EF14FA59A709062D3A9FF7014F2E7A8512C"; // v87
    const NOW: UnixSecs = 1_780_000_000;

    fn processor(config: serde_json::Value) -> Processor {
        let config: Config = serde_json::from_value(config).unwrap();
        let decoder = build_decoder(&config, None);
        let sources = vec![SourceMeta {
            name: "s".into(),
            iata_filter: vec![],
            region: Some("LAX".into()),
        }];
        Processor::new(&config, decoder, sources)
    }

    fn msg<'a>(topic: &'a str, payload: &'a [u8]) -> RawMessage<'a> {
        RawMessage {
            source: 0,
            topic,
            payload,
            retained: false,
            now: NOW,
        }
    }

    fn run(
        p: &Processor,
        topic: &str,
        message: serde_json::Value,
    ) -> (Outcome, WriteBatch, RejectCounters) {
        let mut batch = WriteBatch::default();
        let rejects = RejectCounters::default();
        let payload = message.to_string();
        let outcome = p.process(&msg(topic, payload.as_bytes()), &mut batch, &rejects);
        (outcome, batch, rejects)
    }

    #[test]
    fn packet_rows_are_assembled_from_message_and_frame() {
        let p = processor(json!({}));
        let msg = json!({"raw": TXT_MSG, "SNR": "9.5", "RSSI": -101, "score": "1000", "direction": "rx", "origin": "Roof"});
        let (outcome, batch, _) = run(&p, "meshcore/sjc/OBS1/packets", msg);
        assert_eq!(outcome, Outcome::Packet);
        let row = &batch.packets[0];
        assert_eq!(row.hash.to_string(), "b1f07307cbc01ce5");
        assert_eq!(row.raw_hex, TXT_MSG);
        assert_eq!(
            (row.route_type, row.payload_type, row.payload_version),
            (2, 2, 0)
        );
        assert_eq!(
            row.decoded_json,
            r#"{"type":"TXT_MSG","destHash":"d6","srcHash":"9f","mac":"d7a5","encryptedData":"a7475db07337749ae61fa53a4788e976"}"#
        );
        assert_eq!(row.path_json, "[]");
        assert_eq!(
            (
                row.channel_hash.as_deref(),
                row.scope_name.as_deref(),
                row.from_pubkey.as_deref()
            ),
            (None, None, None)
        );
        let observer = row.observer.as_ref().unwrap();
        assert_eq!(
            (
                observer.id.as_str(),
                observer.name.as_deref(),
                observer.iata.as_deref()
            ),
            ("OBS1", Some("Roof"), Some("SJC"))
        );
        assert_eq!(
            (row.snr, row.rssi, row.score, row.direction.as_deref()),
            (Some(9.5), Some(-101.0), Some(1000), Some("rx"))
        );
        assert_eq!(row.received_at, NOW);
        assert!(row.advert.is_none());
    }

    #[test]
    fn valid_adverts_carry_the_node_upsert() {
        let p = processor(json!({}));
        let (outcome, batch, _) = run(
            &p,
            "meshcore/SJC/OBS1/packets",
            json!({"raw": ADVERT_FLOOD}),
        );
        assert_eq!(outcome, Outcome::Packet);
        let row = &batch.packets[0];
        assert_eq!(row.hash.to_string(), "4df1ec064da2ac27");
        assert_eq!(row.path_json, r#"["1000","D818","206D","3AAC","152C"]"#);
        assert_eq!(
            row.from_pubkey.as_deref(),
            Some("8a91f89957e6d30ca51f36e28790228971c473b755f244f718754cf5ee4a2fd5")
        );
        let node = row.advert.as_ref().unwrap();
        assert_eq!(
            node.public_key,
            "8a91f89957e6d30ca51f36e28790228971c473b755f244f718754cf5ee4a2fd5"
        );
        assert_eq!(node.name.as_deref(), Some("Kpa Roof Solar"));
        assert_eq!(node.role.as_deref(), Some("repeater"));
        assert_eq!((node.lat, node.lon), (Some(37.31468), Some(-121.8921)));
        assert!(!node.foreign);
    }

    #[test]
    fn bad_signatures_go_to_dropped_packets_only() {
        let p = processor(json!({}));
        let (outcome, batch, rejects) = run(
            &p,
            "meshcore/SJC/OBS1/packets",
            json!({"raw": ADVERT_BAD_SIG, "origin": "Roof"}),
        );
        assert_eq!(outcome, Outcome::Rejected(Reject::InvalidSignature));
        assert!(batch.packets.is_empty() && batch.statuses.is_empty());
        let dropped = &batch.dropped[0];
        assert_eq!(dropped.reason, "invalid signature");
        assert_eq!(dropped.hash.unwrap().to_string(), "4f79510d9936f753");
        assert_eq!(dropped.observer_id.as_deref(), Some("OBS1"));
        assert_eq!(dropped.observer_name.as_deref(), Some("Roof"));
        assert_eq!(
            dropped.node_pubkey.as_deref(),
            Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        );
        assert_eq!(rejects.get(Reject::InvalidSignature), 1);
        // With validation off the same advert is stored.
        let p = processor(json!({"validateSignatures": false}));
        assert_eq!(
            run(
                &p,
                "meshcore/SJC/OBS1/packets",
                json!({"raw": ADVERT_BAD_SIG})
            )
            .0,
            Outcome::Packet
        );
    }

    #[test]
    fn geo_filter_flags_or_drops_foreign_adverts() {
        let far_away =
            json!({"geo_filter": {"latMin": 50, "latMax": 51, "lonMin": 0, "lonMax": 1}});
        let p = processor(far_away.clone());
        let (_, batch, _) = run(
            &p,
            "meshcore/SJC/OBS1/packets",
            json!({"raw": ADVERT_FLOOD}),
        );
        assert!(batch.packets[0].advert.as_ref().unwrap().foreign);
        let mut drop = far_away;
        drop["foreignAdverts"] = json!({"mode": "drop"});
        let (outcome, batch, _) = run(
            &processor(drop),
            "meshcore/SJC/OBS1/packets",
            json!({"raw": ADVERT_FLOOD}),
        );
        assert_eq!(outcome, Outcome::Rejected(Reject::ForeignAdvert));
        assert!(
            batch.is_empty(),
            "drop mode stores nothing, not even the observer"
        );
        // The geo filter never applies to other packet types.
        let (outcome, _, _) = run(
            &processor(
                json!({"geo_filter": {"latMin": 50, "latMax": 51, "lonMin": 0, "lonMax": 1}, "foreignAdverts": {"mode": "drop"}}),
            ),
            "meshcore/SJC/OBS1/packets",
            json!({"raw": TXT_MSG}),
        );
        assert_eq!(outcome, Outcome::Packet);
    }

    #[test]
    fn channel_and_scope_columns() {
        let p = processor(json!({"hashChannels": ["bot"], "hashRegions": ["ottawa"]}));
        let (_, batch, _) = run(&p, "meshcore/SJC/OBS1/packets", json!({"raw": CHAN_BOT}));
        assert_eq!(batch.packets[0].channel_hash.as_deref(), Some("#bot"));
        assert_eq!(
            batch.packets[0].path_json,
            r#"["3FA002","860CCA","E0EED9"]"#
        );
        let (_, batch, _) = run(
            &p,
            "meshcore/SJC/OBS1/packets",
            json!({"raw": TRANSPORT_OTTAWA}),
        );
        assert_eq!(batch.packets[0].channel_hash.as_deref(), Some("enc_59"));
        assert_eq!(batch.packets[0].scope_name.as_deref(), Some("#ottawa"));
        // Transport route whose region is not configured: scoped, unknown region.
        let p = processor(json!({}));
        let (_, batch, _) = run(
            &p,
            "meshcore/SJC/OBS1/packets",
            json!({"raw": TRANSPORT_OTTAWA}),
        );
        assert_eq!(batch.packets[0].scope_name.as_deref(), Some(""));
    }

    #[test]
    fn bad_input_is_counted_per_reason_and_never_stored() {
        let p = processor(json!({}));
        let cases: [(&str, &[u8], Reject); 6] = [
            ("meshcore/SJC/OBS1/packets", b"{not json", Reject::NotJson),
            (
                "meshcore/SJC/OBS1/packets",
                br#"{"snr": 1}"#,
                Reject::MissingRaw,
            ),
            (
                "meshcore/SJC/OBS1/packets",
                br#"{"raw": "zz11"}"#,
                Reject::BadHex,
            ),
            (
                "meshcore/SJC/OBS1/packets",
                br#"{"raw": "FF"}"#,
                Reject::DecodeError,
            ),
            (
                "meshcore/SJC/OBS1/packets",
                br#"{"raw": "12BFABAB"}"#,
                Reject::DecodeError,
            ),
            ("what/ever", br#"{"a": 1}"#, Reject::UnknownTopic),
        ];
        let rejects = RejectCounters::default();
        let mut batch = WriteBatch::default();
        for (topic, payload, reason) in cases {
            assert_eq!(
                p.process(&msg(topic, payload), &mut batch, &rejects),
                Outcome::Rejected(reason),
                "{topic} {payload:?}"
            );
        }
        assert!(batch.is_empty());
        assert_eq!(rejects.get(Reject::DecodeError), 2);
        // A good message right after bad ones is unaffected.
        let good = format!(r#"{{"raw":"{TXT_MSG}"}}"#);
        assert_eq!(
            p.process(
                &msg("meshcore/SJC/OBS1/packets", good.as_bytes()),
                &mut batch,
                &rejects
            ),
            Outcome::Packet
        );
    }

    #[test]
    fn status_messages_and_region_fallback() {
        let p = processor(json!({}));
        let (outcome, batch, _) = run(
            &p,
            "meshcore/SJC/OBS1/status",
            json!({"origin": "Roof", "model": "Heltec V3"}),
        );
        assert_eq!(outcome, Outcome::Status);
        assert_eq!(batch.statuses[0].model.as_deref(), Some("Heltec V3"));
        // Empty topic region: the source's `region` is used for the observer.
        let (_, batch, _) = run(&p, "meshcore//OBS1/packets", json!({"raw": TXT_MSG}));
        assert_eq!(
            batch.packets[0].observer.as_ref().unwrap().iata.as_deref(),
            Some("LAX")
        );
    }

    #[test]
    fn naive_timestamps_far_off_record_clock_skew() {
        let p = processor(json!({}));
        let skewed = analyzer_db::time::rfc3339(NOW + 7200)
            .trim_end_matches('Z')
            .to_owned();
        let (_, batch, _) = run(
            &p,
            "meshcore/SJC/OBS1/packets",
            json!({"raw": TXT_MSG, "timestamp": skewed}),
        );
        assert_eq!(batch.clock_skews.len(), 1);
        assert_eq!(batch.clock_skews[0].skew_seconds, 7200);
        assert_eq!(
            batch.packets[0].received_at, NOW,
            "rows always carry ingest time"
        );
    }

    #[test]
    fn companion_format_2_rows() {
        let p = processor(json!({}));
        let (outcome, batch, _) = run(
            &p,
            "meshcore/message/channel/3",
            json!({"text": "Alice: hello", "SNR": 4}),
        );
        assert_eq!(outcome, Outcome::Companion);
        let row = &batch.packets[0];
        assert_eq!(
            (
                row.route_type,
                row.payload_type,
                row.raw_hex.as_str(),
                row.path_json.as_str()
            ),
            (1, 5, "", "[]")
        );
        assert_eq!(row.channel_hash.as_deref(), Some("ch3"));
        assert_eq!(
            row.decoded_json,
            r#"{"type":"CHAN","channel":"ch3","text":"Alice: hello","sender":"Alice"}"#,
            "the reference's key order (spec ingest.md §2.4)"
        );
        assert!(row.observer.is_none());
        assert_eq!(row.snr, Some(4.0));
        let (outcome, batch, _) = run(&p, "meshcore/message/direct/x", json!({"text": "hi"}));
        assert_eq!(outcome, Outcome::Companion);
        assert_eq!(batch.packets[0].payload_type, 2);
        assert_eq!(
            run(&p, "meshcore/message/direct/x", json!({"text": ""})).0,
            Outcome::Rejected(Reject::BadCompanion)
        );
    }

    #[test]
    fn client_rx_coverage_attribution() {
        let off = processor(json!({}));
        let on = processor(json!({"clientRxCoverage": {"enabled": true}}));
        let topic = "meshcore/client/ABCDEF0123/packets";
        let gps = json!({"lat": "45.5", "lon": -73.6, "acc_m": 12});
        // Flood packet with 2-byte hops: the last hop is the node heard.
        let (outcome, batch, _) = run(
            &on,
            topic,
            json!({"raw": ADVERT_FLOOD, "direction": "RX", "gps": gps, "RSSI": "-97.8", "SNR": 6.25, "origin": "Phone"}),
        );
        assert_eq!(outcome, Outcome::ClientRx);
        let r = &batch.client_receptions[0];
        assert_eq!(
            (
                r.rx_pubkey.as_str(),
                r.heard_key.as_str(),
                r.heard_keylen,
                r.src.as_str()
            ),
            ("abcdef0123", "152c", 2, "rxlog")
        );
        assert_eq!(
            (r.lat, r.lon, r.pos_acc_m, r.rssi, r.snr),
            (45.5, -73.6, Some(12.0), Some(-97), Some(6.25))
        );
        assert_eq!(r.rx_name.as_deref(), Some("Phone"));
        assert!(
            batch.packets.is_empty(),
            "client reports never touch observations"
        );
        // Zero-hop advert: the advertiser itself.
        let (outcome, batch, _) = run(
            &on,
            topic,
            json!({"raw": ADVERT_BAD_SIG, "direction": "rx", "gps": gps}),
        );
        assert_eq!(outcome, Outcome::ClientRx);
        assert_eq!(
            (
                batch.client_receptions[0].heard_keylen,
                batch.client_receptions[0].src.as_str()
            ),
            (32, "advert")
        );
        // Unattributable or unlocated reports.
        for bad in [
            json!({"raw": TXT_MSG, "direction": "rx", "gps": gps}),
            json!({"raw": ADVERT_FLOOD, "direction": "tx", "gps": gps}),
            json!({"raw": ADVERT_FLOOD, "direction": "rx"}),
            json!({"raw": ADVERT_FLOOD, "direction": "rx", "gps": {"lat": 95, "lon": 0}}),
        ] {
            assert_eq!(
                run(&on, topic, bad).0,
                Outcome::Rejected(Reject::BadClientRx)
            );
        }
        assert_eq!(
            run(
                &on,
                "meshcore/client/xyz/packets",
                json!({"raw": ADVERT_FLOOD, "direction": "rx", "gps": gps})
            )
            .0,
            Outcome::Rejected(Reject::BadClientRx)
        );
        // Feature off: an ordinary observer packet (region "client"), as CoreScope.
        let (outcome, batch, _) = run(
            &off,
            topic,
            json!({"raw": ADVERT_FLOOD, "direction": "rx", "gps": gps}),
        );
        assert_eq!(outcome, Outcome::Packet);
        assert_eq!(
            batch.packets[0].observer.as_ref().unwrap().iata.as_deref(),
            Some("CLIENT")
        );
    }

    proptest::proptest! {
        /// Untrusted input never panics the pipeline, and whatever it is, it is either stored or
        /// counted under exactly one reason.
        #[test]
        fn arbitrary_messages_never_panic(
            topic in "[a-z/+#]{0,12}(/[A-Za-z0-9]{0,6}){0,5}",
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let p = processor(json!({"clientRxCoverage": {"enabled": true}, "hashRegions": ["x"]}));
            let rejects = RejectCounters::default();
            let mut batch = WriteBatch::default();
            let outcome = p.process(&msg(&topic, &payload), &mut batch, &rejects);
            let counted: u64 = rejects.snapshot().iter().map(|(_, n)| n).sum();
            proptest::prop_assert_eq!(counted, u64::from(matches!(outcome, Outcome::Rejected(_))));
        }

        #[test]
        fn arbitrary_frames_in_valid_messages_never_panic(
            frame in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..260),
            kind in 0usize..3,
        ) {
            let p = processor(json!({"clientRxCoverage": {"enabled": true}, "hashRegions": ["x"]}));
            let hex: String = frame.iter().map(|b| format!("{b:02X}")).collect();
            let topic = ["meshcore/SJC/OBS/packets", "meshcore/client/abcd/packets", "meshcore/message/channel/1"][kind];
            let message = json!({"raw": hex, "direction": "rx", "gps": {"lat": 1, "lon": 2}, "text": "a: b", "timestamp": "2026-01-01T00:00:00"});
            let (outcome, batch, _) = run(&p, topic, message);
            if outcome == Outcome::Packet {
                proptest::prop_assert_eq!(batch.packets.len(), 1);
                proptest::prop_assert!(batch.packets[0].path_json.starts_with('['));
            }
        }
    }

    #[test]
    fn rainbow_and_explicit_keys_are_loaded() {
        let config: Config = serde_json::from_value(
            json!({"channelKeys": {"public": "8b3387e9c5cdea6ac9e5edbaa115cd72"}}),
        )
        .unwrap();
        let rainbow = json!({"#bot": "0123456789abcdef0123456789abcdef", "broken": "xyz"});
        let decoder = build_decoder(&config, rainbow.as_object());
        let names: Vec<&str> = decoder.channel_names().collect();
        assert!(
            names.contains(&"Public") && names.contains(&"#bot") && !names.contains(&"broken"),
            "{names:?}"
        );
    }
}
