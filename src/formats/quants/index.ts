// Tensor-type codecs, one per ggml type: byte layouts, reference dequantizers and quantizers (bit-exact with
// ggml-quants.c / bitnet.cpp). The GGML type table (src/formats/types.ts) maps type ids to these objects.

export type { BlockCodec, TernaryCodec, TernaryPlain } from './codec.js';
export { nearestInt, roundHalfAway } from './codec.js';
export { f32Codec } from './f32.js';
export { f16Codec } from './f16.js';
export { bf16Codec } from './bf16.js';
export { q8_0Codec } from './q8_0.js';
export { q4_0Codec } from './q4_0.js';
export { q6_KCodec } from './q6_k.js';
export { tq1_0Codec } from './tq1_0.js';
export { tq2_0Codec } from './tq2_0.js';
export { i2_sCodec, i2sByteSize, i2sReadScale } from './i2_s.js';
