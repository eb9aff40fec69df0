// Browser benchmark (not a test): the web app (web/, Vite build, cross-origin isolated preview server) in
// Debian's headless Chromium loads a model through its file picker (the 2B4T-shaped synthetic GGUF by
// default), generates greedily, and reports load time, prompt/generation tokens/s and the peak memory of
// all Chromium processes (PSS); the Node CLI runs the same prompt on the same file beside it.
// Run: `npm run bench:browser [-- --model PATH|synthetic:2b4t --tokens 32 --prompt TEXT --backend cpu]`
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { build, preview } from 'vite';
import { resolveSyntheticModel } from '../src/engine/bench.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'synthetic:2b4t' },
    tokens: { type: 'string', default: '32' },
    prompt: { type: 'string', default: 'Once upon a time, in a small town, there was a little girl' },
    backend: { type: 'string', default: 'cpu' },
  },
});
const root = fileURLToPath(new URL('../', import.meta.url));
const model = values.model!.startsWith('synthetic:') ? await resolveSyntheticModel(values.model!, (d, t) => process.stderr.write(`\rwriting synthetic model ${((100 * d) / t).toFixed(0)}%`)) : values.model!;
const N = Number(values.tokens);
const fileGB = statSync(model).size / 1e9;

/** Child pids by parent pid, from /proc. */
function childrenByParent(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // the process ended
    }
  }
  return children;
}

/** Proportional set size (bytes) of a process and all its descendants, from /proc. */
function treePss(pid: number): number {
  const children = childrenByParent();
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      total += Number(m?.[1] ?? 0) * 1024;
    } catch {
      // the process ended
    }
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

/** Samples treePss(pid) every 200 ms until stopped; returns the peak. */
function peakSampler(pid: () => number | undefined): { stop: () => number } {
  let peak = 0;
  const timer = setInterval(() => {
    const p = pid();
    if (p !== undefined) peak = Math.max(peak, treePss(p));
  }, 200);
  return {
    stop: () => {
      clearInterval(timer);
      const p = pid();
      if (p !== undefined) peak = Math.max(peak, treePss(p));
      return peak;
    },
  };
}

interface Row {
  where: string;
  loadS: number;
  pp: number;
  tg: number;
  peakGB: number;
  text: string;
}

async function browserRun(): Promise<Row> {
  const dist = mkdtempSync(join(tmpdir(), 'bitnet-web-bench-'));
  const configFile = join(root, 'web/vite.config.ts');
  await build({ configFile, logLevel: 'warn', build: { outDir: dist, emptyOutDir: true } });
  const server = await preview({ configFile, logLevel: 'warn', build: { outDir: dist }, preview: { host: '127.0.0.1', port: 0 } });
  const url = server.resolvedUrls!.local[0]!;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  // playwright-core starts Chromium as a child of this process
  const pidOf = (): number | undefined => findChild('chromium');
  try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.selectOption('#backend', values.backend!);
    const mem = peakSampler(pidOf);
    const t0 = performance.now();
    await page.setInputFiles('#file', model);
    await page.waitForSelector('#model-info[data-state="ready"], #model-info[data-state="error"]', { timeout: 600_000 });
    const loadS = (performance.now() - t0) / 1000;
    if ((await page.getAttribute('#model-info', 'data-state')) !== 'ready') throw new Error(`load failed: ${await page.textContent('#model-info')}`);
    await page.fill('#prompt', values.prompt!);
    await page.fill('#temperature', '0');
    await page.fill('#max-tokens', String(N));
    await page.click('#generate');
    await page.waitForSelector('#stats[data-state="done"], #stats[data-state="error"]', { timeout: 600_000 });
    const stats = (await page.textContent('#stats')) ?? '';
    const peak = mem.stop();
    const m = /at ([\d.]+) tokens\/s · generated \d+ tokens at ([\d.]+) tokens\/s/.exec(stats);
    if (!m) throw new Error(`no stats: ${stats}`);
    const info = (await page.textContent('#model-info')) ?? '';
    const where = `Chromium (${/Backend (.*?) on/.exec(info)?.[1] ?? values.backend} x${await page.getAttribute('#model-info', 'data-threads')})`;
    return { where, loadS, pp: Number(m[1]), tg: Number(m[2]), peakGB: peak / 1e9, text: (await page.textContent('#output .gen')) ?? '' };
  } finally {
    await browser.close();
    await server.close();
    rmSync(dist, { recursive: true, force: true });
  }
}

/** A child of this process whose command line contains `name`. */
function findChild(name: string): number | undefined {
  return (childrenByParent().get(process.pid) ?? []).find((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(name);
    } catch {
      return false;
    }
  });
}

async function nodeRun(): Promise<Row> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', '-m', model, '-p', values.prompt!, '-n', String(N), '--temp', '0', '--backend', values.backend!], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const mem = peakSampler(() => child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const peak = mem.stop();
  if (code !== 0) throw new Error(`bitnet run failed: ${stderr}`);
  const load = /\) in ([\d.]+) s/.exec(stderr);
  const t = /prompt: \d+ tokens in \d+ ms \(([\d.]+) tokens\/s\) \| generation: \d+ tokens in \d+ ms \(([\d.]+) tokens\/s\)/.exec(stderr);
  const backend = /, (\S+ x\d+)\) in/.exec(stderr)?.[1] ?? values.backend;
  return { where: `Node ${process.version} (${backend})`, loadS: Number(load?.[1] ?? NaN), pp: Number(t?.[1] ?? NaN), tg: Number(t?.[2] ?? NaN), peakGB: peak / 1e9, text: stdout };
}

process.stderr.write(`\nmodel ${model} (${fileGB.toFixed(2)} GB), prompt "${values.prompt}", ${N} tokens greedy, backend ${values.backend}\n`);
const rows: Row[] = [];
rows.push(await nodeRun());
rows.push(await browserRun());
console.log('| runtime | load s | prompt t/s | generation t/s | peak memory (PSS, all processes) |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.where} | ${r.loadS.toFixed(1)} | ${r.pp.toFixed(1)} | ${r.tg.toFixed(1)} | ${r.peakGB.toFixed(2)} GB |`);
const same = rows[1]!.text.trim() === rows[0]!.text.trim();
console.log(`\nsame greedy text in both: ${same ? 'yes' : 'NO'}; model file ${fileGB.toFixed(2)} GB`);
if (!same) console.log(`node:    ${JSON.stringify(rows[0]!.text)}\nbrowser: ${JSON.stringify(rows[1]!.text)}`);
