//! Word lists for node names and message texts, so the demo mesh reads like a real one.
//!
//! Place names are from the Puget Sound area (the default region); with another centre they
//! are just names.

use rand::{Rng, RngExt};

/// Places used in repeater, room and sensor names and in messages.
pub const PLACES: &[&str] = &[
    "Capitol Hill",
    "Ballard",
    "Fremont",
    "Queen Anne",
    "Beacon Hill",
    "West Seattle",
    "Bellevue",
    "Redmond",
    "Kirkland",
    "Issaquah",
    "Cougar Mtn",
    "Tiger Mtn",
    "Renton",
    "Kent",
    "Burien",
    "Shoreline",
    "Lynnwood",
    "Everett",
    "Bothell",
    "Mercer Island",
    "Magnolia",
    "Wallingford",
    "Green Lake",
    "Sammamish",
    "Snoqualmie",
    "Tukwila",
    "Des Moines",
    "Federal Way",
    "Edmonds",
    "Mukilteo",
    "Vashon",
    "Bainbridge",
    "Tacoma",
    "Puyallup",
    "Auburn",
    "Woodinville",
    "Maple Valley",
    "Newcastle",
    "Lake City",
    "Northgate",
];

const FIRST_NAMES: &[&str] = &[
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Ken",
    "Lena", "Mallory", "Nina", "Oscar", "Peggy", "Quinn", "Rupert", "Sybil", "Trent", "Uma",
    "Victor", "Wendy", "Xavier", "Yuki", "Zoe", "Marco", "Priya", "Sam", "Jo",
];

const DEVICES: &[&str] = &[
    "T-Deck", "T1000", "Heltec", "RAK", "WisMesh", "Xiao", "T-Echo", "mobile", "base", "HT",
];

const EMOJI: &[&str] = &["🌲", "📡", "🚲", "🏔️", "🐙", "☕", "🛶", "🦅"];

const CALLSIGN_LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

const MESSAGES: &[&str] = &[
    "anyone on?",
    "Test from {place}",
    "Good morning mesh!",
    "copy, 5/5",
    "Heard you via {place}",
    "ping",
    "pong",
    "New repeater up on {place} 🎉",
    "What's the SNR like in {place}?",
    "Wardriving along I-5 now",
    "73!",
    "Lost power here, running on battery",
    "Anyone hearing the {place} rptr?",
    "Traffic on 405 is nuts",
    "Nice weather for hiking today ☀️",
    "Can someone check if my advert gets through?",
    "Updated to the latest firmware",
    "Got my T-Deck today!",
    "qrt for tonight, 73",
    "Checking in from {place}",
    "Range test: walking toward {place}",
    "Is the {place} room server up?",
    "Thanks for the relay!",
    "Solar node at {place} still going strong",
    "Net tonight at 8pm on #chat",
    "Rain again 🌧️",
    "Message received, thanks",
    "hello from the ferry ⛴️",
    "Who runs the {place} repeater?",
    "Path looks long today",
];

/// A repeater name like `KJ7ABC Cougar Mtn` or `Ballard Rptr`.
pub fn repeater_name<R: Rng + ?Sized>(rng: &mut R) -> String {
    let place = pick(rng, PLACES);
    match rng.random_range(0..4) {
        0 => format!("{} {place}", callsign(rng)),
        1 => format!("{place} Rptr"),
        2 => format!("{place} Repeater"),
        _ => format!("PugetMesh {place}"),
    }
}

/// A companion name like `Alice T-Deck` or `📡 Bob`.
pub fn companion_name<R: Rng + ?Sized>(rng: &mut R) -> String {
    let first = pick(rng, FIRST_NAMES);
    match rng.random_range(0..5) {
        0 => format!("{} {first}", pick(rng, EMOJI)),
        1 => callsign(rng),
        2 => format!("{first} {}", rng.random_range(1..100)),
        _ => format!("{first} {}", pick(rng, DEVICES)),
    }
}

/// A room server name.
pub fn room_name<R: Rng + ?Sized>(rng: &mut R) -> String {
    let place = pick(rng, PLACES);
    if rng.random_bool(0.5) {
        format!("{place} Room")
    } else {
        format!("BBS {place}")
    }
}

/// A sensor name.
pub fn sensor_name<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("WX {}", pick(rng, PLACES))
}

/// A short chat message.
pub fn message<R: Rng + ?Sized>(rng: &mut R) -> String {
    let template = pick(rng, MESSAGES);
    if template.contains("{place}") {
        template.replace("{place}", pick(rng, PLACES))
    } else {
        template.to_owned()
    }
}

/// An amateur-radio style callsign (`K`/`W`/`N` prefix, district 7, suffix).
fn callsign<R: Rng + ?Sized>(rng: &mut R) -> String {
    let prefix = pick(rng, &["K", "W", "N", "KJ", "KI", "KF", "WA"]);
    let suffix: String = (0..rng.random_range(2..4))
        .map(|_| char::from(CALLSIGN_LETTERS[rng.random_range(0..CALLSIGN_LETTERS.len())]))
        .collect();
    format!("{prefix}7{suffix}")
}

/// A random element of a non-empty list.
pub fn pick<'a, R: Rng + ?Sized>(rng: &mut R, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}
