// Every backward pass of the trainer against central finite differences (in float64 around float32 ops):
// linear, BitLinear's straight-through estimator, RMSNorm, RoPE, attention, the squared-ReLU gate, the
// embedding and cross-entropy one by one, then the whole model (full precision) end to end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ropeTable } from '../../../src/kernels/math.js';
import { TrainModel } from '../../../src/train/model.js';
import * as op from '../../../src/train/ops.js';
import { Rng } from '../../../src/util/rng.js';

const rng = new Rng(42);
const rand = (n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);

/** Checks analytic gradients `grad` of scalar f at x by central differences on `probes` random entries. */
function check(name: string, x: Float32Array, f: () => number, grad: Float32Array, opts: { eps?: number; tol?: number; probes?: number } = {}): void {
  const eps = opts.eps ?? 1e-2;
  const tol = opts.tol ?? 2e-2;
  const probes = Math.min(opts.probes ?? 12, x.length);
  let scale = 0;
  for (const g of grad) scale = Math.max(scale, Math.abs(g));
  for (let p = 0; p < probes; p++) {
    const i = Math.floor(rng.next() * x.length);
    const keep = x[i]!;
    x[i] = keep + eps;
    const up = f();
    x[i] = keep - eps;
    const down = f();
    x[i] = keep;
    const fd = (up - down) / (2 * eps);
    assert.ok(Math.abs(fd - grad[i]!) <= tol * Math.max(scale, 1e-3), `${name}[${i}]: finite difference ${fd} vs analytic ${grad[i]}`);
  }
}

/** Σ r · y: a random linear functional makes every output matter. */
const dotWith = (y: Float32Array, r: Float32Array): number => y.reduce((a, v, i) => a + v * r[i]!, 0);

test('linear: gradients of input and weight', () => {
  const [T, K, N] = [3, 5, 4];
  const x = rand(T * K);
  const w = rand(N * K);
  const r = rand(T * N);
  const y = new Float32Array(T * N);
  const f = () => (op.linear(x, w, T, K, N, y), dotWith(y, r));
  const dx = new Float32Array(T * K);
  const dw = new Float32Array(N * K);
  op.linearBackwardInput(r, w, T, K, N, dx, false);
  op.linearBackwardWeight(r, x, T, K, N, dw);
  check('dx', x, f, dx);
  check('dw', w, f, dw);
});

test('BitLinear: the straight-through estimator is the gradient of the linear map at the quantized values', () => {
  const [T, K, N] = [4, 16, 6];
  const x = rand(T * K);
  const w = rand(N * K, 0.1);
  const r = rand(T * N);
  const xq = new Float32Array(T * K);
  const wq = new Float32Array(N * K);
  op.quantizeActs(x, T, K, xq);
  const alpha = op.quantizeWeights(w, wq);
  // the quantized values are what they claim: int8 steps of the row scale, ternary multiples of alpha
  for (const v of wq) assert.ok([0, alpha, -alpha].includes(v));
  // STE surrogate: x' + stopgrad(q(x) - x), w' + stopgrad(q(w) - w) -> exactly linear at the quantized point
  const offX = xq.map((v, i) => v - x[i]!);
  const offW = wq.map((v, i) => v - w[i]!);
  const y = new Float32Array(T * N);
  const f = () => (op.linear(x.map((v, i) => v + offX[i]!), w.map((v, i) => v + offW[i]!), T, K, N, y), dotWith(y, r));
  const dx = new Float32Array(T * K);
  const dw = new Float32Array(N * K);
  op.linearBackwardInput(r, wq, T, K, N, dx, false);
  op.linearBackwardWeight(r, xq, T, K, N, dw);
  check('dx (STE)', x, f, dx);
  check('dw (STE)', w, f, dw);
});

test('RMSNorm: gradients of input and weight', () => {
  const [T, n] = [3, 8];
  const x = rand(T * n);
  const w = rand(n);
  const r = rand(T * n);
  const y = new Float32Array(T * n);
  const rstd = new Float32Array(T);
  const f = () => (op.rmsNorm(x, w, T, n, 1e-5, y, rstd), dotWith(y, r));
  f();
  const dx = new Float32Array(T * n);
  const dw = new Float32Array(n);
  op.rmsNormBackward(r, x, w, rstd, T, n, dx, dw, false);
  check('dx', x, f, dx, { eps: 1e-3 });
  check('dw', w, f, dw, { eps: 1e-3 });
});

test('RoPE: the backward pass is the inverse rotation', () => {
  const [T, H, hd] = [5, 2, 8];
  const table = ropeTable(0, T, hd, 10000, undefined);
  const x = rand(T * H * hd);
  const r = rand(T * H * hd);
  const f = () => {
    const y = x.slice();
    op.rope(y, T, H, hd, hd, table, false);
    return dotWith(y, r);
  };
  const dx = r.slice();
  op.rope(dx, T, H, hd, hd, table, true);
  check('dx', x, f, dx, { eps: 1e-3 });
});

test('attention (causal, GQA): gradients of q, k and v', () => {
  const s = { B: 2, T: 5, nHead: 4, nHeadKv: 2, headDim: 4 };
  const R = s.B * s.T;
  const q = rand(R * s.nHead * s.headDim);
  const k = rand(R * s.nHeadKv * s.headDim);
  const v = rand(R * s.nHeadKv * s.headDim);
  const r = rand(R * s.nHead * s.headDim);
  const out = new Float32Array(q.length);
  const probs = new Float32Array(s.B * s.nHead * s.T * s.T);
  const f = () => (op.attention(q, k, v, s, out, probs), dotWith(out, r));
  f();
  const dq = new Float32Array(q.length);
  const dk = new Float32Array(k.length);
  const dv = new Float32Array(v.length);
  op.attentionBackward(r, q, k, v, probs, s, dq, dk, dv);
  check('dq', q, f, dq, { eps: 1e-3 });
  check('dk', k, f, dk, { eps: 1e-3 });
  check('dv', v, f, dv, { eps: 1e-3 });
  // causality: the first position's output does not depend on later keys
  const before = out.slice(0, s.nHead * s.headDim);
  const last = (s.T - 1) * s.nHeadKv * s.headDim;
  k[last] = k[last]! + 1;
  f();
  assert.deepEqual(out.slice(0, s.nHead * s.headDim), before);
});

for (const act of ['relu2', 'silu'] as const) {
  test(`gated ${act}: gradients of gate and up`, () => {
    const n = 32;
    const g = rand(n);
    const u = rand(n);
    const r = rand(n);
    const h = new Float32Array(n);
    const f = () => (op.gatedAct(g, u, n, act, h), dotWith(h, r));
    const dg = new Float32Array(n);
    const du = new Float32Array(n);
    op.gatedActBackward(r, g, u, n, act, dg, du);
    check('dg', g, f, dg, { eps: 1e-3, probes: 32 });
    check('du', u, f, du, { eps: 1e-3, probes: 32 });
  });
}

test('cross-entropy: gradient of the mean loss, ignored targets count for nothing', () => {
  const [T, V] = [4, 7];
  const logits = rand(T * V, 3);
  const targets = [1, -1, 6, 0];
  const d = new Float32Array(T * V);
  const f = () => {
    const r = op.crossEntropy(logits, targets, T, V, new Float32Array(T * V), 3);
    return r.sum / 3;
  };
  op.crossEntropy(logits, targets, T, V, d, 3);
  check('dlogits', logits, f, d, { eps: 1e-3, probes: 28 });
  for (let i = V; i < 2 * V; i++) assert.equal(d[i], 0);
});

test('the whole model in full precision: every parameter kind against finite differences (embedding included)', () => {
  const model = new TrainModel({ nVocab: 11, nEmbd: 128, nFf: 128, nLayer: 2, nHead: 4, nHeadKv: 2, nCtx: 8, ropeTheta: 10000, eps: 1e-5, quantize: false }, 3);
  // larger weights than the init so every path carries signal
  for (const p of model.params) if (p.decay) for (let i = 0; i < p.data.length; i++) p.data[i] = p.data[i]! * 10;
  const B = 2;
  const T = 6;
  const tokens = Int32Array.from({ length: B * (T + 1) }, (_, i) => (i * 7 + 3) % 11);
  model.zeroGrad();
  model.step(tokens, B, T, { backward: true });
  const loss = () => model.step(tokens, B, T, { backward: false }).loss;
  for (const p of model.params) check(p.name, p.data, loss, p.grad, { eps: 1e-2, tol: 5e-2, probes: 3 });
});
