// Chat prompts: renders the model's chat_template with @huggingface/jinja. bitnet.cpp's converter writes a
// placeholder template (it contains "BITNET") that llama.cpp never runs; for it, and for models without a
// template, we use BitNet b1.58 2B4T's own format (spec 6.1):
// <|begin_of_text|>System: ...<|eot_id|>User: ...<|eot_id|>Assistant: ...<|eot_id|>Assistant:
// Messages may carry tool calls (assistant) and tool results (role "tool"); a Jinja template that uses the
// `tools` variable gets them as Hugging Face's templates expect, others get them through engine/tools.ts.
import { Template } from '@huggingface/jinja';
import { BitnetError } from '../errors.js';

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

/** A call the assistant made, in OpenAI's shape (`arguments` is JSON text). */
export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: ChatRole | (string & {});
  content: string;
  /** assistant messages: the tools it called */
  tool_calls?: readonly ChatToolCall[];
  /** tool messages: the call this is the result of */
  tool_call_id?: string;
  /** tool messages: the function's name */
  name?: string;
}

/** A function the model may call: name, description and a JSON Schema of its arguments. */
export interface ChatTool {
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
}

export interface ChatFormatter {
  /** 'jinja' (the model's template) or 'bitnet' (the built-in 2B4T format) */
  readonly kind: 'jinja' | 'bitnet';
  /** the Jinja source (tool formats are recognised from it) */
  readonly source?: string;
  /** the template renders tool definitions and tool calls itself (it uses the `tools` variable) */
  readonly usesTools: boolean;
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean, opts?: { tools?: readonly ChatTool[] }): string;
}

const ROLE_NAMES: Record<string, string> = { system: 'System', user: 'User', assistant: 'Assistant' };

export function bitnetChatFormat(bosText: string, eotText: string): ChatFormatter {
  return {
    kind: 'bitnet',
    usesTools: false,
    render(messages, addGenerationPrompt) {
      let out = bosText;
      for (const m of messages) {
        const role = ROLE_NAMES[m.role];
        // tool calls and results reach this format already written as text by engine/tools.ts
        if (!role) throw new BitnetError('CHAT_TEMPLATE', `unknown role "${m.role}" (expected system, user or assistant)`);
        out += `${role}: ${m.content}${eotText}`;
      }
      return addGenerationPrompt ? `${out}Assistant: ` : out;
    },
  };
}

export function jinjaChatFormat(source: string, vars: { bos_token: string; eos_token: string }): ChatFormatter {
  // a template that does not parse fails when rendered, not here: the model still loads for plain prompts
  let template: Template | undefined;
  let parseError: BitnetError | undefined;
  try {
    template = new Template(source);
  } catch (e) {
    parseError = new BitnetError('CHAT_TEMPLATE', `the chat template does not parse: ${(e as Error).message}`, { cause: e });
  }
  return {
    kind: 'jinja',
    source,
    usesTools: /\btools\b/.test(source),
    render(messages, addGenerationPrompt, opts = {}) {
      if (!template) throw parseError!;
      try {
        const tools = opts.tools?.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.parameters } }));
        return template.render({ messages: messages.map(jinjaMessage), add_generation_prompt: addGenerationPrompt, ...(tools?.length ? { tools } : {}), ...vars });
      } catch (e) {
        throw new BitnetError('CHAT_TEMPLATE', `the chat template failed to render: ${(e as Error).message}`, { cause: e });
      }
    },
  };
}

/** A message as Hugging Face's templates read it: tool call arguments as an object (templates `tojson` them). */
function jinjaMessage(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { ...m };
  if (m.tool_calls) {
    out.tool_calls = m.tool_calls.map((c) => {
      let args: unknown = c.function.arguments;
      try {
        args = JSON.parse(c.function.arguments);
      } catch {
        // not JSON: the template gets the text as it is
      }
      return { id: c.id, type: 'function', function: { name: c.function.name, arguments: args } };
    });
  }
  return out;
}

/** Picks the formatter for a model: its Jinja template, unless absent or bitnet.cpp's placeholder. */
export function chatFormatFor(template: string | undefined, tokens: { bos: string; eos: string; eot: string }): ChatFormatter {
  if (template === undefined || template.includes('BITNET')) return bitnetChatFormat(tokens.bos, tokens.eot);
  return jinjaChatFormat(template, { bos_token: tokens.bos, eos_token: tokens.eos });
}
