// The layout rules of src/: imports flow one way (errors/util -> formats -> kernels | tokenizer -> model ->
// generate -> engine -> server | train | hub -> eval -> cli; eval reads its datasets through hub), nothing
// below engine/ imports an npm package, nothing below cli/ imports node: modules statically (the core loads
// in browsers), relative imports carry .js, and every file opens with a header comment.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const RANK: Record<string, number> = { util: 0, 'errors.ts': 0, formats: 1, kernels: 2, tokenizer: 2, model: 3, grammar: 3, generate: 4, engine: 5, server: 6, train: 6, hub: 6, eval: 6.5, cli: 7, 'index.ts': 7 };

/** TypeScript sources (not the AssemblyScript kernels in kernels/wasm/asm, nor generated modules). */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (p.endsWith('/wasm/asm') || p.endsWith('/wasm/generated')) return [];
    return statSync(p).isDirectory() ? files(p) : f.endsWith('.ts') ? [p] : [];
  });
}

const area = (file: string): string => relative(SRC, file).split('/')[0]!;

test('every source file has a header comment and .js relative imports', () => {
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8');
    const first = text.replace(/^#!.*\n/, '').split('\n')[0]!;
    assert.ok(first.startsWith('//'), `${relative(SRC, file)} must start with a 1-5 line comment saying what it is`);
    for (const [, spec] of text.matchAll(/(?:from|import\()\s*['"](\.[^'"]+)['"]/g)) {
      assert.ok(spec!.endsWith('.js'), `${relative(SRC, file)}: import "${spec}" lacks the .js suffix`);
    }
  }
});

test('imports flow one way between layers', () => {
  for (const file of files(SRC)) {
    const from = area(file);
    const text = readFileSync(file, 'utf8');
    for (const [, spec] of text.matchAll(/(?:from|import\()\s*['"]([^'"]+)['"]/g)) {
      const where = `${relative(SRC, file)} imports "${spec}"`;
      if (spec!.startsWith('.')) {
        const to = area(resolve(dirname(file), spec!.replace(/\.js$/, '.ts')));
        if (to === from) continue;
        assert.ok(RANK[to]! < RANK[from]!, `${where}: ${to} is not below ${from}`);
      } else if (spec!.startsWith('node:')) {
        const isStatic = new RegExp(`from\\s*['"]${spec}['"]`).test(text);
        assert.ok(!isStatic || RANK[from]! >= 6, `${where}: below cli/, node: modules are imported dynamically so the core loads in browsers`);
      } else {
        assert.ok(RANK[from]! >= 5, `${where}: packages are allowed only in engine/ and above`);
      }
    }
  }
});

test('no two source files import each other, directly or through others (type imports included)', () => {
  const graph = new Map<string, string[]>();
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8');
    const deps: string[] = [];
    // static imports and re-exports only: a dynamic import() loads on demand and breaks no load order
    for (const [, spec] of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]/g)) {
      deps.push(resolve(dirname(file), spec!.replace(/\.js$/, '.ts')));
    }
    graph.set(file, deps);
  }
  const state = new Map<string, 'open' | 'done'>();
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') assert.fail(`import cycle: ${[...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(' -> ')}`);
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
});
