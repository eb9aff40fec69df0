// One place for every name on disk: GGUF metadata keys, GGUF tensor names, architecture names, and the
// Hugging Face <-> GGUF tensor-name mapping. Other files never spell these strings themselves.

/** Architectures whose GGUF files come from bitnet.cpp (their type ids 36-39 are the fork's types). */
export const BITNET_ARCHS = ['bitnet-b1.58', 'bitnet-25', 'bitnet'] as const;
export const SUPPORTED_ARCHS = ['bitnet-b1.58', 'bitnet-25', 'bitnet', 'llama', 'qwen3'] as const;
export type ArchName = (typeof SUPPORTED_ARCHS)[number];

export function isBitnetArch(arch: string): boolean {
  return (BITNET_ARCHS as readonly string[]).includes(arch);
}

/** general.* and tokenizer.* keys (architecture-independent). */
export const KEY = {
  architecture: 'general.architecture',
  name: 'general.name',
  alignment: 'general.alignment',
  fileType: 'general.file_type',
  quantizationVersion: 'general.quantization_version',
  tokenizerModel: 'tokenizer.ggml.model',
  tokenizerPre: 'tokenizer.ggml.pre',
  tokens: 'tokenizer.ggml.tokens',
  tokenType: 'tokenizer.ggml.token_type',
  scores: 'tokenizer.ggml.scores',
  merges: 'tokenizer.ggml.merges',
  bosId: 'tokenizer.ggml.bos_token_id',
  eosId: 'tokenizer.ggml.eos_token_id',
  eotId: 'tokenizer.ggml.eot_token_id',
  padId: 'tokenizer.ggml.padding_token_id',
  addBos: 'tokenizer.ggml.add_bos_token',
  addEos: 'tokenizer.ggml.add_eos_token',
  chatTemplate: 'tokenizer.chat_template',
} as const;

/** Architecture-prefixed hyperparameter keys: archKey(arch, 'embedding_length') -> 'bitnet-b1.58.embedding_length'. */
export const ARCH_KEY = {
  vocabSize: 'vocab_size',
  contextLength: 'context_length',
  embeddingLength: 'embedding_length',
  blockCount: 'block_count',
  feedForwardLength: 'feed_forward_length',
  headCount: 'attention.head_count',
  headCountKv: 'attention.head_count_kv',
  keyLength: 'attention.key_length',
  valueLength: 'attention.value_length',
  rmsEps: 'attention.layer_norm_rms_epsilon',
  ropeDimensionCount: 'rope.dimension_count',
  ropeFreqBase: 'rope.freq_base',
  /** RoPE scaling (llama.cpp's LLM_KV_ROPE_SCALING_*): type none|linear|yarn (absent: linear), factor = context multiple */
  ropeScalingType: 'rope.scaling.type',
  ropeScalingFactor: 'rope.scaling.factor',
  /** the older name of rope.scaling.factor */
  ropeScaleLinear: 'rope.scale_linear',
  ropeScalingAttnFactor: 'rope.scaling.attn_factor',
  ropeScalingOrigCtx: 'rope.scaling.original_context_length',
  ropeScalingFinetuned: 'rope.scaling.finetuned',
  ropeScalingYarnExtFactor: 'rope.scaling.yarn_ext_factor',
  ropeScalingYarnAttnFactor: 'rope.scaling.yarn_attn_factor',
  ropeScalingYarnBetaFast: 'rope.scaling.yarn_beta_fast',
  ropeScalingYarnBetaSlow: 'rope.scaling.yarn_beta_slow',
  /** llama.cpp's LLM_KV_HIDDEN_ACT ("relu2" for 2B4T when written by mainline converters). */
  hiddenAct: 'hidden_activation',
  /** llama.cpp's LLM_KV_POOLING_TYPE (enum llama_pooling_type: 0 none, 1 mean, 2 cls, 3 last, 4 rank) */
  poolingType: 'pooling_type',
} as const;

export function archKey(arch: string, key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY]): string {
  return `${arch}.${key}`;
}

/** GGUF tensor names. Per-layer names take the block index. */
export const TENSOR = {
  tokEmbd: 'token_embd.weight',
  outputNorm: 'output_norm.weight',
  output: 'output.weight',
  ropeFreqs: 'rope_freqs.weight',
  attnNorm: (l: number) => `blk.${l}.attn_norm.weight`,
  attnQ: (l: number) => `blk.${l}.attn_q.weight`,
  attnK: (l: number) => `blk.${l}.attn_k.weight`,
  attnV: (l: number) => `blk.${l}.attn_v.weight`,
  attnOutput: (l: number) => `blk.${l}.attn_output.weight`,
  attnSubNorm: (l: number) => `blk.${l}.attn_sub_norm.weight`,
  ffnNorm: (l: number) => `blk.${l}.ffn_norm.weight`,
  ffnGate: (l: number) => `blk.${l}.ffn_gate.weight`,
  ffnUp: (l: number) => `blk.${l}.ffn_up.weight`,
  ffnDown: (l: number) => `blk.${l}.ffn_down.weight`,
  ffnSubNorm: (l: number) => `blk.${l}.ffn_sub_norm.weight`,
  /** Qwen3's per-head RMSNorm of Q and K (after the projection, before RoPE) */
  attnQNorm: (l: number) => `blk.${l}.attn_q_norm.weight`,
  attnKNorm: (l: number) => `blk.${l}.attn_k_norm.weight`,
  /**
   * BitNet embedding models (Qwen3-based, microsoft/BitNet docs/bitnet-embeddings-qwen3-gguf-conversion.md):
   * an RMSNorm with its own weight on the input of every projection ("BitLinear" norm), named `<proj>_norm_in`.
   */
  normIn: (l: number, proj: 'attn_q' | 'attn_k' | 'attn_v' | 'attn_output' | 'ffn_gate' | 'ffn_up' | 'ffn_down') => `blk.${l}.${proj}_norm_in.weight`,
  /** Optional per-tensor output scale of the 2024 `bitnet` arch: `blk.N.attn_q.scale` for `blk.N.attn_q.weight`. */
  scaleOf: (weightName: string) => weightName.replace(/\.weight$/, '.scale'),
} as const;

/** The seven ternary projections of a layer, in forward order: [GGUF name fn, Hugging Face suffix]. */
export const PROJECTIONS = [
  ['attnQ', 'self_attn.q_proj'],
  ['attnK', 'self_attn.k_proj'],
  ['attnV', 'self_attn.v_proj'],
  ['attnOutput', 'self_attn.o_proj'],
  ['ffnGate', 'mlp.gate_proj'],
  ['ffnUp', 'mlp.up_proj'],
  ['ffnDown', 'mlp.down_proj'],
] as const;

/** Hugging Face tensor name -> GGUF tensor name (undefined when not a model tensor we use). */
export function hfToGgufName(hf: string): string | undefined {
  const top: Record<string, string> = {
    'model.embed_tokens.weight': TENSOR.tokEmbd,
    'model.norm.weight': TENSOR.outputNorm,
    'lm_head.weight': TENSOR.output,
  };
  if (top[hf]) return top[hf];
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  if (!m) return undefined;
  const l = Number(m[1]);
  const rest = m[2]!;
  const perLayer: Record<string, string> = {
    'input_layernorm.weight': TENSOR.attnNorm(l),
    'post_attention_layernorm.weight': TENSOR.ffnNorm(l),
    // 2B4T: self_attn.attn_sub_norm / mlp.ffn_sub_norm; 1bitLLM: self_attn.inner_attn_ln / mlp.ffn_layernorm
    'self_attn.attn_sub_norm.weight': TENSOR.attnSubNorm(l),
    'self_attn.inner_attn_ln.weight': TENSOR.attnSubNorm(l),
    'mlp.ffn_sub_norm.weight': TENSOR.ffnSubNorm(l),
    'mlp.ffn_layernorm.weight': TENSOR.ffnSubNorm(l),
  };
  if (perLayer[rest]) return perLayer[rest];
  for (const [fn, hfName] of PROJECTIONS) {
    if (rest === `${hfName}.weight`) return TENSOR[fn](l);
    if (rest === `${hfName}.weight_scale`) return TENSOR.scaleOf(TENSOR[fn](l)).replace(/\.scale$/, '.weight_scale');
  }
  return undefined;
}
