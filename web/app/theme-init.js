// Applied before the stylesheet so the page never flashes the wrong theme. A classic
// (non-module) script because the Content-Security-Policy forbids inline script.
(function () {
  try {
    var saved = localStorage.getItem('meshcore-theme');
    if (saved === 'dark' || saved === 'light') {
      document.documentElement.setAttribute('data-theme', saved);
    }
  } catch (e) { /* storage may be disabled */ }
})();
