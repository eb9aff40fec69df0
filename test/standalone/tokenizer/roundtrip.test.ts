// decode(encode(s)) === s on every TinyStories story, tiktoken-rank and merges-list BPE agreeing on a whole
// file, and the encode throughput (reported as a diagnostic).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { Tokenizer } from '../../../src/tokenizer/index.js';
import { HAVE_SHARED, NO_SHARED, SHARED_DATA, hfVocab, tiktokenVocab } from './data.js';

const DIR = `${SHARED_DATA}tinystories/`;

function stories(file: string): string[] {
  return readFileSync(DIR + file, 'utf8')
    .split(/^<\|endoftext\|>$/m)
    .map((s) => s.replace(/^\n+|\n+$/g, ''))
    .filter((s) => s !== '');
}

test('decode(encode(story)) === story for every TinyStories story', (t) => {
  if (!HAVE_SHARED) return t.skip(NO_SHARED);
  const tok = new Tokenizer(hfVocab());
  const files = readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort();
  assert.equal(files.length, 4);
  let n = 0;
  for (const file of files) {
    for (const story of stories(file)) {
      const ids = tok.encode(story);
      assert.equal(ids[0], 128000);
      assert.equal(tok.decode(ids.slice(1)), story, `${file}: story ${n}`);
      n++;
    }
  }
  t.diagnostic(`${n} stories`);
  assert.ok(n > 7900);
});

test('tiktoken ranks and the merges list give the same ids on a whole file; throughput', (t) => {
  if (!HAVE_SHARED) return t.skip(NO_SHARED);
  const text = readFileSync(`${DIR}tinystories_v1_train_head.txt`, 'utf8');
  const results: number[][] = [];
  for (const [name, vocab] of [['tiktoken', tiktokenVocab()], ['tokenizer.json', hfVocab()]] as const) {
    const tok = new Tokenizer(vocab);
    const start = performance.now();
    const ids = tok.encode(text, { addBos: false });
    const s = (performance.now() - start) / 1000;
    t.diagnostic(`${name}: ${(text.length / 1e6).toFixed(2)} MB -> ${ids.length} tokens in ${s.toFixed(2)} s = ${(text.length / 1e6 / s).toFixed(1)} MB/s (cold cache)`);
    const startDecode = performance.now();
    assert.equal(tok.decode(ids), text);
    t.diagnostic(`${name}: decode ${((performance.now() - startDecode) / 1000).toFixed(2)} s`);
    results.push(ids);
  }
  assert.deepEqual(results[0], results[1]);
});

test('long pieces stay fast (BPE is O(n log n) in the piece length)', () => {
  const tok = new Tokenizer(hfVocab());
  for (const text of ['x'.repeat(100_000), ' '.repeat(100_000), '-='.repeat(50_000), '🦙'.repeat(20_000)]) {
    const start = performance.now();
    const ids = tok.encode(text, { addBos: false });
    const ms = performance.now() - start;
    assert.equal(tok.decode(ids), text);
    assert.ok(ms < 2000, `${JSON.stringify(text.slice(0, 4))}…: ${ms.toFixed(0)} ms`);
  }
});
