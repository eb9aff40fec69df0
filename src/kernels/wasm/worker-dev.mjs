// Development bootstrap of a kernel worker when running from TypeScript sources (tests, `tsx`): registers
// tsx in this thread (Node 20 does not pass loader hooks to workers), then runs worker.ts. Not in dist/.
import { register } from 'tsx/esm/api';
register();
await import('./worker.ts');
