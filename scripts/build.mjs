#!/usr/bin/env node
// `npm run build` (and `prepare`): the WASM kernels, then tsc into dist/, then the bin's mode. Skips tsc when
// dist/ is newer than every input (src/, the tsconfigs, package.json), so the `prepare` that npm and npx
// re-run on an already built checkout (the first `npx bitnet` links the package and runs it) takes well under a
// second; `--force` rebuilds. Also writes the bundled eval task's documents (models/tinystories-next-sentence.jsonl,
// derived from ../shared/data and so not committed) when that data is present and the file is missing or stale.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const force = process.argv.includes('--force');
const stamp = join(root, 'dist', '.build-stamp');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** newest modification time under a path (files only) */
function newest(p) {
  const s = statSync(p);
  if (!s.isDirectory()) return s.mtimeMs;
  let m = 0;
  for (const name of readdirSync(p)) m = Math.max(m, newest(join(p, name)));
  return m;
}

run(process.execPath, [join(root, 'scripts/build-wasm.mjs'), ...(force ? ['--force'] : [])]);
run(process.execPath, [join(root, 'scripts/make-tinystories-task.mjs'), ...(force ? [] : ['--if-stale'])]);
const inputs = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'scripts/build.mjs'].map((p) => join(root, p));
if (!force && existsSync(stamp) && statSync(stamp).mtimeMs > Math.max(...inputs.map(newest))) process.exit(0);
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
run(process.execPath, [join(root, 'scripts/postbuild.mjs')]);
writeFileSync(stamp, `${new Date().toISOString()}\n`);
