// The trainable model: BitNet b1.58 2B4T's architecture at small scale (RMSNorm, NeoX RoPE, GQA attention
// with a sub-norm before the output projection, squared-ReLU gate with a sub-norm before the down
// projection, tied embedding), every projection a BitLinear: f32 latent weights, absmean ternary weights
// and per-token int8 activations in the forward pass, straight-through gradients in the backward pass.
// `quantize: false` runs the same network in full precision (the comparison twin). Parameters carry the
// GGUF tensor names, so checkpoints and exports need no mapping.
import { BitnetError } from '../errors.js';
import { TENSOR } from '../formats/names.js';
import { ropeTable } from '../kernels/math.js';
import type { SyntheticShape } from '../model/synthetic.js';
import { Rng } from '../util/rng.js';
import { refTrainKernels, type TrainKernels } from './kernels.js';
import * as op from './ops.js';

/**
 * The decoder's shape, as synthetic models have it (nCtx: the training context, positions per sequence, and
 * the exported context length), plus the norm epsilon and whether BitLinear quantizes.
 */
export interface ModelConfig extends Omit<SyntheticShape, 'arch'> {
  eps: number;
  /** BitLinear quantization on (the ternary model) or off (its full-precision twin) */
  quantize: boolean;
}

export interface Param {
  name: string;
  shape: number[];
  data: Float32Array;
  grad: Float32Array;
  /** AdamW weight decay applies (matrices, not norms) */
  decay: boolean;
}

type Proj = 'wq' | 'wk' | 'wv' | 'wo' | 'wgate' | 'wup' | 'wdown';

interface Layer {
  attnNorm: Param;
  attnSubNorm: Param;
  ffnNorm: Param;
  ffnSubNorm: Param;
  proj: Record<Proj, Param>;
}

export function checkConfig(c: ModelConfig): void {
  const bad = (msg: string): never => {
    throw new BitnetError('INVALID_ARGUMENT', msg, { name: 'model config' });
  };
  for (const k of ['nVocab', 'nEmbd', 'nFf', 'nLayer', 'nHead', 'nHeadKv', 'nCtx'] as const) if (!Number.isInteger(c[k]) || c[k] < 1) bad(`${k} must be a positive integer, got ${c[k]}`);
  if (c.nEmbd % c.nHead !== 0) bad(`the embedding size ${c.nEmbd} is not a multiple of ${c.nHead} heads`);
  if (c.nHead % c.nHeadKv !== 0) bad(`${c.nHead} heads are not a multiple of ${c.nHeadKv} KV heads`);
  if ((c.nEmbd / c.nHead) % 2 !== 0) bad(`the head size ${c.nEmbd / c.nHead} must be even (RoPE)`);
  // bitnet.cpp's I2_S packs rows of 128: every projection's input size must be a multiple of it
  if (c.nEmbd % 128 !== 0 || c.nFf % 128 !== 0) bad(`the embedding (${c.nEmbd}) and feed-forward (${c.nFf}) sizes must be multiples of 128 (the I2_S block)`);
}

export class TrainModel {
  readonly params: Param[] = [];
  readonly embed: Param;
  readonly outputNorm: Param;
  readonly layers: Layer[] = [];
  readonly headDim: number;

  constructor(
    readonly config: ModelConfig,
    seed: number,
    /** the linear maps' kernels (WASM SIMD in training runs; the reference in tests) */
    public kernels: TrainKernels = refTrainKernels,
  ) {
    checkConfig(config);
    const c = config;
    this.headDim = c.nEmbd / c.nHead;
    const rng = new Rng(seed);
    const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const add = (name: string, shape: number[], init: 'ones' | number, decay: boolean): Param => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      if (init === 'ones') data.fill(1);
      else for (let i = 0; i < n; i++) data[i] = gauss() * init;
      const p: Param = { name, shape, data, grad: new Float32Array(n), decay };
      this.params.push(p);
      return p;
    };
    const qDim = c.nHead * this.headDim;
    const kvDim = c.nHeadKv * this.headDim;
    this.embed = add(TENSOR.tokEmbd, [c.nVocab, c.nEmbd], 0.02, true);
    // GPT-2 style init; output projections scaled down with depth
    const std = 0.02;
    const outStd = std / Math.sqrt(2 * c.nLayer);
    for (let l = 0; l < c.nLayer; l++) {
      this.layers.push({
        attnNorm: add(TENSOR.attnNorm(l), [c.nEmbd], 'ones', false),
        attnSubNorm: add(TENSOR.attnSubNorm(l), [qDim], 'ones', false),
        ffnNorm: add(TENSOR.ffnNorm(l), [c.nEmbd], 'ones', false),
        ffnSubNorm: add(TENSOR.ffnSubNorm(l), [c.nFf], 'ones', false),
        proj: {
          wq: add(TENSOR.attnQ(l), [qDim, c.nEmbd], std, true),
          wk: add(TENSOR.attnK(l), [kvDim, c.nEmbd], std, true),
          wv: add(TENSOR.attnV(l), [kvDim, c.nEmbd], std, true),
          wo: add(TENSOR.attnOutput(l), [c.nEmbd, qDim], outStd, true),
          wgate: add(TENSOR.ffnGate(l), [c.nFf, c.nEmbd], std, true),
          wup: add(TENSOR.ffnUp(l), [c.nFf, c.nEmbd], std, true),
          wdown: add(TENSOR.ffnDown(l), [c.nEmbd, c.nFf], outStd, true),
        },
      });
    }
    this.outputNorm = add(TENSOR.outputNorm, [c.nEmbd], 'ones', false);
  }

  get parameterCount(): number {
    return this.params.reduce((a, p) => a + p.data.length, 0);
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }

  /**
   * Loss of a batch of B sequences of T+1 tokens (inputs = first T, targets = last T; targets < 0 are not
   * counted). With `backward`, accumulates gradients into the parameters' grad (scaled by 1/count).
   * `logitsOut` receives the logits [B*T, V] when given (for tests and the export check).
   */
  step(tokens: Int32Array, B: number, T: number, opts: { backward: boolean; logitsOut?: Float32Array }): { loss: number; count: number } {
    const c = this.config;
    if (T > c.nCtx) throw new BitnetError('INVALID_ARGUMENT', `sequence length ${T} exceeds the context ${c.nCtx}`, { name: 'T' });
    const R = B * T;
    const D = c.nEmbd;
    const F = c.nFf;
    const hd = this.headDim;
    const qDim = c.nHead * hd;
    const kvDim = c.nHeadKv * hd;
    const V = c.nVocab;
    const Q = c.quantize;
    const table = ropeTable(0, T, hd, c.ropeTheta, undefined); // (T, hd)
    const tableB = new Float32Array(R * hd); // per row: the position within its sequence
    for (let b = 0; b < B; b++) tableB.set(table, b * T * hd);
    const shape: op.AttentionShape = { B, T, nHead: c.nHead, nHeadKv: c.nHeadKv, headDim: hd };
    const inputs = new Int32Array(R);
    const targets = new Int32Array(R);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        inputs[b * T + t] = tokens[b * (T + 1) + t]!;
        targets[b * T + t] = tokens[b * (T + 1) + t + 1]!;
      }
    }
    // quantized weights, computed once per step
    const wq = new Map<Param, Float32Array>();
    const W = (p: Param): Float32Array => {
      if (!Q) return p.data;
      let q = wq.get(p);
      if (!q) {
        q = new Float32Array(p.data.length);
        op.quantizeWeights(p.data, q);
        wq.set(p, q);
      }
      return q;
    };
    const actQ = (x: Float32Array, K: number): Float32Array => {
      if (!Q) return x;
      const out = new Float32Array(R * K);
      op.quantizeActs(x, R, K, out);
      return out;
    };

    // ---- forward, keeping what the backward pass needs ----
    const x = new Float32Array(R * D); // (R, D) residual stream
    for (let r = 0; r < R; r++) {
      const id = inputs[r]!;
      if (!(id >= 0 && id < V)) throw new BitnetError('INVALID_ARGUMENT', `token id ${id} is out of range [0, ${V})`, { name: 'tokens' });
      x.set(this.embed.data.subarray(id * D, (id + 1) * D), r * D);
    }
    interface Saved {
      x0: Float32Array; n1: Float32Array; r1: Float32Array; a1: Float32Array;
      q: Float32Array; k: Float32Array; v: Float32Array; probs: Float32Array; att: Float32Array;
      n2: Float32Array; r2: Float32Array; a2: Float32Array;
      x1: Float32Array; n3: Float32Array; r3: Float32Array; a3: Float32Array;
      g: Float32Array; u: Float32Array; h: Float32Array; n4: Float32Array; r4: Float32Array; a4: Float32Array;
    }
    const saved: Saved[] = [];
    let cur = x;
    for (const L of this.layers) {
      const P = L.proj;
      const x0 = cur;
      const n1 = new Float32Array(R * D); //                 (R, D)
      const r1 = new Float32Array(R);
      op.rmsNorm(x0, L.attnNorm.data, R, D, c.eps, n1, r1);
      const a1 = actQ(n1, D);
      const q = new Float32Array(R * qDim); //               (R, nHead*hd)
      const k = new Float32Array(R * kvDim); //              (R, nHeadKv*hd)
      const v = new Float32Array(R * kvDim);
      this.kernels.linear(a1, W(P.wq), R, D, qDim, q);
      this.kernels.linear(a1, W(P.wk), R, D, kvDim, k);
      this.kernels.linear(a1, W(P.wv), R, D, kvDim, v);
      op.rope(q, R, c.nHead, hd, hd, tableB, false);
      op.rope(k, R, c.nHeadKv, hd, hd, tableB, false);
      const att = new Float32Array(R * qDim);
      const probs = new Float32Array(B * c.nHead * T * T); // (B, nHead, T, T)
      this.kernels.attention(q, k, v, shape, att, probs);
      const n2 = new Float32Array(R * qDim);
      const r2 = new Float32Array(R);
      op.rmsNorm(att, L.attnSubNorm.data, R, qDim, c.eps, n2, r2);
      const a2 = actQ(n2, qDim);
      const o = new Float32Array(R * D);
      this.kernels.linear(a2, W(P.wo), R, qDim, D, o);
      const x1 = new Float32Array(R * D);
      for (let i = 0; i < x1.length; i++) x1[i] = x0[i]! + o[i]!;
      const n3 = new Float32Array(R * D);
      const r3 = new Float32Array(R);
      op.rmsNorm(x1, L.ffnNorm.data, R, D, c.eps, n3, r3);
      const a3 = actQ(n3, D);
      const g = new Float32Array(R * F); //                  (R, nFf)
      const u = new Float32Array(R * F);
      this.kernels.linear(a3, W(P.wgate), R, D, F, g);
      this.kernels.linear(a3, W(P.wup), R, D, F, u);
      const h = new Float32Array(R * F);
      op.gatedAct(g, u, R * F, 'relu2', h);
      const n4 = new Float32Array(R * F);
      const r4 = new Float32Array(R);
      op.rmsNorm(h, L.ffnSubNorm.data, R, F, c.eps, n4, r4);
      const a4 = actQ(n4, F);
      const d = new Float32Array(R * D);
      this.kernels.linear(a4, W(P.wdown), R, F, D, d);
      const x2 = new Float32Array(R * D);
      for (let i = 0; i < x2.length; i++) x2[i] = x1[i]! + d[i]!;
      saved.push({ x0, n1, r1, a1, q, k, v, probs, att, n2, r2, a2, x1, n3, r3, a3, g, u, h, n4, r4, a4 });
      cur = x2;
    }
    const nf = new Float32Array(R * D);
    const rf = new Float32Array(R);
    op.rmsNorm(cur, this.outputNorm.data, R, D, c.eps, nf, rf);
    const logits = opts.logitsOut ?? new Float32Array(R * V); // (R, V): tied lm_head in full precision
    this.kernels.linear(nf, this.embed.data, R, D, V, logits);
    let count = 0;
    for (let r = 0; r < R; r++) if (targets[r]! >= 0) count++;
    const dlogits = opts.backward ? new Float32Array(R * V) : new Float32Array(0);
    const ce = op.crossEntropy(logits, targets, R, V, opts.backward ? dlogits : new Float32Array(R * V), Math.max(1, count));
    const loss = ce.count ? ce.sum / ce.count : 0;
    if (!opts.backward) return { loss, count: ce.count };

    // ---- backward ----
    const dnf = new Float32Array(R * D);
    this.kernels.linearBackwardInput(dlogits, this.embed.data, R, D, V, dnf, false);
    this.kernels.linearBackwardWeight(dlogits, nf, R, D, V, this.embed.grad);
    let dx = new Float32Array(R * D);
    op.rmsNormBackward(dnf, cur, this.outputNorm.data, rf, R, D, dx, this.outputNorm.grad, false);
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const L = this.layers[l]!;
      const P = L.proj;
      const s = saved[l]!;
      // x2 = x1 + down(a4): dx flows to x1 unchanged, and through the FFN
      const da4 = new Float32Array(R * F);
      this.kernels.linearBackwardInput(dx, W(P.wdown), R, F, D, da4, false);
      this.kernels.linearBackwardWeight(dx, s.a4, R, F, D, P.wdown.grad);
      const dh = new Float32Array(R * F);
      op.rmsNormBackward(da4, s.h, L.ffnSubNorm.data, s.r4, R, F, dh, L.ffnSubNorm.grad, false); // STE: da4 = dn4
      const dg = new Float32Array(R * F);
      const du = new Float32Array(R * F);
      op.gatedActBackward(dh, s.g, s.u, R * F, 'relu2', dg, du);
      const da3 = new Float32Array(R * D);
      this.kernels.linearBackwardInput(dg, W(P.wgate), R, D, F, da3, false);
      this.kernels.linearBackwardInput(du, W(P.wup), R, D, F, da3, true);
      this.kernels.linearBackwardWeight(dg, s.a3, R, D, F, P.wgate.grad);
      this.kernels.linearBackwardWeight(du, s.a3, R, D, F, P.wup.grad);
      const dx1 = dx; // accumulates the residual path
      op.rmsNormBackward(da3, s.x1, L.ffnNorm.data, s.r3, R, D, dx1, L.ffnNorm.grad, true);
      // x1 = x0 + wo(a2)
      const da2 = new Float32Array(R * qDim);
      this.kernels.linearBackwardInput(dx1, W(P.wo), R, qDim, D, da2, false);
      this.kernels.linearBackwardWeight(dx1, s.a2, R, qDim, D, P.wo.grad);
      const datt = new Float32Array(R * qDim);
      op.rmsNormBackward(da2, s.att, L.attnSubNorm.data, s.r2, R, qDim, datt, L.attnSubNorm.grad, false);
      const dq = new Float32Array(R * qDim);
      const dk = new Float32Array(R * kvDim);
      const dv = new Float32Array(R * kvDim);
      this.kernels.attentionBackward(datt, s.q, s.k, s.v, s.probs, shape, dq, dk, dv);
      op.rope(dq, R, c.nHead, hd, hd, tableB, true);
      op.rope(dk, R, c.nHeadKv, hd, hd, tableB, true);
      const da1 = new Float32Array(R * D);
      this.kernels.linearBackwardInput(dq, W(P.wq), R, D, qDim, da1, false);
      this.kernels.linearBackwardInput(dk, W(P.wk), R, D, kvDim, da1, true);
      this.kernels.linearBackwardInput(dv, W(P.wv), R, D, kvDim, da1, true);
      this.kernels.linearBackwardWeight(dq, s.a1, R, D, qDim, P.wq.grad);
      this.kernels.linearBackwardWeight(dk, s.a1, R, D, kvDim, P.wk.grad);
      this.kernels.linearBackwardWeight(dv, s.a1, R, D, kvDim, P.wv.grad);
      op.rmsNormBackward(da1, s.x0, L.attnNorm.data, s.r1, R, D, dx1, L.attnNorm.grad, true);
      dx = dx1;
    }
    for (let r = 0; r < R; r++) {
      const id = inputs[r]!;
      const g = this.embed.grad;
      for (let i = 0; i < D; i++) g[id * D + i]! += dx[r * D + i]!;
    }
    return { loss, count: ce.count };
  }
}
