// PyRandom against CPython 3.11's random.Random outputs (printed by python3 on the development machine) and
// MT19937's published reference stream for init_by_array({0x123, 0x234, 0x345, 0x456}).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PyRandom } from '../../../src/eval/pyrandom.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test('MT19937 reference outputs (init_by_array of 0x123, 0x234, 0x345, 0x456)', () => {
  // CPython seeds from the integer's 32-bit words, least significant first
  const seed = 0x123n | (0x234n << 32n) | (0x345n << 64n) | (0x456n << 96n);
  const r = new PyRandom(seed);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => r.nextUint32()), [1067595299, 955945823, 477289528, 4107218783, 4228976476]);
});

test('random() matches CPython for small, zero, negative and large seeds', () => {
  const r = new PyRandom(1234);
  assert.equal(r.random(), 0.9664535356921388);
  assert.equal(r.random(), 0.4407325991753527);
  assert.equal(new PyRandom(0).random(), 0.8444218515250481);
  assert.equal(new PyRandom(-1234).random(), 0.9664535356921388);
  assert.equal(new PyRandom(2n ** 70n + 5n).random(), 0.46679953776226335);
});

test('getrandbits of 32, 64 and 7 bits', () => {
  const r = new PyRandom(0);
  assert.equal(r.getrandbits(32), 3626764237n);
  assert.equal(r.getrandbits(64), 13981790821421117374n);
  assert.equal(r.getrandbits(7), 113n);
});

test('_randbelow, including a bound over 32 bits', () => {
  const r = new PyRandom(1234);
  assert.deepEqual([1, 2, 3, 1000, 2 ** 40 + 3].map((n) => r.randbelow(n)), [0, 0, 0, 92, 75515092441]);
});

test('sample: the pool method (n <= setsize) and the selected-set method', () => {
  assert.deepEqual(new PyRandom(42).sample(range(100), 5), [81, 14, 3, 94, 35]);
  assert.deepEqual(new PyRandom(1234).sample(range(7473), 6), [6374, 3610, 957, 61, 742, 7462]);
  assert.deepEqual(new PyRandom(1234).sample(range(10), 10), [7, 1, 0, 9, 4, 6, 5, 3, 8, 2]);
  assert.deepEqual(new PyRandom(1234).sample(range(50), 8), [49, 28, 7, 0, 5, 37, 2, 42]);
  const r = new PyRandom(1234);
  assert.deepEqual([0, 1, 2].map(() => r.sample(range(20), 3)), [[14, 3, 0], [2, 18, 1], [2, 3, 11]]);
  assert.throws(() => new PyRandom(1).sample(range(3), 4), /sample larger/);
});

test('shuffle', () => {
  const x = range(10);
  new PyRandom(7).shuffle(x);
  assert.deepEqual(x, [8, 3, 1, 4, 7, 0, 9, 6, 2, 5]);
});
