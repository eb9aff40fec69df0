// A WebGPU adapter for the tests: the npm webgpu package (Dawn) on whatever Vulkan driver the machine has,
// with SwiftShader's ICD (Debian's chromium-common) selected when it is installed and nothing else is set.
// Returns a one-line reason instead when the package or every adapter is missing.
import { existsSync } from 'node:fs';
import { isHardwareAdapter, openGpu, type GpuContext } from '../../../src/kernels/webgpu/device.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let gpu: GPU | undefined;

/**
 * The GPU object of the webgpu package and whether its adapter is a hardware GPU (which may fuse float
 * multiply-adds; SwiftShader does not), or a reason it cannot be had.
 */
export async function testGpu(): Promise<{ gpu: GPU; hardware: boolean } | { skip: string }> {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  if (!gpu) {
    let mod: { create(opts: string[]): GPU };
    try {
      mod = (await import('webgpu')) as { create(opts: string[]): GPU };
    } catch {
      return { skip: 'the optional npm package webgpu is not installed' };
    }
    gpu = mod.create([]);
  }
  const probe = await openGpu(gpu);
  if (!probe) return { skip: `no WebGPU adapter (no GPU; for SwiftShader install chromium-common and libvulkan1, ${SWIFTSHADER_ICD})` };
  probe.device.destroy();
  return { gpu, hardware: isHardwareAdapter(probe.adapter) };
}

/** A fresh adapter + device on the test GPU. */
export async function testContext(g: GPU): Promise<GpuContext> {
  const ctx = await openGpu(g);
  if (!ctx) throw new Error('the WebGPU adapter went away');
  return ctx;
}
