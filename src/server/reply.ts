// One choice's reply as it is generated: its text, its tool calls (read from the model's output by the
// request's tool format, engine/tools.ts) and what changed with each chunk, for OpenAI's streamed deltas
// (content pieces, then per call its id, type and name once, then argument fragments).
import type { ToolFormatKind } from '../engine/tools.js';
import { parseToolOutput } from '../engine/tools.js';
import type { FinishReason } from '../generate/generate.js';
import { randomId } from './http.js';

export interface ReplyCall {
  id: string;
  name: string;
  arguments: string;
  complete: boolean;
}

export interface CallDelta {
  index: number;
  /** id, type and name come with a call's first delta */
  id?: string;
  name?: string;
  arguments: string;
}

export interface ReplyDelta {
  content: string;
  calls: CallDelta[];
}

export const callId = (): string => `call_${randomId(12)}`;

export class Reply {
  /** the model's output as generated */
  raw = '';
  /** the reply's text so far (the raw output without tool calls) */
  content = '';
  readonly calls: ReplyCall[] = [];

  /** @param format the tool format to read calls in; undefined: the output is all text */
  constructor(readonly format: ToolFormatKind | undefined) {}

  push(text: string): ReplyDelta {
    this.raw += text;
    if (!this.format) {
      this.content += text;
      return { content: text, calls: [] };
    }
    const parsed = parseToolOutput(this.format, this.raw);
    let content = '';
    // content only grows; a reading that shrinks it (held-back tag text) is caught up with later
    if (parsed.content.length > this.content.length && parsed.content.startsWith(this.content)) {
      content = parsed.content.slice(this.content.length);
      this.content = parsed.content;
    }
    const calls: CallDelta[] = [];
    parsed.calls.forEach((c, index) => {
      const known = this.calls[index];
      if (!known) {
        const call = { id: callId(), name: c.name, arguments: c.arguments, complete: c.complete };
        this.calls.push(call);
        calls.push({ index, id: call.id, name: call.name, arguments: c.arguments });
        return;
      }
      known.complete = c.complete;
      if (c.arguments.length > known.arguments.length && c.arguments.startsWith(known.arguments)) {
        calls.push({ index, arguments: c.arguments.slice(known.arguments.length) });
        known.arguments = c.arguments;
      }
    });
    return { content, calls };
  }

  /**
   * At the end: a reply cut off (`length`) before any of its tool format could be read back (no call, no
   * text yet) keeps the model's raw output as its content instead of dropping it. Returns the content added.
   */
  finish(engine: FinishReason): string {
    if (!this.format || engine !== 'length' || this.calls.length > 0 || this.content !== '' || this.raw.trim() === '') return '';
    this.content = this.raw;
    return this.raw;
  }

  /** OpenAI's finish reason: tool_calls when the reply called tools and was not cut off. */
  finishReason(engine: FinishReason): 'stop' | 'length' | 'tool_calls' {
    if (engine === 'stop' && this.calls.length > 0) return 'tool_calls';
    return engine;
  }

  /** The message content: null when the reply is only tool calls. */
  messageContent(): string | null {
    if (this.calls.length === 0) return this.content;
    return this.content.trim() === '' ? null : this.content.trim();
  }
}
