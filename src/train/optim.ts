// AdamW with decoupled weight decay, global-norm gradient clipping, and the learning-rate schedules:
// linear warmup then cosine or linear decay, or the BitNet b1.58 2B4T report's two stages (a high
// learning rate decaying to the midpoint, then a cooldown at a lower rate with weight decay off).
import { BitnetError } from '../errors.js';
import type { Param } from './model.js';

export type ScheduleKind = 'cosine' | 'linear' | 'two-stage';

export interface ScheduleOptions {
  kind: ScheduleKind;
  lr: number;
  /** floor of the decay, as a fraction of lr; default 0.1 */
  minLrRatio?: number;
  warmup: number;
  total: number;
  weightDecay: number;
}

/** Learning rate and weight decay at `step` (0-based). */
export function scheduleAt(s: ScheduleOptions, step: number): { lr: number; weightDecay: number } {
  const min = s.lr * (s.minLrRatio ?? 0.1);
  if (step < s.warmup) return { lr: (s.lr * (step + 1)) / s.warmup, weightDecay: s.weightDecay };
  const span = Math.max(1, s.total - s.warmup);
  const p = Math.min(1, (step - s.warmup) / span);
  switch (s.kind) {
    case 'cosine':
      return { lr: min + 0.5 * (s.lr - min) * (1 + Math.cos(Math.PI * p)), weightDecay: s.weightDecay };
    case 'linear':
      return { lr: s.lr - (s.lr - min) * p, weightDecay: s.weightDecay };
    case 'two-stage': {
      // stage 1: peak lr decaying linearly to 2/3 of it; stage 2: cooldown from 0.4x to the floor, no weight decay
      if (p < 0.5) return { lr: s.lr * (1 - (p / 0.5) * (1 / 3)), weightDecay: s.weightDecay };
      const q = (p - 0.5) / 0.5;
      const top = 0.4 * s.lr;
      return { lr: top - (top - min) * q, weightDecay: 0 };
    }
    default:
      throw new BitnetError('INVALID_ARGUMENT', `unknown schedule ${String(s.kind)}`, { name: 'schedule' });
  }
}

/** Scales all gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradients(params: readonly Param[], maxNorm: number): number {
  let ss = 0;
  for (const p of params) for (const g of p.grad) ss += g * g;
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && norm > maxNorm) {
    const k = maxNorm / norm;
    for (const p of params) for (let i = 0; i < p.grad.length; i++) p.grad[i] = p.grad[i]! * k;
  }
  return norm;
}

export class AdamW {
  /** first and second moments, by parameter name */
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();
  /** updates applied so far (bias correction) */
  t = 0;

  constructor(
    private readonly params: readonly Param[],
    readonly beta1 = 0.9,
    readonly beta2 = 0.95,
    readonly epsilon = 1e-8,
  ) {
    for (const p of params) {
      this.m.set(p.name, new Float32Array(p.data.length));
      this.v.set(p.name, new Float32Array(p.data.length));
    }
  }

  step(lr: number, weightDecay: number): void {
    this.t++;
    const { beta1: b1, beta2: b2, epsilon: eps } = this;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    for (const p of this.params) {
      const m = this.m.get(p.name)!;
      const v = this.v.get(p.name)!;
      const wd = p.decay ? weightDecay : 0;
      const { data, grad } = p;
      for (let i = 0; i < data.length; i++) {
        const g = grad[i]!;
        const mi = (m[i] = b1 * m[i]! + (1 - b1) * g);
        const vi = (v[i] = b2 * v[i]! + (1 - b2) * g * g);
        data[i] = data[i]! - lr * (mi / c1 / (Math.sqrt(vi / c2) + eps) + wd * data[i]!);
      }
    }
  }
}
