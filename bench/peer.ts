// Side-by-side with llama.cpp: writes 2B4T-shaped TQ2_0 GGUFs (llama.cpp's `bitnet` architecture; F16 and
// Q8_0 embeddings), then runs llama.cpp (node-llama-cpp, installed on first use into .peer/) and bitnet.ts
// on the same files, same threads, alternating engines every round, each run in its own process, and
// prints the median tokens/s, the ratios and each engine's peak RSS.
// Run: `npm run bench:peer [-- --threads 2 --rounds 3 --pp 512 --tg 128]` (use Node >= 22 for relaxed SIMD).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolveSyntheticModel } from '../src/engine/bench.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    pp: { type: 'string', default: '512' },
    tg: { type: 'string', default: '128' },
    embeddings: { type: 'string', default: 'f16,q8_0' },
  },
});
const PEER_VERSION = '3.22.1';
if (!existsSync('.peer/node_modules/node-llama-cpp')) {
  process.stderr.write(`installing node-llama-cpp@${PEER_VERSION} into .peer/ (once) ...\n`);
  const r = spawnSync('npm', ['install', '--prefix', '.peer', '--no-save', '--no-audit', '--no-fund', `node-llama-cpp@${PEER_VERSION}`], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('could not install node-llama-cpp');
}

interface Sample {
  tps: number;
  rss: number;
  loadMs: number;
}

function run(engine: 'llama' | 'bitnet', file: string, kind: 'pp' | 'tg', n: number, threads: number): Sample {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/peer-run.ts', engine, file, kind, String(n), String(threads)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${engine} ${kind}${n} failed:\n${r.stderr}`);
  return JSON.parse(line) as Sample;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const threads = Number(values.threads);
const rounds = Number(values.rounds);
const tests: Array<['pp' | 'tg', number]> = [['pp', Number(values.pp)], ['tg', Number(values.tg)]];
const rows: string[] = ['| model | test | llama.cpp t/s | bitnet.ts t/s | ratio | llama.cpp RSS | bitnet.ts RSS |', '| --- | --- | ---: | ---: | ---: | ---: | ---: |'];
for (const embedding of values.embeddings!.split(',')) {
  const file = await resolveSyntheticModel(`synthetic:2b4t:tq2_0:${embedding}:bitnet`, (d, t) => process.stderr.write(`\rwriting 2B4T TQ2_0+${embedding}: ${d}/${t} tensors`));
  process.stderr.write('\n');
  for (const [kind, n] of tests) {
    const s: Record<'llama' | 'bitnet', Sample[]> = { llama: [], bitnet: [] };
    for (let r = 0; r < rounds; r++) {
      const order: Array<'llama' | 'bitnet'> = r % 2 === 0 ? ['llama', 'bitnet'] : ['bitnet', 'llama'];
      for (const engine of order) {
        const sample = run(engine, file, kind, n, threads);
        s[engine].push(sample);
        process.stderr.write(`${embedding} ${kind}${n} round ${r + 1} ${engine}: ${sample.tps.toFixed(2)} t/s\n`);
      }
    }
    const l = median(s.llama.map((x) => x.tps));
    const b = median(s.bitnet.map((x) => x.tps));
    const gb = (x: Sample[]) => `${(Math.max(...x.map((y) => y.rss)) / 1e9).toFixed(2)} GB`;
    rows.push(`| 2B4T TQ2_0 + ${embedding.toUpperCase()} embedding | ${kind}${n} | ${l.toFixed(2)} | ${b.toFixed(2)} | **${(b / l).toFixed(2)}x** | ${gb(s.llama)} | ${gb(s.bitnet)} |`);
  }
}
process.stdout.write(`${rows.join('\n')}\n\n${threads} threads, median of ${rounds} alternating rounds, node ${process.version}\n`);
