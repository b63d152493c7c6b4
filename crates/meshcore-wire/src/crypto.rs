//! MeshCore's cryptographic building blocks (firmware `Utils.cpp`, spec `protocol.md` §4).
//!
//! Channel messages are AES-128-ECB encrypted with zero padding, then authenticated with a
//! 2-byte truncated HMAC-SHA256 placed before the ciphertext. The channel "hash" byte is the
//! first byte of SHA-256 of the key. These helpers are shared by the decoder and the encoder.

use aes::Aes128;
use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// AES block size and the granularity of every MeshCore ciphertext.
pub const CIPHER_BLOCK_SIZE: usize = 16;
/// Length of the truncated HMAC that precedes every ciphertext.
pub const CIPHER_MAC_SIZE: usize = 2;

/// The firmware's default "Public" channel key (base64 `izOH6cXN6mrJ5e26oRXNcg==`).
pub const PUBLIC_CHANNEL_KEY: [u8; 16] = [
    0x8b, 0x33, 0x87, 0xe9, 0xc5, 0xcd, 0xea, 0x6a, 0xc9, 0xe5, 0xed, 0xba, 0xa1, 0x15, 0xcd, 0x72,
];

/// A 16-byte channel key with its AES key schedule expanded once, so trying it on many
/// frames costs only the MAC and the block decryptions.
#[derive(Clone)]
pub struct ChannelKey {
    key: [u8; 16],
    hash: u8,
    cipher: Aes128,
    /// HMAC state after absorbing the (zero-extended) key; cloned per MAC computation.
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys may be private: never print them.
        f.debug_struct("ChannelKey")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl ChannelKey {
    /// Prepares a key for repeated use.
    pub fn new(key: [u8; 16]) -> Self {
        let cipher = Aes128::new(&Array::from(key));
        // HMAC pads keys shorter than the SHA-256 block with zeros, so the firmware's
        // `key16 || 16 zero bytes` secret gives the same MAC as the bare 16-byte key.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Self {
            key,
            hash: channel_hash(&key),
            cipher,
            mac,
        }
    }

    /// The key of a hashtag channel (`#name`), see [`hashtag_key`].
    pub fn hashtag(name: &str) -> Self {
        Self::new(hashtag_key(name))
    }

    /// The raw key bytes.
    pub fn bytes(&self) -> &[u8; 16] {
        &self.key
    }

    /// The channel hash byte that frames encrypted with this key carry.
    pub fn hash(&self) -> u8 {
        self.hash
    }

    /// The 2-byte truncated HMAC-SHA256 of `ciphertext`.
    pub fn mac(&self, ciphertext: &[u8]) -> [u8; 2] {
        let mut mac = self.mac.clone();
        mac.update(ciphertext);
        let tag = mac.finalize().into_bytes();
        [tag[0], tag[1]]
    }

    /// Decrypts whole 16-byte blocks of `data` in place; a trailing partial block is left as is.
    pub fn decrypt_in_place(&self, data: &mut [u8]) {
        for block in data.chunks_exact_mut(CIPHER_BLOCK_SIZE) {
            if let Ok(block) = <&mut Array<u8, _>>::try_from(block) {
                self.cipher.decrypt_block(block);
            }
        }
    }

    /// Encrypts whole 16-byte blocks of `data` in place; a trailing partial block is left as is.
    pub fn encrypt_in_place(&self, data: &mut [u8]) {
        for block in data.chunks_exact_mut(CIPHER_BLOCK_SIZE) {
            if let Ok(block) = <&mut Array<u8, _>>::try_from(block) {
                self.cipher.encrypt_block(block);
            }
        }
    }

    /// Encrypt-then-MAC as the firmware does: zero-pads `plaintext` to a multiple of 16,
    /// encrypts it and returns `MAC(2) || ciphertext`.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let padded = plaintext.len().div_ceil(CIPHER_BLOCK_SIZE) * CIPHER_BLOCK_SIZE;
        let mut out = Vec::with_capacity(CIPHER_MAC_SIZE + padded);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(plaintext);
        out.resize(CIPHER_MAC_SIZE + padded, 0);
        self.encrypt_in_place(&mut out[CIPHER_MAC_SIZE..]);
        let mac = self.mac(&out[CIPHER_MAC_SIZE..]);
        out[..CIPHER_MAC_SIZE].copy_from_slice(&mac);
        out
    }
}

/// The key of a hashtag channel: `SHA-256(name)[0..16]`, where `name` includes the leading
/// `#` (one is prepended when missing). Case-sensitive, no normalisation.
pub fn hashtag_key(name: &str) -> [u8; 16] {
    let mut hasher = Sha256::new();
    if !name.starts_with('#') {
        hasher.update(b"#");
    }
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The channel hash byte of a key: `SHA-256(key)[0]`.
pub fn channel_hash(key: &[u8]) -> u8 {
    Sha256::digest(key)[0]
}

/// The transport code a sender in region `region` puts in `transport_code_1`
/// (firmware `TransportKey::calcTransportCode`, spec §3.2): the first two bytes of
/// `HMAC-SHA256(SHA-256("#" + region)[0..16], [payload_type] || payload)`, with the reserved
/// values 0x0000 and 0xFFFF moved to 0x0001 and 0xFFFE. Returned as the two wire bytes.
pub fn transport_code(region: &str, payload_type: u8, payload: &[u8]) -> [u8; 2] {
    let key = hashtag_key(region);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(&[payload_type]);
    mac.update(payload);
    let tag = mac.finalize().into_bytes();
    match u16::from_le_bytes([tag[0], tag[1]]) {
        0x0000 => 0x0001u16.to_le_bytes(),
        0xFFFF => 0xFFFEu16.to_le_bytes(),
        _ => [tag[0], tag[1]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_channel_hash_is_0x11() {
        assert_eq!(channel_hash(&PUBLIC_CHANNEL_KEY), 0x11);
        assert_eq!(ChannelKey::new(PUBLIC_CHANNEL_KEY).hash(), 0x11);
    }

    #[test]
    fn hashtag_keys_match_the_spec_examples() {
        let hex = |k: [u8; 16]| k.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(hashtag_key("#test")),
            "9cd8fcf22a47333b591d96a2b848b73f"
        );
        assert_eq!(hex(hashtag_key("test")), "9cd8fcf22a47333b591d96a2b848b73f");
        assert_eq!(
            hex(hashtag_key("#wardriving")),
            "e3c26491e9cd321e3a6be50d57d54acf"
        );
        assert_eq!(channel_hash(&hashtag_key("#test")), 0xD9);
        assert_eq!(channel_hash(&hashtag_key("#bot")), 0xCA);
    }

    #[test]
    fn seal_then_decrypt_round_trips() {
        let key = ChannelKey::hashtag("#chat");
        let sealed = key.seal(b"hello mesh");
        assert_eq!(sealed.len(), 2 + 16);
        assert_eq!(key.mac(&sealed[2..]), [sealed[0], sealed[1]]);
        let mut body = sealed[2..].to_vec();
        key.decrypt_in_place(&mut body);
        assert_eq!(&body[..10], b"hello mesh");
        assert!(body[10..].iter().all(|&b| b == 0));
    }

    #[test]
    fn transport_code_matches_the_ottawa_capture() {
        // v87: header 0x14 (TRANSPORT_FLOOD GRP_TXT), code1 on the wire FA 1A, region #ottawa.
        let frame = hex_bytes(
            "14FA1A0000034E927D596EA23622BCB4D5945E49348165AF7DABA3F5DCEED85F430E0856DB5B591E86AB33\
             63BC00E1BA30776698F72FC57C7168E66A4875CDB710F3C175FC2B3FE75A036EF14FA59A709062D3A9FF70\
             14F2E7A8512C",
        );
        let payload = &frame[1 + 4 + 1 + 3..];
        assert_eq!(transport_code("#ottawa", 5, payload), [0xFA, 0x1A]);
        assert_eq!(transport_code("ottawa", 5, payload), [0xFA, 0x1A]);
        assert_ne!(transport_code("#toronto", 5, payload), [0xFA, 0x1A]);
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
