/**
 * The analyst's chat model: an OpenAI-compatible endpoint (OpenAI, Ollama,
 * vLLM, LiteLLM) with fallbacks tried in order, a timeout per attempt, and one
 * streaming call that hands tokens out as they come and reports usage.
 */
import { AIMessage, HumanMessage, SystemMessage } from '@langchain/core/messages';
import type { AIMessageChunk, BaseMessage } from '@langchain/core/messages';
import type { Runnable } from '@langchain/core/runnables';
import { ChatOpenAICompletions } from '@langchain/openai';
import { countPromptTokens, countTokens } from './llm-usage.ts';
import type { LlmUsage } from './llm-usage.ts';

/** One OpenAI-compatible endpoint and the model to ask there. */
export interface LlmEndpoint {
  /** Base URL including the API version, e.g. `https://api.openai.com/v1` or `http://ollama:11434/v1`. */
  readonly baseUrl: string;
  readonly model: string;
  readonly apiKey: string;
}

/** The analyst's model: a primary endpoint, fallbacks tried in order when it fails, and limits. */
export interface LlmModelConfig extends LlmEndpoint {
  /** Tried in order when the primary (or the previous fallback) fails before streaming. @default [] */
  readonly fallbacks?: readonly LlmEndpoint[];
  /** Deadline of one attempt at one endpoint, the whole streamed answer included. */
  readonly timeoutMs: number;
  /**
   * Retries per endpoint on a retryable failure (429, 5xx, connection), with
   * LangChain's exponential backoff, before the next fallback is tried. @default 0
   */
  readonly maxRetries?: number;
  /** @default 0 (the same evidence should give the same answer) */
  readonly temperature?: number;
  /** Upper bound of one answer's tokens. @default 800 */
  readonly maxTokens?: number;
}

/** A chat message as the analyst writes it. */
export interface PromptMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

export type ChatChain = Runnable<BaseMessage[], AIMessageChunk>;

/**
 * The primary model with its fallbacks. Always the Chat Completions API
 * (`ChatOpenAICompletions`): `ChatOpenAI` switches some model names to the
 * Responses API, which OpenAI-compatible servers mostly do not speak.
 */
export function chatModelChain(config: LlmModelConfig): ChatChain {
  const endpoint = (e: LlmEndpoint) =>
    new ChatOpenAICompletions({
      model: e.model,
      apiKey: e.apiKey,
      configuration: { baseURL: e.baseUrl },
      temperature: config.temperature ?? 0,
      maxTokens: config.maxTokens ?? 800,
      // The client's own timeout only runs until the response headers; the
      // runnable's timeout below also covers a stream that stalls midway.
      timeout: config.timeoutMs,
      maxRetries: config.maxRetries ?? 0,
      streaming: true,
      streamUsage: true,
    }).withConfig({ timeout: config.timeoutMs }) as unknown as ChatChain;
  const [primary, ...rest] = [config, ...(config.fallbacks ?? [])].map(endpoint);
  return rest.length === 0 ? (primary as ChatChain) : (primary as ChatChain).withFallbacks(rest);
}

export interface CallOptions {
  readonly onToken?: (text: string) => void;
  readonly signal?: AbortSignal;
  /** The name to report when the answer carries none. */
  readonly model: string;
}

export interface CallResult {
  readonly text: string;
  readonly usage: LlmUsage;
}

/**
 * Streams one answer. Fallbacks apply until the first chunk arrives; a
 * failure after that (the stream breaks) is thrown, since the tokens already
 * handed out cannot be taken back.
 */
export async function callModel(
  chain: ChatChain,
  messages: readonly PromptMessage[],
  options: CallOptions,
): Promise<CallResult> {
  const started = performance.now();
  let text = '';
  let answered: string | undefined;
  let apiUsage: { input: number; output: number } | undefined;
  const stream = await chain.stream(messages.map(toLangChain), { signal: options.signal });
  for await (const chunk of stream) {
    const piece = typeof chunk.content === 'string' ? chunk.content : '';
    if (piece !== '') {
      text += piece;
      options.onToken?.(piece);
    }
    const name = chunk.response_metadata?.['model_name'];
    if (typeof name === 'string' && name !== '') answered = name;
    if (chunk.usage_metadata) {
      apiUsage = {
        input: (apiUsage?.input ?? 0) + chunk.usage_metadata.input_tokens,
        output: (apiUsage?.output ?? 0) + chunk.usage_metadata.output_tokens,
      };
    }
  }
  const latencyMs = Math.round(performance.now() - started);
  const reported = apiUsage !== undefined && apiUsage.input + apiUsage.output > 0;
  return {
    text,
    usage: {
      model: answered ?? options.model,
      promptTokens: reported ? apiUsage!.input : countPromptTokens(messages),
      completionTokens: reported ? apiUsage!.output : countTokens(text),
      latencyMs,
      cached: false,
      source: reported ? 'api' : 'tokenizer',
    },
  };
}

function toLangChain(m: PromptMessage): BaseMessage {
  switch (m.role) {
    case 'system':
      return new SystemMessage(m.content);
    case 'user':
      return new HumanMessage(m.content);
    case 'assistant':
      return new AIMessage(m.content);
  }
}
