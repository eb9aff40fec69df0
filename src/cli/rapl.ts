// Measured energy for `bitnet bench --efficiency`: Linux RAPL package counters (/sys/class/powercap/
// intel-rapl:N/energy_uj, microjoules, wrapping at max_energy_range_uj) read before and after the timed runs.
// They count the whole package (every process on it), and are root-only on most kernels since 5.10.
// BITNET_RAPL_ROOT points `bitnet bench --efficiency` at another folder (the tests' fake sysfs).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EnergyMeter } from '../engine/efficiency.js';

export const RAPL_ROOT = '/sys/class/powercap';

export interface RaplDomain {
  /** the domain's folder */
  path: string;
  /** its `name` file (package-0, ...) */
  name: string;
  /** the counter's range in microjoules (it wraps to 0 there) */
  maxRange: number;
}

const reason = (e: unknown, what: string): string => {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return `permission denied reading ${what} (RAPL counters are root-only on most kernels)`;
  if (code === 'ENOENT') return `no ${what}`;
  return `${what}: ${(e as Error).message}`;
};

/** The package domains (top-level intel-rapl:N / amd-rapl:N folders named package-*), or why there are none. */
export function raplDomains(root = RAPL_ROOT): RaplDomain[] | string {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch (e) {
    return reason(e, root);
  }
  const domains: RaplDomain[] = [];
  for (const d of entries.filter((e) => /^(intel|amd)-rapl:\d+$/.test(e)).sort()) {
    const path = join(root, d);
    let name: string;
    let maxRange: number;
    try {
      name = readFileSync(join(path, 'name'), 'utf8').trim();
      maxRange = Number(readFileSync(join(path, 'max_energy_range_uj'), 'utf8').trim());
    } catch (e) {
      return reason(e, join(path, 'name'));
    }
    if (name.startsWith('package')) domains.push({ path, name, maxRange });
  }
  return domains.length ? domains : `no RAPL package domain under ${root}`;
}

/** One reading of every domain's counter in microjoules, or why it could not be read. */
export function readRapl(domains: readonly RaplDomain[]): number[] | string {
  const out: number[] = [];
  for (const d of domains) {
    const file = join(d.path, 'energy_uj');
    try {
      out.push(Number(readFileSync(file, 'utf8').trim()));
    } catch (e) {
      return reason(e, file);
    }
  }
  return out;
}

/** Microjoules from `a` to `b` of a counter that wraps at `max` (one wrap at most between the readings). */
export function raplDelta(a: number, b: number, max: number): number {
  return b >= a ? b - a : b + max - a;
}

/** A meter over the package domains under `root`: joules between start() and stop(), or "not available: ...". */
export function raplMeter(root = RAPL_ROOT): EnergyMeter {
  let begin: number[] | string = 'not started';
  const domains = raplDomains(root);
  return {
    start() {
      begin = typeof domains === 'string' ? domains : readRapl(domains);
    },
    stop() {
      if (typeof domains === 'string') return `not available: ${domains}`;
      if (typeof begin === 'string') return `not available: ${begin}`;
      const end = readRapl(domains);
      if (typeof end === 'string') return `not available: ${end}`;
      const start = begin;
      const uj = domains.reduce((a, d, i) => a + raplDelta(start[i]!, end[i]!, d.maxRange), 0);
      return uj / 1e6;
    },
  };
}
