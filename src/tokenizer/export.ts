// Writes a BpeVocab back out: as GGUF `tokenizer.ggml.*` metadata (for GGUF writers: fixtures, convert,
// the trainer's export) and as a Hugging Face tokenizer.json + tokenizer_config.json pair.
import type { GgufTypedValue } from '../formats/gguf.js';
import { gv } from '../formats/gguf-writer.js';
import { KEY } from '../formats/names.js';
import { LLAMA3_PATTERN, QWEN2_PATTERN } from './pretokenize.js';
import { TokenType, type BpeVocab } from './vocab.js';

/** tokenizer.* GGUF entries for a vocabulary (merges must be present: GGUF has no tiktoken form). */
export function vocabToGgufMetadata(v: BpeVocab, chatTemplate?: string): Array<[string, GgufTypedValue]> {
  if (!v.merges) throw new Error('vocabToGgufMetadata: the vocabulary has no merge list');
  const out: Array<[string, GgufTypedValue]> = [
    [KEY.tokenizerModel, gv.str('gpt2')],
    [KEY.tokenizerPre, gv.str(v.preTokenizer === 'qwen2' ? 'qwen2' : 'llama-bpe')],
    [KEY.tokens, gv.strs(v.tokens)],
    [KEY.tokenType, gv.i32s(v.tokenTypes)],
    [KEY.merges, gv.strs(v.merges)],
  ];
  if (v.bos !== null) out.push([KEY.bosId, gv.u32(v.bos)]);
  if (v.eos !== null) out.push([KEY.eosId, gv.u32(v.eos)]);
  if (v.eot !== null) out.push([KEY.eotId, gv.u32(v.eot)]);
  if (v.pad !== null) out.push([KEY.padId, gv.u32(v.pad)]);
  out.push([KEY.addBos, gv.bool(v.addBos)]);
  if (v.addEos) out.push([KEY.addEos, gv.bool(true)]);
  if (chatTemplate !== undefined) out.push([KEY.chatTemplate, gv.str(chatTemplate)]);
  return out;
}

/** HF `tokenizers` JSON (BPE model, the vocabulary's split regex, byte-level) and a matching tokenizer_config.json. */
export function vocabToTokenizerJson(v: BpeVocab, chatTemplate?: string): { tokenizer: unknown; config: unknown } {
  if (!v.merges) throw new Error('vocabToTokenizerJson: the vocabulary has no merge list');
  const vocab: Record<string, number> = {};
  const added: unknown[] = [];
  v.tokens.forEach((t, id) => {
    const type = v.tokenTypes[id];
    if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
      added.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === TokenType.CONTROL });
    } else {
      vocab[t] = id;
    }
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: v.preTokenizer === 'qwen2' ? QWEN2_PATTERN : LLAMA3_PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor:
      v.addBos && v.bos !== null
        ? {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: v.tokens[v.bos], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [{ SpecialToken: { id: v.tokens[v.bos], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
            special_tokens: { [v.tokens[v.bos]!]: { id: v.tokens[v.bos], ids: [v.bos], tokens: [v.tokens[v.bos]] } },
          }
        : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges: v.merges,
    },
  };
  const config: Record<string, unknown> = {
    add_bos_token: v.addBos,
    bos_token: v.bos !== null ? v.tokens[v.bos] : null,
    eos_token: v.eos !== null ? v.tokens[v.eos] : null,
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: 1e30,
  };
  if (chatTemplate !== undefined) config.chat_template = chatTemplate;
  return { tokenizer, config };
}
