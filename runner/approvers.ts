/**
 * The scenario's approvers: to the swarm, people like any other. A scenario
 * whose plan needs approvals is answered the way an on-call engineer answers
 * it: each approver signs in to the gateway with a password, holds a
 * passkey registered through the gateway's WebAuthn ceremony, asks for the
 * plan's approval challenge, signs it with that key and sends the assertion
 * back; the gateway verifies it and publishes `approval.granted` with the
 * evidence, which the governor and the executor verify again before it counts.
 * Nothing here publishes an event or holds more than an approver's rights.
 *
 * The approvers are the accounts `scenario-approver-1` and `-2` (role
 * `approver`), made on first use the way `sentinel account add` makes one
 * (straight in PostgreSQL, as whoever runs the deployment). Their password is
 * generated once and kept in `<home>/scenario-approvers.secret`, their keys
 * (software authenticators: real P-256 key pairs, real assertions, no
 * counter, so runs side by side share them safely) in
 * `<home>/scenario-approver-keys.json`, both mode 0600. A key is registered
 * through the gateway's ceremony the first time the registry lacks it, and
 * stays registered: the approvals it gave stay verifiable.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config/index.ts';
import type { EventData } from '../choreography/index.ts';
import { z } from 'zod';
import { Accounts, CredentialStore, IdentityError, IdentityErrorCode } from '../governance/index.ts';
import type { RunObserver } from './observer.ts';
import { SoftAuthenticator } from './soft-authenticator.ts';

/** The approvers' user names, in the order plans ask for them. */
export const SCENARIO_APPROVERS = ['scenario-approver-1', 'scenario-approver-2'] as const;

interface Approver {
  readonly username: string;
  readonly accountId: string;
  readonly key: SoftAuthenticator;
}

/** The text of `<home>/<name>`, made once by `make` (mode 0600) if it does not exist. */
async function madeOnce(home: string, name: string, make: () => string): Promise<string> {
  const file = path.join(home, name);
  await mkdir(home, { recursive: true });
  try {
    await writeFile(file, make(), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return readFile(file, 'utf8');
}

/** The approvers' shared password, made once per deployment home. */
async function approverPassword(home: string): Promise<string> {
  return (
    await madeOnce(home, 'scenario-approvers.secret', () => `${randomBytes(24).toString('base64url')}\n`)
  ).trim();
}

const StoredKeys = z.record(z.string(), z.object({ credentialId: z.string(), privateKey: z.string() }));

/** The approvers' software keys, made once per deployment home. */
async function approverKeys(config: Config): Promise<Map<string, SoftAuthenticator>> {
  const rp = { rpId: new URL(config.gateway.origin).hostname, origin: new URL(config.gateway.origin).origin };
  const text = await madeOnce(config.home, 'scenario-approver-keys.json', () =>
    JSON.stringify(
      Object.fromEntries(
        SCENARIO_APPROVERS.map((u) => [u, new SoftAuthenticator({ ...rp, keepsCounter: false }).exportKey()]),
      ),
    ),
  );
  const stored = StoredKeys.parse(JSON.parse(text));
  return new Map(
    SCENARIO_APPROVERS.map((u) => {
      const key = stored[u];
      if (key === undefined) throw new Error(`scenario-approver-keys.json has no key for ${u}`);
      return [u, new SoftAuthenticator({ ...rp, keepsCounter: false, key })];
    }),
  );
}

/** The account `username` as an approver with `password`, made or mended. */
async function ensureApprover(accounts: Accounts, username: string, password: string): Promise<string> {
  try {
    await accounts.create({
      username,
      role: 'approver',
      password,
      displayName: `${username} (software key)`,
    });
  } catch (err) {
    if (!(err instanceof IdentityError && err.code === IdentityErrorCode.accountExists)) throw err;
  }
  const account = await accounts.get(username);
  if (account === undefined) throw new Error(`the account ${username} vanished while it was being made`);
  if (account.disabled)
    throw new Error(
      `the scenario approver ${username} is disabled: plans that need approvals cannot be approved`,
    );
  if (account.role !== 'approver') await accounts.setRole(username, 'approver');
  if ((await accounts.checkPassword(username, password)) === undefined)
    await accounts.setPassword(username, password);
  return account.id;
}

/** Preparations under way or done, by home and namespace. */
const prepared = new Map<string, Promise<Approver[]>>();

/** Answers a run's approval requests through the gateway; see the file comment. */
export class ScenarioApprovers {
  readonly #config: Config;
  readonly #say: (line: string) => void;
  readonly #answered = new Set<string>();
  readonly #pool: pg.Pool;
  #approvers: Promise<Approver[]> | undefined;

  constructor(config: Config, say: (line: string) => void) {
    this.#config = config;
    this.#say = say;
    this.#pool = new pg.Pool({ connectionString: config.databaseUrl, max: 2 });
  }

  /** Approves every approval request the run has seen and not answered yet. */
  async answer(observer: RunObserver): Promise<void> {
    for (const { event } of observer.ofType('sentinel.approval.requested.v1')) {
      if (this.#answered.has(event.id)) continue;
      this.#answered.add(event.id);
      const d: EventData<'sentinel.approval.requested.v1'> = event.data;
      try {
        const approvers = await this.#ready();
        for (const approver of approvers.slice(0, d.approvalsNeeded)) await this.#approve(approver, d.planId);
        this.#say(
          `approved plan ${d.planId} through the gateway (${d.approvalsNeeded} approval(s), software keys)`,
        );
      } catch (err) {
        this.#say(`could not approve plan ${d.planId}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Lets go of the database (the keys stay registered: the approvals they gave stay verifiable). */
  async close(): Promise<void> {
    await this.#pool.end();
  }

  /** The approvers, their accounts made and their keys registered (once per home and namespace in a process). */
  #ready(): Promise<Approver[]> {
    // Runs side by side in one process (the e2e suite, `--parallel`) prepare once.
    const shared = `${this.#config.home}\u0000${this.#config.namespace}`;
    this.#approvers ??=
      prepared.get(shared) ??
      this.#prepare().catch((err: unknown) => {
        this.#approvers = undefined;
        prepared.delete(shared);
        throw err;
      });
    prepared.set(shared, this.#approvers);
    return this.#approvers;
  }

  async #prepare(): Promise<Approver[]> {
    const password = await approverPassword(this.#config.home);
    const keys = await approverKeys(this.#config);
    const accounts = await Accounts.open({ pool: this.#pool, namespace: this.#config.namespace });
    const credentials = await CredentialStore.open({ pool: this.#pool, namespace: this.#config.namespace });
    const out: Approver[] = [];
    for (const username of SCENARIO_APPROVERS) {
      const accountId = await ensureApprover(accounts, username, password);
      const key = keys.get(username) as SoftAuthenticator;
      const registered = await credentials.get(key.id);
      if (registered !== undefined && registered.accountId !== accountId)
        throw new Error(`the key of ${username} is registered to another account`);
      if (registered === undefined)
        await this.#signedIn(username, async (token) => {
          const options = await this.#post('/v1/webauthn/registration/options', token, {});
          await this.#post('/v1/webauthn/registration/verify', token, {
            response: key.register(options as { challenge: string; user: { id: string } }),
          }).catch(async (err: unknown) => {
            // Another run (another process) registered it first: as good.
            if ((await credentials.get(key.id))?.accountId !== accountId) throw err;
          });
        });
      out.push({ username, accountId, key });
    }
    return out;
  }

  /** One approval, as a person gives it: sign in, ask for the challenge, sign it, send it, sign out. */
  async #approve(approver: Approver, planId: string): Promise<void> {
    await this.#signedIn(approver.username, async (token) => {
      const path = `/v1/approvals/${encodeURIComponent(planId)}`;
      const challenge = (await this.#post(`${path}/challenge`, token, {})) as {
        challengeToken: string;
        options: { challenge: string };
      };
      await this.#post(`${path}/grant`, token, {
        challengeToken: challenge.challengeToken,
        response: approver.key.assert(challenge.options),
      });
    });
  }

  async #signedIn(username: string, fn: (token: string) => Promise<void>): Promise<void> {
    const password = await approverPassword(this.#config.home);
    const session = (await this.#post('/v1/sessions', undefined, { username, password })) as {
      accessToken: string;
      sessionId: string;
    };
    try {
      await fn(session.accessToken);
    } finally {
      await this.#call('DELETE', `/v1/sessions/${session.sessionId}`, session.accessToken).catch(
        () => undefined,
      );
    }
  }

  #post(route: string, token: string | undefined, body: unknown): Promise<unknown> {
    return this.#call('POST', route, token, body);
  }

  async #call(method: string, route: string, token: string | undefined, body?: unknown): Promise<unknown> {
    const res = await fetch(new URL(route, this.#config.gateway.url), {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    if (!res.ok) {
      let detail = res.statusText;
      try {
        const problem = JSON.parse(text) as { title?: string; detail?: string };
        detail = problem.detail ?? problem.title ?? detail;
      } catch {
        // Not a problem document: the status says enough.
      }
      throw new Error(`the gateway refused ${method} ${route}: ${res.status} ${detail}`);
    }
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }
}
