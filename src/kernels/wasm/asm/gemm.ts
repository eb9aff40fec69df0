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
