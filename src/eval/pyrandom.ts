// Python's random.Random, bit for bit: MT19937 seeded from an integer as CPython seeds it (init_by_array over
// the absolute value's 32-bit words), getrandbits, random(), _randbelow, sample() and shuffle() with CPython's
// exact algorithms (3.11 random.py). lm-eval's few-shot sampler draws from one of these, so matching prompts
// requires matching the stream exactly.
import { BitnetError } from '../errors.js';

const N = 624;
const M = 397;

export class PyRandom {
  private readonly mt = new Uint32Array(N);
  private mti = N + 1;

  /** `seed` as Python's int seed (negative seeds use their absolute value, as CPython does). */
  constructor(seed: number | bigint = 0) {
    this.seed(seed);
  }

  seed(seed: number | bigint): void {
    if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
      throw new BitnetError('INVALID_ARGUMENT', `PyRandom seeds are integers, got ${seed}`, { name: 'seed' });
    }
    let a = BigInt(seed);
    if (a < 0n) a = -a;
    const key: number[] = [];
    while (a > 0n) {
      key.push(Number(a & 0xffffffffn));
      a >>= 32n;
    }
    if (key.length === 0) key.push(0);
    this.initByArray(key);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.mti = N;
  }

  private initByArray(key: number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1664525)) + key[j]! + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  /** The next raw 32-bit output of MT19937 (genrand_uint32). */
  nextUint32(): number {
    const mt = this.mt;
    if (this.mti >= N) {
      let kk = 0;
      for (; kk < N - M; kk++) {
        const y = (mt[kk]! & 0x80000000) | (mt[kk + 1]! & 0x7fffffff);
        mt[kk] = mt[kk + M]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      for (; kk < N - 1; kk++) {
        const y = (mt[kk]! & 0x80000000) | (mt[kk + 1]! & 0x7fffffff);
        mt[kk] = mt[kk + (M - N)]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      const y = (mt[N - 1]! & 0x80000000) | (mt[0]! & 0x7fffffff);
      mt[N - 1] = mt[M - 1]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      this.mti = 0;
    }
    let y = mt[this.mti++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** random.random(): a float in [0, 1) with 53 random bits. */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** random.getrandbits(k) for k <= 32, as a number. */
  getrandbits32(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k > 32) throw new BitnetError('INVALID_ARGUMENT', `getrandbits32 takes 0..32 bits, got ${k}`);
    if (k === 0) return 0;
    return this.nextUint32() >>> (32 - k);
  }

  /** random.getrandbits(k) for any k >= 0, as a bigint (32-bit words, least significant first, as CPython). */
  getrandbits(k: number): bigint {
    if (!Number.isInteger(k) || k < 0) throw new BitnetError('INVALID_ARGUMENT', `getrandbits takes a non-negative bit count, got ${k}`);
    if (k <= 32) return BigInt(this.getrandbits32(k));
    let out = 0n;
    let shift = 0n;
    for (let left = k; left > 0; left -= 32) {
      let r = this.nextUint32();
      if (left < 32) r >>>= 32 - left;
      out |= BigInt(r) << shift;
      shift += 32n;
    }
    return out;
  }

  /** random._randbelow(n): uniform in [0, n) by rejection on getrandbits(n.bit_length()). */
  randbelow(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0) throw new BitnetError('INVALID_ARGUMENT', `randbelow takes a non-negative integer, got ${n}`);
    if (n === 0) return 0;
    const k = bitLength(n);
    if (k <= 32) {
      let r = this.getrandbits32(k);
      while (r >= n) r = this.getrandbits32(k);
      return r;
    }
    const big = BigInt(n);
    let r = this.getrandbits(k);
    while (r >= big) r = this.getrandbits(k);
    return Number(r);
  }

  /** random.randrange(n) for one positive argument. */
  randrange(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new BitnetError('INVALID_ARGUMENT', `empty range for randrange(${n})`);
    return this.randbelow(n);
  }

  /** random.sample(population, k): k distinct elements in selection order, CPython's pool / set algorithms. */
  sample<T>(population: readonly T[], k: number): T[] {
    const n = population.length;
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new BitnetError('INVALID_ARGUMENT', `sample larger than population or is negative (k=${k}, n=${n})`);
    }
    const result: T[] = new Array<T>(k);
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    if (n <= setsize) {
      const pool = population.slice();
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = pool[j]!;
        pool[j] = pool[n - i - 1]!;
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = population[j]!;
      }
    }
    return result;
  }

  /** random.shuffle(x) in place. */
  shuffle<T>(x: T[]): void {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const t = x[i]!;
      x[i] = x[j]!;
      x[j] = t;
    }
  }
}

function bitLength(n: number): number {
  let k = 0;
  while (n >= 4294967296) {
    n = Math.floor(n / 4294967296);
    k += 32;
  }
  return k + (n === 0 ? 0 : 32 - Math.clz32(n));
}
