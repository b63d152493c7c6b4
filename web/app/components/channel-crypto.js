// Channel (GRP_TXT) cryptography for keys the user enters in this browser. Everything runs
// here, in plain JavaScript: SHA-256, HMAC-SHA256 and AES-128 are written out below, so
// decryption also works on a plain-http LAN address where WebCrypto (`crypto.subtle`) does
// not exist, and WebCrypto has no ECB mode anyway. No key ever leaves the page.
//
// MeshCore group messages (spec protocol.md §6.5):
//   payload = channel hash (1) | MAC (2) | ciphertext (AES-128-ECB, multiple of 16)
//   channel hash = SHA-256(key)[0]
//   MAC = HMAC-SHA256(key zero-padded to 32 bytes, ciphertext)[0..2]
//   plaintext = timestamp u32 LE | flags u8 | "sender: message" UTF-8 | NUL | zero padding
//   hashtag channel key = SHA-256(UTF-8 of the name including '#')[0..16]

// ---------------------------------------------------------------- bytes and hex

/** Bytes of a hex string (whitespace ignored); null when it is not whole hex bytes. */
export function hexToBytes(hex) {
  if (typeof hex !== 'string') return null;
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) return null;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

/** Lower-case hex of bytes. */
export function bytesToHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

const utf8 = (text) => new TextEncoder().encode(text);

// ---------------------------------------------------------------- SHA-256 (FIPS 180-4)

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256 of bytes (a Uint8Array or a string, taken as UTF-8). */
export function sha256(input) {
  const data = typeof input === 'string' ? utf8(input) : input;
  const bitLen = data.length * 8;
  const padded = new Uint8Array(((data.length + 9 + 63) >> 6) << 6);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const W = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let t = 0; t < 16; t += 1) W[t] = view.getUint32(off + t * 4);
    for (let t = 16; t < 64; t += 1) {
      const a = W[t - 15];
      const b = W[t - 2];
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      W[t] = (W[t - 16] + s0 + W[t - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let t = 0; t < 64; t += 1) {
      const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[t] + W[t]) >>> 0;
      const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      h = g; g = f; f = e; e = (d + t1) >>> 0;
      d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 8; i += 1) ov.setUint32(i * 4, H[i]);
  return out;
}

/** HMAC-SHA256 (RFC 2104) of `message` under `key` (both bytes or UTF-8 strings). */
export function hmacSha256(key, message) {
  let k = typeof key === 'string' ? utf8(key) : key;
  const msg = typeof message === 'string' ? utf8(message) : message;
  if (k.length > 64) k = sha256(k);
  const block = new Uint8Array(64);
  block.set(k);
  const inner = new Uint8Array(64 + msg.length);
  const outer = new Uint8Array(64 + 32);
  for (let i = 0; i < 64; i += 1) {
    inner[i] = block[i] ^ 0x36;
    outer[i] = block[i] ^ 0x5c;
  }
  inner.set(msg, 64);
  outer.set(sha256(inner), 64);
  return sha256(outer);
}

// ---------------------------------------------------------------- AES-128 (FIPS 197)

const SBOX = new Uint8Array(256);
const INV_SBOX = new Uint8Array(256);
(() => {
  // Walk the multiplicative group with generator 3 (p) and its inverse (q); the S-box is the
  // affine transform of the inverse. Computed, not copied, so there is no table to mistype.
  const rotl8 = (x, s) => ((x << s) | (x >> (8 - s))) & 0xff;
  let p = 1;
  let q = 1;
  do {
    p = p ^ ((p << 1) & 0xff) ^ (p & 0x80 ? 0x1b : 0);
    q ^= q << 1;
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    const x = q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4);
    SBOX[p] = x ^ 0x63;
  } while (p !== 1);
  SBOX[0] = 0x63;
  for (let i = 0; i < 256; i += 1) INV_SBOX[SBOX[i]] = i;
})();

const xtime = (b) => ((b << 1) ^ (b & 0x80 ? 0x1b : 0)) & 0xff;
function gmul(a, b) {
  let r = 0;
  while (b) {
    if (b & 1) r ^= a;
    a = xtime(a);
    b >>= 1;
  }
  return r;
}
const MUL = { 9: new Uint8Array(256), 11: new Uint8Array(256), 13: new Uint8Array(256), 14: new Uint8Array(256) };
for (let i = 0; i < 256; i += 1) for (const m of [9, 11, 13, 14]) MUL[m][i] = gmul(i, m);

/** The 176-byte AES-128 key schedule. */
function expandKey(key) {
  if (!(key instanceof Uint8Array) || key.length !== 16) throw new Error('AES-128 needs a 16-byte key');
  const w = new Uint8Array(176);
  w.set(key);
  let rcon = 1;
  for (let i = 16; i < 176; i += 4) {
    let t0 = w[i - 4]; let t1 = w[i - 3]; let t2 = w[i - 2]; let t3 = w[i - 1];
    if (i % 16 === 0) {
      [t0, t1, t2, t3] = [SBOX[t1] ^ rcon, SBOX[t2], SBOX[t3], SBOX[t0]];
      rcon = xtime(rcon);
    }
    w[i] = w[i - 16] ^ t0;
    w[i + 1] = w[i - 15] ^ t1;
    w[i + 2] = w[i - 14] ^ t2;
    w[i + 3] = w[i - 13] ^ t3;
  }
  return w;
}

function addRoundKey(s, w, round) {
  for (let i = 0; i < 16; i += 1) s[i] ^= w[round * 16 + i];
}

function encryptBlock(s, w) {
  addRoundKey(s, w, 0);
  const t = new Uint8Array(16);
  for (let round = 1; round <= 10; round += 1) {
    for (let i = 0; i < 16; i += 1) t[i] = SBOX[s[i]];
    // ShiftRows: row r (byte r of each column) moves left by r columns.
    for (let c = 0; c < 4; c += 1) for (let r = 0; r < 4; r += 1) s[r + 4 * c] = t[r + 4 * ((c + r) % 4)];
    if (round !== 10) {
      for (let c = 0; c < 4; c += 1) {
        const i = 4 * c;
        const [a0, a1, a2, a3] = [s[i], s[i + 1], s[i + 2], s[i + 3]];
        const all = a0 ^ a1 ^ a2 ^ a3;
        s[i] = a0 ^ all ^ xtime(a0 ^ a1);
        s[i + 1] = a1 ^ all ^ xtime(a1 ^ a2);
        s[i + 2] = a2 ^ all ^ xtime(a2 ^ a3);
        s[i + 3] = a3 ^ all ^ xtime(a3 ^ a0);
      }
    }
    addRoundKey(s, w, round);
  }
}

function decryptBlock(s, w) {
  addRoundKey(s, w, 10);
  const t = new Uint8Array(16);
  for (let round = 9; round >= 0; round -= 1) {
    // InvShiftRows then InvSubBytes.
    for (let c = 0; c < 4; c += 1) for (let r = 0; r < 4; r += 1) t[r + 4 * ((c + r) % 4)] = s[r + 4 * c];
    for (let i = 0; i < 16; i += 1) s[i] = INV_SBOX[t[i]];
    addRoundKey(s, w, round);
    if (round !== 0) {
      for (let c = 0; c < 4; c += 1) {
        const i = 4 * c;
        const [a0, a1, a2, a3] = [s[i], s[i + 1], s[i + 2], s[i + 3]];
        s[i] = MUL[14][a0] ^ MUL[11][a1] ^ MUL[13][a2] ^ MUL[9][a3];
        s[i + 1] = MUL[9][a0] ^ MUL[14][a1] ^ MUL[11][a2] ^ MUL[13][a3];
        s[i + 2] = MUL[13][a0] ^ MUL[9][a1] ^ MUL[14][a2] ^ MUL[11][a3];
        s[i + 3] = MUL[11][a0] ^ MUL[13][a1] ^ MUL[9][a2] ^ MUL[14][a3];
      }
    }
  }
}

function ecb(key, data, fn) {
  if (data.length % 16 !== 0) throw new Error('ECB data must be a multiple of 16 bytes');
  const w = expandKey(key);
  const out = new Uint8Array(data);
  for (let off = 0; off < out.length; off += 16) fn(out.subarray(off, off + 16), w);
  return out;
}

/** AES-128-ECB encryption, no padding (used by tests and to build frames). */
export function aes128EcbEncrypt(key, data) {
  return ecb(key, data, encryptBlock);
}

/** AES-128-ECB decryption, no padding. */
export function aes128EcbDecrypt(key, data) {
  return ecb(key, data, decryptBlock);
}

// ---------------------------------------------------------------- MeshCore channels

/** The 16-byte key of a hashtag channel ("#name", the '#' included; case-sensitive). */
export function hashtagKey(name) {
  return sha256(name).slice(0, 16);
}

/** The channel hash byte of a key: SHA-256(key)[0]. */
export function channelHash(key) {
  return sha256(key)[0];
}

/** Two upper-case hex digits of a channel hash byte ("D9"), as the server names `enc_D9`. */
export function hashHex(byte) {
  return byte.toString(16).padStart(2, '0').toUpperCase();
}

/** The key a user typed: 32 hex characters, or a hashtag name. Null when neither. */
export function parseKeyInput(text) {
  const value = String(text || '').trim();
  if (/^#\S+$/.test(value)) return { kind: 'hashtag', name: value, key: hashtagKey(value) };
  const hex = value.replace(/\s+/g, '');
  if (/^[0-9a-fA-F]{32}$/.test(hex)) return { kind: 'psk', key: hexToBytes(hex) };
  return null;
}

/** The MAC of a ciphertext: HMAC-SHA256 with the key zero-padded to 32 bytes, first 2 bytes. */
export function channelMac(key, ciphertext) {
  const secret = new Uint8Array(32);
  secret.set(key);
  return hmacSha256(secret, ciphertext).slice(0, 2);
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Splits "sender: message" as the reference does: the first ": " at a byte index in 1..49
 * whose prefix holds none of ':', '[', ']'. Returns `{ sender, message }` (sender null when
 * the rule does not apply).
 */
export function splitSender(text, bytes = utf8(text)) {
  let idx = -1;
  for (let i = 0; i + 1 < bytes.length; i += 1) {
    if (bytes[i] === 0x3a && bytes[i + 1] === 0x20) { idx = i; break; }
  }
  if (idx > 0 && idx < 50) {
    const sender = new TextDecoder().decode(bytes.subarray(0, idx));
    if (!/[:[\]]/.test(sender)) {
      return { sender, message: new TextDecoder().decode(bytes.subarray(idx + 2)) };
    }
  }
  return { sender: null, message: text };
}

/**
 * Decrypts a group text: null unless the MAC matches, the ciphertext is whole blocks, and the
 * plaintext is UTF-8 text with at most 2 control characters (the server's rules, §6.5).
 * Returns `{ timestamp, flags, text, sender, message }`.
 */
export function decryptGroupText(key, mac, ciphertext) {
  if (!ciphertext || ciphertext.length < 16 || ciphertext.length % 16 !== 0) return null;
  if (!mac || mac.length !== 2) return null;
  const want = channelMac(key, ciphertext);
  if (want[0] !== mac[0] || want[1] !== mac[1]) return null;
  const plain = aes128EcbDecrypt(key, ciphertext);
  const timestamp = (plain[0] | (plain[1] << 8) | (plain[2] << 16) | (plain[3] << 24)) >>> 0;
  const flags = plain[4];
  let end = plain.indexOf(0, 5);
  if (end < 0) end = plain.length;
  const bytes = plain.subarray(5, end);
  let text;
  try {
    text = fatalUtf8.decode(bytes);
  } catch {
    return null;
  }
  let bad = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    if ((cp < 0x20 && cp !== 0x0a && cp !== 0x09) || cp === 0xfffd) bad += 1;
  }
  if (bad > 2) return null;
  const { sender, message } = splitSender(text, bytes);
  return { timestamp, flags, text, sender, message };
}

/**
 * The channel part of a GRP_TXT frame given as hex: `{ channelHash, mac, ciphertext }`, or
 * null when the frame is not a group text or is too short. Handles transport codes and
 * 1-3 byte path hashes.
 */
export function groupFrameParts(rawHex) {
  const b = hexToBytes(rawHex);
  if (!b || b.length < 2) return null;
  const route = b[0] & 3;
  const type = (b[0] >> 2) & 15;
  if (type !== 5) return null;
  let i = 1;
  if (route === 0 || route === 3) i += 4;
  if (i >= b.length) return null;
  const pathLen = b[i];
  const hashSize = (pathLen >> 6) + 1;
  if (hashSize === 4) return null;
  i += 1 + (pathLen & 63) * hashSize;
  if (i + 3 > b.length) return null;
  return { channelHash: b[i], mac: b.slice(i + 1, i + 3), ciphertext: b.slice(i + 3) };
}

/**
 * Decrypts a packet (an `/api/packets` row or a live message: `raw_hex`, `decoded_json`)
 * with `key`. Uses the decoded `mac`/`encryptedData` when the server sent them, the raw
 * frame otherwise. Null when the packet is not a group text of this key.
 */
export function decryptPacket(key, hash, packet) {
  let parts = null;
  let payload = packet?.decoded_json;
  if (typeof payload === 'string') {
    try { payload = JSON.parse(payload); } catch { payload = null; }
  }
  if (payload && typeof payload.mac === 'string' && typeof payload.encryptedData === 'string') {
    const mac = hexToBytes(payload.mac);
    const ciphertext = hexToBytes(payload.encryptedData);
    const ch = Number(payload.channelHash ?? parseInt(payload.channelHashHex, 16));
    if (mac && ciphertext) parts = { channelHash: Number.isFinite(ch) ? ch : hash, mac, ciphertext };
  }
  if (!parts && packet?.raw_hex) parts = groupFrameParts(packet.raw_hex);
  if (!parts || parts.channelHash !== hash) return null;
  return decryptGroupText(key, parts.mac, parts.ciphertext);
}
