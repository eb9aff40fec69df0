// Child process of hostile-input.test.ts: a server on the fixture model, so that the attacking clients'
// own work and memory (the parent) do not count in /health's latency or the server's RSS. Answers 'mem'
// (RSS after a full GC, without the body-measuring thread) and 'close' over IPC, as soak-server.ts does.
import { stopBodyMeasurer } from '../../../src/server/body-measure.js';
import { serve } from './helpers.js';

const server = await serve({ parallel: 2, maxQueue: 8, metrics: true });
process.on('message', async (msg: string) => {
  if (msg === 'mem') {
    // the thread that measures large bodies keeps no state; its heap holds only garbage of the last bodies
    // measured, collected on its own schedule: the server's retained memory is measured without it
    await stopBodyMeasurer();
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 20));
    process.send!({ rss: process.memoryUsage().rss });
  } else if (msg === 'close') {
    await server.close();
    process.disconnect();
  }
});
process.send!({ url: server.url, contextSize: server.state.scheduler!.contextSize });
