// The model that ships with the package (models/, trained by `bitnet train` on TinyStories; see
// models/README.md): what model-taking commands use when no -m is given, so they work offline at once.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DEFAULT_MODEL_FILE = 'bitnet-b1.58-tinystories-1m.gguf';

/** Path of the bundled model (src/cli and dist/cli both sit two levels below the package root), if present. */
export function defaultModelPath(): string | undefined {
  const path = fileURLToPath(new URL(`../../models/${DEFAULT_MODEL_FILE}`, import.meta.url));
  return existsSync(path) ? path : undefined;
}
