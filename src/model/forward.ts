// The forward pass of the ternary decoder (BitNet b1.58 2B4T, the 2024 `bitnet` arch, ternary llama),
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
  /** which positions need logits: the last (generation), all (evaluate, perplexity), or none (prefill only) */
  logits: 'last' | 'all' | 'none';
  trace?: TraceFn;
}

/**
 * Runs tokens at positions kv.length .. kv.length + T - 1, appends their K/V to the cache and returns
 * logits [nOut, nVocab] (nOut = T, 1 or 0 by `opts.logits`).
 */
export function forward(m: LoadedWeights, kv: KvCache, tokens: ArrayLike<number>, opts: ForwardOptions): Float32Array {
  const { hp, w, backend: be } = m;
  const T = tokens.length;
  const pos0 = kv.length;
  const nEmbd = hp.nEmbd;
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nHeadKv * hp.headDim;
  const trace = opts.trace;
  kv.reserve(pos0 + T);

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
  const table = ropeTable(pos0, T, hp.nRot, hp.ropeFreqBase, w.ropeFreqs); // (T, nRot) cos/sin
  const ropeQ = { T, nHead: hp.nHead, headDim: hp.headDim, nRot: hp.nRot, style: hp.ropeStyle, table };
  const ropeK = { ...ropeQ, nHead: hp.nHeadKv };
  const attnParams = { T, nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDim: hp.headDim, pos0, scale: Math.fround(1 / Math.fround(Math.sqrt(hp.headDim))), f16: kv.type === 'f16' };

  try {
    for (let t = 0; t < T; t++) {
      const id = tokens[t]!;
      if (!(id >= 0 && id < w.embed.rows)) throw new BitnetError('INVALID_ARGUMENT', `token id ${id} is out of range [0, ${w.embed.rows})`, { name: 'tokens' });
      w.embed.read(id, x, t * nEmbd);
    }
    trace?.('inp_embd', -1, x, T, nEmbd);

    for (let il = 0; il < hp.nLayer; il++) {
      const L = w.layers[il]!;

      // ---- attention ----
      be.rmsNorm(x, T, nEmbd, hp.eps, L.attnNorm, cur);
      trace?.('attn_norm', il, cur, T, nEmbd);
      be.quantizeActs(cur, xqEmbd); // one quantization shared by q, k, v
      bitLinear(be, L, 'wq', xqEmbd, q, T * qDim);
      bitLinear(be, L, 'wk', xqEmbd, k, T * kvDim);
      bitLinear(be, L, 'wv', xqEmbd, v, T * kvDim);
      be.rope(q, ropeQ);
      be.rope(k, ropeK);
      trace?.('Qcur', il, q, T, qDim);
      trace?.('Kcur', il, k, T, kvDim);
      trace?.('Vcur', il, v, T, kvDim);
      const layerKv = kv.layers[il]!;
      be.kvStore(layerKv, k, v, T, pos0);
      be.attention(q, layerKv, attn, attnParams);
      trace?.('kqv_out', il, attn, T, qDim);
      if (L.attnSubNorm) {
        be.rmsNorm(attn, T, qDim, hp.eps, L.attnSubNorm, attn);
        trace?.('attn_sub_norm', il, attn, T, qDim);
      }
      be.quantizeActs(attn, xqAttn);
      bitLinear(be, L, 'wo', xqAttn, proj, T * nEmbd);
      trace?.('attn_out', il, proj, T, nEmbd);
      be.add(x, proj, T * nEmbd);
      trace?.('ffn_inp', il, x, T, nEmbd);

      // ---- feed-forward: down(subnorm(act(gate(f)) * up(f))) ----
      be.rmsNorm(x, T, nEmbd, hp.eps, L.ffnNorm, cur);
      trace?.('ffn_norm', il, cur, T, nEmbd);
      be.quantizeActs(cur, xqEmbd); // shared by gate and up
      bitLinear(be, L, 'wup', xqEmbd, up, T * hp.nFf);
      bitLinear(be, L, 'wgate', xqEmbd, gate, T * hp.nFf);
      be.gatedAct(gate, up, T * hp.nFf, hp.act);
      trace?.('ffn_sub_out', il, gate, T, hp.nFf);
      if (L.ffnSubNorm) {
        be.rmsNorm(gate, T, hp.nFf, hp.eps, L.ffnSubNorm, gate);
        trace?.('ffn_sub_norm', il, gate, T, hp.nFf);
      }
      be.quantizeActs(gate, xqFfn);
      bitLinear(be, L, 'wdown', xqFfn, proj, T * nEmbd);
      trace?.('ffn_out', il, proj, T, nEmbd);
      be.add(x, proj, T * nEmbd);
      trace?.('l_out', il, x, T, nEmbd);
    }
    kv.length = pos0 + T;

    // ---- output: final norm and lm_head on the rows that need logits ----
    const nOut = opts.logits === 'all' ? T : opts.logits === 'last' ? 1 : 0;
    if (nOut === 0) return new Float32Array(0);
    const rows = x.subarray((T - nOut) * nEmbd, T * nEmbd);
    be.rmsNorm(rows, nOut, nEmbd, hp.eps, w.outputNorm, cur);
    const normed = cur.subarray(0, nOut * nEmbd); // (nOut, nEmbd)
    trace?.('result_norm', -1, normed, nOut, nEmbd);
    const logits = be.allocF32(nOut * hp.nVocab); // (nOut, nVocab)
    try {
      be.matmulDense(w.output, normed, nOut, logits, nOut === 1);
      trace?.('result_output', -1, logits, nOut, hp.nVocab);
      return logits.slice(); // out of backend memory
    } finally {
      be.free(logits);
    }
  } finally {
    for (const b of [x, cur, q, k, v, attn, proj, gate, up]) be.free(b);
    for (const b of [xqEmbd, xqAttn, xqFfn]) be.free(b);
  }
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
