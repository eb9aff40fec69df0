// The bundled offline eval task (tinystories_next_sentence): scripts/make-tinystories-task.mjs writes the same
// documents every time (byte-identical to the models/ file the build wrote), `bitnet eval` with no -m and no
// --tasks scores the bundled model on them and prints the score of the model card (models/README.md and
// models/<name>.json), clearly above chance, and a missing documents file is a clear FILE_NOT_FOUND.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MODEL_FILE } from '../../../src/cli/default-model.js';
import { BitnetError } from '../../../src/errors.js';
import { bundledTask, tinystoriesNextSentence, tinystoriesTaskPath } from '../../../src/eval/tasks/tinystories.js';
import { ROOT, runCli } from '../../fixtures/cli.js';

const source = join(ROOT, '..', 'shared', 'data', 'tinystories');
const heldOut = join(source, 'tinystories_v1_valid_head.txt');
const noData = existsSync(heldOut) ? false : `${heldOut} is absent (the task's documents are made from it)`;
const bundled = tinystoriesTaskPath();
const noDocs = existsSync(bundled) ? false : `${bundled} is absent (npm run build writes it when ../shared/data is present)`;

interface Doc {
  context: string;
  choices: string[];
  label: number;
  story: number;
  sentence: number;
  source: string;
}

function make(out: string): void {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/make-tinystories-task.mjs'), '--source', source, '--out', out, '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

test('the script writes the same documents every time, and the ones in models/', { skip: noData }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-task-'));
  try {
    make(join(dir, 'a.jsonl'));
    make(join(dir, 'b.jsonl'));
    const a = readFileSync(join(dir, 'a.jsonl'));
    assert.ok(a.equals(readFileSync(join(dir, 'b.jsonl'))), 'two runs differ');
    if (existsSync(bundled)) assert.ok(a.equals(readFileSync(bundled)), `${bundled} differs from the script's output (rerun npm run build)`);
    const docs = a.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Doc);
    assert.equal(docs.length, 500);
    const stories = readFileSync(heldOut, 'utf8').split(/^<\|endoftext\|>$/m).map((s) => s.replace(/\s+/g, ' ').trim()).filter(Boolean);
    for (const d of docs) {
      assert.equal(d.choices.length, 4);
      assert.ok(Number.isInteger(d.label) && d.label >= 0 && d.label < 4);
      assert.equal(new Set(d.choices).size, 4, 'the choices differ');
      assert.equal(d.source, 'tinystories_v1_valid_head.txt');
      assert.ok(d.sentence >= 2 && d.sentence <= 5);
      assert.ok(d.context.length + Math.max(...d.choices.map((c) => c.length)) < 800, 'context + choice fit the model (~4 characters a token, 256 tokens)');
      // the context and the true choice are the opening of the story named; the distractors are not from it
      const story = stories[d.story]!;
      assert.ok(story.startsWith(`${d.context} ${d.choices[d.label]}`), `story ${d.story}`);
      for (const [i, c] of d.choices.entries()) if (i !== d.label) assert.ok(!story.includes(c), `distractor "${c}" is from story ${d.story}`);
    }
    assert.ok(new Set(docs.map((d) => d.label)).size === 4, 'the true sentence is in every position somewhere');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bitnet eval with no -m and no --tasks reproduces the model card', { skip: noDocs }, async () => {
  const res = await runCli(['eval', '--no-progress'], { timeoutMs: 180_000 });
  assert.equal(res.code, 0, res.stderr);
  const printed = (metric: string): number => {
    const m = new RegExp(`\\|${metric}\\s*\\|[^|]*\\|\\s*([0-9.]+)\\|[^|]*\\|\\s*([0-9.]+)\\|`).exec(res.stdout);
    assert.ok(m, `no ${metric} row in\n${res.stdout}`);
    return Number(m[1]);
  };
  assert.match(res.stdout, /tinystories_next_sentence/);
  const acc = printed('acc');
  const accNorm = printed('acc_norm');
  const readme = readFileSync(join(ROOT, 'models/README.md'), 'utf8');
  const inCard = (re: RegExp): number => {
    const m = re.exec(readme);
    assert.ok(m, `models/README.md has no row ${re}`);
    return Number(m[1]);
  };
  assert.equal(acc, inCard(/^\| acc \| ([0-9.]+) \|/m));
  assert.equal(accNorm, inCard(/^\| acc_norm \| \*\*([0-9.]+)\*\* \|/m));
  const card = JSON.parse(readFileSync(join(ROOT, 'models', DEFAULT_MODEL_FILE.replace(/\.gguf$/, '.json')), 'utf8')) as { nextSentence: { acc: number; accNorm: number; accNormStderr: number } };
  assert.equal(acc, card.nextSentence.acc);
  assert.equal(accNorm, card.nextSentence.accNorm);
  // clearly above chance (0.25): more than five standard errors
  assert.ok(accNorm - 0.25 > 5 * card.nextSentence.accNormStderr, `acc_norm ${accNorm}`);
});

test('a missing documents file is a clear FILE_NOT_FOUND', () => {
  const missing = join(tmpdir(), 'bitnet-no-such-dir', 'tinystories-next-sentence.jsonl');
  assert.throws(
    () => bundledTask(missing),
    (e: unknown) => e instanceof BitnetError && e.code === 'FILE_NOT_FOUND' && e.file === missing && /make-tinystories-task/.test(e.message),
  );
});

test('bundledTask(file) is the same task reading another file', { skip: noDocs }, () => {
  assert.equal(bundledTask(), tinystoriesNextSentence);
  const t = bundledTask(bundled);
  assert.equal(t.task, 'tinystories_next_sentence');
  assert.deepEqual(t.dataset.dataFiles, { test: bundled });
});
