/**
 * Partitions of a sharded role, each owned by exactly one replica at a time,
 * all of a replica's ownership resting on one etcd lease.
 *
 * A replica grants a lease, puts its member key `<ns>/members/<role>/<instance>`
 * under it, and every round (`balanceEveryMs`) compares the live members with
 * the partition keys `<ns>/partitions/<role>/<k>`:
 * - it takes free partitions (a transaction that creates the key only if it
 *   does not exist, under its lease) until it holds its fair share (partitions
 *   divided by members, rounded up), preferring those rendezvous hashing gives
 *   it, so the layout settles the same whatever order replicas start in;
 * - above its share it gives one partition up per round (it stops acting on it
 *   first, then deletes the key), and another replica takes it.
 * When a replica dies, its lease expires and its keys go with it.
 *
 * Safety is the leader election's (leader-election.ts): the fence of a
 * partition is its key's creation revision, which grows from owner to owner,
 * and the owner keeps its lease alive itself and knows on a monotonic clock how
 * long the lease is surely valid (send time of the last successful keepalive
 * plus the TTL, minus a margin). The moment that passes it stops acting on
 * every partition, before etcd can let anyone else take them.
 *
 * One lease and two reads a round per replica, whatever the partition count:
 * the load on etcd stays flat as partitions are added.
 */
import { performance } from 'node:perf_hooks';
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from 'pino';
import type { Leadership } from './leader-election.ts';
import { rendezvousOwner } from './membership.ts';
import type { Names } from './subjects.ts';
import { sleep } from './sleep.ts';

export interface PartitionOwnershipOptions {
  readonly etcd: Etcd3;
  readonly names: Names;
  readonly role: string;
  readonly instance: string;
  readonly partitions: number;
  /** Lease TTL in seconds. @default 3 */
  readonly ttlS?: number;
  /** How often members and partitions are compared. @default 1000 */
  readonly balanceEveryMs?: number;
  /** Monotonic clock in ms. @default performance.now */
  readonly now?: () => number;
  readonly log: Logger;
}

export interface PartitionListener {
  /** This replica now owns `partition`; act on it only while `leadership.isValid()`. */
  acquired(partition: number, leadership: Leadership): void;
  /** Ownership of `partition` ended (lost, given up, or closing): stop acting on it at once. */
  released(partition: number, reason: string): void;
}

interface Owned {
  readonly leadership: Leadership;
  readonly lost: AbortController;
}

export class PartitionOwnership {
  readonly #o: Required<Omit<PartitionOwnershipOptions, 'log'>> & { log: Logger };
  readonly #owned = new Map<number, Owned>();
  #listener: PartitionListener | undefined;
  #lease: Lease | undefined;
  #validUntil = Number.NEGATIVE_INFINITY;
  #loop: Promise<void> | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  readonly #closed = new AbortController();

  constructor(options: PartitionOwnershipOptions) {
    if (!Number.isInteger(options.partitions) || options.partitions < 1)
      throw new RangeError(`partitions must be a positive integer, got ${options.partitions}`);
    this.#o = { ttlS: 3, balanceEveryMs: 1000, now: () => performance.now(), ...options };
  }

  /** Partitions owned now, ascending. */
  owned(): number[] {
    return [...this.#owned.keys()]
      .filter((p) => this.#owned.get(p)?.leadership.isValid())
      .sort((a, b) => a - b);
  }

  start(listener: PartitionListener): void {
    this.#listener = listener;
    this.#watchdog = setInterval(() => {
      if (this.#owned.size > 0 && !this.#valid())
        this.#loseAll('lease validity ran out (etcd unreachable or process paused)');
    }, 50);
    this.#loop ??= this.#run();
  }

  /** Gives every partition up and leaves (the lease is revoked, so others take over at once). */
  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    clearInterval(this.#watchdog);
    this.#loseAll('closing');
    await this.#loop;
  }

  get #prefix(): string {
    return `${this.#o.names.namespace}/partitions/${this.#o.role}/`;
  }

  get #membersPrefix(): string {
    return `${this.#o.names.membersPrefix}${this.#o.role}/`;
  }

  #margin(): number {
    return Math.min(1000, this.#o.ttlS * 1000 * 0.2);
  }

  #valid(): boolean {
    return this.#lease !== undefined && this.#o.now() < this.#validUntil - this.#margin();
  }

  async #run(): Promise<void> {
    const signal = this.#closed.signal;
    let failures = 0;
    let lastKeepalive = Number.NEGATIVE_INFINITY;
    while (!signal.aborted) {
      try {
        if (!this.#lease || !this.#valid()) await this.#join();
        if (this.#o.now() - lastKeepalive >= (this.#o.ttlS * 1000) / 3) {
          lastKeepalive = this.#o.now();
          await this.#keepalive();
        }
        await this.#balance();
        failures = 0;
      } catch (err) {
        failures++;
        if (!signal.aborted)
          this.#o.log.warn({ err: String(err), role: this.#o.role }, 'partition round failed');
      }
      await sleep(
        Math.min(this.#o.balanceEveryMs, (this.#o.ttlS * 1000) / 3) * (failures > 3 ? 2 : 1),
        signal,
      );
    }
    const lease = this.#lease;
    this.#lease = undefined;
    await lease?.revoke({ deadline: Date.now() + 1000 }).catch(() => lease.release());
  }

  async #join(): Promise<void> {
    this.#loseAll('lease lost; joining again');
    const old = this.#lease;
    this.#lease = undefined;
    old?.release();
    const lease = this.#o.etcd.lease(this.#o.ttlS, { autoKeepAlive: false });
    const sentAt = this.#o.now();
    await lease.grant();
    await lease.put(`${this.#membersPrefix}${this.#o.instance}`).value(String(process.pid)).exec();
    this.#lease = lease;
    this.#validUntil = sentAt + this.#o.ttlS * 1000;
  }

  async #keepalive(): Promise<void> {
    const lease = this.#lease;
    if (!lease) return;
    const sentAt = this.#o.now();
    const res = await lease.keepaliveOnce({ deadline: Date.now() + (this.#o.ttlS * 1000) / 3 });
    const granted = Number(res.TTL);
    if (!(granted > 0)) {
      this.#loseAll('etcd says the lease expired');
      this.#lease = undefined;
      return;
    }
    this.#validUntil = Math.max(this.#validUntil, sentAt + granted * 1000);
  }

  async #balance(): Promise<void> {
    const lease = this.#lease;
    if (!lease || !this.#valid()) return;
    const { etcd, instance, partitions, log, role } = this.#o;
    const members = (await etcd.getAll().prefix(this.#membersPrefix).keys())
      .map((k) => k.slice(this.#membersPrefix.length))
      .sort();
    const held = await etcd.getAll().prefix(this.#prefix).exec();
    const holder = new Map<number, { instance: string; revision: string }>();
    for (const kv of held.kvs)
      holder.set(Number(kv.key.toString().slice(this.#prefix.length)), {
        instance: kv.value.toString(),
        revision: kv.create_revision,
      });
    // What we think we own but etcd no longer says we do: gone.
    for (const [p] of this.#owned)
      if (holder.get(p)?.instance !== instance) this.#lose(p, 'partition key gone');
    if (!members.includes(instance)) return;
    const fair = Math.ceil(partitions / Math.max(1, members.length));
    const mine = [...holder].filter(([, h]) => h.instance === instance).map(([p]) => p);
    const preferred = (p: number) => rendezvousOwner(String(p), members) === instance;

    if (mine.length > fair) {
      // Give up one, preferably one rendezvous hashing gives to someone else.
      const p = mine.sort((a, b) => Number(preferred(a)) - Number(preferred(b)))[0] as number;
      log.info({ role, partition: p, owned: mine.length, fair }, 'giving up a partition');
      this.#lose(p, 'given up for balance');
      await etcd
        .if(`${this.#prefix}${p}`, 'Value', '==', instance)
        .then(etcd.delete().key(`${this.#prefix}${p}`))
        .commit();
      return;
    }
    const free = Array.from({ length: partitions }, (_, p) => p)
      .filter((p) => !holder.has(p))
      .sort((a, b) => Number(preferred(b)) - Number(preferred(a)));
    for (const p of free.slice(0, Math.max(0, fair - mine.length))) {
      if (!this.#valid()) return;
      const key = `${this.#prefix}${p}`;
      const res = await etcd.if(key, 'Create', '==', 0).then(lease.put(key).value(instance)).commit();
      if (!res.succeeded) continue;
      const created = await etcd.get(key).exec();
      const kv = created.kvs[0];
      if (!kv || kv.value.toString() !== instance) continue;
      this.#acquire(p, kv.create_revision);
    }
    for (const p of mine)
      if (!this.#owned.has(p)) this.#acquire(p, (holder.get(p) as { revision: string }).revision);
  }

  #acquire(p: number, fence: string): void {
    if (this.#owned.has(p) || !this.#valid()) return;
    const lost = new AbortController();
    const leadership: Leadership = {
      fence,
      signal: lost.signal,
      isValid: () => !lost.signal.aborted && this.#valid(),
    };
    this.#owned.set(p, { leadership, lost });
    this.#o.log.info({ role: this.#o.role, partition: p, fence }, 'partition acquired');
    this.#listener?.acquired(p, leadership);
  }

  #lose(p: number, reason: string): void {
    const o = this.#owned.get(p);
    if (!o) return;
    this.#owned.delete(p);
    o.lost.abort(new Error(reason));
    this.#listener?.released(p, reason);
  }

  #loseAll(reason: string): void {
    for (const p of [...this.#owned.keys()]) this.#lose(p, reason);
  }
}
