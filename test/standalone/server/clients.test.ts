// The clients people use against OpenAI-compatible servers, unmodified, on 127.0.0.1 with the random
// fixture model (only the grammar makes its output well formed): Vercel AI SDK 6 (generateObject; streamText
// with a two-step tool loop, through @ai-sdk/openai-compatible and through @ai-sdk/openai's Responses
// model), LangChain (withStructuredOutput by both methods, bindTools), and the openai SDK's Responses API
// (plain, streamed, with a function tool), logprobs and embeddings.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { HumanMessage } from '@langchain/core/messages';
import { tool as lcTool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { z } from 'zod';
import type { RunningServer } from '../../../src/server/serve.js';
import { serve } from './helpers.js';

let server: RunningServer;
let client: OpenAI;

before(async () => {
  // tool descriptions make prompts longer than the fixture's trained context; RoPE does not mind
  server = await serve({ parallel: 4, contextSize: 2048 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await server.close();
});

const Person = z.object({ name: z.enum(['Lily', 'Tom', 'Sue']), age: z.number().int().min(0).max(120), likes: z.array(z.enum(['cats', 'dogs', 'cake'])).max(3) });
const Weather = z.object({ city: z.enum(['Paris', 'Tokyo', 'Lima']), days: z.number().int().min(1).max(7) });

test('AI SDK (openai-compatible): generateObject with a zod schema', async () => {
  const compat = createOpenAICompatible({ name: 'bitnet', baseURL: `${server.url}/v1`, supportsStructuredOutputs: true, includeUsage: true });
  for (const seed of [1, 2]) {
    const { object, usage } = await generateObject({ model: compat('tiny'), schema: Person, prompt: 'Describe a child.', maxOutputTokens: 400, seed, maxRetries: 0 });
    Person.parse(object);
    assert.ok((usage.inputTokens ?? 0) > 0);
  }
  // a plain z.number().int() carries the safe-integer bounds into the schema
  const Count = z.object({ count: z.number().int(), done: z.boolean() });
  const { object } = await generateObject({ model: compat('tiny'), schema: Count, prompt: 'Count.', maxOutputTokens: 400, seed: 3, maxRetries: 0 });
  Count.parse(object);
});

test('AI SDK (openai-compatible): streamText runs a two-step tool loop', async () => {
  const compat = createOpenAICompatible({ name: 'bitnet', baseURL: `${server.url}/v1`, includeUsage: true });
  const calls: unknown[] = [];
  const result = streamText({
    model: compat('tiny'),
    prompt: 'What is the weather in Tokyo?',
    tools: { get_weather: tool({ description: 'Weather forecast', inputSchema: Weather, execute: async (args) => (calls.push(args), { temperature: 18 }) }) },
    // step 1 must call the tool (the random model would not choose to), step 2 answers in text
    prepareStep: ({ stepNumber }) => ({ toolChoice: stepNumber === 0 ? 'required' : 'none' }),
    stopWhen: stepCountIs(3),
    maxOutputTokens: 300,
    seed: 3,
    maxRetries: 0,
  });
  let streamed = '';
  for await (const part of result.textStream) streamed += part;
  const steps = await result.steps;
  assert.equal(steps.length, 2);
  assert.equal(steps[0]!.finishReason, 'tool-calls');
  assert.ok(steps[0]!.toolCalls.length >= 1);
  assert.equal(steps[0]!.toolResults.length, steps[0]!.toolCalls.length);
  assert.equal(calls.length, steps[0]!.toolCalls.length);
  for (const c of calls) Weather.parse(c);
  assert.ok(['stop', 'length'].includes(steps[1]!.finishReason));
  assert.equal(streamed, steps[1]!.text);
});

test("AI SDK (@ai-sdk/openai's default Responses model): text, and a two-step tool loop", async () => {
  const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' });
  const plain = await generateText({ model: openai('tiny'), prompt: 'Once upon a time', maxOutputTokens: 16, seed: 1, maxRetries: 0 });
  assert.equal(typeof plain.text, 'string');
  assert.ok(plain.usage.outputTokens! > 0 && plain.usage.outputTokens! <= 16);
  // the default (store unset) sends step 1's items back as item_references; store: false sends them whole
  for (const providerOptions of [{}, { openai: { store: false } }]) {
    const calls: unknown[] = [];
    const r = await generateText({
      model: openai('tiny'),
      prompt: 'Weather in Lima for two days?',
      tools: { get_weather: tool({ description: 'Weather forecast', inputSchema: Weather, execute: async (args) => (calls.push(args), { temperature: 25 }) }) },
      prepareStep: ({ stepNumber }) => ({ toolChoice: stepNumber === 0 ? 'required' : 'none' }),
      stopWhen: stepCountIs(3),
      maxOutputTokens: 300,
      providerOptions,
      maxRetries: 0,
    });
    assert.equal(r.steps.length, 2, JSON.stringify(providerOptions));
    assert.ok(calls.length >= 1);
    for (const c of calls) Weather.parse(c);
    assert.equal(typeof r.text, 'string');
  }
});

test('LangChain: withStructuredOutput (jsonSchema and functionCalling) and bindTools', async () => {
  const llm = new ChatOpenAI({ model: 'tiny', apiKey: 'unused', configuration: { baseURL: `${server.url}/v1` }, maxTokens: 400, temperature: 0.7, maxRetries: 0 });
  for (const method of ['jsonSchema', 'functionCalling'] as const) {
    const out = await llm.withStructuredOutput(Person, { method, name: 'person' }).invoke('Describe a child.');
    assert.ok(out, method);
    Person.parse(out);
  }
  const getWeather = lcTool(async (args: z.infer<typeof Weather>) => `sunny in ${args.city}`, { name: 'get_weather', description: 'Weather forecast', schema: Weather });
  const msg = await llm.bindTools([getWeather], { tool_choice: 'required' }).invoke('Weather in Paris?');
  assert.ok(msg.tool_calls && msg.tool_calls.length >= 1);
  for (const c of msg.tool_calls) {
    assert.equal(c.name, 'get_weather');
    assert.match(c.id ?? '', /^call_/);
    Weather.parse(c.args);
  }
  // the tool's answer goes back as a tool message; the next turn is accepted
  const result = await getWeather.invoke(msg.tool_calls[0]!);
  const next = await llm.invoke([new HumanMessage('Weather in Paris?'), msg, result]);
  assert.equal(typeof next.content, 'string');
});

test('openai SDK: responses.create plain, streamed (event sequence), and with a function tool', async () => {
  const r = await client.responses.create({ model: 'tiny', input: 'Once upon a time', instructions: 'Tell a story.', max_output_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_/);
  assert.ok(['completed', 'incomplete'].includes(r.status!));
  assert.equal(typeof r.output_text, 'string');
  assert.ok(r.usage!.output_tokens <= 12);
  if (r.status === 'incomplete') assert.equal(r.incomplete_details?.reason, 'max_output_tokens');

  const events: string[] = [];
  const seqs: number[] = [];
  let text = '';
  const stream = await client.responses.create({ model: 'tiny', input: 'Once upon a time', instructions: 'Tell a story.', max_output_tokens: 12, temperature: 0, stream: true });
  for await (const e of stream) {
    events.push(e.type);
    seqs.push(e.sequence_number);
    if (e.type === 'response.output_text.delta') text += e.delta;
  }
  assert.deepEqual(seqs, seqs.map((_, i) => i));
  assert.equal(text, r.output_text);
  const order = ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.done', 'response.content_part.done', 'response.output_item.done'];
  const at = order.map((t) => events.indexOf(t));
  assert.ok(at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1]!)), events.join(' '));
  assert.ok(['response.completed', 'response.incomplete'].includes(events.at(-1)!));

  const tools = [{ type: 'function' as const, name: 'get_weather', description: 'Weather forecast', parameters: z.toJSONSchema(Weather) as Record<string, unknown>, strict: true }];
  const withTool = await client.responses.create({ model: 'tiny', input: 'Weather in Paris?', tools, tool_choice: 'required', max_output_tokens: 400 });
  const call = withTool.output.find((o) => o.type === 'function_call');
  assert.ok(call && call.type === 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.match(call.call_id, /^call_/);
  Weather.parse(JSON.parse(call.arguments));
  // streamed: the arguments arrive as deltas joining to the call's arguments
  let args = '';
  let done: string | undefined;
  for await (const e of await client.responses.create({ model: 'tiny', input: 'Weather in Paris?', tools, tool_choice: 'required', max_output_tokens: 400, stream: true })) {
    if (e.type === 'response.function_call_arguments.delta') args += e.delta;
    if (e.type === 'response.function_call_arguments.done') done = e.arguments;
  }
  assert.equal(args, done);
  Weather.parse(JSON.parse(args));
  // the result goes back as a function_call_output item
  const next = await client.responses.create({
    model: 'tiny',
    input: [{ role: 'user', content: 'Weather in Paris?' }, { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments }, { type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
    max_output_tokens: 8,
  });
  // an item of an earlier response named by reference (what the AI SDK sends by default) is read back from memory
  const msgItem = r.output.find((o) => o.type === 'message')!;
  const byRef = await client.responses.create({ model: 'tiny', input: [{ role: 'user', content: 'Once upon a time' }, { type: 'item_reference', id: msgItem.id }, { role: 'user', content: 'More.' }], max_output_tokens: 1 });
  const inline = await client.responses.create({ model: 'tiny', input: [{ role: 'user', content: 'Once upon a time' }, { role: 'assistant', content: r.output_text }, { role: 'user', content: 'More.' }], max_output_tokens: 1 });
  assert.equal(byRef.usage!.input_tokens, inline.usage!.input_tokens);
  const plain2 = await client.responses.create({ model: 'tiny', input: 'Weather in Paris?', max_output_tokens: 1 });
  assert.ok(next.usage!.input_tokens > plain2.usage!.input_tokens + 10, 'the call and its output are in the prompt');
});

test('openai SDK: chat logprobs and embeddings (float and base64, several inputs)', async () => {
  const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, logprobs: true, top_logprobs: 3, temperature: 0 });
  const lp = r.choices[0]!.logprobs!.content!;
  assert.equal(lp.length, r.usage!.completion_tokens);
  for (const e of lp) {
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 3);
    assert.ok(e.top_logprobs[0]!.logprob >= e.logprob - 1e-12);
  }
  const model = await server.ready;
  const e = await client.embeddings.create({ model: 'tiny', input: ['Once upon a time', 'A cat sat.'], encoding_format: 'float' });
  assert.equal(e.data.length, 2);
  assert.equal(e.data[1]!.index, 1);
  const v = e.data[0]!.embedding;
  assert.equal(v.length, model.hparams.nEmbd);
  assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5, 'L2-normalised');
  assert.equal(e.usage.prompt_tokens, model.tokenizePrompt('Once upon a time').length + model.tokenizePrompt('A cat sat.').length);
  // the SDK asks for base64 by default and decodes it: the same vectors
  const b = await client.embeddings.create({ model: 'tiny', input: 'Once upon a time' });
  assert.deepEqual(b.data[0]!.embedding, v);
  const direct = await model.embed('Once upon a time', { pooling: 'mean', normalize: true });
  v.forEach((x, i) => assert.ok(Math.abs(x - direct[i]!) < 1e-6, `component ${i}`));
});
