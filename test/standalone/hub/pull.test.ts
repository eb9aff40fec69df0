// Downloads against a loopback mock of the hub: the exact huggingface_hub cache layout, resume after a cut
// connection (Range), verification failures that leave nothing behind, tokens, offline mode, a cache made
// by hand in HF's layout, safetensors folders, plain URLs, and removal.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inspectModel } from '../../../src/engine/load.js';
import { BitnetError } from '../../../src/errors.js';
import { hubConfig, type HubConfig } from '../../../src/hub/config.js';
import { listCache, removeCached, resolveModel } from '../../../src/hub/index.js';
import { makeFixture, TINY, writeHfFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { closedPort, gitSha1, MockHub, sha256 } from './mock-hub.js';

const MODEL = readFileSync(fileURLToPath(new URL('../../../models/bitnet-b1.58-tinystories-1m.gguf', import.meta.url)));
const README = Buffer.from('# tiny\nA test repo.\n');
const TQ2 = Buffer.alloc(10_000, 7);
let hub: MockHub;
let n = 0;

/** A fresh cache per test, pointed at the mock hub. */
function config(extra: Record<string, string> = {}): HubConfig {
  const home = tempDir(`hub${n++}`);
  return hubConfig({ HF_HOME: join(home, 'hf'), XDG_CACHE_HOME: join(home, 'xdg'), HF_ENDPOINT: hub.url, ...extra });
}
const fast = { retryDelayMs: 5 };

const repoDir = (cfg: HubConfig, repo: string): string => join(cfg.cacheDir, `models--${repo.replace('/', '--')}`);
const codeOf = (code: string, re?: RegExp) => (e: unknown): boolean => e instanceof BitnetError && e.code === code && (!re || re.test(e.message));

before(async () => {
  hub = await new MockHub().start();
  hub.addRepo('test-org/tiny-gguf', [
    { path: 'README.md', data: README },
    { path: 'ggml-model-tq2_0.gguf', data: TQ2 },
    { path: 'ggml-model-i2_s.gguf', data: MODEL },
  ]);
  hub.addRepo('test-org/gated', [{ path: 'ggml-model-i2_s.gguf', data: MODEL }], { token: 'hf_good' });
  const fx = tempDir('hffolder');
  await writeHfFixture(makeFixture(TINY), fx, { kind: 'packed' });
  hub.addRepo('test-org/tiny-hf', [
    { path: 'README.md', data: README },
    { path: 'original/weights.bin', data: Buffer.alloc(100) },
    ...readdirSync(fx).map((f) => ({ path: f, data: readFileSync(join(fx, f)) })),
  ]);
});
after(() => hub.stop());

test('a pull picks the i2_s GGUF and leaves exactly huggingface_hub\'s cache layout', async () => {
  const cfg = config();
  const from = hub.log.length;
  const r = await resolveModel('test-org/tiny-gguf', { cfg, ...fast });
  const repo = hub.repos.get('test-org/tiny-gguf')!;
  const dir = repoDir(cfg, 'test-org/tiny-gguf');
  const etag = sha256(MODEL);
  assert.equal(r.path, join(dir, 'snapshots', repo.sha, 'ggml-model-i2_s.gguf'));
  assert.equal(r.fetched, MODEL.length);
  assert.deepEqual(readdirSync(dir).sort(), ['blobs', 'refs', 'snapshots']);
  assert.deepEqual(readdirSync(join(dir, 'blobs')), [etag]);
  assert.equal(readFileSync(join(dir, 'refs', 'main'), 'utf8'), repo.sha);
  assert.deepEqual(readdirSync(join(dir, 'snapshots')), [repo.sha]);
  assert.ok(lstatSync(r.path).isSymbolicLink());
  assert.equal(readlinkSync(r.path), `../../blobs/${etag}`);
  assert.ok(readFileSync(r.path).equals(MODEL));
  // the HEAD did not follow the CDN redirect; the GET went to the CDN
  const reqs = hub.requests().slice(from);
  assert.deepEqual(reqs.map((q) => `${q.method} ${q.url.split('?')[0]}`), [
    'GET /api/models/test-org/tiny-gguf',
    `HEAD /test-org/tiny-gguf/resolve/${repo.sha}/ggml-model-i2_s.gguf`,
    `GET /cdn/${etag}`,
  ]);
  // a second pull asks the hub but downloads nothing; -m-style resolution does not even ask
  const again = await resolveModel('test-org/tiny-gguf', { cfg, update: true });
  assert.equal(again.fetched, 0);
  assert.ok(!hub.requests().slice(from + 3).some((q) => q.url.startsWith('/cdn/')));
  const before = hub.log.length;
  assert.equal((await resolveModel('test-org/tiny-gguf', { cfg })).path, r.path);
  assert.equal(hub.log.length, before);
});

test('small (non-LFS) files are stored under their git blob id; :quant picks another GGUF into the same snapshot', async () => {
  const cfg = config();
  const dir = repoDir(cfg, 'test-org/tiny-gguf');
  const readme = await resolveModel('hf:test-org/tiny-gguf:README.md', { cfg });
  assert.equal(readlinkSync(readme.path), `../../blobs/${gitSha1(README)}`);
  const tq2 = await resolveModel('test-org/tiny-gguf:TQ2_0', { cfg });
  assert.ok(tq2.path.endsWith('/ggml-model-tq2_0.gguf'));
  assert.deepEqual(readdirSync(join(dir, 'blobs')).sort(), [gitSha1(README), sha256(TQ2)].sort());
  assert.equal(readdirSync(join(dir, 'snapshots')).length, 1);
});

test('a connection cut halfway is resumed with Range and the file is byte-identical', async () => {
  const cfg = config();
  const from = hub.log.length;
  hub.cutAfter = Math.floor(MODEL.length / 2);
  const r = await resolveModel('test-org/tiny-gguf', { cfg, ...fast });
  const gets = hub.requests().slice(from).filter((q) => q.url.startsWith('/cdn/'));
  assert.equal(gets.length, 2);
  assert.equal(gets[0]!.headers.range, undefined);
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]!.headers.range ?? '')?.[1]);
  assert.ok(resumedAt > 0 && resumedAt <= MODEL.length / 2, `resumed at ${resumedAt}`);
  assert.ok(readFileSync(r.path).equals(MODEL));
  assert.ok(!readdirSync(join(repoDir(cfg, 'test-org/tiny-gguf'), 'blobs')).some((f) => f.endsWith('.incomplete')));
});

test('a pull that gives up keeps blobs/<etag>.incomplete; the next run resumes it', async () => {
  const cfg = config();
  const blobs = join(repoDir(cfg, 'test-org/tiny-gguf'), 'blobs');
  hub.cutAfter = 300_000;
  await assert.rejects(resolveModel('test-org/tiny-gguf', { cfg, retries: 0 }), codeOf('NETWORK', /run the same command again to resume/));
  const partial = join(blobs, `${sha256(MODEL)}.incomplete`);
  assert.ok(existsSync(partial));
  const kept = readFileSync(partial).length;
  assert.ok(kept > 0 && kept <= 300_000);
  assert.ok(!existsSync(join(repoDir(cfg, 'test-org/tiny-gguf'), 'refs', 'main')));
  const from = hub.log.length;
  const r = await resolveModel('test-org/tiny-gguf', { cfg });
  const get = hub.requests().slice(from).find((q) => q.url.startsWith('/cdn/'))!;
  assert.equal(get.headers.range, `bytes=${kept}-`);
  assert.equal(r.fetched, MODEL.length - kept);
  assert.ok(readFileSync(r.path).equals(MODEL));
  assert.deepEqual(readdirSync(blobs), [sha256(MODEL)]);
});

test('a corrupted byte fails the sha256 check and leaves nothing that looks complete', async () => {
  for (const resume of [false, true]) {
    const cfg = config();
    const dir = repoDir(cfg, 'test-org/tiny-gguf');
    if (resume) {
      mkdirSync(join(dir, 'blobs'), { recursive: true });
      writeFileSync(join(dir, 'blobs', `${sha256(MODEL)}.incomplete`), MODEL.subarray(0, 1000));
    }
    hub.corruptAt = 5000;
    try {
      await assert.rejects(resolveModel('test-org/tiny-gguf', { cfg }), codeOf('VERIFY_FAILED', /sha256 .* does not match .*deleted/));
    } finally {
      hub.corruptAt = undefined;
    }
    assert.deepEqual(readdirSync(join(dir, 'blobs')), [], 'no blob, no .incomplete');
    assert.ok(!existsSync(join(dir, 'snapshots')) || readdirSync(join(dir, 'snapshots')).every((s) => readdirSync(join(dir, 'snapshots', s)).length === 0), 'no snapshot link');
    assert.ok(!existsSync(join(dir, 'refs', 'main')));
  }
});

test('a gated repo: 401 without a token says to set HF_TOKEN; a refused token says so; HF_TOKEN works', async () => {
  await assert.rejects(resolveModel('test-org/gated', { cfg: config() }), codeOf('UNAUTHORIZED', /set HF_TOKEN.*test-org\/gated/));
  await assert.rejects(resolveModel('test-org/gated', { cfg: config({ HF_TOKEN: 'hf_bad' }) }), codeOf('UNAUTHORIZED', /HF_TOKEN was refused/));
  const from = hub.log.length;
  const r = await resolveModel('test-org/gated', { cfg: config({ HF_TOKEN: 'hf_good' }) });
  assert.ok(readFileSync(r.path).equals(MODEL));
  const hubReqs = hub.requests().slice(from).filter((q) => !q.url.startsWith('/cdn/'));
  assert.equal(hubReqs.length, 2);
  for (const q of hubReqs) assert.equal(q.headers.authorization, 'Bearer hf_good');
  // the token file huggingface-cli login writes is read too
  const home = tempDir('token');
  mkdirSync(join(home, 'hf'), { recursive: true });
  writeFileSync(join(home, 'hf', 'token'), 'hf_good\n');
  const cfg = hubConfig({ HF_HOME: join(home, 'hf'), XDG_CACHE_HOME: join(home, 'xdg'), HF_ENDPOINT: hub.url });
  assert.equal(cfg.token, 'hf_good');
  await resolveModel('test-org/gated', { cfg });
});

test('unknown repos, revisions and files are clear errors', async () => {
  await assert.rejects(resolveModel('test-org/tiny-gguf@nope', { cfg: config() }), codeOf('REMOTE_NOT_FOUND', /revision not found/));
  await assert.rejects(resolveModel('test-org/tiny-gguf:missing.gguf', { cfg: config() }), codeOf('REMOTE_NOT_FOUND', /file not found/));
  await assert.rejects(resolveModel('test-org/tiny-gguf:q4_k_m', { cfg: config() }), codeOf('REMOTE_NOT_FOUND', /q4_k_m/));
  const down = hubConfig({ HF_HOME: tempDir('down'), HF_ENDPOINT: await closedPort() });
  await assert.rejects(resolveModel('test-org/tiny-gguf', { cfg: down }), codeOf('NETWORK', /cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*HF_HUB_OFFLINE/));
});

test('offline mode uses the cache without a request and says so when a file is missing', async () => {
  const env = { HF_HOME: join(tempDir('offline'), 'hf'), XDG_CACHE_HOME: tempDir('offx') };
  const online = hubConfig({ ...env, HF_ENDPOINT: hub.url });
  const pulled = await resolveModel('test-org/tiny-gguf', { cfg: online });
  const offline = hubConfig({ ...env, HF_ENDPOINT: await closedPort(), HF_HUB_OFFLINE: '1' });
  const from = hub.log.length;
  assert.equal((await resolveModel('test-org/tiny-gguf', { cfg: offline, update: true })).path, pulled.path);
  assert.equal((await resolveModel('test-org/tiny-gguf:i2_s', { cfg: offline })).path, pulled.path);
  assert.equal(hub.log.length, from);
  await assert.rejects(resolveModel('test-org/tiny-gguf:tq2_0', { cfg: offline }), codeOf('OFFLINE', /offline mode is on \(HF_HUB_OFFLINE\).*tq2_0/));
  await assert.rejects(resolveModel('test-org/other', { cfg: offline }), codeOf('OFFLINE', /test-org\/other@main is not in the cache/));
  await assert.rejects(resolveModel('https://example.com/a.gguf', { cfg: offline }), codeOf('OFFLINE', /has not been downloaded/));
});

test('a cache written by hand in huggingface_hub\'s layout is used without network', async () => {
  const cfg = hubConfig({ HF_HUB_CACHE: tempDir('handmade'), HF_ENDPOINT: await closedPort(), XDG_CACHE_HOME: tempDir('hx') });
  const dir = repoDir(cfg, 'someone/handmade');
  const commit = 'a'.repeat(40);
  const etag = sha256(MODEL);
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  mkdirSync(join(dir, 'refs'));
  mkdirSync(join(dir, 'snapshots', commit), { recursive: true });
  writeFileSync(join(dir, 'blobs', etag), MODEL);
  writeFileSync(join(dir, 'refs', 'main'), commit);
  symlinkSync(`../../blobs/${etag}`, join(dir, 'snapshots', commit, 'model-i2_s.gguf'));
  const r = await resolveModel('someone/handmade', { cfg });
  assert.equal(r.path, join(dir, 'snapshots', commit, 'model-i2_s.gguf'));
  assert.equal(r.hub?.fromCache, true);
  assert.equal((await resolveModel(`hf:someone/handmade@${commit}`, { cfg })).path, r.path);
  // pull (update) with the hub unreachable falls back to the cache, with a note
  const notes: string[] = [];
  assert.equal((await resolveModel('someone/handmade', { cfg, update: true, onLog: (l) => notes.push(l) })).path, r.path);
  assert.match(notes.join('\n'), /cannot reach .*using the cached snapshot aaaaaaaaaaaa/);
  const { repos } = await listCache(cfg);
  assert.equal(repos[0]!.repo, 'someone/handmade');
  assert.equal(repos[0]!.snapshots[0]!.model, r.path);
  assert.deepEqual(repos[0]!.snapshots[0]!.refs, ['main']);
});

test('a safetensors repo downloads config, tokenizer and weights (not README or other folders) and loads as a folder', async () => {
  const cfg = config();
  const r = await resolveModel('test-org/tiny-hf', { cfg });
  const repo = hub.repos.get('test-org/tiny-hf')!;
  assert.equal(r.path, join(repoDir(cfg, 'test-org/tiny-hf'), 'snapshots', repo.sha));
  const expected = repo.files.map((f) => f.path).filter((f) => f !== 'README.md' && !f.startsWith('original/'));
  assert.deepEqual(readdirSync(r.path).sort(), expected.sort());
  const info = await inspectModel(r.path);
  assert.equal(info.format, 'safetensors');
  assert.equal(info.hparams?.nLayer, TINY.nLayer);
});

test('plain URLs: downloaded once, reused while the ETag holds, fetched again when it changes', async () => {
  const cfg = { ...config(), endpoint: 'https://huggingface.co' };
  hub.plain.set('dl/model.gguf', { data: MODEL, etag: '"v1"' });
  const url = `${hub.url}/files/dl/model.gguf`;
  // a URL outside HF_ENDPOINT is a plain URL even on the same server
  const r = await resolveModel(url, { cfg });
  assert.equal(r.ref.kind, 'url');
  assert.ok(r.path.startsWith(join(cfg.bitnetCacheDir, 'url')) && r.path.endsWith('/model.gguf'));
  assert.ok(readFileSync(r.path).equals(MODEL));
  const from = hub.log.length;
  const again = await resolveModel(url, { cfg });
  assert.equal(again.fetched, 0);
  assert.deepEqual(hub.requests().slice(from).map((q) => q.method), ['HEAD']);
  hub.plain.set('dl/model.gguf', { data: TQ2, etag: '"v2"' });
  const changed = await resolveModel(url, { cfg, onLog: () => {} });
  assert.equal(changed.fetched, TQ2.length);
  assert.ok(readFileSync(changed.path).equals(TQ2));
  const { urls } = await listCache(cfg);
  assert.deepEqual(urls.map((u) => [u.url, u.size]), [[url, TQ2.length]]);
  const freed = (await removeCached(url, cfg)).freed; // the file and its meta.json
  assert.ok(freed >= TQ2.length && freed < TQ2.length + 4096, String(freed));
  await assert.rejects(removeCached(url, cfg), codeOf('FILE_NOT_FOUND', /not in the download cache/));
});

test('removal: one file frees its blob only; the repo frees the rest; not cached is refused', async () => {
  const cfg = config();
  await resolveModel('test-org/tiny-gguf', { cfg });
  await resolveModel('test-org/tiny-gguf:tq2_0', { cfg });
  const dir = repoDir(cfg, 'test-org/tiny-gguf');
  const one = await removeCached('test-org/tiny-gguf:tq2_0', cfg);
  assert.equal(one.freed, TQ2.length);
  assert.deepEqual(readdirSync(join(dir, 'blobs')), [sha256(MODEL)]);
  const all = await removeCached('test-org/tiny-gguf', cfg);
  assert.equal(all.freed, MODEL.length);
  assert.ok(!existsSync(dir));
  await assert.rejects(removeCached('test-org/tiny-gguf', cfg), codeOf('FILE_NOT_FOUND', /not in the Hugging Face cache/));
  await assert.rejects(removeCached('models/x.gguf', cfg), codeOf('INVALID_ARGUMENT', /not a Hugging Face reference/));
});

test('two pulls of the same file at once download it once (a lock file; the second waits)', async () => {
  const cfg = config();
  const from = hub.log.length;
  const notes: string[] = [];
  hub.throttleMs = 5;
  try {
    const onLog = (l: string): number => notes.push(l);
    const [a, b] = await Promise.all([resolveModel('test-org/tiny-gguf', { cfg, onLog }), resolveModel('test-org/tiny-gguf', { cfg, onLog })]);
    assert.equal(a.path, b.path);
    assert.equal(a.fetched + b.fetched, MODEL.length);
  } finally {
    hub.throttleMs = undefined;
  }
  assert.equal(hub.requests().slice(from).filter((q) => q.url.startsWith('/cdn/')).length, 1);
  assert.match(notes.join('\n'), /another process is downloading it; waiting/);
  assert.deepEqual(readdirSync(join(cfg.cacheDir, '.locks', 'models--test-org--tiny-gguf')), []);
});

test('plain URLs resume with Range + If-Range, and start over when the file changed meanwhile', async () => {
  const cfg = { ...config(), endpoint: 'https://huggingface.co' };
  hub.plain.set('dl/resume.gguf', { data: MODEL, etag: '"r1"' });
  const url = `${hub.url}/files/dl/resume.gguf`;
  hub.cutAfter = 200_000;
  await assert.rejects(resolveModel(url, { cfg, retries: 0 }), codeOf('NETWORK', /resume/));
  let from = hub.log.length;
  const r = await resolveModel(url, { cfg });
  const get = hub.requests().slice(from).find((q) => q.method === 'GET')!;
  assert.match(get.headers.range ?? '', /^bytes=\d+-$/);
  assert.equal(get.headers['if-range'], '"r1"');
  assert.ok(readFileSync(r.path).equals(MODEL));
  // cut again, then the file changes: the partial data is dropped, not spliced onto the new version
  hub.plain.set('dl/resume2.gguf', { data: MODEL, etag: '"a"' });
  const url2 = `${hub.url}/files/dl/resume2.gguf`;
  hub.cutAfter = 200_000;
  await assert.rejects(resolveModel(url2, { cfg, retries: 0 }), codeOf('NETWORK'));
  hub.plain.set('dl/resume2.gguf', { data: TQ2, etag: '"b"' });
  from = hub.log.length;
  const r2 = await resolveModel(url2, { cfg });
  assert.equal(hub.requests().slice(from).find((q) => q.method === 'GET')!.headers.range, undefined);
  assert.ok(readFileSync(r2.path).equals(TQ2));
});

test('file names that would leave the snapshot folder are refused', async () => {
  hub.addRepo('test-org/evil', [{ path: '../../../escape.gguf', data: TQ2 }]);
  await assert.rejects(resolveModel('test-org/evil', { cfg: config() }), codeOf('INVALID_ARGUMENT', /would leave the snapshot folder/));
});
