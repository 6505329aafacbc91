/**
 * zod issues as the one-line findings the fleet reports: `path: problem`,
 * with the path written the way a person would point at the field
 * (`faults[0].params.mbPerS`).
 */
import type { z } from 'zod';

/** `expected one of a|b|c`, the wording every enum refusal uses. */
export function oneOf(values: readonly unknown[]): string {
  return `expected one of ${values.map(String).join('|')}`;
}

/** `faults[0].params.mbPerS` for `['faults', 0, 'params', 'mbPerS']`; `(root)` for the empty path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/** One finding per issue, worded for a person editing the file. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${formatPath(issue.path)}: ${describe(issue)}`);
}

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_union':
      // A discriminated union that found no option for the discriminator's value.
      if ('options' in issue && Array.isArray(issue.options)) return oneOf(issue.options);
      return 'matches none of the allowed shapes';
    case 'invalid_value':
      return oneOf(issue.values);
    case 'invalid_type':
      return issue.input === undefined ? `required (${issue.expected})` : `expected ${issue.expected}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    default:
      return issue.message;
  }
}
