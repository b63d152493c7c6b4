// MeshCore frame vocabulary and the byte-level breakdown of a frame (spec protocol.md §2-6).
// Offsets are computed here from `raw_hex`; values that need keys or validation (decrypted
// text, signature validity) come from the server's decoded JSON.

/** Payload type code → CoreScope name. */
export const PAYLOAD_TYPES = {
  0: 'REQ', 1: 'RESPONSE', 2: 'TXT_MSG', 3: 'ACK', 4: 'ADVERT', 5: 'GRP_TXT', 6: 'GRP_DATA',
  7: 'ANON_REQ', 8: 'PATH', 9: 'TRACE', 10: 'MULTIPART', 11: 'CONTROL', 15: 'RAW_CUSTOM',
};

/** Short labels for badges and the type filter. */
export const TYPE_LABELS = {
  REQ: 'Request', RESPONSE: 'Response', TXT_MSG: 'Direct Msg', ACK: 'ACK', ADVERT: 'Advert',
  GRP_TXT: 'Channel Msg', GRP_DATA: 'Group Data', ANON_REQ: 'Anon Req', PATH: 'Path',
  TRACE: 'Trace', MULTIPART: 'Multipart', CONTROL: 'Control', RAW_CUSTOM: 'Raw Custom',
  UNKNOWN: 'Unknown',
};

/** Route type code → name. */
export const ROUTE_TYPES = { 0: 'TRANSPORT_FLOOD', 1: 'FLOOD', 2: 'DIRECT', 3: 'TRANSPORT_DIRECT' };

/** The payload type name of a code ("UNKNOWN" for reserved codes). */
export function typeName(code) {
  return PAYLOAD_TYPES[code] ?? 'UNKNOWN';
}

/** Whether a route type carries transport codes. */
export function isTransport(route) {
  return route === 0 || route === 3;
}

/** Bytes of a hex string; null when it is not hex. */
export function hexBytes(hex) {
  if (typeof hex !== 'string') return null;
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) return null;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

const hx = (bytes, start, len) => Array.from(bytes.subarray(start, start + len),
  (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
const u16 = (b, i) => b[i] | (b[i + 1] << 8);
const u32 = (b, i) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
const i32 = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
const i8 = (v) => (v > 127 ? v - 256 : v);

/** Parses a JSON string, null when it is not JSON. */
export function parseJson(text) {
  if (typeof text !== 'string' || !text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

/** Header facts of a frame: route, type, version, transport codes, path. Null if too short. */
export function frameHeader(bytes) {
  if (!bytes || bytes.length < 2) return null;
  const h = bytes[0];
  const route = h & 3;
  const type = (h >> 2) & 15;
  const version = h >> 6;
  let i = 1;
  let codes = null;
  if (isTransport(route)) {
    if (bytes.length < 6) return null;
    codes = [hx(bytes, 1, 2), hx(bytes, 3, 2)];
    i = 5;
  }
  const pathLen = bytes[i];
  const hashSize = (pathLen >> 6) + 1;
  const hopCount = pathLen & 63;
  const pathStart = i + 1;
  const pathBytes = hashSize === 4 ? 0 : hopCount * hashSize;
  return {
    header: h, route, type, version, codes, pathLenOffset: i, pathLen, hashSize, hopCount,
    pathStart, pathBytes, payloadStart: Math.min(pathStart + pathBytes, bytes.length),
  };
}

/**
 * The labelled fields of a frame: `[{ start, len, section, name, value, description }]`.
 * `section` is one of header, transport, pathlen, path, payload (and payload sub-kinds
 * pubkey, timestamp, signature, flags, location, name, mac, cipher) — used for colours.
 */
export function breakdown(rawHex, decoded) {
  const bytes = hexBytes(rawHex);
  const fields = [];
  const f = (start, len, section, name, value, description = '') => {
    if (len <= 0 || start >= bytes.length) return;
    fields.push({ start, len: Math.min(len, bytes.length - start), section, name, value: String(value), description });
  };
  const head = frameHeader(bytes);
  if (!head) return { bytes: bytes || new Uint8Array(0), fields, error: 'frame too short' };
  const payload = (decoded && decoded.payload) || decoded || {};
  f(0, 1, 'header', 'Header', `0x${hx(bytes, 0, 1)}`,
    `route ${ROUTE_TYPES[head.route]} · type ${typeName(head.type)} · version ${head.version}`);
  if (head.codes) {
    f(1, 2, 'transport', 'Transport code 1', head.codes[0], 'region scope code');
    f(3, 2, 'transport', 'Transport code 2', head.codes[1], 'reserved');
  }
  const trace = head.type === 9;
  f(head.pathLenOffset, 1, 'pathlen', 'Path length', `0x${hx(bytes, head.pathLenOffset, 1)}`,
    head.hashSize === 4 ? 'invalid hash size'
      : `${head.hopCount} hop${head.hopCount === 1 ? '' : 's'} × ${head.hashSize} byte${head.hashSize === 1 ? '' : 's'}`);
  for (let n = 0; n < head.hopCount && head.hashSize < 4; n += 1) {
    const at = head.pathStart + n * head.hashSize;
    if (at + head.hashSize > bytes.length) break;
    if (trace) {
      f(at, head.hashSize, 'path', `SNR hop ${n + 1}`, `${i8(bytes[at]) / 4} dB`, 'received SNR of a completed trace hop');
    } else {
      f(at, head.hashSize, 'path', `Hop ${n + 1}`, hx(bytes, at, head.hashSize), 'repeater key prefix');
    }
  }
  const p = head.payloadStart;
  const rest = bytes.length - p;
  const tail = (start, section, name, description) => f(start, bytes.length - start, section, name, hx(bytes, start, bytes.length - start), description);
  switch (head.type) {
    case 0: case 1: case 2: case 8:
      f(p, 1, 'payload', 'Destination hash', hx(bytes, p, 1), 'first byte of the recipient key');
      f(p + 1, 1, 'payload', 'Source hash', hx(bytes, p + 1, 1), 'first byte of the sender key');
      f(p + 2, 2, 'mac', 'MAC', hx(bytes, p + 2, 2), 'truncated HMAC-SHA256');
      tail(p + 4, 'cipher', head.type === 8 ? 'Path data (encrypted)' : 'Ciphertext', 'AES-128-ECB');
      break;
    case 3:
      f(p, 4, 'payload', 'ACK code', hx(bytes, p, 4), payload.extraHash ? `checksum ${payload.extraHash}` : '');
      f(p + 4, 1, 'payload', 'Attempt', rest > 4 ? bytes[p + 4] : '', '');
      f(p + 5, 1, 'payload', 'Random', rest > 5 ? hx(bytes, p + 5, 1) : '', '');
      break;
    case 4: {
      f(p, 32, 'pubkey', 'Public key', hx(bytes, p, 32), 'Ed25519 key of the advertised node');
      if (rest >= 36) {
        const ts = u32(bytes, p + 32);
        f(p + 32, 4, 'timestamp', 'Timestamp', ts ? `${new Date(ts * 1000).toISOString()} (${ts})` : '0', "node's clock");
      }
      const valid = payload.signatureValid;
      f(p + 36, 64, 'signature', 'Signature', hx(bytes, p + 36, 64),
        valid === true ? 'valid' : valid === false ? 'INVALID' : 'Ed25519');
      let i = p + 100;
      if (i < bytes.length) {
        const flags = bytes[i];
        const roles = ['none', 'companion', 'repeater', 'room', 'sensor'];
        const bits = [flags & 0x10 && 'location', flags & 0x20 && 'feat1', flags & 0x40 && 'feat2', flags & 0x80 && 'name'].filter(Boolean);
        f(i, 1, 'flags', 'Flags', `0x${hx(bytes, i, 1)}`, `${roles[flags & 15] ?? `type ${flags & 15}`}${bits.length ? ` + ${bits.join(', ')}` : ''}`);
        i += 1;
        if (flags & 0x10 && i + 8 <= bytes.length) {
          f(i, 4, 'location', 'Latitude', (i32(bytes, i) / 1e6).toString(), 'degrees');
          f(i + 4, 4, 'location', 'Longitude', (i32(bytes, i + 4) / 1e6).toString(), 'degrees');
          i += 8;
        }
        if (flags & 0x20 && i + 2 <= bytes.length) { f(i, 2, 'flags', 'Feature 1', u16(bytes, i)); i += 2; }
        if (flags & 0x40 && i + 2 <= bytes.length) { f(i, 2, 'flags', 'Feature 2', u16(bytes, i)); i += 2; }
        if (flags & 0x80 && i < bytes.length) {
          let end = i;
          while (end < bytes.length && bytes[end] !== 0) end += 1;
          f(i, end - i, 'name', 'Name', payload.name ?? new TextDecoder().decode(bytes.subarray(i, end)), 'UTF-8');
          i = end;
        }
        if (i < bytes.length) tail(i, 'payload', 'Extra', payload.battery_mv ? `telemetry: ${payload.battery_mv} mV` : 'trailing bytes');
      }
      break;
    }
    case 5: case 6:
      f(p, 1, 'payload', 'Channel hash', hx(bytes, p, 1), payload.channel ? `channel ${payload.channel}` : 'first byte of SHA-256(key)');
      f(p + 1, 2, 'mac', 'MAC', hx(bytes, p + 1, 2), 'truncated HMAC-SHA256');
      tail(p + 3, 'cipher', 'Ciphertext', payload.decryptionStatus === 'decrypted' ? 'decrypted by the server' : (payload.decryptionStatus || 'AES-128-ECB'));
      break;
    case 7:
      f(p, 1, 'payload', 'Destination hash', hx(bytes, p, 1), 'first byte of the recipient key');
      f(p + 1, 32, 'pubkey', 'Sender key', hx(bytes, p + 1, 32), 'Ed25519');
      f(p + 33, 2, 'mac', 'MAC', hx(bytes, p + 33, 2), 'truncated HMAC-SHA256');
      tail(p + 35, 'cipher', 'Ciphertext', 'AES-128-ECB');
      break;
    case 9: {
      if (rest >= 4) f(p, 4, 'payload', 'Tag', u32(bytes, p), 'random per trace');
      if (rest >= 8) f(p + 4, 4, 'payload', 'Auth code', u32(bytes, p + 4));
      if (rest >= 9) {
        const size = 1 << (bytes[p + 8] & 3);
        f(p + 8, 1, 'flags', 'Trace flags', `0x${hx(bytes, p + 8, 1)}`, `route entries of ${size} byte${size === 1 ? '' : 's'}`);
        let n = 0;
        for (let at = p + 9; at + size <= bytes.length; at += size) {
          n += 1;
          f(at, size, 'path', `Route hop ${n}`, hx(bytes, at, size), n <= head.hopCount ? 'completed' : 'pending');
        }
      }
      break;
    }
    case 10:
      if (rest >= 1) {
        f(p, 1, 'flags', 'Remaining / inner type', `0x${hx(bytes, p, 1)}`, `${bytes[p] >> 4} remaining · inner ${typeName(bytes[p] & 15)}`);
        tail(p + 1, 'payload', 'Inner payload', '');
      }
      break;
    case 11:
      if (rest >= 1) {
        const b = bytes[p];
        const sub = b >= 0x80 && b < 0x90 ? 'DISCOVER_REQ' : b >= 0x90 && b < 0xa0 ? 'DISCOVER_RESP' : 'UNKNOWN';
        f(p, 1, 'flags', 'Control flags', `0x${hx(bytes, p, 1)}`, sub);
        if (sub === 'DISCOVER_REQ' && rest >= 6) {
          f(p + 1, 1, 'payload', 'Type filter', `0x${hx(bytes, p + 1, 1)}`);
          f(p + 2, 4, 'payload', 'Tag', u32(bytes, p + 2));
          if (rest >= 10) f(p + 6, 4, 'timestamp', 'Since', u32(bytes, p + 6));
          if (rest > 10) tail(p + 10, 'payload', 'Extra', '');
        } else if (sub === 'DISCOVER_RESP' && rest >= 6) {
          f(p + 1, 1, 'payload', 'SNR', `${i8(bytes[p + 1]) / 4} dB`, 'as heard by the responder');
          f(p + 2, 4, 'payload', 'Tag', u32(bytes, p + 2), 'echo of the request');
          tail(p + 6, 'pubkey', 'Public key', 'full key or 8-byte prefix');
        } else {
          tail(p + 1, 'payload', 'Body', '');
        }
      }
      break;
    default:
      tail(p, 'payload', 'Payload', head.type === 15 ? 'application-defined bytes' : 'reserved payload type');
  }
  return { bytes, fields, head };
}

/**
 * The frame as one observer heard it: observations share the transmission's raw bytes but
 * each has its own path, so the path length byte and path bytes are rebuilt from the
 * observation's hops (not for TRACE, whose header path holds SNR values). Returns the hex
 * unchanged when the hops already match or cannot be written.
 */
export function frameForHops(rawHex, hops) {
  const bytes = hexBytes(rawHex);
  const head = bytes && frameHeader(bytes);
  if (!head || head.type === 9 || !Array.isArray(hops)) return rawHex;
  const size = hops.length ? hops[0].length / 2 : head.hashSize;
  if (!Number.isInteger(size) || size < 1 || size > 3 || hops.length > 63 || hops.length * size > 64) return rawHex;
  if (!hops.every((hop) => hop.length === size * 2 && /^[0-9a-fA-F]+$/.test(hop))) return rawHex;
  const current = hx(bytes, head.pathStart, head.pathBytes);
  if (head.hashSize === size && current === hops.join('').toUpperCase()) return rawHex;
  const out = [...bytes.subarray(0, head.pathLenOffset), ((size - 1) << 6) | hops.length];
  for (const hop of hops) for (let i = 0; i < hop.length; i += 2) out.push(parseInt(hop.substr(i, 2), 16));
  out.push(...bytes.subarray(head.payloadStart));
  return out.map((b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
}

/** The hop list of a packet: from `path_json` (a JSON array string) or an array. */
export function hopsOf(pathJson) {
  const v = Array.isArray(pathJson) ? pathJson : parseJson(pathJson);
  return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
}

/** A one-line, plain-text summary of a decoded payload (rendered with textContent). */
export function summary(payload, typeCode) {
  if (!payload || typeof payload !== 'object') return '';
  const type = payload.type || typeName(typeCode);
  if (payload.error) return `${type}: ${payload.error}`;
  switch (type) {
    case 'CHAN': return `${payload.channel ? `#${String(payload.channel).replace(/^#/, '')} ` : ''}${payload.text ?? ''}`;
    case 'GRP_TXT': case 'GRP_DATA':
      return `Ch 0x${payload.channelHashHex ?? '??'} (${payload.decryptionStatus === 'no_key' ? 'no key' : 'decryption failed'})${type === 'GRP_DATA' && payload.dataType !== undefined ? ` · data type ${payload.dataType}` : ''}`;
    case 'ADVERT': {
      const role = payload.flags ? ['none', 'companion', 'repeater', 'room', 'sensor'][payload.flags.type] ?? '' : '';
      return `${payload.name ?? (payload.pubKey ? `${String(payload.pubKey).slice(0, 8)}…` : 'advert')}${role ? ` · ${role}` : ''}`;
    }
    case 'REQ': case 'RESPONSE': case 'TXT_MSG': case 'PATH':
      return `${payload.srcHash ?? '??'} → ${payload.destHash ?? '??'}`;
    case 'ANON_REQ': return `${payload.ephemeralPubKey ? String(payload.ephemeralPubKey).slice(0, 8) : '??'} → ${payload.destHash ?? '??'}`;
    case 'ACK': return `ack ${payload.extraHash ?? ''}`;
    case 'TRACE': return `trace tag ${payload.tag ?? 0}`;
    case 'MULTIPART': return `${payload.innerTypeName ?? 'part'} · ${payload.remaining ?? 0} remaining`;
    case 'CONTROL': return `${payload.ctrlSubtype ?? 'control'}${payload.ctrlTag !== undefined ? ` tag ${payload.ctrlTag}` : ''}`;
    case 'RAW_CUSTOM': return `${payload.rawLength ?? 0} bytes${payload.firstByteTag ? ` · tag ${payload.firstByteTag}` : ''}`;
    default: return '';
  }
}

/** Deterministic hue (0-359) from a packet hash, for the colour-by-hash stripe. */
export function hashHue(hash) {
  const s = String(hash || '');
  const n = parseInt(s.slice(0, 8), 16);
  return Number.isFinite(n) ? n % 360 : 0;
}
