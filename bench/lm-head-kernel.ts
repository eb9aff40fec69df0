// Micro-benchmark of the WASM exact lm_head kernel (asm/dense.ts): one F16 matmul of a 2B4T-shaped head
// (128256 x 2560, T = 1, roundInput as in decode) on 1 and 2 threads, interleaved, against a plain streaming
// read of the same bytes and one reference-kernel call (whose result it must match bit for bit).
// Run: `npx tsx bench/lm-head-kernel.ts [--rows 128256 --cols 2560 --reps 10]`
import { parseArgs } from 'node:util';
import { F16 } from '../src/formats/types.js';
import { refBackend } from '../src/kernels/ref/index.js';
import { createWasmBackend } from '../src/kernels/wasm/backend.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '128256' }, cols: { type: 'string', default: '2560' }, reps: { type: 'string', default: '10' } } });
const rows = Number(values.rows);
const cols = Number(values.cols);
const reps = Number(values.reps);
const rng = new Rng(7);

// finite f16 weights of either sign, |w| < 2 (exponents 0..15: subnormals included)
const u16 = new Uint16Array(rows * cols);
for (let i = 0; i < u16.length; i++) u16[i] = rng.int(0x3c00) | (rng.int(2) << 15);
const bytes = new Uint8Array(u16.buffer);
const be = [await createWasmBackend({ threads: 1 }), await createWasmBackend({ threads: 2 })] as const;
let t = performance.now();
const m = be[1].createDense({ type: F16, bytes }, rows, cols, { int8: false });
const packMs = performance.now() - t;
const x = be[1].allocF32(cols);
for (let i = 0; i < cols; i++) x[i] = rng.normal();
const y = be[1].allocF32(rows);
const ms: number[][] = [[], []];
for (let rep = 0; rep <= reps; rep++) {
  for (const n of [0, 1]) {
    t = performance.now();
    be[n]!.matmulDense(m, x, 1, y, true);
    if (rep > 0) ms[n]!.push(performance.now() - t); // the first pass warms up
  }
}
const gb = (rows * cols * 2) / 1e9;
const lines = [`exact lm_head F16 [${rows} x ${cols}], T = 1, node ${process.version}, ${be[1].variant}; packed in ${packMs.toFixed(0)} ms (${be[1].matrixBytes(m)} bytes held)`];
for (const n of [0, 1]) {
  const a = ms[n]!.sort((p, q) => p - q);
  lines.push(`  ${n + 1} thread(s): ${a[0]!.toFixed(1)}-${a.at(-1)!.toFixed(1)} ms (median ${a[a.length >> 1]!.toFixed(1)}), ${(gb / (a.at(-1)! / 1000)).toFixed(1)}-${(gb / (a[0]! / 1000)).toFixed(1)} GB/s`);
  lines.push(`  plain streaming read of as many bytes, ${n + 1} thread(s): ${be[n]!.measureReadBandwidth(rows * cols * 2, 3).toFixed(1)} GB/s`);
}
const want = new Float32Array(rows);
t = performance.now();
refBackend.matmulDense(refBackend.createDense({ type: F16, bytes }, rows, cols), x, 1, want, true);
lines.push(`  reference kernel: ${(performance.now() - t).toFixed(0)} ms`);
let diff = 0;
for (let i = 0; i < rows; i++) if (!Object.is(y[i], want[i])) diff++;
lines.push(`  ${diff === 0 ? 'bit-identical to the reference' : `${diff} rows differ from the reference`}`);
process.stdout.write(lines.join('\n') + '\n');
process.exit(diff === 0 ? 0 : 1);
