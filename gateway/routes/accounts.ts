/**
 * Administration: people's accounts and the signing keys. Every route here
 * needs an admin scope; a role change, a disabling and a key rotation are in
 * the security log.
 */
import type { Hono } from 'hono';
import { requireScope } from '../context.ts';
import { HttpProblem } from '../context.ts';
import type { GatewayEnv } from '../context.ts';
import type { Account } from '../../governance/index.ts';
import type { GatewayDeps } from '../deps.ts';
import { clientIp } from '../hardening.ts';
import { jsonBody, params, query } from '../problem.ts';
import {
  AccountParams,
  CreateAccountBody,
  EmptyQuery,
  ListAccountsQuery,
  PatchAccountBody,
} from '../schemas.ts';

/** An account as the API shows it: never a password hash (the store does not return one anyway). */
function view(a: Account) {
  return {
    id: a.id,
    username: a.username,
    displayName: a.displayName,
    role: a.role,
    disabled: a.disabled,
    createdAt: a.createdAt,
  };
}

/** `/v1/accounts`, `/v1/accounts/{username}`, `/v1/keys/rotate`. */
export function accountRoutes(app: Hono<GatewayEnv>, deps: GatewayDeps): void {
  app.post('/v1/accounts', async (c) => {
    requireScope(c, 'accounts:admin');
    const body = await jsonBody(c, CreateAccountBody);
    const account = await deps.accounts.create(body);
    return c.json(view(account), 201, { Location: `/v1/accounts/${account.username}` });
  });

  app.get('/v1/accounts', async (c) => {
    requireScope(c, 'accounts:admin');
    const q = query(c, ListAccountsQuery);
    const all = (await deps.accounts.list()).sort((a, b) => a.username.localeCompare(b.username));
    const after = q.after;
    const page = all.filter((a) => after === undefined || a.username > after).slice(0, q.limit);
    const last = page.at(-1);
    const more = last !== undefined && all.some((a) => a.username > last.username);
    return c.json({ accounts: page.map(view), ...(more ? { next: last.username } : {}) });
  });

  app.patch('/v1/accounts/:username', async (c) => {
    const p = requireScope(c, 'accounts:admin');
    const { username } = params(c, AccountParams);
    const body = await jsonBody(c, PatchAccountBody);
    if ((await deps.accounts.get(username)) === undefined)
      throw new HttpProblem(404, 'account_unknown', `no account ${username}`);
    if (body.role !== undefined) await deps.accounts.setRole(username, body.role);
    if (body.disabled === true) await deps.accounts.disable(username);
    // Sessions end: a downgraded or disabled person must not keep acting on the old grant until expiry.
    const ended = await deps.accounts.revokeSessions(username);
    deps.sessionEnds?.ended({ username, reason: 'the account changed' });
    await deps.securityLog.record({
      kind: 'session_revoked',
      principal: p.subject,
      detail: `account ${username} changed (${Object.keys(body).join(', ')}); ${ended} session(s) ended`,
      ip: clientIp(c),
      requestId: c.get('requestId'),
    });
    const account = await deps.accounts.get(username);
    if (account === undefined) throw new HttpProblem(404, 'account_unknown', `no account ${username}`);
    return c.json(view(account));
  });

  app.post('/v1/keys/rotate', async (c) => {
    const p = requireScope(c, 'keys:rotate');
    query(c, EmptyQuery);
    const r = await deps.tokens.rotate();
    await deps.securityLog.record({
      kind: 'key_rotated',
      principal: p.subject,
      detail: `signing key rotated to ${r.activeKid}${r.retiringKid === undefined ? '' : `, ${r.retiringKid} retiring`}`,
      ip: clientIp(c),
      requestId: c.get('requestId'),
    });
    return c.json({ activeKid: r.activeKid, retiringKid: r.retiringKid ?? null });
  });
}
