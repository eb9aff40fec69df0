// Decode attention alone at depth: one token's attention over a KV cache of D positions with 2B4T's shape (20
// query heads, 5 kv heads of 128), per KV type pair and thread count, as ms per layer and per token (x30
// layers) and the cache bytes read per second, so kernel work is measured apart from the ternary matmuls.
// Run: `npm run bench:attention [-- --depth 1024,4096 --types f16/f16,q8_0/q8_0 --threads 1,2 --reps 30]`
import { parseArgs } from 'node:util';
import type { KvType, KvTypes } from '../src/kernels/backend.js';
import { createBackend } from '../src/kernels/index.js';
import { kvBytesPerValue } from '../src/model/kv-cache.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    depth: { type: 'string', default: '1024,4096' },
    types: { type: 'string', default: 'f16/f16,q8_0/q8_0,q4_0/q4_0,q8_0/f16' },
    threads: { type: 'string', default: '1,2' },
    reps: { type: 'string', default: '30' },
    backend: { type: 'string', default: 'wasm' },
  },
});
const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter(Boolean);
const [nHead, nHeadKv, headDim, nLayer] = [20, 5, 128, 30];
const depths = list(values.depth!).map(Number);
const nCtx = Math.max(...depths);
const reps = Number(values.reps);
const rng = new Rng(7);
const width = nHeadKv * headDim;
const LAYERS = 4; // caches visited in turn, so a layer's cache is not still in L2 from the last call

process.stdout.write(`| backend | threads | K/V | depth | ms / layer | ms / token (x${nLayer}) | KV bytes / token | GB/s |\n| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n`);
for (const threads of list(values.threads!).map(Number)) {
  const be = await createBackend(values.backend as 'wasm', { threads });
  for (const pair of list(values.types!)) {
    const [k, v = k] = pair.split('/') as [KvType, KvType?];
    const types: KvTypes = { k, v: v! };
    const kv = be.createKv(LAYERS, nHeadKv, headDim, nCtx, types);
    kv.reserve(nCtx);
    const kb = be.allocF32(256 * width);
    const vb = be.allocF32(256 * width);
    for (const layer of kv.layers) {
      for (let p = 0; p < nCtx; p += 256) {
        for (let i = 0; i < kb.length; i++) {
          kb[i] = rng.normal();
          vb[i] = rng.normal();
        }
        be.upload(kb);
        be.upload(vb);
        be.kvStore(layer, kb, vb, Math.min(256, nCtx - p), p);
      }
    }
    const q = be.allocF32(nHead * headDim);
    const out = be.allocF32(nHead * headDim);
    for (let i = 0; i < q.length; i++) q[i] = rng.normal();
    be.upload(q);
    for (const depth of depths) {
      const p = { T: 1, nHead, nHeadKv, headDim, pos0: depth - 1, scale: Math.fround(1 / Math.sqrt(headDim)), kv: types };
      for (let r = 0; r < LAYERS; r++) be.attention(q, kv.layers[r % LAYERS]!, out, p);
      await be.read(out);
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) be.attention(q, kv.layers[r % LAYERS]!, out, p);
      await be.read(out);
      const ms = (performance.now() - t0) / reps;
      const bytes = depth * width * (kvBytesPerValue(types.k) + kvBytesPerValue(types.v));
      process.stdout.write(`| ${be.name} | ${threads} | ${k}/${v} | ${depth} | ${ms.toFixed(3)} | ${(ms * nLayer).toFixed(1)} | ${((bytes * nLayer) / 1e6).toFixed(0)} MB | ${(bytes / ms / 1e6).toFixed(1)} |\n`);
    }
    for (const b of [kb, vb, q, out]) be.free(b);
    kv.free();
  }
  be.dispose();
}
process.stderr.write(`node ${process.version}; ${reps} calls per row, wall time; the machine's other load counts\n`);
