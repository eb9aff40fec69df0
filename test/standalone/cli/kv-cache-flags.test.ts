// The KV cache type flags on the CLI: -ctk / -ctv (--cache-type-k / -v, env twins, --cache-type for both) in
// run (the library's text with the same types), bad values and types a model cannot take (exit 2 / 1 naming
// the flag), bench comma lists (one run per combination, type_k / type_v columns), and perplexity's f16 base.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, type CliOptions, type CliResult } from '../../fixtures/cli.js';
import { loadModel } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';

let dir: string;
let modelPath: string;
let hd16Path: string;

const cli = (args: string[], opts: CliOptions = {}): Promise<CliResult> => runCli(args, { timeoutMs: 30_000, ...opts });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-kvq-cli-'));
  modelPath = join(dir, 'tiny.gguf');
  hd16Path = join(dir, 'hd16.gguf');
  await writeGgufFixture(makeFixture(TINY), modelPath, { weights: 'I2_S', embedding: 'F16' });
  await writeGgufFixture(makeFixture({ ...TINY, nHead: 16, nHeadKv: 4 }), hd16Path, { weights: 'I2_S', embedding: 'F16' });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('KV cache type flags', { concurrency: 2 }, () => {
  test('run -ctk q8_0 -ctv=q4_0: the library text with the same cache types; help lists the flags', async () => {
    const r = await cli(['run', '-m', modelPath, '-ctk', 'q8_0', '-ctv=q4_0', '--temp', '0', '-n', '8', '-p', 'Once upon a time']);
    assert.equal(r.code, 0, r.stderr);
    const m = await loadModel(modelPath, { kvType: { k: 'q8_0', v: 'q4_0' } });
    assert.equal(r.stdout, `${(await m.complete('Once upon a time', { temperature: 0, maxTokens: 8 })).text}\n`);
    await m.dispose();
    const env = await cli(['run', '-m', modelPath, '--temp', '0', '-n', '8', '-p', 'Once upon a time'], { env: { BITNET_CACHE_TYPE_K: 'q8_0', BITNET_CACHE_TYPE_V: 'q4_0' } });
    assert.equal(env.stdout, r.stdout);
    const help = await cli(['run', '--help']);
    assert.match(help.stdout, /-ctk, --cache-type-k TYPE .*BITNET_CACHE_TYPE_K/);
    assert.match(help.stdout, /-ctv, --cache-type-v TYPE .*BITNET_CACHE_TYPE_V/);
  });

  test('bad values exit 2 naming the flag; a type the model cannot take exits 1 naming it', async () => {
    const cases: Array<[string[], Record<string, string>, string, string]> = [
      [['-ctk', 'q3_x'], {}, '--cache-type-k', 'q3_x'],
      [['-ctv=q9'], {}, '--cache-type-v', 'q9'],
      [['--cache-type', 'q8'], {}, '--cache-type', 'q8'],
      [[], { BITNET_CACHE_TYPE_K: 'q5_1' }, '--cache-type-k', 'q5_1'],
    ];
    for (const [flags, env, name, value] of cases) {
      const r = await cli(['run', '-m', modelPath, ...flags, '-n', '2', '-p', 'hi'], { env });
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.includes(name) && r.stderr.includes(value) && r.stderr.includes('q8_0, q4_0'), r.stderr);
      assert.equal(r.stdout, '');
    }
    const hd = await cli(['run', '-m', hd16Path, '-ctk', 'q8_0', '-n', '2', '-p', 'hi']);
    assert.equal(hd.code, 1, hd.stderr);
    assert.match(hd.stderr, /INVALID_ARGUMENT.*cache-type-k: q8_0 needs a head size that is a multiple of 32, this model's is 16/);
  });

  test('bench -ctk f16,q8_0 -ctv q4_0: one run per combination, the types in each row', async () => {
    const j = await cli(['bench', '-m', modelPath, '-p', '8', '-n', '4', '-r', '1', '-t', '1', '-ctk', 'f16,q8_0', '-ctv', 'q4_0', '-o', 'json']);
    assert.equal(j.code, 0, j.stderr);
    const out = JSON.parse(j.stdout) as { runs: Array<{ kvTypes: { k: string; v: string }; kvBytesPerPosition: number }> };
    assert.deepEqual(out.runs.map((r) => r.kvTypes), [{ k: 'f16', v: 'q4_0' }, { k: 'q8_0', v: 'q4_0' }]);
    // bytes per position: 2 layers x 128 K/V values x (2 + 18/32) and x (34/32 + 18/32)
    assert.deepEqual(out.runs.map((r) => r.kvBytesPerPosition), [2 * 128 * (2 + 18 / 32), 2 * 128 * (34 / 32 + 18 / 32)]);
    const md = await cli(['bench', '-m', modelPath, '-p', '0', '-n', '4', '-r', '1', '-t', '1', '-ctk', 'q8_0']);
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /^\| model \| size \| params \| backend \| threads \| type_k \| type_v \| test \| t\/s \| KV cache \|$/m);
    assert.match(md.stdout, /\| q8_0 \| f16 \| tg4 \| [\d.]+ ± 0\.00 \| [\d.]+ KB q8_0\/f16 \|/);
    const bad = await cli(['bench', '-m', modelPath, '-ctk', 'f16,q3']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--cache-type-k: "q3" is not one of f32, f16, q8_0, q4_0/);
  });

  test('perplexity -ctk q8_0 --kl-divergence-base (same model): the base on an f16 cache, KL and top-1 agreement', async () => {
    const text = join(dir, 'text.txt');
    await writeFile(text, 'Once upon a time there was a little girl. She liked to play in the park with her dog. '.repeat(12));
    const r = await cli(['perplexity', '-m', modelPath, '-f', text, '-c', '64', '-ctk', 'q8_0', '-ctv', 'q8_0', '--kl-divergence-base', modelPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /base: the same model with KV cache f16 \(this run: q8_0\)/);
    assert.match(r.stdout, /KL divergence from the base: mean [\d.e+-]+, max [\d.e+-]+; top-1 agreement [\d.]+%/);
    // the same types on both sides: the same numbers, KL 0 and full agreement
    const same = await cli(['perplexity', '-m', modelPath, '-f', text, '-c', '64', '--kl-divergence-base', modelPath]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /mean 0\.0000e\+0, max 0\.0000e\+0; top-1 agreement 100\.00%/);
  });
});
