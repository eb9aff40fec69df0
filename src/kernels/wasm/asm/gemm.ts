// AssemblyScript: float32 GEMMs for the trainer (src/train), SIMD128 multiply-add in fixed order so results
// do not depend on the thread count. Three shapes, each split by rows [r0, r1) for threads:
//   gemm_nt  y [T, N]  = x [T, K] · wᵀ (w [N, K])       forward of a linear map   (rows: t)
//   gemm_nn  dx [T, K] (+)= dy [T, N] · w [N, K]        gradient of its input     (rows: t)
//   gemm_tn  dw [N, K] += dyᵀ [N, T] · x [T, K]         gradient of its weight    (rows: n)
// K must be a multiple of 4 (gemm_nt) or 16 (gemm_nn, gemm_tn); the trainer checks and falls back otherwise.

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

export function gemm_nt(x: usize, w: usize, y: usize, K: i32, N: i32, r0: i32, r1: i32): void {
  const rowX = <usize>K << 2;
  let t = r0;
  for (; t + 1 < r1; t += 2) {
    const x0 = x + <usize>t * rowX;
    const x1 = x0 + rowX;
    let n = 0;
    for (; n + 3 < N; n += 4) {
      const w0 = w + <usize>n * rowX;
      const w1 = w0 + rowX;
      const w2 = w1 + rowX;
      const w3 = w2 + rowX;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
      for (let k: usize = 0; k < rowX; k += 16) {
        const v0 = v128.load(x0 + k);
        const v1 = v128.load(x1 + k);
        const b0 = v128.load(w0 + k);
        const b1 = v128.load(w1 + k);
        const b2 = v128.load(w2 + k);
        const b3 = v128.load(w3 + k);
        a00 = f32x4.add(a00, f32x4.mul(v0, b0));
        a01 = f32x4.add(a01, f32x4.mul(v0, b1));
        a02 = f32x4.add(a02, f32x4.mul(v0, b2));
        a03 = f32x4.add(a03, f32x4.mul(v0, b3));
        a10 = f32x4.add(a10, f32x4.mul(v1, b0));
        a11 = f32x4.add(a11, f32x4.mul(v1, b1));
        a12 = f32x4.add(a12, f32x4.mul(v1, b2));
        a13 = f32x4.add(a13, f32x4.mul(v1, b3));
      }
      const y0 = y + ((<usize>t * N + n) << 2);
      const y1 = y0 + (<usize>N << 2);
      store<f32>(y0, hsum(a00));
      store<f32>(y0 + 4, hsum(a01));
      store<f32>(y0 + 8, hsum(a02));
      store<f32>(y0 + 12, hsum(a03));
      store<f32>(y1, hsum(a10));
      store<f32>(y1 + 4, hsum(a11));
      store<f32>(y1 + 8, hsum(a12));
      store<f32>(y1 + 12, hsum(a13));
    }
    for (; n < N; n++) {
      const w0 = w + <usize>n * rowX;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      for (let k: usize = 0; k < rowX; k += 16) {
        const b = v128.load(w0 + k);
        a0 = f32x4.add(a0, f32x4.mul(v128.load(x0 + k), b));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(x1 + k), b));
      }
      store<f32>(y + ((<usize>t * N + n) << 2), hsum(a0));
      store<f32>(y + ((<usize>(t + 1) * N + n) << 2), hsum(a1));
    }
  }
  for (; t < r1; t++) {
    const x0 = x + <usize>t * rowX;
    for (let n = 0; n < N; n++) {
      const w0 = w + <usize>n * rowX;
      let a0 = f32x4.splat(0);
      for (let k: usize = 0; k < rowX; k += 16) a0 = f32x4.add(a0, f32x4.mul(v128.load(x0 + k), v128.load(w0 + k)));
      store<f32>(y + ((<usize>t * N + n) << 2), hsum(a0));
    }
  }
}

/** dx rows [r0, r1): dx[t, :] = (accumulate ? dx[t, :] : 0) + Σ_n dy[t, n] · w[n, :], 16 columns at a time. */
export function gemm_nn(dy: usize, w: usize, dx: usize, K: i32, N: i32, accumulate: i32, r0: i32, r1: i32): void {
  const rowK = <usize>K << 2;
  const rowN = <usize>N << 2;
  let t = r0;
  for (; t + 1 < r1; t += 2) {
    const g0 = dy + <usize>t * rowN;
    const g1 = g0 + rowN;
    const d0 = dx + <usize>t * rowK;
    const d1 = d0 + rowK;
    for (let k: usize = 0; k < rowK; k += 64) {
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
      if (accumulate) {
        a00 = v128.load(d0 + k); a01 = v128.load(d0 + k + 16); a02 = v128.load(d0 + k + 32); a03 = v128.load(d0 + k + 48);
        a10 = v128.load(d1 + k); a11 = v128.load(d1 + k + 16); a12 = v128.load(d1 + k + 32); a13 = v128.load(d1 + k + 48);
      }
      let wp = w + k;
      for (let n: usize = 0; n < rowN; n += 4, wp += rowK) {
        const s0 = f32x4.splat(load<f32>(g0 + n));
        const s1 = f32x4.splat(load<f32>(g1 + n));
        const b0 = v128.load(wp);
        const b1 = v128.load(wp + 16);
        const b2 = v128.load(wp + 32);
        const b3 = v128.load(wp + 48);
        a00 = f32x4.add(a00, f32x4.mul(s0, b0));
        a01 = f32x4.add(a01, f32x4.mul(s0, b1));
        a02 = f32x4.add(a02, f32x4.mul(s0, b2));
        a03 = f32x4.add(a03, f32x4.mul(s0, b3));
        a10 = f32x4.add(a10, f32x4.mul(s1, b0));
        a11 = f32x4.add(a11, f32x4.mul(s1, b1));
        a12 = f32x4.add(a12, f32x4.mul(s1, b2));
        a13 = f32x4.add(a13, f32x4.mul(s1, b3));
      }
      v128.store(d0 + k, a00); v128.store(d0 + k + 16, a01); v128.store(d0 + k + 32, a02); v128.store(d0 + k + 48, a03);
      v128.store(d1 + k, a10); v128.store(d1 + k + 16, a11); v128.store(d1 + k + 32, a12); v128.store(d1 + k + 48, a13);
    }
  }
  for (; t < r1; t++) {
    const g0 = dy + <usize>t * rowN;
    const d0 = dx + <usize>t * rowK;
    for (let k: usize = 0; k < rowK; k += 64) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      if (accumulate) {
        a0 = v128.load(d0 + k); a1 = v128.load(d0 + k + 16); a2 = v128.load(d0 + k + 32); a3 = v128.load(d0 + k + 48);
      }
      let wp = w + k;
      for (let n: usize = 0; n < rowN; n += 4, wp += rowK) {
        const s0 = f32x4.splat(load<f32>(g0 + n));
        a0 = f32x4.add(a0, f32x4.mul(s0, v128.load(wp)));
        a1 = f32x4.add(a1, f32x4.mul(s0, v128.load(wp + 16)));
        a2 = f32x4.add(a2, f32x4.mul(s0, v128.load(wp + 32)));
        a3 = f32x4.add(a3, f32x4.mul(s0, v128.load(wp + 48)));
      }
      v128.store(d0 + k, a0); v128.store(d0 + k + 16, a1); v128.store(d0 + k + 32, a2); v128.store(d0 + k + 48, a3);
    }
  }
}

/** dw rows [r0, r1): dw[n, :] += Σ_t dy[t, n] · x[t, :], 16 columns at a time. */
export function gemm_tn(dy: usize, x: usize, dw: usize, T: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  const rowK = <usize>K << 2;
  const rowN = <usize>N << 2;
  let n = r0;
  for (; n + 1 < r1; n += 2) {
    const d0 = dw + <usize>n * rowK;
    const d1 = d0 + rowK;
    for (let k: usize = 0; k < rowK; k += 64) {
      let a00 = v128.load(d0 + k), a01 = v128.load(d0 + k + 16), a02 = v128.load(d0 + k + 32), a03 = v128.load(d0 + k + 48);
      let a10 = v128.load(d1 + k), a11 = v128.load(d1 + k + 16), a12 = v128.load(d1 + k + 32), a13 = v128.load(d1 + k + 48);
      let gp = dy + (<usize>n << 2);
      let xp = x + k;
      for (let t = 0; t < T; t++, gp += rowN, xp += rowK) {
        const s0 = f32x4.splat(load<f32>(gp));
        const s1 = f32x4.splat(load<f32>(gp + 4));
        const b0 = v128.load(xp);
        const b1 = v128.load(xp + 16);
        const b2 = v128.load(xp + 32);
        const b3 = v128.load(xp + 48);
        a00 = f32x4.add(a00, f32x4.mul(s0, b0));
        a01 = f32x4.add(a01, f32x4.mul(s0, b1));
        a02 = f32x4.add(a02, f32x4.mul(s0, b2));
        a03 = f32x4.add(a03, f32x4.mul(s0, b3));
        a10 = f32x4.add(a10, f32x4.mul(s1, b0));
        a11 = f32x4.add(a11, f32x4.mul(s1, b1));
        a12 = f32x4.add(a12, f32x4.mul(s1, b2));
        a13 = f32x4.add(a13, f32x4.mul(s1, b3));
      }
      v128.store(d0 + k, a00); v128.store(d0 + k + 16, a01); v128.store(d0 + k + 32, a02); v128.store(d0 + k + 48, a03);
      v128.store(d1 + k, a10); v128.store(d1 + k + 16, a11); v128.store(d1 + k + 32, a12); v128.store(d1 + k + 48, a13);
    }
  }
  for (; n < r1; n++) {
    const d0 = dw + <usize>n * rowK;
    for (let k: usize = 0; k < rowK; k += 64) {
      let a0 = v128.load(d0 + k), a1 = v128.load(d0 + k + 16), a2 = v128.load(d0 + k + 32), a3 = v128.load(d0 + k + 48);
      let gp = dy + (<usize>n << 2);
      let xp = x + k;
      for (let t = 0; t < T; t++, gp += rowN, xp += rowK) {
        const s0 = f32x4.splat(load<f32>(gp));
        a0 = f32x4.add(a0, f32x4.mul(s0, v128.load(xp)));
        a1 = f32x4.add(a1, f32x4.mul(s0, v128.load(xp + 16)));
        a2 = f32x4.add(a2, f32x4.mul(s0, v128.load(xp + 32)));
        a3 = f32x4.add(a3, f32x4.mul(s0, v128.load(xp + 48)));
      }
      v128.store(d0 + k, a0); v128.store(d0 + k + 16, a1); v128.store(d0 + k + 32, a2); v128.store(d0 + k + 48, a3);
    }
  }
}

// ---------------------------------------------------------------- causal attention for the trainer
// q [B*T, nHead*hd], k and v [B*T, nHeadKv*hd], probs [B, nHead, T, T], out like q; hd % 4 == 0.

// @ts-ignore: decorator
@inline function dotF32(a: usize, b: usize, bytes: usize): f32 {
  let acc = f32x4.splat(0);
  for (let i: usize = 0; i < bytes; i += 16) acc = f32x4.add(acc, f32x4.mul(v128.load(a + i), v128.load(b + i)));
  return hsum(acc);
}

/** Forward for (sequence, head) pairs i in [i0, i1), i = b * nHead + h: probabilities and outputs. */
export function train_attn_fwd(q: usize, k: usize, v: usize, out: usize, probs: usize, T: i32, nHead: i32, nHeadKv: i32, hd: i32, i0: i32, i1: i32): void {
  const hdB = <usize>hd << 2;
  const qRow = <usize>(nHead * hd) << 2;
  const kvRow = <usize>(nHeadKv * hd) << 2;
  const scale: f32 = <f32>1 / Mathf.sqrt(<f32>hd);
  const group = nHead / nHeadKv;
  for (let i = i0; i < i1; i++) {
    const b = i / nHead;
    const h = i % nHead;
    const g = h / group;
    const kBase = k + <usize>b * T * kvRow + <usize>g * hdB;
    const vBase = v + <usize>b * T * kvRow + <usize>g * hdB;
    for (let t = 0; t < T; t++) {
      const qo = q + (<usize>b * T + t) * qRow + <usize>h * hdB;
      const po = probs + ((<usize>i * T + t) * T << 2);
      let max: f32 = -Infinity;
      for (let u = 0; u <= t; u++) {
        const s = dotF32(qo, kBase + <usize>u * kvRow, hdB) * scale;
        store<f32>(po + (<usize>u << 2), s);
        if (s > max) max = s;
      }
      let sum: f32 = 0;
      for (let u = 0; u <= t; u++) {
        const e = Mathf.exp(load<f32>(po + (<usize>u << 2)) - max);
        store<f32>(po + (<usize>u << 2), e);
        sum += e;
      }
      const inv: f32 = <f32>1 / sum;
      for (let u = 0; u <= t; u++) store<f32>(po + (<usize>u << 2), load<f32>(po + (<usize>u << 2)) * inv);
      for (let u = t + 1; u < T; u++) store<f32>(po + (<usize>u << 2), 0);
      const oo = out + (<usize>b * T + t) * qRow + <usize>h * hdB;
      for (let c: usize = 0; c < hdB; c += 16) {
        let acc = f32x4.splat(0);
        for (let u = 0; u <= t; u++) acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(po + (<usize>u << 2))), v128.load(vBase + <usize>u * kvRow + c)));
        v128.store(oo + c, acc);
      }
    }
  }
}

/**
 * Backward for (sequence, KV head) pairs i in [i0, i1), i = b * nHeadKv + g, over the heads sharing that
 * KV head (so dk, dv rows are written by one thread). dq, dk, dv must start at zero; scratch holds T floats.
 */
export function train_attn_bwd(dout: usize, q: usize, k: usize, v: usize, probs: usize, dq: usize, dk: usize, dv: usize, T: i32, nHead: i32, nHeadKv: i32, hd: i32, i0: i32, i1: i32, scratch: usize): void {
  const hdB = <usize>hd << 2;
  const qRow = <usize>(nHead * hd) << 2;
  const kvRow = <usize>(nHeadKv * hd) << 2;
  const scale: f32 = <f32>1 / Mathf.sqrt(<f32>hd);
  const group = nHead / nHeadKv;
  for (let i = i0; i < i1; i++) {
    const b = i / nHeadKv;
    const g = i % nHeadKv;
    const kBase = k + <usize>b * T * kvRow + <usize>g * hdB;
    const vBase = v + <usize>b * T * kvRow + <usize>g * hdB;
    const dkBase = dk + <usize>b * T * kvRow + <usize>g * hdB;
    const dvBase = dv + <usize>b * T * kvRow + <usize>g * hdB;
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let t = 0; t < T; t++) {
        const qo = q + (<usize>b * T + t) * qRow + <usize>h * hdB;
        const go = dout + (<usize>b * T + t) * qRow + <usize>h * hdB;
        const dqo = dq + (<usize>b * T + t) * qRow + <usize>h * hdB;
        const po = probs + ((<usize>(b * nHead + h) * T + t) * T << 2);
        let pdp: f32 = 0;
        for (let u = 0; u <= t; u++) {
          const p = load<f32>(po + (<usize>u << 2));
          const vo = vBase + <usize>u * kvRow;
          const dvo = dvBase + <usize>u * kvRow;
          const ps = f32x4.splat(p);
          let acc = f32x4.splat(0);
          for (let c: usize = 0; c < hdB; c += 16) {
            const gv = v128.load(go + c);
            acc = f32x4.add(acc, f32x4.mul(gv, v128.load(vo + c)));
            v128.store(dvo + c, f32x4.add(v128.load(dvo + c), f32x4.mul(ps, gv)));
          }
          const d = hsum(acc);
          store<f32>(scratch + (<usize>u << 2), d);
          pdp += p * d;
        }
        for (let u = 0; u <= t; u++) {
          const ds = load<f32>(po + (<usize>u << 2)) * (load<f32>(scratch + (<usize>u << 2)) - pdp) * scale;
          if (ds == 0) continue;
          const dss = f32x4.splat(ds);
          const ko = kBase + <usize>u * kvRow;
          const dko = dkBase + <usize>u * kvRow;
          for (let c: usize = 0; c < hdB; c += 16) {
            v128.store(dqo + c, f32x4.add(v128.load(dqo + c), f32x4.mul(dss, v128.load(ko + c))));
            v128.store(dko + c, f32x4.add(v128.load(dko + c), f32x4.mul(dss, v128.load(qo + c))));
          }
        }
      }
    }
  }
}
