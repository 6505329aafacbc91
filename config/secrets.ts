/**
 * Secrets the local deployment makes for itself: a random value per name,
 * kept in `<home>/secrets/<name>` (mode 0600) so every process of the same
 * home agrees on it (the runner's fleet and the swarm's executor share the
 * fleet's action token this way). Made once, atomically: the value is written
 * whole to a temporary file and hard-linked into place, so two processes that
 * race both end up reading the first one's value, never a partial one.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const VALUE = /^[0-9a-f]{64}$/;

/** The secret `name` under `home` if it was made; never makes one. */
export function readLocalSecret(home: string, name: string): string | undefined {
  if (!NAME.test(name)) throw new TypeError(`invalid secret name ${JSON.stringify(name)}`);
  const file = path.join(home, 'secrets', name);
  try {
    const v = readFileSync(file, 'utf8').trim();
    if (!VALUE.test(v)) throw new Error(`${file} does not hold a secret; remove it to make a new one`);
    return v;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The secret `name` under `home`, made now if it does not exist yet. */
export function localSecret(home: string, name: string): string {
  if (!NAME.test(name)) throw new TypeError(`invalid secret name ${JSON.stringify(name)}`);
  const dir = path.join(home, 'secrets');
  const file = path.join(dir, name);
  const read = () => readLocalSecret(home, name);
  const existing = read();
  if (existing !== undefined) return existing;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  const made = read();
  if (made === undefined) throw new Error(`${file} vanished while it was being made`);
  return made;
}
