// Side-by-side with llama.cpp: writes 2B4T-shaped TQ2_0 GGUFs (llama.cpp's `bitnet` architecture; F16 and
// Q8_0 embeddings), then runs llama.cpp (node-llama-cpp, installed on first use into .peer/) and bitnet.ts
// on the same files, same threads, alternating engines every round, each run in its own process, and
// prints the median tokens/s, the ratios and each engine's peak RSS. `--depth 0,1024,4096` (llama-bench's -d)
// times tg after that many prompt tokens (both engines fill the context first, then warm up and time n tokens).
// Run: `npm run bench:peer [-- --threads 2 --rounds 3 --pp 128,512 --tg 128 --depth 0 --node 24 --lm-head exact]`;
// `--pp 0` skips the prompt tests;
// `--node` is the Node binary both engines run on: a path, or a major version (`--node 24` installs the npm
// `node@24` package into .peer/ once), so one machine compares Node 20's portable SIMD and Node 24's relaxed.
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
    depth: { type: 'string', short: 'd', default: '0' },
    embeddings: { type: 'string', default: 'f16,q8_0' },
    node: { type: 'string', default: process.execPath },
    'lm-head': { type: 'string', default: 'int8' },
  },
});
const PEER_VERSION = '3.22.1';
if (!existsSync('.peer/node_modules/node-llama-cpp')) {
  process.stderr.write(`installing node-llama-cpp@${PEER_VERSION} into .peer/ (once) ...\n`);
  const r = spawnSync('npm', ['install', '--prefix', '.peer', '--no-save', '--no-audit', '--no-fund', `node-llama-cpp@${PEER_VERSION}`], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('could not install node-llama-cpp');
}

/** The Node binary for the runs: a path, or `NN` = the npm node@NN package, installed into .peer/nodeNN once. */
function nodeBinary(spec: string): string {
  if (!/^\d+$/.test(spec)) return spec;
  const dir = `.peer/node${spec}`;
  const bin = `${dir}/node_modules/node/bin/node`;
  if (!existsSync(bin)) {
    process.stderr.write(`installing node@${spec} into ${dir}/ (once) ...\n`);
    const r = spawnSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `node@${spec}`], { stdio: 'inherit' });
    if (r.status !== 0 || !existsSync(bin)) throw new Error(`could not install node@${spec}`);
  }
  return bin;
}
const node = nodeBinary(values.node!);
const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
const lmHead = values['lm-head']!;
if (lmHead !== 'int8' && lmHead !== 'exact') throw new Error(`--lm-head is int8 or exact, not ${lmHead}`);

interface Sample {
  tps: number;
  rss: number;
  loadMs: number;
  /** KV cache types (llama.cpp: K/V) */
  kv?: string;
  /** llama.cpp: the context's flash attention setting, and what llama.cpp's log says it resolved to */
  flashAttention?: string;
  /** bitnet.ts, tg: the KV cache's bytes at the end */
  kvBytes?: number;
}

function run(engine: 'llama' | 'bitnet', file: string, kind: 'pp' | 'tg', n: number, threads: number, depth: number): Sample {
  const r = spawnSync(node, ['--import', 'tsx', 'bench/peer-run.ts', engine, file, kind, String(n), String(threads), lmHead, String(depth)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${engine} ${kind}${n} @ d${depth} failed:\n${r.stderr}`);
  return JSON.parse(line) as Sample;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const threads = Number(values.threads);
const rounds = Number(values.rounds);
const numbers = (v: string): number[] => v.split(',').map(Number).filter((n) => n > 0);
const depths = values.depth!.split(',').map(Number);
if (depths.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`--depth takes non-negative integers, not ${values.depth}`);
// prompt tests from an empty context; tg at each depth
const tests: Array<['pp' | 'tg', number, number]> = [...numbers(values.pp!).map((n): ['pp', number, number] => ['pp', n, 0]), ...depths.map((d): ['tg', number, number] => ['tg', Number(values.tg), d])];
const rows: string[] = ['| model | test | llama.cpp t/s | bitnet.ts t/s | ratio | llama.cpp RSS | bitnet.ts RSS |', '| --- | --- | ---: | ---: | ---: | ---: | ---: |'];
const settings = new Set<string>();
const kvHeld: string[] = [];
for (const embedding of values.embeddings!.split(',')) {
  const file = await resolveSyntheticModel(`synthetic:2b4t:tq2_0:${embedding}:bitnet`, (d, t) => process.stderr.write(`\rwriting 2B4T TQ2_0+${embedding}: ${d}/${t} tensors`));
  process.stderr.write('\n');
  for (const [kind, n, depth] of tests) {
    const name = `${kind}${n}${depth ? ` @ d${depth}` : ''}`;
    const s: Record<'llama' | 'bitnet', Sample[]> = { llama: [], bitnet: [] };
    for (let r = 0; r < rounds; r++) {
      const order: Array<'llama' | 'bitnet'> = r % 2 === 0 ? ['llama', 'bitnet'] : ['bitnet', 'llama'];
      for (const engine of order) {
        const sample = run(engine, file, kind, n, threads, depth);
        s[engine].push(sample);
        process.stderr.write(`${embedding} ${name} round ${r + 1} ${engine}: ${sample.tps.toFixed(2)} t/s\n`);
      }
    }
    const l = median(s.llama.map((x) => x.tps));
    const b = median(s.bitnet.map((x) => x.tps));
    const gb = (x: Sample[]) => `${(Math.max(...x.map((y) => y.rss)) / 1e9).toFixed(2)} GB`;
    rows.push(`| 2B4T TQ2_0 + ${embedding.toUpperCase()} embedding${lmHead === 'exact' ? ', exact lm_head' : ''} | ${name} | ${l.toFixed(2)} | ${b.toFixed(2)} | **${(b / l).toFixed(2)}x** | ${gb(s.llama)} | ${gb(s.bitnet)} |`);
    const first = (e: 'llama' | 'bitnet') => s[e][0]!;
    settings.add(`llama.cpp: KV cache ${first('llama').kv ?? '?'}, flash attention ${first('llama').flashAttention ?? '?'}; bitnet.ts: KV cache ${first('bitnet').kv ?? '?'}`);
    const held = first('bitnet').kvBytes;
    if (kind === 'tg' && held !== undefined) kvHeld.push(`${name} ${(held / 1e6).toFixed(1)} MB`);
  }
}
const notes = [...settings, ...(kvHeld.length ? [`bitnet.ts KV cache bytes at the end of each tg run: ${[...new Set(kvHeld)].join(', ')}`] : [])];
process.stdout.write(`${rows.join('\n')}\n\n${notes.join('\n')}\n${threads} threads, median of ${rounds} alternating rounds, node ${nodeVersion}\n`);
