//! Channel (group) decryption: the key table and the GRP_TXT / GRP_DATA plaintext rules
//! (spec §6.5).
//!
//! Keys are indexed by their channel hash byte (256 buckets). A frame is tried only against the
//! keys whose hash byte matches its own, and a key is used for AES only after its 2-byte MAC
//! matched, so hundreds of keys cost almost nothing per frame. **This deliberately differs from
//! CoreScope**, which tries every key (in random map order) regardless of the hash byte (spec
//! §11.5): the results differ only when a key with a different hash byte passes the 16-bit MAC
//! *and* its garbage plaintext passes the text checks, in which case CoreScope reports a wrong
//! channel and we report `decryption_failed` (the firmware behaves like us).

use std::sync::Arc;

use crate::crypto::{CIPHER_BLOCK_SIZE, ChannelKey, PUBLIC_CHANNEL_KEY};
use crate::header::MAX_PACKET_PAYLOAD;
use crate::payload::{ChannelData, ChannelStatus, ChannelText};

/// Common hashtag channel names shipped with the analyzer, so popular public hashtag channels
/// decrypt without configuration. This list is ours: written for this project from general
/// knowledge of how mesh communities name channels (topics, services, regions and large
/// cities), not copied from any other project's key list. Names are case-sensitive (the key is
/// SHA-256 of the exact bytes), so only the lower-case spelling is listed.
pub const BUNDLED_HASHTAGS: &[&str] = &[
    // General chatter and testing.
    "#test",
    "#testing",
    "#tests",
    "#chat",
    "#general",
    "#random",
    "#offtopic",
    "#lounge",
    "#hello",
    "#hi",
    "#welcome",
    "#help",
    "#questions",
    "#newbies",
    "#beginners",
    "#local",
    "#friends",
    "#family",
    "#social",
    "#talk",
    "#meet",
    "#meetup",
    "#events",
    "#party",
    "#public",
    "#open",
    "#main",
    "#lobby",
    "#home",
    "#fun",
    "#games",
    "#music",
    "#memes",
    "#jokes",
    "#news",
    "#sports",
    "#food",
    "#coffee",
    "#beer",
    "#pets",
    "#dogs",
    "#cats",
    // Mesh and radio topics.
    "#mesh",
    "#meshcore",
    "#meshtastic",
    "#lora",
    "#radio",
    "#ham",
    "#hamradio",
    "#amateur",
    "#repeater",
    "#repeaters",
    "#nodes",
    "#network",
    "#routing",
    "#range",
    "#rangetest",
    "#signal",
    "#antenna",
    "#antennas",
    "#firmware",
    "#dev",
    "#devs",
    "#development",
    "#hardware",
    "#diy",
    "#maker",
    "#makers",
    "#solar",
    "#power",
    "#battery",
    "#tech",
    "#linux",
    "#coding",
    "#bot",
    "#bots",
    "#ping",
    "#pong",
    "#echo",
    "#trace",
    "#status",
    "#telemetry",
    "#sensors",
    "#sensor",
    "#data",
    "#admin",
    "#ops",
    "#infra",
    "#backbone",
    "#links",
    "#mqtt",
    "#map",
    "#maps",
    "#gps",
    "#wardriving",
    "#wardrive",
    "#drive",
    "#hiking",
    "#hike",
    "#camping",
    "#outdoors",
    "#cycling",
    "#bike",
    "#travel",
    "#roadtrip",
    "#aviation",
    "#boating",
    "#sailing",
    "#marine",
    "#space",
    "#satellite",
    "#astronomy",
    "#sota",
    "#pota",
    "#contest",
    // Safety and services.
    "#emergency",
    "#emcomm",
    "#sos",
    "#alert",
    "#alerts",
    "#warning",
    "#warnings",
    "#safety",
    "#rescue",
    "#sar",
    "#fire",
    "#wildfire",
    "#flood",
    "#earthquake",
    "#storm",
    "#tornado",
    "#hurricane",
    "#weather",
    "#wx",
    "#skywarn",
    "#traffic",
    "#police",
    "#ems",
    "#medical",
    "#prepper",
    "#preppers",
    "#prepping",
    "#survival",
    "#ares",
    "#races",
    "#cert",
    "#outage",
    "#poweroutage",
    "#civildefense",
    "#neighborhood",
    "#community",
    "#market",
    "#forsale",
    "#trade",
    "#swap",
    "#jobs",
    "#school",
    "#university",
    "#campus",
    "#students",
    "#church",
    // Regions.
    "#usa",
    "#us",
    "#canada",
    "#uk",
    "#ireland",
    "#europe",
    "#eu",
    "#germany",
    "#deutschland",
    "#france",
    "#netherlands",
    "#nederland",
    "#belgium",
    "#switzerland",
    "#austria",
    "#italy",
    "#spain",
    "#portugal",
    "#poland",
    "#czech",
    "#sweden",
    "#norway",
    "#denmark",
    "#finland",
    "#australia",
    "#nz",
    "#newzealand",
    "#japan",
    "#brazil",
    "#mexico",
    "#southafrica",
    "#pnw",
    "#norcal",
    "#socal",
    "#bayarea",
    "#california",
    "#oregon",
    "#washington",
    "#texas",
    "#florida",
    "#colorado",
    "#arizona",
    "#utah",
    "#nevada",
    "#idaho",
    "#montana",
    "#ohio",
    "#michigan",
    "#illinois",
    "#newyork",
    "#nyc",
    "#newengland",
    "#virginia",
    "#carolina",
    "#georgia",
    "#tennessee",
    "#minnesota",
    "#wisconsin",
    "#ontario",
    "#quebec",
    "#bc",
    "#alberta",
    "#scotland",
    "#wales",
    "#england",
    "#london",
    "#bavaria",
    "#victoria",
    "#nsw",
    "#queensland",
    // Cities.
    "#seattle",
    "#portland",
    "#sf",
    "#sanfrancisco",
    "#oakland",
    "#sanjose",
    "#la",
    "#losangeles",
    "#sandiego",
    "#sacramento",
    "#denver",
    "#phoenix",
    "#austin",
    "#dallas",
    "#houston",
    "#chicago",
    "#boston",
    "#philly",
    "#atlanta",
    "#miami",
    "#tampa",
    "#orlando",
    "#detroit",
    "#minneapolis",
    "#saltlake",
    "#boise",
    "#spokane",
    "#tacoma",
    "#vancouver",
    "#toronto",
    "#ottawa",
    "#montreal",
    "#calgary",
    "#edmonton",
    "#berlin",
    "#hamburg",
    "#munich",
    "#cologne",
    "#frankfurt",
    "#vienna",
    "#zurich",
    "#amsterdam",
    "#rotterdam",
    "#brussels",
    "#paris",
    "#lyon",
    "#madrid",
    "#barcelona",
    "#lisbon",
    "#rome",
    "#milan",
    "#warsaw",
    "#prague",
    "#stockholm",
    "#oslo",
    "#copenhagen",
    "#helsinki",
    "#dublin",
    "#manchester",
    "#birmingham",
    "#glasgow",
    "#edinburgh",
    "#sydney",
    "#melbourne",
    "#brisbane",
    "#perth",
    "#adelaide",
    "#auckland",
    "#wellington",
    "#tokyo",
];

/// The largest ciphertext a legal payload can carry (payload minus hash byte and MAC).
const MAX_CIPHERTEXT: usize = MAX_PACKET_PAYLOAD - 3;

/// The key set, indexed by channel hash byte.
#[derive(Clone, Debug)]
pub(crate) struct ChannelTable {
    /// Keys with their (normalised) names, in the order they were added.
    keys: Vec<(Arc<str>, ChannelKey)>,
    /// `bucket_start[h]..bucket_start[h + 1]` indexes `by_hash` for hash byte `h`.
    bucket_start: Box<[u32; 257]>,
    /// Key indexes grouped by hash byte, each group in insertion order.
    by_hash: Vec<u32>,
}

impl ChannelTable {
    /// Builds the index over `keys` (name, key); duplicates by name have been resolved.
    pub(crate) fn new(keys: Vec<(Arc<str>, ChannelKey)>) -> Self {
        let mut counts = [0u32; 256];
        for (_, key) in &keys {
            counts[usize::from(key.hash())] += 1;
        }
        let mut bucket_start = Box::new([0u32; 257]);
        for hash in 0..256 {
            bucket_start[hash + 1] = bucket_start[hash] + counts[hash];
        }
        let mut fill = *bucket_start;
        let mut by_hash = vec![0u32; keys.len()];
        for (index, (_, key)) in keys.iter().enumerate() {
            let slot = &mut fill[usize::from(key.hash())];
            by_hash[*slot as usize] = index as u32;
            *slot += 1;
        }
        Self {
            keys,
            bucket_start,
            by_hash,
        }
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Names of the keys, in insertion order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(name, _)| &**name)
    }

    fn candidates(&self, hash: u8) -> impl Iterator<Item = &(Arc<str>, ChannelKey)> {
        let start = self.bucket_start[usize::from(hash)] as usize;
        let end = self.bucket_start[usize::from(hash) + 1] as usize;
        self.by_hash[start..end]
            .iter()
            .filter_map(|&index| self.keys.get(index as usize))
    }

    /// Decrypts a GRP_TXT ciphertext (§6.5 steps 3-6).
    pub(crate) fn decrypt_text(&self, hash: u8, mac: [u8; 2], ciphertext: &[u8]) -> ChannelStatus {
        if self.keys.is_empty() || ciphertext.len() < 5 {
            return ChannelStatus::NoKey;
        }
        let mut buffer = [0u8; MAX_CIPHERTEXT];
        for (name, key) in self.candidates(hash) {
            let Some(plain) = open(key, mac, ciphertext, &mut buffer) else {
                continue;
            };
            if let Some(text) = parse_text(name, plain) {
                return ChannelStatus::Text(text);
            }
        }
        ChannelStatus::DecryptionFailed
    }

    /// Decrypts a GRP_DATA ciphertext (§6.5, no text checks).
    pub(crate) fn decrypt_data(&self, hash: u8, mac: [u8; 2], ciphertext: &[u8]) -> ChannelStatus {
        if self.keys.is_empty() || ciphertext.len() < 5 {
            return ChannelStatus::NoKey;
        }
        let mut buffer = [0u8; MAX_CIPHERTEXT];
        for (name, key) in self.candidates(hash) {
            let Some(plain) = open(key, mac, ciphertext, &mut buffer) else {
                continue;
            };
            return ChannelStatus::Data(parse_data(name, plain));
        }
        ChannelStatus::DecryptionFailed
    }
}

/// Checks the MAC and decrypts into `buffer`; `None` when the MAC does not match, the length
/// is not a whole number of blocks, or the ciphertext is longer than any legal payload.
fn open<'b>(
    key: &ChannelKey,
    mac: [u8; 2],
    ciphertext: &[u8],
    buffer: &'b mut [u8; MAX_CIPHERTEXT],
) -> Option<&'b [u8]> {
    if ciphertext.len() % CIPHER_BLOCK_SIZE != 0 || key.mac(ciphertext) != mac {
        return None;
    }
    let plain = buffer.get_mut(..ciphertext.len())?;
    plain.copy_from_slice(ciphertext);
    key.decrypt_in_place(plain);
    Some(plain)
}

/// Parses a GRP_TXT plaintext and applies CoreScope's validity heuristics; `None` means the
/// key is considered wrong.
fn parse_text(channel: &Arc<str>, plain: &[u8]) -> Option<ChannelText> {
    if plain.len() < 5 {
        return None;
    }
    let timestamp = u32::from_le_bytes([plain[0], plain[1], plain[2], plain[3]]);
    let body = &plain[5..];
    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    let text = std::str::from_utf8(&body[..end]).ok()?;
    let non_printable = text
        .chars()
        .filter(|&c| (c < '\u{20}' && c != '\n' && c != '\t') || c == char::REPLACEMENT_CHARACTER)
        .count();
    if non_printable > 2 {
        return None;
    }
    Some(ChannelText {
        channel: Arc::clone(channel),
        timestamp,
        flags: plain[4],
        text: text.to_owned(),
        sender_len: sender_len(text),
    })
}

/// CoreScope's sender split: the first `": "` at byte index 1..50, with no `:`, `[` or `]`
/// before it.
fn sender_len(text: &str) -> Option<usize> {
    let index = text.find(": ")?;
    let sender = &text[..index];
    (index > 0 && index < 50 && !sender.contains([':', '[', ']'])).then_some(index)
}

/// Parses a GRP_DATA plaintext: `data_type u16 | data_len u8 | data`.
fn parse_data(channel: &Arc<str>, plain: &[u8]) -> ChannelData {
    let channel = Arc::clone(channel);
    let [low, high, len, rest @ ..] = plain else {
        return ChannelData {
            channel,
            data_type: None,
            data_len: None,
            data: Vec::new(),
            error: Some("inner too short"),
        };
    };
    let data_type = Some(u16::from_le_bytes([*low, *high]));
    match rest.get(..usize::from(*len)) {
        Some(data) => ChannelData {
            channel,
            data_type,
            data_len: Some(*len),
            data: data.to_vec(),
            error: None,
        },
        None => ChannelData {
            channel,
            data_type,
            data_len: Some(*len),
            data: Vec::new(),
            error: Some("inner data_len exceeds buffer"),
        },
    }
}

/// The name a configured channel is stored under: any-case `public` becomes `Public`.
pub(crate) fn normalise_name(name: &str) -> &str {
    if name.eq_ignore_ascii_case("public") {
        "Public"
    } else {
        name
    }
}

/// The built-in Public channel key with its name.
pub(crate) fn public_key() -> (String, [u8; 16]) {
    ("Public".to_owned(), PUBLIC_CHANNEL_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_split_follows_the_reference() {
        assert_eq!(sender_len("Bob: hi"), Some(3));
        assert_eq!(sender_len("Bob: "), Some(3));
        assert_eq!(sender_len(": hi"), None, "empty sender");
        assert_eq!(sender_len("[bot] x: hi"), None, "brackets");
        assert_eq!(sender_len("a:b: hi"), None, "colon before the separator");
        assert_eq!(sender_len(&format!("{}: hi", "n".repeat(49))), Some(49));
        assert_eq!(
            sender_len(&format!("{}: hi", "n".repeat(50))),
            None,
            "index 50 is too far"
        );
        assert_eq!(sender_len("no separator"), None);
    }

    #[test]
    fn bundled_list_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for name in BUNDLED_HASHTAGS {
            assert!(name.starts_with('#') && name.len() > 1, "{name}");
            assert!(seen.insert(name), "duplicate {name}");
        }
        assert!(BUNDLED_HASHTAGS.len() >= 150, "{}", BUNDLED_HASHTAGS.len());
        assert!(BUNDLED_HASHTAGS.contains(&"#bot") && BUNDLED_HASHTAGS.contains(&"#test"));
    }
}
