// The browser app (web/) end to end: built with Vite, served by Vite's preview server (cross-origin isolated)
// and by a plain server (not isolated), driven in Debian's headless Chromium through playwright-core. The
// page's text for a fixed prompt and seed must equal the CLI's; URL downloads show progress and come from
// the OPFS cache after a reload; WebGPU runs on SwiftShader. Skipped when /usr/bin/chromium is absent.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, createServer as createViteServer, preview, type PreviewServer } from 'vite';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = join(root, 'models/bitnet-b1.58-tinystories-1m.gguf');
const PROMPT = 'Once upon a time';
const SEED = 1;
const N = 32;
const skip = existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium)`;

// headless, root (no sandbox), and nothing that reaches the network on its own
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const GPU_ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader', '--use-vulkan=swiftshader', '--use-angle=swiftshader'];
const GPU_ENV = { VK_ICD_FILENAMES: '/usr/lib/chromium/vk_swiftshader_icd.json' };

/** Runs in the page (a string: the project's types have no WebGPU declarations): an adapter, a device, a compute shader, its result. */
const GPU_CHECK = `(async () => {
  if (!navigator.gpu) return 'no navigator.gpu';
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return 'no adapter';
  const device = await adapter.requestDevice();
  const code = '@group(0) @binding(0) var<storage, read_write> d: array<u32>;\\n' +
    '@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { d[g.x] = g.x * g.x + 7u; }';
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const n = 256;
  const buf = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(n / 64);
  pass.end();
  enc.copyBufferToBuffer(buf, 0, read, 0, n * 4);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = new Uint32Array(read.getMappedRange());
  for (let i = 0; i < n; i++) if (out[i] !== i * i + 7) return 'wrong value at ' + i + ': ' + out[i];
  return 'ok';
})()`;

/** What `bitnet run` prints for the page's settings (the same sampler values on both sides). */
function cliText(): Promise<string> {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'run', '-m', MODEL, '-p', PROMPT, '--seed', String(SEED), '-n', String(N), '--temp', '0.8', '--top-k', '40', '--top-p', '0.95'];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out.replace(/\n$/, '')) : reject(new Error(`bitnet run exited ${code}: ${err}`))));
  });
}

/** A plain static server of the built app (no COOP/COEP) that also serves the model cross-origin, counting requests and sending it slowly. */
function plainServer(dist: string): Promise<{ server: Server; url: string; modelRequests: () => number }> {
  let requests = 0;
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/remote/model.gguf') {
      requests++;
      const bytes = readFileSync(MODEL);
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(bytes.length),
        'Access-Control-Allow-Origin': '*',
        'Cross-Origin-Resource-Policy': 'cross-origin',
      });
      // 64 KB every 15 ms: the page sees several progress updates
      let off = 0;
      const step = (): void => {
        if (off >= bytes.length) return void res.end();
        res.write(bytes.subarray(off, off + 65536));
        off += 65536;
        setTimeout(step, 15);
      };
      return step();
    }
    const file = join(dist, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dist) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, modelRequests: () => requests })),
  );
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** A full-page screenshot, kept in $BITNET_SCREENSHOT_DIR when set (to look at), else in a temporary folder. */
async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.BITNET_SCREENSHOT_DIR ?? mkdtempSync(join(tmpdir(), 'bitnet-shot-'));
  const shot = join(dir, name);
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 10_000, `${name} looks empty`);
  if (!process.env.BITNET_SCREENSHOT_DIR) rmSync(dir, { recursive: true, force: true });
}

/** Loads the default model with its button on `backend` and generates the fixed prompt; returns the generated text. */
async function loadAndGenerate(page: Page, backend: 'cpu' | 'webgpu'): Promise<string> {
  await page.selectOption('#backend', backend);
  await page.click('#load-default');
  await page.waitForSelector('#model-info[data-state="ready"], #model-info[data-state="error"]', { timeout: 30_000 });
  assert.equal(await page.getAttribute('#model-info', 'data-state'), 'ready', await page.textContent('#model-info') ?? '');
  await page.fill('#prompt', PROMPT);
  await page.fill('#seed', String(SEED));
  await page.fill('#max-tokens', String(N));
  await page.click('#generate');
  await page.waitForSelector('#stats[data-state="done"], #stats[data-state="error"]', { timeout: 30_000 });
  assert.equal(await page.getAttribute('#stats', 'data-state'), 'done', await page.textContent('#stats') ?? '');
  return (await page.textContent('#output .gen')) ?? '';
}

describe('browser app (web/) in headless Chromium', { skip }, () => {
  let dist: string;
  let vite: PreviewServer;
  let appUrl: string;
  let plain: Awaited<ReturnType<typeof plainServer>>;
  let browser: Browser;
  let expected: Promise<string>;

  before(async () => {
    expected = cliText();
    expected.catch(() => undefined); // awaited by the tests
    dist = mkdtempSync(join(tmpdir(), 'bitnet-web-'));
    const configFile = join(root, 'web/vite.config.ts');
    await build({ configFile, logLevel: 'warn', build: { outDir: dist, emptyOutDir: true } });
    vite = await preview({ configFile, logLevel: 'warn', build: { outDir: dist }, preview: { host: '127.0.0.1', port: await freePort(), strictPort: true } });
    appUrl = vite.resolvedUrls!.local[0]!;
    plain = await plainServer(dist);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: BASE_ARGS });
  });

  after(async () => {
    await browser?.close();
    await vite?.close();
    plain?.server.close();
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  test('default model, completion on the CPU: cross-origin isolated, all threads, the CLI\'s text', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(appUrl);
    assert.equal(await page.getAttribute('#isolation', 'data-isolated'), 'true');
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    const text = await loadAndGenerate(page, 'cpu');
    assert.equal(text, await expected);
    assert.match((await page.getAttribute('#model-info', 'data-backend')) ?? '', /^wasm-/);
    const threads = Number(await page.getAttribute('#model-info', 'data-threads'));
    assert.equal(threads, Math.max(1, cores));
    if (cores > 1) assert.ok(threads > 1);
    const stats = (await page.textContent('#stats')) ?? '';
    assert.match(stats, new RegExp(`generated ${N} tokens at \\d+\\.\\d tokens/s`));
    assert.match(stats, /WASM memory \d+\.\d+ MB · weights 0\.\d+ MB · KV cache 0\.\d+ MB/);
    await screenshot(page, 'app-cpu.png');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('URL download: progress, stored in OPFS, a reload loads it from the cache without a request; clear cache', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(appUrl);
    await page.evaluate(() => {
      const seen: string[] = ((window as unknown as { progressSeen: string[] }).progressSeen = []);
      const el = document.getElementById('progress-text')!;
      new MutationObserver(() => seen.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
    });
    const modelUrl = `${plain.url}remote/model.gguf`;
    await page.fill('#url', modelUrl);
    await page.click('#download');
    await page.waitForSelector('#model-info[data-state="ready"]', { timeout: 30_000 });
    assert.equal(await page.getAttribute('#progress-text', 'data-source'), 'network');
    const seen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);
    const downloads = seen.filter((s) => /^downloading: \d+\.\d+ MB of 0\.80 MB \(\d+%\), \d+\.\d+ MB\/s$/.test(s));
    assert.ok(downloads.length >= 2, `progress lines: ${JSON.stringify(seen)}`);
    assert.equal(plain.modelRequests(), 1);
    assert.match((await page.textContent('#cache-info')) ?? '', /cached: model\.gguf \(0\.80 MB\)/);

    await page.reload();
    assert.equal(await page.inputValue('#url'), modelUrl); // remembered
    await page.click('#download');
    await page.waitForSelector('#model-info[data-state="ready"]', { timeout: 30_000 });
    assert.equal(await page.getAttribute('#progress-text', 'data-source'), 'cache');
    assert.match((await page.textContent('#progress-text')) ?? '', /^from cache \(0\.80 MB, no download\)/);
    assert.equal(plain.modelRequests(), 1);

    await page.click('#clear-cache');
    await page.waitForFunction(() => document.getElementById('cache-info')?.textContent === 'cache empty');
    await page.click('#download');
    await page.waitForSelector('#model-info[data-state="ready"]', { timeout: 30_000 });
    assert.equal(await page.getAttribute('#progress-text', 'data-source'), 'network');
    assert.equal(plain.modelRequests(), 2);
    await ctx.close();
  });

  test('not cross-origin isolated: says so, runs 1 thread, the same text', async () => {
    const page = await browser.newPage();
    await page.goto(plain.url);
    assert.equal(await page.getAttribute('#isolation', 'data-isolated'), 'false');
    assert.match((await page.textContent('#isolation')) ?? '', /Not cross-origin isolated.*1 thread/);
    const text = await loadAndGenerate(page, 'cpu');
    assert.equal(await page.getAttribute('#model-info', 'data-threads'), '1');
    assert.equal(text, await expected);
    await page.close();
  });

  test('chat mode streams a reply through the chat template; Stop ends it', async () => {
    const page = await browser.newPage();
    await page.goto(appUrl);
    await loadAndGenerate(page, 'cpu');
    await page.check('input[name="mode"][value="chat"]');
    await page.fill('#prompt', 'Tell me a story.');
    await page.fill('#max-tokens', '-1');
    await page.fill('#seed', '3');
    await page.click('#generate');
    await page.waitForFunction(() => (document.querySelector('#output .gen')?.textContent ?? '').length > 0, undefined, { timeout: 30_000 });
    await page.click('#stop');
    await page.waitForSelector('#stats[data-state="stopped"], #stats[data-state="done"]', { timeout: 30_000 });
    assert.match((await page.textContent('#output .user')) ?? '', /Tell me a story\./);
    assert.ok(((await page.textContent('#output .gen')) ?? '').length > 0);
    assert.equal(await page.isEnabled('#generate'), true);
    await page.close();
  });

  test('dev server (npm run web): isolated, a GGUF from the file picker, the CLI\'s text', async () => {
    const dev = await createViteServer({ configFile: join(root, 'web/vite.config.ts'), logLevel: 'warn', server: { host: '127.0.0.1', port: await freePort(), strictPort: true } });
    await dev.listen();
    const page = await browser.newPage();
    try {
      await page.goto(dev.resolvedUrls!.local[0]!);
      assert.equal(await page.getAttribute('#isolation', 'data-isolated'), 'true');
      await page.selectOption('#backend', 'cpu');
      await page.setInputFiles('#file', MODEL);
      await page.waitForSelector('#model-info[data-state="ready"], #model-info[data-state="error"]', { timeout: 30_000 });
      assert.match((await page.textContent('#model-info')) ?? '', /^bitnet-b1\.58-tinystories-1m\.gguf loaded/);
      assert.match((await page.textContent('#progress-text')) ?? '', /^local file \(0\.80 MB\)/);
      await page.fill('#seed', String(SEED));
      await page.fill('#max-tokens', String(N));
      await page.click('#generate');
      await page.waitForSelector('#stats[data-state="done"]', { timeout: 30_000 });
      assert.equal(await page.textContent('#output .gen'), await expected);
    } finally {
      await page.close();
      await dev.close();
    }
  });

  describe('WebGPU on SwiftShader', () => {
    let gpuBrowser: Browser;
    before(async () => {
      gpuBrowser = await chromium.launch({ executablePath: CHROMIUM, args: [...BASE_ARGS, ...GPU_ARGS], env: { ...process.env, ...GPU_ENV } });
    });
    after(async () => gpuBrowser?.close());

    test('navigator.gpu has an adapter that runs a compute shader; the backend selector offers webgpu', async () => {
      const page = await gpuBrowser.newPage();
      await page.goto(appUrl);
      const result = await page.evaluate(GPU_CHECK);
      assert.equal(result, 'ok');
      assert.equal(await page.isDisabled('#backend option[value="webgpu"]'), false);
      await page.close();
    });

    test('default model on the webgpu backend: the CLI\'s text', async () => {
      const page = await gpuBrowser.newPage();
      await page.goto(appUrl);
      const text = await loadAndGenerate(page, 'webgpu');
      assert.match((await page.getAttribute('#model-info', 'data-backend')) ?? '', /webgpu/);
      assert.equal(text, await expected);
      await screenshot(page, 'app-webgpu.png');
      await page.close();
    });
  });
});
