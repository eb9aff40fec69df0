// The CLI's context shift flags: `bitnet run -n` past the context goes on (default) or stops at the end of
// the context with --no-context-shift; --keep at or beyond the context, or below -1, exits 2 naming --keep;
// the flags are in run / chat / serve --help with their environment twins.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, type CliOptions, type CliResult } from '../../fixtures/cli.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';

let dir: string;
let modelPath: string;
const cli = (args: string[], opts: CliOptions = {}): Promise<CliResult> => runCli(args, { timeoutMs: 30_000, ...opts });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-cli-shift-'));
  modelPath = join(dir, 'tiny.gguf');
  await writeGgufFixture(makeFixture(TINY), modelPath, { weights: 'I2_S', embedding: 'F16' });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('context shift flags', { concurrency: 2 }, () => {
  test('run -n beyond the context goes on; --no-context-shift (or its env twin) stops at the context', async () => {
    const base = ['run', '-m', modelPath, '-c', '32', '--ignore-eos', '-s', '1', '-p', 'Once upon a time'];
    const [on, off, env] = await Promise.all([cli([...base, '-n', '100']), cli([...base, '-n', '100', '--no-context-shift']), cli([...base, '-n', '100'], { env: { BITNET_NO_CONTEXT_SHIFT: '1' } })]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stderr, /generation: 100 tokens/);
    assert.equal(off.code, 0, off.stderr);
    const prompt = Number(/prompt: (\d+) tokens/.exec(off.stderr)?.[1]);
    assert.match(off.stderr, new RegExp(`generation: ${32 - prompt} tokens`));
    assert.equal(env.stdout, off.stdout);
  });

  test('--keep at or beyond the context, or below -1, exits 2 naming --keep', async () => {
    for (const [cmd, keep] of [['run', '32'], ['run', '-2'], ['run', 'x'], ['chat', '40']] as const) {
      const r = await cli([cmd, '-m', modelPath, '-c', '32', '--keep', keep, ...(cmd === 'run' ? ['-p', 'hi'] : [])], { input: 'Hello\n' });
      assert.equal(r.code, 2, `${cmd} --keep ${keep}: ${r.stderr}`);
      assert.ok(r.stderr.includes('--keep') && r.stderr.includes(keep), r.stderr);
      assert.equal(r.stdout, '');
    }
    // -c 0 is the model's context (256): known after loading, checked then
    const late = await cli(['run', '-m', modelPath, '--keep', '256', '-p', 'hi']);
    assert.equal(late.code, 2, late.stderr);
    assert.match(late.stderr, /--keep must be below the context size 256/);
    const ok = await cli(['run', '-m', modelPath, '-c', '32', '--keep', '-1', '-n', '40', '--ignore-eos', '-p', 'Once upon a time']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /generation: 40 tokens/);
  });

  test('run, chat and serve --help list the flags with their environment twins', async () => {
    for (const cmd of ['run', 'chat', 'serve']) {
      const r = await cli([cmd, '--help']);
      assert.equal(r.code, 0);
      for (const s of ['--keep', 'BITNET_KEEP', '--no-context-shift', 'BITNET_NO_CONTEXT_SHIFT']) assert.ok(r.stdout.includes(s), `${cmd}: ${s}`);
    }
  });
});
