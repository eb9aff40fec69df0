// Evaluation data: hub datasets through the loopback mock hub (README configs, file-name conventions, a
// script-only repo read from refs/convert/parquet), the cache layout and offline mode after one download,
// lm-eval's local json / parquet data_files, the --data-dir layout, and bad data as typed errors naming the
// file and field; `bitnet pull --dataset` and `bitnet ls` through the CLI.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import { loadSplit, readDataFile, requireColumns } from '../../../src/eval/data.js';
import { hubConfig, type HubConfig } from '../../../src/hub/config.js';
import { parseDatasetRef, selectSplitFiles } from '../../../src/hub/index.js';
import { runCli } from '../../fixtures/cli.js';
import { writeParquet, type PqField } from '../../fixtures/parquet-writer.js';
import { tempDir } from '../../fixtures/temp.js';
import { closedPort, MockHub } from '../hub/mock-hub.js';

const ARC: PqField[] = [
  { name: 'id', type: 'string' },
  { name: 'question', type: 'string' },
  { name: 'choices', struct: [{ name: 'text', list: 'string' }, { name: 'label', list: 'string' }] },
  { name: 'answerKey', type: 'string' },
];
const arcRows = (tag: string, n: number): Array<Record<string, unknown>> =>
  Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, question: `${tag} question ${i}?`, choices: { text: ['red', 'green', 'blue'], label: ['A', 'B', 'C'] }, answerKey: 'ABC'[i % 3] }));
const PIQA: PqField[] = [
  { name: 'goal', type: 'string' },
  { name: 'sol1', type: 'string' },
  { name: 'sol2', type: 'string' },
  { name: 'label', type: 'int64' },
];
const piqaRows = (n: number): Array<Record<string, unknown>> => Array.from({ length: n }, (_, i) => ({ goal: `goal ${i}`, sol1: 'a', sol2: 'b', label: i % 2 }));

const ARC_README = `---
license: cc-by-sa-4.0
configs:
- config_name: ARC-Challenge
  data_files:
  - split: test
    path: ARC-Challenge/test-*
  - split: validation
    path: ARC-Challenge/validation-*
- config_name: ARC-Easy
  data_files:
  - split: test
    path: ARC-Easy/test-*
  - split: validation
    path: ARC-Easy/validation-*
---
# ARC-like
`;

let hub: MockHub;
let n = 0;

function config(extra: Record<string, string> = {}): HubConfig {
  const home = tempDir(`data${n++}`);
  return hubConfig({ HF_HOME: join(home, 'hf'), XDG_CACHE_HOME: join(home, 'xdg'), HF_ENDPOINT: hub.url, ...extra });
}
const offlineOf = async (cfg: HubConfig): Promise<HubConfig> => ({ ...cfg, offline: true, endpoint: await closedPort() });
const codeOf =
  (code: string, ...res: RegExp[]) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof BitnetError, String(e));
    assert.equal(e.code, code, e.message);
    for (const re of res) assert.match(e.message, re);
    return true;
  };

before(async () => {
  hub = await new MockHub().start();
  hub.addDataset('test-org/arc-like', [
    { path: 'README.md', data: Buffer.from(ARC_README) },
    { path: 'ARC-Easy/test-00000-of-00001.parquet', data: writeParquet(ARC, arcRows('easy-test', 5)) },
    { path: 'ARC-Easy/validation-00000-of-00001.parquet', data: writeParquet(ARC, arcRows('easy-val', 3)) },
    { path: 'ARC-Challenge/test-00000-of-00001.parquet', data: writeParquet(ARC, arcRows('chal-test', 4)) },
    { path: 'ARC-Challenge/validation-00000-of-00001.parquet', data: writeParquet(ARC, arcRows('chal-val', 2)) },
  ]);
  hub.addDataset(
    'test-org/piqa-script',
    [
      { path: 'README.md', data: Buffer.from('# PIQA with a loading script\n') },
      { path: 'piqa-script.py', data: Buffer.from('import datasets\n') },
    ],
    {
      parquet: [
        { path: 'plain_text/train/0000.parquet', data: writeParquet(PIQA, piqaRows(6)) },
        { path: 'plain_text/validation/0000.parquet', data: writeParquet(PIQA, piqaRows(3)) },
        { path: 'plain_text/validation/0001.parquet', data: writeParquet(PIQA, piqaRows(2)) },
      ],
    },
  );
  hub.addDataset('test-org/conventional', [
    { path: 'data/train-00000-of-00002.parquet', data: writeParquet(PIQA, piqaRows(2)) },
    { path: 'data/train-00001-of-00002.parquet', data: writeParquet(PIQA, piqaRows(3)) },
    { path: 'data/validation-00000-of-00001.parquet', data: writeParquet(PIQA, piqaRows(4)) },
    { path: 'test.jsonl', data: Buffer.from('{"goal":"g","sol1":"a","sol2":"b","label":1}\n{"goal":"h","sol1":"a","sol2":"b","label":0}\n') },
  ]);
  hub.addDataset('test-org/empty-split', [{ path: 'validation.jsonl', data: Buffer.from('\n') }]);
});
after(() => hub.stop());

test('a hub dataset: only the split asked for is downloaded into datasets--org--name; the second load needs no network', async () => {
  const cfg = config();
  const before = hub.log.length;
  const docs = await loadSplit({ path: 'test-org/arc-like', name: 'ARC-Easy' }, 'test', { cfg });
  assert.deepEqual(docs, arcRows('easy-test', 5));
  assert.deepEqual((docs[0]!.choices as { text: string[] }).text, ['red', 'green', 'blue']);
  const got = hub.log.slice(before).filter((l) => l.method === 'GET' && /\/resolve\//.test(l.url)).map((l) => l.url);
  assert.ok(got.every((u) => !/validation|Challenge/.test(u)), got.join('\n'));
  assert.ok(hub.log.slice(before).some((l) => l.url === '/api/datasets/test-org/arc-like'));
  const ds = hub.datasets.get('test-org/arc-like')!;
  const dir = join(cfg.cacheDir, 'datasets--test-org--arc-like');
  assert.equal(readFileSync(join(dir, 'refs', 'main'), 'utf8'), ds.main.sha);
  assert.ok(existsSync(join(dir, 'snapshots', ds.main.sha, 'ARC-Easy', 'test-00000-of-00001.parquet')));
  assert.ok(existsSync(join(dir, 'snapshots', ds.main.sha, 'README.md')));

  const offline = await offlineOf(cfg);
  const mark = hub.log.length;
  assert.deepEqual(await loadSplit({ path: 'test-org/arc-like', name: 'ARC-Easy' }, 'test', { cfg: offline }), docs);
  assert.deepEqual(await loadSplit({ path: 'test-org/arc-like', name: 'ARC-Easy' }, 'test', { cfg: { ...cfg, endpoint: offline.endpoint } }), docs); // cache first
  assert.equal(hub.log.length, mark);
  await assert.rejects(
    loadSplit({ path: 'test-org/arc-like', name: 'ARC-Easy' }, 'validation', { cfg: offline }),
    codeOf('OFFLINE', /test-org\/arc-like config ARC-Easy split "validation" is not in the cache/, /run `bitnet pull --dataset test-org\/arc-like:ARC-Easy` without HF_HUB_OFFLINE/),
  );
  // online again, the other split comes into the same snapshot
  assert.deepEqual(await loadSplit({ path: 'test-org/arc-like', name: 'ARC-Easy' }, 'validation', { cfg }), arcRows('easy-val', 3));
});

test('a script-only dataset is read from refs/convert/parquet (all shards of the split, in order), then offline', async () => {
  const cfg = config();
  const docs = await loadSplit({ path: 'test-org/piqa-script', name: 'plain_text' }, 'validation', { cfg });
  assert.deepEqual(docs, [...piqaRows(3), ...piqaRows(2)]);
  assert.equal(typeof docs[0]!.label, 'number');
  assert.ok(hub.requests((l) => l.url.includes('/api/datasets/test-org/piqa-script/revision/refs%2Fconvert%2Fparquet')).length > 0);
  const ds = hub.datasets.get('test-org/piqa-script')!;
  const dir = join(cfg.cacheDir, 'datasets--test-org--piqa-script');
  assert.equal(readFileSync(join(dir, 'refs', 'refs', 'convert', 'parquet'), 'utf8'), ds.parquet!.sha);
  assert.ok(existsSync(join(dir, 'snapshots', ds.parquet!.sha, 'plain_text', 'validation', '0001.parquet')));
  assert.ok(!existsSync(join(dir, 'snapshots', ds.parquet!.sha, 'plain_text', 'train')));
  // no config named: the only one there
  assert.deepEqual(await loadSplit({ path: 'test-org/piqa-script' }, 'validation', { cfg: await offlineOf(cfg) }), docs);
  await assert.rejects(
    loadSplit({ path: 'test-org/piqa-script', name: 'plain_text' }, 'test', { cfg }),
    codeOf('REMOTE_NOT_FOUND', /test-org\/piqa-script config plain_text split "test"/, /plain_text\/train, plain_text\/validation/),
  );
});

test('the hub\'s file-name conventions without a README config: sharded data/split-*.parquet, split.jsonl', async () => {
  const cfg = config();
  assert.deepEqual(await loadSplit({ path: 'test-org/conventional' }, 'train', { cfg }), [...piqaRows(2), ...piqaRows(3)]);
  assert.equal((await loadSplit({ path: 'test-org/conventional' }, 'validation', { cfg })).length, 4);
  assert.deepEqual(await loadSplit({ path: 'test-org/conventional' }, 'test', { cfg }), [
    { goal: 'g', sol1: 'a', sol2: 'b', label: 1 },
    { goal: 'h', sol1: 'a', sol2: 'b', label: 0 },
  ]);
  await assert.rejects(loadSplit({ path: 'test-org/empty-split' }, 'validation', { cfg }), codeOf('BAD_DATA', /validation\.jsonl: .*split "validation" is empty/));
  await assert.rejects(loadSplit({ path: 'test-org/no-such-dataset' }, 'test', { cfg }), (e: unknown) => e instanceof BitnetError && /test-org\/no-such-dataset/.test(e.message));
});

test('choosing files: README configs (list, mapping, data_dir, default), conventions, the parquet branch layouts', () => {
  const files = ['README.md', 'a/test-0.parquet', 'a/train-0.parquet', 'b/test.jsonl', 'other.py'];
  const readme = '---\nconfigs:\n- config_name: A\n  data_files:\n  - split: test\n    path: "a/test-*"\n- config_name: B\n  default: true\n  data_dir: b\n---\n';
  assert.deepEqual(selectSplitFiles(files, { config: 'A', split: 'test', parquetBranch: false, readme }), ['a/test-0.parquet']);
  assert.deepEqual(selectSplitFiles(files, { config: undefined, split: 'test', parquetBranch: false, readme }), ['b/test.jsonl']);
  assert.deepEqual(selectSplitFiles(files, { config: 'C', split: 'test', parquetBranch: false, readme }), []);
  const mapping = '---\nconfigs:\n- config_name: default\n  data_files:\n    test: ["a/test-*"]\n    train: a/train-0.parquet\n---\n';
  assert.deepEqual(selectSplitFiles(files, { config: undefined, split: 'train', parquetBranch: false, readme: mapping }), ['a/train-0.parquet']);
  assert.deepEqual(selectSplitFiles(['x/dev.jsonl', 'x/test.jsonl', 'x/test.parquet'], { config: 'x', split: 'validation', parquetBranch: false }), ['x/dev.jsonl']);
  assert.deepEqual(selectSplitFiles(['x/dev.jsonl', 'x/test.jsonl', 'x/test.parquet'], { config: 'x', split: 'test', parquetBranch: false }), ['x/test.parquet']);
  assert.deepEqual(selectSplitFiles(['data.jsonl'], { config: undefined, split: 'train', parquetBranch: false }), ['data.jsonl']);
  const branch = ['c/test/0000.parquet', 'c/partial-train/0000.parquet', 'old/old-validation.parquet', 'old/old-test-00000-of-00002.parquet', 'old/old-test-00001-of-00002.parquet'];
  assert.deepEqual(selectSplitFiles(branch, { config: 'c', split: 'test', parquetBranch: true }), ['c/test/0000.parquet']);
  assert.deepEqual(selectSplitFiles(branch, { config: 'c', split: 'train', parquetBranch: true }), ['c/partial-train/0000.parquet']);
  assert.deepEqual(selectSplitFiles(branch, { config: 'old', split: 'validation', parquetBranch: true }), ['old/old-validation.parquet']);
  assert.equal(selectSplitFiles(branch, { config: 'old', split: 'test', parquetBranch: true }).length, 2);
  assert.deepEqual(parseDatasetRef('allenai/ai2_arc:ARC-Easy@v1'), { repo: 'allenai/ai2_arc', config: 'ARC-Easy', revision: 'v1' });
  assert.deepEqual(parseDatasetRef('ybisk/piqa'), { repo: 'ybisk/piqa', config: undefined, revision: 'main' });
  assert.throws(() => parseDatasetRef('piqa'), codeOf('INVALID_ARGUMENT', /org\/name/));
});

test('local data_files (lm-eval\'s json / parquet loaders): JSON Lines, a JSON array, gzip, parquet (gzip pages too), lists of files', async () => {
  const dir = tempDir('localdata');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'a.jsonl'), '{"q":"one","label":0}\n\n{"q":"two","label":1}\n');
  writeFileSync(join(dir, 'b.json'), JSON.stringify([{ q: 'three', label: 2 }]));
  writeFileSync(join(dir, 'c.jsonl.gz'), gzipSync('{"q":"four","label":3}\n'));
  writeFileSync(join(dir, 'd.parquet'), writeParquet(ARC, arcRows('local', 2)));
  writeFileSync(join(dir, 'e.parquet'), writeParquet(ARC, arcRows('gz', 3), { gzip: true }));
  const spec = { path: 'json', dataFiles: { test: ['sub/a.jsonl', 'b.json', 'c.jsonl.gz'], validation: 'b.json' } };
  assert.deepEqual(await loadSplit(spec, 'test', { baseDir: dir }), [
    { q: 'one', label: 0 },
    { q: 'two', label: 1 },
    { q: 'three', label: 2 },
    { q: 'four', label: 3 },
  ]);
  assert.deepEqual(await loadSplit(spec, 'validation', { baseDir: dir }), [{ q: 'three', label: 2 }]);
  assert.deepEqual(await loadSplit({ path: 'parquet', dataFiles: { test: join(dir, 'd.parquet') } }, 'test'), arcRows('local', 2));
  assert.deepEqual(await loadSplit({ path: 'parquet', dataFiles: { test: ['d.parquet', 'e.parquet'] } }, 'test', { baseDir: dir }), [...arcRows('local', 2), ...arcRows('gz', 3)]);
  writeFileSync(join(dir, 'big.parquet'), writeParquet([{ name: 'n', type: 'int64' }, { name: 'ends', list: 'int64' }], [{ n: 2n ** 60n, ends: [1n, -2n] }]));
  assert.deepEqual(await readDataFile(join(dir, 'big.parquet')), [{ n: String(2n ** 60n), ends: [1, -2] }]); // BigInt: numbers where exact
  await assert.rejects(loadSplit(spec, 'train', { baseDir: dir }), codeOf('INVALID_ARGUMENT', /no data_files for split "train" \(it has: test, validation\)/));
  await assert.rejects(loadSplit({ path: 'json', dataFiles: { test: 'missing.jsonl' } }, 'test', { baseDir: dir }), codeOf('FILE_NOT_FOUND', /missing\.jsonl/));
});

test('--data-dir: DIR/ORG/NAME[/CONFIG]/SPLIT.{parquet,jsonl,json}, sharded SPLIT-*, and a copy of the parquet conversion tree', async () => {
  const dir = tempDir('datadir');
  mkdirSync(join(dir, 'allenai', 'ai2_arc', 'ARC-Easy', 'test'), { recursive: true });
  writeFileSync(join(dir, 'allenai', 'ai2_arc', 'ARC-Easy', 'test', '0000.parquet'), writeParquet(ARC, arcRows('t0', 2)));
  writeFileSync(join(dir, 'allenai', 'ai2_arc', 'ARC-Easy', 'test', '0001.parquet'), writeParquet(ARC, arcRows('t1', 1)));
  writeFileSync(join(dir, 'allenai', 'ai2_arc', 'ARC-Easy', 'validation.jsonl'), '{"id":"v"}\n');
  mkdirSync(join(dir, 'ybisk', 'piqa'), { recursive: true });
  writeFileSync(join(dir, 'ybisk', 'piqa', 'train-00000-of-00002.parquet'), writeParquet(PIQA, piqaRows(1)));
  writeFileSync(join(dir, 'ybisk', 'piqa', 'train-00001-of-00002.parquet'), writeParquet(PIQA, piqaRows(2)));
  const cfg = await offlineOf(config());
  assert.deepEqual(await loadSplit({ path: 'allenai/ai2_arc', name: 'ARC-Easy' }, 'test', { dataDir: dir, cfg }), [...arcRows('t0', 2), ...arcRows('t1', 1)]);
  assert.deepEqual(await loadSplit({ path: 'allenai/ai2_arc', name: 'ARC-Easy' }, 'validation', { dataDir: dir, cfg }), [{ id: 'v' }]);
  assert.deepEqual(await loadSplit({ path: 'ybisk/piqa' }, 'train', { dataDir: dir, cfg }), [...piqaRows(1), ...piqaRows(2)]);
  await assert.rejects(
    loadSplit({ path: 'allenai/ai2_arc', name: 'ARC-Challenge' }, 'test', { dataDir: dir, cfg }),
    codeOf('FILE_NOT_FOUND', /no data for allenai\/ai2_arc config ARC-Challenge split "test" in --data-dir/, /ARC-Challenge/, /bitnet pull --dataset allenai\/ai2_arc:ARC-Challenge/),
  );
});

test('bad data is BAD_DATA naming the file (and field): corrupt parquet, bad JSON line, empty split, a missing column', async () => {
  const dir = tempDir('baddata');
  const good = writeParquet(PIQA, piqaRows(2));
  writeFileSync(join(dir, 'corrupt.parquet'), Buffer.concat([good.subarray(0, 40), Buffer.alloc(30, 0xaa), good.subarray(70)]));
  writeFileSync(join(dir, 'garbage.parquet'), 'this is not parquet at all');
  writeFileSync(join(dir, 'bad.jsonl'), '{"a":1}\n{"a":\n');
  writeFileSync(join(dir, 'scalar.jsonl'), '{"a":1}\n42\n');
  writeFileSync(join(dir, 'empty.parquet'), writeParquet(PIQA, []));
  writeFileSync(join(dir, 'empty.jsonl'), '');
  await assert.rejects(readDataFile(join(dir, 'garbage.parquet')), codeOf('BAD_DATA', /garbage\.parquet: not a readable parquet file/));
  await assert.rejects(readDataFile(join(dir, 'corrupt.parquet')), (e: unknown) => e instanceof BitnetError && e.code === 'BAD_DATA' && e.file === join(dir, 'corrupt.parquet'));
  await assert.rejects(readDataFile(join(dir, 'bad.jsonl')), codeOf('BAD_DATA', /bad\.jsonl: line 2 is not valid JSON/));
  await assert.rejects(readDataFile(join(dir, 'scalar.jsonl')), codeOf('BAD_DATA', /scalar\.jsonl: line 2 is not a JSON object/));
  await assert.rejects(readDataFile(join(dir, 'x.csv')), codeOf('BAD_DATA', /unknown data file type/));
  assert.deepEqual(await readDataFile(join(dir, 'empty.parquet')), []);
  await assert.rejects(loadSplit({ path: 'parquet', dataFiles: { test: 'empty.parquet' } }, 'test', { baseDir: dir }), codeOf('BAD_DATA', /empty\.parquet: split "test" is empty/));
  await assert.rejects(loadSplit({ path: 'json', dataFiles: { test: 'empty.jsonl' } }, 'test', { baseDir: dir }), codeOf('BAD_DATA', /empty\.jsonl: split "test" is empty/));
  const docs = [{ goal: 'g', label: 0 }, { goal: 'h', label: null }];
  assert.throws(() => requireColumns(docs, ['goal', 'sol1'], 'ybisk/piqa validation'), codeOf('BAD_DATA', /^ybisk\/piqa validation: sol1: document 0 has no field "sol1" \(its fields: goal, label\)/));
  assert.throws(() => requireColumns(docs, ['label'], 'v.jsonl'), (e: unknown) => e instanceof BitnetError && e.code === 'BAD_DATA' && e.subject === 'label' && e.file === 'v.jsonl' && /document 1/.test(e.message));
  assert.throws(() => requireColumns([], ['label'], 'v.jsonl'), codeOf('BAD_DATA', /v\.jsonl: the split is empty/));
  requireColumns(docs, ['goal'], 'ok');
});

test('bitnet pull --dataset prefetches every config (or one), then eval data loads offline; ls lists it; rm --dataset removes it', async () => {
  const home = tempDir('clidata');
  const env = { HF_HOME: join(home, 'hf'), XDG_CACHE_HOME: join(home, 'xdg'), HF_ENDPOINT: hub.url };
  const cli = (args: string[], e: Record<string, string> = env) => runCli(args, { env: e, dropEnv: ['HF_', 'HUGGING'], timeoutMs: 60_000 });
  const pull = await cli(['pull', '--dataset', 'test-org/arc-like', '--dataset', 'test-org/piqa-script:plain_text', '--no-progress']);
  assert.equal(pull.code, 0, pull.stderr);
  const arc = hub.datasets.get('test-org/arc-like')!;
  const piqa = hub.datasets.get('test-org/piqa-script')!;
  const cache = join(home, 'hf', 'hub');
  assert.equal(pull.stdout, `${join(cache, 'datasets--test-org--arc-like', 'snapshots', arc.main.sha)}\n${join(cache, 'datasets--test-org--piqa-script', 'snapshots', piqa.parquet!.sha)}\n`);
  assert.match(pull.stderr, /pulled dataset test-org\/arc-like@[0-9a-f]{12}: 5 file\(s\)/);
  assert.match(pull.stderr, /pulled dataset test-org\/piqa-script:plain_text@refs\/convert\/parquet [0-9a-f]{12}: 3 file\(s\)/);
  const again = await cli(['pull', '--dataset', 'test-org/arc-like', '--no-progress']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /up to date/);

  const offline = hubConfig({ ...env, HF_ENDPOINT: await closedPort(), HF_HUB_OFFLINE: '1' });
  assert.deepEqual(await loadSplit({ path: 'test-org/arc-like', name: 'ARC-Challenge' }, 'validation', { cfg: offline }), arcRows('chal-val', 2));
  assert.equal((await loadSplit({ path: 'test-org/piqa-script', name: 'plain_text' }, 'train', { cfg: offline })).length, 6);

  const ls = await cli(['ls']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /\(no models\)/);
  assert.match(ls.stdout, /^test-org\/arc-like {2}[\d.]+ MB on disk, 5 file\(s\) in [0-9a-f]{12} \(main\)$/m);
  assert.match(ls.stdout, /^test-org\/piqa-script .* \(refs\/convert\/parquet\)$/m);
  const rm = await cli(['rm', '--dataset', 'test-org/arc-like']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout, /^removed dataset test-org\/arc-like \(1 snapshot\(s\)\), freed/m);
  assert.ok(!existsSync(join(cache, 'datasets--test-org--arc-like')));

  const bad = await cli(['pull', '--dataset', 'test-org/arc-like:NoSuchConfig', '--no-progress']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /REMOTE_NOT_FOUND.*test-org\/arc-like:NoSuchConfig: nothing to download \(its configs: ARC-Challenge, ARC-Easy\)/);
  const off = await cli(['pull', '--dataset', 'test-org/arc-like'], { ...env, HF_HUB_OFFLINE: '1' });
  assert.equal(off.code, 1);
  assert.match(off.stderr, /OFFLINE/);
});
