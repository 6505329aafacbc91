/**
 * The approval flow in a real Chromium: a virtual authenticator (Chrome
 * DevTools Protocol, through playwright-core) registers a key from the
 * console, signs in with it, and approves a plan the real governor asked
 * approvals for; the refusals a browser can provoke are refused.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { roles, startAgent } from '../../agents/index.ts';
import type { RunningAgent } from '../../agents/index.ts';
import { readEvents } from '../../choreography/index.ts';
import type { EventData } from '../../choreography/index.ts';
import { planHash } from '../../governance/index.ts';
import { ensureInstalled } from '../../deploy/index.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';
import { webauthnGatewayFixture } from '../support/gateway-app.ts';
import type { GatewayFixture } from '../support/gateway-app.ts';
import { publishPendingPlan } from '../support/pending-plan.ts';

const CHROMIUM = '/usr/bin/chromium';

describe('browser approval', () => {
  let env: TestEnv;
  /** The real gateway app (hardening, authentication, problems) with the WebAuthn routes and the console mounted. */
  let gw: GatewayFixture;
  let server: ServerType;
  let origin: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let governor: RunningAgent;
  /** Added to the gateway's clock, to expire a challenge without waiting. */
  let skewMs = 0;
  const tokens: Record<string, string> = {};

  const status = () => page.locator('#status');
  /** Waits until the console's status line matches `pattern`; fails with what it says instead. */
  const statusMatches = async (pattern: RegExp) => {
    try {
      // A locator, not a page-side function: the console's CSP forbids eval.
      await status().filter({ hasText: pattern }).waitFor({ timeout: 15_000 });
    } catch (err) {
      assert.fail(
        `the console says ${JSON.stringify(await status().textContent())}, not ${String(pattern)}: ${String(err)}`,
      );
    }
  };
  const signInWithToken = async (token: string) => {
    await page.goto(`${origin}/console/index.html`);
    await page.evaluate((t) => sessionStorage.setItem('sentinel.accessToken', t), token);
  };
  const eventsOf = async (type: string, planId: string) =>
    readEvents(env.bus, {
      stream: 'events',
      filter: type,
      where: (e) =>
        (e.data as { planId?: string; plan?: { planId: string } }).planId === planId ||
        (e.data as { plan?: { planId: string } }).plan?.planId === planId,
    });
  const waitForEvent = (type: string, planId: string) =>
    eventually(
      async () => {
        const events = await eventsOf(type, planId);
        return events.length > 0 ? events : undefined;
      },
      20_000,
      `${type} of ${planId}`,
    );

  /** Proposes a plan (the real governor asks for its approvals) and opens it in the console. */
  const openPlan = async (planId: string, service: string, riskTier: 'high' | 'critical' = 'high') => {
    const plan = await publishPendingPlan(env, {
      planId,
      service,
      action: 'rollback',
      riskTier,
      governed: true,
    });
    await waitForEvent('approval.requested', planId);
    await page.goto(`${origin}/console/approve.html?plan=${planId}`);
    try {
      await page.locator('#review').waitFor({ timeout: 15_000 });
    } catch (err) {
      assert.fail(
        `the plan did not open; the console says ${JSON.stringify(await status().textContent())}: ${String(err)}`,
      );
    }
    return plan;
  };

  before(async () => {
    // The origin (and so the app) is known once the socket listens.
    const gateway: { app?: GatewayFixture['app'] } = {};
    server = serve({
      fetch: (req) => gateway.app?.fetch(req) ?? new Response(null, { status: 503 }),
      hostname: '127.0.0.1',
      port: 0,
    });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    // http://localhost is a secure context, so WebAuthn works without TLS.
    origin = `http://localhost:${(server.address() as AddressInfo).port}`;
    // The agents verify approvals against the origin people reach the gateway at: this one.
    env = await testEnv('webauthnui', { SENTINEL_GATEWAY_ORIGIN: origin });
    // A fresh machine gets Chromium the way it gets the servers (SENTINEL_ALLOW_APT=1).
    await ensureInstalled(
      {
        title: 'Chromium (browser tests)',
        packageName: 'chromium',
        binaryHint: CHROMIUM,
        isInstalled: () => existsSync(CHROMIUM),
      },
      { allowApt: env.config.allowApt, log: { info: (m) => env.log.info(m), warn: (m) => env.log.warn(m) } },
    );
    gw = await webauthnGatewayFixture(env, { rpId: 'localhost', origin, now: () => Date.now() + skewMs });
    gateway.app = gw.app;
    tokens.alice = (await gw.person('approver', 'alice')).token;
    tokens.carol = (await gw.person('approver', 'carol')).token;
    const governorRole = roles.governor;
    assert.ok(governorRole !== undefined, 'the governor role exists');
    governor = await startAgent(await governorRole.load(env.config), {
      config: env.config,
      log: env.log,
      certify: env.certify,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    context = await browser.newContext();
    page = await context.newPage();
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'usb',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    }));
  });

  after(async () => {
    await browser?.close();
    await governor?.stop();
    await new Promise((resolve) => server?.close(resolve));
    await gw?.close();
    await env?.close();
  });

  test('browser - without its script the sign-in form submits nothing: no password in a URL, no request carrying it', async () => {
    const bare = await browser.newContext({ javaScriptEnabled: false });
    try {
      const p = await bare.newPage();
      const sent: string[] = [];
      p.on('request', (r) => sent.push(`${r.method()} ${r.url()} ${r.postData() ?? ''}`));
      await p.goto(`${origin}/console/index.html`);
      await p.fill('#username', 'alice');
      await p.fill('#password', 'correct horse battery staple');
      await p.press('#password', 'Enter');
      await p
        .locator('#signin-password')
        .click({ force: true, timeout: 2000 })
        .catch(() => undefined);
      await p.waitForTimeout(500);
      assert.equal(p.url(), `${origin}/console/index.html`);
      assert.ok(
        sent.every((r) => !r.includes('horse') && !r.includes('alice')),
        `nothing carried the credentials: ${sent.join('\n')}`,
      );
    } finally {
      await bare.close();
    }
  });

  test('browser - registers a key and signs in with it', async () => {
    await signInWithToken(tokens.alice as string);
    await page.reload();
    await page.click('#register-key');
    await statusMatches(/^Key registered/);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    await page.click('#signout');
    await statusMatches(/^Signed out\./);
    // Signed out at the gateway, not only forgotten by the tab: the session's token is refused.
    const me = await fetch(`${origin}/v1/me`, { headers: { authorization: `Bearer ${tokens.alice}` } });
    assert.equal(me.status, 401);
    // A discoverable passkey: no user name is typed or sent.
    await page.click('#signin-passkey');
    await statusMatches(/^Signed in with a passkey/);
    assert.equal(await page.locator('#who').textContent(), 'person:alice');
    // The rest of the suite acts in this new session.
    tokens.alice = (await page.evaluate(() => sessionStorage.getItem('sentinel.accessToken'))) ?? '';
  });

  test('browser - approves a plan the governor asked approval for, and the plan runs', async () => {
    const plan = await publishPendingPlan(env, {
      planId: 'plan-ui',
      action: 'rollback',
      riskTier: 'high',
      governed: true,
    });
    const [requested] = await waitForEvent('approval.requested', 'plan-ui');
    assert.equal((requested?.data as EventData<'sentinel.approval.requested.v1'>).planHash, planHash(plan));
    let grantBody: string | undefined;
    page.on('request', (r) => {
      if (r.url().endsWith('/v1/approvals/plan-ui/grant')) grantBody = r.postData() ?? undefined;
    });
    await page.goto(`${origin}/console/approve.html?plan=plan-ui`);
    await page
      .locator('#plan-hash')
      .filter({ hasText: /[0-9a-f]{64}/ })
      .waitFor({ state: 'attached', timeout: 15_000 })
      .catch(async (err: unknown) => {
        assert.fail(`the console says ${JSON.stringify(await status().textContent())}: ${String(err)}`);
      });
    assert.equal(await page.locator('#plan-hash').textContent(), planHash(plan));
    await page.click('#approve');
    await statusMatches(/^Approved \(1 of 1\)/);
    const [granted] = await waitForEvent('approval.granted', 'plan-ui');
    const d = granted?.data as EventData<'sentinel.approval.granted.v1'>;
    assert.equal(d.approver, 'person:alice');
    assert.equal(d.evidence?.userVerified, true);
    const [approved] = await waitForEvent('plan.approved', 'plan-ui');
    const a = approved?.data as EventData<'sentinel.plan.approved.v1'>;
    assert.deepEqual(
      a.approvals.map((x) => x.approver),
      ['person:alice'],
    );

    // The captured request, sent again: its challenge token was single-use.
    assert.ok(grantBody !== undefined, 'the grant request was captured');
    const replay = await page.evaluate(
      async ({ body }) => {
        const res = await fetch('/v1/approvals/plan-ui/grant', {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${sessionStorage.getItem('sentinel.accessToken') ?? ''}`,
          },
          body,
        });
        return {
          status: res.status,
          code: ((await res.json()) as { type?: string }).type?.split(':').at(-1),
        };
      },
      { body: grantBody },
    );
    assert.deepEqual(replay, { status: 401, code: 'token_replayed' });
    assert.equal((await eventsOf('approval.granted', 'plan-ui')).length, 1);
  });

  test('browser - an authenticator that cannot verify the user does not approve', async () => {
    await publishPendingPlan(env, {
      planId: 'plan-ui-uv',
      service: 'ledger',
      action: 'rollback',
      riskTier: 'high',
      governed: true,
    });
    await waitForEvent('approval.requested', 'plan-ui-uv');
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
    try {
      await page.goto(`${origin}/console/approve.html?plan=plan-ui-uv`);
      await page.locator('#review').waitFor({ timeout: 15_000 });
      await page.click('#approve');
      // Chromium itself refuses: the options require user verification.
      await statusMatches(/^NotAllowedError/);
      // A client that drops the requirement gets an assertion without the UV
      // flag signed, and the gateway refuses it.
      await page.route('**/v1/approvals/plan-ui-uv/challenge', async (route) => {
        const res = await route.fetch();
        const body = (await res.json()) as { options: { userVerification: string } };
        body.options.userVerification = 'discouraged';
        await route.fulfill({ response: res, json: body });
      });
      await page.reload();
      await page.locator('#review').waitFor({ timeout: 15_000 });
      await page.click('#approve');
      await statusMatches(/^user_verification_required: /);
    } finally {
      await page.unroute('**/v1/approvals/plan-ui-uv/challenge');
      await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });
    }
    assert.equal((await eventsOf('approval.granted', 'plan-ui-uv')).length, 0);
  });

  test('browser - the requester cannot approve their own plan', async () => {
    await publishPendingPlan(env, {
      planId: 'plan-ui-own',
      service: 'search',
      action: 'rollback',
      riskTier: 'high',
      requestedBy: 'person:carol',
      governed: true,
    });
    await waitForEvent('approval.requested', 'plan-ui-own');
    await signInWithToken(tokens.carol as string);
    await page.goto(`${origin}/console/approve.html?plan=plan-ui-own`);
    await statusMatches(/^requester_cannot_approve: /);
    assert.equal(await page.locator('#review').isHidden(), true);
  });
  test("browser - refuses plan A's approval sent as plan B's", async () => {
    await signInWithToken(tokens.alice as string);
    await publishPendingPlan(env, {
      planId: 'plan-ui-b',
      service: 'orders',
      action: 'rollback',
      governed: true,
    });
    await waitForEvent('approval.requested', 'plan-ui-b');
    await openPlan('plan-ui-a', 'cart');
    await page.route('**/v1/approvals/plan-ui-a/grant', (route) =>
      route.continue({ url: `${origin}/v1/approvals/plan-ui-b/grant` }),
    );
    try {
      await page.click('#approve');
      await statusMatches(/^challenge_mismatch: /);
    } finally {
      await page.unroute('**/v1/approvals/plan-ui-a/grant');
    }
    assert.equal((await eventsOf('approval.granted', 'plan-ui-b')).length, 0);
  });

  test('browser - refuses an assertion whose signature was tampered with', async () => {
    await openPlan('plan-ui-sig', 'inventory');
    await page.route('**/v1/approvals/plan-ui-sig/grant', async (route) => {
      const body = route.request().postDataJSON() as { response: { response: { signature: string } } };
      const sig = Buffer.from(body.response.response.signature, 'base64url');
      sig[sig.length - 1] = (sig.at(-1) ?? 0) ^ 0x01;
      body.response.response.signature = sig.toString('base64url');
      await route.continue({ postData: JSON.stringify(body) });
    });
    try {
      await page.click('#approve');
      await statusMatches(/^assertion_invalid: /);
    } finally {
      await page.unroute('**/v1/approvals/plan-ui-sig/grant');
    }
    assert.equal((await eventsOf('approval.granted', 'plan-ui-sig')).length, 0);
  });

  test('browser - refuses an expired challenge', async () => {
    await openPlan('plan-ui-late', 'shipping');
    skewMs = 121_000;
    try {
      await page.click('#approve');
      await statusMatches(/^challenge_expired: /);
    } finally {
      skewMs = 0;
    }
    assert.equal((await eventsOf('approval.granted', 'plan-ui-late')).length, 0);
  });

  test('browser - a cloned key with an older counter is refused and raised as a security alert', async () => {
    await openPlan('plan-ui-clone', 'billing');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    const original = credentials[0];
    assert.ok(original !== undefined);
    // The clone: the same private key, its counter from before the last uses.
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: original.credentialId });
    await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...original, signCount: 0 } });
    try {
      await page.click('#approve');
      await statusMatches(/^counter_regression: /);
    } finally {
      await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: original.credentialId });
      await cdp.send('WebAuthn.addCredential', {
        authenticatorId,
        credential: { ...original, signCount: original.signCount + 1 },
      });
    }
    const alerts = await eventually(async () => {
      const events = await readEvents(env.bus, { stream: 'events', filter: 'security.alert' });
      const found = events.filter((e) => (e.data as { kind: string }).kind === 'counter_regression');
      return found.length > 0 ? found : undefined;
    });
    assert.equal((alerts[0]?.data as { principal?: string }).principal, 'person:alice');
    assert.equal((await eventsOf('approval.granted', 'plan-ui-clone')).length, 0);
  });

  test('browser - one person cannot give both approvals of a critical plan', async () => {
    await openPlan('plan-ui-critical', 'vault', 'critical');
    await page.click('#approve');
    await statusMatches(/^Approved \(1 of 2\)/);
    await page.reload();
    await statusMatches(/^already_approved: /);
    assert.equal((await eventsOf('approval.granted', 'plan-ui-critical')).length, 1);
    assert.equal((await eventsOf('plan.approved', 'plan-ui-critical')).length, 0);
  });
});
