// Export of a trained model: a GGUF in bitnet.cpp's format (architecture `bitnet-b1.58`, I2_S projections
// from the absmean ternarization the trainer's forward pass uses, F16 or F32 embedding, the trained
// tokenizer and a chat template) that `bitnet run` loads, or a Hugging Face folder with packed ternary
// safetensors (U8, four rows per byte, `weight_scale`), config.json and tokenizer.json.
import { KEY, PROJECTIONS, TENSOR } from '../formats/names.js';
import { shapeMetadata } from '../model/synthetic.js';
import { gv, writeGgufFile, type GgufWriteTensor } from '../formats/gguf-writer.js';
import type { GgufTypedValue } from '../formats/gguf.js';
import { packHfTernary } from '../formats/hf.js';
import { bf16Codec } from '../formats/quants/bf16.js';
import { serializeSafetensors, type SafetensorsWriteTensor } from '../formats/safetensors.js';
import { ternarizeAbsmean } from '../formats/ternarize.js';
import { F16, F32, I2_S } from '../formats/types.js';
import { vocabToGgufMetadata, vocabToTokenizerJson } from '../tokenizer/export.js';
import type { BpeVocab } from '../tokenizer/vocab.js';
import type { Param, TrainModel } from './model.js';

/** 2B4T's chat format as a Jinja template (the engine renders it; bitnet.cpp's placeholder is not used). */
export const CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ message['role'] | capitalize }}: {{ message['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}";

export interface ExportInfo {
  name: string;
  /** free-form training facts stored as `general.description` */
  description?: string;
}

export async function exportGguf(model: TrainModel, vocab: BpeVocab, path: string, info: ExportInfo, opts: { embedding?: 'F16' | 'F32' } = {}): Promise<void> {
  const c = model.config;
  const eType = opts.embedding === 'F32' ? F32 : F16;
  const meta: Array<[string, GgufTypedValue]> = [
    ...shapeMetadata('bitnet-b1.58', c),
    [KEY.name, gv.str(info.name)],
    ...(info.description ? [['general.description', gv.str(info.description)] as [string, GgufTypedValue]] : []),
    [KEY.fileType, gv.u32(40)],
    ...vocabToGgufMetadata(vocab, CHAT_TEMPLATE),
  ];
  const byName = new Map(model.params.map((p) => [p.name, p]));
  const vec = (p: Param): GgufWriteTensor => ({ name: p.name, shape: [p.data.length], type: F32, data: F32.codec.quantize(p.data) });
  const ternary = (p: Param): GgufWriteTensor => ({
    name: p.name,
    shape: [p.shape[1]!, p.shape[0]!],
    type: I2_S,
    data: () => {
      const t = ternarizeAbsmean(p.data);
      return I2_S.ternary!.encodeTernary(t.values, t.scales[0]!);
    },
  });
  const tensors: GgufWriteTensor[] = [
    { name: TENSOR.tokEmbd, shape: [c.nEmbd, c.nVocab], type: eType, data: () => eType.codec.quantize(model.embed.data) },
    vec(model.outputNorm),
  ];
  for (let l = 0; l < c.nLayer; l++) {
    for (const n of [TENSOR.attnNorm(l), TENSOR.ffnNorm(l), TENSOR.attnSubNorm(l), TENSOR.ffnSubNorm(l)]) tensors.push(vec(byName.get(n)!));
    for (const [fn] of PROJECTIONS) tensors.push(ternary(byName.get(TENSOR[fn](l))!));
  }
  await writeGgufFile(path, meta, tensors);
}

/** Hugging Face folder: packed ternary safetensors (quantization_config offline, autobitlinear), config and tokenizer. */
export async function exportHfPacked(model: TrainModel, vocab: BpeVocab, dir: string): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const c = model.config;
  const bf16 = (a: Float32Array): Uint8Array => bf16Codec.quantize(a);
  const t: SafetensorsWriteTensor[] = [];
  const byName = new Map(model.params.map((p) => [p.name, p]));
  t.push({ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [c.nVocab, c.nEmbd], data: bf16(model.embed.data) });
  t.push({ name: 'model.norm.weight', dtype: 'BF16', shape: [c.nEmbd], data: bf16(model.outputNorm.data) });
  for (let l = 0; l < c.nLayer; l++) {
    const p = `model.layers.${l}`;
    const norm = (hf: string, gguf: string) => {
      const q = byName.get(gguf)!;
      t.push({ name: `${p}.${hf}.weight`, dtype: 'BF16', shape: [q.data.length], data: bf16(q.data) });
    };
    norm('input_layernorm', TENSOR.attnNorm(l));
    norm('post_attention_layernorm', TENSOR.ffnNorm(l));
    norm('self_attn.attn_sub_norm', TENSOR.attnSubNorm(l));
    norm('mlp.ffn_sub_norm', TENSOR.ffnSubNorm(l));
    for (const [fn, hf] of PROJECTIONS) {
      const q = byName.get(TENSOR[fn](l))!;
      const [rows, cols] = [q.shape[0]!, q.shape[1]!];
      const tern = ternarizeAbsmean(q.data);
      t.push({ name: `${p}.${hf}.weight`, dtype: 'U8', shape: [rows / 4, cols], data: packHfTernary(tern.values, rows, cols) });
      t.push({ name: `${p}.${hf}.weight_scale`, dtype: 'BF16', shape: [1], data: bf16(tern.scales) });
    }
  }
  const config = {
    architectures: ['BitNetForCausalLM'],
    model_type: 'bitnet',
    hidden_size: c.nEmbd,
    intermediate_size: c.nFf,
    num_hidden_layers: c.nLayer,
    num_attention_heads: c.nHead,
    num_key_value_heads: c.nHeadKv,
    vocab_size: c.nVocab,
    max_position_embeddings: c.nCtx,
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.eps,
    hidden_act: 'relu2',
    tie_word_embeddings: true,
    bos_token_id: vocab.bos,
    eos_token_id: vocab.eos,
    torch_dtype: 'bfloat16',
    quantization_config: { quant_method: 'bitnet', linear_class: 'autobitlinear', quantization_mode: 'offline' },
  };
  const { tokenizer, config: tokConfig } = vocabToTokenizerJson(vocab, CHAT_TEMPLATE);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  await fs.writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  await fs.writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokConfig, null, 2));
  await fs.writeFile(path.join(dir, 'model.safetensors'), serializeSafetensors(t, { format: 'pt' }));
}
