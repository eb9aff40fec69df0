// Test helpers for the server: one tiny fixture model file per test process, servers on 127.0.0.1 with a
// free port, and small fetch/SSE utilities.
import { join } from 'node:path';
import { startServer, type RunningServer, type ServeOptions } from '../../../src/server/serve.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

let fixture: Promise<string> | undefined;

/** The tiny I2_S fixture model (written once per process). */
export function fixtureModel(): Promise<string> {
  return (fixture ??= (async () => {
    const path = join(tempDir('server'), 'tiny.gguf');
    await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16' });
    return path;
  })());
}

/** A loaded server on a free loopback port. */
export async function serve(opts: Partial<ServeOptions> = {}): Promise<RunningServer> {
  const server = await startServer({ model: await fixtureModel(), port: 0, parallel: 4, modelId: 'tiny', load: { threads: 2 }, ...opts });
  await server.ready;
  return server;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: (typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body)) as string });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}

/** Reads an SSE response into its events: data payloads (parsed JSON or the raw string) and comment lines. */
export async function readSse(res: Response): Promise<Array<{ data?: any; comment?: string }>> {
  const text = await res.text();
  const events: Array<{ data?: any; comment?: string }> = [];
  for (const block of text.split('\n\n')) {
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) events.push({ comment: line.slice(1).trim() });
      else if (line.startsWith('data: ')) {
        const d = line.slice(6);
        events.push({ data: d === '[DONE]' ? d : JSON.parse(d) });
      }
    }
  }
  return events;
}
