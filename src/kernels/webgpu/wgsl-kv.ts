// The WGSL kernels of the WebGPU KV cache for any K/V type pair (f32, f16, q8_0, q4_0): the one-tensor KV
// stores (quantized rows: ggml's quantize_row_q8_0_ref / q4_0_ref per block of 32) and causal GQA attention,
// which follows the reference backend's order of operations: integer block dots against a q8_0 query for
// quantized K, float32 dots in order for f32/f16 K, exact softmax sums, P·V over keys in order.
import type { KvType } from '../backend.js';
import { WG } from './wgsl-common.js';

export const isQuantKv = (t: KvType): boolean => t === 'q8_0' || t === 'q4_0';

/**
 * Quantized cache rows, one per position: the blocks' codes (q8_0: 32 int8 per block, 8 words; q4_0: ggml's
 * 16 bytes, element j in the low nibble of byte j and j + 16 in the high one, stored q + 8, 4 words), then
 * the blocks' f16 scales two per word (the row's last word half empty when its block count is odd).
 */
export function kvRowWords(type: KvType, width: number): number {
  const nb = width / 32;
  return (type === 'q8_0' ? 8 * nb : 4 * nb) + Math.ceil(nb / 2);
}

/** Where a quantized row's scales start (in words), as a WGSL expression of the row width `w`. */
const qsWords = (type: KvType, w: string): string => (type === 'q8_0' ? `(${w} / 4u)` : `(${w} / 8u)`);

/** roundf (ties away from zero) and the four int8 of q8_0 quantization packed in a word. */
const Q8 = /* wgsl */ `
fn round_away(x: f32) -> f32 {
  let t = trunc(x);
  return select(t, t + sign(x), abs(x - t) >= 0.5);
}
fn q8_word(a: f32, b: f32, c: f32, d: f32, id: f32) -> u32 {
  return (bitcast<u32>(i32(round_away(a * id))) & 0xffu) | ((bitcast<u32>(i32(round_away(b * id))) & 0xffu) << 8u)
       | ((bitcast<u32>(i32(round_away(c * id))) & 0xffu) << 16u) | ((bitcast<u32>(i32(round_away(d * id))) & 0xffu) << 24u);
}
`;

/**
 * Stores T rows [T, width] of K or V (one tensor) at positions row0.. of a cache of `type`. f32/f16: one
 * thread per element (f16: per destination word, keeping foreign halves); q8_0/q4_0: one thread per two
 * blocks of a row, so a scale word is never shared between threads.
 */
export function kvStore(type: KvType): string {
  if (type === 'f32') {
    return /* wgsl */ `
struct P { xOff: u32, dst: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> C: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= p.n) { return; }
  C[p.dst + i] = X[p.xOff + i];
}
`;
  }
  if (type === 'f16') {
    return /* wgsl */ `
struct P { xOff: u32, dst: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> C: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let w = (p.dst >> 1u) + gid.x + gid.y * 65535u * 64u;
  if (2u * w >= p.dst + p.n) { return; }
  var cw = C[w];
  for (var b = 0u; b < 2u; b = b + 1u) {
    let e = 2u * w + b;
    if (e >= p.dst && e < p.dst + p.n) { cw = (cw & ~(0xffffu << (16u * b))) | (f32_to_f16(X[p.xOff + e - p.dst]) << (16u * b)); }
  }
  C[w] = cw;
}
`;
  }
  // quantize_row_q8_0_ref: d = amax / 127, q = roundf(x / d); quantize_row_q4_0_ref: d = max / -8 (max: the
  // element of largest |x|, the first one on ties), q = min(15, (int8)(x / d + 8.5)); x / d as x * (1 / d)
  const block =
    type === 'q8_0'
      ? /* wgsl */ `
fn quant_block(x0: u32, q0: u32) -> f32 {
  var amax = 0.0;
  for (var j = 0u; j < 32u; j = j + 1u) { amax = max(amax, abs(X[x0 + j])); }
  let d = div_rn(amax, 127.0);
  let id = select(0.0, div_rn(1.0, d), d != 0.0);
  for (var w = 0u; w < 8u; w = w + 1u) {
    let x = x0 + 4u * w;
    C[q0 + w] = q8_word(X[x], X[x + 1u], X[x + 2u], X[x + 3u], id);
  }
  return d;
}
`
      : /* wgsl */ `
fn q4(x: f32, id: f32) -> u32 { return u32(min(15, i32(x * id + 8.5))); }
fn quant_block(x0: u32, q0: u32) -> f32 {
  var amax = 0.0;
  var mx = 0.0;
  for (var j = 0u; j < 32u; j = j + 1u) {
    let v = X[x0 + j];
    if (amax < abs(v)) { amax = abs(v); mx = v; }
  }
  let d = mx * -0.125; // max / -8, exact
  let id = select(0.0, div_rn(1.0, d), d != 0.0);
  for (var w = 0u; w < 4u; w = w + 1u) {
    var word = 0u;
    for (var b = 0u; b < 4u; b = b + 1u) {
      let j = 4u * w + b;
      word = word | ((q4(X[x0 + j], id) | (q4(X[x0 + j + 16u], id) << 4u)) << (8u * b));
    }
    C[q0 + w] = word;
  }
  return d;
}
`;
  const wpb = type === 'q8_0' ? 8 : 4;
  return /* wgsl */ `
struct P { xOff: u32, row0: u32, T: u32, width: u32, rowWords: u32, pairs: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> C: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
${Q8}
${block}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= p.T * p.pairs) { return; }
  let t = i / p.pairs;
  let pr = i % p.pairs;
  let nb = p.width / 32u;
  let base = (p.row0 + t) * p.rowWords;
  var dw = 0u;
  for (var k = 0u; k < 2u; k = k + 1u) {
    let b = 2u * pr + k;
    if (b < nb) {
      let d = quant_block(p.xOff + t * p.width + 32u * b, base + ${wpb}u * b);
      dw = dw | (f32_to_f16(d) << (16u * k));
    }
  }
  C[base + ${qsWords(type, 'p.width')} + pr] = dw;
}
`;
}

/** A quantized row's f16 scale of block `b` (in words from the row start `base`) as f32. */
const scaleAt = (buf: string, type: KvType, base: string, b: string): string =>
  `f16_to_f32((${buf}[${base} + ${qsWords(type, 'p.width')} + (${b} >> 1u)] >> (16u * (${b} & 1u))) & 0xffffu)`;

/**
 * Causal GQA attention over the cache, one workgroup per (head, token). Scores: f32/f16 K: Q·K in float32
 * over d in order (Q rounded to f16 for f16 K); q8_0/q4_0 K: the head's Q row quantized to q8_0 blocks
 * (one thread per block), then per key sumf += (float)sumi * (dk * dq) block by block, sumi the exact
 * integer dot. Softmax: max, expf, 1 / sum (P rounded to f16 when asked: f16 V, one query). P·V over keys
 * in order, one thread per output dimension; quantized V dequantized as q * d (exact).
 */
export function attention(kType: KvType, vType: KvType): string {
  const kq = isQuantKv(kType);
  const ldFloat = (t: KvType, b: string, e: string): string => (t === 'f16' ? `f16_to_f32((${b}[(${e}) >> 1u] >> (16u * ((${e}) & 1u))) & 0xffffu)` : `${b}[${e}]`);
  const elem = (t: KvType): string => (t === 'f32' ? 'f32' : 'u32');
  const kDot = !kq
    ? /* wgsl */ `
fn k_dot(j: u32, g: u32) -> f32 {
  let ko = j * p.width + g * p.headDim;
  var dot = 0.0;
  for (var d = 0u; d < p.headDim; d = d + 1u) { dot = dot + qh[d] * ${ldFloat(kType, 'KC', 'ko + d')}; }
  return dot;
}
`
    : /* wgsl */ `
var<workgroup> qq: array<u32, 64>;
var<workgroup> qd: array<f32, 8>;
/** a word of four q4_0 codes (0..15) as four int8 code - 8 */
fn nib8(x: u32) -> u32 {
  let t = x ^ 0x08080808u;
  return t | ((t & 0x08080808u) * 0x1eu);
}
fn k_dot(j: u32, g: u32) -> f32 {
  let base = j * p.kRow;
  let nbh = p.headDim / 32u;
  var sumf = 0.0;
  for (var b = 0u; b < nbh; b = b + 1u) {
    let kb = g * nbh + b;
    var sumi = 0i;
    ${
      kType === 'q8_0'
        ? `for (var w = 0u; w < 8u; w = w + 1u) { sumi = sumi + dot4(KC[base + 8u * kb + w], qq[8u * b + w]); }`
        : `for (var w = 0u; w < 4u; w = w + 1u) {
      let x = KC[base + 4u * kb + w];
      sumi = sumi + dot4(nib8(x & 0x0f0f0f0fu), qq[8u * b + w]) + dot4(nib8((x >> 4u) & 0x0f0f0f0fu), qq[8u * b + 4u + w]);
    }`
    }
    sumf = sumf + f32(sumi) * (${scaleAt('KC', kType, 'base', 'kb')} * qd[b]);
  }
  return sumf;
}
`;
  const vAt =
    vType === 'q8_0'
      ? /* wgsl */ `
fn v_at(j: u32, e: u32) -> f32 {
  let base = j * p.vRow;
  let b = e >> 5u;
  let i = e & 31u;
  let q = (bitcast<i32>(VC[base + 8u * b + (i >> 2u)]) << (24u - 8u * (i & 3u))) >> 24u;
  return f32(q) * ${scaleAt('VC', vType, 'base', 'b')};
}
`
      : vType === 'q4_0'
        ? /* wgsl */ `
fn v_at(j: u32, e: u32) -> f32 {
  let base = j * p.vRow;
  let b = e >> 5u;
  let i = e & 31u;
  let bw = VC[base + 4u * b + ((i & 15u) >> 2u)] >> (8u * (i & 3u));
  let q = i32((bw >> (4u * (i >> 4u))) & 0xfu) - 8;
  return f32(q) * ${scaleAt('VC', vType, 'base', 'b')};
}
`
        : /* wgsl */ `
fn v_at(j: u32, e: u32) -> f32 { return ${ldFloat(vType, 'VC', 'j * p.width + e')}; }
`;
  return /* wgsl */ `
struct P { qOff: u32, oOff: u32, nHead: u32, group: u32, headDim: u32, pos0: u32, width: u32, stride: u32, roundP: u32, scale: f32, kRow: u32, vRow: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> Qv: array<f32>;
@group(0) @binding(2) var<storage, read> KC: array<${elem(kType)}>;
@group(0) @binding(3) var<storage, read> VC: array<${elem(vType)}>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> SC: array<f32>;
var<workgroup> qh: array<f32, 256>;
var<workgroup> rf: array<f32, ${WG}>;
var<workgroup> acc: array<vec4<u32>, ${WG}>;
var<workgroup> invSum: f32;
${kq ? Q8 : ''}
${kDot}
${vAt}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x;
  let t = wid.y;
  let nv = p.pos0 + t + 1u;
  let g = h / p.group;
  let qo = (t * p.nHead + h) * p.headDim;
  let sb = (t * p.nHead + h) * p.stride;
  for (var d = l; d < p.headDim; d = d + ${WG}u) {
    let v = Qv[p.qOff + qo + d];
    qh[d] = ${kType === 'f16' ? 'round_f16(v)' : 'v'};
  }
  workgroupBarrier();${
    kq
      ? `
  // the query row as q8_0 blocks (quantize_row_q8_0_ref), one thread per block
  if (l < p.headDim / 32u) {
    var amax = 0.0;
    for (var j = 0u; j < 32u; j = j + 1u) { amax = max(amax, abs(qh[32u * l + j])); }
    let d = div_rn(amax, 127.0);
    let id = select(0.0, div_rn(1.0, d), d != 0.0);
    qd[l] = round_f16(d);
    for (var w = 0u; w < 8u; w = w + 1u) {
      let x = 32u * l + 4u * w;
      qq[8u * l + w] = q8_word(qh[x], qh[x + 1u], qh[x + 2u], qh[x + 3u], id);
    }
  }
  workgroupBarrier();`
      : ''
  }
  var m = -3.4028234663852886e38;
  for (var j = l; j < nv; j = j + ${WG}u) {
    let s = k_dot(j, g) * p.scale;
    SC[sb + j] = s;
    m = max(m, s);
  }
  rf[l] = m;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k = k >> 1u) {
    if (l < k) { rf[l] = max(rf[l], rf[l + k]); }
    workgroupBarrier();
  }
  let mx = rf[0];
  workgroupBarrier();
  // the exponentials (at most 1) summed exactly in units of 2^-100, then 1 / sum correctly rounded
  var sum = vec4<u32>(0u);
  for (var j = l; j < nv; j = j + ${WG}u) {
    let e = expf(SC[sb + j] - mx);
    SC[sb + j] = e;
    sum = add128(sum, to_fixed(e, -100));
  }
  acc[l] = sum;
  workgroupBarrier();
  if (l == 0u) {
    var t = vec4<u32>(0u);
    for (var j = 0u; j < ${WG}u; j = j + 1u) { t = add128(t, acc[j]); }
    invSum = fixed_div_rn(vec4<u32>(0u, 0u, 0u, 16u), t, 0);
  }
  workgroupBarrier();
  let inv = invSum;
  for (var j = l; j < nv; j = j + ${WG}u) {
    let pj = SC[sb + j] * inv;
    SC[sb + j] = select(pj, round_f16(pj), p.roundP == 1u);
  }
  storageBarrier();
  workgroupBarrier();
  for (var d = l; d < p.headDim; d = d + ${WG}u) {
    var acc = 0.0;
    let e = g * p.headDim + d;
    for (var j = 0u; j < nv; j = j + 1u) { acc = acc + SC[sb + j] * v_at(j, e); }
    O[p.oOff + qo + d] = acc;
  }
}
`;
}

/**
 * Rows [row0, row0 + T) of one cache tensor as f32 values into X [T, width] at xOff (the context shift's
 * quantized path): f16 widened, q8_0 / q4_0 as q * d (exact). One thread per element.
 */
export function kvDequant(type: KvType): string {
  const at =
    type === 'f32'
      ? 'C[r * p.width + e]'
      : type === 'f16'
        ? 'f16_to_f32((C[(r * p.width + e) >> 1u] >> (16u * ((r * p.width + e) & 1u))) & 0xffffu)'
        : type === 'q8_0'
          ? `f32((bitcast<i32>(C[r * p.row + 8u * (e >> 5u) + ((e & 31u) >> 2u)]) << (24u - 8u * (e & 3u))) >> 24u) * ${scaleAt('C', type, 'r * p.row', '(e >> 5u)')}`
          : `f32(i32(((C[r * p.row + 4u * (e >> 5u) + ((e & 15u) >> 2u)] >> (8u * (e & 3u))) >> (4u * ((e & 31u) >> 4u))) & 0xfu) - 8) * ${scaleAt('C', type, 'r * p.row', '(e >> 5u)')}`;
  return /* wgsl */ `
struct P { xOff: u32, row0: u32, T: u32, width: u32, row: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> C: array<${type === 'f32' ? 'f32' : 'u32'}>;
@group(0) @binding(2) var<storage, read_write> X: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= p.T * p.width) { return; }
  let r = p.row0 + i / p.width;
  let e = i % p.width;
  X[p.xOff + i] = ${at};
}
`;
}
