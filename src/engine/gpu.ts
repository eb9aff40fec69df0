// The WebGPU entry point for loadModel: navigator.gpu in browsers; in Node the optional npm package
// `webgpu` (Dawn), created once per process. Undefined when neither exists, so 'auto' falls back to WASM.
let nodeGpu: Promise<GPU | undefined> | undefined;

export function webGpu(): Promise<GPU | undefined> {
  const nav = typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
  if (nav) return Promise.resolve(nav);
  if (typeof process === 'undefined' || !process.versions?.node) return Promise.resolve(undefined);
  nodeGpu ??= (async () => {
    try {
      const name = 'webgpu'; // not a static specifier: browser bundlers must not try to bundle Dawn
      const mod = (await import(/* @vite-ignore */ name)) as { create(flags: string[]): GPU };
      return mod.create([]);
    } catch {
      return undefined; // the optional dependency is not installed (or has no build for this platform)
    }
  })();
  return nodeGpu;
}
