#!/usr/bin/env node
// Test runner: finds test/**/*.test.ts (or the given files, or those under the given folders) and runs them
// with node:test through tsx.
// Node 20's --test does not expand globs itself, so the file list is built here. Piped output (CI) uses
// the TAP reporter on every Node version, whose summary lines (# pass / # fail) are what CI reads.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

// the WASM kernels are generated sources: build them first (a no-op when they are up to date)
const built = spawnSync(process.execPath, [new URL('./build-wasm.mjs', import.meta.url).pathname], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const extra = process.argv.slice(2).filter((a) => a.startsWith('-'));
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
}
for (const r of roots.length ? roots : ['test']) {
  let st;
  try {
    st = statSync(r);
  } catch {
    console.error(`no such test file or folder: ${r}`);
    process.exit(1);
  }
  // a folder is searched for *.test.ts; a file is run as it is
  if (st.isDirectory()) walk(r);
  else files.push(r);
}
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
const args = ['--import', 'tsx', '--test', `--test-reporter=${reporter}`, ...extra, ...files];
const res = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(res.status ?? 1);
