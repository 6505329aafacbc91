/**
 * The shapes of what browsers send to the WebAuthn routes, checked with zod
 * before anything reads them, and the one way a route reads its JSON body.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { HttpProblem } from '../context.ts';
import type { GatewayEnv } from '../context.ts';
import { parseJsonText } from '../problem.ts';

const B64u = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url');
const Extensions = z.record(z.string().max(64), z.unknown()).refine((r) => Object.keys(r).length <= 16);
const Attachment = z.enum(['platform', 'cross-platform']).optional();

/** A `PublicKeyCredential` from `navigator.credentials.create`, JSON-encoded. */
export const RegistrationResponse = z.object({
  id: B64u(1024),
  rawId: B64u(1024),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: B64u(8192),
    attestationObject: B64u(65536),
    authenticatorData: B64u(65536).optional(),
    transports: z
      .array(z.enum(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']))
      .max(8)
      .optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: B64u(8192).optional(),
  }),
  authenticatorAttachment: Attachment,
  clientExtensionResults: Extensions.default({}),
});

/** A `PublicKeyCredential` from `navigator.credentials.get`, JSON-encoded. */
export const AuthenticationResponse = z.object({
  id: B64u(1024),
  rawId: B64u(1024),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: B64u(8192),
    authenticatorData: B64u(8192),
    signature: B64u(2048),
    userHandle: B64u(1024).optional(),
  }),
  authenticatorAttachment: Attachment,
  clientExtensionResults: Extensions.default({}),
});

/** The request's JSON body checked against `schema`; a 400 problem naming the issues otherwise. */
export async function bodyOf<S extends z.ZodType>(c: Context<GatewayEnv>, schema: S): Promise<z.infer<S>> {
  let raw: unknown;
  try {
    raw = parseJsonText(await c.req.text());
  } catch (err) {
    throw new HttpProblem(400, 'invalid_body', 'the body must be a JSON object', { cause: err });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new HttpProblem(400, 'invalid_body', 'the body does not match the expected shape', {
      extensions: {
        issues: parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })),
      },
    });
  return parsed.data;
}

/** A route parameter that is a plan id (as the event schemas bound it). */
export const PlanIdParam = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/);
