// Input cost bounded before it is paid. A prompt longer than a slot's context is refused, and finding that
// out must not cost more than the context is worth:
// * bytes first: a token stands for at most `maxTokenBytes` UTF-8 bytes of text (the longest token of the
//   vocabulary, special token texts included), so text above n_ctx * maxTokenBytes bytes is more than n_ctx
//   tokens whatever it says: 400 without tokenizing. Chat requests are also refused above n_ctx messages
//   (every message costs at least one token of template markup) before their messages are validated.
// * tokenization stops at n_ctx + 1 tokens (EncodeOptions.maxTokens), and runs in slices of a few ms
//   (encodeSegmentsAsync), so /health and other requests are answered in between.
// * admission: at most slots + queue tokenizations at once (the scheduler's own bound on waiting work),
//   beyond that 429, for generation and /tokenize alike.
// Refusals are counted by reason for /metrics.
import type { BitnetModel } from '../engine/model.js';
import type { TextSegment } from '../tokenizer/tokenizer.js';
import { ApiError } from './errors.js';

export type RefusalReason = 'context_length_exceeded' | 'request_too_large' | 'too_many_messages' | 'busy';

export class InputLimits {
  /** UTF-8 bytes above which a text is surely more than `contextSize` tokens */
  readonly maxBytes: number;
  private active = 0;

  constructor(
    readonly model: BitnetModel,
    readonly contextSize: number,
    /** tokenizations at once; more are 429 */
    readonly maxActive: number,
    private readonly refused: (reason: RefusalReason) => void,
  ) {
    this.maxBytes = contextSize * model.tokenizer.maxTokenBytes;
  }

  /** 400 when `bytes` of text cannot fit the context. */
  checkBytes(bytes: number, param: string | null): void {
    if (bytes > this.maxBytes) throw this.tooLong(param, `is ${bytes} bytes of text, more than the context of ${this.contextSize} tokens can hold (at most ${this.model.tokenizer.maxTokenBytes} bytes a token)`);
  }

  /** 400 when a chat has more messages than the context has tokens. */
  checkMessages(count: number, param: string): void {
    if (count > this.contextSize) {
      this.refused('too_many_messages');
      throw new ApiError(400, `${param}: ${count} messages cannot fit the context of ${this.contextSize} tokens`, 'invalid_request_error', param, 'context_length_exceeded');
    }
  }

  /**
   * Tokenizes in slices, stopping past the context; 400 when the text is longer than the context, 429 when
   * too many tokenizations are running. `limit` (default the context) is what the result may hold.
   */
  async encode(segments: readonly TextSegment[], opts: { addBos: boolean; param: string | null; limit?: number; signal?: AbortSignal }): Promise<number[]> {
    let bytes = 0;
    for (const s of segments) bytes += Buffer.byteLength(s.text);
    this.checkBytes(bytes, opts.param);
    const limit = opts.limit ?? this.contextSize;
    const ids = await this.admit(() => this.model.tokenizer.encodeSegmentsAsync(segments, { addBos: opts.addBos, maxTokens: limit, ...(opts.signal ? { signal: opts.signal } : {}) }));
    if (ids.length > limit) throw this.tooLong(opts.param, `is longer than the context of ${limit} tokens`);
    return ids;
  }

  /** Runs `fn` if fewer than maxActive are running, else 429. */
  async admit<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.maxActive) {
      this.refused('busy');
      throw new ApiError(429, `${this.active} prompts are being tokenized; try again shortly`, 'rate_limit_error', null, 'busy', { 'Retry-After': '1' });
    }
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
    }
  }

  private tooLong(param: string | null, what: string): ApiError {
    this.refused('context_length_exceeded');
    return new ApiError(400, `${param ?? 'the prompt'} ${what}`, 'invalid_request_error', param, 'context_length_exceeded');
  }
}
