// One view of a model on disk, whatever the container: GGUF-style metadata plus tensors under GGUF names
// and ggml shapes, each readable as ternary weights, dense row data, or float32. The GGUF implementation
// is here; the Hugging Face folder implementation (safetensors + config.json) is in hf.ts.
import { BitnetError } from '../errors.js';
import type { TernaryPlain } from './quants/codec.js';
import { readGguf, type GgufTypedValue, type GgufValue } from './gguf.js';
import { FileSource, type ByteSource } from './source.js';
import { ternaryFromFloat } from './ternarize.js';
import { F16, F32, type TensorType } from './types.js';

/** Row-addressable dense storage (embeddings, lm_head): the raw bytes in one of F32/F16/BF16/Q8_0/Q6_K. */
export interface DenseData {
  type: TensorType;
  bytes: Uint8Array;
}

/** A dense matrix read in row ranges, so it can be converted without holding it whole (e.g. int8 requantization). */
export interface DenseSource {
  /** the type of the bytes read() returns */
  readonly type: TensorType;
  readonly rows: number;
  readonly cols: number;
  read(r0: number, r1: number): Promise<Uint8Array>;
}

/** Synchronous access to single dequantized rows of a matrix (embedding lookups during a forward pass). */
export interface RowReader {
  readonly rows: number;
  readonly cols: number;
  read(row: number, out: Float32Array, outOffset: number): void;
}

/** Ternary weights as stored: an I2_S or TQ2_0 blob kept as is (backends convert it fast), or decoded values and scales. */
export type TernaryData = { kind: 'i2s' | 'tq2_0'; bytes: Uint8Array } | { kind: 'plain'; plain: TernaryPlain };

/** A RowReader over dense data held in memory. */
export function memoryRowReader(data: DenseData, rows: number, cols: number): RowReader {
  const rowBytes = (cols / data.type.blockSize) * data.type.typeSize;
  return {
    rows,
    cols,
    read: (row, out, off) => data.type.codec.dequantize(data.bytes.subarray(row * rowBytes, (row + 1) * rowBytes), cols, out, off),
  };
}

export interface TensorEntry {
  readonly name: string;
  /** ggml dims, ne[0] innermost */
  readonly shape: number[];
  readonly nElements: number;
  /** storage type as named in its container (I2_S, TQ2_0, F16, "U8 packed", BF16, ...) */
  readonly typeName: string;
  readonly byteSize: number;
  /** ternary: stored as ternary codes; float: F32/F16/BF16 values; quantized: Q8_0/Q6_K blocks */
  readonly storage: 'ternary' | 'float' | 'quantized';
  /** Ternary weights; float tensors are ternarized (exactly when already ternary-valued, else absmean). */
  readTernary(): Promise<TernaryPlain>;
  /** Ternary weights in the cheapest form for a backend: I2_S stays a blob, everything else is decoded. */
  readTernaryData(): Promise<TernaryData>;
  /** Row reader that reads rows from the file on demand, or undefined when the source cannot read synchronously. */
  rowReader(): RowReader | undefined;
  /** The matrix as row ranges (2-D row-addressable types only). */
  denseSource(): DenseSource;
  /** Row-addressable bytes for dense use (not for ternary storage). */
  readDense(): Promise<DenseData>;
  readF32(): Promise<Float32Array>;
}

export interface HfExtras {
  tokenizerJson: unknown;
  tokenizerConfig: unknown;
  generationConfig: unknown;
  config: Record<string, unknown>;
  /** assumptions the loader had to make, to be reported as warnings */
  notes: string[];
}

export interface ModelFile {
  readonly path: string;
  readonly format: 'gguf' | 'safetensors';
  /** total bytes of the file(s) */
  readonly fileSize: number;
  readonly metadata: Map<string, GgufValue>;
  readonly metadataTyped: Map<string, GgufTypedValue>;
  readonly tensors: Map<string, TensorEntry>;
  readonly hf?: HfExtras;
  close(): Promise<void>;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A tensor stored with a ggml type at a byte offset of a source (GGUF tensors, and plain safetensors tensors). */
export class TypedTensorEntry implements TensorEntry {
  readonly nElements: number;
  readonly byteSize: number;
  readonly storage: 'ternary' | 'float' | 'quantized';
  constructor(
    readonly name: string,
    readonly shape: number[],
    readonly type: TensorType,
    private readonly source: ByteSource,
    private readonly offset: number,
    readonly typeName: string = type.name,
    /** converts the raw bytes before use (e.g. safetensors BF16 embedding -> F16); default identity */
    private readonly convert?: (bytes: Uint8Array) => DenseData,
  ) {
    this.nElements = elementCount(shape);
    this.byteSize = type.byteSize(this.nElements);
    this.storage = type.ternary ? 'ternary' : type === F32 || type === F16 || type.name === 'BF16' ? 'float' : 'quantized';
  }

  bytes(): Promise<Uint8Array> {
    return this.source.read(this.offset, this.byteSize);
  }

  async readTernary(): Promise<TernaryPlain> {
    const bytes = await this.bytes();
    if (this.type.ternary) return this.type.ternary.decodeTernary(bytes, this.nElements);
    if (this.storage !== 'float') {
      throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', `a projection stored as ${this.type.name} cannot be used as ternary weights`, {
        file: this.source.name,
        name: this.name,
      });
    }
    return ternaryFromFloat(await this.readF32()).plain;
  }

  async readTernaryData(): Promise<TernaryData> {
    if (this.type.name === 'I2_S') return { kind: 'i2s', bytes: await this.bytes() };
    if (this.type.name === 'TQ2_0') return { kind: 'tq2_0', bytes: await this.bytes() };
    return { kind: 'plain', plain: await this.readTernary() };
  }

  rowReader(): RowReader | undefined {
    const src = this.source;
    if (!src.readSync || !this.type.rowAddressable || this.type.ternary || this.shape.length !== 2) return undefined;
    const [cols, rows] = [this.shape[0]!, this.shape[1]!];
    const rowBytes = (cols / this.type.blockSize) * this.type.typeSize;
    const buf = new Uint8Array(rowBytes);
    return {
      rows,
      cols,
      read: (row, out, off) => {
        src.readSync!(this.offset + row * rowBytes, buf);
        const d = this.convert ? this.convert(buf) : { type: this.type, bytes: buf };
        d.type.codec.dequantize(d.bytes, cols, out, off);
      },
    };
  }

  denseSource(): DenseSource {
    if (!this.type.rowAddressable || this.type.ternary || this.shape.length !== 2) {
      throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', `${this.type.name} [${this.shape.join(', ')}] cannot be used as a dense matrix`, { file: this.source.name, name: this.name });
    }
    const [cols, rows] = [this.shape[0]!, this.shape[1]!];
    const rowBytes = (cols / this.type.blockSize) * this.type.typeSize;
    const convert = this.convert;
    const type = convert ? convert(new Uint8Array(0)).type : this.type;
    return {
      type,
      rows,
      cols,
      read: async (r0, r1) => {
        const bytes = await this.source.read(this.offset + r0 * rowBytes, (r1 - r0) * rowBytes);
        return convert ? convert(bytes).bytes : bytes;
      },
    };
  }

  async readDense(): Promise<DenseData> {
    if (!this.type.rowAddressable || this.type.ternary) {
      throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', `${this.type.name} cannot be used as a dense (embedding/output) matrix`, {
        file: this.source.name,
        name: this.name,
      });
    }
    const bytes = await this.bytes();
    return this.convert ? this.convert(bytes) : { type: this.type, bytes };
  }

  async readF32(): Promise<Float32Array> {
    const out = new Float32Array(this.nElements);
    this.type.codec.dequantize(await this.bytes(), this.nElements, out);
    return out;
  }
}

export async function openGgufModel(pathOrSource: string | ByteSource): Promise<ModelFile> {
  const source = typeof pathOrSource === 'string' ? await FileSource.open(pathOrSource) : pathOrSource;
  try {
    const g = await readGguf(source);
    const tensors = new Map<string, TensorEntry>();
    for (const t of g.tensors) tensors.set(t.name, new TypedTensorEntry(t.name, t.shape, t.type, source, t.offset));
    return {
      path: source.name,
      format: 'gguf',
      fileSize: source.size,
      metadata: g.metadata,
      metadataTyped: g.metadataTyped,
      tensors,
      close: () => source.close(),
    };
  } catch (e) {
    await source.close();
    throw e;
  }
}
