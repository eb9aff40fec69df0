// Self-tests for the float64 reference forward pass (test/reference/forward64.ts): hand-checkable properties of each
// piece (rounding, BitLinear, RoPE, attention, GQA) and of the whole pass (causality, zero-weight model, kvF16).
// Uses its own seeded PRNG so it shares nothing with src/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bitLinear, causalAttention, quantizeActivations, referenceLogits, rmsNorm, ropeHalfSplit, roundHalfEven, roundToF16,
  type RefLayer, type RefModel, type RefTernary,
} from './forward64.js';

/** mulberry32: tiny seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randTernary(rand: () => number, rows: number, cols: number, alpha: number): RefTernary {
  const values = new Int8Array(rows * cols).map(() => Math.floor(rand() * 3) - 1);
  return { rows, cols, values, alpha };
}

function randVec(rand: () => number, n: number, lo: number, hi: number): Float32Array {
  return new Float32Array(n).map(() => lo + (hi - lo) * rand());
}

interface Shape { nEmbd: number; nFf: number; nHead: number; nHeadKv: number; headDim: number; nVocab: number; nLayer: number }
const SMALL: Shape = { nEmbd: 32, nFf: 48, nHead: 4, nHeadKv: 2, headDim: 8, nVocab: 50, nLayer: 2 };

function randomModel(seed: number, s: Shape = SMALL, zeroWeights = false): RefModel {
  const rand = mulberry32(seed);
  const tern = (rows: number, cols: number): RefTernary => {
    const w = randTernary(rand, rows, cols, (0.8 + 0.4 * rand()) / Math.sqrt((2 / 3) * cols)); // roughly unit gain
    if (zeroWeights) w.values.fill(0);
    return w;
  };
  const qDim = s.nHead * s.headDim, kvDim = s.nHeadKv * s.headDim;
  const layers: RefLayer[] = [];
  for (let l = 0; l < s.nLayer; l++) {
    layers.push({
      attnNorm: randVec(rand, s.nEmbd, 0.5, 1.5), ffnNorm: randVec(rand, s.nEmbd, 0.5, 1.5),
      attnSubNorm: randVec(rand, qDim, 0.5, 1.5), ffnSubNorm: randVec(rand, s.nFf, 0.5, 1.5),
      wq: tern(qDim, s.nEmbd), wk: tern(kvDim, s.nEmbd), wv: tern(kvDim, s.nEmbd), wo: tern(s.nEmbd, qDim),
      wgate: tern(s.nFf, s.nEmbd), wup: tern(s.nFf, s.nEmbd), wdown: tern(s.nEmbd, s.nFf),
    });
  }
  return {
    nEmbd: s.nEmbd, nFf: s.nFf, nHead: s.nHead, nHeadKv: s.nHeadKv, headDim: s.headDim, nVocab: s.nVocab,
    eps: 1e-5, ropeTheta: 10000, act: 'relu2',
    embedding: randVec(rand, s.nVocab * s.nEmbd, -1, 1), output: null, outputNorm: randVec(rand, s.nEmbd, 0.5, 1.5), layers,
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('roundHalfEven: ties go to the even neighbour, non-ties to the nearest', () => {
  assert.deepEqual([2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 1.5, 2.4999, -2.6, 7].map(roundHalfEven), [2, -2, 4, -4, 0, 0, 2, 2, -3, 7]);
});

test('roundToF16: exact halves stay, ties to even, subnormals, overflow', () => {
  assert.equal(roundToF16(1), 1);
  assert.equal(roundToF16(65504), 65504);
  assert.equal(roundToF16(65519), 65504); // below the halfway point to 2^16
  assert.equal(roundToF16(65520), Infinity); // tie to even -> 2^16 -> overflow
  assert.equal(roundToF16(1 + 2 ** -11), 1); // tie between 1 and 1+2^-10 -> even (1)
  assert.equal(roundToF16(1 + 3 * 2 ** -11), 1 + 2 ** -9); // tie between 1+2^-10 and 1+2^-9 -> even
  assert.equal(roundToF16(1 + 2 ** -11 + 2 ** -30), 1 + 2 ** -10); // just above the tie
  assert.equal(roundToF16(-0.1), -0.0999755859375); // f16(0.1) = 0x2E66
  assert.equal(roundToF16(2 ** -24), 2 ** -24); // smallest subnormal
  assert.equal(roundToF16(2 ** -25), 0); // tie between 0 and 2^-24 -> 0
  assert.equal(roundToF16(3 * 2 ** -25), 2 ** -23); // tie between 1 and 2 quanta -> 2
  assert.equal(roundToF16(2 ** -14 - 2 ** -26), 2 ** -14); // rounds up across the subnormal/normal boundary
});

test('roundToF16: every finite half is a fixed point; midpoints go to the even neighbour', () => {
  const half = (bits: number): number => { // decode positive half bits (exp 0..30)
    const exp = bits >> 10, frac = bits & 0x3ff;
    return exp === 0 ? frac * 2 ** -24 : (1 + frac / 1024) * 2 ** (exp - 15);
  };
  for (let h = 0; h < 0x7c00; h++) {
    const x = half(h);
    assert.equal(roundToF16(x), x);
    assert.equal(roundToF16(-x), -x);
    if (h + 1 < 0x7c00) {
      const mid = (x + half(h + 1)) / 2; // exact in float64
      assert.equal(roundToF16(mid), half(h % 2 === 0 ? h : h + 1), `mid of ${h}`);
      assert.equal(roundToF16(mid * (1 - 2 ** -40)), x);
      assert.equal(roundToF16(mid * (1 + 2 ** -40)), half(h + 1));
    }
  }
});

test('activation quantization: 1e-5 floor, halves to even, clamp', () => {
  // max|x| = 127 -> s = 1, so x*s = x exactly
  assert.deepEqual([...quantizeActivations([127, 2.5, -2.5, 3.5, -0.5]).xq], [127, 2, -2, 4, 0]);
  const z = quantizeActivations([0, 0]);
  assert.equal(z.s, 127 / 1e-5);
  assert.deepEqual([...z.xq], [0, 0]);
  // tiny inputs below the floor are scaled by 127/1e-5, not blown up to ±127
  assert.deepEqual([...quantizeActivations([4e-6, -1e-6]).xq], [51, -13]); // 50.8 -> 51, -12.7 -> -13
  // the max element maps to exactly ±127, so the clamp at -128 only matters for rounding artefacts; check it directly
  assert.deepEqual([...quantizeActivations([-1, 1]).xq], [-127, 127]);
});

test('bitLinear: hand-computed 2x4 case', () => {
  // x = [127, 2.5, -63.5, 10] -> gamma = 127, s = 1, xq = [127, 2, -64, 10] (2.5 -> 2, -63.5 -> -64)
  const w: RefTernary = { rows: 2, cols: 4, values: Int8Array.from([1, -1, 0, 1, /**/ 0, 1, -1, -1]), alpha: 0.25 };
  const y = bitLinear([127, 2.5, -63.5, 10], w);
  // row 0: 127 - 2 + 10 = 135; row 1: 2 + 64 - 10 = 56; times alpha / s = 0.25
  assert.deepEqual([...y], [135 * 0.25, 56 * 0.25]);
  // scale invariance of the integer part: x/2 gives the same xq, s doubles, y halves
  assert.deepEqual([...bitLinear([63.5, 1.25, -31.75, 5], w)], [135 * 0.125, 56 * 0.125]);
});

test('rmsNorm: hand-computed', () => {
  const y = rmsNorm([3, 4], [1, 2], 0); // mean(x^2) = 12.5
  assert.deepEqual([...y], [3 / Math.sqrt(12.5), 8 / Math.sqrt(12.5)]);
});

test('RoPE: identity at pos 0, half-split pairing, pair norms preserved', () => {
  const x = [1, 2, 3, 4, 5, 6, 7, 8]; // 2 heads of headDim 4
  assert.deepEqual([...ropeHalfSplit(x, 2, 4, 0, 10000)], x);
  // headDim 4: pairs (0,2) with angle pos*1 and (1,3) with angle pos*theta^(-1/2) = pos/100
  const p = 3;
  const y = ropeHalfSplit([1, 2, 3, 4], 1, 4, p, 10000);
  const a0 = p, a1 = p / 100;
  const expect = [1 * Math.cos(a0) - 3 * Math.sin(a0), 2 * Math.cos(a1) - 4 * Math.sin(a1),
    1 * Math.sin(a0) + 3 * Math.cos(a0), 2 * Math.sin(a1) + 4 * Math.cos(a1)];
  assert.ok(maxAbsDiff(y, expect) < 1e-15);
  const rand = mulberry32(7);
  const v = [...randVec(rand, 32, -1, 1)];
  const r = ropeHalfSplit(v, 2, 16, 11, 500000);
  for (let h = 0; h < 2; h++) {
    for (let i = 0; i < 8; i++) {
      const a = h * 16 + i, b = a + 8;
      assert.ok(Math.abs(Math.hypot(r[a]!, r[b]!) - Math.hypot(v[a]!, v[b]!)) < 1e-14);
    }
  }
});

test('attention: single token returns v of the matching kv head; GQA heads 0,1 -> kv 0 and 2,3 -> kv 1', () => {
  const rand = mulberry32(3);
  const headDim = 4, nHead = 4, nHeadKv = 2;
  const q = [Float64Array.from(randVec(rand, nHead * headDim, -1, 1))];
  const k = [Float64Array.from(randVec(rand, nHeadKv * headDim, -1, 1))];
  const v = [Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8])];
  const out = causalAttention(q, k, v, nHead, nHeadKv, headDim);
  assert.deepEqual([...out[0]!], [1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8]);
  // two tokens: with q = 0 the softmax is uniform, so every head averages its kv head's two v rows
  const zq = [new Float64Array(16), new Float64Array(16)];
  const k2 = [k[0]!, Float64Array.from(randVec(rand, 8, -1, 1))];
  const v2 = [v[0]!, Float64Array.from([3, 4, 5, 6, 7, 8, 9, 10])];
  const out2 = causalAttention(zq, k2, v2, nHead, nHeadKv, headDim);
  assert.deepEqual([...out2[0]!], [1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8]); // position 0 sees only token 0
  assert.deepEqual([...out2[1]!], [2, 3, 4, 5, 2, 3, 4, 5, 6, 7, 8, 9, 6, 7, 8, 9]);
});

test('attention: two keys, hand-computed softmax weights', () => {
  // one head, headDim 4: scale 1/2. q·k0 = 0, q·k1 = 2 -> scores 0, 1 -> p = [1, e] / (1 + e)
  const q = [new Float64Array(4), Float64Array.from([2, 0, 0, 0])];
  const k = [Float64Array.from([0, 1, 0, 0]), Float64Array.from([1, 0, 0, 0])];
  const v = [Float64Array.from([1, 0, 0, 0]), Float64Array.from([0, 1, 0, 0])];
  const out = causalAttention(q, k, v, 1, 1, 4)[1]!;
  const e = Math.E;
  assert.ok(maxAbsDiff(out, [1 / (1 + e), e / (1 + e), 0, 0]) < 1e-15);
});

test('zero ternary weights: logits = RMSNorm(embedding) · E^T (single-token mode: f16-rounded RMSNorm output)', () => {
  const m = randomModel(11, SMALL, true);
  const tokens = [5, 17, 3];
  const logits = referenceLogits(m, tokens);
  const logitsTok = referenceLogits(m, tokens, { singleTokenFrom: 1 });
  assert.deepEqual(logitsTok[0], logits[0]);
  const { nEmbd, nVocab } = m;
  tokens.forEach((tok, t) => {
    const e = m.embedding.subarray(tok * nEmbd, (tok + 1) * nEmbd);
    let ss = 0;
    for (const x of e) ss += x * x;
    const inv = 1 / Math.sqrt(ss / nEmbd + m.eps);
    for (let v = 0; v < nVocab; v++) {
      let dot = 0, dotF16 = 0;
      for (let i = 0; i < nEmbd; i++) {
        dot += m.outputNorm[i]! * e[i]! * inv * m.embedding[v * nEmbd + i]!;
        dotF16 += roundToF16(m.outputNorm[i]! * e[i]! * inv) * m.embedding[v * nEmbd + i]!;
      }
      assert.ok(Math.abs(logits[t]![v]! - dot) < 1e-12, `t=${t} v=${v}`);
      if (t >= 1) assert.ok(Math.abs(logitsTok[t]![v]! - dotF16) < 1e-12, `single-token t=${t} v=${v}`);
    }
  });
});

test('untied output head is used when present', () => {
  const m = randomModel(12);
  const tied = referenceLogits(m, [1, 2]);
  const untied = referenceLogits({ ...m, output: m.embedding.map((x) => -x) }, [1, 2]);
  assert.ok(maxAbsDiff(untied[1]!, tied[1]!.map((x) => -x)) < 1e-12);
});

test('causality: logits at t do not depend on later tokens; single-token run equals row 0', () => {
  const m = randomModel(21);
  const a = referenceLogits(m, [4, 9, 33, 2, 40]);
  const b = referenceLogits(m, [4, 9, 33, 7, 1]);
  for (let t = 0; t < 3; t++) assert.deepEqual(a[t], b[t]);
  assert.notDeepEqual(a[3], b[3]);
  assert.deepEqual(referenceLogits(m, [4])[0], a[0]);
  assert.deepEqual(referenceLogits(m, [4, 9, 33])[2], a[2]);
});

test('position matters (RoPE reaches the logits) and the silu variant runs', () => {
  const m = randomModel(22);
  const a = referenceLogits(m, [4, 4, 4]);
  assert.notDeepEqual(a[1], a[2]);
  const s = referenceLogits({ ...m, act: 'silu' }, [4, 4, 4]);
  assert.notDeepEqual(s[2], a[2]);
  for (const row of s) for (const x of row) assert.ok(Number.isFinite(x));
});

test('kvF16: small, deterministic change', () => {
  const m = randomModel(31);
  const tokens = [1, 8, 15, 22, 29, 36, 43];
  const a = referenceLogits(m, tokens);
  const b = referenceLogits(m, tokens, { kvF16: true });
  const b2 = referenceLogits(m, tokens, { kvF16: true });
  assert.deepEqual(b, b2);
  let diff = 0, rms = 0, n = 0;
  for (let t = 0; t < tokens.length; t++) {
    diff = Math.max(diff, maxAbsDiff(a[t]!, b[t]!));
    for (const x of a[t]!) { rms += x * x; n++; }
  }
  rms = Math.sqrt(rms / n);
  assert.ok(diff > 0, 'kvF16 should change something');
  // f16 rounding flips a few int8 activations, which moves logits by a few % of their RMS (README.md); bugs move them by >100%
  assert.ok(diff < 0.3 * rms, `kvF16 diff ${diff} vs logit rms ${rms}`);
});

test('singleTokenFrom: rows before it equal the batch result, rows from it on differ slightly', () => {
  const m = randomModel(32);
  const tokens = [3, 1, 4, 1, 5, 9, 2, 6];
  const batch = referenceLogits(m, tokens, { kvF16: true });
  const mixed = referenceLogits(m, tokens, { kvF16: true, singleTokenFrom: 5 });
  for (let t = 0; t < 5; t++) assert.deepEqual(mixed[t], batch[t]);
  for (let t = 5; t < tokens.length; t++) {
    const d = maxAbsDiff(mixed[t]!, batch[t]!);
    assert.ok(d > 0 && d < 1, `t=${t} diff ${d}`);
  }
  // without kvF16 the softmax probabilities stay exact; only the lm_head input is rounded, so hidden states match and
  // the difference is just f16 rounding of the final normed vector: |Δlogit| <= sum_i 2^-11 |hn_i| |E_vi|, tiny
  const exact = referenceLogits(m, tokens);
  const lmOnly = referenceLogits(m, tokens, { singleTokenFrom: 0 });
  for (let t = 0; t < tokens.length; t++) assert.ok(maxAbsDiff(exact[t]!, lmOnly[t]!) < 5e-3);
});
