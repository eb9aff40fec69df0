// Token logprobs in OpenAI's two shapes: chat's choices[].logprobs.content[{token, logprob, bytes,
// top_logprobs}] and the legacy completions shape {tokens, token_logprobs, top_logprobs (dicts),
// text_offset}. Values come from the engine: log-softmax of the raw logits (generate/generate.ts).
import type { TokenLogprob } from '../generate/generate.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

const tokenText = (t: Tokenizer, id: number): string => t.decode([id]);
const tokenBytes = (t: Tokenizer, id: number): number[] => Array.from(t.tokenBytes(id));

/** One generated token in chat's shape. */
export function chatLogprob(t: Tokenizer, lp: TokenLogprob): ChatTokenLogprob {
  return {
    token: tokenText(t, lp.token),
    logprob: lp.logprob,
    bytes: tokenBytes(t, lp.token),
    top_logprobs: lp.top.map((x) => ({ token: tokenText(t, x.token), logprob: x.logprob, bytes: tokenBytes(t, x.token) })),
  };
}

export interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

/**
 * Builds the legacy shape token by token. `text_offset` is each token's character offset in the choice's
 * text (the echoed prompt included), as the tokens decode one after another (special tokens take no room:
 * the text has none).
 */
export class LegacyLogprobsBuilder {
  readonly out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  private offset: number;
  private readonly decoder;

  constructor(
    private readonly tokenizer: Tokenizer,
    startOffset = 0,
  ) {
    this.offset = startOffset;
    this.decoder = tokenizer.createStreamDecoder({ skipSpecial: true });
  }

  /** A token with its logprob (null: the prompt's first token, which has none). */
  add(token: number, lp: TokenLogprob | null): void {
    const t = this.tokenizer;
    this.out.tokens.push(tokenText(t, token));
    this.out.text_offset.push(this.offset);
    this.offset += this.decoder.push(token).length;
    if (!lp) {
      this.out.token_logprobs.push(null);
      this.out.top_logprobs.push(null);
      return;
    }
    this.out.token_logprobs.push(lp.logprob);
    // OpenAI: the top alternatives and always the chosen token (up to logprobs + 1 entries)
    const top: Record<string, number> = {};
    for (const x of lp.top) top[tokenText(t, x.token)] ??= x.logprob;
    top[tokenText(t, token)] ??= lp.logprob;
    this.out.top_logprobs.push(top);
  }

  /** The entries added since `from` (for streamed chunks). */
  since(from: number): LegacyLogprobs {
    return {
      tokens: this.out.tokens.slice(from),
      token_logprobs: this.out.token_logprobs.slice(from),
      top_logprobs: this.out.top_logprobs.slice(from),
      text_offset: this.out.text_offset.slice(from),
    };
  }

  get length(): number {
    return this.out.tokens.length;
  }
}
