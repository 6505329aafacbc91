/**
 * Partitions of a sharded role, each owned by exactly one replica at a time.
 *
 * Every partition is a leader election of its own (`<role>.p<k>`), so the
 * guarantees of {@link LeaderElection} hold per partition: one owner, a fence
 * that only grows, and an owner that stops acting before its lease can expire.
 * Every replica stands in line for every partition, so when one dies its
 * partitions pass to the others within a lease TTL.
 *
 * Balance: a replica that owns more than its fair share (partitions divided
 * by live members, rounded up) gives one partition up per round, choosing one
 * whose rendezvous owner is another member, and lines up again at the back.
 * The next in line takes it; rounds repeat until the shares are even. A
 * partition is only given up when someone else stands in line for it.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { LeaderElection } from './leader-election.ts';
import type { Leadership } from './leader-election.ts';
import type { Membership } from './membership.ts';
import { rendezvousOwner } from './membership.ts';
import type { Names } from './subjects.ts';

export interface PartitionOwnershipOptions {
  readonly etcd: Etcd3;
  readonly names: Names;
  readonly role: string;
  readonly instance: string;
  readonly partitions: number;
  readonly membership: Membership;
  /** Lease TTL in seconds. @default 3 */
  readonly ttlS?: number;
  /** How often shares are compared. @default 2000 */
  readonly balanceEveryMs?: number;
  /** How often a replica in line looks whether it is its turn. @default 400 */
  readonly pollMs?: number;
  readonly log: Logger;
}

export interface PartitionListener {
  /** This replica now owns `partition`; act on it only while `leadership.isValid()`. */
  acquired(partition: number, leadership: Leadership): void;
  /** Ownership of `partition` ended (lost, given up, or closing): stop acting on it at once. */
  released(partition: number, reason: string): void;
}

export class PartitionOwnership {
  readonly #o: PartitionOwnershipOptions;
  readonly #elections = new Map<number, LeaderElection>();
  readonly #owned = new Map<number, Leadership>();
  #listener: PartitionListener | undefined;
  #balancer: NodeJS.Timeout | undefined;
  #balancing = false;
  #closed = false;

  constructor(options: PartitionOwnershipOptions) {
    if (!Number.isInteger(options.partitions) || options.partitions < 1)
      throw new RangeError(`partitions must be a positive integer, got ${options.partitions}`);
    this.#o = options;
  }

  /** Partitions owned now, ascending. */
  owned(): number[] {
    return [...this.#owned.keys()].filter((p) => this.#owned.get(p)?.isValid()).sort((a, b) => a - b);
  }

  /** Lines up for every partition and starts balancing. */
  start(listener: PartitionListener): void {
    this.#listener = listener;
    for (let p = 0; p < this.#o.partitions; p++) this.#campaign(p);
    this.#balancer = setInterval(() => void this.#balance(), this.#o.balanceEveryMs ?? 2000);
  }

  /** Gives every partition up (revoking the leases, so others take over at once). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#balancer);
    await Promise.all([...this.#elections.values()].map((e) => e.close()));
    this.#elections.clear();
  }

  #electionRole(p: number): string {
    return `${this.#o.role}.p${p}`;
  }

  #campaign(p: number): void {
    const election = new LeaderElection({
      etcd: this.#o.etcd,
      names: this.#o.names,
      role: this.#electionRole(p),
      instance: this.#o.instance,
      ttlS: this.#o.ttlS ?? 3,
      pollMs: this.#o.pollMs ?? 400,
      log: this.#o.log,
    });
    election.on({
      elected: (l) => {
        this.#owned.set(p, l);
        this.#listener?.acquired(p, l);
      },
      lost: (l, reason) => {
        if (this.#owned.get(p) === l) this.#owned.delete(p);
        this.#listener?.released(p, reason);
      },
    });
    this.#elections.set(p, election);
    election.start();
  }

  async #balance(): Promise<void> {
    if (this.#balancing || this.#closed) return;
    this.#balancing = true;
    try {
      const members = await this.#o.membership.members();
      if (!members.includes(this.#o.instance)) return;
      const fair = Math.ceil(this.#o.partitions / Math.max(1, members.length));
      const owned = this.owned();
      if (owned.length <= fair) return;
      // Prefer a partition that rendezvous hashing gives to someone else: shares
      // then settle on the same layout whatever order replicas started in.
      const ranked = [...owned].sort(
        (a, b) =>
          Number(rendezvousOwner(String(a), members) === this.#o.instance) -
          Number(rendezvousOwner(String(b), members) === this.#o.instance),
      );
      for (const p of ranked) {
        if (!(await this.#othersInLine(p))) continue;
        this.#o.log.info(
          { role: this.#o.role, partition: p, owned: owned.length, fair },
          'giving up a partition',
        );
        const election = this.#elections.get(p);
        this.#elections.delete(p);
        await election?.close();
        if (!this.#closed) this.#campaign(p);
        return;
      }
    } catch (err) {
      this.#o.log.debug({ err: String(err) }, 'partition balancing round failed');
    } finally {
      this.#balancing = false;
    }
  }

  async #othersInLine(p: number): Promise<boolean> {
    const keys = await this.#o.etcd
      .getAll()
      .prefix(`${this.#o.names.electionPrefix}${this.#electionRole(p)}/`)
      .strings();
    return Object.values(keys).some((instance) => instance !== this.#o.instance);
  }
}
