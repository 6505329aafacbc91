/**
 * Leader election for singleton roles, on etcd leases (the etcd concurrency
 * recipe, written out so that Sentinel controls every deadline).
 *
 * Each replica grants a lease of `ttlS` seconds and puts its key
 * `<ns>/election/<role>/<lease id>` under it. Keys are ordered by creation
 * revision; the replica whose key is the oldest leads, and that creation
 * revision is its fencing token: it only grows from one leader to the next.
 *
 * Safety does not rest on etcd telling us we lost. The leader keeps its lease
 * alive itself and computes, on a monotonic clock, how long it is surely still
 * valid: the time the last successful keepalive was *sent* plus the TTL etcd
 * granted, minus a margin. The moment that passes (etcd unreachable, process
 * paused, keepalive refused), the leader stops acting, before etcd can expire
 * the lease and let anyone else win. A paused leader that wakes finds its
 * deadline gone before it can act; whatever it had in flight still carries its
 * old token and is refused downstream (see `fencing.ts`).
 */
import { performance } from 'node:perf_hooks';
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from 'pino';
import type { Names } from './subjects.ts';
import { sleep } from './sleep.ts';

export interface LeaderElectionOptions {
  readonly etcd: Etcd3;
  readonly names: Names;
  readonly role: string;
  readonly instance: string;
  /** Lease TTL in seconds. @default 3 */
  readonly ttlS?: number;
  /** How often a standby looks whether its predecessor is gone, in ms. @default 200 */
  readonly pollMs?: number;
  /** Monotonic clock in ms. @default performance.now */
  readonly now?: () => number;
  readonly log: Logger;
}

/** The right to act, while it lasts. */
export interface Leadership {
  /** Creation revision of the election key, as a decimal string. */
  readonly fence: string;
  /** Aborted the moment leadership is lost. */
  readonly signal: AbortSignal;
  /** True while the lease is surely alive; check it right before every act. */
  isValid(): boolean;
}

export type ElectionState = 'idle' | 'campaigning' | 'leader' | 'closed';

export interface ElectionListener {
  elected?(leadership: Leadership): void;
  lost?(leadership: Leadership, reason: string): void;
}

export class LeaderElection {
  readonly #o: Required<Omit<LeaderElectionOptions, 'log'>> & { log: Logger };
  #state: ElectionState = 'idle';
  #leadership: (Leadership & { lose(reason: string): void }) | undefined;
  #listeners: ElectionListener[] = [];
  #loop: Promise<void> | undefined;
  #closed = new AbortController();
  #lease: Lease | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#o = { ttlS: 3, pollMs: 200, now: () => performance.now(), ...options };
  }

  get state(): ElectionState {
    return this.#state;
  }

  /** The current leadership, only while it is valid. */
  current(): Leadership | undefined {
    const l = this.#leadership;
    return l?.isValid() ? l : undefined;
  }

  on(listener: ElectionListener): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** Starts campaigning; campaigns again after each loss until {@link close}. */
  start(): void {
    if (this.#loop) return;
    this.#loop = this.#campaignLoop();
  }

  /** Gives up leadership and candidacy: the lease is revoked so a standby takes over at once. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closed.abort();
    this.#leadership?.lose('resigned');
    await this.#loop;
  }

  get #prefix(): string {
    return `${this.#o.names.electionPrefix}${this.#o.role}/`;
  }

  async #campaignLoop(): Promise<void> {
    let failures = 0;
    while (!this.#closed.signal.aborted) {
      try {
        await this.#campaignOnce();
        failures = 0;
      } catch (err) {
        failures++;
        if (!this.#closed.signal.aborted)
          this.#o.log.warn({ err: String(err), role: this.#o.role }, 'election round failed');
      } finally {
        await this.#releaseLease();
      }
      if (!this.#closed.signal.aborted) {
        this.#state = 'campaigning';
        await sleep(Math.min(2000, 100 * 2 ** Math.min(failures, 5)), this.#closed.signal);
      }
    }
  }

  async #campaignOnce(): Promise<void> {
    const { etcd, ttlS, now, instance, log, role } = this.#o;
    this.#state = 'campaigning';
    const lease = etcd.lease(ttlS, { autoKeepAlive: false });
    this.#lease = lease;
    let validUntil = now() + ttlS * 1000; // provisional; set from the grant below
    const sentAt = now();
    const leaseId = await lease.grant();
    validUntil = sentAt + ttlS * 1000;
    const key = `${this.#prefix}${leaseId}`;
    await lease.put(key).value(instance).exec();
    const own = await etcd.get(key).exec();
    const createRevision = own.kvs[0]?.create_revision;
    if (createRevision === undefined) throw new Error('election key vanished right after it was written');
    const myRev = BigInt(createRevision);

    const lost = new AbortController();
    const margin = Math.min(1000, ttlS * 1000 * 0.2);
    const valid = () => !lost.signal.aborted && now() < validUntil - margin;
    const loseOnce = (reason: string) => {
      if (!lost.signal.aborted) lost.abort(new Error(reason));
    };

    // Keepalive: every third of the TTL; the deadline only moves on success.
    const keepalive = (async () => {
      while (!lost.signal.aborted) {
        await sleep((ttlS * 1000) / 3, lost.signal);
        if (lost.signal.aborted) break;
        const t = now();
        try {
          const res = await lease.keepaliveOnce({ deadline: Date.now() + (ttlS * 1000) / 3 });
          const granted = Number(res.TTL);
          if (!(granted > 0)) {
            loseOnce('etcd says the lease expired');
            break;
          }
          validUntil = Math.max(validUntil, t + granted * 1000);
        } catch (err) {
          log.debug({ err: String(err) }, 'lease keepalive failed');
        }
      }
    })();
    // Watchdog: the local deadline is the truth, checked often.
    const watchdog = setInterval(() => {
      if (!valid())
        loseOnce(
          lost.signal.aborted ? 'lost' : 'lease validity ran out (etcd unreachable or process paused)',
        );
    }, 50);
    const onClose = () => loseOnce('resigned');
    this.#closed.signal.addEventListener('abort', onClose);

    try {
      // Wait until no older key remains.
      for (;;) {
        if (!valid())
          throw new Error(lost.signal.aborted ? String(lost.signal.reason) : 'lease expired while waiting');
        const all = await etcd.getAll().prefix(this.#prefix).sort('Create', 'Ascend').exec();
        if (!all.kvs.some((kv) => kv.key.toString() === key)) throw new Error('our election key is gone');
        const older = all.kvs.filter((kv) => BigInt(kv.create_revision) < myRev);
        if (older.length === 0) break;
        await sleep(this.#o.pollMs, lost.signal);
      }
      if (!valid()) throw new Error('lease expired before taking office');

      const leadership = {
        fence: myRev.toString(),
        signal: lost.signal,
        isValid: valid,
        lose: loseOnce,
      };
      this.#leadership = leadership;
      this.#state = 'leader';
      log.info({ role, fence: leadership.fence }, 'elected leader');
      for (const l of this.#listeners) l.elected?.(leadership);

      // Hold office; look now and then that our key still exists (an operator may delete it).
      while (!lost.signal.aborted) {
        await sleep(Math.max(this.#o.pollMs, 500), lost.signal);
        if (lost.signal.aborted) break;
        try {
          const mine = await etcd.get(key).exec();
          if (mine.kvs.length === 0) loseOnce('election key deleted');
        } catch {
          // etcd unreachable: the watchdog decides, from the lease deadline.
        }
      }
      const reason = lost.signal.reason instanceof Error ? lost.signal.reason.message : 'lost';
      this.#leadership = undefined;
      this.#state = this.#closed.signal.aborted ? 'closed' : 'campaigning';
      log.warn({ role, fence: leadership.fence, reason }, 'leadership lost; standing down');
      for (const l of this.#listeners) l.lost?.(leadership, reason);
    } finally {
      loseOnce('round ended');
      clearInterval(watchdog);
      this.#closed.signal.removeEventListener('abort', onClose);
      await keepalive;
    }
  }

  /** Revokes the lease (so a standby need not wait for the TTL); best effort, bounded. */
  async #releaseLease(): Promise<void> {
    const lease = this.#lease;
    this.#lease = undefined;
    if (!lease) return;
    try {
      await lease.revoke({ deadline: Date.now() + 1000 });
    } catch {
      lease.release();
    }
  }
}
