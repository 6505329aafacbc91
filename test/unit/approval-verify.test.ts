/**
 * An approval counts only when its own evidence proves it: a real WebAuthn
 * assertion, by a key the registry holds for the approver, answering the
 * challenge derived from this plan. Every way of bending one is refused with
 * a reason, and no reading of the registry is skipped.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ApprovalVerifier } from '../../governance/index.ts';
import type { ApprovalClaim, ApprovalRegistry, PersonRole } from '../../governance/index.ts';
import { SoftAuthenticator } from '../../runner/soft-authenticator.ts';
import type { AssertionOptions } from '../../runner/soft-authenticator.ts';
import { approvalClaim } from '../support/approvals.ts';

const ORIGIN = 'https://sentinel.example.com';
const RP_ID = 'sentinel.example.com';
const T0 = Date.parse('2026-12-01T12:00:00Z');
const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

interface Person {
  username: string;
  role: PersonRole;
  disabled: boolean;
}

/** A registry of one key per person, whose counters the test moves as a gateway would. */
function registry(people: Record<string, { key: SoftAuthenticator; person: Person; counter?: number }>) {
  const reads: string[] = [];
  const r: ApprovalRegistry = {
    credential: async (id) => {
      reads.push(`credential:${id}`);
      const entry = Object.entries(people).find(([, p]) => p.key.id === id);
      if (entry === undefined) return undefined;
      const [accountId, p] = entry;
      return { accountId, publicKey: p.key.publicKey, counter: p.counter ?? p.key.counter };
    },
    account: async (id) => {
      reads.push(`account:${id}`);
      return people[id]?.person;
    },
  };
  return { registry: r, reads };
}

/** An approval of `planId` by `approver`, signed by `key` as the gateway would publish it. */
function approval(
  key: SoftAuthenticator,
  o: {
    planId?: string;
    planHash?: string;
    approver?: string;
    ttlMs?: number;
    assertion?: AssertionOptions;
  } = {},
): ApprovalClaim {
  return approvalClaim(
    key,
    {
      planId: o.planId ?? 'plan-1',
      planHash: o.planHash ?? HASH_A,
      approver: o.approver ?? 'person:alice',
      expiresAt: new Date(T0 + (o.ttlMs ?? 120_000)).toISOString(),
    },
    o.assertion,
  );
}

function setup() {
  const alice = new SoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
  const bob = new SoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
  const vic = new SoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
  const { registry: reg, reads } = registry({
    'acct-alice': { key: alice, person: { username: 'alice', role: 'approver', disabled: false } },
    'acct-bob': { key: bob, person: { username: 'bob', role: 'admin', disabled: true } },
    'acct-vic': { key: vic, person: { username: 'vic', role: 'operator', disabled: false } },
  });
  return { alice, bob, vic, reads, verifier: new ApprovalVerifier({ registry: reg, origin: ORIGIN }) };
}

async function refused(verifier: ApprovalVerifier, claim: ApprovalClaim, reason: RegExp, atMs = T0 + 1000) {
  const v = await verifier.verify(claim, atMs);
  assert.equal(v.valid, false, `expected a refusal matching ${String(reason)}`);
  if (!v.valid) assert.match(v.reason, reason);
}

describe('approval verification', () => {
  test('approval verify - a real assertion of this plan by its approver verifies, from the registry key', async () => {
    const { alice, verifier, reads } = setup();
    assert.deepEqual(await verifier.verify(approval(alice), T0 + 1000), { valid: true });
    assert.deepEqual(reads, [`credential:${alice.id}`, 'account:acct-alice']);
  });

  test('approval verify - an approval without evidence, or without what its challenge was derived from, counts for nothing', async () => {
    const { alice, verifier } = setup();
    const { evidence, ...bare } = approval(alice);
    await refused(verifier, bare, /carries no WebAuthn evidence/);
    assert.ok(evidence);
    const { nonce: _n, ...noNonce } = evidence;
    await refused(verifier, { ...bare, evidence: noNonce }, /lacks the nonce and expiry/);
  });

  test('approval verify - a real assertion replayed for another plan, another hash or another approver is refused', async () => {
    const { alice, verifier } = setup();
    const real = approval(alice);
    await refused(verifier, { ...real, planId: 'plan-2' }, /challenge is not the one derived/);
    await refused(verifier, { ...real, planHash: HASH_B }, /challenge is not the one derived/);
    await refused(verifier, { ...real, approver: 'person:bob' }, /challenge is not the one derived/);
    // Its challenge recomputed for the other plan does not match what the key signed.
    const forOther = approval(alice, { planId: 'plan-2' });
    assert.ok(forOther.evidence && real.evidence);
    await refused(
      verifier,
      {
        ...forOther,
        evidence: {
          ...real.evidence,
          challenge: forOther.evidence.challenge,
          nonce: forOther.evidence.nonce,
        },
      },
      /does not verify/,
    );
  });

  test('approval verify - evidence altered by any one byte is refused', async () => {
    // Found by this property: a DER signature whose tag byte had its high bit flipped still verified.
    {
      const { alice, verifier } = setup();
      const real = approval(alice);
      assert.ok(real.evidence);
      const sig = Buffer.from(real.evidence.signature, 'base64url');
      sig[0] = (sig[0] ?? 0) ^ 0x80;
      await refused(
        verifier,
        { ...real, evidence: { ...real.evidence, signature: sig.toString('base64url') } },
        /strict DER/,
      );
    }
    const { alice, verifier } = setup();
    const real = approval(alice);
    const e = real.evidence;
    assert.ok(e);
    const fields = ['signature', 'authenticatorData', 'clientDataJSON'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...fields),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (field, at, xor) => {
          const bytes = Buffer.from(e[field], 'base64url');
          const i = at % bytes.length;
          bytes[i] = (bytes[i] ?? 0) ^ xor;
          const v = await verifier.verify(
            { ...real, evidence: { ...e, [field]: bytes.toString('base64url') } },
            T0 + 1000,
          );
          assert.equal(v.valid, false, `${field} byte ${i} ^ ${xor} still verified`);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('approval verify - a key registered to someone else, an unknown key, a disabled approver and a non-approver are refused', async () => {
    const { alice, bob, vic, verifier } = setup();
    // Bob's key signing an approval in Alice's name.
    await refused(verifier, approval(bob, { approver: 'person:alice' }), /not registered to person:alice/);
    const stranger = new SoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
    await refused(verifier, approval(stranger), /is not registered$/);
    await refused(verifier, approval(bob, { approver: 'person:bob' }), /disabled/);
    await refused(verifier, approval(vic, { approver: 'person:vic' }), /may not approve plans/);
    assert.deepEqual(await verifier.verify(approval(alice), T0 + 1000), { valid: true });
  });

  test('approval verify - an approval given after its challenge expired is refused', async () => {
    const { alice, verifier } = setup();
    const claim = approval(alice, { ttlMs: 60_000 });
    assert.deepEqual(await verifier.verify(claim, T0 + 60_000), { valid: true });
    await refused(verifier, claim, /after its challenge expired/, T0 + 60_001);
  });

  test('approval verify - no user verification, another origin or another relying party is refused', async () => {
    const { alice, verifier } = setup();
    await refused(verifier, approval(alice, { assertion: { userVerified: false } }), /verif/i);
    await refused(verifier, approval(alice, { assertion: { origin: 'https://evil.example' } }), /origin/i);
    const elsewhere = new SoftAuthenticator({ rpId: 'evil.example', origin: ORIGIN });
    const { registry: reg } = registry({
      'acct-alice': { key: elsewhere, person: { username: 'alice', role: 'approver', disabled: false } },
    });
    await refused(
      new ApprovalVerifier({ registry: reg, origin: ORIGIN }),
      approval(elsewhere),
      /RP ID|rpid/i,
    );
  });

  test('approval verify - a counter other than the one signed, or ahead of what a gateway accepted, is refused', async () => {
    const alice = new SoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
    const person = { username: 'alice', role: 'approver' as const, disabled: false };
    const claim = approval(alice, { assertion: { counter: 7 } });
    assert.ok(claim.evidence);
    const at = (counter: number) =>
      new ApprovalVerifier({
        registry: registry({ a: { key: alice, person, counter } }).registry,
        origin: ORIGIN,
      });
    assert.deepEqual(await at(7).verify(claim, T0), { valid: true });
    // A later approval moved the registry on: this one still verifies.
    assert.deepEqual(await at(9).verify(claim, T0), { valid: true });
    await refused(at(6), claim, /ahead of the registry's 6: no gateway accepted it/, T0);
    await refused(
      at(7),
      { ...claim, evidence: { ...claim.evidence, signCount: 8 } },
      /reports counter 8/,
      T0,
    );
  });
});
