// The forward pass of the ternary decoder (BitNet b1.58 2B4T, the 2024 `bitnet` arch, ternary llama, and
// the Qwen3-based BitNet embedding models with their per-projection input norms),
// top to bottom as bitnet.cpp's build_bitnet_158 / llama.cpp's build_bitnet build the graph. Every
// projection is a BitLinear: per-token int8 activations, integer ternary dot, float epilogue. A `trace`
// hook sees each named intermediate (llama.cpp's cb() names) so any layer can be diffed against a reference.
//
// Numerics follow bitnet.cpp's x86 CPU build: K/V cached in f16 with Q rounded to f16 for Q·K; the
// softmax probabilities (P·V) are rounded to f16 when the batch has one token, and the lm_head input is
// rounded to f16 when one row of logits is computed (ggml's single-row F16 matmul), f32 otherwise.
import { BitnetError } from '../errors.js';
import type { Backend, QuantizedActs } from '../kernels/backend.js';
import { ropeTable } from '../kernels/math.js';
import type { HParams } from './hparams.js';
import type { KvCache } from './kv-cache.js';
import type { LayerWeights, ModelWeights } from './weights.js';

export interface LoadedWeights {
  hp: HParams;
  w: ModelWeights;
  backend: Backend;
}

/** Sees intermediates: name (llama.cpp's), layer (-1 outside blocks), data [rows, cols] row-major. */
export type TraceFn = (name: string, layer: number, data: Float32Array, rows: number, cols: number) => void;

export interface ForwardOptions {
  /**
   * which positions need logits: the last (generation), all (evaluate, perplexity), or none (prefill only);
   * or 'hidden': no lm_head, the final hidden states (after output_norm) of every position [T, nEmbd]
   * instead (embeddings)
   */
  logits: 'last' | 'all' | 'none' | 'hidden';
  trace?: TraceFn;
}

/**
 * Runs tokens at positions kv.length .. kv.length + T - 1, appends their K/V to the cache and returns
 * logits [nOut, nVocab] (nOut = T, 1 or 0 by `opts.logits`), or the hidden states [T, nEmbd] ('hidden').
 */
export async function forward(m: LoadedWeights, kv: KvCache, tokens: ArrayLike<number>, opts: ForwardOptions): Promise<Float32Array> {
  return (await forwardBatch(m, [{ kv, tokens, logits: opts.logits }], opts.trace))[0]!;
}

/** The k largest logits of a row: ids by value, descending (ties: lower id first), and their values. */
export interface TopLogits {
  ids: Int32Array;
  values: Float32Array;
}

/**
 * forward() for a step that needs only the k largest logits of its last token (greedy or small top-k
 * sampling): the backend's topK selects them where the logits are (GPU), so k numbers come back instead
 * of a vocabulary row. Only for backends with topK.
 */
export async function forwardTop(m: LoadedWeights, kv: KvCache, tokens: ArrayLike<number>, k: number): Promise<TopLogits> {
  if (!m.backend.topK) throw new BitnetError('INVALID_ARGUMENT', `the ${m.backend.name} backend has no topK`, { name: 'backend' });
  return (await run(m, [{ kv, tokens, logits: 'last' }], undefined, k)) as TopLogits;
}

/** One sequence's part of a batched forward step: its cache, its new tokens, and which logits it needs. */
export interface BatchItem {
  kv: KvCache;
  tokens: ArrayLike<number>;
  logits: ForwardOptions['logits'];
}

/**
 * Several sequences in one forward pass (continuous batching): their rows share every matmul, norm and
 * activation; RoPE, the KV store and attention run per sequence on its own cache and positions. Each
 * row's arithmetic does not depend on the other rows, so every sequence gets the bits it would get alone
 * with the same tokens (the lm_head input is rounded per item exactly when that item alone has one row).
 * Returns each item's logits [nOut, nVocab] (empty for 'none'; hidden states [T, nEmbd] for 'hidden'). Backend ops may only be queued (GPU): the
 * logits read-back at the end is the one point the pass waits for them (and each traced intermediate).
 */
export async function forwardBatch(m: LoadedWeights, items: readonly BatchItem[], trace?: TraceFn): Promise<Float32Array[]> {
  return (await run(m, items, trace, undefined)) as Float32Array[];
}

/** The pass itself; with `top`, returns the top logits of the single output row instead of the rows. */
async function run(m: LoadedWeights, items: readonly BatchItem[], trace: TraceFn | undefined, top: number | undefined): Promise<Float32Array[] | TopLogits> {
  const { hp, w, backend: be } = m;
  const nEmbd = hp.nEmbd;
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nHeadKv * hp.headDim;
  const row0: number[] = []; // first row of each item in the batch
  let T = 0;
  for (const it of items) {
    if (it.tokens.length === 0) throw new BitnetError('INVALID_ARGUMENT', 'a batch item has no tokens', { name: 'tokens' });
    it.kv.reserve(it.kv.length + it.tokens.length);
    row0.push(T);
    T += it.tokens.length;
  }
  if (T === 0) return [];

  const x = be.allocF32(T * nEmbd); //        (T, nEmbd)  residual stream
  const cur = be.allocF32(T * nEmbd); //      (T, nEmbd)  normed input of a block
  const q = be.allocF32(T * qDim); //         (T, nHead*headDim)
  const k = be.allocF32(T * kvDim); //        (T, nHeadKv*headDim)
  const v = be.allocF32(T * kvDim); //        (T, nHeadKv*headDim)
  const attn = be.allocF32(T * qDim); //      (T, nHead*headDim)
  const proj = be.allocF32(T * nEmbd); //     (T, nEmbd)  wo / wdown output
  const gate = be.allocF32(T * hp.nFf); //    (T, nFf)
  const up = be.allocF32(T * hp.nFf); //      (T, nFf)
  const xqEmbd = be.allocActs(T, nEmbd); //   int8 (T, nEmbd)
  const xqAttn = be.allocActs(T, qDim); //    int8 (T, nHead*headDim)
  const xqFfn = be.allocActs(T, hp.nFf); //   int8 (T, nFf)
  const curIn = hp.inputNorms ? be.allocF32(T * nEmbd) : undefined; // (T, nEmbd) one projection's own normed input
  const table = new Float32Array(T * hp.nRot); // (T, nRot) cos/sin at each row's own position
  items.forEach((it, i) => table.set(ropeTable(it.kv.length, it.tokens.length, hp.nRot, hp.ropeFreqBase, w.ropeFreqs), row0[i]! * hp.nRot));
  const ropeQ = { T, nHead: hp.nHead, headDim: hp.headDim, nRot: hp.nRot, style: hp.ropeStyle, table };
  const ropeK = { ...ropeQ, nHead: hp.nHeadKv };
  const scale = Math.fround(1 / Math.fround(Math.sqrt(hp.headDim)));

  try {
    items.forEach((it, i) => {
      for (let t = 0; t < it.tokens.length; t++) {
        const id = it.tokens[t]!;
        if (!(id >= 0 && id < w.embed.rows)) throw new BitnetError('INVALID_ARGUMENT', `token id ${id} is out of range [0, ${w.embed.rows})`, { name: 'tokens' });
        w.embed.read(id, x, (row0[i]! + t) * nEmbd);
      }
    });
    be.upload(x);
    if (trace) await show(trace, be, 'inp_embd', -1, x, T, nEmbd);

    for (let il = 0; il < hp.nLayer; il++) {
      const L = w.layers[il]!;

      // ---- attention ----
      be.rmsNorm(x, T, nEmbd, hp.eps, L.attnNorm, cur);
      if (trace) await show(trace, be, 'attn_norm', il, cur, T, nEmbd);
      if (L.inNorms && curIn) {
        // each projection normalizes and quantizes the block input with its own weight
        for (const [which, out, n] of [['wq', q, T * qDim], ['wk', k, T * kvDim], ['wv', v, T * kvDim]] as const) {
          be.rmsNorm(cur, T, nEmbd, hp.eps, L.inNorms[which], curIn);
          be.quantizeActs(curIn, xqEmbd);
          bitLinear(be, L, which, xqEmbd, out, n);
        }
      } else {
        be.quantizeActs(cur, xqEmbd); // one quantization shared by q, k, v
        bitLinear(be, L, 'wq', xqEmbd, q, T * qDim);
        bitLinear(be, L, 'wk', xqEmbd, k, T * kvDim);
        bitLinear(be, L, 'wv', xqEmbd, v, T * kvDim);
      }
      if (L.attnQNorm && L.attnKNorm) {
        // per-head RMSNorm: rows of headDim
        be.rmsNorm(q, T * hp.nHead, hp.headDim, hp.eps, L.attnQNorm, q);
        be.rmsNorm(k, T * hp.nHeadKv, hp.headDim, hp.eps, L.attnKNorm, k);
        if (trace) await show(trace, be, 'Qcur_normed', il, q, T, qDim);
        if (trace) await show(trace, be, 'Kcur_normed', il, k, T, kvDim);
      }
      be.rope(q, ropeQ);
      be.rope(k, ropeK);
      if (trace) await show(trace, be, 'Qcur', il, q, T, qDim);
      if (trace) await show(trace, be, 'Kcur', il, k, T, kvDim);
      if (trace) await show(trace, be, 'Vcur', il, v, T, kvDim);
      items.forEach((it, i) => {
        // per sequence: rows r0 .. r0+n-1 at positions pos0 .. pos0+n-1 of its own cache
        const r0 = row0[i]!;
        const n = it.tokens.length;
        const pos0 = it.kv.length;
        const layerKv = it.kv.layers[il]!;
        be.kvStore(layerKv, k.subarray(r0 * kvDim, (r0 + n) * kvDim), v.subarray(r0 * kvDim, (r0 + n) * kvDim), n, pos0);
        const p = { T: n, nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDim: hp.headDim, pos0, scale, kv: { k: it.kv.type, v: it.kv.type } };
        be.attention(q.subarray(r0 * qDim, (r0 + n) * qDim), layerKv, attn.subarray(r0 * qDim, (r0 + n) * qDim), p);
      });
      if (trace) await show(trace, be, 'kqv_out', il, attn, T, qDim);
      if (L.attnSubNorm) {
        be.rmsNorm(attn, T, qDim, hp.eps, L.attnSubNorm, attn);
        if (trace) await show(trace, be, 'attn_sub_norm', il, attn, T, qDim);
      }
      be.quantizeActs(attn, xqAttn);
      bitLinear(be, L, 'wo', xqAttn, proj, T * nEmbd);
      if (trace) await show(trace, be, 'attn_out', il, proj, T, nEmbd);
      be.add(x, proj, T * nEmbd);
      if (trace) await show(trace, be, 'ffn_inp', il, x, T, nEmbd);

      // ---- feed-forward: down(subnorm(act(gate(f)) * up(f))) ----
      be.rmsNorm(x, T, nEmbd, hp.eps, L.ffnNorm, cur);
      if (trace) await show(trace, be, 'ffn_norm', il, cur, T, nEmbd);
      if (L.inNorms && curIn) {
        for (const [which, out] of [['wup', up], ['wgate', gate]] as const) {
          be.rmsNorm(cur, T, nEmbd, hp.eps, L.inNorms[which], curIn);
          be.quantizeActs(curIn, xqEmbd);
          bitLinear(be, L, which, xqEmbd, out, T * hp.nFf);
        }
      } else {
        be.quantizeActs(cur, xqEmbd); // shared by gate and up
        bitLinear(be, L, 'wup', xqEmbd, up, T * hp.nFf);
        bitLinear(be, L, 'wgate', xqEmbd, gate, T * hp.nFf);
      }
      be.gatedAct(gate, up, T * hp.nFf, hp.act);
      if (trace) await show(trace, be, 'ffn_sub_out', il, gate, T, hp.nFf);
      if (L.ffnSubNorm) {
        be.rmsNorm(gate, T, hp.nFf, hp.eps, L.ffnSubNorm, gate);
        if (trace) await show(trace, be, 'ffn_sub_norm', il, gate, T, hp.nFf);
      }
      be.quantizeActs(gate, xqFfn);
      bitLinear(be, L, 'wdown', xqFfn, proj, T * nEmbd);
      if (trace) await show(trace, be, 'ffn_out', il, proj, T, nEmbd);
      be.add(x, proj, T * nEmbd);
      if (trace) await show(trace, be, 'l_out', il, x, T, nEmbd);
    }
    for (const it of items) it.kv.length += it.tokens.length;

    // ---- output: final norm and lm_head on the rows that need logits ----
    // rows that need logits, gathered in item order (items with one such row take ggml's single-row path),
    // then the rows of 'hidden' items, which skip the lm_head
    const nOut = items.map((it) => (it.logits === 'all' ? it.tokens.length : it.logits === 'last' ? 1 : 0));
    const nHidden = items.map((it) => (it.logits === 'hidden' ? it.tokens.length : 0));
    const total = nOut.reduce((a, b) => a + b, 0);
    const totalHidden = nHidden.reduce((a, b) => a + b, 0);
    if (total + totalHidden === 0) return items.map(() => new Float32Array(0));
    const out0: number[] = [];
    const hidden0: number[] = [];
    let o = 0;
    let h = total;
    items.forEach((it, i) => {
      out0.push(o);
      hidden0.push(h);
      const n = nOut[i]! + nHidden[i]!;
      const at = nOut[i]! > 0 ? o : h;
      const first = row0[i]! + it.tokens.length - n;
      if (n > 0) be.rmsNorm(x.subarray(first * nEmbd, (first + n) * nEmbd), n, nEmbd, hp.eps, w.outputNorm, cur.subarray(at * nEmbd, (at + n) * nEmbd));
      o += nOut[i]!;
      h += nHidden[i]!;
    });
    const normed = cur.subarray(0, (total + totalHidden) * nEmbd); // (total + totalHidden, nEmbd)
    if (trace) await show(trace, be, 'result_norm', -1, normed, total + totalHidden, nEmbd);
    const states = totalHidden > 0 ? await be.read(normed) : undefined;
    const hiddenOf = (i: number): Float32Array => states!.slice(hidden0[i]! * nEmbd, (hidden0[i]! + nHidden[i]!) * nEmbd);
    if (total === 0) return items.map((it, i) => (it.logits === 'hidden' ? hiddenOf(i) : new Float32Array(0)));
    const logits = be.allocF32(total * hp.nVocab); // (total, nVocab)
    try {
      lmHead(m, normed, nOut, out0, logits);
      if (top !== undefined && be.topK) return await be.topK(logits, total, hp.nVocab, top);
      const host = await be.read(logits);
      trace?.('result_output', -1, host, total, hp.nVocab);
      // out of backend memory
      return items.map((it, i) => (it.logits === 'hidden' ? hiddenOf(i) : host.slice(out0[i]! * hp.nVocab, (out0[i]! + nOut[i]!) * hp.nVocab)));
    } finally {
      be.free(logits);
    }
  } finally {
    for (const b of [x, cur, q, k, v, attn, proj, gate, up]) be.free(b);
    if (curIn) be.free(curIn);
    for (const b of [xqEmbd, xqAttn, xqFfn]) be.free(b);
  }
}

/**
 * logits (total, nVocab) = lm_head(normed (total, nEmbd)). Items with a single output row take ggml's
 * single-row path (input rounded to the weight type), the others the multi-row path: one call per run
 * of consecutive items of the same kind, so a batch of decode steps is one matmul.
 */
function lmHead(m: LoadedWeights, normed: Float32Array, nOut: readonly number[], out0: readonly number[], logits: Float32Array): void {
  const { hp, w, backend: be } = m;
  let i = 0;
  while (i < nOut.length) {
    if (nOut[i] === 0) {
      i++;
      continue;
    }
    const single = nOut[i] === 1;
    let j = i;
    let rows = 0;
    while (j < nOut.length && (nOut[j] === 0 || (nOut[j] === 1) === single)) rows += nOut[j++]!;
    const r0 = out0[i]!;
    be.matmulDense(w.output, normed.subarray(r0 * hp.nEmbd, (r0 + rows) * hp.nEmbd), rows, logits.subarray(r0 * hp.nVocab, (r0 + rows) * hp.nVocab), single);
    i = j;
  }
}

/** Hands a named intermediate to the trace hook, read back from backend memory. */
async function show(trace: TraceFn, be: Backend, name: string, layer: number, buf: Float32Array, rows: number, cols: number): Promise<void> {
  trace(name, layer, await be.read(buf), rows, cols);
}

/** One BitLinear: ternary matmul of pre-quantized activations, then the optional `.scale` of the bitnet arch. */
function bitLinear(
  be: Backend,
  L: LayerWeights,
  which: 'wq' | 'wk' | 'wv' | 'wo' | 'wgate' | 'wup' | 'wdown',
  xq: QuantizedActs,
  out: Float32Array,
  n: number,
): void {
  be.matmulTernary(L[which], xq, out);
  const s = L.scales[which];
  if (s !== undefined) be.scale(out, n, s);
}
