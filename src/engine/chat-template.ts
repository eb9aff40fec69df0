// Chat prompts: renders the model's chat_template with @huggingface/jinja. bitnet.cpp's converter writes a
// placeholder template (it contains "BITNET") that llama.cpp never runs; for it, and for models without a
// template, we use BitNet b1.58 2B4T's own format (spec 6.1):
// <|begin_of_text|>System: ...<|eot_id|>User: ...<|eot_id|>Assistant: ...<|eot_id|>Assistant:
import { Template } from '@huggingface/jinja';
import { BitnetError } from '../errors.js';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole | (string & {});
  content: string;
}

export interface ChatFormatter {
  /** 'jinja' (the model's template) or 'bitnet' (the built-in 2B4T format) */
  readonly kind: 'jinja' | 'bitnet';
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string;
}

const ROLE_NAMES: Record<string, string> = { system: 'System', user: 'User', assistant: 'Assistant' };

export function bitnetChatFormat(bosText: string, eotText: string): ChatFormatter {
  return {
    kind: 'bitnet',
    render(messages, addGenerationPrompt) {
      let out = bosText;
      for (const m of messages) {
        const role = ROLE_NAMES[m.role];
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
    render(messages, addGenerationPrompt) {
      if (!template) throw parseError!;
      try {
        return template.render({ messages: messages.map((m) => ({ ...m })), add_generation_prompt: addGenerationPrompt, ...vars });
      } catch (e) {
        throw new BitnetError('CHAT_TEMPLATE', `the chat template failed to render: ${(e as Error).message}`, { cause: e });
      }
    },
  };
}

/** Picks the formatter for a model: its Jinja template, unless absent or bitnet.cpp's placeholder. */
export function chatFormatFor(template: string | undefined, tokens: { bos: string; eos: string; eot: string }): ChatFormatter {
  if (template === undefined || template.includes('BITNET')) return bitnetChatFormat(tokens.bos, tokens.eot);
  return jinjaChatFormat(template, { bos_token: tokens.bos, eos_token: tokens.eos });
}
