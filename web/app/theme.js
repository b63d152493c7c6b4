// Light and dark themes: follow the system unless the user picked one with the switch
// (persisted in `meshcore-theme`, synchronised across tabs). `theme-init.js` applies a saved
// choice before the stylesheet loads.

const KEY = 'meshcore-theme';
const media = window.matchMedia('(prefers-color-scheme: dark)');
const listeners = new Set();

function saved() {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'dark' || v === 'light' ? v : null;
  } catch {
    return null;
  }
}

/** The theme in force: 'dark' or 'light'. */
export function currentTheme() {
  return saved() || (media.matches ? 'dark' : 'light');
}

function apply() {
  const choice = saved();
  if (choice) document.documentElement.setAttribute('data-theme', choice);
  else document.documentElement.removeAttribute('data-theme');
  const theme = currentTheme();
  for (const fn of listeners) fn(theme);
}

/** Sets the theme explicitly ('dark' | 'light'), or back to the system's with null. */
export function setTheme(theme) {
  try {
    if (theme) localStorage.setItem(KEY, theme);
    else localStorage.removeItem(KEY);
  } catch { /* not persisted */ }
  apply();
}

/** `fn(theme)` now and on every change. */
export function onTheme(fn) {
  listeners.add(fn);
  fn(currentTheme());
  return () => listeners.delete(fn);
}

/** Wires the navbar switch (role=switch). */
export function initTheme(button) {
  media.addEventListener('change', apply);
  window.addEventListener('storage', (e) => { if (e.key === KEY) apply(); });
  button.addEventListener('click', () => {
    setTheme(currentTheme() === 'dark' ? 'light' : 'dark');
  });
  onTheme((theme) => {
    button.setAttribute('aria-checked', theme === 'dark' ? 'true' : 'false');
    button.title = theme === 'dark' ? 'Switch to light mode' : 'Switch to dark mode';
  });
  apply();
}
