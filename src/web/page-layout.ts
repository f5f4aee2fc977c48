import { html, type SafeHtml } from './html.js';

/** The pages in the navigation bar. */
export type NavPage = 'overview' | 'events' | 'dlq' | 'none';

export interface PageOptions {
  title: string;
  nav: NavPage;
  /** Show the "Log out" button (a session cookie is in use). */
  logout: boolean;
  /** Extra `data-` attributes on `<body>` for the page's script (names without `data-`). */
  data?: Record<string, string>;
}

const NAV: { page: NavPage; href: string; label: string }[] = [
  { page: 'overview', href: '/', label: 'Overview' },
  { page: 'events', href: '/events', label: 'Events' },
  { page: 'dlq', href: '/dlq', label: 'Dead letters' },
];

/**
 * A whole page: the one stylesheet and the one script (no inline script or style: the
 * Content-Security-Policy forbids both), a skip link, the navigation, then `main`.
 */
export function page(options: PageOptions, main: SafeHtml): string {
  const data = Object.entries(options.data ?? {}).map(([k, v]) => html` data-${k}="${v}"`);
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${options.title} · event-reactor</title>
        <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/assets/console.css" />
        <script src="/assets/console.js" defer></script>
      </head>
      <body data-page="${options.nav}" ${data}>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="/"><span class="brand-mark" aria-hidden="true">◆</span> event-reactor</a>
          <nav aria-label="Main">
            <ul>
              ${NAV.map((n) => html`<li><a href="${n.href}" ${n.page === options.nav ? html` aria-current="page"` : ''}>${n.label}</a></li>`)}
            </ul>
          </nav>
          ${options.logout ? html`<form class="logout" method="post" action="/logout"><button type="submit" class="link">Log out</button></form>` : ''}
        </header>
        <main id="main">
          <h1>${options.title}</h1>
          ${main}
        </main>
        <footer class="foot"><p>event-reactor web console · times in UTC</p></footer>
      </body>
    </html> `.text;
}
