/**
 * Where a replica finds its dependencies: the controller's latest list of each
 * dependency's live replicas, taken in turn (round-robin). A list older than
 * the one held (lower generation) is ignored, so updates that cross on the
 * way cannot roll the addresses back.
 */
import type { Upstreams } from './replica-config.ts';

export class UpstreamSet {
  #current: Upstreams;
  readonly #next = new Map<string, number>();

  constructor(initial: Upstreams) {
    this.#current = initial;
  }

  get generation(): number {
    return this.#current.generation;
  }

  /** Takes `upstreams` unless it is older than what is held; says whether it did. */
  update(upstreams: Upstreams): boolean {
    if (upstreams.generation < this.#current.generation) return false;
    this.#current = upstreams;
    return true;
  }

  /** The next address of `service` in turn, or undefined when it has no live replica. */
  pick(service: string): string | undefined {
    const list = this.#current.services[service] ?? [];
    if (list.length === 0) return undefined;
    const i = (this.#next.get(service) ?? 0) % list.length;
    this.#next.set(service, i + 1);
    return list[i];
  }
}
