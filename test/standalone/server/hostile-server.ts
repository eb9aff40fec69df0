// Child process of the hostile-transport tests: a server on the fixture model with the options given as
// JSON in argv[2], whose memory and live handlers the test samples over IPC (memory after a full GC, so
// garbage not yet collected is not mistaken for a leak); the attacker is the parent.
import { serve } from './helpers.js';

const server = await serve(JSON.parse(process.argv[2] ?? '{}'));
process.on('message', async (msg: string) => {
  if (msg === 'mem') {
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 20));
    const s = server.state;
    process.send!({ rss: process.memoryUsage().rss, live: s.handlers.live, connections: s.connections, cutOff: s.counters.cutOff, busy: s.scheduler!.stats().busySlots, queued: s.scheduler!.stats().queued });
  } else if (msg === 'close') {
    await server.close({ graceMs: 1000 });
    process.disconnect();
  }
});
process.send!({ url: server.url });
