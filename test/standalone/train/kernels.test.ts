// The trainer's WASM SIMD GEMMs against the plain TypeScript reference on random shapes (odd row counts,
// remainders of the 2x4 tiles, K at the 16-multiple boundary), on 1 and several threads; results do not
// depend on the thread count.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTrainKernels, refTrainKernels, type TrainKernels } from '../../../src/train/kernels.js';
import { Rng } from '../../../src/util/rng.js';

const rng = new Rng(9);
const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
let one: TrainKernels;
let two: TrainKernels;

before(async () => {
  one = await createTrainKernels('auto', 1);
  two = await createTrainKernels('auto', 3);
});
after(() => {
  one.dispose();
  two.dispose();
});

function close(a: Float32Array, b: Float32Array, what: string): void {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  assert.ok(worst < 1e-5, `${what}: relative difference ${worst}`);
}

for (const [T, K, N] of [[1, 16, 1], [3, 32, 5], [17, 48, 7], [33, 128, 130], [64, 256, 96], [5, 20, 3]] as const) {
  test(`gemm T=${T} K=${K} N=${N}: WASM equals the reference; 1 and 3 threads give the same bits`, () => {
    assert.notEqual(one.name, 'ref');
    const x = rand(T * K);
    const w = rand(N * K);
    const dy = rand(T * N);
    const y = [new Float32Array(T * N), new Float32Array(T * N), new Float32Array(T * N)];
    [refTrainKernels, one, two].forEach((k, i) => k.linear(x, w, T, K, N, y[i]!));
    close(y[1]!, y[0]!, 'linear');
    assert.deepEqual(y[2], y[1]);
    for (const acc of [false, true]) {
      const base = rand(T * K);
      const dx = [base.slice(), base.slice(), base.slice()];
      [refTrainKernels, one, two].forEach((k, i) => k.linearBackwardInput(dy, w, T, K, N, dx[i]!, acc));
      close(dx[1]!, dx[0]!, `backward input (accumulate ${acc})`);
      assert.deepEqual(dx[2], dx[1]);
    }
    const base = rand(N * K);
    const dw = [base.slice(), base.slice(), base.slice()];
    [refTrainKernels, one, two].forEach((k, i) => k.linearBackwardWeight(dy, x, T, K, N, dw[i]!));
    close(dw[1]!, dw[0]!, 'backward weight');
    assert.deepEqual(dw[2], dw[1]);
  });
}

for (const s of [{ B: 2, T: 7, nHead: 4, nHeadKv: 2, headDim: 8 }, { B: 3, T: 33, nHead: 6, nHeadKv: 3, headDim: 32 }, { B: 1, T: 5, nHead: 2, nHeadKv: 2, headDim: 6 }]) {
  test(`attention B=${s.B} T=${s.T} heads ${s.nHead}/${s.nHeadKv} hd=${s.headDim}: WASM forward and backward equal the reference`, () => {
    const R = s.B * s.T;
    const q = rand(R * s.nHead * s.headDim);
    const k = rand(R * s.nHeadKv * s.headDim);
    const v = rand(R * s.nHeadKv * s.headDim);
    const dout = rand(q.length);
    const run = (kern: TrainKernels) => {
      const out = new Float32Array(q.length);
      const probs = new Float32Array(s.B * s.nHead * s.T * s.T);
      kern.attention(q, k, v, s, out, probs);
      const g = [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)] as const;
      kern.attentionBackward(dout, q, k, v, probs, s, g[0], g[1], g[2]);
      return [out, probs, ...g];
    };
    const want = run(refTrainKernels);
    const got1 = run(one);
    const got3 = run(two);
    ['out', 'probs', 'dq', 'dk', 'dv'].forEach((name, i) => {
      close(got1[i]!, want[i]!, name);
      assert.deepEqual(got3[i], got1[i], `${name}: thread count changed the bits`);
    });
  });
}
