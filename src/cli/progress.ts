// stderr output for the CLI: a load progress bar when stderr is a terminal (one line otherwise, nothing
// animated under CI or --no-progress), warnings, and the llama.cpp-style timing line after a generation.
import type { LoadProgressEvent } from '../engine/load.js';
import type { GenerationStats } from '../generate/generate.js';

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
