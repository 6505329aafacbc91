/**
 * The console's static pages (`gateway/console/`) and the ES module build of
 * @simplewebauthn/browser they import, served as files: no build step, no
 * inline script (the gateway's CSP is `default-src 'self'`). Only files that
 * exist under those two folders, with a known type, are ever served.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { HttpProblem } from '../context.ts';
import type { GatewayEnv } from '../context.ts';

const CONSOLE_DIR = fileURLToPath(new URL('../console/', import.meta.url));
/** The browser package's ES modules folder (`esm/`), found the way Node resolves its `import`. */
const VENDOR_DIR = dirname(fileURLToPath(import.meta.resolve('@simplewebauthn/browser')));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** `relative` inside `root`, or undefined when it would leave it or has no known type. */
function within(root: string, relative: string): string | undefined {
  if (relative.includes('\0') || relative.includes('\\')) return undefined;
  const path = normalize(join(root, relative));
  if (!path.startsWith(root.endsWith(sep) ? root : root + sep)) return undefined;
  return TYPES[extname(path)] === undefined ? undefined : path;
}

async function serve(root: string, relative: string): Promise<Response> {
  const path = within(root, relative);
  if (path === undefined) throw new HttpProblem(404, 'not_found', 'no such console file');
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch (err) {
    throw new HttpProblem(404, 'not_found', 'no such console file', { cause: err });
  }
  return new Response(new Uint8Array(body), {
    headers: {
      'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    },
  });
}

/**
 * The console, to be mounted at `/console` (public: the pages hold no data;
 * every call they make carries the person's bearer token).
 */
export function consoleRoutes(): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.get('/', (c) => c.redirect('/console/index.html'));
  app.get('/vendor/simplewebauthn/*', (c) =>
    serve(VENDOR_DIR, c.req.path.replace(/^.*\/vendor\/simplewebauthn\//, '')),
  );
  app.get('/:file{[a-z-]+\\.(html|js|css|svg)}', (c) => serve(CONSOLE_DIR, c.req.param('file')));
  return app;
}
