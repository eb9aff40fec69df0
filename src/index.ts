// Public API of the `bitnet` package: everything a library user imports comes from here.
export { BitnetError, type BitnetErrorCode } from './errors.js';
export { loadModel, inspectModel, loadTokenizer, type LoadOptions, type LoadProgressEvent, type ModelSource, type ModelInspection } from './engine/load.js';
export { BitnetModel, ChatSession, type Prompt, type TensorDescription, type EvaluateOptions } from './engine/model.js';
export type { ChatMessage, ChatRole } from './engine/chat-template.js';
export type { GenerateOptions, GenerationChunk, GenerationStats, FinishReason } from './generate/generate.js';
export type { SamplerOptions } from './generate/sampler.js';
export { Sequence } from './generate/sequence.js';
export { Scheduler, type SchedulerOptions, type SchedulerStats, type GenerationHandle } from './generate/scheduler.js';
export type { HParams } from './model/hparams.js';
export type { TraceFn } from './model/forward.js';
export type { Backend } from './kernels/backend.js';
export { refBackend } from './kernels/ref/index.js';
export { createBackend, physicalCores, BACKEND_KINDS, type BackendKind, type BackendOptions } from './kernels/index.js';
export { Tokenizer, type StreamDecoder } from './tokenizer/index.js';
export { MemorySource, BlobSource, FileSource, type ByteSource } from './formats/source.js';
export { readGguf, type GgufFile, type GgufValue, type GgufTensorInfo } from './formats/gguf.js';
export { writeGgufFile, serializeGguf, gv } from './formats/gguf-writer.js';
export { readSafetensors } from './formats/safetensors.js';
