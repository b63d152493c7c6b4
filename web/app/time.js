// Time formatting: relative ("3m ago") with the absolute UTC form as tooltip.

/** Milliseconds since the epoch of an ISO string or epoch seconds/ms; NaN when unknown. */
export function toMillis(value) {
  if (value === null || value === undefined || value === '') return NaN;
  if (typeof value === 'number') return value < 1e12 ? value * 1000 : value;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : NaN;
}

/** "12s ago", "5m ago", "3h ago", "2d ago"; "in 5m" for the future. */
export function ago(value, now = Date.now()) {
  const ms = toMillis(value);
  if (!Number.isFinite(ms)) return '—';
  let s = Math.round((now - ms) / 1000);
  const future = s < -5;
  s = Math.abs(s);
  let text;
  if (s < 60) text = `${s}s`;
  else if (s < 3600) text = `${Math.floor(s / 60)}m`;
  else if (s < 86400) text = `${Math.floor(s / 3600)}h`;
  else text = `${Math.floor(s / 86400)}d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** "2026-01-01 12:34:56 UTC". */
export function absolute(value) {
  const ms = toMillis(value);
  if (!Number.isFinite(ms)) return '—';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** Whether the time lies in the future (more than a minute ahead: a skewed clock). */
export function isFuture(value, now = Date.now()) {
  const ms = toMillis(value);
  return Number.isFinite(ms) && ms - now > 60_000;
}
