// StopMatcher on every way of splitting a text into pieces: nothing of a stop string is ever emitted, the text
// before it is emitted exactly, near-misses come out in full, and the result does not depend on the split.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StopMatcher } from '../../../src/generate/stop.js';

/** All 2^(n-1) ways to cut `text` into non-empty pieces (by UTF-16 code unit). */
function* splits(text: string): Generator<string[]> {
  const n = text.length;
  if (n === 0) {
    yield [];
    return;
  }
  for (let mask = 0; mask < 1 << (n - 1); mask++) {
    const pieces: string[] = [];
    let start = 0;
    for (let i = 1; i < n; i++) {
      if (mask & (1 << (i - 1))) {
        pieces.push(text.slice(start, i));
        start = i;
      }
    }
    pieces.push(text.slice(start));
    yield pieces;
  }
}

/** Feeds the pieces, then flushes; returns everything emitted and the emitted text of each step. */
function run(stops: string[], pieces: string[]): { out: string; steps: string[]; stopped: boolean } {
  const m = new StopMatcher(stops);
  const steps: string[] = [];
  for (const p of pieces) {
    steps.push(m.push(p));
    if (m.stopped) break;
  }
  steps.push(m.flush());
  return { out: steps.join(''), steps, stopped: m.stopped };
}

/** Checks every split of `text` gives `want` (and the stopped flag), never emitting any stop string text. */
function checkAllSplits(stops: string[], text: string, want: string, stopped: boolean): void {
  let count = 0;
  for (const pieces of splits(text)) {
    const r = run(stops, pieces);
    const where = `stops ${JSON.stringify(stops)}, pieces ${JSON.stringify(pieces)}`;
    assert.equal(r.out, want, where);
    assert.equal(r.stopped, stopped, where);
    // what was emitted so far is always a prefix of the final output: nothing is taken back
    let acc = '';
    for (const s of r.steps) {
      acc += s;
      assert.ok(want.startsWith(acc), `${where}: emitted ${JSON.stringify(acc)}`);
    }
    count++;
  }
  assert.equal(count, Math.max(1, 2 ** (text.length - 1)));
}

test('a stop string split in every possible way: exactly the text before it, nothing of it', () => {
  checkAllSplits(['STOP'], 'abSTOPcd', 'ab', true);
  checkAllSplits(['STOP'], 'STOP', '', true);
  checkAllSplits(['STOP'], 'STOPSTOP', '', true);
  checkAllSplits(['\n\n'], 'one\ntwo\n\nthree', 'one\ntwo', true);
  checkAllSplits(['<|eot_id|>'], 'Hi!<|eot_id|>x', 'Hi!', true);
  checkAllSplits(['aab'], 'aaaab', 'aa', true); // the stop starts inside a run of its own first character
  checkAllSplits(['abab'], 'abababx', '', true);
  checkAllSplits(['abab'], 'xabaabab', 'xaba', true);
  checkAllSplits(['世界'], 'héllo 世界!', 'héllo ', true);
});

test('text that starts like a stop string but diverges is emitted in full', () => {
  checkAllSplits(['STOP'], 'abSTOxSTcd', 'abSTOxSTcd', false);
  checkAllSplits(['STOP'], 'STO', 'STO', false); // held to the end, then flushed
  checkAllSplits(['STOP'], 'SSTTOOPP', 'SSTTOOPP', false);
  checkAllSplits(['\n\n'], 'a\nb\nc\n', 'a\nb\nc\n', false);
  checkAllSplits(['abc'], 'ababx', 'ababx', false);
});

test('held text is released as soon as it can no longer start a stop string', () => {
  const m = new StopMatcher(['STOP']);
  assert.equal(m.push('xyS'), 'xy');
  assert.equal(m.push('T'), '');
  assert.equal(m.push('Ox'), 'STOx');
  assert.equal(m.push('ST'), '');
  assert.equal(m.push('OP and more'), '');
  assert.equal(m.stopped, true);
  assert.equal(m.push('later'), '');
  assert.equal(m.flush(), '');
});

test('flush emits held text when generation ends without a stop', () => {
  const m = new StopMatcher(['</answer>']);
  assert.equal(m.push('value </an'), 'value ');
  assert.equal(m.stopped, false);
  assert.equal(m.flush(), '</an');
  assert.equal(m.flush(), '');
});

test('multiple stop strings: the earliest one wins', () => {
  checkAllSplits(['END', 'stop'], 'a stop then END', 'a ', true);
  checkAllSplits(['END', 'stop'], 'a END then stop', 'a ', true);
  checkAllSplits(['xyz', 'b', 'END'], 'aaEN-b-xyz', 'aaEN-', true);
  // the held region is the longest prefix of any stop
  const m = new StopMatcher(['abcd', 'cx']);
  assert.equal(m.push('zab'), 'z');
  assert.equal(m.push('c'), ''); // "abc" could still become "abcd", "c" could become "cx"
  assert.equal(m.push('x'), 'ab');
  assert.equal(m.stopped, true);
});

test('overlapping stop strings: the one completed first wins, whatever the split', () => {
  // "b" is complete before "abc" is: the output does not depend on whether "abc" came as one piece
  checkAllSplits(['abc', 'b'], 'xabcy', 'xa', true);
  checkAllSplits(['b', 'abc'], 'xabcy', 'xa', true);
  // both complete on the same character: the longer (earlier) one
  checkAllSplits(['bc', 'abc'], 'xabcy', 'x', true);
  checkAllSplits(['abcd', 'bc'], 'abcd', 'a', true);
});

test('no stop strings (or only empty ones) pass text straight through', () => {
  for (const stops of [[], ['']]) {
    const m = new StopMatcher(stops);
    assert.equal(m.push('hello'), 'hello');
    assert.equal(m.push(''), '');
    assert.equal(m.push(' wörld 🦙'), ' wörld 🦙');
    assert.equal(m.flush(), '');
    assert.equal(m.stopped, false);
  }
  checkAllSplits([], 'abc', 'abc', false);
});
