// POST /v1/chat/completions and /v1/completions (JSON or SSE): prompts and tools -> tokens and grammar
// (prompt.ts), n choices per prompt on the scheduler (run.ts), replies read for tool calls (reply.ts),
// logprobs in each endpoint's shape (logprobs.ts). A client that leaves cancels its generations; a
// non-streamed one is logged and answered 499 (counted as such in /metrics).
import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { ChatMessage, ChatTool } from '../engine/chat-template.js';
import type { BitnetModel } from '../engine/model.js';
import type { ToolChoice } from '../engine/tools.js';
import type { GenerateOptions, GenerationStats, TokenLogprob } from '../generate/generate.js';
import { errorBody, toApiError } from './errors.js';
import { badRequest, clientGone, created, json, randomId, readBody } from './http.js';
import { chatLogprob, LegacyLogprobsBuilder, type ChatTokenLogprob } from './logprobs.js';
import { compileFor, outputSpec, prepareChat, type PreparedChat } from './prompt.js';
import type { InputLimits } from './input.js';
import { Reply } from './reply.js';
import { launch, merged, type Choice } from './run.js';
import { chatRequest, completionRequest, messageText, samplingOptions, type ChatMessageBody, type ChatRequest, type CompletionRequest } from './schemas.js';
import type { RouteContext } from './state.js';

/** Body messages -> chat-template messages (developer is system; tool calls and results kept). */
export function chatMessages(body: readonly ChatMessageBody[]): ChatMessage[] {
  return body.map((m, i) => {
    const out: ChatMessage = { role: m.role === 'developer' ? 'system' : m.role, content: messageText(m.content) };
    if (m.name != null) out.name = m.name;
    if (m.role === 'assistant' && m.tool_calls?.length) out.tool_calls = m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } }));
    if (m.role === 'tool') {
      if (m.tool_call_id == null) throw badRequest(`messages.${i}.tool_call_id`, 'is required on tool messages (the id of the call this is the result of)');
      out.tool_call_id = m.tool_call_id;
    }
    return out;
  });
}

/** tools / tool_choice / parallel_tool_calls -> tool options, checked against each other. */
export function toolOptions(
  tools: ReadonlyArray<{ name: string; description?: string | null | undefined; parameters?: Record<string, unknown> | null | undefined }>,
  choice: ToolChoice | undefined,
  parallel: boolean | null | undefined,
): { tools: ChatTool[]; choice: ToolChoice; parallel: boolean } {
  const seen = new Set<string>();
  const list = tools.map((t, i) => {
    if (seen.has(t.name)) throw badRequest(`tools.${i}`, `a second tool named "${t.name}"`);
    seen.add(t.name);
    return { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters ?? {} };
  });
  const c = choice ?? (list.length ? 'auto' : 'none');
  if (list.length === 0 && (c === 'required' || typeof c === 'object')) throw badRequest('tool_choice', 'needs tools to choose from');
  return { tools: list, choice: c, parallel: parallel ?? true };
}

function logitBias(model: BitnetModel, bias: Record<string, number> | null | undefined): Map<number, number> | undefined {
  if (!bias) return undefined;
  const out = new Map<number, number>();
  for (const [k, v] of Object.entries(bias)) {
    const id = Number(k);
    if (id >= model.tokenizer.vocabSize) throw badRequest('logit_bias', `token id ${id} is out of range [0, ${model.tokenizer.vocabSize})`);
    out.set(id, v);
  }
  return out;
}

const usageOf = (prompts: number, completion: number, cached: number) => ({
  prompt_tokens: prompts,
  completion_tokens: completion,
  total_tokens: prompts + completion,
  prompt_tokens_details: { cached_tokens: cached },
});
const timingsOf = (s: GenerationStats) => ({ prompt_n: s.promptTokens - s.cachedTokens, prompt_ms: s.promptMs, predicted_n: s.generatedTokens, predicted_ms: s.generateMs, predicted_per_second: s.tokensPerSecond });

interface Job {
  kind: 'chat' | 'text';
  prompts: number[][];
  /** text completions with echo: each prompt's text */
  echo: string[] | undefined;
  opts: GenerateOptions;
  n: number;
  stream: boolean;
  includeUsage: boolean;
  /** chat: logprobs requested; text: the number of alternatives (undefined: none) */
  logprobs: number | undefined;
  toolFormat: PreparedChat['toolFormat'];
}

async function chatJob(model: BitnetModel, limits: InputLimits, r: ChatRequest): Promise<Job> {
  if (r.top_logprobs != null && r.logprobs !== true) throw badRequest('top_logprobs', 'needs logprobs: true');
  const choice: ToolChoice | undefined = r.tool_choice == null ? undefined : typeof r.tool_choice === 'string' ? r.tool_choice : { name: r.tool_choice.function.name };
  const tools = toolOptions(
    (r.tools ?? []).map((t) => t.function),
    choice,
    r.parallel_tool_calls,
  );
  const prepared = await prepareChat(model, limits, chatMessages(r.messages), tools, outputSpec(r));
  const opts: GenerateOptions = samplingOptions(r);
  const maxTokens = r.max_completion_tokens ?? r.max_tokens;
  if (maxTokens != null) opts.maxTokens = maxTokens;
  if (prepared.grammar) opts.grammar = prepared.grammar;
  const bias = logitBias(model, r.logit_bias);
  if (bias) opts.logitBias = bias;
  const logprobs = r.logprobs === true ? (r.top_logprobs ?? 0) : undefined;
  if (logprobs !== undefined) opts.logprobs = logprobs;
  return { kind: 'chat', prompts: [prepared.tokens], echo: undefined, opts, n: r.n ?? 1, stream: r.stream === true, includeUsage: r.stream_options?.include_usage === true, logprobs, toolFormat: prepared.toolFormat };
}

async function textJob(model: BitnetModel, limits: InputLimits, r: CompletionRequest): Promise<Job> {
  const maxTokens = r.max_tokens ?? 16;
  if (maxTokens === 0 && r.echo !== true) throw badRequest('max_tokens', 'must be >= 1 (0 is allowed only with echo, to score the prompt)');
  const p = r.prompt;
  const list: Array<string | number[]> = typeof p === 'string' ? [p] : typeof p[0] === 'number' ? [p as number[]] : (p as Array<string | number[]>);
  // raw prompt strings parse special tokens, as llama-server's do (chat content never does: prompt.ts)
  const prompts: number[][] = [];
  for (const [i, x] of list.entries()) {
    const param = list.length === 1 ? 'prompt' : `prompt.${i}`;
    prompts.push(typeof x === 'string' ? await limits.encode([{ text: x, special: true }], { addBos: model.tokenizer.addBos, param }) : model.tokenizePrompt({ tokens: x }));
  }
  const opts: GenerateOptions = { ...samplingOptions(r), maxTokens };
  const out = outputSpec(r);
  if (out.spec) opts.grammar = compileFor(out.spec, out.param);
  const bias = logitBias(model, r.logit_bias);
  if (bias) opts.logitBias = bias;
  if (r.logprobs != null) {
    opts.logprobs = r.logprobs;
    if (r.echo === true) opts.promptLogprobs = r.logprobs;
  }
  const echo = r.echo === true ? list.map((x) => (typeof x === 'string' ? x : model.detokenize(x, { skipSpecial: true }))) : undefined;
  return { kind: 'text', prompts, echo, opts, n: r.n ?? 1, stream: r.stream === true, includeUsage: r.stream_options?.include_usage === true, logprobs: r.logprobs ?? undefined, toolFormat: undefined };
}

/** One choice's state while it runs. */
class ChoiceState {
  readonly reply: Reply;
  readonly chatLogprobs: ChatTokenLogprob[] = [];
  readonly legacy: LegacyLogprobsBuilder | undefined;
  stats: GenerationStats | undefined;
  /** echo text not sent yet (text completions) */
  echoPending: string;
  private promptDone = false;

  constructor(
    readonly choice: Choice,
    private readonly job: Job,
    private readonly model: BitnetModel,
  ) {
    this.reply = new Reply(job.toolFormat);
    this.echoPending = job.echo?.[choice.prompt] ?? '';
    this.legacy = job.kind === 'text' && job.logprobs !== undefined ? new LegacyLogprobsBuilder(model.tokenizer) : undefined;
  }

  /** Adds the echoed prompt's logprobs (once; the first chunk of a choice carries them). */
  promptLogprobs(lps: ReadonlyArray<TokenLogprob | null> | undefined): void {
    if (this.promptDone || !this.legacy || !this.job.echo) return;
    this.promptDone = true;
    const tokens = this.job.prompts[this.choice.prompt]!;
    tokens.forEach((t, i) => this.legacy!.add(t, lps?.[i] ?? null));
  }

  generated(tokens: readonly number[], lps: readonly TokenLogprob[] | undefined): ChatTokenLogprob[] {
    const out: ChatTokenLogprob[] = [];
    tokens.forEach((t, i) => {
      const lp = lps?.[i];
      if (!lp) return;
      if (this.legacy) this.legacy.add(t, lp);
      else if (this.job.logprobs !== undefined) out.push(chatLogprob(this.model.tokenizer, lp));
    });
    this.chatLogprobs.push(...out);
    return out;
  }
}

export async function completionHandler(c: Context, ctx: RouteContext, kind: 'chat' | 'text'): Promise<Response> {
  const t0 = performance.now();
  const { model, scheduler, limits } = ctx.ready();
  const r =
    kind === 'chat'
      ? await readBody(c, chatRequest, 'chat', (m) => (limits.checkMessages(m.items, 'messages'), limits.checkBytes(m.chatTextBytes, 'messages')))
      : await readBody(c, completionRequest, 'completions', (m) => limits.checkBytes(m.largestPromptBytes, 'prompt'));
  ctx.checkModel(r.model);
  if (r.n_keep != null && r.n_keep >= scheduler.contextSize) throw badRequest('n_keep', `must be below the context size ${scheduler.contextSize}, got ${r.n_keep}`);
  const job = kind === 'chat' ? await chatJob(model, limits, r as ChatRequest) : await textJob(model, limits, r as CompletionRequest);
  // one lifetime for everything this request holds: the client going away (or the handler returning)
  // cancels the generations (their slots are free by the next step), stops the pings, unblocks the writer
  const life = ctx.life(c.req.raw.signal);
  let choices: Choice[];
  try {
    choices = launch(scheduler, job.prompts, { ...job.opts, signal: life.signal }, job.n);
  } catch (e) {
    life.end();
    throw e;
  }
  life.defer(() => {
    for (const ch of choices) ch.handle.cancel();
  });
  const states = choices.map((ch) => new ChoiceState(ch, job, model));
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomId()}`;
  const base = { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created: created(), model: ctx.opts.modelId, system_fingerprint: ctx.fingerprint };
  let first = true;
  const onTokens = (n: number): void => {
    if (first && n > 0) {
      first = false;
      ctx.firstToken(t0);
    }
  };
  const usage = () => {
    const perPrompt = new Map<number, GenerationStats>();
    let completion = 0;
    for (const s of states) {
      if (!s.stats) continue;
      completion += s.stats.generatedTokens;
      if (!perPrompt.has(s.choice.prompt)) perPrompt.set(s.choice.prompt, s.stats);
    }
    const stats = [...perPrompt.values()];
    return usageOf(
      stats.reduce((a, s) => a + s.promptTokens, 0),
      completion,
      stats.reduce((a, s) => a + s.cachedTokens, 0),
    );
  };

  if (!job.stream) {
    try {
      for await (const { choice, chunk } of merged(choices)) {
        const st = states[choices.indexOf(choice)]!;
        onTokens(chunk.tokens.length);
        st.promptLogprobs(chunk.promptLogprobs);
        st.generated(chunk.tokens, chunk.logprobs);
        st.reply.push(chunk.text);
        if (chunk.stats) st.stats = chunk.stats;
      }
    } catch (e) {
      if (life.clientGone && !ctx.state.draining) {
        return clientGone(c, ctx.log);
      }
      throw e;
    } finally {
      life.end();
    }
    const body = states.map((s) => {
      s.reply.finish(s.stats!.finishReason);
      const finish = s.reply.finishReason(s.stats!.finishReason);
      if (kind === 'chat') {
        const message: Record<string, unknown> = { role: 'assistant', content: s.reply.messageContent(), refusal: null };
        if (s.reply.calls.length) message.tool_calls = s.reply.calls.map((x) => ({ id: x.id, type: 'function', function: { name: x.name, arguments: x.arguments } }));
        return { index: s.choice.index, message, logprobs: job.logprobs !== undefined ? { content: s.chatLogprobs, refusal: null } : null, finish_reason: finish };
      }
      return { index: s.choice.index, text: s.echoPending + s.reply.content, logprobs: s.legacy ? s.legacy.out : null, finish_reason: finish };
    });
    body.sort((a, b) => a.index - b.index);
    return json(c, { ...base, object: kind === 'chat' ? 'chat.completion' : 'text_completion', choices: body, usage: usage(), timings: timingsOf(states[0]!.stats!) });
  }

  return streamSSE(c, async (stream: SSEStreamingApi) => {
    let lastWrite = performance.now();
    const send = async (data: unknown): Promise<void> => {
      lastWrite = performance.now();
      await stream.writeSSE({ data: typeof data === 'string' ? data : JSON.stringify(data) });
    };
    stream.onAbort(() => life.leave());
    // a write blocked on a client that stopped reading returns (and fails) once the life has ended
    life.defer(() => stream.abort());
    life.every(Math.max(1, Math.min(ctx.pingMs, 1000)), () => {
      if (performance.now() - lastWrite >= ctx.pingMs && !stream.closed && !stream.aborted) {
        lastWrite = performance.now();
        void stream.write(': ping\n\n');
      }
    });
    try {
      if (kind === 'chat') {
        for (const s of states) await send({ ...base, choices: [{ index: s.choice.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
      }
      for await (const { choice, chunk } of merged(choices)) {
        const st = states[choices.indexOf(choice)]!;
        onTokens(chunk.tokens.length);
        const legacyFrom = st.legacy?.length ?? 0;
        st.promptLogprobs(chunk.promptLogprobs);
        const lps = st.generated(chunk.tokens, chunk.logprobs);
        const delta = st.reply.push(chunk.text);
        // one event per generated token, as llama-server streams: its text may be empty (a special token,
        // half a UTF-8 character, a possible stop string held back), the event still marks progress
        if (chunk.text || chunk.tokens.length || st.echoPending) {
          if (kind === 'chat') {
            const d: Record<string, unknown> = {};
            if (delta.content || (!job.toolFormat && delta.calls.length === 0)) d.content = delta.content;
            if (delta.calls.length) {
              d.tool_calls = delta.calls.map((x) => ({ index: x.index, ...(x.id ? { id: x.id, type: 'function' } : {}), function: { ...(x.name !== undefined ? { name: x.name } : {}), arguments: x.arguments } }));
            }
            await send({ ...base, choices: [{ index: choice.index, delta: d, logprobs: job.logprobs !== undefined ? { content: lps, refusal: null } : null, finish_reason: null }] });
          } else {
            const text = st.echoPending + delta.content;
            st.echoPending = '';
            await send({ ...base, choices: [{ index: choice.index, text, logprobs: st.legacy ? st.legacy.since(legacyFrom) : null, finish_reason: null }] });
          }
        }
        if (chunk.stats) {
          st.stats = chunk.stats;
          const rest = st.reply.finish(chunk.stats.finishReason);
          if (rest) await send({ ...base, choices: [kind === 'chat' ? { index: choice.index, delta: { content: rest }, logprobs: null, finish_reason: null } : { index: choice.index, text: rest, logprobs: null, finish_reason: null }] });
          const finish = st.reply.finishReason(chunk.stats.finishReason);
          await send({ ...base, choices: [kind === 'chat' ? { index: choice.index, delta: {}, logprobs: null, finish_reason: finish } : { index: choice.index, text: '', logprobs: null, finish_reason: finish }] });
        }
      }
      if (job.includeUsage) await send({ ...base, choices: [], usage: usage(), timings: timingsOf(states[0]!.stats!) });
      await send('[DONE]');
    } catch (e) {
      // a client that left is not told anything; anyone still listening gets the error as an event
      if (!life.clientGone || ctx.state.draining) {
        const err = toApiError(e);
        if (!stream.closed && !stream.aborted) await send(errorBody(err)).catch(() => {});
      }
    } finally {
      life.end();
    }
  });
}
