// Child process of the soak test: a server on the fixture model whose memory the test samples over IPC
// (after a full GC, so garbage not yet collected is not mistaken for a leak); the client is the parent.
import { serve } from './helpers.js';

const server = await serve({ parallel: 4, maxQueue: 16 });
process.on('message', async (msg: string) => {
  if (msg === 'mem') {
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 20));
    process.send!({ rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed, finished: server.state.scheduler!.stats().requestsFinished });
  } else if (msg === 'close') {
    await server.close();
    process.disconnect();
  }
});
process.send!({ url: server.url });
