// POST /v1/responses, stateless: input (a string or message / function_call / function_call_output items),
// instructions, sampling, max_output_tokens, function tools and tool_choice, text.format; JSON or the
// Responses event stream (response.created ... response.completed, each with a sequence_number). No response
// is stored (store: true and previous_response_id are refused, fields.ts); the output items of recent
// responses are kept in memory only so that `item_reference` inputs (the AI SDK's default) can name them.
import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { z } from 'zod';
import type { ChatMessage } from '../engine/chat-template.js';
import type { ToolChoice } from '../engine/tools.js';
import type { GenerateOptions, GenerationStats } from '../generate/generate.js';
import { toolOptions } from './completions.js';
import { toApiError } from './errors.js';
import { badRequest, clientGone, json, randomId, readBody } from './http.js';
import { outputSpec, prepareChat } from './prompt.js';
import { Reply } from './reply.js';
import { launch, merged } from './run.js';
import { functionTool, samplingOptions } from './schemas.js';
import type { RouteContext } from './state.js';

const textPart = z.object({ type: z.enum(['input_text', 'output_text', 'text']), text: z.string() });
const textContent = z.union([z.string(), z.array(textPart)], { error: 'must be a string or a list of input_text parts' });
const messageItem = z.object({
  type: z.literal('message').optional(),
  role: z.enum(['user', 'system', 'developer', 'assistant'], { error: 'role must be user, system, developer or assistant' }),
  content: textContent,
});
const callItem = z.object({ type: z.literal('function_call'), call_id: z.string().max(256), name: z.string().max(256), arguments: z.string() });
const outputItem = z.object({ type: z.literal('function_call_output'), call_id: z.string().max(256), output: textContent });
const referenceItem = z.object({ type: z.literal('item_reference'), id: z.string().max(256) });

/** Output items kept for item_reference: the most recent ones, in memory, never written anywhere. */
export const KEPT_ITEMS = 4096;

const textFormat = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('text') }),
    z.object({ type: z.literal('json_object') }),
    z.object({ type: z.literal('json_schema'), name: z.string().max(256).nullish(), description: z.string().nullish(), schema: z.record(z.string(), z.unknown()), strict: z.boolean().nullish() }),
  ],
  { error: 'must be "text", "json_object" or "json_schema"' },
);

export const responsesRequest = z.object({
  model: z.string().max(1024).nullish(),
  input: z.union([z.string(), z.array(z.union([messageItem, callItem, outputItem, referenceItem])).min(1, 'must not be empty')], { error: 'must be a string or a list of items' }),
  instructions: z.string().nullish(),
  max_output_tokens: z.number().int().min(1).max(2 ** 31 - 1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stream: z.boolean().nullish(),
  tools: z.array(functionTool.extend({ type: z.literal('function') })).max(128).nullish(),
  tool_choice: z.union([z.enum(['auto', 'none', 'required']), z.object({ type: z.literal('function'), name: z.string() })], { error: 'must be "auto", "none", "required" or {"type": "function", "name": ...}' }).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  text: z.object({ format: textFormat.nullish(), verbosity: z.null({ error: 'verbosity is not supported (no verbosity control: set max_output_tokens)' }).optional() }).nullish(),
});
type ResponsesRequest = z.infer<typeof responsesRequest>;

const partsText = (c: z.infer<typeof textContent>): string => (typeof c === 'string' ? c : c.map((p) => p.text).join(''));

/**
 * Input items -> chat messages: consecutive function calls join one assistant message, outputs are tool
 * messages, references are replaced by the kept items they name.
 */
function inputMessages(r: ResponsesRequest, kept: ReadonlyMap<string, OutputItem>): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (r.instructions) out.push({ role: 'system', content: r.instructions });
  if (typeof r.input === 'string') return [...out, { role: 'user', content: r.input }];
  for (const [i, given] of r.input.entries()) {
    let item: Exclude<typeof given, { type: 'item_reference' }> | OutputItem;
    if (given.type === 'item_reference') {
      const found = kept.get(given.id);
      if (!found) throw badRequest(`input.${i}.id`, `no item "${given.id}": only the output items of this server's last ${KEPT_ITEMS} are kept (in memory); send the item itself`);
      item = found;
    } else item = given;
    if (item.type === 'message' && 'status' in item) {
      out.push({ role: 'assistant', content: item.content.map((p) => p.text).join('') });
      continue;
    }
    if (item.type === 'function_call') {
      const last = out[out.length - 1];
      const call = { id: item.call_id, type: 'function' as const, function: { name: item.name, arguments: item.arguments } };
      if (last?.role === 'assistant') last.tool_calls = [...(last.tool_calls ?? []), call];
      else out.push({ role: 'assistant', content: '', tool_calls: [call] });
    } else if (item.type === 'function_call_output') {
      out.push({ role: 'tool', content: partsText(item.output), tool_call_id: item.call_id });
    } else {
      out.push({ role: item.role === 'developer' ? 'system' : item.role, content: partsText(item.content) });
    }
  }
  return out;
}

type OutputItem =
  | { type: 'message'; id: string; status: string; role: 'assistant'; content: Array<{ type: 'output_text'; text: string; annotations: []; logprobs: [] }> }
  | { type: 'function_call'; id: string; call_id: string; name: string; arguments: string; status: string };

export async function responsesHandler(c: Context, ctx: RouteContext): Promise<Response> {
  const t0 = performance.now();
  const { model, scheduler, limits } = ctx.ready();
  const r = await readBody(c, responsesRequest, 'responses', (m) => (limits.checkMessages(m.items, 'input'), limits.checkBytes(Math.max(m.chatTextBytes, m.largestPromptBytes), 'input')));
  ctx.checkModel(r.model);
  const choice: ToolChoice | undefined = r.tool_choice == null ? undefined : typeof r.tool_choice === 'string' ? r.tool_choice : { name: r.tool_choice.name };
  const tools = toolOptions(r.tools ?? [], choice, r.parallel_tool_calls);
  const f = r.text?.format;
  const output = outputSpec(
    { response_format: f?.type === 'json_schema' ? { type: 'json_schema', json_schema: { schema: f.schema } } : f ? { type: f.type } : undefined },
    'text.format',
  );
  const prepared = await prepareChat(model, limits, inputMessages(r, ctx.state.responseItems as Map<string, OutputItem>), tools, output, { messages: 'input', tools: 'tools' });
  const opts: GenerateOptions = samplingOptions(r);
  if (r.max_output_tokens != null) opts.maxTokens = r.max_output_tokens;
  if (prepared.grammar) opts.grammar = prepared.grammar;

  // one lifetime for everything this request holds (completions.ts has the same)
  const life = ctx.life(c.req.raw.signal);
  let choices;
  try {
    choices = launch(scheduler, [prepared.tokens], { ...opts, signal: life.signal }, 1);
  } catch (e) {
    life.end();
    throw e;
  }
  life.defer(() => {
    for (const ch of choices) ch.handle.cancel();
  });
  const reply = new Reply(prepared.toolFormat);
  const id = `resp_${randomId()}`;
  const createdAt = Math.floor(Date.now() / 1000);
  let stats: GenerationStats | undefined;
  let first = true;
  const items: OutputItem[] = [];

  const response = (status: string) => ({
    id,
    object: 'response',
    created_at: createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: r.instructions ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    model: ctx.opts.modelId,
    output: items,
    parallel_tool_calls: tools.parallel,
    previous_response_id: null,
    reasoning: null,
    service_tier: 'default',
    store: false,
    temperature: r.temperature ?? null,
    text: { format: f ?? { type: 'text' } },
    tool_choice: r.tool_choice ?? (tools.tools.length ? 'auto' : 'none'),
    tools: (r.tools ?? []).map((t) => ({ type: 'function', name: t.name, description: t.description ?? null, parameters: t.parameters ?? {}, strict: t.strict ?? false })),
    top_p: r.top_p ?? null,
    truncation: 'disabled',
    usage: stats
      ? { input_tokens: stats.promptTokens, input_tokens_details: { cached_tokens: stats.cachedTokens }, output_tokens: stats.generatedTokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: stats.promptTokens + stats.generatedTokens }
      : null,
    user: null,
    metadata: {},
  });
  const keep = (): void => {
    const kept = ctx.state.responseItems;
    for (const item of items) kept.set(item.id, item);
    for (const k of kept.keys()) {
      if (kept.size <= KEPT_ITEMS) break;
      kept.delete(k);
    }
  };
  const finalStatus = (): string => (stats?.finishReason === 'length' ? 'incomplete' : 'completed');

  if (!r.stream) {
    try {
      for await (const { chunk } of merged(choices)) {
        if (first && chunk.tokens.length) ((first = false), ctx.firstToken(t0));
        reply.push(chunk.text);
        if (chunk.stats) stats = chunk.stats;
      }
    } catch (e) {
      if (life.clientGone && !ctx.state.draining) {
        return clientGone(c, ctx.log);
      }
      throw e;
    } finally {
      life.end();
    }
    if (stats) reply.finish(stats.finishReason);
    const text = reply.messageContent();
    if (text !== null && (text !== '' || reply.calls.length === 0)) {
      items.push({ type: 'message', id: `msg_${randomId()}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [], logprobs: [] }] });
    }
    for (const call of reply.calls) items.push({ type: 'function_call', id: `fc_${randomId()}`, call_id: call.id, name: call.name, arguments: call.arguments, status: 'completed' });
    keep();
    return json(c, response(finalStatus()));
  }

  return streamSSE(c, async (stream: SSEStreamingApi) => {
    let seq = 0;
    const emit = async (type: string, payload: Record<string, unknown>): Promise<void> => {
      await stream.writeSSE({ event: type, data: JSON.stringify({ type, sequence_number: seq++, ...payload }) });
    };
    stream.onAbort(() => life.leave());
    // a write blocked on a client that stopped reading returns (and fails) once the life has ended
    life.defer(() => stream.abort());
    // the item being written: a message (its text so far) or a function call (its arguments so far)
    let open: { index: number; item: OutputItem; text: string } | undefined;
    const close = async (): Promise<void> => {
      if (!open) return;
      const { index, item, text } = open;
      open = undefined;
      if (item.type === 'message') {
        const part = { type: 'output_text' as const, text, annotations: [] as [], logprobs: [] as [] };
        await emit('response.output_text.done', { item_id: item.id, output_index: index, content_index: 0, text, logprobs: [] });
        await emit('response.content_part.done', { item_id: item.id, output_index: index, content_index: 0, part });
        item.content = [part];
      } else {
        item.arguments = text;
        await emit('response.function_call_arguments.done', { item_id: item.id, output_index: index, name: item.name, arguments: text });
      }
      item.status = 'completed';
      await emit('response.output_item.done', { output_index: index, item });
    };
    const openItem = async (item: OutputItem): Promise<void> => {
      await close();
      items.push(item);
      open = { index: items.length - 1, item, text: '' };
      await emit('response.output_item.added', { output_index: open.index, item: item.type === 'message' ? { ...item, content: [] } : { ...item, arguments: '' } });
      if (item.type === 'message') await emit('response.content_part.added', { item_id: item.id, output_index: open.index, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
    };
    const addText = async (delta: string): Promise<void> => {
      if (open?.item.type !== 'message') await openItem({ type: 'message', id: `msg_${randomId()}`, status: 'in_progress', role: 'assistant', content: [] });
      open!.text += delta;
      await emit('response.output_text.delta', { item_id: open!.item.id, output_index: open!.index, content_index: 0, delta, logprobs: [] });
    };
    try {
      await emit('response.created', { response: response('in_progress') });
      await emit('response.in_progress', { response: response('in_progress') });
      for await (const { chunk } of merged(choices)) {
        if (first && chunk.tokens.length) ((first = false), ctx.firstToken(t0));
        const delta = reply.push(chunk.text);
        // text before any call; text between native-format calls is whitespace and not an item of its own
        if (delta.content && (reply.calls.length === 0 || delta.content.trim())) await addText(delta.content);
        for (const d of delta.calls) {
          if (d.id) await openItem({ type: 'function_call', id: `fc_${randomId()}`, call_id: d.id, name: d.name ?? '', arguments: '', status: 'in_progress' });
          if (d.arguments && open?.item.type === 'function_call') {
            open.text += d.arguments;
            await emit('response.function_call_arguments.delta', { item_id: open.item.id, output_index: open.index, delta: d.arguments });
          }
        }
        if (chunk.stats) {
          stats = chunk.stats;
          const rest = reply.finish(stats.finishReason);
          if (rest) await addText(rest);
        }
      }
      if (items.length === 0) await addText('');
      await close();
      const status = finalStatus();
      keep();
      await emit(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: response(status) });
    } catch (e) {
      if (!life.clientGone || ctx.state.draining) {
        const err = toApiError(e);
        if (!stream.closed && !stream.aborted) await emit('error', { code: err.code, message: err.message, param: err.param }).catch(() => {});
      }
    } finally {
      life.end();
    }
  });
}

