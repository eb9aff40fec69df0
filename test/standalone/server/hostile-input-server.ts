// Child process of hostile-input.test.ts: a server on the fixture model, so that the attacking clients'
// own work and memory (the parent) do not count in /health's latency or the server's RSS. Answers 'mem'
// (RSS after a full GC) and 'close' over IPC, as soak-server.ts does.
import { serve } from './helpers.js';

const server = await serve({ parallel: 2, maxQueue: 8, metrics: true });
process.on('message', async (msg: string) => {
  if (msg === 'mem') {
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 20));
    process.send!({ rss: process.memoryUsage().rss });
  } else if (msg === 'close') {
    await server.close();
    process.disconnect();
  }
});
process.send!({ url: server.url, contextSize: server.state.scheduler!.contextSize });
