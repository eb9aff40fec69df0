// `bitnet eval` end to end on the bundled model with local data: built-in tasks through --data-dir (piqa with
// few-shot, gsm8k's generation and filters), an lm-eval YAML task through Jinja, lm-eval's table / results
// JSON / samples JSONL shapes, results that do not depend on threads or prefix reuse, and bad data and
// Python hooks refused by name.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../../fixtures/cli.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('eval-cli');
const data = join(dir, 'data');
const jsonl = (rows: object[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

const PIQA = [
  { goal: 'To open a jar', sol1: 'twist the lid.', sol2: 'eat the lid.', label: 0 },
  { goal: 'To dry a wet dog', sol1: 'use a towel.', sol2: 'use a fork and a spoon.', label: 0 },
  { goal: 'To play with a ball', sol1: 'throw the sun.', sol2: 'throw it to a friend.', label: 1 },
  { goal: 'To find the cat', sol1: 'look under the bed.', sol2: 'look inside the moon.', label: 0 },
  { goal: 'To make the girl happy', sol1: 'give her a big red ball.', sol2: 'give her a tax form.', label: 0 },
];
const GSM = [
  { question: 'Lily has 3 apples and gets 4 more. How many apples does she have?', answer: 'She has 3 + 4 = <<3+4=7>>7 apples.\n#### 7' },
  { question: 'Tom had 10 balls and lost 2. How many are left?', answer: '10 - 2 = <<10-2=8>>8\n#### 8' },
];

mkdirSync(join(data, 'baber', 'piqa'), { recursive: true });
writeFileSync(join(data, 'baber', 'piqa', 'validation.jsonl'), jsonl(PIQA));
writeFileSync(join(data, 'baber', 'piqa', 'train.jsonl'), jsonl([...PIQA].reverse()));
mkdirSync(join(data, 'openai', 'gsm8k', 'main'), { recursive: true });
writeFileSync(join(data, 'openai', 'gsm8k', 'main', 'test.jsonl'), jsonl(GSM));
writeFileSync(join(data, 'openai', 'gsm8k', 'main', 'train.jsonl'), jsonl([...GSM].reverse()));

/** The Value column of the results table, per task/filter/metric row. */
function values(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('|') && !l.startsWith('|--') && !l.startsWith('|Tasks'))
    .map((l) => l.split('|').map((c) => c.trim()).filter((_, i) => [3, 5, 7, 9].includes(i)).join(' '));
}

test('piqa and gsm8k through --data-dir: the table, the results JSON and the samples in lm-eval shapes', async () => {
  const out = join(dir, 'out');
  const r = await runCli(['eval', '--tasks', 'piqa,gsm8k', '--data-dir', data, '--num-fewshot', '1', '-o', out, '--log-samples', '--no-progress'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const header = r.stdout.split('\n')[0]!.split('|').map((c) => c.trim());
  assert.deepEqual(header, ['', 'Tasks', 'Version', 'Filter', 'n-shot', 'Metric', '', 'Value', '', 'Stderr', '']);
  assert.match(r.stdout, /\|piqa +\| +1\|none +\| +1\|acc +\|↑ +\|[01]\.\d{4}\|± +\|0\.\d{4}\|/);
  assert.match(r.stdout, /\|gsm8k *\| +3\|flexible-extract\| +1\|exact_match\|↑/);
  assert.match(r.stdout, /strict-match/);
  const files = readdirSync(out);
  const results = JSON.parse(readFileSync(join(out, files.find((f) => f.startsWith('results_'))!), 'utf8')) as Record<string, Record<string, Record<string, unknown>>>;
  for (const k of ['acc,none', 'acc_stderr,none', 'acc_norm,none', 'acc_norm_stderr,none']) assert.equal(typeof results.results!.piqa![k], 'number', k);
  assert.equal(typeof results.results!.gsm8k!['exact_match,strict-match'], 'number');
  assert.deepEqual(results['n-samples']!.piqa, { original: 5, effective: 5 });
  assert.equal(results['n-shot']!.piqa, 1);
  assert.equal(results.configs!.gsm8k!.output_type, 'generate_until');
  const piqaSamples = readFileSync(join(out, files.find((f) => f.startsWith('samples_piqa'))!), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(piqaSamples.length, 5);
  const s0 = piqaSamples[0]!;
  const args = s0.arguments as Record<string, { arg_0: string; arg_1: string }>;
  assert.ok(args.gen_args_0!.arg_0.endsWith('Question: To open a jar\nAnswer:'));
  assert.equal(args.gen_args_0!.arg_1, ' twist the lid.');
  assert.equal(args.gen_args_1!.arg_1, ' eat the lid.');
  const resps = s0.resps as Array<[number, boolean]>;
  assert.equal(resps.length, 2);
  assert.ok(resps.every(([ll, g]) => ll < 0 && typeof g === 'boolean'));
  assert.equal(s0.acc, resps[0]![0] > resps[1]![0] ? 1 : 0);
  const gsmSamples = readFileSync(join(out, files.find((f) => f.startsWith('samples_gsm8k'))!), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(gsmSamples.length, 4); // two documents x two filters
  for (const s of gsmSamples) {
    assert.equal(typeof (s.resps as string[])[0], 'string');
    assert.ok(!(s.resps as string[])[0]!.includes('Question:'), 'generation is cut at the stop string');
    if (s.filter === 'strict-match') assert.ok((s.filtered_resps as string[])[0] === '[invalid]' || /^-?[0-9.,]+$/.test((s.filtered_resps as string[])[0]!));
  }
});

test('results do not depend on threads or prefix reuse', async () => {
  const runs = [[], ['-t', '2'], ['--no-prefix-reuse'], ['-b', '7']];
  const tables: string[][] = [];
  for (const extra of runs) {
    const r = await runCli(['eval', '--tasks', 'piqa', '--data-dir', data, '--num-fewshot', '2', '--no-progress', ...extra], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    tables.push(values(r.stdout));
  }
  for (const t of tables.slice(1)) assert.deepEqual(t, tables[0]);
});

test('an lm-eval YAML task with local data files runs unchanged; --limit cuts the split', async () => {
  const task = join(dir, 'yaml');
  mkdirSync(task, { recursive: true });
  writeFileSync(join(task, 'docs.jsonl'), jsonl(PIQA.map((p) => ({ q: p.goal, choices: { text: [p.sol1, p.sol2], label: ['A', 'B'] }, answerKey: p.label ? 'B' : 'A' }))));
  writeFileSync(
    join(task, 'mine.yaml'),
    [
      'task: my_piqa',
      'dataset_path: json',
      'dataset_kwargs:',
      '  data_files:',
      '    test: docs.jsonl',
      'test_split: test',
      'output_type: multiple_choice',
      'doc_to_text: "Question: {{q}}\\nAnswer:"',
      'doc_to_choice: "{{choices.text}}"',
      'doc_to_target: "{{choices.label.index(answerKey)}}"',
      'metric_list:',
      '  - metric: acc',
      '    aggregation: mean',
      '    higher_is_better: true',
      'metadata:',
      '  version: 1.0',
      '',
    ].join('\n'),
  );
  const mine = await runCli(['eval', '--tasks', join(task, 'mine.yaml'), '--limit', '3', '--no-progress'], { timeoutMs: 60_000 });
  assert.equal(mine.code, 0, mine.stderr);
  // the same documents through the built-in piqa: the same prompts, so the same accuracy
  const builtin = await runCli(['eval', '--tasks', 'piqa', '--data-dir', data, '--limit', '3', '--no-progress'], { timeoutMs: 60_000 });
  assert.equal(builtin.code, 0, builtin.stderr);
  const acc = (s: string): string => /\|acc +\|↑ +\|([0-9.]+)\|/.exec(s)![1]!;
  assert.equal(acc(mine.stdout), acc(builtin.stdout));
  assert.match(mine.stdout, /\|my_piqa/);
});

test('Python hooks, bad labels, missing fields and missing data are refused by name', async () => {
  const y = join(dir, 'hook.yaml');
  writeFileSync(y, 'task: hooked\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: x.jsonl\ntest_split: test\noutput_type: multiple_choice\nprocess_docs: !function utils.process_docs\ndoc_to_text: q\ndoc_to_choice: "{{choices}}"\ndoc_to_target: 0\n');
  const hook = await runCli(['eval', '--tasks', y, '--no-progress']);
  assert.equal(hook.code, 1);
  assert.match(hook.stderr, /process_docs: !function utils\.process_docs is a Python hook/);

  const badDir = join(dir, 'bad');
  mkdirSync(join(badDir, 'baber', 'piqa'), { recursive: true });
  writeFileSync(join(badDir, 'baber', 'piqa', 'validation.jsonl'), jsonl([PIQA[0]!, { ...PIQA[1]!, label: 5 }]));
  const label = await runCli(['eval', '--tasks', 'piqa', '--data-dir', badDir, '--no-progress']);
  assert.equal(label.code, 1);
  assert.match(label.stderr, /\[BAD_DATA\].*baber\/piqa split "validation".*document 1/);
  writeFileSync(join(badDir, 'baber', 'piqa', 'validation.jsonl'), jsonl([{ goal: 'x', sol1: 'a', label: 0 }]));
  const missing = await runCli(['eval', '--tasks', 'piqa', '--data-dir', badDir, '--no-progress']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\[BAD_DATA\].*document 0.*"sol2"/);
  const none = await runCli(['eval', '--tasks', 'arc_easy', '--data-dir', badDir, '--no-progress']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /allenai\/ai2_arc.*ARC-Easy.*bitnet pull --dataset allenai\/ai2_arc:ARC-Easy/s);
  const unknown = await runCli(['eval', '--tasks', 'no_such_task', '--no-progress']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown task "no_such_task"/);
});
