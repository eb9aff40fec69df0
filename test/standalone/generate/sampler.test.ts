// The sampler chain on crafted logits: greedy, seeding, top-k / top-p / min-p / temperature, the
// repetition / presence / frequency penalties, option validation, and draw frequencies against softmax.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import { Sampler, type SamplerOptions } from '../../../src/generate/sampler.js';
import { Rng } from '../../../src/util/rng.js';

/** Every filter off: plain softmax sampling at temperature 1 unless overridden. */
const PLAIN: SamplerOptions = { temperature: 1, topK: 0, topP: 1, minP: 0 };

const logitsOf = (xs: number[]): Float32Array => new Float32Array(xs);
/** Logits whose softmax is exactly `probs` (up to float32 rounding). */
const fromProbs = (probs: number[]): Float32Array => logitsOf(probs.map((p) => Math.log(p)));

function softmax(xs: ArrayLike<number>, temperature = 1): number[] {
  const a = Array.from(xs, (x) => x / temperature);
  const max = Math.max(...a);
  const e = a.map((x) => Math.exp(x - max));
  const sum = e.reduce((s, x) => s + x, 0);
  return e.map((x) => x / sum);
}

function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

/** counts[id] over n draws */
function draw(s: Sampler, logits: Float32Array, n: number, history: number[] = []): number[] {
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[s.sample(logits, history)]!++;
  return counts;
}

const support = (counts: number[]): number[] => counts.flatMap((c, id) => (c > 0 ? [id] : []));

/** Every observed frequency within 5 standard deviations of its expected probability. */
function assertFrequencies(counts: number[], probs: number[], what: string): void {
  const n = counts.reduce((a, b) => a + b, 0);
  probs.forEach((p, id) => {
    const sd = Math.sqrt((p * (1 - p)) / n);
    const f = counts[id]! / n;
    assert.ok(Math.abs(f - p) <= 5 * sd + 1e-12, `${what}: token ${id} drawn with frequency ${f.toFixed(4)}, expected ${p.toFixed(4)} (sd ${sd.toFixed(4)})`);
  });
}

function randomLogits(rng: Rng, n: number): Float32Array {
  const l = new Float32Array(n);
  for (let i = 0; i < n; i++) l[i] = rng.normal() * 3;
  return l;
}

test('temperature <= 0 is greedy: argmax of the logits, lowest id on a tie', () => {
  const rng = new Rng(11);
  for (const temperature of [0, -1]) {
    const s = new Sampler({ temperature, seed: 1 });
    for (let i = 0; i < 200; i++) {
      const l = randomLogits(rng, 50);
      assert.equal(s.sample(l, []), argmax(l));
    }
  }
  assert.equal(new Sampler({ temperature: 0 }).sample(logitsOf([1, 3, 3, 2]), []), 1);
});

test('topK 1 equals greedy whatever the temperature and the other filters', () => {
  const rng = new Rng(12);
  for (const temperature of [0.1, 0.8, 1, 5, 100]) {
    const s = new Sampler({ temperature, topK: 1, topP: 0.5, minP: 0.01, seed: 3 });
    for (let i = 0; i < 100; i++) {
      const l = randomLogits(rng, 40);
      assert.equal(s.sample(l, []), argmax(l), `temperature ${temperature}`);
    }
  }
});

test('the same seed gives the same token sequence; different seeds differ', () => {
  const logits = logitsOf([0.3, 0.1, 0, -0.2, 0.25, 0.05, -0.1, 0.2]);
  const run = (seed: number): number[] => {
    const s = new Sampler({ ...PLAIN, seed });
    return Array.from({ length: 500 }, () => s.sample(logits, []));
  };
  assert.deepEqual(run(42), run(42));
  assert.notDeepEqual(run(42), run(43));
  assert.notDeepEqual(run(0), run(1));
  assert.equal(new Sampler({ seed: 42 }).seed, 42);
  // no seed: a random one, reported so the run can be repeated
  const a = new Sampler({});
  const b = new Sampler({ seed: a.seed });
  assert.deepEqual(
    Array.from({ length: 50 }, () => a.sample(logits, [])),
    Array.from({ length: 50 }, () => b.sample(logits, [])),
  );
});

test('top-k draws only from the k highest logits', () => {
  const logits = logitsOf([0.5, 2, -1, 1.5, 0, 1, -2, 0.2]); // order: 1, 3, 5, 0, 7, 4, 2, 6
  for (const [k, want] of [[1, [1]], [2, [1, 3]], [3, [1, 3, 5]], [5, [0, 1, 3, 5, 7]]] as Array<[number, number[]]>) {
    // a high temperature flattens the distribution, so every kept token shows up
    const counts = draw(new Sampler({ ...PLAIN, temperature: 10, topK: k, seed: k }), logits, 4000);
    assert.deepEqual(support(counts), want, `top-k ${k}`);
  }
});

test('top-p keeps the smallest prefix whose probability reaches p', () => {
  const probs = [0.05, 0.5, 0.15, 0.3]; // sorted: 1 (0.5), 3 (0.3), 2 (0.15), 0 (0.05)
  const logits = fromProbs(probs);
  const cases: Array<[number, number[]]> = [
    [0.3, [1]],
    [0.5, [1]], // 0.5 alone reaches 0.5
    [0.7, [1, 3]],
    [0.9, [1, 2, 3]],
    [0.97, [0, 1, 2, 3]],
    [0, [1]], // always at least one token
  ];
  for (const [p, want] of cases) {
    const counts = draw(new Sampler({ ...PLAIN, topP: p, seed: 5 }), logits, 6000);
    assert.deepEqual(support(counts), want, `top-p ${p}`);
  }
  // kept tokens are renormalized
  const counts = draw(new Sampler({ ...PLAIN, topP: 0.7, seed: 6 }), logits, 20000);
  assertFrequencies(counts, [0, 0.5 / 0.8, 0, 0.3 / 0.8], 'top-p 0.7');
});

test('min-p drops tokens whose probability is below min_p * p_max', () => {
  const probs = [0.05, 0.5, 0.15, 0.3];
  const logits = fromProbs(probs);
  const cases: Array<[number, number[]]> = [
    [0.05, [0, 1, 2, 3]], // cut 0.025
    [0.2, [1, 2, 3]], // cut 0.1
    [0.5, [1, 3]], // cut 0.25
    [0.7, [1]], // cut 0.35
    [1, [1]],
  ];
  for (const [m, want] of cases) {
    const counts = draw(new Sampler({ ...PLAIN, minP: m, seed: 7 }), logits, 6000);
    assert.deepEqual(support(counts), want, `min-p ${m}`);
  }
  // min-p looks at the probabilities before temperature: a high temperature does not let token 0 back in
  const hot = draw(new Sampler({ ...PLAIN, temperature: 50, minP: 0.2, seed: 8 }), logits, 4000);
  assert.deepEqual(support(hot), [1, 2, 3]);
});

test('temperature sharpens towards greedy as it goes to 0, and flattens as it grows', () => {
  const logits = logitsOf([1, 1.2, 0.9, 0.5, 1.1]);
  const top = argmax(logits);
  const freqTop = (temperature: number): number => draw(new Sampler({ ...PLAIN, temperature, seed: 9 }), logits, 4000)[top]! / 4000;
  const seen = [2, 1, 0.5, 0.1, 0.01].map(freqTop);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `top frequency not increasing as temperature falls: ${seen.join(', ')}`);
  assert.equal(freqTop(1e-3), 1);
  assert.equal(freqTop(1e-6), 1);
});

test('draw frequencies match the softmax probabilities (20000 seeded draws)', () => {
  const logits = logitsOf([1.5, 0.5, 0, -0.5, 1, -1.5]);
  for (const temperature of [1, 0.7, 1.8]) {
    const counts = draw(new Sampler({ ...PLAIN, temperature, seed: 1234 }), logits, 20000);
    assertFrequencies(counts, softmax(logits, temperature), `temperature ${temperature}`);
  }
  // top-k 3 then temperature: softmax over the three best only
  const counts = draw(new Sampler({ ...PLAIN, topK: 3, temperature: 0.9, seed: 99 }), logits, 20000);
  const kept = [0, 4, 1];
  const p3 = softmax(kept.map((i) => logits[i]!), 0.9);
  const want = new Array<number>(logits.length).fill(0);
  kept.forEach((id, j) => (want[id] = p3[j]!));
  assertFrequencies(counts, want, 'top-k 3');
});

/**
 * Greedy choice between token 0 (penalized) and token 1 (logit `other`, not in the history): tells whether
 * token 0's penalized logit is below `other`.
 */
function penalizedBelow(x0: number, other: number, history: number[], opts: SamplerOptions): boolean {
  const s = new Sampler({ temperature: 0, ...opts });
  return s.sample(logitsOf([x0, other, -50]), history) === 1;
}

/** token 0's penalized logit is `want` (bracketed within 1e-4 from both sides). */
function assertPenalized(x0: number, history: number[], opts: SamplerOptions, want: number): void {
  assert.ok(penalizedBelow(x0, want + 1e-4, history, opts), `penalized logit of ${x0} should be ~${want}, found higher`);
  assert.ok(!penalizedBelow(x0, want - 1e-4, history, opts), `penalized logit of ${x0} should be ~${want}, found lower`);
}

test('repeat penalty divides positive and multiplies negative logits of recent tokens', () => {
  assertPenalized(2, [0], { repeatPenalty: 1.25 }, 1.6);
  assertPenalized(-2, [0], { repeatPenalty: 1.25 }, -2.5);
  assertPenalized(0, [0], { repeatPenalty: 1.25 }, 0);
  // once per token, however often it occurs
  assertPenalized(2, [0, 0, 0], { repeatPenalty: 1.25 }, 1.6);
  // penalty < 1 boosts
  assertPenalized(2, [0], { repeatPenalty: 0.5 }, 4);
  // tokens not in the history are untouched, and the input logits are not modified
  const l = logitsOf([2, 1.9, -50]);
  assert.equal(new Sampler({ temperature: 0, repeatPenalty: 1.25 }).sample(l, [2]), 0);
  new Sampler({ temperature: 0, repeatPenalty: 1.25 }).sample(l, [0]);
  assert.deepEqual(Array.from(l), [2, Math.fround(1.9), -50]);
});

test('penalties only look at the last repeatLastN tokens (-1: all, 0: none)', () => {
  const history = [0, 2, 2, 2]; // token 0 is 4 tokens back
  assertPenalized(2, history, { repeatPenalty: 2, repeatLastN: 3 }, 2);
  assertPenalized(2, history, { repeatPenalty: 2, repeatLastN: 4 }, 1);
  assertPenalized(2, history, { repeatPenalty: 2, repeatLastN: -1 }, 1);
  assertPenalized(2, history, { repeatPenalty: 2, repeatLastN: 0 }, 2);
  assertPenalized(2, history, { repeatPenalty: 2, repeatLastN: 100 }, 1);
  // frequency counts only occurrences inside the window
  assertPenalized(2, [0, 0, 0, 2], { frequencyPenalty: 0.1, repeatLastN: 3 }, 1.8);
});

test('presence and frequency penalties subtract as OpenAI defines', () => {
  // logit - count * frequency - (count > 0) * presence
  assertPenalized(2, [0, 0, 0], { frequencyPenalty: 0.1 }, 1.7);
  assertPenalized(2, [0, 0, 0], { presencePenalty: 0.5 }, 1.5);
  assertPenalized(2, [0, 0, 0], { presencePenalty: 0.5, frequencyPenalty: 0.1 }, 1.2);
  assertPenalized(-1, [0, 5, 0], { presencePenalty: 0.25, frequencyPenalty: 0.5 }, -2.25);
  // negative values encourage repetition
  assertPenalized(2, [0], { presencePenalty: -1 }, 3);
  // llama.cpp order: the repeat penalty first, then the subtraction
  assertPenalized(2, [0, 0], { repeatPenalty: 1.25, presencePenalty: 0.5, frequencyPenalty: 0.1 }, 2 / 1.25 - 0.5 - 0.2);
  // ids outside the vocabulary in the history are ignored
  assert.equal(new Sampler({ temperature: 0, repeatPenalty: 2 }).sample(logitsOf([1, 0.9]), [7, -1]), 0);
});

test('invalid options throw INVALID_ARGUMENT naming the option', () => {
  const cases: Array<[SamplerOptions, string]> = [
    [{ temperature: NaN }, 'temperature'],
    [{ temperature: Infinity }, 'temperature'],
    [{ minP: 2 }, 'minP'],
    [{ minP: -0.1 }, 'minP'],
    [{ topP: -0.5 }, 'topP'],
    [{ topK: NaN }, 'topK'],
    [{ repeatPenalty: 0 }, 'repeatPenalty'],
    [{ repeatPenalty: -1 }, 'repeatPenalty'],
    [{ repeatLastN: -2 }, 'repeatLastN'],
    [{ presencePenalty: NaN }, 'presencePenalty'],
    [{ frequencyPenalty: Infinity }, 'frequencyPenalty'],
  ];
  for (const [opts, name] of cases) {
    assert.throws(
      () => new Sampler(opts),
      (e: unknown) => e instanceof BitnetError && e.code === 'INVALID_ARGUMENT' && e.subject === name && e.message.includes(name),
      JSON.stringify(opts, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)),
    );
  }
  // undefined means default, not invalid
  assert.doesNotThrow(() => new Sampler({ temperature: undefined, minP: undefined } as unknown as SamplerOptions));
});

test('settings that would overflow the logits stay finite: a tiny repeat penalty ties the penalised tokens at the top, a tiny temperature is greedy', () => {
  const logits = new Float32Array([1, 2, 3, -1]);
  // tokens 0 and 1 divided by 1e-300: both the largest finite logit, a tie the draw splits between them
  const seen = new Set<number>();
  for (let seed = 0; seed < 40; seed++) seen.add(new Sampler({ repeatPenalty: 1e-300, temperature: 1, topK: 0, topP: 1, minP: 0, seed }).sample(logits, [0, 1]));
  assert.deepEqual([...seen].sort(), [0, 1]);
  for (let seed = 0; seed < 10; seed++) assert.equal(new Sampler({ temperature: 1e-320, topK: 0, topP: 1, minP: 0, seed }).sample(logits, []), 2);
  // every field at its extreme still gives a token of the row
  for (const o of [{ repeatPenalty: 1e300 }, { repeatPenalty: 5e-324 }, { frequencyPenalty: 1e308, presencePenalty: -1e308 }, { temperature: 1e308 }, { minP: 1, topP: 0 }] as SamplerOptions[]) {
    const id = new Sampler({ ...o, seed: 1 }).sample(logits, [0, 1, 3, 3]);
    assert.ok(id >= 0 && id < logits.length, `${JSON.stringify(o)} -> ${id}`);
  }
});

test('a banned (-Infinity) candidate leaves the draw random over the others (only an overflowing temperature is greedy)', () => {
  const row = logitsOf([0, 0.1, 0.2, -Infinity]);
  const seen = new Set<number>();
  for (let seed = 0; seed < 200; seed++) seen.add(new Sampler({ ...PLAIN, seed }).sample(row, []));
  assert.deepEqual([...seen].sort(), [0, 1, 2]);
  assert.equal(new Sampler({ ...PLAIN, temperature: 1e-320, seed: 1 }).sample(row, []), 2);
});
