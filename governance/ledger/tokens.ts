/**
 * Token counting for calls whose API answer carried no usage (streams cut
 * short, servers that omit it). Counts are of the text alone: the few tokens
 * a chat format adds per message are not included, so they are a slight
 * undercount.
 */
import { getEncoding } from 'js-tiktoken';
import type { Tiktoken } from 'js-tiktoken';

export type TokenEncodingName = 'cl100k_base' | 'o200k_base';

const encoders = new Map<TokenEncodingName, Tiktoken>();

/**
 * The tokenizer of a model: `o200k_base` for gpt-4o*, gpt-4.1*, gpt-5* and
 * the o-series (o1, o3, o4-mini, ...), `cl100k_base` for everything else
 * (older OpenAI models, and a fair estimate for local ones). A provider
 * prefix (`openai/gpt-4o`) is ignored.
 */
export function encodingForModelName(model: string): TokenEncodingName {
  const m = model.toLowerCase().slice(model.lastIndexOf('/') + 1);
  return /^(gpt-4o|gpt-4\.1|gpt-5|o\d)/.test(m) ? 'o200k_base' : 'cl100k_base';
}

/** Number of tokens of `text` in the tokenizer of `model`. Special-token text counts as plain text. */
export function countTokens(text: string, model: string): number {
  if (text.length === 0) return 0;
  const name = encodingForModelName(model);
  let enc = encoders.get(name);
  if (enc === undefined) {
    // Building an encoder parses its whole rank table: do it once per process.
    enc = getEncoding(name);
    encoders.set(name, enc);
  }
  return enc.encode(text, [], []).length;
}
