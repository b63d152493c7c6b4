// Pages that later versions fill in: a heading, a short note and a way on.

import { h } from '../dom.js';

/** A page object for a route that is not built yet. */
export function placeholderPage(title) {
  return {
    title,
    init(el) {
      el.appendChild(h('section.placeholder', null,
        h('h1', { text: title }),
        h('p', { text: 'This page is not part of this version of the web UI yet.' }),
        h('p', null, 'The ', h('a', { href: '#/packets', text: 'Packets' }),
          ' page shows every transmission live, with a byte-level breakdown of each frame.'),
        h('p', null, 'The HTTP API is documented at ', h('a', { href: '/api/docs', text: '/api/docs' }), '.')));
    },
    destroy() {},
  };
}
