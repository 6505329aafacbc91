/**
 * The faults a replica applies to itself, and the behaviour its version was
 * deployed with. Each fault is real: CPU is burned, memory held, requests
 * delayed or failed, the process exits, the pool shrinks, the disk fills, the
 * log gets the lines. Clearing a fault undoes what can be undone (held memory
 * is let go; written bytes stay until clear_disk).
 */
import { CpuBurner } from './cpu-burner.ts';
import type { DiskFiller } from './disk-filler.ts';
import type { ReplicaFaultKind, ReplicaFaultSpec } from './faults.ts';
import type { MemoryLeak } from './memory-leak.ts';
import type { Pool } from './pool.ts';

/** What the faults act on. */
export interface FaultTargets {
  readonly leak: MemoryLeak;
  readonly filler: DiskFiller;
  readonly pool: Pool;
  /** Appends lines to the service log as they are, with no JSON around them. */
  readonly writeLogLines: (lines: readonly string[]) => void;
  /** Ends the process the way a crash does. */
  readonly crash: () => void;
  /** Deployed misbehaviour of this version (bad_deploy): every replica of it has it. */
  readonly behaviour: { readonly errorRate: number; readonly latencyMs: number };
  /** Random numbers in [0, 1). @default Math.random */
  readonly random?: () => number;
}

export class ReplicaFaults {
  readonly #t: FaultTargets;
  readonly #cpu = new CpuBurner();
  readonly #random: () => number;
  #latencyMs = 0;
  #errorRate = 0;
  #crashTimer: NodeJS.Timeout | undefined;
  /** The pool size without pool_exhaustion: the configured one, or what raise_pool set. */
  #poolSize: number;

  constructor(targets: FaultTargets) {
    this.#t = targets;
    this.#random = targets.random ?? Math.random;
    this.#poolSize = targets.pool.size;
  }

  /** Applies `spec`, replacing an active fault of the same kind. */
  apply(spec: ReplicaFaultSpec): void {
    switch (spec.kind) {
      case 'cpu_spin':
        this.#cpu.start(spec.params.utilisation);
        return;
      case 'memory_leak':
        this.#t.leak.start(spec.params.mbPerS);
        return;
      case 'latency':
        this.#latencyMs = spec.params.ms;
        return;
      case 'error_burst':
        this.#errorRate = spec.params.rate;
        return;
      case 'crash_loop':
        clearTimeout(this.#crashTimer);
        this.#crashTimer = setTimeout(this.#t.crash, spec.params.afterS * 1000);
        return;
      case 'pool_exhaustion':
        this.#t.pool.resize(spec.params.size);
        return;
      case 'disk_fill':
        this.#t.filler.start(spec.params.mbPerS);
        return;
      case 'log_injection':
        this.#t.writeLogLines(spec.params.lines);
        return;
    }
  }

  /** Ends the fault of `kind`; resolves once its effect has stopped (an in-flight disk write included). */
  async clear(kind: ReplicaFaultKind): Promise<void> {
    switch (kind) {
      case 'cpu_spin':
        this.#cpu.stop();
        return;
      case 'memory_leak':
        this.#t.leak.stop();
        return;
      case 'latency':
        this.#latencyMs = 0;
        return;
      case 'error_burst':
        this.#errorRate = 0;
        return;
      case 'crash_loop':
        clearTimeout(this.#crashTimer);
        this.#crashTimer = undefined;
        return;
      case 'pool_exhaustion':
        this.#t.pool.resize(this.#poolSize);
        return;
      case 'disk_fill':
        await this.#t.filler.stop();
        return;
      case 'log_injection':
        // Written lines are history; there is nothing to undo.
        return;
    }
  }

  /** raise_pool: the new size holds from now on and outlives pool_exhaustion. */
  setPoolSize(size: number): void {
    this.#poolSize = size;
    this.#t.pool.resize(size);
  }

  /** Extra wait for the next request, in ms. */
  delayMs(): number {
    return this.#latencyMs + this.#t.behaviour.latencyMs;
  }

  /** Whether the next request should fail (error_burst, or a bad version). */
  shouldFail(): boolean {
    const r = this.#random();
    return r < this.#errorRate || this.#random() < this.#t.behaviour.errorRate;
  }

  /** Stops every timer so the process can exit. */
  stopAll(): void {
    this.#cpu.stop();
    this.#t.leak.stop();
    clearTimeout(this.#crashTimer);
    void this.#t.filler.stop();
  }
}
