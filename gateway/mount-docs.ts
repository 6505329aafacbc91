/**
 * The OpenAPI paths of the standard sub-apps (live stream, passkeys and
 * approvals, MCP), relative to their mount points, made from the same zod
 * schemas their routes validate with.
 */
import { z } from 'zod';
import type { OpenApiPaths } from './openapi.ts';
import { Deny, Grant } from './webauthn/approval-routes.ts';
import {
  AuthenticationOptions,
  VerifyAuthentication,
  VerifyRegistration,
} from './webauthn/passkey-routes.ts';

const problem = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
const problems = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { description: 'problem', content: problem }]));
const json = (schema: z.ZodType) => ({
  required: true,
  content: {
    'application/json': { schema: z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) },
  },
});
const ok = (description: string) => ({
  '200': { description, content: { 'application/json': { schema: { type: 'object' } } } },
});
const bearer = (scope?: string) => [{ bearer: scope === undefined ? [] : [scope] }];
const planId = [{ name: 'planId', in: 'path', required: true, schema: { type: 'string', maxLength: 128 } }];

/** Mounted at `/v1/stream`. */
export const streamDocs: OpenApiPaths = {
  '/': {
    get: {
      operationId: 'get_v1_stream',
      tags: ['stream'],
      summary: 'Live events over Server-Sent Events',
      description:
        'One SSE frame per event: `id` is the events stream sequence, `event` the type, `data` the envelope. Resume with `Last-Event-ID` (no gap, no duplicate); `event: gap` when the point was deleted; `event: overflow` ends a client that fell behind. A `: keep-alive` comment every 15 s.',
      'x-required-scope': 'stream:read',
      security: bearer('stream:read'),
      parameters: [
        { name: 'incident', in: 'query', schema: { type: 'string', maxLength: 128 } },
        {
          name: 'type',
          in: 'query',
          description: 'up to 8 type patterns, comma-separated',
          schema: { type: 'string' },
        },
        { name: 'lastEventId', in: 'query', schema: { type: 'integer', minimum: 0 } },
        { name: 'Last-Event-ID', in: 'header', schema: { type: 'integer', minimum: 0 } },
      ],
      responses: {
        '200': {
          description: 'the stream',
          content: { 'text/event-stream': { schema: { type: 'string' } } },
        },
        ...problems(400, 401, 403, 429, 503),
      },
    },
  },
};

/** Mounted at `/v1`. */
export const webauthnDocs: OpenApiPaths = {
  '/webauthn/registration/options': {
    post: {
      operationId: 'post_v1_webauthn_registration_options',
      tags: ['webauthn'],
      summary: 'Options to register a hardware key or passkey for the signed-in person',
      security: bearer(),
      responses: {
        ...ok('PublicKeyCredentialCreationOptions (user verification required)'),
        ...problems(401, 403),
      },
    },
  },
  '/webauthn/registration/verify': {
    post: {
      operationId: 'post_v1_webauthn_registration_verify',
      tags: ['webauthn'],
      summary: 'Register the key from its attestation',
      security: bearer(),
      requestBody: json(VerifyRegistration),
      responses: { ...ok('the credential registered'), ...problems(400, 401, 403, 409) },
    },
  },
  '/webauthn/authentication/options': {
    post: {
      operationId: 'post_v1_webauthn_authentication_options',
      tags: ['webauthn'],
      summary: 'Options to sign in with a passkey',
      description:
        'The same for every caller: a `username` may be sent (older consoles did) and is not looked at, so the answer tells nobody who has an account or a key; passkeys are discoverable. Each answer keeps a challenge until it is used or expires, so a client without a credential gets a few a second (429 beyond).',
      security: [],
      requestBody: { ...json(AuthenticationOptions), required: false },
      responses: { ...ok('PublicKeyCredentialRequestOptions'), ...problems(400, 429) },
    },
  },
  '/webauthn/authentication/verify': {
    post: {
      operationId: 'post_v1_webauthn_authentication_verify',
      tags: ['webauthn'],
      summary: 'Sign in with a passkey assertion: a session and an access token',
      security: [],
      requestBody: json(VerifyAuthentication),
      responses: { ...ok('{accessToken, expiresAt, sessionId}'), ...problems(400, 401, 403) },
    },
  },
  '/approvals/{planId}/challenge': {
    post: {
      operationId: 'post_v1_approvals_planId_challenge',
      tags: ['approvals'],
      summary: 'A WebAuthn challenge bound to the plan hash and the approver',
      description:
        'Refused to the requester and for an expired or decided request. Returns the plan to show, the WebAuthn request options and a single-use challenge token (at most 120 s).',
      'x-required-scope': 'approvals:write',
      security: bearer('approvals:write'),
      parameters: planId,
      responses: { ...ok('{plan, options, challengeToken, expiresAt}'), ...problems(401, 403, 404, 409) },
    },
  },
  '/approvals/{planId}/grant': {
    post: {
      operationId: 'post_v1_approvals_planId_grant',
      tags: ['approvals'],
      summary: 'Approve the plan with a WebAuthn assertion over its challenge',
      description:
        'The challenge token is single-use; the assertion must verify for the caller’s own credential with user verification, the plan hash must be unchanged, and the signature counter must not go backwards. Publishes `approval.granted` with the assertion as evidence.',
      'x-required-scope': 'approvals:write',
      security: bearer('approvals:write'),
      parameters: planId,
      requestBody: json(Grant),
      responses: { ...ok('the approval'), ...problems(400, 401, 403, 404, 409) },
    },
  },
  '/approvals/{planId}/deny': {
    post: {
      operationId: 'post_v1_approvals_planId_deny',
      tags: ['approvals'],
      summary: 'Deny the plan (publishes `approval.denied`)',
      'x-required-scope': 'approvals:write',
      security: bearer('approvals:write'),
      parameters: planId,
      requestBody: json(Deny),
      responses: { ...ok('the denial'), ...problems(400, 401, 403, 404, 409) },
    },
  },
};

/** Mounted at `/mcp`. */
export const mcpDocs: OpenApiPaths = {
  '/': {
    post: {
      operationId: 'post_mcp',
      tags: ['mcp'],
      summary: 'Model Context Protocol (Streamable HTTP, stateless, JSON-RPC)',
      description:
        'Tools: get_metrics, list_incidents, get_incident, get_root_cause, get_audit_trail (read scopes), propose_action (plans:propose; the governor decides, approvals are never skipped).',
      security: bearer(),
      requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
      responses: { ...ok('JSON-RPC response'), ...problems(400, 401, 413, 415) },
    },
  },
};
