// The WebGPU device side of the backend: adapter choice (a real GPU vs a software/fallback adapter), the
// device with the adapter's largest buffer limits, and the recorder every op goes through: compute passes
// encoded into one pending command encoder, per-dispatch parameters in 256-byte slots of uniform arenas,
// one submit when the CPU needs a result. Takes a `GPU` object (navigator.gpu, or the npm webgpu package's
// create()), so this file loads in browsers and imports no npm package.
import { BitnetError } from '../../errors.js';
import { prelude } from './wgsl-common.js';

// GPUBufferUsage / GPUMapMode values (the Node package does not define the globals)
export const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
const MAP_READ_MODE = 1;

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render|warp/i;

/** True when the adapter is a real GPU: not a fallback adapter and not a known CPU rasterizer. */
export function isHardwareAdapter(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  if (info?.isFallbackAdapter || legacy) return false;
  const text = [info?.vendor, info?.architecture, info?.device, info?.description].join(' ');
  return !SOFTWARE.test(text);
}

/** A human-readable adapter name for logs and backend names. */
export function adapterName(adapter: GPUAdapter): string {
  const i = adapter.info;
  return [i?.vendor, i?.architecture, i?.description || i?.device].filter((s) => s).join(' ') || 'unknown adapter';
}

export interface GpuContext {
  adapter: GPUAdapter;
  device: GPUDevice;
  /** the runtime compiles dot4I8Packed */
  packedDot: boolean;
}

/** The adapter (undefined when there is none). */
export async function requestAdapter(gpu: GPU, opts: { powerPreference?: GPUPowerPreference } = {}): Promise<GPUAdapter | undefined> {
  return (await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' })) ?? undefined;
}

/** A device on `adapter` with the adapter's maximum buffer sizes. */
export async function openDevice(gpu: GPU, adapter: GPUAdapter): Promise<GpuContext> {
  const L = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
      maxBufferSize: L.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(L.maxStorageBuffersPerShaderStage, 8),
      maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
    },
  });
  const packedDot = gpu.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') ?? false;
  return { adapter, device, packedDot };
}

/** Requests an adapter and a device on it; undefined when there is no adapter. */
export async function openGpu(gpu: GPU, opts: { powerPreference?: GPUPowerPreference } = {}): Promise<GpuContext | undefined> {
  const adapter = await requestAdapter(gpu, opts);
  return adapter ? openDevice(gpu, adapter) : undefined;
}

const SLOT = 256;
const ARENA_SLOTS = 256;

interface Arena {
  gpu: GPUBuffer;
  cpu: DataView;
}

/** Records compute dispatches and copies into one pending encoder; submits on flush. */
export class Recorder {
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private readonly arenas: Arena[] = [];
  private slot = 0;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly afterSubmit: GPUBuffer[] = [];
  private readonly staging = new Map<number, GPUBuffer[]>();
  private error: string | undefined;
  readonly maxBinding: number;

  constructor(
    readonly device: GPUDevice,
    readonly packedDot: boolean,
  ) {
    this.maxBinding = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    device.addEventListener?.('uncapturederror', (e) => {
      this.error ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  /** Throws the first validation/out-of-memory error the device reported since the last check. */
  checkError(): void {
    if (this.error === undefined) return;
    const msg = this.error;
    this.error = undefined;
    throw new BitnetError('INVALID_ARGUMENT', `WebGPU error: ${msg}`, { name: 'webgpu' });
  }

  createBuffer(bytes: number, usage: number): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (size > this.device.limits.maxBufferSize) {
      throw new BitnetError('INVALID_ARGUMENT', `a ${size}-byte buffer exceeds this GPU's maxBufferSize ${this.device.limits.maxBufferSize}`, { name: 'webgpu' });
    }
    return this.device.createBuffer({ size, usage });
  }

  /** A storage buffer filled with `data` at creation (no queue ordering involved). */
  createFilled(data: ArrayBufferView, usage = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST): GPUBuffer {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    const b = this.device.createBuffer({ size, usage, mappedAtCreation: true });
    new Uint8Array(b.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    b.unmap();
    return b;
  }

  /** Destroys `b` once the pending work has been submitted. */
  destroyLater(b: GPUBuffer): void {
    this.afterSubmit.push(b);
  }

  private pipeline(key: string, wgsl: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: prelude(this.packedDot) + wgsl(), label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private encoderNow(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  /**
   * Encodes one dispatch: `fmt` gives each parameter's type ('u' u32, 'f' f32) in the kernel's struct P;
   * `bufs` are bindings 1.. in order.
   */
  dispatch(key: string, wgsl: () => string, fmt: string, params: readonly number[], bufs: readonly GPUBuffer[], x: number, y = 1, z = 1): void {
    if (x === 0 || y === 0 || z === 0) return;
    const pipe = this.pipeline(key, wgsl);
    const a = this.slot >> 8;
    if (a === this.arenas.length) {
      this.arenas.push({ gpu: this.createBuffer(SLOT * ARENA_SLOTS, USAGE.UNIFORM | USAGE.COPY_DST), cpu: new DataView(new ArrayBuffer(SLOT * ARENA_SLOTS)) });
    }
    const arena = this.arenas[a]!;
    const off = (this.slot & (ARENA_SLOTS - 1)) * SLOT;
    this.slot++;
    for (let i = 0; i < fmt.length; i++) {
      if (fmt[i] === 'f') arena.cpu.setFloat32(off + 4 * i, params[i]!, true);
      else arena.cpu.setUint32(off + 4 * i, params[i]! >>> 0, true);
    }
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: arena.gpu, offset: off, size: SLOT } }];
    bufs.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b } }));
    const group = this.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
    this.pass ??= this.encoderNow().beginComputePass();
    this.pass.setPipeline(pipe);
    this.pass.setBindGroup(0, group);
    this.pass.dispatchWorkgroups(x, y, z);
  }

  /** Encodes a buffer-to-buffer copy after the dispatches so far. */
  copy(src: GPUBuffer, srcOff: number, dst: GPUBuffer, dstOff: number, bytes: number): void {
    this.endPass();
    this.encoderNow().copyBufferToBuffer(src, srcOff, dst, dstOff, bytes);
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  get pending(): boolean {
    return this.encoder !== undefined;
  }

  /** Submits the pending work (parameter arenas first). */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const used = this.slot;
    for (let a = 0; a * ARENA_SLOTS < used; a++) {
      const bytes = Math.min(ARENA_SLOTS, used - a * ARENA_SLOTS) * SLOT;
      this.device.queue.writeBuffer(this.arenas[a]!.gpu, 0, this.arenas[a]!.cpu.buffer, 0, bytes);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
    this.slot = 0;
    for (const b of this.afterSubmit) b.destroy();
    this.afterSubmit.length = 0;
  }

  /** Submits everything pending and reads bytes [off, off + bytes) of `src` back (4-byte aligned). */
  async readBack(src: GPUBuffer, off: number, bytes: number): Promise<ArrayBuffer> {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const pool = this.staging.get(size) ?? [];
    this.staging.set(size, pool);
    const stage = pool.pop() ?? this.device.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    if (bytes > 0) this.copy(src, off, stage, 0, Math.ceil(bytes / 4) * 4);
    else this.encoderNow();
    this.flush();
    try {
      await stage.mapAsync(MAP_READ_MODE, 0, size);
    } catch (e) {
      this.checkError();
      throw e;
    }
    const out = stage.getMappedRange(0, size).slice(0, bytes);
    stage.unmap();
    pool.push(stage);
    this.checkError();
    return out;
  }

  dispose(): void {
    this.pass = undefined;
    this.encoder = undefined;
    for (const a of this.arenas) a.gpu.destroy();
    for (const pool of this.staging.values()) for (const b of pool) b.destroy();
    this.arenas.length = 0;
    this.staging.clear();
    this.pipelines.clear();
  }
}
