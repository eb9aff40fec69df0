// Tiny training runs (seconds): the loss falls on a repeated sentence; a run stopped and resumed from its
// checkpoint follows exactly the curve of an uninterrupted one; the exported GGUF loads in the engine and
// its logits equal the trainer's quantized forward; the Hugging Face export loads too; data helpers.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { loadModel } from '../../../src/index.js';
import { evalWindows, sampleBatch, splitDocuments, splitHeldOut } from '../../../src/train/data.js';
import { exportGguf, exportHfPacked } from '../../../src/train/export.js';
import { scheduleAt } from '../../../src/train/optim.js';
import { train, type TrainOptions } from '../../../src/train/trainer.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('train');
const SENTENCES = ['The little cat sat on the warm mat and looked at the sun.', 'Tom and Lily went to the park to play with a big red ball.', 'Once upon a time there was a happy dog who loved to run.'];
const TEXT = Array.from({ length: 60 }, (_, i) => `${SENTENCES[i % 3]}\n<|endoftext|>\n`).join('');

const OPTS: TrainOptions = {
  text: TEXT,
  valFraction: 0.1,
  vocabSize: 320,
  model: { nEmbd: 128, nFf: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nCtx: 32, ropeTheta: 10000, eps: 1e-5, quantize: true },
  steps: 40,
  batch: 4,
  seqLen: 16,
  lr: 4e-3,
  minLrRatio: 0.1,
  warmup: 5,
  schedule: 'cosine',
  weightDecay: 0.1,
  clip: 1,
  seed: 7,
  evalEvery: 0,
  evalTokens: 512,
};

test('data: documents, held-out split, seeded windows', () => {
  assert.deepEqual(splitDocuments('a\n<|endoftext|>\nb c\n<|endoftext|>\n\n'), ['a', 'b c']);
  assert.deepEqual(splitDocuments('para one\n\npara two'), ['para one', 'para two']);
  const docs = Array.from({ length: 100 }, (_, i) => `d${i}`);
  const s1 = splitHeldOut(docs, 0.2, 1);
  assert.deepEqual(s1, splitHeldOut(docs, 0.2, 1));
  assert.equal(s1.train.length + s1.val.length, 100);
  assert.ok(s1.val.length > 5 && s1.val.length < 40);
  const stream = Int32Array.from({ length: 100 }, (_, i) => i);
  const b = sampleBatch(stream, 3, 8, 5, 17);
  assert.deepEqual(b, sampleBatch(stream, 3, 8, 5, 17));
  assert.notDeepEqual(b, sampleBatch(stream, 3, 8, 5, 18));
  for (let r = 0; r < 3; r++) for (let i = 1; i < 9; i++) assert.equal(b[r * 9 + i], b[r * 9 + i - 1]! + 1);
  assert.equal(evalWindows(stream, 10, 1000).reduce((a, w) => a + w.length - 1, 0), 99);
});

test('schedules: warmup, decay to the floor, and the two-stage cooldown without weight decay', () => {
  const s = { lr: 1, minLrRatio: 0.1, warmup: 10, total: 110, weightDecay: 0.1 };
  for (const kind of ['cosine', 'linear', 'two-stage'] as const) {
    assert.equal(scheduleAt({ ...s, kind }, 0).lr, 0.1);
    assert.equal(scheduleAt({ ...s, kind }, 9).lr, 1);
    assert.ok(Math.abs(scheduleAt({ ...s, kind }, 110).lr - 0.1) < 1e-9);
  }
  assert.equal(scheduleAt({ ...s, kind: 'two-stage' }, 40).weightDecay, 0.1);
  assert.equal(scheduleAt({ ...s, kind: 'two-stage' }, 80).weightDecay, 0);
});

test('the loss falls clearly on repeated sentences', async () => {
  const r = await train(OPTS);
  const first = r.state.history[0]!.loss;
  const last = r.state.history.at(-1)!.loss;
  assert.ok(last < first * 0.5, `loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  assert.ok(r.valLoss < first * 0.5, `held-out loss ${r.valLoss.toFixed(3)}`);
});

test('a run stopped and resumed from its checkpoint continues the uninterrupted curve exactly', async () => {
  const whole = await train({ ...OPTS, steps: 24 });
  const ckpt = join(dir, 'run.ckpt.gguf');
  const ctrl = new AbortController();
  const first = await train({ ...OPTS, steps: 24 }, { checkpoint: ckpt, signal: ctrl.signal, onStep: (s) => s.step === 10 && ctrl.abort() });
  assert.equal(first.stopped, true);
  assert.equal(first.state.step, 10);
  const resumed = await train({ ...OPTS, steps: 24 }, { checkpoint: ckpt }, ckpt);
  assert.equal(resumed.stopped, false);
  assert.deepEqual(
    resumed.state.history.map((h) => h.loss),
    whole.state.history.map((h) => h.loss),
  );
  const a = whole.model.params.map((p) => Array.from(p.data));
  assert.deepEqual(resumed.model.params.map((p) => Array.from(p.data)), a);
});

test('the exported GGUF loads in the engine and its logits equal the trainer quantized forward', async () => {
  const r = await train({ ...OPTS, steps: 20 });
  const path = join(dir, 'tiny-trained.gguf');
  await exportGguf(r.model, r.vocab, path, { name: 'test' }, { embedding: 'F32' });
  const engine = await loadModel(path, { backend: 'ref', kvType: 'f32', lmHead: 'exact' });
  try {
    assert.equal(engine.hparams.arch, 'bitnet-b1.58');
    const ids = engine.tokenize('The little cat sat on the warm mat', { addBos: true });
    const T = ids.length;
    const mine = new Float32Array(T * r.model.config.nVocab);
    r.model.step(Int32Array.from([...ids, 0]), 1, T, { backward: false, logitsOut: mine });
    const theirs = await engine.evaluate(ids);
    const V = r.model.config.nVocab;
    let maxDiff = 0;
    let maxAbs = 0;
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < V; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(theirs[t]![i]! - mine[t * V + i]!));
        maxAbs = Math.max(maxAbs, Math.abs(mine[t * V + i]!));
      }
    }
    assert.ok(maxDiff <= 1e-3 * Math.max(1, maxAbs), `max logit difference ${maxDiff} (largest logit ${maxAbs})`);
    // it generates with the trained vocabulary and chat template
    const out = await engine.complete('The little cat', { maxTokens: 8, temperature: 0 });
    assert.ok(out.tokens.length > 0);
    assert.match(engine.applyChatTemplate([{ role: 'user', content: 'Hi' }]), /User: Hi<\|eot_id\|>Assistant: $/);
  } finally {
    await engine.dispose();
  }
  // the Hugging Face packed export holds the same ternary model (bf16 norms and embedding: close, not equal)
  const hf = join(dir, 'hf');
  await exportHfPacked(r.model, r.vocab, hf);
  const fromHf = await loadModel(hf, { backend: 'ref', kvType: 'f32', lmHead: 'exact' });
  try {
    const ids = fromHf.tokenize('Tom and Lily went', { addBos: true });
    const a = (await fromHf.evaluate(ids)).at(-1)!;
    const mine = new Float32Array(ids.length * r.model.config.nVocab);
    r.model.step(Int32Array.from([...ids, 0]), 1, ids.length, { backward: false, logitsOut: mine });
    const b = mine.subarray((ids.length - 1) * r.model.config.nVocab);
    const argmax = (x: ArrayLike<number>) => Array.prototype.indexOf.call(x, Math.max(...Array.from(x)));
    assert.equal(argmax(a), argmax(b));
  } finally {
    await fromHf.dispose();
  }
});

test('bitnet train on the command line: trains, saves a checkpoint, exports; --export-only re-exports it; bitnet run loads the result', () => {
  const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
  const text = join(dir, 'cli.txt');
  writeFileSync(text, TEXT);
  const out = join(dir, 'cli.gguf');
  const ckpt = join(dir, 'cli.ckpt.gguf');
  const common = ['--vocab-size', '300', '--dim', '128', '--ff', '256', '--layers', '1', '--heads', '2', '--kv-heads', '1', '--ctx', '32', '--seq', '16', '--batch', '2'];
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8' });
  const r = cli(['train', '-f', text, ...common, '--steps', '6', '--eval-every', '3', '--checkpoint', ckpt, '--out', out, '-t', '1']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /held-out loss \d/);
  assert.match(r.stderr, /exported /);
  const again = join(dir, 'cli-again.gguf');
  const e = cli(['train', '--resume', ckpt, '--export-only', '--out', again]);
  assert.equal(e.status, 0, e.stderr);
  const run = cli(['run', '-m', again, 'The little cat', '-n', '4', '-s', '1', '--no-progress']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /tokens\/s/);
  const bad = cli(['train', '--vocab-size', '300']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /no training text/);
});

test('Ctrl-C during bitnet train saves a checkpoint and exits 130', async () => {
  const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
  const text = join(dir, 'sigint.txt');
  writeFileSync(text, TEXT);
  const ckpt = join(dir, 'sigint.ckpt.gguf');
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'train', '-f', text, '--vocab-size', '300', '--dim', '128', '--ff', '128', '--layers', '1', '--ctx', '32', '--seq', '16', '--batch', '2', '--steps', '100000', '--checkpoint', ckpt, '-t', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  // once training has started, interrupt it
  while (!/model: /.test(stderr)) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  child.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  assert.match(stderr, /interrupted/);
  assert.match(stderr, /--resume/);
  assert.ok(existsSync(ckpt));
});
