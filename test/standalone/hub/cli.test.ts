// `bitnet pull` / `ls` / `rm` and `-m org/repo` through the real CLI (a child process via tsx) against the
// loopback mock hub, with HF_ENDPOINT pointing at it and HF_HOME in a temporary folder.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli, startServe, type CliResult } from '../../fixtures/cli.js';
import { tempDir } from '../../fixtures/temp.js';
import { MockHub, sha256 } from './mock-hub.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL_PATH = join(ROOT, 'models', 'bitnet-b1.58-tinystories-1m.gguf');
const MODEL = readFileSync(MODEL_PATH);
let hub: MockHub;

const cli = (args: string[], env: Record<string, string>): Promise<CliResult> => runCli(args, { env, dropEnv: ['HF_', 'HUGGING'], timeoutMs: 60_000 });

function env(): Record<string, string> {
  const home = tempDir('clihub');
  return { HF_HOME: join(home, 'hf'), XDG_CACHE_HOME: join(home, 'xdg'), HF_ENDPOINT: hub.url };
}

before(async () => {
  hub = await new MockHub().start();
  hub.addRepo('test-org/tiny-gguf', [
    { path: 'README.md', data: Buffer.from('# tiny\n') },
    { path: 'ggml-model-tq2_0.gguf', data: Buffer.alloc(10_000, 3) },
    { path: 'ggml-model-i2_s.gguf', data: MODEL },
  ]);
  hub.addRepo('test-org/gated', [{ path: 'ggml-model-i2_s.gguf', data: MODEL }], { token: 'hf_good' });
});
after(() => hub.stop());

test('bitnet pull, then run -m org/repo prints what run -m PATH prints; ls shows it; rm removes it', async () => {
  const e = env();
  const pull = await cli(['pull', 'test-org/tiny-gguf'], e);
  assert.equal(pull.code, 0, pull.stderr);
  const repo = hub.repos.get('test-org/tiny-gguf')!;
  const snapshotFile = join(e.HF_HOME!, 'hub', 'models--test-org--tiny-gguf', 'snapshots', repo.sha, 'ggml-model-i2_s.gguf');
  assert.equal(pull.stdout, `${snapshotFile}\n`);
  assert.match(pull.stderr, /downloading ggml-model-i2_s\.gguf \(0\.8 MB\)/);
  assert.match(pull.stderr, /pulled test-org\/tiny-gguf@[0-9a-f]{12}: ggml-model-i2_s\.gguf \(0\.8 MB\), 0\.8 MB downloaded/);
  const again = await cli(['pull', 'test-org/tiny-gguf'], e);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /up to date/);

  const args = ['-p', 'Once upon a time', '-n', '8', '--seed', '1', '--no-progress'];
  const fromHub = await cli(['run', '-m', 'test-org/tiny-gguf', ...args], { ...e, HF_ENDPOINT: 'http://127.0.0.1:1' });
  const local = await cli(['run', '-m', MODEL_PATH, ...args], e);
  assert.equal(fromHub.code, 0, fromHub.stderr);
  assert.equal(local.code, 0, local.stderr);
  assert.ok(fromHub.stdout.length > 'Once upon a time'.length, fromHub.stdout);
  assert.equal(fromHub.stdout, local.stdout);

  const ls = await cli(['ls'], e);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^test-org\/tiny-gguf {2}0\.8 MB on disk$/m);
  assert.ok(ls.stdout.includes(`snapshot ${repo.sha.slice(0, 12)} (main)  model: ${snapshotFile}`), ls.stdout);
  assert.match(ls.stdout, /ggml-model-i2_s\.gguf +0\.8 MB {2}<- model/);
  const json = JSON.parse((await cli(['ls', '--json'], e)).stdout) as { repos: Array<{ repo: string; snapshots: Array<{ files: Array<{ blob: string }> }> }> };
  assert.equal(json.repos[0]!.snapshots[0]!.files[0]!.blob, sha256(MODEL));

  const rm = await cli(['rm', 'test-org/tiny-gguf'], e);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout, /^removed test-org\/tiny-gguf \(1 snapshot\(s\)\), freed 0\.8 MB$/m);
  const rm2 = await cli(['rm', 'test-org/tiny-gguf'], e);
  assert.equal(rm2.code, 1);
  assert.match(rm2.stderr, /bitnet rm: error \[FILE_NOT_FOUND\]: test-org\/tiny-gguf is not in the Hugging Face cache/);
  assert.match((await cli(['ls'], e)).stdout, /\(no models\)/);
});

test('-m org/repo downloads on first use; offline mode and a gated repo give one clear line', async () => {
  const e = env();
  const tok = await cli(['tokenize', '-m', 'hf:test-org/tiny-gguf:i2_s', '-p', 'Once'], e);
  assert.equal(tok.code, 0, tok.stderr);
  assert.match(tok.stdout, /^\[\d+(,\d+)*\]\n$/);
  assert.match(tok.stderr, /downloaded ggml-model-i2_s\.gguf/);

  const offline = await cli(['run', '-m', 'test-org/tiny-gguf:tq2_0', '-n', '1'], { ...e, HF_HUB_OFFLINE: '1' });
  assert.equal(offline.code, 1);
  assert.match(offline.stderr, /^bitnet run: error \[OFFLINE\]: .*offline mode is on \(HF_HUB_OFFLINE\)/m);

  const gated = await cli(['pull', 'test-org/gated'], e);
  assert.equal(gated.code, 1);
  assert.match(gated.stderr, /^bitnet pull: error \[UNAUTHORIZED\]: .*set HF_TOKEN/m);
  assert.ok(!/^\s+at /m.test(gated.stderr), gated.stderr);
  const ok = await cli(['pull', 'test-org/gated', '--no-progress'], { ...e, HF_TOKEN: 'hf_good' });
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(!ok.stderr.includes('downloading'), ok.stderr);
});

test('a bitnet pull killed halfway resumes with Range on the next run and ends byte-identical', async () => {
  const e = env();
  const full: Record<string, string> = { ...process.env, ...e } as Record<string, string>;
  const blobs = join(e.HF_HOME!, 'hub', 'models--test-org--tiny-gguf', 'blobs');
  const partial = join(blobs, `${sha256(MODEL)}.incomplete`);
  hub.throttleMs = 40;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'pull', 'test-org/tiny-gguf'], { cwd: ROOT, env: full, stdio: 'ignore' });
  try {
    const t0 = Date.now();
    while (!(existsSync(partial) && statSync(partial).size >= 128 * 1024)) {
      if (Date.now() - t0 > 30_000) throw new Error('the download did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
  } finally {
    hub.throttleMs = undefined;
  }
  const kept = statSync(partial).size;
  assert.ok(kept > 0 && kept < MODEL.length);
  assert.deepEqual(readdirSync(blobs), [`${sha256(MODEL)}.incomplete`]);
  const from = hub.log.length;
  const pull = await cli(['pull', 'test-org/tiny-gguf'], e);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stderr, /resuming at/);
  const get = hub.requests().slice(from).find((q) => q.url.startsWith('/cdn/'))!;
  assert.equal(get.headers.range, `bytes=${kept}-`);
  assert.ok(readFileSync(pull.stdout.trim()).equals(MODEL));
  assert.deepEqual(readdirSync(blobs), [sha256(MODEL)]);
});

test('serve, bench, info, logits and perplexity --kl-divergence-base take a repo too', async () => {
  const e = env();
  assert.equal((await cli(['pull', 'test-org/tiny-gguf', '--no-progress'], e)).code, 0);
  const offline = { ...e, HF_HUB_OFFLINE: '1' };

  const info = await cli(['info', 'test-org/tiny-gguf'], offline);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /^file: +\S+models--test-org--tiny-gguf\/snapshots\/[0-9a-f]{40}\/ggml-model-i2_s\.gguf \(gguf/m);

  const logits = await cli(['logits', '-m', 'test-org/tiny-gguf', '--tokens', '1,2,3', '--no-progress'], offline);
  const logitsLocal = await cli(['logits', '-m', MODEL_PATH, '--tokens', '1,2,3', '--no-progress'], offline);
  assert.equal(logits.code, 0, logits.stderr);
  assert.deepEqual((JSON.parse(logits.stdout) as { positions: unknown }).positions, (JSON.parse(logitsLocal.stdout) as { positions: unknown }).positions);

  const bench = await cli(['bench', '-m', 'test-org/tiny-gguf', '-p', '0', '-n', '4', '-r', '1', '-t', '1'], offline);
  assert.equal(bench.code, 0, bench.stderr);
  assert.match(bench.stdout, /\| tg4 \|/);

  const text = join(tempDir('ppl'), 'text.txt');
  writeFileSync(text, 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine with her dog. '.repeat(4));
  const ppl = await cli(['perplexity', '-m', MODEL_PATH, '-f', text, '-c', '64', '--chunks', '1', '--kl-divergence-base', 'test-org/tiny-gguf', '--no-progress'], offline);
  assert.equal(ppl.code, 0, ppl.stderr);
  assert.match(ppl.stdout, /KL divergence from the base: mean 0\.0000e\+0, max 0\.0000e\+0; top-1 agreement 100\.00%/);

  const { child, url } = await startServe(['-m', 'test-org/tiny-gguf', '--port', '0', '-t', '1', '--no-progress'], offline);
  try {
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    assert.deepEqual(models.data.map((m) => m.id), ['test-org/tiny-gguf']);
  } finally {
    child.kill('SIGKILL');
  }
});
