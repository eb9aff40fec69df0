// The RoPE scaling flags (--rope-scaling, --rope-scale, --rope-freq-scale, --rope-freq-base, --yarn-*) with
// llama.cpp's meanings and BITNET_* twins, in every command's context group; bad values are usage errors
// naming the flag; and end to end, -c beyond the bundled model's training context runs, warning once unless
// RoPE is scaled over it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONTEXT_OPTIONS, loadOptions, parseCommand, UsageError } from '../../../src/cli/args.js';
import { runCli } from '../../fixtures/cli.js';

const parse = (argv: string[]) => loadOptions(parseCommand(argv, CONTEXT_OPTIONS, 0).values);

test('the flags map to LoadOptions.rope as llama.cpp reads them', () => {
  assert.equal(parse([]).rope, undefined);
  assert.deepEqual(
    parse(['--rope-scaling', 'yarn', '--rope-scale', '4', '--rope-freq-base', '1e6', '--yarn-orig-ctx', '2048', '--yarn-ext-factor', '0.5', '--yarn-attn-factor', '1.2', '--yarn-beta-fast', '16', '--yarn-beta-slow', '2']).rope,
    { scaling: 'yarn', scale: 4, freqBase: 1e6, yarnOrigCtx: 2048, yarnExtFactor: 0.5, yarnAttnFactor: 1.2, yarnBetaFast: 16, yarnBetaSlow: 2 },
  );
  // --rope-freq-scale is 1/N; -1 is the "auto" ext factor and parses as a value
  assert.deepEqual(parse(['--rope-freq-scale', '0.25', '--yarn-ext-factor', '-1']).rope, { scale: 4, yarnExtFactor: -1 });
  assert.deepEqual(parse(['--rope-scaling', 'none']).rope, { scaling: 'none' });
});

test('each flag has a BITNET_* twin, and the flag wins over it', () => {
  const saved = { ...process.env };
  try {
    process.env.BITNET_ROPE_SCALE = '2';
    process.env.BITNET_ROPE_SCALING = 'linear';
    process.env.BITNET_YARN_BETA_FAST = '8';
    assert.deepEqual(parse([]).rope, { scaling: 'linear', scale: 2, yarnBetaFast: 8 });
    assert.deepEqual(parse(['--rope-scale', '3']).rope, { scaling: 'linear', scale: 3, yarnBetaFast: 8 });
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
});

test('bad values are usage errors naming the flag', () => {
  const bad: Array<[string[], RegExp]> = [
    [['--rope-scale', '0'], /^--rope-scale must be a number > 0, got "0"/],
    [['--rope-scale', '-2'], /^--rope-scale must be a number > 0, got "-2"/],
    [['--rope-scale', 'x4'], /^--rope-scale must be a number/],
    [['--rope-freq-scale', '0'], /^--rope-freq-scale must be a number > 0/],
    [['--rope-scale', '2', '--rope-freq-scale', '0.5'], /--rope-scale and --rope-freq-scale cannot be used together/],
    [['--rope-scaling', 'longrope'], /^--rope-scaling must be one of none, linear, yarn, got "longrope"/],
    [['--rope-freq-base', '0'], /^--rope-freq-base must be a number > 0/],
    [['--yarn-orig-ctx', '-1'], /^--yarn-orig-ctx must be an integer >= 0/],
    [['--yarn-orig-ctx', '1.5'], /^--yarn-orig-ctx must be an integer/],
    [['--yarn-ext-factor', '2'], /^--yarn-ext-factor must be a number <= 1/],
    [['--yarn-attn-factor', '0'], /^--yarn-attn-factor must be a number > 0/],
    [['--yarn-beta-fast', '-32'], /^--yarn-beta-fast must be a number > 0/],
    [['--yarn-beta-slow', 'NaN'], /^--yarn-beta-slow must be a number/],
  ];
  for (const [argv, message] of bad) assert.throws(() => parse(argv), (e) => e instanceof UsageError && message.test(e.message), argv.join(' '));
});

test('bitnet run: -c beyond the training context with YaRN over it runs without the warning; a bad --rope-scale exits 2', async () => {
  // the bundled model is trained on 256 positions
  const r = await runCli(['run', '-p', 'Once upon a time', '-n', '4', '--temp', '0', '-c', '512', '--rope-scaling', 'yarn', '--rope-scale', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /training context/);
  const over = await runCli(['run', '-p', 'Once', '-n', '2', '--temp', '0', '-c', '1024', '--rope-scaling', 'yarn', '--rope-scale', '2']);
  assert.equal(over.code, 0, over.stderr);
  assert.equal(over.stderr.match(/context size 1024 is more than the model's training context 256 \(RoPE is scaled to 512\)/g)?.length, 1, over.stderr);
  const bad = await runCli(['run', '-p', 'Once', '--rope-scale', '0']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--rope-scale must be a number > 0, got "0"/);
});
