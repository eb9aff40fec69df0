// Model reference parsing (paths, URLs, hub repos in every spelling) and the choice of files in a repo
// (exact file, quant, the i2_s > tq2_0 > tq1_0 preference, safetensors folders), and the environment config.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import { hubConfig } from '../../../src/hub/config.js';
import { parseModelRef, selectFiles } from '../../../src/hub/ref.js';

const none = { exists: () => false, endpoint: 'https://huggingface.co' };
const hf = (repo: string, revision = 'main', select?: string) => ({ kind: 'hf', repo, revision, select });

test('hub references in every spelling', () => {
  assert.deepEqual(parseModelRef('microsoft/bitnet-b1.58-2B-4T-gguf', none), hf('microsoft/bitnet-b1.58-2B-4T-gguf'));
  assert.deepEqual(parseModelRef('microsoft/bitnet-b1.58-2B-4T-gguf:i2_s', none), hf('microsoft/bitnet-b1.58-2B-4T-gguf', 'main', 'i2_s'));
  assert.deepEqual(parseModelRef('hf:microsoft/bitnet-b1.58-2B-4T-gguf:ggml-model-i2_s.gguf', none), hf('microsoft/bitnet-b1.58-2B-4T-gguf', 'main', 'ggml-model-i2_s.gguf'));
  assert.deepEqual(parseModelRef('hf:org/repo@v1.0:TQ2_0', none), hf('org/repo', 'v1.0', 'TQ2_0'));
  assert.deepEqual(parseModelRef('hf.co/org/repo:q8_0', none), hf('org/repo', 'main', 'q8_0'));
  assert.deepEqual(parseModelRef('org/repo:model-f16.gguf', none), hf('org/repo', 'main', 'model-f16.gguf'));
  assert.deepEqual(parseModelRef('huggingface.co/org/repo', none), hf('org/repo'));
  assert.deepEqual(parseModelRef('https://huggingface.co/microsoft/bitnet-b1.58-2B-4T', none), hf('microsoft/bitnet-b1.58-2B-4T'));
  assert.deepEqual(parseModelRef('https://huggingface.co/org/repo/resolve/main/sub/m.gguf?download=true', none), hf('org/repo', 'main', 'sub/m.gguf'));
  assert.deepEqual(parseModelRef('https://huggingface.co/org/repo/blob/abc123/m.gguf', none), hf('org/repo', 'abc123', 'm.gguf'));
  assert.deepEqual(parseModelRef('https://huggingface.co/org/repo/tree/dev', none), hf('org/repo', 'dev'));
  // a mirror named by HF_ENDPOINT is a hub too
  assert.deepEqual(parseModelRef('http://127.0.0.1:9/org/repo/resolve/main/a.gguf', { exists: () => false, endpoint: 'http://127.0.0.1:9' }), hf('org/repo', 'main', 'a.gguf'));
});

test('paths and URLs', () => {
  assert.deepEqual(parseModelRef('https://example.com/models/a.gguf', none), { kind: 'url', url: 'https://example.com/models/a.gguf' });
  assert.deepEqual(parseModelRef('models/x.gguf', none), { kind: 'local', path: 'models/x.gguf' });
  assert.deepEqual(parseModelRef('./org/repo', none), { kind: 'local', path: './org/repo' });
  assert.deepEqual(parseModelRef('/abs/org/repo', none), { kind: 'local', path: '/abs/org/repo' });
  assert.deepEqual(parseModelRef('ggml-model-i2_s.gguf', none), { kind: 'local', path: 'ggml-model-i2_s.gguf' });
  assert.deepEqual(parseModelRef('just-a-name', none), { kind: 'local', path: 'just-a-name' });
  // an existing folder that looks like org/repo is a folder
  assert.deepEqual(parseModelRef('org/repo', { exists: (p) => p === 'org/repo' }), { kind: 'local', path: 'org/repo' });
});

test('malformed references are INVALID_ARGUMENT naming the reference', () => {
  for (const bad of ['hf:nope', 'hf:org/repo/extra', 'hf:org/..', 'https://huggingface.co/org', 'https://huggingface.co/datasets/a/b']) {
    assert.throws(() => parseModelRef(bad, none), (e: unknown) => e instanceof BitnetError && e.code === 'INVALID_ARGUMENT' && e.message.includes(bad), bad);
  }
});

test('GGUF choice: the 2B4T repo gives ggml-model-i2_s.gguf; preference i2_s > tq2_0 > tq1_0 > the only one', () => {
  const repo2b = ['.gitattributes', 'README.md', 'ggml-model-i2_s.gguf', 'data_summary_card.md'];
  assert.deepEqual(selectFiles('microsoft/bitnet-b1.58-2B-4T-gguf', repo2b), { files: ['ggml-model-i2_s.gguf'], kind: 'gguf', file: 'ggml-model-i2_s.gguf' });
  const many = ['m-TQ1_0.gguf', 'm-TQ2_0.gguf', 'm-I2_S.gguf', 'm-f16.gguf'];
  assert.equal(selectFiles('o/r', many).file, 'm-I2_S.gguf');
  assert.equal(selectFiles('o/r', many.slice(0, 2)).file, 'm-TQ2_0.gguf');
  assert.equal(selectFiles('o/r', ['m-TQ1_0.gguf', 'm-f16.gguf']).file, 'm-TQ1_0.gguf');
  assert.equal(selectFiles('o/r', ['only.gguf', 'README.md']).file, 'only.gguf');
  assert.throws(() => selectFiles('o/r', ['a-f16.gguf', 'a-q8_0.gguf']), /several GGUF files.*o\/r:FILE/);
  // by quant, case-insensitively, as a whole word; by exact or base name
  assert.equal(selectFiles('o/r', many, 'tq1_0').file, 'm-TQ1_0.gguf');
  assert.equal(selectFiles('o/r', many, 'F16').file, 'm-f16.gguf');
  assert.equal(selectFiles('o/r', ['x/m-I2_S.gguf'], 'm-I2_S.gguf').file, 'x/m-I2_S.gguf');
  assert.throws(() => selectFiles('o/r', ['m-tq1_0.gguf'], 'q1_0'), (e: unknown) => e instanceof BitnetError && e.code === 'REMOTE_NOT_FOUND' && /q1_0/.test(e.message));
  assert.throws(() => selectFiles('o/r', ['a-q8_0.gguf', 'b-q8_0.gguf'], 'q8_0'), /matches several/);
});

test('safetensors repos give the folder files; repos with neither are refused', () => {
  const files = ['README.md', 'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors', 'LICENSE'];
  const sel = selectFiles('microsoft/bitnet-b1.58-2B-4T', files);
  assert.equal(sel.kind, 'folder');
  assert.deepEqual(sel.files, ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors']);
  const sharded = selectFiles('o/r', ['config.json', 'model-00002-of-00002.safetensors', 'model-00001-of-00002.safetensors', 'model.safetensors.index.json']);
  assert.deepEqual(sharded.files, ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  assert.throws(() => selectFiles('o/r', ['README.md', 'pytorch_model.bin']), (e: unknown) => e instanceof BitnetError && e.code === 'REMOTE_NOT_FOUND' && /no GGUF or safetensors/.test(e.message));
  assert.throws(() => selectFiles('o/r', ['model.safetensors']), /no config.json/);
});

test('hubConfig reads huggingface_hub\'s environment', () => {
  const c = hubConfig({ HF_HOME: '/h', XDG_CACHE_HOME: '/x', HF_ENDPOINT: 'http://mirror:1/', HF_HUB_OFFLINE: 'YES', HUGGING_FACE_HUB_TOKEN: 't1' });
  assert.deepEqual(c, { endpoint: 'http://mirror:1', token: 't1', cacheDir: join('/h', 'hub'), offline: true, bitnetCacheDir: join('/x', 'bitnet') });
  const d = hubConfig({ HF_HUB_CACHE: '/c', XDG_CACHE_HOME: '/x', HF_TOKEN: 't2', HUGGING_FACE_HUB_TOKEN: 't1', HF_HUB_OFFLINE: '0' });
  assert.equal(d.cacheDir, '/c');
  assert.equal(d.token, 't2');
  assert.equal(d.offline, false);
  assert.equal(d.endpoint, 'https://huggingface.co');
  assert.equal(hubConfig({ XDG_CACHE_HOME: '/x' }).cacheDir, join('/x', 'huggingface', 'hub'));
});
