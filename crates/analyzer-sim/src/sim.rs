//! The traffic engine: originates packets, propagates them hop by hop over the mesh's radio
//! links and yields what the observers hear, in time order.
//!
//! Propagation follows the firmware:
//! * **flood**: the originator transmits with an empty path; every repeater that decodes a copy
//!   for the first time re-broadcasts it once after a random delay, appending the first
//!   `hash_size` bytes of its key (while the path stays within 64 bytes); observers record every
//!   copy they decode, with the path as it arrived;
//! * **direct**: the sender puts the route in the path; each hop removes itself and forwards;
//!   a lost hop ends the packet;
//! * **trace**: sent direct along a route carried in the payload; each hop appends the SNR × 4
//!   it received the trace with to the header path.
//!
//! Every frame is built with `meshcore_wire::encode`. Copies of one packet differ only in the
//! header path, so the payload is encoded once and spliced with each copy's path.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use meshcore_wire::crypto::{ChannelKey, PUBLIC_CHANNEL_KEY};
use meshcore_wire::encode::{
    AdvertAppData, Control, EncodeError, Frame, MAX_FRAME_SIZE, Path, Payload, PeerBody,
    PeerSecret, SensorTelemetry, TransportCodes, ack_code, snr_to_byte,
};
use meshcore_wire::{PayloadType, RouteType};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::SimConfig;
use crate::event::{Direction, PacketEvent, SimEvent, StatusEvent};
use crate::mesh::{Link, Mesh, Role};
use crate::{SimError, names, radio};

/// A deterministic stream of [`SimEvent`]s (an `Iterator`). Same config, same events.
pub struct Simulator {
    config: SimConfig,
    mesh: Mesh,
    rng: ChaCha8Rng,
    /// Public first, then the hashtag channels.
    channels: Vec<ChannelKey>,
    /// Shared secrets per unordered node pair, computed by ECDH on first use.
    secrets: HashMap<(u32, u32), PeerSecret>,
    /// Per companion: the companions it chats with and the servers it queries.
    contacts: HashMap<u32, Contacts>,
    /// Ordered pairs (sender, destination) whose sender has learnt a direct path.
    known_paths: std::collections::HashSet<(u32, u32)>,
    /// When each node advertises next, in advert turns (see [`advert_period`]).
    advert_turns: BinaryHeap<Reverse<(u64, u32)>>,
    /// Transport-code region for scoped floods.
    region: String,
    next_root_ms: f64,
    generating: bool,
    packets: u64,
    /// Packets heard by at least one observer (what a database stores as transmissions).
    observed_packets: u64,
    /// Id of the last packet counted in `observed_packets`.
    last_observed_id: u64,
    seq: u64,
    pending: BinaryHeap<Reverse<Scheduled>>,
    out: BinaryHeap<Reverse<Queued>>,
    status_next_ms: Vec<u64>,
    counters: Vec<ObserverCounters>,
    last_traffic_ms: u64,
    final_status_done: bool,
    /// Generation stamp per node for the flood "already forwarded" check.
    seen: Vec<u32>,

    generation: u32,
    /// Reusable flood queue.
    air: BinaryHeap<Reverse<Air>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("nodes", &self.mesh.nodes.len())
            .field("observers", &self.mesh.observers.len())
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Default)]
struct Contacts {
    friends: Vec<u32>,
    servers: Vec<u32>,
}

#[derive(Clone, Copy, Debug, Default)]
struct ObserverCounters {
    rx_air_ms: f64,
    tx_air_ms: f64,
    recv_errors: u64,
}

/// An event waiting in the output queue, ordered by time then creation order.
#[derive(Debug)]
struct Queued {
    time_us: u64,
    seq: u64,
    event: SimEvent,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.time_us, self.seq) == (other.time_us, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time_us, self.seq).cmp(&(other.time_us, other.seq))
    }
}

/// A follow-up transmission (a reply) waiting for its time.
#[derive(Debug)]
struct Scheduled {
    time_us: u64,
    seq: u64,
    reply: Reply,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time_us, self.seq) == (other.time_us, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time_us, self.seq).cmp(&(other.time_us, other.seq))
    }
}

#[derive(Debug)]
enum Reply {
    /// The recipient of a flood DM returns the path with the ACK inside.
    PathWithAck { from: u32, to: u32, ack: [u8; 4] },
    /// The recipient of a direct DM acknowledges it.
    Ack {
        from: u32,
        to: u32,
        ack: [u8; 4],
        multipart: bool,
    },
    /// A server answers a request or a login.
    Response {
        from: u32,
        to: u32,
        tag: u32,
        flood: bool,
    },
    /// A neighbour answers a discovery request.
    DiscoverResp { from: u32, tag: u32, snr_db: f32 },
}

/// One transmission on air during a flood.
#[derive(Clone, Copy, Debug)]
struct Air {
    time_us: u64,
    node: u32,
    path_len: u8,
    path: [u8; 64],
}

impl PartialEq for Air {
    fn eq(&self, other: &Self) -> bool {
        (self.time_us, self.node) == (other.time_us, other.node)
    }
}
impl Eq for Air {}
impl PartialOrd for Air {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Air {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time_us, self.node).cmp(&(other.time_us, other.node))
    }
}

/// An encoded packet ready to be put on air with any path.
struct Outgoing {
    id: u64,
    route: RouteType,
    transport: Option<[u8; 4]>,
    payload_type: PayloadType,
    hash_size: u8,
    payload: Vec<u8>,
}

impl Outgoing {
    /// The full frame with `path` as the header path.
    fn frame(&self, path: &[u8]) -> Result<Vec<u8>, EncodeError> {
        let transport = self.transport.map(|codes| TransportCodes::Wire {
            code1: [codes[0], codes[1]],
            code2: [codes[2], codes[3]],
        });
        Frame {
            route: self.route,
            version: 0,
            transport,
            path: Path::new(self.hash_size, path)?,
            payload: Payload::Raw {
                payload_type: self.payload_type,
                bytes: &self.payload,
            },
        }
        .to_vec()
    }

    fn len_with_path(&self, path_len: usize) -> usize {
        1 + if self.transport.is_some() { 4 } else { 0 } + 1 + path_len + self.payload.len()
    }
}

impl Simulator {
    /// Builds the mesh and prepares the traffic for `config`.
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mesh = Mesh::generate(&config, &mut rng);
        let mut channels = vec![ChannelKey::new(PUBLIC_CHANNEL_KEY)];
        channels.extend(
            config
                .hashtag_channels
                .iter()
                .map(|name| ChannelKey::hashtag(name)),
        );
        let mut contacts = HashMap::new();
        let targets: Vec<u32> = mesh
            .repeaters
            .iter()
            .chain(&mesh.servers)
            .copied()
            .collect();
        for &companion in &mesh.companions {
            let mut entry = Contacts::default();
            for _ in 0..3 {
                if mesh.companions.len() > 1 {
                    let friend = mesh.companions[rng.random_range(0..mesh.companions.len())];
                    if friend != companion && !entry.friends.contains(&friend) {
                        entry.friends.push(friend);
                    }
                }
                if !targets.is_empty() {
                    let target = targets[rng.random_range(0..targets.len())];
                    if !entry.servers.contains(&target) {
                        entry.servers.push(target);
                    }
                }
            }
            contacts.insert(companion, entry);
        }
        // The mesh was running before the simulation starts: most contacts have already
        // exchanged paths, so the share of direct traffic is steady from the first event.
        let mut known_paths = std::collections::HashSet::new();
        let mut companions_sorted: Vec<&u32> = contacts.keys().collect();
        companions_sorted.sort_unstable();
        for &companion in companions_sorted {
            let entry = &contacts[&companion];
            for &other in entry.friends.iter().chain(&entry.servers) {
                if rng.random_bool(0.7) {
                    known_paths.insert((companion, other));
                    known_paths.insert((other, companion));
                }
            }
        }
        let n_observers = mesh.observers.len();
        let interval = config.status_interval_ms.max(1);
        let status_next_ms = (0..n_observers)
            .map(|_| config.start_ms + rng.random_range(0..interval))
            .collect();
        let region = config.airports[0].iata.to_lowercase();
        let advert_turns = (0..mesh.nodes.len() as u32)
            .map(|node| {
                let period = advert_period(mesh.nodes[node as usize].role);
                Reverse((rng.random_range(0..period), node))
            })
            .collect();
        let next_root_ms = config.start_ms as f64;
        let seen = vec![0; mesh.nodes.len()];
        Ok(Self {
            mesh,
            rng,
            channels,
            secrets: HashMap::new(),
            contacts,
            known_paths,
            advert_turns,
            region,
            next_root_ms,
            generating: true,
            packets: 0,
            observed_packets: 0,
            last_observed_id: 0,
            seq: 0,
            pending: BinaryHeap::new(),
            out: BinaryHeap::new(),
            status_next_ms,
            counters: vec![ObserverCounters::default(); n_observers],
            last_traffic_ms: config.start_ms,
            final_status_done: false,
            seen,
            generation: 0,
            air: BinaryHeap::new(),
            config,
        })
    }

    /// The mesh the traffic runs on.
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// The settings.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Changes the mean time between originated packets from the next one on (a database
    /// generator steers the packet rate with it so a run ends on its target). Values that are
    /// not positive and finite are ignored.
    pub fn set_mean_interval_ms(&mut self, mean_interval_ms: f64) {
        if mean_interval_ms.is_finite() && mean_interval_ms > 0.0 {
            self.config.mean_interval_ms = mean_interval_ms;
        }
    }

    /// Packets originated so far (follow-ups included), heard or not.
    pub fn packets_originated(&self) -> u64 {
        self.packets
    }

    /// Packets heard by at least one observer so far: the transmissions a database fed by this
    /// stream stores (a TRACE counts once although each hop has its own hash).
    pub fn packets_observed(&self) -> u64 {
        self.observed_packets
    }

    /// Settings tuned so that each transmission yields about `observations_per_transmission`
    /// packet events: samples of 3 000 packets are simulated, observers are added when the
    /// mesh has too few to reach the target, then the capture probability is scaled. The
    /// interval between originated packets is also scaled so that packets heard by observers
    /// (a database's transmissions) come one per the given `mean_interval_ms`, which makes
    /// [`SimConfig::for_database`] runs span the requested days.
    pub fn calibrate(
        config: &SimConfig,
        observations_per_transmission: f64,
    ) -> Result<SimConfig, SimError> {
        if !(observations_per_transmission.is_finite() && observations_per_transmission > 0.0) {
            return Err(SimError::InvalidConfig(
                "observations per transmission must be positive".to_owned(),
            ));
        }
        let target = observations_per_transmission;
        let mut tuned = config.clone();
        tuned.capture_probability = 1.0;
        // First enough observers to hear that many copies at all...
        let mut measured = sample(&tuned)?;
        for _ in 0..3 {
            let (n_observers, n_repeaters) = (measured.n_observers, measured.n_repeaters);
            if measured.ratio >= target || n_observers >= n_repeaters {
                break;
            }
            let wanted = (n_observers as f64 * target / measured.ratio.max(0.1)).ceil() as usize;
            tuned.observers = wanted.clamp(n_observers + 1, n_repeaters);
            measured = sample(&tuned)?;
        }
        // ...then the capture probability, refined on fresh samples because dropping copies
        // also drops packets nobody captured from the count.
        for _ in 0..4 {
            let ratio = measured.ratio;
            if ratio <= 0.0 || (ratio - target).abs() <= 0.02 * target {
                break;
            }
            let capture = (tuned.capture_probability * target / ratio).min(1.0);
            if capture == 1.0 && tuned.capture_probability == 1.0 {
                break;
            }
            tuned.capture_probability = capture;
            measured = sample(&tuned)?;
        }
        // Replies add packets and unheard packets do not count: scale the interval between
        // originated packets so that *observed* packets come one per `mean_interval_ms`.
        if measured.ms_per_packet > 0.0 {
            tuned.mean_interval_ms =
                config.mean_interval_ms * config.mean_interval_ms / measured.ms_per_packet;
        }
        Ok(tuned)
    }

    /// Numbers a packet encoded with [`encode_once`].
    fn number(&mut self, mut out: Outgoing) -> Outgoing {
        self.packets += 1;
        out.id = self.packets;
        out
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Time of the next transmission to simulate, µs.
    fn next_transmission_us(&self) -> Option<u64> {
        let pending = self.pending.peek().map(|Reverse(s)| s.time_us);
        let root = self.generating.then(|| ms_to_us(self.next_root_ms));
        match (pending, root) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn limit_reached(&self) -> bool {
        // The second bound stops a run whose observers hear (almost) nothing, e.g. a tiny
        // mesh with isolated observers, instead of originating packets forever.
        self.config.max_packets.is_some_and(|max| {
            self.observed_packets >= max || self.packets >= max.saturating_mul(100).max(100_000)
        })
    }

    /// Simulates the earliest pending reply or the next originated packet.
    fn step(&mut self) {
        let pending_first = match (self.pending.peek(), self.generating) {
            (Some(Reverse(s)), true) => s.time_us <= ms_to_us(self.next_root_ms),
            (Some(_), false) => true,
            (None, _) => false,
        };
        if pending_first {
            if let Some(Reverse(scheduled)) = self.pending.pop() {
                if !self.limit_reached() {
                    self.run_reply(scheduled.time_us, scheduled.reply);
                }
            }
            return;
        }
        let now_ms = self.next_root_ms;
        let past_end = self.config.end_ms.is_some_and(|end| now_ms >= end as f64);
        if self.limit_reached() || past_end {
            self.generating = false;
            return;
        }
        let gap = -self.config.mean_interval_ms * (1.0 - self.rng.random::<f64>()).ln();
        self.next_root_ms += gap;
        self.originate(ms_to_us(now_ms));
    }

    fn schedule_status(&mut self, until_ms: u64) {
        if self.config.status_interval_ms == 0 {
            return;
        }
        for index in 0..self.status_next_ms.len() {
            while self.status_next_ms[index] <= until_ms {
                let time_ms = self.status_next_ms[index];
                self.status_next_ms[index] += self.config.status_interval_ms;
                let observer = Arc::clone(&self.mesh.observers[index]);
                let counters = self.counters[index];
                let uptime_secs = time_ms.saturating_sub(observer.boot_ms) / 1000;
                let event = StatusEvent {
                    time_ms,
                    battery_mv: observer.battery_full_mv - self.rng.random_range(0..120),
                    uptime_secs,
                    noise_floor_dbm: observer.noise_floor_dbm
                        + (radio::normal(&mut self.rng) as f32).round(),
                    // Counters since boot: the simulated airtime plus what the node did
                    // before the simulation started.
                    tx_air_secs: (counters.tx_air_ms / 1000.0) as u64 + uptime_secs / 900,
                    rx_air_secs: (counters.rx_air_ms / 1000.0) as u64 + uptime_secs / 60,
                    recv_errors: counters.recv_errors + uptime_secs / 120,
                    queue_len: self.rng.random_range(0..3),
                    observer,
                };
                let seq = self.next_seq();
                self.out.push(Reverse(Queued {
                    time_us: time_ms * 1000,
                    seq,
                    event: SimEvent::Status(event),
                }));
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Originating packets.

    fn originate(&mut self, now_us: u64) {
        let mix = &self.config.mix;
        let weights = [
            mix.advert,
            mix.channel_text,
            mix.channel_data,
            mix.direct_message,
            mix.request,
            mix.anon_request,
            mix.trace,
            mix.discover,
            mix.raw_custom,
        ];
        let total: f64 = weights.iter().sum();
        let mut roll = self.rng.random::<f64>() * total;
        let mut kind = 0;
        for (index, weight) in weights.iter().enumerate() {
            if roll < *weight {
                kind = index;
                break;
            }
            roll -= weight;
        }
        // Kinds that need companions fall back to an advert in a mesh without any.
        let has_companions = !self.mesh.companions.is_empty();
        match kind {
            1 if has_companions => self.channel_text(now_us),
            2 if has_companions => self.channel_data(now_us),
            3 if has_companions => self.direct_message(now_us),
            4 if has_companions => self.request(now_us, false),
            5 if has_companions => self.request(now_us, true),
            6 => self.trace(now_us),
            7 => self.discover(now_us),
            8 => self.raw_custom(now_us),
            _ => self.advert(now_us),
        }
    }

    fn random_companion(&mut self) -> u32 {
        self.mesh.companions[self.rng.random_range(0..self.mesh.companions.len())]
    }

    fn random_repeater(&mut self) -> u32 {
        self.mesh.repeaters[self.rng.random_range(0..self.mesh.repeaters.len())]
    }

    /// The sender's clock at `now_us`, Unix seconds.
    fn clock(&self, node: u32, now_us: u64) -> u32 {
        let skew = self.mesh.nodes[node as usize].clock_skew_s;
        let secs = (now_us / 1_000_000) as i64 + skew;
        secs.clamp(0, i64::from(u32::MAX)) as u32
    }

    fn advert(&mut self, now_us: u64) {
        // Nodes advertise in turn, each at its own regular interval (repeaters three times
        // as often as companions, rooms and sensors twice), with some jitter.
        let Some(Reverse((due, node))) = self.advert_turns.pop() else {
            return;
        };
        let period = advert_period(self.mesh.nodes[node as usize].role);
        let next = due + (period as f64 * (0.8 + 0.4 * self.rng.random::<f64>())) as u64;
        self.advert_turns.push(Reverse((next, node)));
        let timestamp = self.clock(node, now_us);
        // Sensors report a slowly sagging battery and a daily temperature cycle.
        let day_phase = (now_us / 1_000_000 % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
        // CoreScope skips NULs after the name, so keep the low byte of the battery non-zero.
        let battery_mv = (3_600 + self.rng.random_range(0..500)) | 1;
        let temperature_centi_c =
            (1_200.0 - 600.0 * day_phase.cos() + 100.0 * radio::normal(&mut self.rng)) as i16;
        // One advert in ten is a zero-hop advert (only neighbours hear it).
        let zero_hop = self.rng.random_bool(0.1);
        let n = &self.mesh.nodes[node as usize];
        let app_data = AdvertAppData {
            kind: n.role.advert_type(),
            location: n.shares_location.then_some((n.lat, n.lon)),
            feat1: None,
            feat2: None,
            name: Some(&n.name),
            telemetry: (n.role == Role::Sensor).then_some(SensorTelemetry {
                battery_mv,
                temperature_centi_c,
            }),
        };
        let payload = Payload::Advert {
            key: &n.key,
            timestamp,
            app_data: &app_data,
        };
        let route = if zero_hop {
            RouteType::Direct
        } else {
            RouteType::Flood
        };
        let out = encode_once(route, None, n.path_hash_size, payload);
        if let Some(out) = out.map(|out| self.number(out)) {
            if zero_hop {
                self.propagate_direct(&out, node, &[], now_us);
            } else {
                self.flood(&out, node, now_us);
            }
        }
    }

    fn channel_text(&mut self, now_us: u64) {
        let node = self.random_companion();
        let channel = if self.rng.random_bool(0.6) {
            0
        } else {
            self.rng.random_range(0..self.channels.len())
        };
        let text = format!(
            "{}: {}",
            self.mesh.nodes[node as usize].name,
            names::message(&mut self.rng)
        );
        let timestamp = self.clock(node, now_us);
        let key = self.channels[channel].clone();
        let payload = Payload::GrpTxt {
            key: &key,
            timestamp,
            flags: 0,
            text: &text,
        };
        // A few senders scope their floods to the region with transport codes.
        let scoped = self.rng.random_bool(0.05);
        let region = self.region.clone();
        let (route, transport) = if scoped {
            (
                RouteType::TransportFlood,
                Some(TransportCodes::Region(&region)),
            )
        } else {
            (RouteType::Flood, None)
        };
        let hash_size = self.mesh.nodes[node as usize].path_hash_size;
        if let Some(out) = self.encode(route, transport, hash_size, payload) {
            self.flood(&out, node, now_us);
        }
    }

    fn channel_data(&mut self, now_us: u64) {
        let node = self.random_companion();
        let channel = self.rng.random_range(0..self.channels.len());
        let key = self.channels[channel].clone();
        let mut data = [0u8; 24];
        let len = self.rng.random_range(4..data.len());
        self.rng.fill_bytes(&mut data[..len]);
        let payload = Payload::GrpData {
            key: &key,
            data_type: 0xFFFF,
            data: &data[..len],
        };
        let hash_size = self.mesh.nodes[node as usize].path_hash_size;
        if let Some(out) = self.encode(RouteType::Flood, None, hash_size, payload) {
            self.flood(&out, node, now_us);
        }
    }

    fn direct_message(&mut self, now_us: u64) {
        let from = self.random_companion();
        let Some(&to) = self.pick_contact(from, false) else {
            return self.channel_text(now_us);
        };
        let timestamp = self.clock(from, now_us);
        let attempt = if self.rng.random_bool(0.9) {
            0
        } else {
            self.rng.random_range(1..4)
        };
        let text = names::message(&mut self.rng);
        let flags = attempt & 3;
        let ack = ack_code(
            timestamp,
            flags,
            &text,
            &self.mesh.nodes[from as usize].public_key,
        );
        let body = PeerBody::TxtMsg {
            timestamp,
            txt_type: 0,
            attempt,
            text: &text,
        };
        let route = self.known_route(from, to);
        let flood = route.is_none();
        if let Some(out) = self.encode_peer(from, to, body, flood) {
            let delivered = match &route {
                Some(route) => self.send_direct(&out, from, to, route, now_us),
                None => {
                    self.flood(&out, from, now_us);
                    true
                }
            };
            if delivered {
                let delay = self.reply_delay_us();
                let reply = if flood {
                    Reply::PathWithAck {
                        from: to,
                        to: from,
                        ack,
                    }
                } else {
                    Reply::Ack {
                        from: to,
                        to: from,
                        ack,
                        multipart: self.rng.random_bool(0.1),
                    }
                };
                self.schedule(now_us + delay, reply);
            }
        }
    }

    fn request(&mut self, now_us: u64, anonymous: bool) {
        let from = self.random_companion();
        let Some(&to) = self.pick_contact(from, true) else {
            return self.advert(now_us);
        };
        let timestamp = self.clock(from, now_us);
        let route = self.known_route(from, to);
        let flood = route.is_none();
        let dest_hash = self.mesh.nodes[to as usize].public_key[0];
        let out = if anonymous {
            // A login: timestamp, (rooms: sync-since), password.
            let mut plain = Vec::with_capacity(24);
            plain.extend_from_slice(&timestamp.to_le_bytes());
            if self.mesh.nodes[to as usize].role == Role::Room {
                plain.extend_from_slice(&timestamp.saturating_sub(86_400).to_le_bytes());
            }
            plain.extend_from_slice(
                names::pick(&mut self.rng, &["hello", "password", "mesh123", ""]).as_bytes(),
            );
            let secret = self.secret(from, to);
            let sender = self.mesh.nodes[from as usize].public_key;
            let payload = Payload::AnonReq {
                dest_hash,
                sender: &sender,
                secret: &secret,
                plaintext: &plain,
            };
            let route_type = if flood {
                RouteType::Flood
            } else {
                RouteType::Direct
            };
            let hash_size = self.mesh.nodes[from as usize].path_hash_size;
            self.encode(route_type, None, hash_size, payload)
        } else {
            let req_type = *[1u8, 1, 1, 3, 3, 4, 6, 2]
                .get(self.rng.random_range(0..8))
                .unwrap_or(&1);
            let body = PeerBody::Req {
                timestamp,
                req_type,
                data: &[],
            };
            self.encode_peer(from, to, body, flood)
        };
        let Some(out) = out else { return };
        let delivered = match &route {
            Some(route) => self.send_direct(&out, from, to, route, now_us),
            None => {
                self.flood(&out, from, now_us);
                true
            }
        };
        if delivered {
            let delay = self.reply_delay_us();
            self.schedule(
                now_us + delay,
                Reply::Response {
                    from: to,
                    to: from,
                    tag: timestamp,
                    flood,
                },
            );
        }
    }

    fn trace(&mut self, now_us: u64) {
        let from = if self.rng.random_bool(0.5) && !self.mesh.companions.is_empty() {
            self.random_companion()
        } else {
            self.random_repeater()
        };
        let target = self.random_repeater();
        let Some(mut route) = self.mesh.route(from, target) else {
            return;
        };
        if self.mesh.nodes[target as usize].role == Role::Repeater && target != from {
            route.push(target);
        }
        if route.is_empty() {
            return;
        }
        // Out and back: the trace returns to the originator along the same repeaters.
        let back: Vec<u32> = route.iter().rev().skip(1).copied().collect();
        route.extend(back);
        route.truncate(63);
        let path_sz = *[0u8, 0, 0, 1, 2]
            .get(self.rng.random_range(0..5))
            .unwrap_or(&0);
        let entry = 1usize << path_sz;
        while route.len() * entry > 184 - 9 {
            route.pop();
        }
        let mut route_bytes = Vec::with_capacity(route.len() * entry);
        for &hop in &route {
            route_bytes.extend_from_slice(&self.mesh.nodes[hop as usize].public_key[..entry]);
        }
        let tag = self.rng.random::<u32>();
        let payload = Payload::Trace {
            tag,
            auth: 0,
            flags: path_sz,
            route: &route_bytes,
        };
        let Some(out) = self.encode(RouteType::Direct, None, 1, payload) else {
            return;
        };
        self.propagate_trace(&out, from, &route, now_us);
    }

    fn discover(&mut self, now_us: u64) {
        let from = if self.rng.random_bool(0.6) && !self.mesh.companions.is_empty() {
            self.random_companion()
        } else {
            self.random_repeater()
        };
        let tag = self.rng.random::<u32>();
        // Ask repeaters (bit 2 = type 2).
        let payload = Payload::Control(Control::DiscoverReq {
            prefix_only: self.rng.random_bool(0.3),
            type_filter: 1 << 2,
            tag,
            since: self.rng.random_bool(0.5).then_some(0),
        });
        let Some(out) = self.encode(RouteType::Direct, None, 1, payload) else {
            return;
        };
        self.propagate_direct(&out, from, &[], now_us);
        let links: Vec<_> = self.mesh.nodes[from as usize]
            .links
            .iter()
            .take(4)
            .copied()
            .collect();
        for link in links {
            if self.mesh.nodes[link.to as usize].role == Role::Repeater
                && radio::reception_probability(f64::from(link.snr_db)) > 0.5
            {
                let delay = 500_000 + self.rng.random_range(0..3_000_000);
                self.schedule(
                    now_us + delay,
                    Reply::DiscoverResp {
                        from: link.to,
                        tag,
                        snr_db: link.snr_db,
                    },
                );
            }
        }
    }

    fn raw_custom(&mut self, now_us: u64) {
        let from = self.random_repeater();
        let mut bytes = [0u8; 40];
        let len = self.rng.random_range(1..bytes.len());
        self.rng.fill_bytes(&mut bytes[..len]);
        let payload = Payload::RawCustom(&bytes[..len]);
        let Some(out) = self.encode(RouteType::Direct, None, 1, payload) else {
            return;
        };
        self.propagate_direct(&out, from, &[], now_us);
    }

    fn run_reply(&mut self, now_us: u64, reply: Reply) {
        match reply {
            Reply::PathWithAck { from, to, ack } => {
                // The returned path: the route from the DM's sender to its recipient.
                let Some(route) = self.mesh.route(to, from) else {
                    return;
                };
                let hash_size = self.mesh.nodes[to as usize].path_hash_size;
                let mut path = Vec::with_capacity(route.len() * 3);
                for &hop in route.iter().take(64 / usize::from(hash_size)) {
                    path.extend_from_slice(
                        &self.mesh.nodes[hop as usize].public_key[..usize::from(hash_size)],
                    );
                }
                let Ok(path) = Path::new(hash_size, &path) else {
                    return;
                };
                let body = PeerBody::Path {
                    path,
                    extra_type: PayloadType::Ack.code(),
                    extra: &ack,
                };
                if let Some(out) = self.encode_peer(from, to, body, true) {
                    self.flood(&out, from, now_us);
                    self.known_paths.insert((to, from));
                    self.known_paths.insert((from, to));
                }
            }
            Reply::Ack {
                from,
                to,
                ack,
                multipart,
            } => {
                let Some(route) = self.known_route(from, to) else {
                    return;
                };
                let rand = self.rng.random::<u8>();
                let out = if multipart {
                    let mut inner = [0u8; 6];
                    inner[..4].copy_from_slice(&ack);
                    inner[5] = rand;
                    let payload = Payload::Multipart {
                        remaining: 1,
                        inner_type: PayloadType::Ack,
                        inner: &inner,
                    };
                    self.encode(
                        RouteType::Direct,
                        None,
                        self.mesh.nodes[from as usize].path_hash_size,
                        payload,
                    )
                } else {
                    let payload = Payload::Ack {
                        code: ack,
                        attempt: Some(0),
                        rand: Some(rand),
                    };
                    self.encode(
                        RouteType::Direct,
                        None,
                        self.mesh.nodes[from as usize].path_hash_size,
                        payload,
                    )
                };
                if let Some(out) = out {
                    self.propagate_direct(&out, from, &route, now_us);
                }
                // Firmware's multi-ACK: the MULTIPART copy is followed by the plain ACK.
                if multipart {
                    let delay = 300_000 + self.rng.random_range(0..500_000);
                    self.schedule(
                        now_us + delay,
                        Reply::Ack {
                            from,
                            to,
                            ack,
                            multipart: false,
                        },
                    );
                }
            }
            Reply::Response {
                from,
                to,
                tag,
                flood,
            } => {
                let mut data = [0u8; 48];
                let len = self.rng.random_range(8..data.len());
                self.rng.fill_bytes(&mut data[..len]);
                let body = PeerBody::Response {
                    tag,
                    data: &data[..len],
                };
                let route = if flood {
                    None
                } else {
                    self.known_route(from, to)
                };
                if let Some(out) = self.encode_peer(from, to, body, route.is_none()) {
                    match route {
                        Some(route) => {
                            self.propagate_direct(&out, from, &route, now_us);
                        }
                        None => self.flood(&out, from, now_us),
                    }
                    self.known_paths.insert((to, from));
                    self.known_paths.insert((from, to));
                }
            }
            Reply::DiscoverResp { from, tag, snr_db } => {
                let public_key = self.mesh.nodes[from as usize].public_key;
                let prefix_only = self.rng.random_bool(0.3);
                let payload = Payload::Control(Control::DiscoverResp {
                    node_type: self.mesh.nodes[from as usize].role.advert_type().code(),
                    snr_x4: snr_to_byte(snr_db) as i8,
                    tag,
                    public_key: if prefix_only {
                        &public_key[..8]
                    } else {
                        &public_key
                    },
                });
                if let Some(out) = self.encode(RouteType::Direct, None, 1, payload) {
                    self.propagate_direct(&out, from, &[], now_us);
                }
            }
        }
    }

    fn pick_contact(&mut self, from: u32, server: bool) -> Option<&u32> {
        let contacts = self.contacts.get(&from)?;
        let list = if server {
            &contacts.servers
        } else {
            &contacts.friends
        };
        if list.is_empty() {
            return None;
        }
        list.get(self.rng.random_range(0..list.len()))
    }

    /// The route `from` uses to reach `to` directly, if it has learnt one.
    fn known_route(&self, from: u32, to: u32) -> Option<Vec<u32>> {
        if !self.known_paths.contains(&(from, to)) {
            return None;
        }
        self.mesh.route(from, to).filter(|route| {
            route.len() * usize::from(self.mesh.nodes[from as usize].path_hash_size) <= 64
        })
    }

    fn reply_delay_us(&mut self) -> u64 {
        1_500_000 + self.rng.random_range(0..4_000_000)
    }

    fn schedule(&mut self, time_us: u64, reply: Reply) {
        let seq = self.next_seq();
        self.pending.push(Reverse(Scheduled {
            time_us,
            seq,
            reply,
        }));
    }

    fn secret(&mut self, a: u32, b: u32) -> PeerSecret {
        let pair = (a.min(b), a.max(b));
        if let Some(secret) = self.secrets.get(&pair) {
            return secret.clone();
        }
        let (own, peer) = (&self.mesh.nodes[a as usize], &self.mesh.nodes[b as usize]);
        let secret = PeerSecret::ecdh(&own.key, &peer.key.verifying_key());
        self.secrets.insert(pair, secret.clone());
        secret
    }

    fn encode_peer(
        &mut self,
        from: u32,
        to: u32,
        body: PeerBody<'_>,
        flood: bool,
    ) -> Option<Outgoing> {
        let secret = self.secret(from, to);
        let payload = Payload::Peer {
            dest_hash: self.mesh.nodes[to as usize].public_key[0],
            src_hash: self.mesh.nodes[from as usize].public_key[0],
            secret: &secret,
            body,
        };
        let route = if flood {
            RouteType::Flood
        } else {
            RouteType::Direct
        };
        let hash_size = self.mesh.nodes[from as usize].path_hash_size;
        self.encode(route, None, hash_size, payload)
    }

    /// Encodes the payload once (see [`encode_once`]) and numbers the packet.
    fn encode(
        &mut self,
        route: RouteType,
        transport: Option<TransportCodes<'_>>,
        hash_size: u8,
        payload: Payload<'_>,
    ) -> Option<Outgoing> {
        let mut out = encode_once(route, transport, hash_size, payload)?;
        self.packets += 1;
        out.id = self.packets;
        Some(out)
    }

    // ---------------------------------------------------------------------------------------
    // Propagation.

    /// Floods `out` from `origin`.
    fn flood(&mut self, out: &Outgoing, origin: u32, start_us: u64) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.seen.fill(0);
            self.generation = 1;
        }
        let generation = self.generation;
        self.seen[origin as usize] = generation;
        let hash_size = usize::from(out.hash_size);
        self.air.clear();
        self.air.push(Reverse(Air {
            time_us: start_us,
            node: origin,
            path_len: 0,
            path: [0; 64],
        }));
        while let Some(Reverse(air)) = self.air.pop() {
            let path = &air.path[..usize::from(air.path_len)];
            let airtime_ms = radio::airtime_ms(out.len_with_path(path.len()));
            let rx_us = air.time_us + ms_to_us(airtime_ms);
            self.transmitted(air.node, out, path, air.time_us, airtime_ms);
            let n_links = self.mesh.nodes[air.node as usize].links.len();
            for index in 0..n_links {
                let link = self.mesh.nodes[air.node as usize].links[index];
                // Only observers (who report what they hear) and repeaters that have not yet
                // relayed this flood matter; skipping the others' fading draws keeps a flood
                // in a large mesh cheap without changing what anyone reports.
                let receiver = &self.mesh.nodes[link.to as usize];
                let relays =
                    receiver.role == Role::Repeater && self.seen[link.to as usize] != generation;
                if receiver.observer.is_none() && !relays {
                    continue;
                }
                let Some(snr) = self.receive(link.snr_db) else {
                    self.note_error(link.to);
                    continue;
                };
                let receiver = &self.mesh.nodes[link.to as usize];
                if let Some(observer) = receiver.observer {
                    self.observe(observer, out, path, rx_us, Some((snr, link)), airtime_ms);
                }
                let receiver = &self.mesh.nodes[link.to as usize];
                if self.seen[link.to as usize] == generation || receiver.role != Role::Repeater {
                    continue;
                }
                self.seen[link.to as usize] = generation;
                let new_len = path.len() + hash_size;
                if new_len > 64 || path.len() / hash_size >= 63 {
                    continue;
                }
                let mut next = Air {
                    time_us: 0,
                    node: link.to,
                    path_len: new_len as u8,
                    path: air.path,
                };
                next.path[path.len()..new_len].copy_from_slice(&receiver.public_key[..hash_size]);
                // Firmware waits a random slot proportional to airtime before re-broadcasting.
                let delay_ms = airtime_ms * (0.3 + 2.0 * self.rng.random::<f64>());
                next.time_us = rx_us + ms_to_us(delay_ms);
                self.air.push(Reverse(next));
            }
        }
    }

    /// Sends a peer packet along a learnt route. Like the firmware, a sender whose direct
    /// packet gets no answer falls back to flooding next time (the path is forgotten); a few
    /// paths are also reset at random (users do it, routes change), so the share of direct
    /// traffic stays steady over a long run.
    fn send_direct(
        &mut self,
        out: &Outgoing,
        from: u32,
        to: u32,
        route: &[u32],
        start_us: u64,
    ) -> bool {
        let delivered = self.propagate_direct(out, from, route, start_us);
        if !delivered || self.rng.random_bool(0.05) {
            self.known_paths.remove(&(from, to));
            self.known_paths.remove(&(to, from));
        }
        delivered
    }

    /// Sends `out` from `sender` along `route` (repeaters, first hop first). Returns whether
    /// the last transmission was received by the destination's side (the packet arrived).
    fn propagate_direct(
        &mut self,
        out: &Outgoing,
        sender: u32,
        route: &[u32],
        start_us: u64,
    ) -> bool {
        let hash_size = usize::from(out.hash_size);
        let mut path = [0u8; 64];
        let hops = route.len().min(64 / hash_size);
        for (index, &hop) in route[..hops].iter().enumerate() {
            path[index * hash_size..(index + 1) * hash_size]
                .copy_from_slice(&self.mesh.nodes[hop as usize].public_key[..hash_size]);
        }
        let mut time_us = start_us;
        let mut transmitter = sender;
        for position in 0..=hops {
            let remaining = &path[position * hash_size..hops * hash_size];
            let airtime_ms = radio::airtime_ms(out.len_with_path(remaining.len()));
            let rx_us = time_us + ms_to_us(airtime_ms);
            self.transmitted(transmitter, out, remaining, time_us, airtime_ms);
            let next = route.get(position).copied();
            let mut next_heard = false;
            let n_links = self.mesh.nodes[transmitter as usize].links.len();
            for index in 0..n_links {
                let link = self.mesh.nodes[transmitter as usize].links[index];
                let Some(snr) = self.receive(link.snr_db) else {
                    self.note_error(link.to);
                    continue;
                };
                if Some(link.to) == next {
                    next_heard = true;
                }
                if let Some(observer) = self.mesh.nodes[link.to as usize].observer {
                    self.observe(
                        observer,
                        out,
                        remaining,
                        rx_us,
                        Some((snr, link)),
                        airtime_ms,
                    );
                }
            }
            match next {
                Some(next) if next_heard => {
                    transmitter = next;
                    time_us = rx_us + ms_to_us(airtime_ms * (0.2 + 0.5 * self.rng.random::<f64>()));
                }
                Some(_) => return false,
                None => break,
            }
        }
        true
    }

    /// Sends a TRACE along `route`; each hop appends the SNR it heard the trace with.
    fn propagate_trace(&mut self, out: &Outgoing, sender: u32, route: &[u32], start_us: u64) {
        let mut snrs = [0u8; 64];
        let mut time_us = start_us;
        let mut transmitter = sender;
        for position in 0..=route.len().min(63) {
            let airtime_ms = radio::airtime_ms(out.len_with_path(position));
            let rx_us = time_us + ms_to_us(airtime_ms);
            self.transmitted(transmitter, out, &snrs[..position], time_us, airtime_ms);
            let next = route.get(position).copied();
            let mut next_snr = None;
            let n_links = self.mesh.nodes[transmitter as usize].links.len();
            for index in 0..n_links {
                let link = self.mesh.nodes[transmitter as usize].links[index];
                let Some(snr) = self.receive(link.snr_db) else {
                    continue;
                };
                if Some(link.to) == next {
                    next_snr = Some(snr);
                }
                if let Some(observer) = self.mesh.nodes[link.to as usize].observer {
                    self.observe(
                        observer,
                        out,
                        &snrs[..position],
                        rx_us,
                        Some((snr, link)),
                        airtime_ms,
                    );
                }
            }
            let (Some(next), Some(snr)) = (next, next_snr) else {
                return;
            };
            snrs[position] = snr_to_byte(snr);
            transmitter = next;
            time_us = rx_us + ms_to_us(airtime_ms * (0.2 + 0.5 * self.rng.random::<f64>()));
        }
    }

    /// Rolls the reception of one copy over a link with mean SNR `mean_snr_db`; returns the
    /// SNR it was received with, or `None` if it was lost.
    fn receive(&mut self, mean_snr_db: f32) -> Option<f32> {
        let snr = (f64::from(mean_snr_db) + radio::FADING_SIGMA_DB * radio::normal(&mut self.rng))
            .min(radio::MAX_SNR_DB);
        let p = radio::reception_probability(snr);
        (p >= 0.999 || self.rng.random::<f64>() < p).then_some(snr as f32)
    }

    /// Accounts a transmission by `node`; an observer also publishes its own TX (the bridge
    /// does, with direction "tx" and no radio readings).
    fn transmitted(
        &mut self,
        node: u32,
        out: &Outgoing,
        path: &[u8],
        time_us: u64,
        airtime_ms: f64,
    ) {
        if let Some(observer) = self.mesh.nodes[node as usize].observer {
            self.counters[observer].tx_air_ms += airtime_ms;
            if self.config.publish_tx {
                self.observe(observer, out, path, time_us, None, airtime_ms);
            }
        }
    }

    fn note_error(&mut self, node: u32) {
        if let Some(observer) = self.mesh.nodes[node as usize].observer {
            self.counters[observer].recv_errors += 1;
        }
    }

    /// Records that `observer` decoded a copy of `out` with header path `path` over `link`
    /// with SNR `snr` (`reception`), or sent it itself (`None`).
    fn observe(
        &mut self,
        observer: usize,
        out: &Outgoing,
        path: &[u8],
        time_us: u64,
        reception: Option<(f32, Link)>,
        airtime_ms: f64,
    ) {
        if reception.is_some() {
            self.counters[observer].rx_air_ms += airtime_ms;
        }
        self.last_traffic_ms = self.last_traffic_ms.max(time_us / 1000);
        if self.config.capture_probability < 1.0
            && !self.rng.random_bool(self.config.capture_probability)
        {
            return;
        }
        let Ok(mut raw) = out.frame(path) else { return };
        if self.last_observed_id != out.id {
            self.last_observed_id = out.id;
            self.observed_packets += 1;
        }
        let malformed =
            self.config.malformed_rate > 0.0 && self.rng.random_bool(self.config.malformed_rate);
        if malformed {
            corrupt(&mut raw, &mut self.rng);
        }
        // The copy's fading moves RSSI and SNR together.
        let readings = reception.map(|(snr, link)| (snr, link.rssi_dbm + (snr - link.snr_db)));
        let seq = self.next_seq();
        self.out.push(Reverse(Queued {
            time_us,
            seq,
            event: SimEvent::Packet(PacketEvent {
                time_ms: time_us / 1000,
                observer: Arc::clone(&self.mesh.observers[observer]),
                direction: if reception.is_some() {
                    Direction::Rx
                } else {
                    Direction::Tx
                },
                raw,
                snr_db: readings.map(|r| r.0),
                rssi_dbm: readings.map(|r| r.1),
                packet_id: out.id,
                malformed,
            }),
        }));
    }
}

impl Iterator for Simulator {
    type Item = SimEvent;

    fn next(&mut self) -> Option<SimEvent> {
        loop {
            let Some(next_us) = self.next_transmission_us() else {
                // Traffic is over: status reports continue up to the last packet heard.
                if !self.final_status_done {
                    self.final_status_done = true;
                    self.schedule_status(self.last_traffic_ms);
                }
                return self.out.pop().map(|Reverse(q)| q.event);
            };
            self.schedule_status(next_us / 1000);
            if let Some(Reverse(top)) = self.out.peek() {
                if top.time_us <= next_us {
                    return self.out.pop().map(|Reverse(q)| q.event);
                }
            }
            self.step();
        }
    }
}

/// Interval between a node's adverts, in advert turns: each advert slot goes to the node
/// whose turn is due, so over a run a node adverts once per `period / sum(1 / period)` slots.
fn advert_period(role: Role) -> u64 {
    match role {
        Role::Repeater => 1_000_000,
        Role::Room | Role::Sensor => 1_500_000,
        Role::Companion => 3_000_000,
    }
}

/// What a sample run of a configuration shows.
struct Sample {
    /// Packet events per observed packet.
    ratio: f64,
    /// Simulated ms per observed packet.
    ms_per_packet: f64,
    n_observers: usize,
    n_repeaters: usize,
}

/// Measures a 3 000-packet sample of `config`, after 2 000 packets of warm-up.
fn sample(config: &SimConfig) -> Result<Sample, SimError> {
    const WARM_UP: u64 = 2_000;
    const SAMPLE: u64 = 3_000;
    let mut sample = config.clone();
    sample.end_ms = None;
    sample.status_interval_ms = 0;
    sample.max_packets = Some(WARM_UP + SAMPLE);
    let mut sim = Simulator::new(sample)?;
    let n_observers = sim.mesh.observers.len();
    let n_repeaters = sim.mesh.repeaters.len();
    let mut events = 0u64;
    let mut first: Option<(u64, u64)> = None;
    let mut last = (0, 0);
    while let Some(event) = sim.next() {
        if sim.packets_observed() > WARM_UP {
            events += 1;
            let point = (event.time_ms(), sim.packets_observed());
            first.get_or_insert(point);
            last = point;
        }
    }
    let counted = sim.packets_observed().saturating_sub(WARM_UP).max(1);
    let ms_per_packet = match first {
        Some((t0, n0)) if last.1 > n0 => (last.0 - t0) as f64 / (last.1 - n0) as f64,
        _ => config.mean_interval_ms,
    };
    Ok(Sample {
        ratio: events as f64 / counted as f64,
        ms_per_packet,
        n_observers,
        n_repeaters,
    })
}

/// Encodes the payload once; every copy on air is this payload behind its own path. Inputs
/// come from the simulator itself and are sized to fit, so a failure is a bug in the traffic
/// generator, which then drops the packet rather than crash a demo.
fn encode_once(
    route: RouteType,
    transport: Option<TransportCodes<'_>>,
    hash_size: u8,
    payload: Payload<'_>,
) -> Option<Outgoing> {
    let frame = Frame {
        route,
        version: 0,
        transport,
        path: Path::empty(hash_size).ok()?,
        payload,
    };
    let mut buf = [0u8; MAX_FRAME_SIZE];
    let len = frame.emit(&mut buf).ok()?;
    let transport_len = if transport.is_some() { 4 } else { 0 };
    let mut codes = [0u8; 4];
    codes.copy_from_slice(&buf[1..5]);
    Some(Outgoing {
        id: 0,
        route,
        transport: transport.map(|_| codes),
        payload_type: payload.payload_type(),
        hash_size,
        payload: buf[2 + transport_len..len].to_vec(),
    })
}

/// Damages a frame so that any decoder must reject it (spec §8.1 errors).
fn corrupt<R: Rng + ?Sized>(raw: &mut Vec<u8>, rng: &mut R) {
    let path_byte = if raw.first().is_some_and(|h| matches!(h & 3, 0 | 3)) {
        5
    } else {
        1
    };
    match rng.random_range(0..5) {
        // Reserved hash-size code 3.
        0 if raw.len() > path_byte => raw[path_byte] |= 0xC0,
        // A path that runs past the end of the frame.
        1 if raw.len() > path_byte => {
            raw.truncate(path_byte + 1 + rng.random_range(0..8));
            raw[path_byte] = 0x3F;
        }
        // A payload over 184 bytes.
        2 => {
            let extra = (MAX_FRAME_SIZE + 1).saturating_sub(raw.len()).max(185);
            raw.extend((0..extra).map(|_| rng.random::<u8>()));
        }
        // Too short to hold a header and a path byte.
        3 => raw.truncate(1),
        // A transport route without room for its codes.
        _ => {
            raw.truncate(3);
            if let Some(header) = raw.first_mut() {
                *header &= !3;
            }
        }
    }
    if raw.is_empty() {
        raw.push(0x15);
    }
}

fn ms_to_us(ms: f64) -> u64 {
    (ms * 1000.0).max(0.0) as u64
}
