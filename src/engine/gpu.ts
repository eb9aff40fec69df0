// The WebGPU entry point for loadModel: navigator.gpu in browsers; in Node the optional npm package
// `webgpu` (Dawn), created once per process. Undefined when neither exists, so 'auto' falls back to WASM.
// For 'auto' on Linux, Dawn is only loaded when the machine has a GPU device node: Dawn and the Vulkan
// loader print warnings on stderr when they find no usable adapter (a headless container, lavapipe); for
// 'webgpu' there it is an error that says so, unless VK_ICD_FILENAMES names a (software) Vulkan driver.
import { BitnetError } from '../errors.js';

let nodeGpu: Promise<GPU | undefined> | undefined;

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

/** In Node on Linux: a DRM render node, an NVIDIA device or WSL's GPU device exists. Elsewhere: true. */
export async function mayHaveGpu(): Promise<boolean> {
  if (process.platform !== 'linux') return true;
  try {
    const { existsSync, readdirSync } = await import('node:fs');
    if (existsSync('/dev/nvidia0') || existsSync('/dev/dxg')) return true;
    return existsSync('/dev/dri') && readdirSync('/dev/dri').some((n) => n.startsWith('renderD'));
  } catch {
    return true;
  }
}

/** The GPU object for `kind`: any for 'webgpu'; for 'auto' only where a GPU may exist. */
export async function webGpu(kind: 'auto' | 'webgpu'): Promise<GPU | undefined> {
  const nav = typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
  if (nav) return nav;
  if (!isNode()) return undefined;
  if (!(await mayHaveGpu())) {
    if (kind === 'auto') return undefined;
    // 'webgpu' on a machine without a GPU: say so plainly instead of loading Dawn, whose Vulkan probe prints
    // native warnings before it finds no adapter (a software Vulkan driver named by VK_ICD_FILENAMES is tried)
    if (!process.env.VK_ICD_FILENAMES) {
      throw new BitnetError('INVALID_ARGUMENT', 'WebGPU: this machine has no GPU (no /dev/dri render node, /dev/nvidia0 or /dev/dxg); use --backend cpu, or set VK_ICD_FILENAMES to a software Vulkan driver', { name: 'backend' });
    }
  }
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
