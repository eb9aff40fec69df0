// RoPE scaling beyond the trained context, resolved as llama.cpp does it: the file's rope.scaling.* keys
// (type absent = linear, factor absent = 1), then the caller's overrides (llama.cpp's --rope-scaling,
// --rope-scale, --rope-freq-base and --yarn-* flags), then llama_context's rules (type none forces no
// scaling; a negative ext factor means 1 for YaRN and 0 otherwise). The table itself is kernels/math.ts.
import { BitnetError } from '../errors.js';
import { ARCH_KEY, archKey } from '../formats/names.js';
import type { RopeScaling } from '../kernels/math.js';

type ArchKey = (typeof ARCH_KEY)[keyof typeof ARCH_KEY];

/** What readRope needs of hparams.ts's MetadataReader (which imports this file). */
export interface RopeMetadata {
  readonly meta: ReadonlyMap<string, unknown>;
  readonly file: string;
  readonly arch: string;
  archUint(key: ArchKey, fallback?: number): number;
  archFloat(key: ArchKey, fallback?: number): number;
  archString(key: ArchKey): string | undefined;
}

export const ROPE_SCALING_TYPES = ['none', 'linear', 'yarn'] as const;
export type RopeScalingType = (typeof ROPE_SCALING_TYPES)[number];

/** The RoPE scaling a model runs with: the table's parameters and the type they came from. */
export interface RopeConfig extends RopeScaling {
  type: RopeScalingType;
}

/** Overrides of the file's RoPE parameters (LoadOptions.rope); each is llama.cpp's flag of the same meaning. */
export interface RopeOptions {
  /** --rope-scaling: none, linear or yarn (default: the file's rope.scaling.type, else linear) */
  scaling?: RopeScalingType;
  /** --rope-scale: the context multiple N (freq scale 1/N); default the file's rope.scaling.factor, else 1 */
  scale?: number;
  /** --rope-freq-base: the RoPE base (theta) instead of the file's */
  freqBase?: number;
  /** --yarn-orig-ctx: YaRN's original context; 0 or absent: rope.scaling.original_context_length, else the training context */
  yarnOrigCtx?: number;
  /** --yarn-ext-factor: the extrapolation mix in [0, 1]; negative or absent: 1 for YaRN, 0 otherwise */
  yarnExtFactor?: number;
  /** --yarn-attn-factor: multiplies cos and sin (times the file's rope.scaling.attn_factor); default 1 */
  yarnAttnFactor?: number;
  /** --yarn-beta-fast: YaRN's low correction dim (default 32) */
  yarnBetaFast?: number;
  /** --yarn-beta-slow: YaRN's high correction dim (default 1) */
  yarnBetaSlow?: number;
}

const OPTION_RULES: Array<[keyof RopeOptions, (x: number) => boolean, string]> = [
  ['scale', (x) => x > 0, 'a number > 0 (the context multiple)'],
  ['freqBase', (x) => x > 0, 'a number > 0'],
  ['yarnOrigCtx', (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0 (0: the model\'s)'],
  ['yarnExtFactor', (x) => x <= 1, 'a number <= 1 (negative: 1 for yarn, 0 otherwise)'],
  ['yarnAttnFactor', (x) => x > 0, 'a number > 0'],
  ['yarnBetaFast', (x) => x > 0, 'a number > 0'],
  ['yarnBetaSlow', (x) => x > 0, 'a number > 0'],
];

/** Throws INVALID_ARGUMENT naming the option for a value llama.cpp would turn into nonsense (0, negative, NaN). */
export function checkRopeOptions(o: RopeOptions): void {
  if (o.scaling !== undefined && !(ROPE_SCALING_TYPES as readonly string[]).includes(o.scaling)) {
    throw new BitnetError('INVALID_ARGUMENT', `must be one of ${ROPE_SCALING_TYPES.join(', ')}, got "${String(o.scaling)}"`, { name: 'rope.scaling' });
  }
  for (const [key, ok, what] of OPTION_RULES) {
    const x = o[key];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !Number.isFinite(x) || !ok(x)) throw new BitnetError('INVALID_ARGUMENT', `must be ${what}, got ${String(x)}`, { name: `rope.${key}` });
  }
}

/** The RoPE base and scaling of a model: the file's keys, then the overrides, then llama.cpp's defaults. */
export function readRope(r: RopeMetadata, nCtxTrain: number, o: RopeOptions = {}): { freqBase: number; scaling: RopeConfig } {
  checkRopeOptions(o);
  const key = (k: ArchKey) => archKey(r.arch, k);
  const bad = (k: ArchKey, why: string): never => {
    throw new BitnetError('BAD_METADATA', why, { file: r.file, name: key(k) });
  };
  const positive = (k: ArchKey, fallback: number): number => {
    const x = r.archFloat(k, fallback);
    return x > 0 ? x : bad(k, `must be > 0, got ${x}`);
  };

  const declared = r.archString(ARCH_KEY.ropeScalingType) ?? 'linear';
  if (!(ROPE_SCALING_TYPES as readonly string[]).includes(declared)) {
    bad(ARCH_KEY.ropeScalingType, `RoPE scaling "${declared}" is not supported (supported: ${ROPE_SCALING_TYPES.join(', ')})`);
  }
  const factorKey = r.meta.has(key(ARCH_KEY.ropeScalingFactor)) ? ARCH_KEY.ropeScalingFactor : ARCH_KEY.ropeScaleLinear;
  const factor = r.archFloat(factorKey, 0); // 0: not scaled
  if (factor < 0) bad(factorKey, `must be >= 0, got ${factor}`);
  const fileOrigCtx = r.archUint(ARCH_KEY.ropeScalingOrigCtx, nCtxTrain);
  const ropeAttnFactor = positive(ARCH_KEY.ropeScalingAttnFactor, 1);
  const fileExt = r.archFloat(ARCH_KEY.ropeScalingYarnExtFactor, -1);

  const type = o.scaling ?? (declared as RopeScalingType);
  // llama.cpp: cparams.rope_freq_scale = the flag or 1/factor; type none never scales
  const f32 = Math.fround;
  let freqScale = o.scale !== undefined ? f32(1 / f32(o.scale)) : factor === 0 ? 1 : f32(1 / factor);
  if (type === 'none') freqScale = 1;
  const ext = o.yarnExtFactor !== undefined && o.yarnExtFactor >= 0 ? f32(o.yarnExtFactor) : fileExt >= 0 ? fileExt : type === 'yarn' ? 1 : 0;
  // llama.cpp up to late 2025 (and bitnet.cpp's fork): yarn_attn_factor (default 1) times rope.scaling.attn_factor,
  // with the kernel's 1 + 0.1 ln(1/freq_scale) on top when ext != 0. (Upstream has since replaced the first
  // factor for YaRN by a value that cancels to the same magnitude when it is 1.)
  const attnFactor = f32(f32(o.yarnAttnFactor ?? positive(ARCH_KEY.ropeScalingYarnAttnFactor, 1)) * ropeAttnFactor);
  return {
    freqBase: f32(o.freqBase ?? positive(ARCH_KEY.ropeFreqBase, 10000)),
    scaling: {
      type,
      freqScale,
      extFactor: ext,
      attnFactor,
      betaFast: f32(o.yarnBetaFast ?? positive(ARCH_KEY.ropeScalingYarnBetaFast, 32)),
      betaSlow: f32(o.yarnBetaSlow ?? positive(ARCH_KEY.ropeScalingYarnBetaSlow, 1)),
      origCtx: o.yarnOrigCtx || fileOrigCtx,
    },
  };
}

/** Whether the table differs from plain RoPE. */
export function ropeIsScaled(s: RopeScaling): boolean {
  return s.freqScale !== 1 || s.extFactor !== 0 || s.attnFactor !== 1;
}

/** The context RoPE covers: the original context times the scale when scaled, else the training context. */
export function ropeCoveredContext(nCtxTrain: number, s: RopeScaling): number {
  return ropeIsScaled(s) ? Math.round(s.origCtx / s.freqScale) : nCtxTrain;
}
