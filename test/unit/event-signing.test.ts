/**
 * An event is taken as its signer's and nothing else: the certificate must be
 * the authority's (right key, audience, type, validity at the event's time),
 * the signature must hold over the exact bytes received, and the event must
 * name the certificate's role. Certificates are made here the way the token
 * authority makes them (EdDSA JWTs), with an in-memory key set.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { createEvent, encodeEvent } from '../../choreography/index.ts';
import type { AgentIdentity, EventProof, SentinelEvent } from '../../choreography/index.ts';
import { EVENTS_AUDIENCE, EventSigningKey, SignerVerifier, TokenType } from '../../governance/index.ts';

const ISSUER = 'http://localhost:18080';
const authority = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');

async function certificate(
  key: EventSigningKey,
  o: {
    signWith?: KeyObject;
    kid?: string;
    audience?: string;
    typ?: string;
    ttlS?: number;
    iatS?: number;
  } = {},
): Promise<string> {
  const iat = o.iatS ?? Math.floor(Date.now() / 1000);
  return new SignJWT({
    kind: 'agent',
    role: key.identity.role,
    scope: '',
    instance: key.identity.instance,
    signingKey: key.publicKey,
  })
    .setProtectedHeader({ alg: 'EdDSA', typ: o.typ ?? TokenType.signer, kid: o.kid ?? 'k1' })
    .setIssuer(ISSUER)
    .setSubject(`agent:${key.identity.role}/${key.identity.instance}`)
    .setAudience(o.audience ?? EVENTS_AUDIENCE)
    .setJti('00000000-0000-4000-8000-000000000000')
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + (o.ttlS ?? 3600))
    .sign(o.signWith ?? authority.privateKey);
}

const verifier = () =>
  new SignerVerifier({ issuer: ISSUER, keys: async () => new Map([['k1', { key: authority.publicKey }]]) });

async function signer(
  identity: AgentIdentity,
  o?: Parameters<typeof certificate>[1],
): Promise<EventSigningKey> {
  const key = new EventSigningKey(identity);
  key.certify(await certificate(key, o));
  return key;
}

function proposal(agent: AgentIdentity): SentinelEvent {
  const now = Date.now();
  return createEvent(
    'sentinel.anomaly.detected.v1',
    {
      environment: 'prod',
      service: 'checkout',
      stat: 'p99',
      signal: 'latency',
      series: { name: 'http_request_duration_seconds', labels: { service: 'checkout', quantile: '0.99' } },
      value: 1.2,
      baseline: 0.1,
      score: 0.8,
      direction: 'up',
      window: { startMs: now - 10_000, endMs: now },
      fingerprint: 'checkout:latency',
    },
    agent,
  );
}

/** What the consumer gets: the bytes sent, with the signature headers. */
function sent(key: EventSigningKey, event: SentinelEvent): { event: SentinelEvent; proof: EventProof } {
  const payload = encodeEvent(event);
  const signed = key.sign(event, payload);
  return { event, proof: { payload, ...(signed ?? {}) } };
}

const correlator = { role: 'correlator', instance: 'c-1' };

describe('signed events', () => {
  test('signing - an event signed by a process of the role it names verifies, whichever replica relays it', async () => {
    const key = await signer(correlator);
    const { event, proof } = sent(key, proposal(correlator));
    assert.equal(await verifier().refusal(event, proof), undefined);
    // Another replica of the role relays a row the first one wrote.
    const relayed = sent(key, proposal({ role: 'correlator', instance: 'c-2' }));
    assert.equal(await verifier().refusal(relayed.event, relayed.proof), undefined);
  });

  test('signing - an unsigned event, or one whose certificate is missing, is refused', async () => {
    const { event, proof } = sent(await signer(correlator), proposal(correlator));
    assert.match((await verifier().refusal(event, { payload: proof.payload })) ?? '', /not signed/);
    const { certificate: _c, ...noCert } = proof;
    assert.match((await verifier().refusal(event, noCert)) ?? '', /not signed/);
  });

  test("signing - a detector's signature over an event claiming the governor is refused, and the signer will not make one", async () => {
    const detector = await signer({ role: 'detector', instance: 'd-1' });
    const governor = { role: 'governor', instance: 'g-1' };
    assert.throws(
      () => detector.sign(proposal(governor), encodeEvent(proposal(governor))),
      /signs only its role's events/,
    );
    // Forged by hand: the detector's key over the bytes of an event naming the governor.
    const forged = proposal(governor);
    const payload = encodeEvent(forged);
    const asDetector = detector.sign({ ...forged, agent: 'detector/d-1' }, payload);
    assert.ok(asDetector);
    assert.match(
      (await verifier().refusal(forged, { payload, ...asDetector })) ?? '',
      /signed by detector\/d-1 but claims to come from governor\/g-1/,
    );
  });

  test('signing - any byte of the payload changed after signing breaks the signature', async () => {
    const key = await signer(correlator);
    const { event, proof } = sent(key, proposal(correlator));
    const v = verifier();
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const bytes = Buffer.from(proof.payload);
        const i = at % bytes.length;
        bytes[i] = (bytes[i] ?? 0) ^ xor;
        assert.notEqual(await v.refusal(event, { ...proof, payload: bytes }), undefined);
      }),
      { numRuns: 100 },
    );
  });

  test('signing - a certificate not made by the authority for events is refused', async () => {
    const event = proposal(correlator);
    const cases: [Parameters<typeof certificate>[1], RegExp][] = [
      [{ signWith: stranger.privateKey }, /signature verification failed/],
      [{ kid: 'unknown' }, /unknown key unknown/],
      [{ audience: 'sentinel-gateway' }, /aud/],
      [{ typ: TokenType.access }, /typ/],
    ];
    for (const [o, reason] of cases) {
      const { proof } = sent(await signer(correlator, o), event);
      assert.match((await verifier().refusal(event, proof)) ?? '', reason, JSON.stringify(o));
    }
  });

  test('signing - an event made after its certificate expired is refused; one made before and relayed later by a replica certified since is not', async () => {
    const expired = await signer(correlator, { iatS: Math.floor(Date.now() / 1000) - 7200, ttlS: 600 });
    const late = sent(expired, proposal(correlator));
    assert.match(
      (await verifier().refusal(late.event, late.proof)) ?? '',
      /after its signer certificate expired/,
    );
    // Written by a replica that crashed, relayed by one whose certificate is newer than the row.
    const relay = await signer({ role: 'correlator', instance: 'c-2' });
    const old = { ...proposal(correlator), time: new Date(Date.now() - 3_600_000).toISOString() };
    const relayed = sent(relay, old);
    assert.equal(await verifier().refusal(relayed.event, relayed.proof), undefined);
  });

  test('signing - an uncertified key signs nothing', () => {
    const key = new EventSigningKey(correlator);
    assert.equal(key.sign(proposal(correlator), encodeEvent(proposal(correlator))), undefined);
  });
});
