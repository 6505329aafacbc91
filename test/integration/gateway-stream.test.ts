/**
 * The live stream (`GET /v1/stream`) over a real socket against the real
 * NATS: the sub-app served by @hono/node-server behind a test middleware that
 * sets the principal (the gateway's token check is tested with the app),
 * read with `fetch` and an SSE parser.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { createEvent } from '../../choreography/index.ts';
import type { AgentIdentity, SentinelEvent } from '../../choreography/index.ts';
import { HttpProblem } from '../../gateway/context.ts';
import type { GatewayEnv, Principal } from '../../gateway/context.ts';
import { problemResponse } from '../../gateway/problem.ts';
import { StreamHub, streamClients, streamClientsCut, streamRoutes } from '../../gateway/stream/index.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';
import { openSse } from '../support/sse-client.ts';
import type { SseConnection, SseMessage } from '../support/sse-client.ts';

const analyst: AgentIdentity = { role: 'analyst', instance: 'stream-test' };
const correlator: AgentIdentity = { role: 'correlator', instance: 'stream-test' };
const TOKEN = 'Bearer viewer';
const auth = { authorization: TOKEN };
/** Limits small enough that a client that never reads overflows after a few MB. */
const MAX_QUEUED_EVENTS = 400;
const MAX_QUEUED_BYTES = 256 * 1024;
const HEARTBEAT_MS = 250;

const viewer: Principal = {
  subject: 'person:vera',
  kind: 'person',
  role: 'viewer',
  scopes: new Set(['stream:read']),
  tokenId: 'test-viewer',
};
const noScope: Principal = { ...viewer, subject: 'person:nobody', scopes: new Set(), tokenId: 'test-none' };
const withSession: Principal = { ...viewer, tokenId: 'test-session', sessionId: 'sess-1' };
let sessionLive = true;

let env: TestEnv;
let hub: StreamHub;
let server: ServerType;
let base: string;

function rcaToken(incident: string, i: number, text = `token ${i} `): SentinelEvent {
  return createEvent(
    'sentinel.rca.token.v1',
    { incidentId: incident, analysisId: `an-${incident}`, seq: i, text },
    analyst,
    { correlationid: incident, subject: incident },
  );
}

function incidentOpened(incident: string): SentinelEvent {
  return createEvent(
    'sentinel.incident.opened.v1',
    {
      incidentId: incident,
      environment: 'prod',
      fingerprint: `fp-${incident}`,
      services: ['checkout'],
      suspects: ['checkout'],
      severity: 'critical',
      title: 'checkout is slow',
      signals: 2,
    },
    correlator,
    { correlationid: incident, subject: incident },
  );
}

/** Publishes and returns the event's stream sequence. */
async function publish(event: SentinelEvent): Promise<number> {
  return (await env.publisher.publish(event)).seq;
}

/** The sequences of the event frames (not notices) a client received. */
function seqs(messages: readonly SseMessage[]): number[] {
  return messages.filter((m) => m.id !== undefined).map((m) => Number(m.id));
}

function hasSeq(seq: number): (messages: readonly SseMessage[]) => boolean {
  return (messages) => messages.some((m) => m.id === String(seq));
}

function url(q: Record<string, string> = {}): string {
  const search = new URLSearchParams(q).toString();
  return `${base}/v1/stream${search === '' ? '' : `?${search}`}`;
}

before(async () => {
  env = await testEnv('gwstream');
  hub = new StreamHub({ bus: env.bus, log: env.log });
  const app = new Hono<GatewayEnv>();
  // Stands in for the gateway's authentication middleware.
  app.use(async (c, next) => {
    c.set('requestId', randomUUID());
    const h = c.req.header('authorization');
    c.set(
      'principal',
      h === TOKEN ? viewer : h === 'Bearer none' ? noScope : h === 'Bearer session' ? withSession : undefined,
    );
    await next();
  });
  app.onError((err, c) =>
    err instanceof HttpProblem ? problemResponse(err, c.get('requestId')) : c.text('unexpected', 500),
  );
  app.route(
    '/v1/stream',
    streamRoutes({
      bus: env.bus,
      log: env.log,
      hub,
      heartbeatMs: HEARTBEAT_MS,
      maxQueuedEvents: MAX_QUEUED_EVENTS,
      maxQueuedBytes: MAX_QUEUED_BYTES,
      cutGraceMs: 300,
      // Fifty clients of one stand-in principal (the per-person bound is tested on its own mount).
      maxStreamsPerPrincipal: 1000,
    }),
  );
  // A gateway whose hub has stopped (shutting down): the stream is unavailable.
  const stopped = new StreamHub({ bus: env.bus, log: env.log });
  await stopped.stop();
  app.route('/v1/stopped', streamRoutes({ bus: env.bus, log: env.log, hub: stopped }));
  // A person's session, live while `sessionLive` says so, checked every 100 ms.
  app.route(
    '/v1/sessioned',
    streamRoutes({
      bus: env.bus,
      log: env.log,
      hub,
      heartbeatMs: HEARTBEAT_MS,
      cutGraceMs: 300,
      revalidateMs: 100,
      maxStreamsPerPrincipal: 2,
      sessionActive: (sessionId, username) =>
        Promise.resolve(sessionId === 'sess-1' && username === 'vera' && sessionLive),
    }),
  );
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  if (!server.listening) await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await hub.stop();
  server.close();
  if ('closeAllConnections' in server) server.closeAllConnections();
  await env.close();
});

describe('gateway live stream', () => {
  test('stream - delivers every event, in order, to 50 clients at once', async () => {
    const incident = `inc-${randomUUID()}`;
    const before = (await streamClients.get()).values[0]?.value ?? 0;
    const clients = await Promise.all(
      Array.from({ length: 50 }, () => openSse(url({ incident }), { headers: auth })),
    );
    for (const c of clients) {
      assert.equal(c.status, 200);
      assert.match(c.headers.get('content-type') ?? '', /^text\/event-stream/);
    }
    const published: number[] = [];
    for (let i = 0; i < 100; i++) published.push(await publish(rcaToken(incident, i)));
    const last = published.at(-1) as number;
    await Promise.all(clients.map((c) => c.until(hasSeq(last), 15_000, `seq ${last}`)));
    for (const c of clients) {
      assert.deepEqual(seqs(c.messages), published);
      const first = c.messages[0] as SseMessage;
      assert.equal(first.event, 'sentinel.rca.token.v1');
      const envelope = JSON.parse(first.data) as SentinelEvent;
      assert.equal(envelope.correlationid, incident);
    }
    for (const c of clients) c.close();
    await eventually(
      async () => (((await streamClients.get()).values[0]?.value ?? 0) === before ? true : undefined),
      5000,
      'the clients gauge to return to its value before',
    );
  });

  test('stream - keeps only the events of the incident and the type patterns asked for', async () => {
    const a = `inc-${randomUUID()}`;
    const b = `inc-${randomUUID()}`;
    const byIncident = await openSse(url({ incident: a }), { headers: auth });
    const byType = await openSse(url({ type: 'rca.*' }), { headers: auth });
    const both = await openSse(url({ incident: a, type: 'incident.*,sentinel.rca.token.v1' }), {
      headers: auth,
    });
    const opened = await publish(incidentOpened(a));
    const otherOpened = await publish(incidentOpened(b));
    const started = await publish(
      createEvent(
        'sentinel.rca.started.v1',
        { incidentId: a, environment: 'prod', analysisId: `an-${a}`, analyst: 'llm' },
        analyst,
        { correlationid: a },
      ),
    );
    const tokenA = await publish(rcaToken(a, 0));
    const tokenB = await publish(rcaToken(b, 0));
    // The last event matches every filter, so once each client has it, it has had everything before it.
    const marker = await publish(rcaToken(a, 1));
    await Promise.all([byIncident, byType, both].map((c) => c.until(hasSeq(marker))));
    assert.deepEqual(seqs(byIncident.messages), [opened, started, tokenA, marker]);
    assert.deepEqual(seqs(byType.messages), [started, tokenA, tokenB, marker]);
    assert.ok(!seqs(byType.messages).includes(otherOpened));
    assert.deepEqual(seqs(both.messages), [opened, tokenA, marker]);
    for (const m of byIncident.messages) assert.equal((JSON.parse(m.data) as SentinelEvent).correlationid, a);
    for (const c of [byIncident, byType, both]) c.close();
  });

  test('stream - resumes with Last-Event-ID after a disconnect mid-stream: no gap, no duplicate', async () => {
    const incident = `inc-${randomUUID()}`;
    const total = 600;
    const first = await openSse(url({ incident }), { headers: auth });
    const published: number[] = [];
    let sent = 0;
    // Publishes keep flowing while the client drops and resumes, so the
    // replay/live hand-over happens under traffic.
    const publishing = (async () => {
      while (sent < total) {
        const batch = Array.from({ length: Math.min(10, total - sent) }, () => rcaToken(incident, sent++));
        for (const s of await Promise.all(batch.map(publish))) published.push(s);
      }
    })();
    await first.until((m) => m.length >= 100, 15_000, '100 events');
    first.close();
    await first.ended;
    const got1 = seqs(first.messages);
    const resumeFrom = got1.at(-1) as number;
    const second = await openSse(url({ incident }), { headers: auth, lastEventId: String(resumeFrom) });
    await second.until((m) => m.length >= 150, 15_000, '150 events after the resume');
    second.close();
    await second.ended;
    const got2 = seqs(second.messages);
    // The third resume narrows by one type pattern (the replay then filters at the server) and uses the query form.
    const third = await openSse(url({ incident, type: 'rca.token', lastEventId: String(got2.at(-1)) }), {
      headers: auth,
    });
    await publishing;
    published.sort((x, y) => x - y);
    const last = published.at(-1) as number;
    await third.until(hasSeq(last), 20_000, `seq ${last}`);
    third.close();
    const all = [...got1, ...got2, ...seqs(third.messages)];
    assert.equal(new Set(all).size, all.length, 'no event twice');
    assert.deepEqual(all, published);
  });

  test('stream - a Last-Event-ID older than the stream sends a gap notice, then the oldest events kept', async () => {
    const incident = `inc-${randomUUID()}`;
    const published: number[] = [];
    for (let i = 0; i < 6; i++) published.push(await publish(rcaToken(incident, i)));
    // Retention removed all but the last two events.
    await env.bus.jsm.streams.purge(env.bus.names.streams.events, { keep: 2 });
    const requested = (published[1] as number) + 1;
    const c = await openSse(url({ incident }), { headers: auth, lastEventId: String(requested - 1) });
    const live = await publish(rcaToken(incident, 6));
    await c.until(hasSeq(live));
    const gap = c.messages[0] as SseMessage;
    assert.equal(gap.event, 'gap');
    assert.equal(gap.id, undefined);
    assert.deepEqual(JSON.parse(gap.data), { requestedSeq: requested, firstSeq: published[4] });
    assert.deepEqual(seqs(c.messages), [published[4], published[5], live]);
    c.close();
  });

  test('stream - cuts off a client that never reads while a fast one receives everything', async () => {
    const incident = `inc-${randomUUID()}`;
    const cutBefore = await cutCount();
    const fast = await openSse(url({ incident }), { headers: auth });
    const clientsBefore = hub.clients;
    // A raw socket that sends its request and then never reads a byte.
    const slow = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await once(slow, 'connect');
    slow.pause();
    slow.write(
      `GET /v1/stream?incident=${incident} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${TOKEN}\r\nAccept: text/event-stream\r\n\r\n`,
    );
    const slowClosed = once(slow, 'close');
    await eventually(() => (hub.clients > clientsBefore ? true : undefined), 5000, 'the slow client to join');
    // 3 KiB tokens until the slow client's kernel buffers and queue are full.
    const published: number[] = [];
    const text = 'x'.repeat(3072);
    for (let i = 0; (await cutCount()) === cutBefore; i += 20) {
      assert.ok(i < 20_000, 'the slow client was never cut off');
      const batch = Array.from({ length: 20 }, (_, k) => rcaToken(incident, i + k, text));
      published.push(...(await Promise.all(batch.map(publish))));
    }
    // The slow client did not take even the final frame: its connection is closed.
    slow.resume();
    await slowClosed;
    published.sort((x, y) => x - y);
    const last = published.at(-1) as number;
    await fast.until(hasSeq(last), 30_000, `seq ${last} at the fast client`);
    assert.deepEqual(seqs(fast.messages), published);
    assert.equal(await cutCount(), cutBefore + 1);
    fast.close();
  });

  test('stream - sends a keep-alive comment on an idle connection', async () => {
    const c = await openSse(url({ incident: `inc-${randomUUID()}` }), { headers: auth });
    await c.until(() => c.parser.comments.includes('keep-alive'), HEARTBEAT_MS * 20, 'a keep-alive comment');
    assert.equal(c.messages.length, 0);
    assert.equal(c.parser.retryMs, 3000);
    c.close();
  });

  test('stream - refuses a request without a principal with a 401 problem, and one without the scope with 403', async () => {
    const anonymous = await openSse(url());
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('content-type'), 'application/problem+json');
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal(anonymous.problem?.status, 401);
    const unscoped = await openSse(url(), { headers: { authorization: 'Bearer none' } });
    assert.equal(unscoped.status, 403);
    assert.match(unscoped.headers.get('www-authenticate') ?? '', /scope="stream:read"/);
  });

  test('stream - answers 503 with Retry-After while its hub is unavailable', async () => {
    const c = await openSse(`${base}/v1/stopped`, { headers: auth });
    assert.equal(c.status, 503);
    assert.equal(c.headers.get('retry-after'), '5');
    assert.equal(c.problem?.type, 'urn:sentinel:problem:stream_unavailable');
  });

  test('stream - refuses a bad filter or resume point with a 400 problem', async () => {
    const bad: { q?: Record<string, string>; lastEventId?: string; why: string }[] = [
      { q: { type: 'rca' }, why: 'a pattern of one part' },
      { q: { type: 'rca.token.v1.x' }, why: 'a pattern of four parts' },
      { q: { type: 'RCA.token' }, why: 'upper case' },
      { q: { type: 'rca.>' }, why: 'a NATS wildcard' },
      { q: { type: 'telemetry.metrics' }, why: 'telemetry' },
      { q: { type: 'rca.token,' }, why: 'an empty pattern' },
      { q: { type: Array.from({ length: 9 }, () => 'rca.*').join(',') }, why: 'nine patterns' },
      { q: { incident: 'a b' }, why: 'a space in the incident' },
      { q: { incident: 'x'.repeat(129) }, why: 'a long incident id' },
      { q: { lastEventId: '-1' }, why: 'a negative sequence' },
      { q: { access_token: 'abc' }, why: 'a token in the query' },
      { lastEventId: 'abc', why: 'a Last-Event-ID that is no sequence' },
      { lastEventId: '99999999999999999999', why: 'a Last-Event-ID too large' },
    ];
    for (const b of bad) {
      const c = await openSse(url(b.q), {
        headers: auth,
        ...(b.lastEventId === undefined ? {} : { lastEventId: b.lastEventId }),
      });
      assert.equal(c.status, 400, b.why);
      assert.equal(c.headers.get('content-type'), 'application/problem+json', b.why);
      assert.equal(c.problem?.type, 'urn:sentinel:problem:invalid_request', b.why);
    }
  });
});

describe('gateway live stream - sessions', () => {
  test('stream - a session that ended anywhere ends its streams at the next check; one principal holds at most its bound', async () => {
    const at = `${base}/v1/sessioned`;
    const headers = { authorization: 'Bearer session' };
    const a = await openSse(at, { headers });
    const b = await openSse(at, { headers });
    assert.deepEqual([a.status, b.status], [200, 200]);
    const third = await openSse(at, { headers });
    assert.equal(third.status, 429);
    assert.equal(third.problem?.['type'], 'urn:sentinel:problem:too_many_streams');
    sessionLive = false;
    await Promise.all([a.ended, b.ended]);
    for (const c of [a, b])
      assert.deepEqual(
        c.messages.filter((m) => m.event === 'revoked').map((m) => m.data),
        [JSON.stringify({ reason: 'the session ended' })],
      );
    // Streams that ended no longer count against the bound.
    sessionLive = true;
    const again = await openSse(at, { headers });
    assert.equal(again.status, 200);
    again.close();
  });
});

async function cutCount(): Promise<number> {
  return (await streamClientsCut.get()).values.find((v) => v.labels.reason === 'overflow')?.value ?? 0;
}

export type { SseConnection };
