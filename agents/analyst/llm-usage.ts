/**
 * Token usage of one LLM call: the API's own numbers when it reports them,
 * otherwise a count with the cl100k_base tokenizer (bundled with js-tiktoken,
 * so counting never goes to the network).
 */
import { getEncoding } from 'js-tiktoken';
import type { Tiktoken } from 'js-tiktoken';

/** What one LLM call cost, reported through `onUsage` (and later the token ledger). */
export interface LlmUsage {
  /** The model that answered (a fallback's name when a fallback answered). */
  readonly model: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly latencyMs: number;
  /** Always false here: a semantic-cache hit never reaches the analyst's model call. */
  readonly cached: false;
  /** Whether the numbers came from the API (`'api'`) or were counted here (`'tokenizer'`). */
  readonly source: 'api' | 'tokenizer';
}

let encoder: Tiktoken | undefined;
function cl100k(): Tiktoken {
  encoder ??= getEncoding('cl100k_base');
  return encoder;
}

/** Tokens of a text with cl100k_base. */
export function countTokens(text: string): number {
  return cl100k().encode(text).length;
}

/**
 * Prompt tokens of a chat request, as OpenAI accounts them for chat models:
 * 3 per message plus its role and content, and 3 that prime the reply.
 */
export function countPromptTokens(
  messages: readonly { readonly role: string; readonly content: string }[],
): number {
  let n = 3;
  for (const m of messages) n += 3 + countTokens(m.role) + countTokens(m.content);
  return n;
}
