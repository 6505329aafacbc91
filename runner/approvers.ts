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
 * generated once and kept in `<home>/scenario-approvers.secret` (mode 0600).
 * Their keys are software authenticators (real P-256 key pairs, real
 * assertions) that live only in this process: each run registers its own and
 * removes them from the registry when it ends.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config/index.ts';
import type { EventData } from '../choreography/index.ts';
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

/** The approvers' shared password, made once per deployment home. */
async function approverPassword(home: string): Promise<string> {
  const file = path.join(home, 'scenario-approvers.secret');
  await mkdir(home, { recursive: true });
  try {
    await writeFile(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return (await readFile(file, 'utf8')).trim();
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

  /** Removes the keys this run registered, and lets go of the database. */
  async close(): Promise<void> {
    try {
      const approvers = await this.#approvers?.catch(() => undefined);
      if (approvers !== undefined && approvers.length > 0) {
        const credentials = await CredentialStore.open({
          pool: this.#pool,
          namespace: this.#config.namespace,
        });
        for (const a of approvers) await credentials.remove(a.accountId, a.key.id);
      }
    } finally {
      await this.#pool.end();
    }
  }

  /** The approvers, their accounts made and a key of this run registered for each (once). */
  #ready(): Promise<Approver[]> {
    this.#approvers ??= this.#prepare().catch((err: unknown) => {
      this.#approvers = undefined;
      throw err;
    });
    return this.#approvers;
  }

  async #prepare(): Promise<Approver[]> {
    const password = await approverPassword(this.#config.home);
    const accounts = await Accounts.open({ pool: this.#pool, namespace: this.#config.namespace });
    const out: Approver[] = [];
    for (const username of SCENARIO_APPROVERS) {
      const accountId = await ensureApprover(accounts, username, password);
      const key = new SoftAuthenticator({
        rpId: new URL(this.#config.gateway.origin).hostname,
        origin: new URL(this.#config.gateway.origin).origin,
      });
      await this.#signedIn(username, async (token) => {
        const options = await this.#post('/v1/webauthn/registration/options', token, {});
        await this.#post('/v1/webauthn/registration/verify', token, {
          response: key.register(options as { challenge: string; user: { id: string } }),
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
