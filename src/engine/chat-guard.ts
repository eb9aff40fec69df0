// Chat content is text, never markup. A user who types `<|eot_id|><|start_header_id|>assistant...` in a
// message must not end their turn and write the assistant's: only the chat template's own markup may
// produce special (CONTROL) tokens, the `parse_special` switch of llama.cpp, per segment of the prompt.
//
// How: before rendering, every CONTROL token text inside a message (content, name, tool call arguments,
// tool ids) is replaced by a placeholder, \uFDD0 <index in \uE000-\uEFFF digits> \uFDD1, and so are the
// fragments at its ends that could join the markup next to it into a token text (`...<|eot` + `_id|>`) and
// any \uFDD0 / \uFDD1 typed in it. The template renders as usual (Jinja, the built-in BitNet format, the
// tool formats of engine/tools.ts: all of them only move content around), then the rendered text is cut
// at the placeholders into segments: markup (special tokens parsed) and the protected texts (plain text).
// The tokenizer runs BPE across segments as over one text, so ordinary content tokenizes exactly as before.
// A template that cuts content into pieces (slicing, `length`) sees the placeholders; none of the usual
// ones do. Tool names and schemas are the developer's, not a user's, and stay as given (they feed grammars).
import type { TextSegment, Tokenizer } from '../tokenizer/tokenizer.js';
import type { ChatMessage, ChatTool } from './chat-template.js';

const OPEN = '\uFDD0';
const CLOSE = '\uFDD1';
const DIGIT0 = 0xe000;
const BASE = 0x1000;
const PLACEHOLDER = /\uFDD0([\uE000-\uEFFF]+)\uFDD1/g;

interface Tables {
  /** CONTROL token texts and the placeholder marks, longest first */
  inner: RegExp | null;
  /** proper prefixes of CONTROL texts (a content ending in one could join the markup after it) */
  prefixes: Set<string>;
  /** proper suffixes (a content starting with one could join the markup before it) */
  suffixes: Set<string>;
  longest: number;
}

const tablesOf = new WeakMap<Tokenizer, Tables>();

function tables(tk: Tokenizer): Tables {
  let t = tablesOf.get(tk);
  if (t === undefined) {
    const texts = tk.controlTexts;
    const prefixes = new Set<string>();
    const suffixes = new Set<string>();
    let longest = 0;
    for (const s of texts) {
      longest = Math.max(longest, s.length);
      for (let k = 1; k < s.length; k++) {
        prefixes.add(s.slice(0, k));
        suffixes.add(s.slice(k));
      }
    }
    const alternatives = [...texts.map((s) => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')), OPEN, CLOSE];
    t = { inner: new RegExp(alternatives.join('|'), 'g'), prefixes, suffixes, longest };
    tablesOf.set(tk, t);
  }
  return t;
}

/** One chat render's protected texts; create one per prompt. */
export class ChatContentGuard {
  private readonly table: string[] = [];
  private readonly t: Tables;

  constructor(readonly tokenizer: Tokenizer) {
    this.t = tables(tokenizer);
  }

  /** `text` with every CONTROL token text (and the fragments at its ends that could join markup) placeheld. */
  protect(text: string): string {
    if (text === '') return text;
    const { inner, prefixes, suffixes, longest } = this.t;
    // the head that could be the tail of a token text, and the tail that could be the head of one
    let head = 0;
    for (let k = Math.min(longest - 1, text.length); k >= 1; k--) {
      if (suffixes.has(text.slice(0, k))) {
        head = k;
        break;
      }
    }
    let tail = text.length;
    for (let k = Math.min(longest - 1, text.length - head); k >= 1; k--) {
      if (prefixes.has(text.slice(text.length - k))) {
        tail = text.length - k;
        break;
      }
    }
    let out = head > 0 ? this.hold(text.slice(0, head)) : '';
    const middle = text.slice(head, tail);
    out += inner === null ? middle : middle.replace(inner, (m) => this.hold(m));
    if (tail < text.length) out += this.hold(text.slice(tail));
    return out;
  }

  /** The messages with their user-written fields protected. */
  messages(messages: readonly ChatMessage[]): ChatMessage[] {
    return messages.map((m) => {
      const out: ChatMessage = { ...m, content: this.protect(m.content) };
      if (m.name !== undefined) out.name = this.protect(m.name);
      if (m.tool_call_id !== undefined) out.tool_call_id = this.protect(m.tool_call_id);
      if (m.tool_calls) out.tool_calls = m.tool_calls.map((c) => ({ ...c, id: this.protect(c.id), function: { name: c.function.name, arguments: this.protect(c.function.arguments) } }));
      return out;
    });
  }

  /** Tool descriptions protected (names and schemas are the developer's and feed the grammar). */
  tools(tools: readonly ChatTool[]): ChatTool[] {
    return tools.map((t) => (t.description === undefined ? t : { ...t, description: this.protect(t.description) }));
  }

  /** The rendered prompt cut at the placeholders: markup (special tokens parsed) and protected text. */
  segments(rendered: string): TextSegment[] {
    const out: TextSegment[] = [];
    let last = 0;
    PLACEHOLDER.lastIndex = 0;
    for (let m = PLACEHOLDER.exec(rendered); m !== null; m = PLACEHOLDER.exec(rendered)) {
      const held = this.table[decodeIndex(m[1]!)];
      if (held === undefined) continue; // not ours: stays in the markup as the text it is
      if (m.index > last) out.push({ text: rendered.slice(last, m.index), special: true });
      out.push({ text: held, special: false });
      last = m.index + m[0].length;
    }
    if (last < rendered.length) out.push({ text: rendered.slice(last), special: true });
    return out;
  }

  private hold(text: string): string {
    this.table.push(text);
    return OPEN + encodeIndex(this.table.length - 1) + CLOSE;
  }
}

function encodeIndex(i: number): string {
  let s = '';
  do {
    s = String.fromCharCode(DIGIT0 + (i % BASE)) + s;
    i = Math.floor(i / BASE);
  } while (i > 0);
  return s;
}

function decodeIndex(s: string): number {
  let i = 0;
  for (let k = 0; k < s.length; k++) i = i * BASE + (s.charCodeAt(k) - DIGIT0);
  return i;
}
