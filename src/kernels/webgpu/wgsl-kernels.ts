// The WGSL compute kernels of the WebGPU backend. Binding 0 of every kernel is its parameter block (a
// uniform struct P); bindings 1.. are storage buffers, addressed with element offsets from P because
// buffer binding offsets would need 256-byte alignment. Activations are int8 packed four per u32 in rows of
// roundup(K, 128) bytes (zero padded); ternary weights use bitnet.cpp's I2_S layout with rows padded to 128.
import { BACKEND_TOP_K_MAX } from '../backend.js';
import { WG } from './wgsl-common.js';

/** quantize_row_i8_s per row t = workgroup y: per-token absmax, q = clamp(round(x * s)), s = 127 / max. */
export const QUANTIZE = /* wgsl */ `
struct P { xOff: u32, K: u32, Kw: u32, qOff: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Q: array<u32>;
@group(0) @binding(3) var<storage, read_write> S: array<f32>;
@group(0) @binding(4) var<storage, read_write> SUM: array<i32>;
var<workgroup> rf: array<f32, ${WG}>;
var<workgroup> ri: array<i32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3u) {
  let t = wid.y;
  let row = p.xOff + t * p.K;
  var m = 0.00001;
  for (var i = l; i < p.K; i = i + ${WG}u) { m = max(m, abs(X[row + i])); }
  rf[l] = m;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (l < s) { rf[l] = max(rf[l], rf[l + s]); }
    workgroupBarrier();
  }
  let sc = div_rn(127.0, rf[0]);
  var acc = 0i;
  for (var j = l; j < p.Kw; j = j + ${WG}u) {
    var word = 0u;
    for (var b = 0u; b < 4u; b = b + 1u) {
      let i = 4u * j + b;
      if (i < p.K) {
        let v = i32(clamp(round(X[row + i] * sc), -128.0, 127.0));
        acc = acc + v;
        word = word | ((bitcast<u32>(v) & 0xffu) << (8u * b));
      }
    }
    Q[p.qOff + t * p.Kw + j] = word;
  }
  ri[l] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (l < s) { ri[l] = ri[l] + ri[l + s]; }
    workgroupBarrier();
  }
  if (l == 0u) { S[t] = sc; SUM[t] = ri[0]; }
}
`;

/** Rows per workgroup, lanes per row and tokens per workgroup (one vec4 lane each) of the integer matmuls. */
const MR = 4;
const ML = 16;
export const MATMUL_ROWS = MR;
export const MATMUL_TOKENS = 4;

/**
 * The body both integer matmuls share: lanes of a row split its u32 weight words, each word dotted with
 * up to four tokens' activation words (a vec4 of accumulators, token indices clamped to T - 1), then a
 * tree reduction over the lanes in workgroup memory. `dots` computes `acc` for weight word `word` at `i`.
 */
function intMatmul(params: string, bindings: string, dots: string, epilogue: string): string {
  return /* wgsl */ `
struct P { ${params} }
@group(0) @binding(0) var<uniform> p: P;
${bindings}
var<workgroup> red: array<vec4<i32>, ${MR * ML}>;
@compute @workgroup_size(${ML}, ${MR})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let r = wid.x * ${MR}u + lid.y;
  let t0 = wid.y * 4u;
  let q0 = min(t0, p.T - 1u) * p.Kw;
  let q1 = min(t0 + 1u, p.T - 1u) * p.Kw;
  let q2 = min(t0 + 2u, p.T - 1u) * p.Kw;
  let q3 = min(t0 + 3u, p.T - 1u) * p.Kw;
  var acc = vec4<i32>(0);
  if (r < p.rows) {
    for (var i = lid.x; i < p.Wn; i = i + ${ML}u) {
      ${dots}
    }
  }
  let o = lid.y * ${ML}u;
  red[o + lid.x] = acc;
  workgroupBarrier();
  // one barrier, then one lane per token sums the row's partials (integers: any order gives the same sum)
  if (lid.x < 4u && r < p.rows && t0 + lid.x < p.T) {
    let t = t0 + lid.x;
    var d = 0i;
    for (var j = 0u; j < ${ML}u; j = j + 1u) { d = d + red[o + j][lid.x]; }
    ${epilogue}
  }
}
`;
}

/**
 * Ternary matmul, one alpha: y[t, r] = ((float)(sum_c code * q - act_sum) / s) * alpha, where byte p of each
 * 32-byte block holds columns p, 32 + p, 64 + p, 96 + p in bits 7-6, 5-4, 3-2, 1-0.
 */
export const TERNARY = intMatmul(
  'rows: u32, Wn: u32, Kw: u32, T: u32, yOff: u32, alpha: f32',
  `@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> Q: array<u32>;
@group(0) @binding(3) var<storage, read> S: array<f32>;
@group(0) @binding(4) var<storage, read> SUM: array<i32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;`,
  `let word = W[r * p.Wn + i];
      let base = (i >> 3u) * 32u + (i & 7u);
      for (var g = 0u; g < 4u; g = g + 1u) {
        let c = (word >> (6u - 2u * g)) & 0x03030303u;
        let a = base + 8u * g;
        acc = acc + vec4<i32>(dot4(c, Q[q0 + a]), dot4(c, Q[q1 + a]), dot4(c, Q[q2 + a]), dot4(c, Q[q3 + a]));
      }`,
  'Y[p.yOff + t * p.rows + r] = div_rn(f32(d - SUM[t]), S[t]) * p.alpha;',
);

/** Ternary matmul with per-block scales (TQ blocks whose d differ): sum over blocks of d_b * dot_b, in order, then / s. */
export const TERNARY_BLOCKS = /* wgsl */ `
struct P { rows: u32, Ww: u32, Kw: u32, T: u32, yOff: u32, cols: u32, block: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> Q: array<u32>;
@group(0) @binding(3) var<storage, read> S: array<f32>;
@group(0) @binding(4) var<storage, read> D: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;
fn code(r: u32, c: u32) -> i32 {
  let byte = (c >> 7u) * 32u + (c & 31u);
  let w = W[r * p.Ww + (byte >> 2u)] >> (8u * (byte & 3u));
  return i32((w >> (6u - 2u * ((c >> 5u) & 3u))) & 3u) - 1;
}
fn act(t: u32, c: u32) -> i32 {
  return (bitcast<i32>(Q[t * p.Kw + (c >> 2u)]) << (24u - 8u * (c & 3u))) >> 24u;
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  let t = gid.y;
  if (r >= p.rows || t >= p.T) { return; }
  let nb = p.cols / p.block;
  var acc = 0.0;
  for (var b = 0u; b < nb; b = b + 1u) {
    var d = 0i;
    for (var c = b * p.block; c < (b + 1u) * p.block; c = c + 1u) { d = d + code(r, c) * act(t, c); }
    acc = acc + f32(d) * D[r * nb + b];
  }
  Y[p.yOff + t * p.rows + r] = div_rn(acc, S[t]);
}
`;

/** The int8 lm_head (requant.ts rows, four values per u32): y[t, r] = ((float)(q . w_r) / s) * scale_r. */
export const INT8_ROWS = intMatmul(
  'rows: u32, Wn: u32, Kw: u32, T: u32, yOff: u32, rowBase: u32, nVocab: u32',
  `@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> Q: array<u32>;
@group(0) @binding(3) var<storage, read> S: array<f32>;
@group(0) @binding(4) var<storage, read> RS: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;`,
  `let word = W[r * p.Wn + i];
      acc = acc + vec4<i32>(dot4(word, Q[q0 + i]), dot4(word, Q[q1 + i]), dot4(word, Q[q2 + i]), dot4(word, Q[q3 + i]));`,
  'Y[p.yOff + t * p.nVocab + p.rowBase + r] = div_rn(f32(d), S[t]) * RS[p.rowBase + r];',
);

/**
 * Exact dense rows (F32, F16, BF16): one thread per (row, token), float32 products summed in column order
 * as the reference does; `round` 1/2 rounds the input to f16/bf16 (ggml's single-row path).
 */
export function denseFloat(kind: 'F32' | 'F16' | 'BF16'): string {
  const load =
    kind === 'F32' ? 'W[e]' : kind === 'F16' ? 'f16_to_f32((W[e >> 1u] >> (16u * (e & 1u))) & 0xffffu)' : 'bitcast<f32>(((W[e >> 1u] >> (16u * (e & 1u))) & 0xffffu) << 16u)';
  return /* wgsl */ `
struct P { rows: u32, cols: u32, T: u32, xOff: u32, yOff: u32, rowBase: u32, nVocab: u32, round: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> W: array<${kind === 'F32' ? 'f32' : 'u32'}>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  let t = gid.y;
  if (r >= p.rows || t >= p.T) { return; }
  var acc = 0.0;
  for (var i = 0u; i < p.cols; i = i + 1u) {
    var x = X[p.xOff + t * p.cols + i];
    if (p.round == 1u) { x = round_f16(x); } else if (p.round == 2u) { x = round_bf16(x); }
    let e = r * p.cols + i;
    acc = acc + ${load} * x;
  }
  Y[p.yOff + t * p.nVocab + p.rowBase + r] = acc;
}
`;
}

/**
 * ggml rms_norm then * weight, one workgroup per row: the squares summed exactly (fixed point, in units of
 * 2^-86 of the largest square's exponent), mean = round(sum / n), 1 / sqrt(mean + eps) correctly rounded;
 * `inplace` reads x from the output binding.
 */
export function rmsNorm(inplace: boolean): string {
  const x = inplace ? 'O' : 'X';
  return /* wgsl */ `
struct P { xOff: u32, oOff: u32, n: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> Wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${inplace ? '' : '@group(0) @binding(3) var<storage, read> X: array<f32>;'}
var<workgroup> rf: array<f32, ${WG}>;
var<workgroup> acc: array<vec4<u32>, ${WG}>;
var<workgroup> rowScale: f32;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3u) {
  let xr = p.xOff + wid.y * p.n;
  let orow = p.oOff + wid.y * p.n;
  var m = 0.0;
  for (var i = l; i < p.n; i = i + ${WG}u) { m = max(m, abs(${x}[xr + i])); }
  rf[l] = m;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k = k >> 1u) {
    if (l < k) { rf[l] = max(rf[l], rf[l + k]); }
    workgroupBarrier();
  }
  let top = rf[0] * rf[0];
  let unit = i32((bitcast<u32>(top) >> 23u) & 0xffu) - 236;
  var s = vec4<u32>(0u);
  for (var i = l; i < p.n; i = i + ${WG}u) {
    let v = ${x}[xr + i];
    s = add128(s, to_fixed(v * v, unit));
  }
  acc[l] = s;
  workgroupBarrier();
  if (l == 0u) {
    var t = vec4<u32>(0u);
    for (var j = 0u; j < ${WG}u; j = j + 1u) { t = add128(t, acc[j]); }
    let mean = fixed_div_rn(t, vec4<u32>(p.n, 0u, 0u, 0u), unit);
    rowScale = div_rn(1.0, sqrt_rn(mean + p.eps));
  }
  workgroupBarrier();
  let sc = rowScale;
  for (var i = l; i < p.n; i = i + ${WG}u) { O[orow + i] = (${x}[xr + i] * sc) * Wt[i]; }
}
`;
}

/** In-place RoPE: one thread per (token, head, pair); table rows [cos0, sin0, cos1, sin1, ...]. */
export const ROPE = /* wgsl */ `
struct P { xOff: u32, T: u32, nHead: u32, headDim: u32, half: u32, neox: u32, nRot: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> TAB: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let h = gid.y;
  let t = gid.z;
  if (i >= p.half) { return; }
  let c = TAB[t * p.nRot + 2u * i];
  let s = TAB[t * p.nRot + 2u * i + 1u];
  let base = p.xOff + (t * p.nHead + h) * p.headDim;
  var i0 = base + 2u * i;
  var i1 = i0 + 1u;
  if (p.neox == 1u) { i0 = base + i; i1 = base + i + p.half; }
  let x0 = X[i0];
  let x1 = X[i1];
  X[i0] = x0 * c - x1 * s;
  X[i1] = x0 * s + x1 * c;
}
`;

/** KV store into an f16 cache (two halves per u32; one thread per destination word, keeping foreign halves). */
export const KV_STORE_F16 = /* wgsl */ `
struct P { kOff: u32, vOff: u32, dst: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> KC: array<u32>;
@group(0) @binding(2) var<storage, read_write> VC: array<u32>;
@group(0) @binding(3) var<storage, read> KI: array<f32>;
@group(0) @binding(4) var<storage, read> VI: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let w = (p.dst >> 1u) + gid.x + gid.y * 65535u * 64u;
  if (2u * w >= p.dst + p.n) { return; }
  var kw = KC[w];
  var vw = VC[w];
  for (var b = 0u; b < 2u; b = b + 1u) {
    let e = 2u * w + b;
    if (e >= p.dst && e < p.dst + p.n) {
      let m = ~(0xffffu << (16u * b));
      kw = (kw & m) | (f32_to_f16(KI[p.kOff + e - p.dst]) << (16u * b));
      vw = (vw & m) | (f32_to_f16(VI[p.vOff + e - p.dst]) << (16u * b));
    }
  }
  KC[w] = kw;
  VC[w] = vw;
}
`;

export const KV_STORE_F32 = /* wgsl */ `
struct P { kOff: u32, vOff: u32, dst: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> KC: array<f32>;
@group(0) @binding(2) var<storage, read_write> VC: array<f32>;
@group(0) @binding(3) var<storage, read> KI: array<f32>;
@group(0) @binding(4) var<storage, read> VI: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= p.n) { return; }
  KC[p.dst + i] = KI[p.kOff + i];
  VC[p.dst + i] = VI[p.vOff + i];
}
`;

/** Elementwise ops, grid-stride: 0 relu2 gate, 1 silu gate, 2 add, 3 scale. */
export const ELEMENTWISE = /* wgsl */ `
struct P { aOff: u32, bOff: u32, n: u32, op: u32, s: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  for (var i = gid.x; i < p.n; i = i + nw.x * 64u) {
    let a = A[p.aOff + i];
    var r = a * p.s;
    if (p.op < 3u) {
      let b = B[p.bOff + i];
      if (p.op == 0u) { let g = max(a, 0.0); r = (g * g) * b; }
      else if (p.op == 1u) { r = div_rn(a, 1.0 + expf(-a)) * b; }
      else { r = a + b; }
    }
    A[p.aOff + i] = r;
  }
}
`;

/** Most ids topK returns per row. */
export const TOPK_MAX = BACKEND_TOP_K_MAX;

/**
 * Top-k per row (value descending, ties to the lower id; NaN never chosen): each thread keeps a sorted list
 * of its strided elements' best k, then one thread merges the lists. OUT row r: k ids, then k values' bits.
 */
export const TOPK = /* wgsl */ `
struct P { off: u32, n: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<u32>;
var<workgroup> cv: array<f32, ${WG * TOPK_MAX}>;
var<workgroup> ci: array<u32, ${WG * TOPK_MAX}>;
fn better(a: f32, ia: u32, b: f32, ib: u32) -> bool { return a > b || (a == b && ia < ib); }
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3u) {
  let row = p.off + wid.y * p.n;
  var lv: array<f32, ${TOPK_MAX}>;
  var li: array<u32, ${TOPK_MAX}>;
  for (var j = 0u; j < ${TOPK_MAX}u; j = j + 1u) { lv[j] = -3.4028234663852886e38; li[j] = 0xffffffffu; }
  for (var i = l; i < p.n; i = i + ${WG}u) {
    let v = X[row + i];
    if (better(v, i, lv[p.k - 1u], li[p.k - 1u])) {
      var j = p.k - 1u;
      while (j > 0u && better(v, i, lv[j - 1u], li[j - 1u])) { lv[j] = lv[j - 1u]; li[j] = li[j - 1u]; j = j - 1u; }
      lv[j] = v;
      li[j] = i;
    }
  }
  for (var j = 0u; j < ${TOPK_MAX}u; j = j + 1u) { cv[l * ${TOPK_MAX}u + j] = lv[j]; ci[l * ${TOPK_MAX}u + j] = li[j]; }
  workgroupBarrier();
  if (l == 0u) {
    var head: array<u32, ${WG}>;
    for (var t = 0u; t < ${WG}u; t = t + 1u) { head[t] = 0u; }
    for (var o = 0u; o < p.k; o = o + 1u) {
      var bt = 0u;
      var bv = -3.4028234663852886e38;
      var bi = 0xffffffffu;
      for (var t = 0u; t < ${WG}u; t = t + 1u) {
        if (head[t] < p.k) {
          let c = t * ${TOPK_MAX}u + head[t];
          if (better(cv[c], ci[c], bv, bi)) { bv = cv[c]; bi = ci[c]; bt = t; }
        }
      }
      head[bt] = head[bt] + 1u;
      OUT[wid.y * 2u * p.k + o] = bi;
      OUT[wid.y * 2u * p.k + p.k + o] = bitcast<u32>(bv);
    }
  }
}
`;
