//! The synthetic mesh: nodes with real Ed25519 keys, names, roles and positions; observers;
//! radio links between nodes; shortest routes between repeaters.

use std::collections::VecDeque;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use meshcore_wire::encode::AdvertType;
use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;

use crate::config::SimConfig;
use crate::names;
use crate::radio;

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Forwards floods and direct packets; observers are repeaters.
    Repeater,
    /// A user's handheld or base station; originates chat, does not forward.
    Companion,
    /// Room server (a small BBS); answers logins and requests.
    Room,
    /// Sensor; adverts telemetry, answers requests.
    Sensor,
}

impl Role {
    /// The advert type this role announces.
    pub fn advert_type(self) -> AdvertType {
        match self {
            Self::Repeater => AdvertType::Repeater,
            Self::Companion => AdvertType::Chat,
            Self::Room => AdvertType::Room,
            Self::Sensor => AdvertType::Sensor,
        }
    }
}

/// A node of the mesh.
#[derive(Debug)]
pub struct Node {
    /// Signing key (derived from the seed).
    pub key: SigningKey,
    /// Public key bytes.
    pub public_key: [u8; 32],
    /// Advertised name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Bytes per path entry this node asks for when it originates a flood (1, 2 or 3).
    pub path_hash_size: u8,
    /// Whether the advert carries the location (some users hide it).
    pub shares_location: bool,
    /// Offset of the node's clock from true time, seconds.
    pub clock_skew_s: i64,
    /// Index in [`Mesh::observers`] if this node is an observer.
    pub observer: Option<usize>,
    /// Radio neighbours that forward or observe (repeaters), strongest first.
    pub links: Vec<Link>,
}

/// A one-way radio link to a repeater.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Index of the receiving node.
    pub to: u32,
    /// Mean SNR at the receiver, dB.
    pub snr_db: f32,
    /// Mean RSSI at the receiver, dBm.
    pub rssi_dbm: f32,
}

/// What an observer publishes about itself (topic segments, `origin`, status fields).
#[derive(Clone, Debug, PartialEq)]
pub struct ObserverInfo {
    /// Index of the observer's node in [`Mesh::nodes`].
    pub node: u32,
    /// Public key as 64 upper-case hex digits (topic segment and `origin_id`).
    pub public_key_hex: String,
    /// Name (`origin`).
    pub name: String,
    /// IATA code (topic segment).
    pub iata: String,
    /// Hardware model.
    pub model: String,
    /// Firmware version.
    pub firmware: String,
    /// Bridge version (`client_version`).
    pub client_version: String,
    /// Radio settings `freqMHz,bwkHz,SF,CR`.
    pub radio: String,
    /// Noise floor, dBm.
    pub noise_floor_dbm: f32,
    /// Battery when full, mV.
    pub battery_full_mv: u32,
    /// Simulated boot time, Unix ms (uptime counts from here).
    pub boot_ms: u64,
}

/// The whole synthetic mesh.
#[derive(Debug)]
pub struct Mesh {
    /// All nodes; repeaters first.
    pub nodes: Vec<Node>,
    /// Observers (a subset of the repeaters).
    pub observers: Vec<Arc<ObserverInfo>>,
    /// Indices of the repeaters.
    pub repeaters: Vec<u32>,
    /// Indices of the companions.
    pub companions: Vec<u32>,
    /// Indices of rooms and sensors (request targets besides repeaters).
    pub servers: Vec<u32>,
}

const MODELS: &[&str] = &[
    "Heltec V3",
    "RAK4631",
    "Heltec T114",
    "Station G2",
    "Xiao S3 WIO",
    "LilyGo T-Beam",
];
const FIRMWARE: &[&str] = &[
    "1.12.0-9405e8b",
    "1.13.0-2b1a6f0",
    "1.15.2-77c2e10",
    "1.16.0-a81c3d4",
];

impl Mesh {
    /// Builds the mesh for `config` (assumed valid) from `rng`.
    pub fn generate(config: &SimConfig, rng: &mut ChaCha8Rng) -> Self {
        let n = config.nodes;
        let n_repeaters = ((n as f64 * config.repeater_share).round() as usize).max(1);
        let n_rooms = (n as f64 * config.room_share).round() as usize;
        let n_sensors = (n as f64 * config.sensor_share).round() as usize;
        let mut nodes = Vec::with_capacity(n);
        let mut used_prefixes = std::collections::HashSet::new();
        for index in 0..n {
            let role = if index < n_repeaters {
                Role::Repeater
            } else if index < n_repeaters + n_rooms {
                Role::Room
            } else if index < n_repeaters + n_rooms + n_sensors {
                Role::Sensor
            } else {
                Role::Companion
            };
            // Keys from the seeded stream. Avoid two nodes sharing a 3-byte prefix so 3-byte
            // paths are unambiguous (1- and 2-byte collisions are realistic and kept).
            let key = loop {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                let key = SigningKey::from_bytes(&seed);
                let prefix: [u8; 3] = key.verifying_key().as_bytes()[..3]
                    .try_into()
                    .unwrap_or([0; 3]);
                if used_prefixes.insert(prefix) {
                    break key;
                }
            };
            let public_key = key.verifying_key().to_bytes();
            let name = match role {
                Role::Repeater => names::repeater_name(rng),
                Role::Companion => names::companion_name(rng),
                Role::Room => names::room_name(rng),
                Role::Sensor => names::sensor_name(rng),
            };
            let (lat, lon) = random_position(config, rng);
            let path_hash_size = match rng.random_range(0..100) {
                0..60 => 1,
                60..90 => 2,
                _ => 3,
            };
            nodes.push(Node {
                key,
                public_key,
                name,
                role,
                lat,
                lon,
                path_hash_size,
                shares_location: role != Role::Companion || rng.random_bool(0.6),
                clock_skew_s: if rng.random_bool(0.1) {
                    rng.random_range(-900..900)
                } else {
                    0
                },
                observer: None,
                links: Vec::new(),
            });
        }
        let repeaters: Vec<u32> = (0..n_repeaters as u32).collect();
        compute_links(&mut nodes, &repeaters, rng);

        // Observers: the best-connected repeaters, which is where people put them (roofs).
        let mut ranked = repeaters.clone();
        ranked.sort_by_key(|&r| std::cmp::Reverse(nodes[r as usize].links.len()));
        let n_observers = config.observers.min(ranked.len());
        let mut chosen: Vec<u32> = ranked[..n_observers].to_vec();
        chosen.sort_unstable();
        let observers = chosen
            .iter()
            .enumerate()
            .map(|(index, &node_index)| {
                let node = &mut nodes[node_index as usize];
                node.observer = Some(index);
                let iata = config
                    .airports
                    .iter()
                    .min_by(|a, b| {
                        let da = radio::distance_km(node.lat, node.lon, a.lat, a.lon);
                        let db = radio::distance_km(node.lat, node.lon, b.lat, b.lon);
                        da.total_cmp(&db)
                    })
                    .map(|a| a.iata.clone())
                    .unwrap_or_default();
                Arc::new(ObserverInfo {
                    node: node_index,
                    public_key_hex: upper_hex(&node.public_key),
                    name: node.name.clone(),
                    iata,
                    model: names::pick(rng, MODELS).to_owned(),
                    firmware: names::pick(rng, FIRMWARE).to_owned(),
                    client_version: "meshcoretomqtt/1.0.8.0".to_owned(),
                    radio: radio::RADIO_SETTINGS.to_owned(),
                    noise_floor_dbm: (-112.0 + 6.0 * rng.random::<f64>()) as f32,
                    battery_full_mv: rng.random_range(4050..4210),
                    boot_ms: config
                        .start_ms
                        .saturating_sub(rng.random_range(0..30 * 86_400_000)),
                })
            })
            .collect();
        let companions = nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.role == Role::Companion)
            .map(|(i, _)| i as u32)
            .collect();
        let servers = nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| matches!(node.role, Role::Room | Role::Sensor))
            .map(|(i, _)| i as u32)
            .collect();
        Self {
            nodes,
            observers,
            repeaters,
            companions,
            servers,
        }
    }

    /// The shortest repeater route (fewest hops over links with a comfortable SNR) from `from`
    /// to `to`, as the indices of the repeaters in between, or `None` when the two are not
    /// connected. An empty route means the two nodes hear each other directly.
    pub fn route(&self, from: u32, to: u32) -> Option<Vec<u32>> {
        const GOOD_SNR_DB: f32 = -12.0;
        let good = |link: &&Link| link.snr_db >= GOOD_SNR_DB;
        if self.nodes[from as usize]
            .links
            .iter()
            .filter(good)
            .any(|l| l.to == to)
        {
            return Some(Vec::new());
        }
        // Repeaters that hear `to` well enough to deliver to it.
        let last_hops: Vec<u32> = self.nodes[to as usize]
            .links
            .iter()
            .filter(good)
            .map(|l| l.to)
            .collect();
        if last_hops.is_empty() {
            return None;
        }
        let mut previous = vec![u32::MAX; self.nodes.len()];
        let mut queue = VecDeque::new();
        for link in self.nodes[from as usize].links.iter().filter(good) {
            if previous[link.to as usize] == u32::MAX {
                previous[link.to as usize] = from;
                queue.push_back(link.to);
            }
        }
        while let Some(current) = queue.pop_front() {
            if last_hops.contains(&current) {
                let mut route = vec![current];
                let mut at = current;
                while previous[at as usize] != from {
                    at = previous[at as usize];
                    route.push(at);
                }
                route.reverse();
                return Some(route);
            }
            for link in self.nodes[current as usize].links.iter().filter(good) {
                if previous[link.to as usize] == u32::MAX && link.to != from {
                    previous[link.to as usize] = current;
                    queue.push_back(link.to);
                }
            }
        }
        None
    }
}

/// Links from every node to every repeater in range, with a fixed shadowing per pair
/// (symmetric) and extra gain between two elevated repeaters.
fn compute_links(nodes: &mut [Node], repeaters: &[u32], rng: &mut ChaCha8Rng) {
    let noise_floor_dbm = -110.0;
    for i in 0..nodes.len() {
        for &r in repeaters {
            let r = r as usize;
            // Each unordered pair is drawn once (when i < r, or i is not a repeater).
            if r == i || (nodes[i].role == Role::Repeater && r < i) {
                continue;
            }
            let distance =
                radio::distance_km(nodes[i].lat, nodes[i].lon, nodes[r].lat, nodes[r].lon);
            let elevated = if nodes[i].role == Role::Repeater {
                6.0
            } else {
                0.0
            };
            let rssi = radio::mean_rssi_dbm(distance, elevated)
                + radio::SHADOWING_SIGMA_DB * radio::normal(rng);
            let snr = (rssi - noise_floor_dbm).min(radio::MAX_SNR_DB);
            if snr < radio::LINK_CUTOFF_SNR_DB {
                continue;
            }
            let link = |to: usize| Link {
                to: to as u32,
                snr_db: snr as f32,
                rssi_dbm: rssi as f32,
            };
            nodes[i].links.push(link(r));
            if nodes[i].role == Role::Repeater {
                nodes[r].links.push(link(i));
            }
        }
    }
    for node in nodes.iter_mut() {
        node.links
            .sort_by(|a, b| b.snr_db.total_cmp(&a.snr_db).then(a.to.cmp(&b.to)));
    }
}

/// A uniformly random point in the region's disc.
fn random_position<R: Rng + ?Sized>(config: &SimConfig, rng: &mut R) -> (f64, f64) {
    let r_km = config.radius_km * rng.random::<f64>().sqrt();
    let angle = std::f64::consts::TAU * rng.random::<f64>();
    let dlat = r_km * angle.cos() / 111.32;
    let dlon = r_km * angle.sin() / (111.32 * config.center_lat.to_radians().cos().max(0.01));
    let lat = (config.center_lat + dlat).clamp(-89.9, 89.9);
    let mut lon = config.center_lon + dlon;
    if lon > 180.0 {
        lon -= 360.0;
    } else if lon < -180.0 {
        lon += 360.0;
    }
    (lat, lon)
}

/// Upper-case hex, as observers print keys.
pub fn upper_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}
