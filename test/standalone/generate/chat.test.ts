// Chat prompts: Jinja templates, bitnet.cpp's BITNET placeholder (and no template) mapped to 2B4T's own
// format, template errors, BOS handling in tokenizePrompt, and ChatSession history and KV reuse across turns.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chatFormatFor, type ChatMessage } from '../../../src/engine/chat-template.js';
import { BitnetError } from '../../../src/errors.js';
import type { GenerationChunk, GenerationStats } from '../../../src/generate/generate.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { BITNET_CHAT_TEMPLATE, BITNET_CPP_PLACEHOLDER_TEMPLATE, makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';

const TOKENS = { bos: '<|begin_of_text|>', eos: '<|end_of_text|>', eot: '<|eot_id|>' };
const CHATML =
  "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const NO_BOS_TEMPLATE = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}";
const BAD_TEMPLATE = "{% for m in messages %}{{ m['content'] ";

const SYS_USER: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Hello!' },
];
const THREE_TURNS: ChatMessage[] = [...SYS_USER, { role: 'assistant', content: 'Hi there.' }, { role: 'user', content: 'The cat?' }];

let dir: string;
const models: Record<'jinja' | 'placeholder' | 'noBos' | 'bad', BitnetModel> = {} as never;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-chat-'));
  const fx = makeFixture(TINY);
  const variants: Array<[keyof typeof models, string]> = [
    ['jinja', BITNET_CHAT_TEMPLATE],
    ['placeholder', BITNET_CPP_PLACEHOLDER_TEMPLATE],
    ['noBos', NO_BOS_TEMPLATE],
    ['bad', BAD_TEMPLATE],
  ];
  for (const [name, chatTemplate] of variants) {
    const path = join(dir, `${name}.gguf`);
    await writeGgufFixture(fx, path, { weights: 'I2_S', embedding: 'F16', chatTemplate });
    models[name] = await loadModel(path);
  }
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const isChatTemplateError = (e: unknown): boolean => e instanceof BitnetError && e.code === 'CHAT_TEMPLATE';

async function collect(gen: AsyncIterable<GenerationChunk>): Promise<{ text: string; stats: GenerationStats }> {
  let text = '';
  for await (const c of gen) {
    text += c.text;
    if (c.stats) return { text, stats: c.stats };
  }
  throw new Error('no stats chunk');
}

test('chatFormatFor renders a Jinja template (system, user, assistant, add_generation_prompt)', () => {
  const f = chatFormatFor(BITNET_CHAT_TEMPLATE, TOKENS);
  assert.equal(f.kind, 'jinja');
  assert.equal(f.render(SYS_USER, true), '<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>Assistant: ');
  assert.equal(f.render(SYS_USER, false), '<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>');
  assert.equal(
    f.render(THREE_TURNS, true),
    '<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>Assistant: Hi there.<|eot_id|>User: The cat?<|eot_id|>Assistant: ',
  );
  const chatml = chatFormatFor(CHATML, TOKENS);
  assert.equal(chatml.kind, 'jinja');
  assert.equal(
    chatml.render(THREE_TURNS, true),
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n' +
      '<|im_start|>assistant\nHi there.<|im_end|>\n<|im_start|>user\nThe cat?<|im_end|>\n<|im_start|>assistant\n',
  );
  assert.equal(chatml.render([], false), '');
  // bos_token and eos_token are template variables
  assert.equal(chatFormatFor('{{ bos_token }}|{{ eos_token }}', TOKENS).render([], true), '<|begin_of_text|>|<|end_of_text|>');
});

test("bitnet.cpp's BITNET placeholder, or no template, gives 2B4T's own format exactly", () => {
  for (const template of [BITNET_CPP_PLACEHOLDER_TEMPLATE, undefined, 'anything with BITNET in it {% broken']) {
    const f = chatFormatFor(template, TOKENS);
    assert.equal(f.kind, 'bitnet');
    assert.equal(f.render(SYS_USER, true), '<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>Assistant: ');
    assert.equal(f.render([{ role: 'user', content: 'Hey, are you conscious? Can you talk to me?' }], true), '<|begin_of_text|>User: Hey, are you conscious? Can you talk to me?<|eot_id|>Assistant: ');
    assert.equal(
      f.render(THREE_TURNS, true),
      '<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>Assistant: Hi there.<|eot_id|>User: The cat?<|eot_id|>Assistant: ',
    );
    assert.equal(f.render(SYS_USER, false), '<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>');
    assert.throws(() => f.render([{ role: 'tool', content: 'x' }], true), isChatTemplateError);
  }
  // the loaded models pick the same
  assert.equal(models.placeholder.chatFormat.kind, 'bitnet');
  assert.equal(models.jinja.chatFormat.kind, 'jinja');
  assert.equal(models.placeholder.applyChatTemplate(SYS_USER), models.jinja.applyChatTemplate(SYS_USER));
});

test('a bad template is a CHAT_TEMPLATE error', () => {
  assert.throws(() => chatFormatFor(BAD_TEMPLATE, TOKENS).render(SYS_USER, true), isChatTemplateError);
  assert.throws(() => chatFormatFor('{% if %}{% endif %}', TOKENS).render(SYS_USER, true), isChatTemplateError);
  assert.throws(() => chatFormatFor('{{ raise_exception("only user turns") }}', TOKENS).render(SYS_USER, true), (e: unknown) => isChatTemplateError(e) && (e as Error).message.includes('only user turns'));
  assert.throws(() => chatFormatFor('{{ messages[0].content.nope() }}', TOKENS).render(SYS_USER, true), isChatTemplateError);
});

test('a model whose template does not parse still loads and generates; chat prompts fail with CHAT_TEMPLATE', async () => {
  const m = models.bad;
  const r = await m.complete('Once upon a time', { temperature: 0, maxTokens: 4 });
  assert.equal(r.stats.generatedTokens, 4);
  assert.throws(() => m.tokenizePrompt(SYS_USER), isChatTemplateError);
  await assert.rejects(m.complete(SYS_USER, { maxTokens: 2 }), isChatTemplateError);
  const chat = m.createChat();
  await assert.rejects(collect(chat.send('Hello')), isChatTemplateError);
  assert.deepEqual(chat.messages, []);
});

test('tokenizePrompt(messages) adds BOS exactly once', () => {
  for (const name of ['jinja', 'placeholder', 'noBos'] as const) {
    const m = models[name];
    const bos = m.tokenizer.bos!;
    const text = m.applyChatTemplate(SYS_USER);
    const ids = m.tokenizePrompt(SYS_USER);
    assert.equal(ids[0], bos, name);
    assert.equal(ids.filter((id) => id === bos).length, 1, `${name}: ${ids.join(',')}`);
    const body = m.tokenizer.encode(text, { parseSpecial: true, addBos: false });
    assert.deepEqual(ids, name === 'noBos' ? [bos, ...body] : body, name);
    // special tokens in the template are parsed, not spelled out
    if (name !== 'noBos') assert.equal(ids.filter((id) => id === m.tokenizer.eot).length, 2, name);
  }
  // plain text prompts: BOS per the model, special token text parsed
  const m = models.jinja;
  assert.deepEqual(m.tokenizePrompt('Hello<|eot_id|>'), [m.tokenizer.bos!, ...m.tokenizer.encode('Hello', { addBos: false }), m.tokenizer.eot!]);
});

test('ChatSession keeps the history and reuses the KV cache on the next turn', async () => {
  const m = models.placeholder;
  const chat = m.createChat({ system: 'You are a helpful assistant.' });
  assert.deepEqual(chat.messages, [{ role: 'system', content: 'You are a helpful assistant.' }]);
  const opts = { temperature: 0, maxTokens: 6 };
  const first = await collect(chat.send('Hello!', opts));
  assert.deepEqual(chat.messages, [...SYS_USER, { role: 'assistant', content: first.text }]);
  assert.equal(first.stats.promptTokens, m.tokenizePrompt(SYS_USER).length);
  assert.equal(first.stats.cachedTokens, 0);

  const second = await collect(chat.send('The cat?', opts));
  assert.deepEqual(chat.messages, [...SYS_USER, { role: 'assistant', content: first.text }, { role: 'user', content: 'The cat?' }, { role: 'assistant', content: second.text }]);
  assert.equal(second.stats.promptTokens, m.tokenizePrompt(chat.messages.slice(0, 4)).length);
  assert.ok(second.stats.cachedTokens > 0, 'second turn reuses the first turn');
  assert.ok(second.stats.cachedTokens >= first.stats.promptTokens - 2, `cached ${second.stats.cachedTokens} of the ${first.stats.promptTokens}-token first prompt`);
  // the session's own sequence holds the conversation
  assert.equal(chat.sequence.tokens.slice(0, 3).join(','), m.tokenizePrompt(SYS_USER).slice(0, 3).join(','));

  // a session without a system prompt starts empty; sessions are independent
  const other = m.createChat();
  assert.deepEqual(other.messages, []);
  await collect(other.send('Hello!', opts));
  assert.equal(other.messages.length, 2);
  assert.equal(chat.messages.length, 5);
});

test('a failed turn leaves the history unchanged', async () => {
  const m = models.jinja;
  const chat = m.createChat({ system: 'Be brief.', contextSize: 48 });
  await collect(chat.send('Hello!', { temperature: 0, maxTokens: 4 }));
  const before = structuredClone(chat.messages);
  assert.equal(before.length, 3);

  const long = 'The cat sat on the mat. The dog ran after the cat. '.repeat(4);
  await assert.rejects(collect(chat.send(long, { maxTokens: 4 })), (e: unknown) => e instanceof BitnetError && e.code === 'CONTEXT_OVERFLOW' && e.message.includes('48'));
  assert.deepEqual(chat.messages, before);

  // aborted before anything was generated: undone as well
  await assert.rejects(collect(chat.send('Hi', { signal: AbortSignal.abort() })), (e: unknown) => e instanceof BitnetError && e.code === 'ABORTED');
  assert.deepEqual(chat.messages, before);

  // the session goes on, and still reuses its cache
  const next = await collect(chat.send('Hi', { temperature: 0, maxTokens: 3 }));
  assert.equal(chat.messages.length, 5);
  assert.equal(chat.messages[3]!.content, 'Hi');
  assert.equal(chat.messages[4]!.content, next.text);
  assert.ok(next.stats.cachedTokens > 0);
});
