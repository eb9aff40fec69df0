// stderr output for the CLI: load and download progress bars when stderr is a terminal (plain lines otherwise,
// nothing animated under CI or --no-progress), warnings, and the llama.cpp-style timing line after a generation.
import type { LoadProgressEvent } from '../engine/load.js';
import type { GenerationStats } from '../generate/generate.js';
import type { DownloadProgress } from '../hub/index.js';

export function loadProgress(enabled: boolean): { onProgress: (p: LoadProgressEvent) => void; done: (ms: number, what: string) => void } {
  const tty = enabled && process.stderr.isTTY === true && !process.env.CI;
  let last = -1;
  return {
    onProgress(p) {
      if (!tty || p.phase !== 'weights' || p.total === 0) return;
      const pct = Math.floor((100 * p.loaded) / p.total);
      if (pct === last) return;
      last = pct;
      const width = 30;
      const fill = Math.round((width * p.loaded) / p.total);
      process.stderr.write(`\rloading ${'█'.repeat(fill)}${'░'.repeat(width - fill)} ${String(pct).padStart(3)}% ${mb(p.loaded)}/${mb(p.total)}`);
    },
    done(ms, what) {
      if (tty && last >= 0) process.stderr.write('\r\x1b[2K');
      if (enabled) process.stderr.write(`loaded ${what} in ${(ms / 1000).toFixed(2)} s\n`);
    },
  };
}

export function mb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

export function warn(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

export function timingLine(s: GenerationStats): string {
  const evaluated = s.promptTokens - s.cachedTokens;
  const cached = s.cachedTokens ? ` (+${s.cachedTokens} cached)` : '';
  return (
    `prompt: ${evaluated} tokens${cached} in ${s.promptMs.toFixed(0)} ms (${s.promptTokensPerSecond.toFixed(2)} tokens/s) | ` +
    `generation: ${s.generatedTokens} tokens in ${s.generateMs.toFixed(0)} ms (${s.tokensPerSecond.toFixed(2)} tokens/s) | ` +
    `finish: ${s.finishReason} | seed: ${s.seed}`
  );
}

/** Seconds as 42s, 3m07s or 1h05m ('?' when unknown). */
export function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  return t >= 3600 ? `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m` : t >= 60 ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
}

/**
 * A download progress display on stderr: a bar with bytes, speed and ETA redrawn in place on a terminal;
 * otherwise plain lines (start, every 10%, done), nothing at all when disabled.
 */
export function downloadProgress(enabled: boolean): (p: DownloadProgress) => void {
  const tty = enabled && process.stderr.isTTY === true && !process.env.CI;
  let label = '';
  let t0 = 0;
  let base = 0;
  let lastDraw = 0;
  let lastStep = -1;
  return (p) => {
    if (!enabled) return;
    const now = performance.now();
    if (p.label !== label || p.loaded < base) {
      label = p.label;
      t0 = now;
      base = p.loaded;
      lastStep = -1;
      if (!tty && !p.done) process.stderr.write(`downloading ${label}${p.total !== undefined ? ` (${mb(p.total)})` : ''}${p.loaded > 0 ? `, resuming at ${mb(p.loaded)}` : ''}\n`);
    }
    const secs = (now - t0) / 1000;
    const speed = secs > 0 ? (p.loaded - base) / secs : 0;
    const eta = p.total !== undefined && speed > 0 ? (p.total - p.loaded) / speed : NaN;
    const pct = p.total ? Math.floor((100 * p.loaded) / p.total) : 0;
    const rate = `${mb(speed)}/s`;
    if (p.done) {
      if (tty) process.stderr.write('\r\x1b[2K');
      process.stderr.write(`downloaded ${label} (${mb(p.loaded)}${secs > 0.05 ? ` in ${duration(secs)}, ${rate}` : ''})\n`);
      label = '';
      return;
    }
    if (tty) {
      if (now - lastDraw < 100) return;
      lastDraw = now;
      const width = 24;
      const fill = p.total ? Math.round((width * p.loaded) / p.total) : 0;
      const size = p.total !== undefined ? `${mb(p.loaded)}/${mb(p.total)}` : mb(p.loaded);
      process.stderr.write(`\r\x1b[2K${label} ${'█'.repeat(fill)}${'░'.repeat(width - fill)} ${String(pct).padStart(3)}% ${size} ${rate} ETA ${duration(eta)}`);
    } else if (p.total) {
      const step = Math.floor(pct / 10);
      if (step === lastStep || step >= 10) return;
      if (lastStep >= 0) process.stderr.write(`  ${label}: ${pct}% ${mb(p.loaded)}/${mb(p.total)}, ${rate}, ETA ${duration(eta)}\n`);
      lastStep = step;
    }
  };
}
