// The packet filter language (spec frontend.md §3.4): a Wireshark-like expression compiled
// to a predicate over loaded rows.
//
//   expr ::= or ; or ::= and ('||' and)* ; and ::= not ('&&' not)*
//   not  ::= '!' not | '(' or ')' | comparison
//   comparison ::= FIELD [OP value | 'between' value value | 'in' '(' value (',' value)* ')']
//
// Operators: == != > < >= <= contains starts_with ends_with after before between in.
// Values: "quoted strings" (backslash escapes), numbers, durations (30s 5m 1h 2d 1w → seconds),
// true/false, bare words. String comparison is case-insensitive; a missing field makes a
// comparison false; a bare field tests truthiness.

const WORD_OPS = new Set(['contains', 'starts_with', 'ends_with', 'after', 'before', 'between', 'in']);
const DURATION = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Aliases accepted after `type ==` (lower-case) → firmware names. */
const TYPE_ALIASES = {
  advert: 'ADVERT', 'channel msg': 'GRP_TXT', channel: 'GRP_TXT', grp_txt: 'GRP_TXT', chan: 'GRP_TXT',
  'direct msg': 'TXT_MSG', dm: 'TXT_MSG', txt_msg: 'TXT_MSG', request: 'REQ', req: 'REQ',
  response: 'RESPONSE', ack: 'ACK', 'group data': 'GRP_DATA', grp_data: 'GRP_DATA',
  'anon req': 'ANON_REQ', anon_req: 'ANON_REQ', path: 'PATH', trace: 'TRACE',
  multipart: 'MULTIPART', control: 'CONTROL', raw: 'RAW_CUSTOM', custom: 'RAW_CUSTOM',
  'raw custom': 'RAW_CUSTOM', raw_custom: 'RAW_CUSTOM',
};
const ROUTE_ALIASES = { t_flood: 'TRANSPORT_FLOOD', t_direct: 'TRANSPORT_DIRECT' };

/** Field names offered by autocomplete and the help. */
export const FIELDS = [
  ['type', 'payload type (ADVERT, GRP_TXT, TXT_MSG, … or aliases like Advert, DM)'],
  ['route', 'route type (FLOOD, DIRECT, TRANSPORT_FLOOD/t_flood, TRANSPORT_DIRECT/t_direct)'],
  ['transport', 'true for transport routes'],
  ['hash', 'packet hash (hex)'],
  ['raw', 'raw frame (hex)'],
  ['size', 'frame size in bytes'],
  ['snr', 'SNR in dB'],
  ['rssi', 'RSSI in dBm'],
  ['hops', 'number of path hops'],
  ['observer', 'observer name'],
  ['observer_id', 'observer id'],
  ['iata', 'observer region (IATA code); also observer_iata'],
  ['observations', 'number of observations'],
  ['path', 'path as "A3 → 7F …"; also path_prefixes'],
  ['routed_through', 'resolved full keys of the path (use contains)'],
  ['payload_bytes', 'payload size in bytes'],
  ['payload_hex', 'payload bytes (hex)'],
  ['time', 'time (epoch ms; use after/before/between with dates); also timestamp'],
  ['age', 'seconds since the packet (compare with durations: age < 1h)'],
  ['code1', 'transport code 1'],
  ['code2', 'transport code 2'],
  ['payload.<key>', 'decoded payload field, e.g. payload.name, payload.text, payload.flags.repeater'],
];

/** An error in a filter expression, with the character position. */
export class FilterError extends Error {
  constructor(message, pos) {
    super(pos === undefined ? message : `${message} (at ${pos + 1})`);
    this.pos = pos;
  }
}

function tokenize(src) {
  const tokens = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i += 1; continue; }
    const two = src.slice(i, i + 2);
    if (['&&', '||', '==', '!=', '>=', '<='].includes(two)) { tokens.push({ t: 'op', v: two, pos: i }); i += 2; continue; }
    if ('()!,<>'.includes(c)) { tokens.push({ t: c === '<' || c === '>' ? 'op' : c, v: c, pos: i }); i += 1; continue; }
    if (c === '"') {
      let s = '';
      let j = i + 1;
      for (; j < src.length && src[j] !== '"'; j += 1) {
        if (src[j] === '\\' && j + 1 < src.length) j += 1;
        s += src[j];
      }
      if (j >= src.length) throw new FilterError('unterminated string', i);
      tokens.push({ t: 'str', v: s, pos: i });
      i = j + 1;
      continue;
    }
    const m = /^[A-Za-z0-9_.\-:+]+/.exec(src.slice(i));
    if (!m) throw new FilterError(`unexpected character "${c}"`, i);
    const word = m[0];
    tokens.push({ t: 'word', v: word, pos: i });
    i += word.length;
  }
  return tokens;
}

function valueOf(tok) {
  if (tok.t === 'str') return { kind: 'str', v: tok.v };
  const w = tok.v;
  if (/^-?\d+(\.\d+)?$/.test(w)) return { kind: 'num', v: Number(w) };
  const d = /^(\d+(?:\.\d+)?)([a-zA-Z])$/.exec(w);
  if (d) {
    const unit = DURATION[d[2].toLowerCase()];
    if (unit === undefined) throw new FilterError(`invalid duration unit "${d[2]}" (use s, m, h, d, w)`, tok.pos);
    return { kind: 'num', v: Number(d[1]) * unit, duration: true };
  }
  if (/^[0-9a-fA-F]{6,}$/.test(w) && /\d/.test(w) && /[a-fA-F]/.test(w)) {
    throw new FilterError(`hex value must be quoted: "${w}"`, tok.pos);
  }
  if (w === 'true' || w === 'false') return { kind: 'bool', v: w === 'true' };
  return { kind: 'str', v: w };
}

function parse(tokens) {
  let k = 0;
  const peek = () => tokens[k];
  const next = () => tokens[k++];
  const expect = (t) => {
    const tok = next();
    if (!tok || tok.t !== t) throw new FilterError(`expected "${t}"`, tok ? tok.pos : undefined);
    return tok;
  };
  function or() {
    let left = and();
    while (peek() && peek().v === '||') { next(); left = { op: 'or', a: left, b: and() }; }
    return left;
  }
  function and() {
    let left = not();
    while (peek() && peek().v === '&&') { next(); left = { op: 'and', a: left, b: not() }; }
    return left;
  }
  function value() {
    const tok = next();
    if (!tok || (tok.t !== 'word' && tok.t !== 'str')) throw new FilterError('expected a value', tok ? tok.pos : undefined);
    return valueOf(tok);
  }
  function not() {
    const tok = peek();
    if (!tok) throw new FilterError('unexpected end of expression');
    if (tok.t === '!') { next(); return { op: 'not', a: not() }; }
    if (tok.t === '(') { next(); const e = or(); expect(')'); return e; }
    if (tok.t !== 'word') throw new FilterError(`expected a field name, found "${tok.v}"`, tok.pos);
    next();
    const field = tok.v.toLowerCase();
    const opTok = peek();
    if (!opTok || (opTok.t !== 'op' && !(opTok.t === 'word' && WORD_OPS.has(opTok.v.toLowerCase())))
        || opTok.v === '&&' || opTok.v === '||') {
      return { op: 'truthy', field };
    }
    next();
    const op = opTok.v.toLowerCase();
    if (op === 'between') return { op, field, values: [value(), value()] };
    if (op === 'in') {
      expect('(');
      const values = [value()];
      while (peek() && peek().t === ',') { next(); values.push(value()); }
      expect(')');
      return { op, field, values };
    }
    return { op, field, values: [value()] };
  }
  const tree = or();
  if (k < tokens.length) throw new FilterError(`unexpected "${tokens[k].v}"`, tokens[k].pos);
  return tree;
}

function normalise(field, v) {
  if (v.kind !== 'str') return v;
  const lower = v.v.toLowerCase();
  if (field === 'type' && TYPE_ALIASES[lower]) return { kind: 'str', v: TYPE_ALIASES[lower] };
  if (field === 'route' && ROUTE_ALIASES[lower]) return { kind: 'str', v: ROUTE_ALIASES[lower] };
  return v;
}

function toTime(v) {
  if (v.kind === 'num') return v.v < 1e12 ? v.v * 1000 : v.v;
  const ms = Date.parse(v.v);
  return Number.isFinite(ms) ? ms : NaN;
}

function compare(op, actual, v, field) {
  if (actual === undefined || actual === null || actual === '') return false;
  if (op === 'after' || op === 'before') {
    const t = toTime(v);
    const a = typeof actual === 'number' ? actual : Date.parse(actual);
    return op === 'after' ? a > t : a < t;
  }
  if (typeof actual === 'boolean') {
    const want = v.kind === 'bool' ? v.v : String(v.v).toLowerCase() === 'true';
    if (op === '==') return actual === want;
    if (op === '!=') return actual !== want;
    return false;
  }
  if (typeof actual === 'number' && (v.kind === 'num' || op === '>' || op === '<' || op === '>=' || op === '<=')) {
    const n = v.kind === 'num' ? v.v : Number(v.v);
    if (!Number.isFinite(n)) return false;
    switch (op) {
      case '==': return actual === n; case '!=': return actual !== n;
      case '>': return actual > n; case '<': return actual < n;
      case '>=': return actual >= n; case '<=': return actual <= n;
      default: break;
    }
  }
  const a = String(actual).toLowerCase();
  const b = String(v.v).toLowerCase();
  switch (op) {
    case '==': return a === b;
    case '!=': return a !== b;
    case 'contains': return a.includes(b);
    case 'starts_with': return a.startsWith(b);
    case 'ends_with': return a.endsWith(b);
    case '>': return a > b; case '<': return a < b; case '>=': return a >= b; case '<=': return a <= b;
    default: throw new FilterError(`operator ${op} does not apply to ${field}`);
  }
}

function evaluate(node, get) {
  switch (node.op) {
    case 'or': return evaluate(node.a, get) || evaluate(node.b, get);
    case 'and': return evaluate(node.a, get) && evaluate(node.b, get);
    case 'not': return !evaluate(node.a, get);
    case 'truthy': { const v = get(node.field); return Boolean(v) && v !== '0'; }
    case 'in': {
      const actual = get(node.field);
      if (actual === undefined || actual === null) return false;
      return node.values.some((v) => compare('==', actual, normalise(node.field, v), node.field));
    }
    case 'between': {
      const actual = get(node.field);
      if (actual === undefined || actual === null) return false;
      const [lo, hi] = node.values;
      if (node.field === 'time' || node.field === 'timestamp') {
        const t = typeof actual === 'number' ? actual : Date.parse(actual);
        return t >= toTime(lo) && t <= toTime(hi);
      }
      return compare('>=', actual, lo, node.field) && compare('<=', actual, hi, node.field);
    }
    default: return compare(node.op, get(node.field), normalise(node.field, node.values[0]), node.field);
  }
}

/**
 * Compiles `source` into `(getField) => boolean`, where `getField(name)` returns a field's
 * value for one row. Throws FilterError. An empty source matches everything.
 */
export function compileFilter(source) {
  const text = (source || '').trim();
  if (!text) return () => true;
  const tree = parse(tokenize(text));
  return (get) => {
    try { return evaluate(tree, get); } catch { return false; }
  };
}

const OPERATORS = ['==', '!=', '>', '<', '>=', '<=', 'contains', 'starts_with', 'ends_with', 'in', 'between', 'after', 'before'];
const TYPE_VALUES = ['ADVERT', 'GRP_TXT', 'TXT_MSG', 'REQ', 'RESPONSE', 'ACK', 'GRP_DATA', 'ANON_REQ', 'PATH', 'TRACE', 'MULTIPART', 'CONTROL', 'RAW_CUSTOM'];
const ROUTE_VALUES = ['FLOOD', 'DIRECT', 'TRANSPORT_FLOOD', 'TRANSPORT_DIRECT'];

/**
 * What may come at the caret of a filter expression: field names (plus `extraFields`, e.g.
 * payload keys seen in the data) where a comparison starts, operators after a field, and
 * the enum values after `type ==` / `route ==`. Returns `{ start, items }`.
 */
export function filterSuggestions(text, caret, extraFields = []) {
  const head = text.slice(0, caret);
  const m = /[A-Za-z0-9_.]*$/.exec(head);
  const word = m ? m[0] : '';
  const start = caret - word.length;
  const before = head.slice(0, start).trimEnd();
  const prev = /(\S+)\s*$/.exec(before)?.[1] ?? '';
  const prev2 = /(\S+)\s+\S+\s*$/.exec(before)?.[1] ?? '';
  const lower = word.toLowerCase();
  const pick = (list) => list.filter((v) => v.value.toLowerCase().startsWith(lower) && v.value.toLowerCase() !== lower);
  if (/^(==|!=|in)$/.test(prev) && /^(type|route)$/i.test(prev2)) {
    const values = prev2.toLowerCase() === 'type' ? TYPE_VALUES : ROUTE_VALUES;
    return { start, items: pick(values.map((value) => ({ value }))) };
  }
  const fieldNames = FIELDS.map(([name]) => name).filter((n) => !n.includes('<'));
  const isField = (t) => fieldNames.includes(t.toLowerCase()) || t.toLowerCase().startsWith('payload.');
  if (prev && isField(prev) && !/[()!&|]$/.test(prev)) {
    return { start, items: pick(OPERATORS.map((value) => ({ value }))) };
  }
  if (!prev || /^(&&|\|\||!|\()$/.test(prev) || prev.endsWith('(') || prev.endsWith('!')) {
    if (!word) return { start, items: [] };
    const items = FIELDS.filter(([n]) => !n.includes('<')).map(([value, hint]) => ({ value, hint }))
      .concat(extraFields.map((value) => ({ value, hint: 'payload field' })));
    return { start, items: pick(items) };
  }
  return { start, items: [] };
}

/** Reads `payload.a.b` style paths from an object. */
export function dig(obj, path) {
  let cur = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[key];
  }
  return cur;
}
