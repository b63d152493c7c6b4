// DOM helpers. Everything that reaches the page from the mesh (names, messages, hex) goes
// through text nodes: `h()` never parses markup, so no string can become an element or a
// script. There is deliberately no helper that sets innerHTML.

/**
 * Creates an element.
 * @param {string} tag  tag name, optionally with classes: "span.badge.type"
 * @param {object|null} attrs  attributes; `class`, `text`, `on<event>`, `dataset`, `style`
 *   (an object applied through CSSOM, which the Content-Security-Policy allows) and
 *   boolean/aria values are handled; everything else goes through setAttribute.
 * @param {...(Node|string|number|null|undefined|false|Array)} children  strings become text nodes
 */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = [el.className, value].filter(Boolean).join(' ');
      else if (key === 'text') el.textContent = String(value);
      else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children (strings as text nodes, arrays flattened, falsy skipped). */
export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

/** Removes every child of `el`. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

/** Reads a JSON value from localStorage, `fallback` when absent or unreadable. */
export function stored(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

/** Writes a JSON value to localStorage (ignored when storage is unavailable). */
export function store(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch { /* private mode or quota: not fatal */ }
}

/** A function that runs `fn` at most once per `ms`, with the latest arguments. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
