// Vite config of the browser app (web/): a static page, cross-origin isolated (COOP/COEP on the dev and
// preview servers, so SharedArrayBuffer and the WASM kernel threads work), workers bundled as ES modules,
// and the bundled default model served at models/<name>.gguf (dev: from ../models, build: copied into dist).
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const DEFAULT_MODEL = 'bitnet-b1.58-tinystories-1m.gguf';
const modelFile = fileURLToPath(new URL(`../models/${DEFAULT_MODEL}`, import.meta.url));

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** Serves the package's default model as a static asset of the app without a second copy in the repository. */
function defaultModel(): Plugin {
  return {
    name: 'bitnet-default-model',
    configureServer(server) {
      server.middlewares.use(`/models/${DEFAULT_MODEL}`, (req, res) => {
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Content-Length', String(statSync(modelFile).size));
        if (req.method === 'HEAD') return void res.end();
        createReadStream(modelFile).pipe(res);
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: `models/${DEFAULT_MODEL}`, source: readFileSync(modelFile) });
    },
  };
}

/**
 * node: modules in the browser bundle: the engine imports them only dynamically, on Node-only paths (file paths,
 * worker_threads, /proc/cpuinfo); here they become modules that fail to import with a clear message.
 */
function nodeBuiltinsFail(): Plugin {
  return {
    name: 'bitnet-node-builtins',
    enforce: 'pre',
    resolveId(id) {
      return id.startsWith('node:') ? `\0browser-missing:${id}` : null;
    },
    load(id) {
      if (!id.startsWith('\0browser-missing:')) return null;
      const name = id.slice('\0browser-missing:'.length);
      return `throw new Error(${JSON.stringify(`${name} is not available in a browser`)});\nexport {};`;
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [nodeBuiltinsFail(), defaultModel()],
  worker: { format: 'es', plugins: () => [nodeBuiltinsFail()] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
  },
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
});
