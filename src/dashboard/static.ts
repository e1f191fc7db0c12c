/**
 * The page: plain HTML, JavaScript and CSS from public/ beside this file (copied into dist/ by `npm run build`),
 * read once and served from memory. No CDN, no external request: the page works on an offline network. The
 * one HTML page routes on the URL hash (#/workers, #/tasks, #/task/<id>, ...); the URL prefix is written into it.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import type { DashboardEnv } from './server.js';

const PUBLIC = fileURLToPath(new URL('./public/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
};

function load(): Map<string, { body: string; type: string }> {
  const files = new Map<string, { body: string; type: string }>();
  for (const name of readdirSync(PUBLIC)) {
    const ext = name.slice(name.lastIndexOf('.'));
    const type = TYPES[ext];
    if (type !== undefined) files.set(name, { body: readFileSync(`${PUBLIC}${name}`, 'utf8'), type });
  }
  if (!files.has('index.html'))
    throw new Error(`The dashboard page is missing: no index.html in ${PUBLIC} (rebuild the package)`);
  return files;
}

export function staticPages(http: Hono<DashboardEnv>, prefix: string): void {
  const files = load();
  const index = (files.get('index.html')?.body ?? '').replaceAll('{{PREFIX}}', prefix);
  const headers = { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
  http.get('/', (c) => c.html(index, 200, headers));
  http.get('/static/:file', (c) => {
    const file = files.get(c.req.param('file'));
    if (file === undefined || c.req.param('file') === 'index.html') return c.text('Not found', 404);
    return c.body(file.body, 200, { ...headers, 'Content-Type': file.type });
  });
}
