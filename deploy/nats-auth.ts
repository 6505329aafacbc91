/**
 * The local NATS server's chain of trust, made once per stack home: an
 * operator, a system account, and the account `SENTINEL` that holds every
 * stream and in which each agent connects as its own user. This is NATS's
 * decentralized JWT auth, which 2.9 has (auth callout came in 2.10): the
 * server trusts the operator, the operator signs both accounts (preloaded in
 * the server config, `resolver: MEMORY`), and the `SENTINEL` account key signs
 * user JWTs, each with the subjects its role may use (see
 * `governance/identity/nats-credentials.ts`) and an expiry.
 *
 * Files under `<home>/nats/auth/` (folder 0700, seeds and creds 0600):
 * - `operator.seed`, `system.seed`, `account.seed`: nkey seeds, never rewritten;
 * - `operator.jwt`: what the server config names as its operator;
 * - `admin.creds`: a user of `SENTINEL` with no permission limits and no
 *   expiry, for the stack's own tools: tests, the CLI, the supervisor.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createAccount, createOperator, createUser, fromSeed } from '@nats-io/nkeys';
import type { KeyPair } from '@nats-io/nkeys';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { StackError, StackErrorCode } from './errors.ts';

/** Name of the account every Sentinel stream and user lives in. */
export const SENTINEL_ACCOUNT = 'SENTINEL';

/** Where the trust files of a stack home live. */
export interface NatsAuthPaths {
  readonly dir: string;
  readonly operatorSeed: string;
  readonly systemSeed: string;
  /** Seed of `SENTINEL`'s account key, which signs every user JWT. */
  readonly accountSeed: string;
  readonly operatorJwt: string;
  /** Creds file of the unrestricted, never-expiring admin user. */
  readonly adminCreds: string;
}

/** The fixed layout under `<home>/nats/auth/`. */
export function natsAuthPaths(home: string): NatsAuthPaths {
  const dir = path.join(home, 'nats', 'auth');
  return {
    dir,
    operatorSeed: path.join(dir, 'operator.seed'),
    systemSeed: path.join(dir, 'system.seed'),
    accountSeed: path.join(dir, 'account.seed'),
    operatorJwt: path.join(dir, 'operator.jwt'),
    adminCreds: path.join(dir, 'admin.creds'),
  };
}

/** What the server config needs: the operator, the system account, and the accounts to preload. */
export interface NatsTrust {
  /** Path of the operator JWT file. */
  readonly operatorJwtFile: string;
  /** Public key of the system account. */
  readonly systemAccount: string;
  /** Public key of `SENTINEL`. */
  readonly account: string;
  /** Account public key → account JWT, for `resolver_preload`. */
  readonly preload: Readonly<Record<string, string>>;
}

/** No limit on anything the server itself would allow. */
const UNLIMITED = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
} as const;

/**
 * JetStream limits of `SENTINEL`: unlimited, so only the server's own store
 * limits and each stream's `max_bytes` apply, as they did before auth.
 */
const JETSTREAM_UNLIMITED = {
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
  max_ack_pending: -1,
  mem_max_stream_bytes: -1,
  disk_max_stream_bytes: -1,
  max_bytes_required: false,
} as const;

/**
 * Makes whatever is missing (seeds, admin creds) and returns the trust the
 * server config names. Idempotent and safe against a concurrent call: a seed
 * is linked into place whole, and the first one written wins. The account
 * JWTs are signed afresh each time (they carry no secret and no expiry).
 */
export async function ensureNatsTrust(home: string): Promise<NatsTrust> {
  const p = natsAuthPaths(home);
  fs.mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  const operator = seedOnce(p.operatorSeed, createOperator);
  const system = seedOnce(p.systemSeed, createAccount);
  const account = seedOnce(p.accountSeed, createAccount);
  const operatorJwt = await encodeOperator('sentinel-local', operator, {
    system_account: system.getPublicKey(),
  });
  writeWhole(p.operatorJwt, `${operatorJwt}\n`, 0o644, true);
  const systemJwt = await encodeAccount(
    'SYS',
    system,
    { limits: UNLIMITED },
    {
      signer: operator,
    },
  );
  const accountJwt = await encodeAccount(
    SENTINEL_ACCOUNT,
    account,
    { limits: { ...UNLIMITED, ...JETSTREAM_UNLIMITED } },
    { signer: operator },
  );
  if (!fs.existsSync(p.adminCreds)) {
    const admin = createUser();
    const jwt = await encodeUser('sentinel-admin', admin, account);
    writeWhole(p.adminCreds, Buffer.from(fmtCreds(jwt, admin)).toString('utf8'), 0o600, false);
  }
  return {
    operatorJwtFile: p.operatorJwt,
    systemAccount: system.getPublicKey(),
    account: account.getPublicKey(),
    preload: { [system.getPublicKey()]: systemJwt, [account.getPublicKey()]: accountJwt },
  };
}

/**
 * The seed of `SENTINEL`'s account key: what the gateway signs agents' user
 * JWTs with (`mintAgentUser({ accountSigningSeed })`). Throws when the stack
 * has not made it yet (`sentinel stack up` does).
 */
export function readAccountSigningSeed(home: string): Uint8Array {
  const file = natsAuthPaths(home).accountSeed;
  try {
    return new TextEncoder().encode(fs.readFileSync(file, 'utf8').trim());
  } catch (cause) {
    throw new StackError(
      StackErrorCode.PREPARE_FAILED,
      `cannot read the NATS account key ${file}; run "sentinel stack up" first`,
      { cause },
    );
  }
}

/**
 * Moves the streams a server kept while it ran without auth (the global
 * account `$G`) into `SENTINEL`'s folder, so switching to operator mode keeps
 * every stream, consumer and KV bucket. Only while the server is stopped.
 *
 * @returns whether anything was moved.
 */
export function adoptGlobalAccountStreams(storeDir: string, accountPublicKey: string): boolean {
  // The server keeps each account's streams in `<store_dir>/jetstream/<account>/`.
  const root = path.join(storeDir, 'jetstream');
  const from = path.join(root, '$G');
  const to = path.join(root, accountPublicKey);
  if (!fs.existsSync(from) || fs.existsSync(to)) return false;
  fs.renameSync(from, to);
  return true;
}

/** The key pair whose seed is kept in `file`, made there first if missing. */
function seedOnce(file: string, make: () => KeyPair): KeyPair {
  if (!fs.existsSync(file)) {
    writeWhole(file, `${new TextDecoder().decode(make().getSeed())}\n`, 0o600, false);
  }
  const text = fs.readFileSync(file, 'utf8').trim();
  try {
    return fromSeed(new TextEncoder().encode(text));
  } catch (cause) {
    throw new StackError(
      StackErrorCode.PREPARE_FAILED,
      `${file} does not hold an nkey seed; remove the folder ${path.dirname(file)} to make a new trust chain ` +
        '(every issued NATS credential then stops working)',
      { cause },
    );
  }
}

/**
 * Writes `text` to a temp file and links or renames it into place, so no
 * reader ever sees half a file. With `replace` false, an existing file wins.
 */
function writeWhole(file: string, text: string, mode: number, replace: boolean): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, text, { mode, flag: 'wx' });
  try {
    if (replace) fs.renameSync(tmp, file);
    else fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
