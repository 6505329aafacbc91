/**
 * The approval challenge binds one plan hash, one approver, one nonce and one
 * expiry; the wire schemas take what a browser sends and nothing hostile.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';
import { approvalChallenge, bindingText } from '../../governance/index.ts';
import type { ApprovalBinding } from '../../governance/index.ts';
import { AuthenticationResponse } from '../../gateway/webauthn/wire.ts';
import { SoftAuthenticator } from '../../runner/soft-authenticator.ts';

const binding = fc.record({
  planId: fc.string({ minLength: 1, maxLength: 40 }),
  planHash: fc.stringMatching(/^[0-9a-f]{64}$/),
  approver: fc.string({ minLength: 1, maxLength: 40 }).map((s) => `person:${s}`),
  nonce: fc.base64String({ minLength: 4, maxLength: 24 }),
  expiresAt: fc
    .date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) })
    .map((d) => d.toISOString()),
});
const FIELDS = ['planId', 'planHash', 'approver', 'nonce', 'expiresAt'] as const;

describe('webauthn approval challenge', () => {
  test('webauthn - the same binding always gives the same 32-byte challenge', () => {
    fc.assert(
      fc.property(binding, (b) => {
        const c = approvalChallenge(b);
        assert.equal(c, approvalChallenge({ ...b }));
        assert.equal(Buffer.from(c, 'base64url').length, 32);
      }),
    );
  });

  test('webauthn - changing any bound field changes the challenge', () => {
    fc.assert(
      fc.property(binding, binding, fc.constantFrom(...FIELDS), (a, b, field) => {
        fc.pre(a[field] !== b[field]);
        const changed: ApprovalBinding = { ...a, [field]: b[field] };
        assert.notEqual(approvalChallenge(changed), approvalChallenge(a));
      }),
    );
  });

  test('webauthn - the bound text cannot be forged by moving characters between fields', () => {
    const a = {
      planId: 'p',
      planHash: 'a'.repeat(64),
      approver: 'person:x","nonce":"y',
      nonce: 'z',
      expiresAt: 't',
    };
    const b = { ...a, approver: 'person:x', nonce: 'y","nonce":"z' };
    assert.notEqual(bindingText(a), bindingText(b));
  });
});

describe('webauthn wire schemas', () => {
  const key = new SoftAuthenticator({ rpId: 'localhost', origin: 'http://localhost' });

  test('webauthn - an assertion as a browser sends it is accepted and verifies', async () => {
    const options = { challenge: Buffer.alloc(32, 7).toString('base64url') };
    const registration = key.register({ ...options, user: { id: 'dXNlcg' } });
    assert.ok(registration.response.attestationObject.length > 0);
    const parsed = AuthenticationResponse.parse(key.assert(options));
    const reg = await verifyRegistrationResponse({
      response: registration,
      expectedChallenge: options.challenge,
      expectedOrigin: 'http://localhost',
      expectedRPID: 'localhost',
      requireUserVerification: true,
    });
    assert.ok(reg.verified);
    const result = await verifyAuthenticationResponse({
      response: parsed,
      expectedChallenge: options.challenge,
      expectedOrigin: 'http://localhost',
      expectedRPID: 'localhost',
      credential: reg.registrationInfo.credential,
      requireUserVerification: true,
    });
    assert.ok(result.verified);
  });

  test('webauthn - hostile or oversized assertions are refused by the schema', () => {
    const good = key.assert({ challenge: 'AAAA' });
    const hostile = [
      { ...good, type: 'password' },
      { ...good, id: 'not base64url!' },
      { ...good, response: { ...good.response, signature: 'A'.repeat(5000) } },
      { ...good, response: { ...good.response, clientDataJSON: undefined } },
      {
        ...good,
        clientExtensionResults: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])),
      },
      null,
      'response',
    ];
    for (const h of hostile)
      assert.equal(AuthenticationResponse.safeParse(h).success, false, JSON.stringify(h)?.slice(0, 80));
  });
});
