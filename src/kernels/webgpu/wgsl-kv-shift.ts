// The WGSL kernel of the KV cache's context shift (KvStorage.shift): positions [keep + discard, n) of a
// cache move to [keep, n - discard), read from a copy of the cache taken before (moves overlap); K rows
// are rotated by the delta position's cos/sin table as the RoPE kernel rotates (x0 c - x1 s, x0 s + x1 c)
// from their f32 value and rounded to the cache type, V elements and K dimensions past nRot move as bits.

/** One thread per destination element (f32) or u32 word of two halves (f16, keeping foreign halves). */
export function kvShift(f16: boolean): string {
  const load = f16 ? 'f16_to_f32((S[e >> 1u] >> (16u * (e & 1u))) & 0xffffu)' : 'S[e]';
  return /* wgsl */ `
struct P { dst0: u32, dst1: u32, delta: u32, width: u32, headDim: u32, nRot: u32, neox: u32, rotate: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> C: array<${f16 ? 'u32' : 'f32'}>;
@group(0) @binding(2) var<storage, read> S: array<${f16 ? 'u32' : 'f32'}>;
@group(0) @binding(3) var<storage, read> TAB: array<f32>;
fn val(e: u32) -> f32 { return ${load}; }
fn raw(e: u32) -> u32 { return ${f16 ? '(S[e >> 1u] >> (16u * (e & 1u))) & 0xffffu' : 'bitcast<u32>(S[e])'}; }
// the element that lands at destination e: source element e + delta, rotated when it is a rotated K dim
fn moved(e: u32) -> u32 {
  let src = e + p.delta;
  let d = src % p.width % p.headDim;
  if (p.rotate == 0u || d >= p.nRot) { return raw(src); }
  let base = src - d;
  let half = p.nRot / 2u;
  var i: u32; var i0: u32; var i1: u32; var first: bool;
  if (p.neox == 1u) {
    first = d < half;
    i = select(d - half, d, first);
    i0 = base + i;
    i1 = base + i + half;
  } else {
    first = (d & 1u) == 0u;
    i = d / 2u;
    i0 = base + 2u * i;
    i1 = i0 + 1u;
  }
  let c = TAB[2u * i];
  let s = TAB[2u * i + 1u];
  let x0 = val(i0);
  let x1 = val(i1);
  let r = select(x0 * s + x1 * c, x0 * c - x1 * s, first);
  return ${f16 ? 'f32_to_f16(r)' : 'bitcast<u32>(r)'};
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
${
  f16
    ? `  let w = (p.dst0 >> 1u) + gid.x + gid.y * 65535u * 64u;
  if (2u * w >= p.dst1) { return; }
  var word = C[w];
  for (var b = 0u; b < 2u; b = b + 1u) {
    let e = 2u * w + b;
    if (e >= p.dst0 && e < p.dst1) {
      word = (word & ~(0xffffu << (16u * b))) | (moved(e) << (16u * b));
    }
  }
  C[w] = word;`
    : `  let e = p.dst0 + gid.x + gid.y * 65535u * 64u;
  if (e >= p.dst1) { return; }
  C[e] = bitcast<f32>(moved(e));`
}
}
`;
}
