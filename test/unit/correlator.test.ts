import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createActor } from 'xstate';
import type { Actor, Snapshot } from 'xstate';
import {
  correlationMachine,
  correlator,
  culprits,
  defaultCorrelationPolicy,
  distance,
  near,
  suspects,
} from '../../agents/correlator/index.ts';
import type {
  CorrelationContext,
  CorrelationEvent,
  CorrelationPolicy,
  IncidentContext,
  Topology,
} from '../../agents/correlator/index.ts';
import type { PublishIntent } from '../../agents/runtime/agent-definition.ts';
import { createEvent, eventDataSchemas, SIGNAL_HARM, SignalClass } from '../../choreography/index.ts';
import type { AgentIdentity, EventData, EventType, SentinelEvent } from '../../choreography/index.ts';

const ENV = 'prod';
const P = defaultCorrelationPolicy;

// ---------------------------------------------------------------------------
// Driving the machine as the runtime does

/** The correlation snapshot as it is stored (JSON), with its incident children. */
interface Persisted {
  readonly status: string;
  readonly context: CorrelationContext;
  readonly children: Readonly<
    Record<string, { readonly snapshot: { readonly value: string; readonly context: IncidentContext } }>
  >;
}

/**
 * The correlation actor of one environment, driven like `actor-handler.ts`
 * does. With `restore` (the default) every event goes to a fresh actor
 * restored from the JSON of the previous event's persisted snapshot, as if the
 * leader had been killed in between; without it one actor lives throughout.
 */
class Environment {
  /** Every intent published so far, in order. */
  readonly intents: PublishIntent[] = [];
  readonly #key: string;
  readonly #restore: boolean;
  readonly #policy: CorrelationPolicy | undefined;
  #stored: Snapshot<unknown> | undefined;
  #live: Actor<typeof correlationMachine> | undefined;
  #failure: unknown;

  constructor(options: { key?: string; restore?: boolean; policy?: CorrelationPolicy | undefined } = {}) {
    this.#key = options.key ?? ENV;
    this.#restore = options.restore ?? true;
    this.#policy = options.policy;
  }

  /** Sends the events one by one; returns what they published. */
  send(...events: readonly CorrelationEvent[]): PublishIntent[] {
    const before = this.intents.length;
    for (const event of events) this.#step(event);
    return this.intents.slice(before);
  }

  /** The persisted snapshot after the last event, as the snapshot store would hold it. */
  get persisted(): Persisted {
    const snapshot = this.#live ? this.#live.getPersistedSnapshot() : this.#stored;
    return JSON.parse(JSON.stringify(snapshot ?? null)) as Persisted;
  }

  /** An incident child as persisted: its state and context; undefined once it is gone. */
  incident(id: string): { readonly value: string; readonly context: IncidentContext } | undefined {
    return this.persisted.children[id]?.snapshot;
  }

  #actor(): Actor<typeof correlationMachine> {
    const actor = createActor(correlationMachine, {
      ...(this.#stored ? { snapshot: this.#stored } : {}),
      input: { key: this.#key, ...(this.#policy ? { policy: this.#policy } : {}) },
    });
    actor.on('publish', (intent) => this.intents.push(intent));
    // As in the runtime: a machine that throws is an actor in `error` status.
    actor.subscribe({ error: (err: unknown) => (this.#failure = err) });
    actor.start();
    return actor;
  }

  #step(event: CorrelationEvent): void {
    if (!this.#restore) {
      this.#live ??= this.#actor();
      this.#live.send(event);
      assert.equal(this.#failure, undefined);
      assert.equal(this.#live.getSnapshot().status, 'active');
      return;
    }
    const actor = this.#actor();
    actor.send(event);
    const snapshot = actor.getPersistedSnapshot();
    actor.stop();
    assert.equal(this.#failure, undefined);
    assert.equal((snapshot as { status?: string }).status, 'active');
    this.#stored = JSON.parse(JSON.stringify(snapshot)) as Snapshot<unknown>;
  }
}

interface SignalOptions {
  readonly metric?: string;
  readonly instance?: string;
  readonly change?: number;
  readonly pageable?: boolean;
  readonly signalClass?: SignalClass;
  readonly score?: number;
  readonly id?: string;
  readonly summary?: string;
}

/** A signal of `service` at `atMs`: by default a pageable p99 that doubled. */
function signal(service: string, atMs: number, o: SignalOptions = {}): CorrelationEvent {
  const metric = o.metric ?? 'p99';
  return {
    type: 'signal',
    eventId: o.id ?? `${service}-${metric}-${atMs}`,
    fingerprint: `${service}:${metric}`,
    key: keyOf(service, metric, o.instance),
    service,
    score: o.score ?? 0.7,
    pageable: o.pageable ?? true,
    signalClass: o.signalClass ?? (o.pageable === false ? 'runtime' : 'latency'),
    change: o.change ?? 2,
    atMs,
    summary: o.summary ?? `${metric} up`,
  };
}

function keyOf(service: string, metric = 'p99', instance = `${service}-1`): string {
  return `${service}:${metric}@${instance}`;
}

function recovered(service: string, atMs: number, metric = 'p99', instance?: string): CorrelationEvent {
  return { type: 'recovered', key: keyOf(service, metric, instance), atMs };
}

const tick = (nowMs: number): CorrelationEvent => ({ type: 'tick', nowMs });

const calls = (service: string, ...dependsOn: string[]): CorrelationEvent => ({
  type: 'topology',
  service,
  dependsOn,
});

const resolve = (
  incidentId: string,
  resolution: 'remediated' | 'recovered' | 'manual' | 'quiet',
): CorrelationEvent => ({ type: 'resolve', incidentId, resolution, summary: `resolved: ${resolution}` });

/** frontend → checkout → payments → ledger; mail calls nothing and nothing calls it. */
const SHOP = [calls('frontend', 'checkout'), calls('checkout', 'payments'), calls('payments', 'ledger')];

/** The intent's data, validated against its event type's schema. */
function dataOf<T extends EventType>(intent: PublishIntent | undefined, type: T): EventData<T> {
  assert.ok(intent, `expected a ${type}`);
  assert.equal(intent.eventType, type);
  return eventDataSchemas[type].parse(intent.data) as EventData<T>;
}

const OPENED = 'sentinel.incident.opened.v1';
const UPDATED = 'sentinel.incident.updated.v1';
const RESOLVED = 'sentinel.incident.resolved.v1';

const ofType = (intents: readonly PublishIntent[], type: EventType) =>
  intents.filter((i) => i.eventType === type);

// ---------------------------------------------------------------------------

describe('dependency graph', () => {
  test('culprits - a callee that only sees less traffic is an effect, not a suspect', () => {
    const g = { frontend: ['checkout'], checkout: ['payments'], payments: [] };
    assert.deepEqual(
      culprits(g, { frontend: ['errors'], checkout: ['availability', 'runtime'], payments: ['traffic'] }),
      ['checkout'],
    );
    assert.deepEqual(culprits(g, { frontend: ['latency'], payments: ['runtime', 'traffic'] }), ['frontend']);
  });

  test('culprits - slow calls blame the dependency, unless every caller that sees them is saturated itself', () => {
    const g = { frontend: ['checkout'], checkout: ['payments'], payments: [] };
    // A caller starved of CPU: its calls look slow on its own late clock; the cause is the caller.
    assert.deepEqual(
      culprits(
        g,
        { frontend: ['latency'], checkout: ['saturation', 'latency'], payments: ['runtime'] },
        {
          payments: ['checkout'],
        },
      ),
      ['checkout'],
    );
    // A healthy caller's view is believed: the dependency is slow.
    assert.deepEqual(
      culprits(g, { frontend: ['latency'], checkout: ['latency'], payments: [] }, { payments: ['checkout'] }),
      ['payments'],
    );
    // One believable caller is enough, and the dependency's own latency stays its own.
    const h = { web: ['db'], batch: ['db'], db: [] };
    assert.deepEqual(
      culprits(h, { web: ['saturation'], batch: ['latency'], db: [] }, { db: ['web', 'batch'] }),
      ['db'],
    );
    assert.deepEqual(culprits(h, { web: ['saturation'], db: ['latency'] }, { db: ['web'] }), ['db']);
  });

  test('culprits - a change of traffic alone points at the topmost services that show it', () => {
    const g = { web: ['orders'], orders: ['stock'], stock: [], batch: ['stock'] };
    assert.deepEqual(culprits(g, { web: ['traffic'], orders: ['traffic'], stock: ['traffic'] }), ['web']);
    assert.deepEqual(culprits(g, { orders: ['traffic'], stock: ['traffic'], batch: ['traffic'] }), [
      'batch',
      'orders',
    ]);
    assert.deepEqual(culprits(g, { stock: ['runtime'] }), ['stock']);
  });

  const shop: Topology = { frontend: ['checkout'], checkout: ['payments', 'cache'], payments: ['ledger'] };

  test('dependency graph - distance counts calls followed either way', () => {
    assert.equal(distance(shop, 'checkout', 'checkout', 0), 0);
    assert.equal(distance(shop, 'frontend', 'checkout', 2), 1);
    assert.equal(distance(shop, 'checkout', 'frontend', 2), 1, 'callee to caller');
    assert.equal(distance(shop, 'frontend', 'payments', 2), 2);
    assert.equal(distance(shop, 'payments', 'frontend', 2), 2);
    assert.equal(distance(shop, 'cache', 'payments', 2), 2, 'siblings meet through their caller');
    assert.equal(distance(shop, 'ledger', 'frontend', 3), 3);
  });

  test('dependency graph - distance is Infinity beyond max hops and between unconnected services', () => {
    assert.equal(distance(shop, 'frontend', 'ledger', 2), Infinity);
    assert.equal(distance(shop, 'frontend', 'checkout', 0), Infinity);
    assert.equal(distance(shop, 'frontend', 'mail', 10), Infinity);
    assert.equal(distance({}, 'frontend', 'checkout', 10), Infinity);
  });

  test('dependency graph - near is whether any of the services is within max hops', () => {
    assert.equal(near(shop, 'ledger', ['frontend', 'checkout'], 2), true);
    assert.equal(near(shop, 'ledger', ['frontend'], 2), false);
    assert.equal(near(shop, 'ledger', ['frontend'], 3), true);
    assert.equal(near(shop, 'mail', ['frontend', 'ledger'], 5), false);
    assert.equal(near(shop, 'mail', ['mail'], 0), true);
    assert.equal(near(shop, 'frontend', [], 5), false);
  });

  test('dependency graph - the suspects are the deepest services with symptoms', () => {
    assert.deepEqual(suspects(shop, ['frontend', 'checkout', 'payments']), ['payments']);
    assert.deepEqual(suspects(shop, ['frontend', 'payments']), ['payments'], 'through a healthy service');
    assert.deepEqual(suspects(shop, ['frontend', 'cache', 'ledger']), ['cache', 'ledger']);
    assert.deepEqual(suspects(shop, ['payments', 'frontend', 'cache']), ['cache', 'payments'], 'sorted');
    assert.deepEqual(suspects(shop, ['frontend', 'mail']), ['frontend', 'mail']);
    assert.deepEqual(suspects(shop, ['checkout']), ['checkout']);
  });

  test('dependency graph - with no call graph, or a cycle among the symptoms, every service is a suspect', () => {
    assert.deepEqual(suspects({}, ['payments', 'frontend', 'checkout']), [
      'checkout',
      'frontend',
      'payments',
    ]);
    const cycle: Topology = { a: ['b'], b: ['c'], c: ['a'] };
    assert.deepEqual(suspects(cycle, ['c', 'a', 'b']), ['a', 'b', 'c']);
    assert.deepEqual(suspects(cycle, ['b', 'a']), ['a', 'b'], 'also through a healthy service');
    // A cycle with a symptom below it points below it.
    assert.deepEqual(suspects({ a: ['b'], b: ['a', 'd'] }, ['a', 'b', 'd']), ['d']);
  });

  test('dependency graph - distance is symmetric and bounded; suspects are a sorted non-empty subset', () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const graph = fc.dictionary(
      fc.constantFrom(...names),
      fc.uniqueArray(fc.constantFrom(...names), { maxLength: 3 }),
    );
    fc.assert(
      fc.property(
        graph,
        fc.constantFrom(...names),
        fc.constantFrom(...names),
        fc.integer({ min: 0, max: 6 }),
        fc.uniqueArray(fc.constantFrom(...names), { minLength: 1 }),
        (topology, from, to, max, symptomatic) => {
          const d = distance(topology, from, to, max);
          assert.equal(distance(topology, to, from, max), d);
          assert.ok(d === Infinity || (Number.isInteger(d) && d >= 0 && d <= max), `distance ${d}`);
          if (d !== Infinity) assert.equal(distance(topology, from, to, max + 1), d, 'shortest, not first');
          assert.equal(near(topology, from, [to], max), d <= max);
          const s = suspects(topology, symptomatic);
          assert.ok(s.length > 0);
          assert.deepEqual(s, [...s].sort());
          for (const x of s) assert.ok(symptomatic.includes(x));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('correlator - opening', () => {
  test('correlator - one strong symptom opens exactly one incident with a deterministic id', () => {
    const env = new Environment();
    const out = env.send(signal('checkout', 1_000, { id: 'evt-1' }));
    assert.equal(out.length, 1);
    assert.equal(out[0]?.incidentId, 'inc-evt-1');
    assert.deepEqual(dataOf(out[0], OPENED), {
      incidentId: 'inc-evt-1',
      environment: ENV,
      fingerprint: 'checkout:p99',
      services: ['checkout'],
      suspects: ['checkout'],
      severity: 'warning',
      title: 'checkout: p99 up',
      signals: 1,
    });
    // A second symptom of the same service joins it; nothing opens again.
    assert.deepEqual(ofType(env.send(signal('checkout', 2_000, { metric: 'errors' })), OPENED), []);
    assert.equal(env.incident('inc-evt-1')?.context.signals, 2);
    assert.deepEqual(Object.keys(env.persisted.context.incidents), ['inc-evt-1']);
  });

  test('correlator - a symptom opens alone from exactly openChange of its baseline, not below', () => {
    const at = new Environment();
    assert.equal(ofType(at.send(signal('checkout', 0, { change: P.openChange })), OPENED).length, 1);
    const below = new Environment();
    assert.deepEqual(below.send(signal('checkout', 0, { change: P.openChange - 0.01 })), []);
    assert.deepEqual(below.persisted.context.incidents, {});
    const critical = new Environment();
    assert.equal(dataOf(critical.send(signal('db', 0, { score: 0.95 }))[0], OPENED).severity, 'critical');
  });

  test('correlator - runtime detail never opens an incident, however far it moved, but joins one', () => {
    const env = new Environment();
    const runtime = { pageable: false, change: Infinity };
    assert.deepEqual(
      env.send(
        signal('checkout', 0, { ...runtime, metric: 'gc' }),
        signal('checkout', 1_000, { ...runtime, metric: 'heap' }),
        signal('checkout', 2_000, { ...runtime, metric: 'threads' }),
      ),
      [],
    );
    assert.deepEqual(env.persisted.context.incidents, {});
    const [opened] = env.send(signal('checkout', 3_000, { id: 'evt-p99' }));
    assert.deepEqual(dataOf(opened, OPENED).services, ['checkout']);
    assert.equal(dataOf(opened, OPENED).signals, 1, 'runtime detail held before does not open with it');
    env.send(signal('checkout', 4_000, { ...runtime, metric: 'gc' }));
    assert.ok(env.incident('inc-evt-p99')?.context.active.includes(keyOf('checkout', 'gc')));
  });

  test('correlator - a weak symptom waits for a second one of the same or a neighbouring service', () => {
    const weak = { change: P.corroborate.change + 0.1 };
    const same = new Environment();
    assert.deepEqual(same.send(signal('checkout', 0, weak)), []);
    const [opened] = same.send(signal('checkout', 5_000, { ...weak, metric: 'errors', id: 'evt-2' }));
    assert.equal(opened?.incidentId, 'inc-evt-2');
    assert.deepEqual(dataOf(opened, OPENED).services, ['checkout']);
    assert.equal(dataOf(opened, OPENED).signals, 2);
    assert.deepEqual([...(same.incident('inc-evt-2')?.context.active ?? [])].sort(), [
      keyOf('checkout', 'errors'),
      keyOf('checkout'),
    ]);

    const neighbours = new Environment();
    assert.deepEqual(neighbours.send(...SHOP, signal('frontend', 0, weak)), []);
    const [both] = neighbours.send(signal('checkout', P.corroborate.windowMs, weak));
    assert.deepEqual(dataOf(both, OPENED).services, ['checkout', 'frontend']);
    assert.deepEqual(dataOf(both, OPENED).suspects, ['checkout']);

    // Another replica of the same symptom is a distinct signal.
    const replicas = new Environment();
    replicas.send(signal('checkout', 0, { ...weak, instance: 'checkout-1' }));
    assert.equal(
      ofType(replicas.send(signal('checkout', 1_000, { ...weak, instance: 'checkout-2' })), OPENED).length,
      1,
    );
  });

  test('correlator - a weak symptom is not corroborated by itself, a stale, distant, runtime or tiny peer', () => {
    const weak = { change: 0.6 };
    const cases: readonly (readonly CorrelationEvent[])[] = [
      [signal('checkout', 0, weak), signal('checkout', 1_000, weak)],
      [
        signal('checkout', 0, weak),
        signal('checkout', P.corroborate.windowMs + 1, { ...weak, metric: 'errors' }),
      ],
      [...SHOP, signal('frontend', 0, weak), signal('ledger', 1_000, weak)],
      [...SHOP, signal('frontend', 0, weak), signal('mail', 1_000, weak)],
      [
        signal('checkout', 0, { ...weak, pageable: false }),
        signal('checkout', 1_000, { ...weak, metric: 'e' }),
      ],
      [signal('checkout', 0, { change: 0.4 }), signal('checkout', 1_000, { metric: 'errors', change: 0.4 })],
      [signal('checkout', 0, weak), signal('checkout', 1_000, { metric: 'errors', change: 0.4 })],
    ];
    for (const events of cases) {
      const env = new Environment();
      assert.deepEqual(env.send(...events), [], JSON.stringify(events));
      assert.deepEqual(env.persisted.context.incidents, {});
    }
  });

  test('correlator - symptoms further apart than graphHops (and not within seconds on one call path), or groupWindowMs, are separate incidents', () => {
    const env = new Environment();
    const later = P.corroborate.windowMs + 10_000;
    const out = env.send(
      ...SHOP,
      signal('frontend', 0, { id: 'a' }),
      signal('ledger', later, { id: 'b' }),
      signal('mail', later + 1_000, { id: 'c' }),
      signal('checkout', later + 2_000, { id: 'd' }),
    );
    assert.deepEqual(
      ofType(out, OPENED).map((i) => i.incidentId),
      ['inc-a', 'inc-b', 'inc-c'],
    );
    // checkout is near both; it joins the one with the newest signal.
    assert.deepEqual(env.incident('inc-a')?.context.services, ['frontend']);
    assert.deepEqual(env.incident('inc-b')?.context.services, ['checkout', 'ledger']);

    const late = new Environment();
    late.send(signal('checkout', 0, { id: 'first' }));
    const [second] = late.send(signal('checkout', P.groupWindowMs + 1, { metric: 'errors', id: 'second' }));
    assert.equal(second?.incidentId, 'inc-second');
    assert.equal(dataOf(second, OPENED).incidentId, 'inc-second');
  });
});

describe('correlator - grouping along the call graph', () => {
  test('correlator - errors that reach a caller three calls up within seconds join the incident of the service they came from', () => {
    const env = new Environment();
    env.send(...SHOP);
    const [opened] = env.send(signal('ledger', 0, { id: 'db', metric: 'errors', signalClass: 'errors' }));
    assert.equal(opened?.incidentId, 'inc-db');
    const joined = env.send(
      signal('frontend', 2_000, { id: 'edge', metric: 'errors', signalClass: 'errors' }),
    );
    assert.deepEqual(ofType(joined, OPENED), [], 'no second incident');
    assert.deepEqual(env.incident('inc-db')?.context.services, ['frontend', 'ledger']);
    assert.deepEqual(env.incident('inc-db')?.context.suspects, ['ledger']);
  });

  test("correlator - a caller's failing calls to a dependency are a symptom of that dependency: it becomes the suspect", () => {
    const env = new Environment();
    env.send(...SHOP);
    const [opened] = env.send({
      ...signal('checkout', 0, { id: 'calls', metric: 'calls_to_payments', signalClass: 'errors' }),
      about: 'payments',
    } as CorrelationEvent);
    assert.equal(opened?.incidentId, 'inc-calls');
    const data = dataOf(opened, OPENED);
    assert.deepEqual(data.services, ['checkout', 'payments']);
    assert.deepEqual(data.suspects, ['payments']);
    // Traffic towards a dependency says nothing about it.
    const env2 = new Environment();
    env2.send(...SHOP);
    const [other] = env2.send({
      ...signal('checkout', 0, { id: 'less', metric: 'calls_ok', signalClass: 'traffic', change: 5 }),
      about: 'payments',
    } as CorrelationEvent);
    assert.deepEqual(dataOf(other, OPENED).services, ['checkout']);
  });

  const chain = ['frontend', 'checkout', 'payments'] as const;

  /** Runs one order of the chain's symptoms; returns the environment and what it published. */
  function runChain(order: readonly string[], gaps: readonly number[], restore: boolean) {
    const env = new Environment({ restore });
    let t = 1_000;
    const out = env.send(...SHOP);
    order.forEach((service, i) => {
      t += gaps[i] ?? 0;
      out.push(...env.send(signal(service, t, { id: `evt-${service}` })));
    });
    return { env, out };
  }

  function assertOneIncidentSuspectingPayments(
    order: readonly string[],
    env: Environment,
    out: PublishIntent[],
  ) {
    const opened = ofType(out, OPENED);
    assert.equal(opened.length, 1, `one incident for ${order.join(', ')}`);
    const id = `inc-evt-${order[0]}`;
    assert.equal(opened[0]?.incidentId, id);
    for (const i of out) assert.equal(i.incidentId, id);
    const last = ofType(out, UPDATED).at(-1);
    assert.deepEqual(dataOf(last, UPDATED).suspects, ['payments']);
    assert.deepEqual(dataOf(last, UPDATED).services, ['checkout', 'frontend', 'payments']);
    assert.equal(dataOf(last, UPDATED).severity, 'critical', 'three services are critical');
    assert.deepEqual(env.incident(id)?.context.suspects, ['payments']);
    assert.deepEqual(Object.keys(env.persisted.context.incidents), [id]);
  }

  test('correlator - a slow database and its callers are one incident suspecting the database, in any order', () => {
    const orders = [
      ['frontend', 'checkout', 'payments'],
      ['payments', 'checkout', 'frontend'],
      ['checkout', 'frontend', 'payments'],
      ['frontend', 'payments', 'checkout'],
      ['payments', 'frontend', 'checkout'],
      ['checkout', 'payments', 'frontend'],
    ];
    for (const order of orders) {
      const { env, out } = runChain(order, [0, 60_000, 60_000], true);
      assertOneIncidentSuspectingPayments(order, env, out);
    }
  });

  test('correlator - every permutation of the chain within the window is one incident (property)', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray([...chain], { minLength: 3, maxLength: 3 }),
        fc.array(fc.integer({ min: 0, max: P.groupWindowMs }), { minLength: 3, maxLength: 3 }),
        fc.boolean(),
        (order, gaps, restore) => {
          const { env, out } = runChain(order, gaps, restore);
          assertOneIncidentSuspectingPayments(order, env, out);
        },
      ),
      { numRuns: 100 },
    );
  });

  test('correlator - the same signal again is counted, announced only when services, suspects or severity change', () => {
    const env = new Environment();
    env.send(...SHOP, signal('checkout', 0, { id: 'evt-1', score: 0.5 }));
    const id = 'inc-evt-1';
    assert.deepEqual(
      env.send(signal('checkout', 1_000, { score: 0.5 }), signal('checkout', 2_000, { score: 0.6 })),
      [],
    );
    assert.equal(env.incident(id)?.context.signals, 3);
    assert.deepEqual(env.incident(id)?.context.active, [keyOf('checkout')]);

    const [critical] = env.send(signal('checkout', 3_000, { score: 0.95, summary: 'p99 way up' }));
    assert.deepEqual(dataOf(critical, UPDATED), {
      incidentId: id,
      environment: ENV,
      services: ['checkout'],
      suspects: ['checkout'],
      severity: 'critical',
      signals: 4,
      reason: 'p99 way up',
    });
    // Severity never falls back; another key of the same service changes nothing announced.
    assert.deepEqual(env.send(signal('checkout', 4_000, { metric: 'errors', score: 0.1 })), []);
    assert.equal(env.incident(id)?.context.severity, 'critical');
    const [joined] = env.send(signal('payments', 5_000, { score: 0.1 }));
    assert.deepEqual(dataOf(joined, UPDATED).services, ['checkout', 'payments']);
    assert.deepEqual(dataOf(joined, UPDATED).suspects, ['payments']);
    assert.equal(dataOf(joined, UPDATED).signals, 6);
  });

  test('correlator - a flapping signal cannot open an incident but still joins one', () => {
    const env = new Environment();
    // Three episodes within the window, each opening (and being closed by a person).
    for (let i = 0; i < P.flapping.episodes; i++) {
      const t = i * 10_000;
      const [opened] = env.send(signal('checkout', t, { id: `ep-${i}` }));
      assert.equal(opened?.incidentId, `inc-ep-${i}`, `episode ${i + 1} opens`);
      env.send(recovered('checkout', t + 1_000), resolve(`inc-ep-${i}`, 'manual'));
    }
    const t = P.flapping.episodes * 10_000;
    assert.deepEqual(
      env.send(signal('checkout', t, { change: 100, score: 1 })),
      [],
      'the next one is flapping',
    );
    assert.deepEqual(env.send(signal('checkout', t + 1_000, { change: 100, score: 1 })), []);
    assert.equal(env.persisted.context.active[keyOf('checkout')]?.incidentId, null);

    const [opened] = env.send(signal('checkout', t + 2_000, { metric: 'errors', id: 'steady' }));
    assert.equal(opened?.incidentId, 'inc-steady');
    env.send(signal('checkout', t + 3_000));
    assert.equal(env.persisted.context.active[keyOf('checkout')]?.incidentId, 'inc-steady');
    assert.ok(env.incident('inc-steady')?.context.active.includes(keyOf('checkout')));

    // Once its episodes age out of the window it may open again.
    env.send(recovered('checkout', t + 4_000), resolve('inc-steady', 'manual'));
    const later = P.flapping.windowMs + t + 10_000;
    assert.equal(env.send(signal('checkout', later, { id: 'calm' }))[0]?.incidentId, 'inc-calm');
  });
});

describe('correlator - closing', () => {
  test('correlator - an incident closes after every symptom recovered and stayed quiet, then is forgotten', () => {
    const env = new Environment();
    env.send(signal('checkout', 0, { id: 'evt-1' }), signal('checkout', 1_000, { metric: 'errors' }));
    const id = 'inc-evt-1';
    assert.deepEqual(env.send(recovered('checkout', 10_000)), []);
    assert.equal(env.incident(id)?.value, 'open', 'one symptom is still active');
    assert.deepEqual(env.send(recovered('mail', 11_000), recovered('checkout', 20_000, 'errors')), []);
    assert.equal(env.incident(id)?.value, 'quiet');
    assert.equal(env.incident(id)?.context.quietSinceMs, 20_000);

    assert.deepEqual(env.send(tick(20_000), tick(20_000 + P.quietMs - 1)), [], 'not quiet long enough');
    assert.equal(env.incident(id)?.value, 'quiet');
    const out = env.send(tick(20_000 + P.quietMs));
    assert.equal(out.length, 1);
    assert.equal(out[0]?.incidentId, id);
    assert.deepEqual(dataOf(out[0], RESOLVED), {
      incidentId: id,
      environment: ENV,
      resolution: 'recovered',
      summary: 'every symptom of checkout recovered and stayed quiet',
    });
    assert.deepEqual(env.persisted.context.incidents, {});
    assert.deepEqual(env.persisted.children, {});
    assert.deepEqual(env.send(tick(30_000 + P.quietMs), resolve(id, 'remediated')), [], 'gone for good');

    const [again] = env.send(signal('checkout', 200_000, { id: 'evt-2' }));
    assert.equal(again?.incidentId, 'inc-evt-2');
    assert.equal(dataOf(again, OPENED).signals, 1);
  });

  test('correlator - a symptom during the quiet period reopens the incident and cancels the close', () => {
    const env = new Environment();
    const id = 'inc-evt-1';
    env.send(signal('checkout', 0, { id: 'evt-1' }), recovered('checkout', 10_000));
    assert.equal(env.incident(id)?.value, 'quiet');
    assert.deepEqual(env.send(signal('checkout', 60_000, { metric: 'errors' })), []);
    assert.equal(env.incident(id)?.value, 'open');
    assert.equal(env.incident(id)?.context.quietSinceMs, null);
    assert.deepEqual(env.send(tick(10_000 + P.quietMs), tick(60_000 + P.quietMs)), []);
    assert.equal(env.incident(id)?.value, 'open');

    env.send(recovered('checkout', 200_000, 'errors'));
    assert.deepEqual(env.send(tick(200_000 + P.quietMs - 1)), []);
    assert.equal(dataOf(env.send(tick(200_000 + P.quietMs))[0], RESOLVED).incidentId, id);
  });

  test('correlator - after a remediation, the shake-up around the fixed service opens nothing for a while', () => {
    const env = new Environment();
    env.send(...SHOP);
    env.send(signal('payments', 0, { id: 'leak' }));
    env.send(resolve('inc-leak', 'remediated'));
    // The restart's after-effects: new log shapes, memory back down, on the service and its callers.
    assert.deepEqual(env.send(signal('payments', 10_000, { metric: 'log_novelty', id: 'shake' })), []);
    assert.deepEqual(env.send(signal('checkout', 20_000, { metric: 'errors', id: 'caller' })), []);
    // Elsewhere in the environment, nothing is held.
    assert.equal(env.send(signal('mail', 30_000, { id: 'mail' }))[0]?.incidentId, 'inc-mail');
    // Once the settling time is over, the same symptom pages again.
    env.send(tick(P.afterRemediationMs + 1_000));
    const later = P.afterRemediationMs + 2_000;
    assert.equal(
      env.send(signal('payments', later, { metric: 'p99', id: 'again' }))[0]?.incidentId,
      'inc-again',
    );
  });

  test('correlator - a remediation closes the incident at once, without announcing it again; unknown ids and quiet resolutions change nothing', () => {
    const env = new Environment();
    env.send(signal('checkout', 0, { id: 'evt-1' }));
    const before = JSON.stringify(env.persisted);
    assert.deepEqual(env.send(resolve('inc-nope', 'remediated'), resolve('inc-evt-1', 'quiet')), []);
    assert.equal(JSON.stringify(env.persisted), before);

    // The executor that verified the fix announced the resolution; the correlator only closes.
    assert.deepEqual(env.send(resolve('inc-evt-1', 'remediated')), []);
    assert.deepEqual(env.persisted.children, {});
    assert.deepEqual(env.persisted.context.incidents, {});
    // The symptom is still active but belongs to no incident any more.
    assert.equal(env.persisted.context.active[keyOf('checkout')]?.incidentId, null);
    assert.deepEqual(env.send(recovered('checkout', 5_000), tick(5_000 + P.quietMs)), []);
  });

  test('correlator - a signal its detector lost no longer keeps its incident open', () => {
    const env = new Environment();
    env.send(signal('checkout', 0, { id: 'evt-1' }), signal('checkout', 1_000, { metric: 'errors' }));
    // The errors signal keeps reporting; p99 goes silent.
    env.send(signal('checkout', P.staleSignalMs, { metric: 'errors' }));
    assert.deepEqual(env.send(tick(P.staleSignalMs + 1)), []);
    assert.equal(env.persisted.context.active[keyOf('checkout')], undefined, 'dropped');
    assert.deepEqual(env.incident('inc-evt-1')?.context.active, [keyOf('checkout', 'errors')]);
    env.send(recovered('checkout', P.staleSignalMs + 2, 'errors'));
    const out = env.send(tick(P.staleSignalMs + 2 + P.quietMs));
    assert.equal(dataOf(out[0], RESOLVED).resolution, 'recovered');
  });
});

describe('correlator - persistence', () => {
  const script: readonly CorrelationEvent[] = [
    ...SHOP,
    signal('frontend', 0, { id: 'evt-1', change: 0.6 }),
    signal('checkout', 5_000, { change: 0.7, id: 'evt-2' }),
    signal('payments', 8_000, { change: Infinity, score: 0.95 }),
    signal('mail', 9_000, { id: 'evt-mail' }),
    signal('checkout', 9_500, { score: 0.8 }),
    recovered('frontend', 20_000),
    recovered('checkout', 21_000),
    tick(25_000),
    recovered('payments', 30_000),
    tick(30_000 + P.quietMs - 1),
    signal('ledger', 40_000, { change: 0.3 }),
    tick(30_000 + P.quietMs),
    tick(40_000 + P.quietMs),
    recovered('ledger', 200_000),
    resolve('inc-evt-mail', 'manual'),
    tick(200_000 + P.quietMs - 1),
    tick(200_000 + P.quietMs),
  ];

  test('correlator - an actor restored from its persisted snapshot continues exactly where it was', () => {
    const live = new Environment({ restore: false });
    const restored = new Environment();
    for (const event of script) {
      assert.deepEqual(restored.send(event), live.send(event), JSON.stringify(event));
      assert.deepEqual(restored.persisted, live.persisted);
    }
    assert.deepEqual(
      ofType(restored.intents, OPENED).map((i) => i.incidentId),
      ['inc-evt-2', 'inc-evt-mail'],
    );
    assert.deepEqual(
      restored.intents.map((i) => `${i.eventType.split('.')[2]} ${i.incidentId}`),
      [
        'opened inc-evt-2',
        'updated inc-evt-2',
        'opened inc-evt-mail',
        'updated inc-evt-2',
        // inc-evt-mail was resolved by a person: announced by them, not again here.
        'resolved inc-evt-2',
      ],
    );
    // The ledger symptom reopened the quiet incident: it closed only after ledger recovered.
    assert.deepEqual(dataOf(ofType(restored.intents, UPDATED)[1], UPDATED).services, [
      'checkout',
      'frontend',
      'ledger',
      'payments',
    ]);
  });

  test('correlator - a restored actor has its incident children and updates the same incident', () => {
    const env = new Environment();
    env.send(signal('checkout', 0, { id: 'evt-1' }));
    const stored = JSON.parse(JSON.stringify(env.persisted)) as Snapshot<unknown>;
    const actor = createActor(correlationMachine, { snapshot: stored, input: { key: ENV } });
    const intents: PublishIntent[] = [];
    actor.on('publish', (i) => intents.push(i));
    actor.start();
    assert.equal(intents.length, 0, 'restoring announces nothing again');
    const child = actor.getSnapshot().children['inc-evt-1'] as
      { getSnapshot(): { value: unknown; context: IncidentContext } } | undefined;
    assert.equal(child?.getSnapshot().value, 'open');
    assert.deepEqual(child?.getSnapshot().context.services, ['checkout']);
    actor.send(calls('checkout', 'payments'));
    actor.send(signal('payments', 1_000));
    actor.stop();
    assert.equal(intents.length, 1);
    assert.equal(intents[0]?.incidentId, 'inc-evt-1');
    assert.deepEqual(dataOf(intents[0], UPDATED).suspects, ['payments']);
  });

  test('correlator - a zero-baseline symptom keeps its weight across a restore', () => {
    for (const restore of [false, true]) {
      const env = new Environment({ restore });
      env.send(signal('checkout', 0, { id: 'alert', change: Infinity }), resolve('inc-alert', 'manual'));
      // Still firing, now unattached: it corroborates a weak symptom next to it.
      const [opened] = env.send(signal('checkout', 10_000, { metric: 'errors', change: 0.6, id: 'weak' }));
      assert.equal(opened?.incidentId, 'inc-weak', `restore: ${restore}`);
      assert.equal(dataOf(opened, OPENED).signals, 2);
    }
  });
});

describe('correlator - any history', () => {
  const services = ['frontend', 'checkout', 'payments', 'ledger', 'mail'] as const;
  const tight: CorrelationPolicy = {
    groupWindowMs: 20_000,
    graphHops: 1,
    openChange: 2,
    corroborate: { signals: 3, change: 0.5, windowMs: 10_000 },
    flapping: { episodes: 2, windowMs: 60_000 },
    quietMs: 15_000,
    staleSignalMs: 100_000,
    afterRemediationMs: 30_000,
  };
  const dt = fc.oneof(
    fc.integer({ min: 0, max: 20_000 }),
    fc.constantFrom(P.quietMs, P.flapping.windowMs + 1, P.staleSignalMs + 1),
  );
  const where = {
    service: fc.constantFrom(...services),
    metric: fc.constantFrom('p99', 'errors'),
    instance: fc.constantFrom('a', 'b'),
  };
  type Step =
    | { kind: 'signal'; service: string; metric: string; instance: string; dt: number; o: SignalOptions }
    | { kind: 'recovered'; service: string; metric: string; instance: string; dt: number }
    | { kind: 'tick'; dt: number }
    | { kind: 'resolve'; pick: number; resolution: 'remediated' | 'recovered' | 'manual' | 'quiet' }
    | { kind: 'topology'; service: string; dependsOn: string[] };
  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('signal' as const),
        ...where,
        dt,
        o: fc.record({
          change: fc.constantFrom(0.1, 0.5, 0.7, 1, 2.5, Infinity),
          pageable: fc.boolean(),
          score: fc.double({ min: 0, max: 1, noNaN: true }),
          summary: fc.oneof(fc.string({ maxLength: 30 }), fc.constant('x'.repeat(700))),
        }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('recovered' as const), ...where, dt }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), dt }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('resolve' as const),
        pick: fc.nat(),
        resolution: fc.constantFrom('remediated', 'recovered', 'manual', 'quiet'),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('topology' as const),
        service: where.service,
        dependsOn: fc.uniqueArray(where.service, { maxLength: 2 }),
      }),
    },
  );

  test('correlator - any history publishes only valid, consistent intents, restored or not (property)', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 40 }),
        fc.constantFrom(undefined, tight),
        (steps, policy) => {
          const restored = new Environment({ policy });
          const live = new Environment({ restore: false, policy });
          const opened: string[] = [];
          /** What was published and, in order with it, the incidents closed from outside (announced by whoever resolved them). */
          const timeline: ({ readonly intent: PublishIntent } | { readonly closed: string })[] = [];
          const openNow = new Set<string>();
          let t = 0;
          let n = 0;
          for (const s of steps) {
            let event: CorrelationEvent;
            if (s.kind === 'signal') {
              t += s.dt;
              event = signal(s.service, t, { ...s.o, metric: s.metric, instance: s.instance, id: `e${n++}` });
            } else if (s.kind === 'recovered') {
              t += s.dt;
              event = recovered(s.service, t, s.metric, s.instance);
            } else if (s.kind === 'tick') {
              t += s.dt;
              event = tick(t);
            } else if (s.kind === 'resolve') {
              event = resolve(opened[s.pick % (opened.length + 1)] ?? 'inc-unknown', s.resolution);
            } else event = calls(s.service, ...s.dependsOn);
            const out = restored.send(event);
            opened.push(...ofType(out, OPENED).map((i) => i.incidentId as string));
            assert.deepEqual(live.send(event), out, 'a restore between events changes nothing');
            for (const intent of out) {
              timeline.push({ intent });
              const id = intent.incidentId as string;
              if (intent.eventType === OPENED) openNow.add(id);
              if (intent.eventType === RESOLVED) openNow.delete(id);
            }
            if (event.type === 'resolve' && event.resolution !== 'quiet' && openNow.delete(event.incidentId))
              timeline.push({ closed: event.incidentId });
          }
          assert.deepEqual(restored.persisted, live.persisted);

          const announced = new Map<string, number>();
          const resolved = new Set<string>();
          assert.deepEqual(
            timeline.flatMap((x) => ('intent' in x ? [x.intent] : [])),
            restored.intents,
          );
          for (const step of timeline) {
            if ('closed' in step) {
              assert.ok(announced.has(step.closed) && !resolved.has(step.closed));
              resolved.add(step.closed);
              continue;
            }
            const { intent } = step;
            const parsed = eventDataSchemas[intent.eventType].safeParse(intent.data);
            assert.ok(parsed.success, `${intent.eventType}: ${JSON.stringify(intent.data)}`);
            const data = intent.data as { incidentId: string; environment: string };
            assert.equal(intent.incidentId, data.incidentId);
            assert.equal(data.environment, ENV);
            const id = data.incidentId;
            if (intent.eventType === OPENED) {
              assert.ok(!announced.has(id), `${id} opened twice`);
              announced.set(id, dataOf(intent, OPENED).signals);
              continue;
            }
            assert.ok(announced.has(id), `${intent.eventType} of ${id} that never opened`);
            assert.ok(!resolved.has(id), `${intent.eventType} of ${id} after it was resolved`);
            if (intent.eventType === RESOLVED) resolved.add(id);
            else {
              const u = dataOf(intent, UPDATED);
              assert.ok(u.signals > (announced.get(id) ?? 0), 'signals only grow');
              announced.set(id, u.signals);
              for (const x of u.suspects) assert.ok(u.services.includes(x));
            }
          }
          // The index of open incidents, the children and what was announced agree.
          const { context, children } = restored.persisted;
          const open = [...announced.keys()].filter((id) => !resolved.has(id)).sort();
          assert.deepEqual(Object.keys(context.incidents).sort(), open);
          assert.deepEqual(Object.keys(children).sort(), open);
          for (const a of Object.values(context.active))
            assert.ok(a.incidentId === null || open.includes(a.incidentId));
        },
      ),
      { numRuns: 150 },
    );
  });
});

// ---------------------------------------------------------------------------

describe('correlator agent', () => {
  const detector: AgentIdentity = { role: 'detector', instance: 'detector-1' };
  const T0 = Date.parse('2025-01-01T00:00:00Z');

  function anomaly(
    d: Partial<EventData<'sentinel.anomaly.detected.v1'>> = {},
  ): SentinelEvent<'sentinel.anomaly.detected.v1'> {
    return createEvent(
      'sentinel.anomaly.detected.v1',
      {
        environment: 'staging',
        service: 'checkout',
        instance: 'checkout-7',
        series: { name: 'http_request_duration_seconds', labels: { route: '/pay' } },
        stat: 'p99',
        signal: 'latency',
        value: 3,
        baseline: 1,
        score: 0.8,
        direction: 'up',
        window: { startMs: T0, endMs: T0 + 30_000 },
        fingerprint: 'checkout:latency:p99:up',
        ...d,
      },
      detector,
      { id: 'anomaly-1', now: () => T0 + 31_000 },
    );
  }

  function alert(
    d: Partial<EventData<'sentinel.alert.received.v1'>> = {},
    time = T0 + 60_000,
  ): SentinelEvent<'sentinel.alert.received.v1'> {
    return createEvent(
      'sentinel.alert.received.v1',
      {
        alertname: 'HighErrorRate',
        status: 'firing',
        service: 'payments',
        severity: 'critical',
        labels: {},
        annotations: {},
        startsAt: new Date(T0).toISOString(),
        fingerprint: 'abc123',
        ...d,
      },
      { role: 'gateway', instance: 'gw-1' },
      { id: 'alert-1', now: () => time },
    );
  }

  test('correlator agent - an anomaly becomes a signal keyed by fingerprint and instance', () => {
    assert.deepEqual(correlator.toMachineEvent(anomaly()), {
      type: 'signal',
      eventId: 'anomaly-1',
      fingerprint: 'checkout:latency:p99:up',
      key: 'checkout:latency:p99:up@checkout-7',
      service: 'checkout',
      score: 0.8,
      pageable: true,
      signalClass: 'latency',
      change: 2,
      atMs: T0 + 30_000,
      summary: 'p99 of http_request_duration_seconds{route=/pay} up on checkout-7 (3.000 against 1.000)',
    });
    const whole = correlator.toMachineEvent(
      anomaly({ instance: undefined, series: { name: 'up', labels: {} } }),
    );
    assert.equal(whole?.key, 'checkout:latency:p99:up@');
    assert.equal(whole?.summary, 'p99 of up up (3.000 against 1.000)');
    const toDependency = (labels: Record<string, string>) =>
      (correlator.toMachineEvent(anomaly({ series: { name: 'calls_total', labels } })) as { about?: string })
        .about;
    assert.equal(toDependency({ dependency: 'payments', outcome: 'error' }), 'payments');
    assert.equal(toDependency({ upstream: 'ledger' }), 'ledger');
    assert.equal(toDependency({ dependency: 'checkout' }), undefined, 'not about itself');
    assert.equal(toDependency({ dependency: 'Not A Service!' }), undefined, 'not a service name');
    assert.equal(toDependency({ route: '/pay' }), undefined);
    assert.equal(
      toDependency({ dependency: 'payments', outcome: 'pool_timeout' }),
      undefined,
      "the caller's own pool timed out: not the dependency's symptom",
    );
  });

  test('correlator agent - a symptom pages only going the way that hurts its class', () => {
    for (const signalClass of SignalClass.options)
      for (const direction of ['up', 'down'] as const) {
        const harm = SIGNAL_HARM[signalClass];
        const expected = harm === 'either' || harm === direction;
        const e = correlator.toMachineEvent(anomaly({ signal: signalClass, direction }));
        assert.equal(e?.pageable, expected, `${signalClass} ${direction}`);
      }
    assert.equal(
      correlator.toMachineEvent(anomaly({ signal: 'availability', direction: 'down' }))?.pageable,
      true,
    );
    assert.equal(
      correlator.toMachineEvent(anomaly({ signal: 'errors', direction: 'down' }))?.pageable,
      false,
    );
    assert.equal(correlator.toMachineEvent(anomaly({ signal: 'runtime', direction: 'up' }))?.pageable, false);
  });

  test('correlator agent - change is the move as a share of the baseline, Infinity from a zero baseline', () => {
    const change = (value: number, baseline: number) =>
      correlator.toMachineEvent(anomaly({ value, baseline }))?.change as number;
    assert.equal(change(3, 1), 2);
    assert.equal(change(0.5, 1), 0.5);
    assert.equal(change(-3, -1), 2, 'a negative baseline');
    assert.equal(change(5, 0), Infinity);
    assert.equal(change(0, 0), Infinity);
    fc.assert(
      fc.property(
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        (value, baseline) => {
          const c = change(value, baseline);
          assert.ok(c >= 0);
          if (baseline !== 0) assert.equal(c, Math.abs(value - baseline) / Math.abs(baseline));
        },
      ),
      { numRuns: 100 },
    );
  });

  test('correlator agent - a resolved anomaly becomes the recovery of the same key', () => {
    const e = createEvent(
      'sentinel.anomaly.resolved.v1',
      {
        environment: 'staging',
        service: 'checkout',
        instance: 'checkout-7',
        series: { name: 'http_request_duration_seconds', labels: { route: '/pay' } },
        stat: 'p99',
        fingerprint: 'checkout:latency:p99:up',
        window: { startMs: T0, endMs: T0 + 90_000 },
        peakScore: 0.9,
      },
      detector,
    );
    assert.deepEqual(correlator.toMachineEvent(e), {
      type: 'recovered',
      key: 'checkout:latency:p99:up@checkout-7',
      atMs: T0 + 90_000,
    });
    assert.equal(correlator.actorKey(e), 'staging');
  });

  test('correlator agent - topology and incident resolutions become machine events of their environment', () => {
    const topology = createEvent(
      'sentinel.topology.observed.v1',
      { environment: 'staging', service: 'checkout', dependsOn: ['payments', 'cache'] },
      { role: 'collector', instance: 'c-1' },
    );
    assert.deepEqual(correlator.toMachineEvent(topology), {
      type: 'topology',
      service: 'checkout',
      dependsOn: ['payments', 'cache'],
    });
    assert.equal(correlator.actorKey(topology), 'staging');
    const resolvedEvent = createEvent(
      'sentinel.incident.resolved.v1',
      { incidentId: 'inc-9', environment: 'staging', resolution: 'remediated', summary: 'rolled back' },
      { role: 'executor', instance: 'x-1' },
    );
    assert.deepEqual(correlator.toMachineEvent(resolvedEvent), {
      type: 'resolve',
      incidentId: 'inc-9',
      resolution: 'remediated',
      summary: 'rolled back',
      atMs: Date.parse(resolvedEvent.time),
    });
    assert.equal(correlator.actorKey(resolvedEvent), 'staging');
  });

  test('correlator agent - firing and resolved alerts are signals and recoveries; one without a service is ignored', () => {
    assert.deepEqual(correlator.toMachineEvent(alert()), {
      type: 'signal',
      eventId: 'alert-1',
      fingerprint: 'alert:abc123',
      key: 'alert:abc123',
      service: 'payments',
      score: 0.95,
      pageable: true,
      signalClass: 'errors',
      change: Infinity,
      atMs: T0 + 60_000,
      summary: 'payments: alert HighErrorRate (critical)',
    });
    // A startsAt ahead of the receiving clock wins.
    assert.equal(correlator.toMachineEvent(alert({}, T0 - 5_000))?.atMs, T0);
    const info = correlator.toMachineEvent(alert({ severity: 'info' }));
    assert.equal(info?.pageable, false);
    assert.equal(info?.score, 0.3);
    assert.equal(correlator.toMachineEvent(alert({ severity: 'warning' }))?.score, 0.6);
    assert.deepEqual(correlator.toMachineEvent(alert({ status: 'resolved' }, T0 + 99_000)), {
      type: 'recovered',
      key: 'alert:abc123',
      atMs: T0 + 99_000,
    });
    assert.equal(correlator.toMachineEvent(alert({ service: undefined })), undefined);
  });

  test('correlator agent - the actor key is the environment; an alert without one goes to the default', () => {
    assert.equal(correlator.actorKey(anomaly()), 'staging');
    assert.equal(correlator.actorKey(alert({ environment: 'eu-west' })), 'eu-west');
    assert.equal(correlator.actorKey(alert()), 'default');
    const opened = createEvent(
      'sentinel.incident.opened.v1',
      {
        incidentId: 'inc-1',
        environment: 'staging',
        fingerprint: 'f',
        services: ['checkout'],
        suspects: ['checkout'],
        severity: 'warning',
        title: 't',
        signals: 1,
      },
      { role: 'correlator', instance: 'c-1' },
    );
    assert.equal(correlator.actorKey(opened), undefined);
    assert.equal(correlator.toMachineEvent(opened), undefined);
    assert.equal(correlator.mode, 'singleton');
    assert.deepEqual(correlator.tick?.event(42), { type: 'tick', nowMs: 42 });
  });

  test('correlator agent - envelopes in, valid envelopes out', () => {
    const env = new Environment({ key: 'staging' });
    const inputs: SentinelEvent[] = [
      createEvent(
        'sentinel.topology.observed.v1',
        { environment: 'staging', service: 'checkout', dependsOn: ['payments'] },
        { role: 'collector', instance: 'c-1' },
      ),
      anomaly(),
      alert({ environment: 'staging' }),
      alert({ environment: 'staging', status: 'resolved' }, T0 + 61_000),
      createEvent(
        'sentinel.anomaly.resolved.v1',
        {
          environment: 'staging',
          service: 'checkout',
          instance: 'checkout-7',
          series: { name: 'http_request_duration_seconds', labels: { route: '/pay' } },
          stat: 'p99',
          fingerprint: 'checkout:latency:p99:up',
          window: { startMs: T0, endMs: T0 + 62_000 },
          peakScore: 0.8,
        },
        detector,
      ),
    ];
    for (const e of inputs) {
      assert.equal(correlator.actorKey(e), 'staging');
      const m = correlator.toMachineEvent(e);
      assert.ok(m);
      env.send(m as CorrelationEvent);
    }
    env.send(tick(T0 + 62_000 + P.quietMs));
    const me = { role: 'correlator', instance: 'c-1' };
    const out = env.intents.map((i) => createEvent(i.eventType, i.data as never, me));
    assert.deepEqual(
      out.map((e) => e.type),
      [OPENED, UPDATED, RESOLVED],
    );
    const updated = (out[1] as SentinelEvent<typeof UPDATED>).data;
    assert.deepEqual(updated.suspects, ['payments']);
    assert.equal(updated.severity, 'critical');
    assert.equal((out[2] as SentinelEvent<typeof RESOLVED>).data.environment, 'staging');
  });
});
