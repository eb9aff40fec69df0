// The WASM backend's context shift over its KV layout (asm/attention.ts kv_store): K in blocks of 8
// positions per kv head ([headDim][8] per block), V in slabs of 32 dims per kv head ([pos][32] per slab),
// and the layer's inf/NaN flag after K. Moved K rows are rotated with ropeRef's arithmetic from the f32 value
// of what is stored, as the reference cache does (ref/ops.ts shiftLayerRef): the same bits.
import { f32ToF16, halfTableF32 } from '../../util/f16.js';
import type { KvShiftRope } from '../backend.js';
import type { Heap } from './heap.js';

export interface WasmKvShape {
  nHeadKv: number;
  headDim: number;
  nCtx: number;
  f16: boolean;
}

/** Shifts one layer (pointers to its K and V) of a WASM cache; see KvStorage.shift. */
export function shiftWasmKvLayer(heap: Heap, k: number, v: number, s: WasmKvShape, keep: number, discard: number, n: number, rope: KvShiftRope): void {
  const { nHeadKv, headDim, f16 } = s;
  const es = f16 ? 2 : 4;
  const nb = Math.ceil(s.nCtx / 8);
  const headElems = nb * 8 * headDim;
  const kElems = nHeadKv * headElems;
  const k16 = f16 ? heap.u16(k, kElems) : undefined;
  const k32 = f16 ? undefined : heap.f32(k, kElems);
  const half = halfTableF32();
  const { nRot, table } = rope;
  const h = nRot / 2;
  const neox = rope.style === 'neox';
  const fround = Math.fround;
  let special = false;
  // destinations come before their sources, so one pass in position order moves every row in place; the
  // arithmetic is ropeRef's on the f32 value of what is stored (dims past nRot: widened and rounded back)
  for (let pos = keep + discard; pos < n; pos++) {
    const to = pos - discard;
    for (let g = 0; g < nHeadKv; g++) {
      const src = g * headElems + (pos >> 3) * 8 * headDim + (pos & 7);
      const dst = g * headElems + (to >> 3) * 8 * headDim + (to & 7);
      if (k16) {
        for (let i = 0; i < h; i++) {
          const c = table[2 * i]!;
          const sn = table[2 * i + 1]!;
          const o0 = 8 * (neox ? i : 2 * i);
          const o1 = 8 * (neox ? i + h : 2 * i + 1);
          const x0 = half[k16[src + o0]!]!;
          const x1 = half[k16[src + o1]!]!;
          const r0 = f32ToF16(fround(fround(x0 * c) - fround(x1 * sn)));
          const r1 = f32ToF16(fround(fround(x0 * sn) + fround(x1 * c)));
          if ((r0 & 0x7c00) === 0x7c00 || (r1 & 0x7c00) === 0x7c00) special = true;
          k16[dst + o0] = r0;
          k16[dst + o1] = r1;
        }
        for (let d = nRot; d < headDim; d++) k16[dst + 8 * d] = f32ToF16(half[k16[src + 8 * d]!]!);
      } else {
        const k = k32!;
        for (let i = 0; i < h; i++) {
          const c = table[2 * i]!;
          const sn = table[2 * i + 1]!;
          const o0 = 8 * (neox ? i : 2 * i);
          const o1 = 8 * (neox ? i + h : 2 * i + 1);
          const x0 = k[src + o0]!;
          const x1 = k[src + o1]!;
          k[dst + o0] = fround(x0 * c) - fround(x1 * sn);
          k[dst + o1] = fround(x0 * sn) + fround(x1 * c);
        }
        for (let d = nRot; d < headDim; d++) k[dst + 8 * d] = k[src + 8 * d]!;
      }
    }
  }
  // a rotation can overflow f16 (|x0|, |x1| near 65504): the attention kernel must then widen exactly
  if (special) heap.i32(k + kElems * es, 1)[0] = 1;
  const slabBytes = s.nCtx * 32 * es;
  const vs = heap.u8(v, (nHeadKv * headDim / 32) * slabBytes);
  for (let at = 0; at < vs.length; at += slabBytes) vs.copyWithin(at + keep * 32 * es, at + (keep + discard) * 32 * es, at + n * 32 * es);
}
