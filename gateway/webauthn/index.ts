/**
 * WebAuthn at the gateway: passkeys and hardware keys of people (register,
 * sign in), step-up approvals of plans bound to each plan's hash, and the
 * console pages that drive them from a browser. The integrator mounts
 * {@link webauthnRoutes} at `/v1` (behind authentication; the
 * `/v1/webauthn/authentication/*` routes are public) and
 * {@link consoleRoutes} at `/console` (public).
 */
import { Hono } from 'hono';
import type { GatewayEnv } from '../context.ts';
import { addApprovalRoutes } from './approval-routes.ts';
import type { WebAuthnDeps } from './deps.ts';
import { addPasskeyRoutes } from './passkey-routes.ts';
import { lazyStores, openWebAuthnStores } from './stores.ts';

/**
 * The WebAuthn routes: `POST /webauthn/registration/{options,verify}`,
 * `POST /webauthn/authentication/{options,verify}`, and
 * `POST /approvals/{planId}/{challenge,grant,deny}`. The stores are migrated
 * and opened on the first request.
 */
export function webauthnRoutes(deps: WebAuthnDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  const stores = lazyStores(() => openWebAuthnStores(deps));
  addPasskeyRoutes(app, deps, stores);
  addApprovalRoutes(app, deps, stores);
  return app;
}

export { MAX_APPROVAL_CHALLENGE_TTL_S } from './approval-routes.ts';
export { ChallengeStore } from './challenge-store.ts';
export { consoleRoutes } from './console-routes.ts';
export { openWebAuthnStores } from './stores.ts';

export type { CeremonyPurpose } from './challenge-store.ts';
export type { AccountDirectory, SecurityRecorder, TokenIssuer, WebAuthnDeps } from './deps.ts';
export type { PendingApproval } from './pending-approval.ts';
export type { WebAuthnStores } from './stores.ts';
