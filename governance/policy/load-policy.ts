/**
 * Reading a policy file: the one place policy code does I/O.
 */
import { readFile } from 'node:fs/promises';
import defaultPolicyJson from './default-policy.json' with { type: 'json' };
import { PolicyError, PolicyErrorCode } from './errors.ts';
import { parsePolicy } from './policy-schema.ts';
import type { Policy } from './policy-schema.ts';

/**
 * Read and validate the policy in `file`. Throws a {@link PolicyError}:
 * `POLICY_UNREADABLE`, `POLICY_NOT_JSON`, or `POLICY_INVALID` naming each bad field.
 */
export async function loadPolicy(file: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new PolicyError(PolicyErrorCode.unreadable, file, `${file}: cannot read the policy`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new PolicyError(PolicyErrorCode.notJson, file, `${file}: the policy is not JSON (${why})`, {
      cause,
    });
  }
  return parsePolicy(json, file);
}

/** The local fleet's policy (`default-policy.json`), validated. */
export function defaultPolicy(): Policy {
  return parsePolicy(defaultPolicyJson, 'governance/policy/default-policy.json');
}
