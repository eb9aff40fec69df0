// Plain twin of the WASM table-lookup ternary kernels (kernels/wasm/asm/lut.ts), for tests: the repacking of
// I2_S rows into 16-row tiles, the per-token nibble tables and the lookups, giving the same integer dot
// D = sum((code - 1) * q) as matmulTernaryRef. An I2_S byte holds four codes of one 128-column block: element
// 32g + p (p < 32) at bits 7-6-2g of byte p, so its low nibble indexes the pair (96+p, 64+p), its high nibble (32+p, p).

/** Tiles of 16 rows from I2_S rows (K % 128 == 0): byte j of tile t's vector v is row 16t + j's byte v (rows past the end: 0x55, weight 0). */
export function lutRepackRef(codes: Uint8Array, rows: number, K: number): Uint8Array {
  const rowBytes = K / 4;
  const tiles = Math.ceil(rows / 16);
  const out = new Uint8Array(tiles * 16 * rowBytes);
  for (let t = 0; t < tiles; t++) {
    for (let v = 0; v < rowBytes; v++) {
      for (let j = 0; j < 16; j++) {
        const r = t * 16 + j;
        out[(t * rowBytes + v) * 16 + j] = r < rows ? codes[r * rowBytes + v]! : 0x55;
      }
    }
  }
  return out;
}

/** Signed nibbles of q in [-128, 127]: q = 16 h + l, l in [-8, 7], h in [-8, 8]. */
export function splitNibble(q: number): { h: number; l: number } {
  const l = ((q + 8) & 15) - 8;
  return { h: (q - l) / 16, l };
}

/**
 * One token's tables (16 K bytes): per weight vector v (block v / 32, p = v % 32), TL and TH of the low-nibble
 * pair (a = 96+p, b = 64+p), then of the high-nibble pair (a = 32+p, b = p); entry ca | cb << 2 (c = w + 1)
 * holds wa x_a + wb x_b for x the l (TL) or h (TH) nibbles; unused entries (c = 3) are 0.
 */
export function lutTablesRef(q: Int8Array, K: number): Int8Array {
  const out = new Int8Array(K * 16);
  for (let v = 0; v < K / 4; v++) {
    const base = (v >> 5) * 128 + (v & 31);
    const pairs = [
      [base + 96, base + 64],
      [base + 32, base],
    ];
    pairs.forEach(([a, b], half) => {
      const na = splitNibble(q[a!]!);
      const nb = splitNibble(q[b!]!);
      for (let idx = 0; idx < 16; idx++) {
        const ca = idx & 3;
        const cb = idx >> 2;
        const ok = ca < 3 && cb < 3;
        out[v * 64 + half * 32 + idx] = ok ? (ca - 1) * na.l + (cb - 1) * nb.l : 0;
        out[v * 64 + half * 32 + 16 + idx] = ok ? (ca - 1) * na.h + (cb - 1) * nb.h : 0;
      }
    });
  }
  return out;
}

/** D for every row of the tiled matrix against one token's tables: sum over pairs of 16 TH + TL. */
export function lutDotRef(tiles: Uint8Array, rows: number, K: number, tables: Int8Array): Int32Array {
  const nv = K / 4;
  const d = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const t = r >> 4;
    const j = r & 15;
    let acc = 0;
    for (let v = 0; v < nv; v++) {
      const idx = tiles[(t * nv + v) * 16 + j]!;
      const lo = idx & 15;
      const hi = idx >> 4;
      acc += 16 * (tables[v * 64 + 16 + lo]! + tables[v * 64 + 48 + hi]!) + tables[v * 64 + lo]! + tables[v * 64 + 32 + hi]!;
    }
    d[r] = acc;
  }
  return d;
}
