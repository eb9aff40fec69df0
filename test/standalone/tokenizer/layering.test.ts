// src/tokenizer imports only itself and lower layers, and nothing from npm or node: (it runs in browsers too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../../../src/tokenizer/', import.meta.url));
const UPPER = /^\.\.\/(engine|model|generate|generation|cli|server|web)\//;

test('src/tokenizer imports no upper layer and no package', () => {
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(DIR + file, 'utf8');
    for (const [, spec] of source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      assert.ok(spec!.startsWith('./') || spec!.startsWith('../'), `${file} imports ${spec}`);
      assert.ok(!UPPER.test(spec!), `${file} imports ${spec} (an upper layer)`);
      assert.ok(spec!.endsWith('.js'), `${file}: import ${spec} lacks the .js suffix`);
    }
  }
});
