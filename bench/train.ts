// Training throughput of the trainer's kernels side by side (not a test): the same model and batches with
// the plain TypeScript reference and with the WASM SIMD kernels on 1 and 2 threads, alternating rounds.
// Run: `npm run bench:train [-- --dim 128 --ff 384 --layers 4 --vocab 2048 --batch 8 --seq 256 --steps 3 --rounds 2]`
import { parseArgs } from 'node:util';
import { createTrainKernels, refTrainKernels, type TrainKernels } from '../src/train/kernels.js';
import { TrainModel } from '../src/train/model.js';
import { Rng } from '../src/util/rng.js';

const { values: v } = parseArgs({
  options: {
    dim: { type: 'string', default: '128' },
    ff: { type: 'string', default: '384' },
    layers: { type: 'string', default: '4' },
    vocab: { type: 'string', default: '2048' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '256' },
    steps: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
  },
});
const [D, F, L, V, B, T, steps, rounds] = [v.dim, v.ff, v.layers, v.vocab, v.batch, v.seq, v.steps, v.rounds].map(Number) as number[];
const config = { nVocab: V!, nEmbd: D!, nFf: F!, nLayer: L!, nHead: 4, nHeadKv: 2, nCtx: T!, ropeTheta: 10000, eps: 1e-5, quantize: true };
const rng = new Rng(1);
const batch = Int32Array.from({ length: B! * (T! + 1) }, () => Math.floor(rng.next() * V!));
const kernels: Array<[string, TrainKernels]> = [
  ['plain TypeScript', refTrainKernels],
  ['WASM SIMD, 1 thread', await createTrainKernels('auto', 1)],
  ['WASM SIMD, 2 threads', await createTrainKernels('auto', 2)],
];
const rates = new Map<string, number[]>();
for (let r = 0; r < rounds!; r++) {
  for (const [name, k] of kernels) {
    const model = new TrainModel(config, 1, k);
    model.step(batch, B!, T!, { backward: true }); // warm-up
    const t0 = performance.now();
    for (let s = 0; s < steps!; s++) {
      model.zeroGrad();
      model.step(batch, B!, T!, { backward: true });
    }
    const rate = (steps! * B! * T! * 1000) / (performance.now() - t0);
    rates.set(name, [...(rates.get(name) ?? []), rate]);
    process.stderr.write(`round ${r + 1}: ${name}: ${rate.toFixed(0)} tokens/s\n`);
  }
}
for (const [, k] of kernels) k.dispose();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(rates.get('plain TypeScript')!);
process.stdout.write(
  [
    `model: ${L} layers x ${D}, ff ${F}, vocab ${V}, ternary; batch ${B} x ${T} tokens; forward + backward; median of ${rounds} rounds`,
    '',
    '| kernels | tokens/s | vs plain TS |',
    '| --- | ---: | ---: |',
    ...[...rates].map(([name, xs]) => `| ${name} | ${median(xs).toFixed(0)} | ${(median(xs) / base).toFixed(1)}x |`),
    '',
  ].join('\n'),
);
