/**
 * An agent's own credentials, from the gateway. At start the agent makes its
 * NATS nkey pair (the seed never leaves the process), presents its role's
 * bootstrap secret to `POST /v1/agent-credentials` with the public key and
 * the public half of its event-signing key, and gets a short-lived access
 * token, a NATS user JWT whose permissions are its role's scopes (the broker
 * refuses anything else) and a signer certificate binding its signing key to
 * its role and instance (every event it publishes is signed with it). It renews both at two
 * thirds of their life; the bus asks for the newest on every reconnect, so a
 * server that cuts the connection when the old JWT expires is rejoined with
 * the new one.
 */
import { z } from 'zod';
import type { Logger } from 'pino';
import type { AgentIdentity, NatsUserCredentials } from '../../choreography/index.ts';
import { pause } from '../../choreography/index.ts';
import { createAgentNkey } from '../../governance/index.ts';
import type { EventSigningKey } from '../../governance/index.ts';

const Answer = z.object({
  accessToken: z.string().min(1),
  expiresAt: z.iso.datetime({ offset: true }),
  nats: z.object({ jwt: z.string().min(1), expiresAt: z.iso.datetime({ offset: true }) }).optional(),
  signer: z
    .object({ certificate: z.string().min(1).max(4096), expiresAt: z.iso.datetime({ offset: true }) })
    .optional(),
});
type Answer = z.infer<typeof Answer>;

export interface AgentCredentialsOptions {
  /** The gateway's base URL. */
  readonly gatewayUrl: string;
  /** The role's bootstrap secret. */
  readonly bootstrapSecret: string;
  readonly identity: AgentIdentity;
  /** The process's event-signing key: its public half is certified with every answer. */
  readonly signingKey: EventSigningKey;
  readonly log: Logger;
  /** How long to keep asking a gateway that is not up yet, in ms. @default 60000 */
  readonly patienceMs?: number;
}

/** Raised when the gateway refuses the agent or cannot be reached in time. */
export class CredentialsError extends Error {
  readonly code = 'agent.credentials_unavailable';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CredentialsError';
  }
}

export class AgentCredentials {
  readonly #o: AgentCredentialsOptions;
  /** The agent's own nkey pair, kept across renewals. */
  readonly #key: { readonly publicKey: string; readonly seed: Uint8Array };
  #answer: Answer;
  #timer: NodeJS.Timeout | undefined;
  readonly #stop = new AbortController();

  private constructor(
    o: AgentCredentialsOptions,
    key: { readonly publicKey: string; readonly seed: Uint8Array },
    first: Answer,
  ) {
    this.#o = o;
    this.#key = key;
    this.#answer = first;
  }

  /** Asks the gateway (patiently: the supervisor may be starting it too) and schedules the renewals. */
  static async obtain(o: AgentCredentialsOptions): Promise<AgentCredentials> {
    const key = createAgentNkey();
    const first = await request(o, key.publicKey, o.patienceMs ?? 60_000, new AbortController().signal);
    const c = new AgentCredentials(o, key, first);
    c.#certify();
    c.#schedule();
    return c;
  }

  /** The newest NATS user credentials, or undefined when the gateway hands none (a server without auth). */
  nats(): NatsUserCredentials | undefined {
    const n = this.#answer.nats;
    return n === undefined ? undefined : { jwt: n.jwt, seed: this.#key.seed };
  }

  /** The newest access token, for calls to the gateway. */
  accessToken(): string {
    return this.#answer.accessToken;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#stop.abort();
  }

  /** Hands the signing key its newest certificate. */
  #certify(): void {
    if (this.#answer.signer !== undefined) this.#o.signingKey.certify(this.#answer.signer.certificate);
  }

  #schedule(): void {
    const ends = [Date.parse(this.#answer.expiresAt)];
    if (this.#answer.nats) ends.push(Date.parse(this.#answer.nats.expiresAt));
    if (this.#answer.signer) ends.push(Date.parse(this.#answer.signer.expiresAt));
    const lifeMs = Math.max(1000, Math.min(...ends) - Date.now());
    this.#timer = setTimeout(() => void this.#renew(), Math.floor((lifeMs * 2) / 3));
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    try {
      // A third of the life is left: keep trying for most of it.
      const left = Math.min(
        Date.parse(this.#answer.expiresAt),
        Date.parse(this.#answer.nats?.expiresAt ?? this.#answer.expiresAt),
      );
      this.#answer = await request(
        this.#o,
        this.#key.publicKey,
        Math.max(1000, left - Date.now()),
        this.#stop.signal,
      );
      this.#certify();
      this.#o.log.debug({ expiresAt: this.#answer.expiresAt }, 'credentials renewed');
    } catch (err) {
      if (this.#stop.signal.aborted) return;
      this.#o.log.error(
        { err },
        'could not renew credentials; the broker will refuse this agent when they expire',
      );
    }
    if (!this.#stop.signal.aborted) this.#schedule();
  }
}

async function request(
  o: AgentCredentialsOptions,
  natsPublicKey: string,
  patienceMs: number,
  signal: AbortSignal,
): Promise<Answer> {
  const deadline = Date.now() + patienceMs;
  let delay = 200;
  for (;;) {
    let retryable: unknown;
    try {
      const res = await fetch(new URL('/v1/agent-credentials', o.gatewayUrl), {
        method: 'POST',
        headers: { authorization: `Bootstrap ${o.bootstrapSecret}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          role: o.identity.role,
          instance: o.identity.instance,
          natsPublicKey,
          signingKey: o.signingKey.publicKey,
        }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]),
      });
      const body: unknown = await res.json().catch(() => undefined);
      if (res.status === 201) {
        const ok = Answer.safeParse(body);
        if (!ok.success) throw new CredentialsError(`the gateway answered credentials in an unknown shape`);
        return ok.data;
      }
      const detail = (body as { detail?: string } | undefined)?.detail ?? res.statusText;
      // A refusal will not change by asking again; an overloaded or starting gateway may.
      if (res.status < 500 && res.status !== 429)
        throw new CredentialsError(
          `the gateway refused credentials for ${o.identity.role}: ${res.status} ${detail}`,
        );
      retryable = new Error(`${res.status} ${detail}`);
    } catch (err) {
      if (err instanceof CredentialsError || signal.aborted) throw err;
      retryable = err;
    }
    if (Date.now() + delay > deadline)
      throw new CredentialsError(
        `no credentials from the gateway at ${o.gatewayUrl} within ${patienceMs} ms`,
        {
          cause: retryable,
        },
      );
    await pause(delay, signal, 'stopped while waiting for the gateway');
    delay = Math.min(2000, delay * 2);
  }
}
