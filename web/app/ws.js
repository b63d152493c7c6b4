// The live feed: one WebSocket to `/ws`, reconnected 3 s after it closes. Pages subscribe
// to `packet` messages in `init` and unsubscribe in `destroy`; the shell shows the state.

const RECONNECT_MS = 3000;
const subscribers = new Set();
const stateListeners = new Set();
let socket = null;
let state = 'connecting';
let timer = 0;
let stopped = false;

function setState(next) {
  state = next;
  for (const fn of stateListeners) fn(state);
}

function url() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

function connect() {
  clearTimeout(timer);
  if (stopped) return;
  setState('connecting');
  try {
    socket = new WebSocket(url());
  } catch {
    timer = setTimeout(connect, RECONNECT_MS);
    return;
  }
  socket.addEventListener('open', () => setState('open'));
  socket.addEventListener('message', (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    if (!message || typeof message !== 'object') return;
    for (const fn of subscribers) {
      try { fn(message); } catch (e) { console.error('live subscriber failed', e); }
    }
  });
  socket.addEventListener('close', () => {
    socket = null;
    setState('closed');
    if (!stopped) timer = setTimeout(connect, RECONNECT_MS);
  });
  // An error is followed by close, which schedules the reconnect.
  socket.addEventListener('error', () => {});
}

/** Opens the socket (idempotent). */
export function startLive() {
  stopped = false;
  if (!socket) connect();
}

/** Closes the socket now and opens a new one (pull-to-reconnect, tests). */
export function reconnect() {
  if (socket) socket.close();
  else connect();
}

/** `fn(message)` for every message; returns the unsubscribe function. */
export function subscribe(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

/** `fn(state)` on every state change ('connecting' | 'open' | 'closed'), called once now. */
export function onState(fn) {
  stateListeners.add(fn);
  fn(state);
  return () => stateListeners.delete(fn);
}
