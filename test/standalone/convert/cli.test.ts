// `bitnet convert` run as a child process (through tsx): Hugging Face folder -> I2_S -> TQ2_0 end to end,
// the verification line on stderr and nothing on stdout, the converted file usable by `bitnet run`, and the
// exit codes of usage errors (2) and typed errors (1, one line, no stack trace).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, type CliResult } from '../../fixtures/cli.js';
import { makeFixture, TINY, writeHfFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { assertIdenticalLogits, logitsOf, TOKENS } from './helpers.js';

const dir = tempDir('convert-cli');

const cli = (args: string[]): Promise<CliResult> => runCli(args);

test('bitnet convert: HF folder -> I2_S -> TQ2_0, verified on stderr, runnable, identical logits', async () => {
  const fx = makeFixture({ ...TINY, seed: 4 });
  const hf = join(dir, 'hf');
  await writeHfFixture(fx, hf, { kind: 'packed' });
  const i2s = join(dir, 'model-i2_s.gguf');
  const a = await cli(['convert', hf, i2s, '--type', 'i2_s']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, '');
  assert.match(a.stderr, /wrote .*model-i2_s\.gguf: arch bitnet-b1\.58 \(from bitnet-b1\.58\), 14 I2_S projections, embedding F16/);
  assert.match(a.stderr, /^verified: 14 ternary tensors identical \(values and scales\), 10 other tensors byte for byte$/m);

  const tq2 = join(dir, 'model-tq2_0.gguf');
  const b = await cli(['convert', i2s, tq2, '--type', 'TQ2_0', '--embedding', 'q8_0']);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /arch bitnet \(from bitnet-b1\.58\), 14 TQ2_0 projections, embedding Q8_0/);
  assert.match(b.stderr, /verified: 14 ternary tensors identical/);

  const run = await cli(['run', '-m', tq2, '-p', 'Once upon a time', '-n', '4', '--temp', '0', '--backend', 'ref']);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.length > 0);

  const tokens = [fx.vocab.bos!, ...TOKENS];
  assertIdenticalLogits((await logitsOf(i2s, tokens)).logits, (await logitsOf(hf, tokens)).logits, 'CLI I2_S vs HF');
});

test('bitnet convert: usage errors exit 2, typed errors exit 1 with one line and no partial file', async () => {
  const fx = makeFixture({ ...TINY, seed: 4 });
  const hf = join(dir, 'hf2');
  await writeHfFixture(fx, hf, { kind: 'bf16' });
  const out = join(dir, 'out.gguf');
  const noType = await cli(['convert', hf, out]);
  assert.equal(noType.code, 2);
  assert.match(noType.stderr, /--type is required/);
  const badType = await cli(['convert', hf, out, '--type', 'q4_0']);
  assert.equal(badType.code, 2);
  assert.match(badType.stderr, /--type must be one of i2_s, tq2_0, tq1_0, got "q4_0"/);
  const oneArg = await cli(['convert', hf, '--type', 'i2_s']);
  assert.equal(oneArg.code, 2);

  const ok = await cli(['convert', hf, out, '--type', 'tq1_0', '--no-progress']);
  assert.equal(ok.code, 0, ok.stderr);
  const again = await cli(['convert', hf, out, '--type', 'i2_s']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^bitnet convert: error \[FILE_EXISTS\]: .*out\.gguf: the output file exists/);
  assert.equal(again.stderr.trim().split('\n').length, 1, again.stderr);
  const forced = await cli(['convert', hf, out, '--type', 'i2_s', '-f']);
  assert.equal(forced.code, 0, forced.stderr);

  const missing = await cli(['convert', join(dir, 'nope'), join(dir, 'x.gguf'), '--type', 'i2_s']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /FILE_NOT_FOUND/);
  assert.ok(!existsSync(join(dir, 'x.gguf')));
  const help = await cli(['convert', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: bitnet convert IN OUT --type i2_s\|tq2_0\|tq1_0/);
  const top = await cli(['--help']);
  assert.match(top.stdout, /convert +convert a ternary model/);
});
