// The published shape of the package: `npm run build` output (dist/, made by `prepare` on npm install)
// has the executable `bitnet` bin, type declarations, and the public API importable by the package name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = `${root}dist/cli/main.js`;
const skip = existsSync(bin) ? false : 'dist/ is not built (npm install runs the build; or `npm run build`)';

test('the bitnet bin runs from dist/', { skip }, () => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string; bin: Record<string, string> };
  assert.equal(pkg.bin.bitnet, 'dist/cli/main.js');
  assert.ok((statSync(bin).mode & 0o111) !== 0, 'dist/cli/main.js is executable');
  const res = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  assert.equal(res.stdout.trim(), `bitnet ${pkg.version}`);
  const help = spawnSync(process.execPath, [bin, 'run', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /--n-predict/);
});

test('the package root exports the public API with type declarations', { skip }, async () => {
  assert.ok(existsSync(`${root}dist/index.d.ts`));
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', "const m = await import('bitnet'); console.log(['loadModel','inspectModel','loadTokenizer','BitnetError','Tokenizer','refBackend'].filter((k) => !(k in m)).join(',') || 'ok')"], { cwd: root, encoding: 'utf8' });
  assert.equal(res.stdout.trim(), 'ok', res.stderr);
});

test('bitnet/server exports the server with type declarations', { skip }, () => {
  assert.ok(existsSync(`${root}dist/server/index.d.ts`));
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', "const m = await import('bitnet/server'); console.log(['startServer','createApp','ServerState'].filter((k) => !(k in m)).join(',') || 'ok')"], { cwd: root, encoding: 'utf8' });
  assert.equal(res.stdout.trim(), 'ok', res.stderr);
});

test('the package ships the bundled default model', () => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { files: string[] };
  assert.ok(pkg.files.includes('models'), 'package.json files lists models/');
  assert.ok(existsSync(`${root}models/bitnet-b1.58-tinystories-1m.gguf`));
});

const heldOut = `${root}../shared/data/tinystories/tinystories_v1_valid_head.txt`;
test("the build writes the bundled eval task's documents into models/ (shipped by files: models)", { skip: skip || (existsSync(heldOut) ? false : '../shared/data/tinystories is absent (the documents are made from it)') }, () => {
  const file = `${root}models/tinystories-next-sentence.jsonl`;
  assert.ok(existsSync(file), `${file} is missing: npm run build writes it (scripts/make-tinystories-task.mjs)`);
  const first = JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!) as { choices: string[]; label: number };
  assert.equal(first.choices.length, 4);
});

test('every npm script names files that exist', () => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> };
  for (const [name, cmd] of Object.entries(pkg.scripts)) {
    for (const m of cmd.matchAll(/(?:^|\s)((?:src|test|bench|scripts)\/[\w./-]+\.(?:ts|mjs|js))/g)) {
      assert.ok(existsSync(`${root}${m[1]}`), `npm run ${name}: ${m[1]} does not exist`);
    }
  }
});
