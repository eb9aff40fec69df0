// BpeVocab: the tokenizer's source-independent vocabulary, and its three loaders: GGUF metadata,
// HF tokenizer.json (+ tokenizer_config.json) and tiktoken text. All three give the same `tokens` array
// for the same vocabulary: byte-level-unicode strings for normal tokens, literal text for special ones.

import { BitnetError } from '../errors.js';
import { bytesToTokenString } from './byte-unicode.js';
import { LLAMA3_PATTERN, QWEN2_PATTERN, type PreTokenizerKind } from './pretokenize.js';

/** GGUF `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface BpeVocab {
  /** id -> token text: byte-level-unicode form for normal tokens, literal text for special tokens */
  tokens: string[];
  /** GGUF token_type per id (see TokenType) */
  tokenTypes: Int32Array;
  /** "A B" in priority order (index = rank); null => tiktoken semantics (priority of a merge = id of the merged token) */
  merges: string[] | null;
  bos: number | null;
  eos: number | null;
  eot: number | null;
  pad: number | null;
  addBos: boolean;
  /** append EOS when encoding with special tokens (GGUF add_eos_token; Qwen3 embedding models set it for last-token pooling) */
  addEos?: boolean;
  preTokenizer: PreTokenizerKind;
}

function fail(message: string, name?: string): never {
  throw new BitnetError('TOKENIZER', message, name === undefined ? {} : { name });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Id of the token with exactly this text, scanning from the end (special tokens sit there). */
function findToken(tokens: readonly string[], text: string): number | null {
  const i = tokens.lastIndexOf(text);
  return i < 0 ? null : i;
}

// ---------------------------------------------------------------------------------------------
// GGUF metadata

/** `tokenizer.ggml.pre` values whose regex is the Llama-3 one (llama.cpp `LLAMA_VOCAB_PRE_TYPE_LLAMA3` / SMAUG / DBRX). */
const GGUF_LLAMA3_PRE = new Set(['llama3', 'llama-v3', 'llama-bpe', 'smaug-bpe', 'dbrx', 'falcon3', 'default']);
/** `tokenizer.ggml.pre` values whose regex is Qwen2's (llama.cpp `LLAMA_VOCAB_PRE_TYPE_QWEN2`). */
const GGUF_QWEN2_PRE = new Set(['qwen2']);

/**
 * Reads the vocabulary from GGUF metadata as our GGUF reader returns it (u32 -> number, u64 -> bigint,
 * arrays of strings -> string[], arrays of i32 -> Int32Array, ...).
 *
 * Pre-tokenizer: a missing `tokenizer.ggml.pre` (the official BitNet 2B4T GGUF has none) and "default" use
 * the Llama-3 regex. Known deviation: bitnet.cpp then falls back to llama.cpp's GPT-2-style 'default' regex
 * without ignore_merges (spec 5.3); we follow HF/tiktoken, which the model was trained with.
 */
export function vocabFromGguf(meta: ReadonlyMap<string, unknown>): BpeVocab {
  const model = meta.get('tokenizer.ggml.model');
  if (model === undefined) fail('missing key (tokenizer model type)', 'tokenizer.ggml.model');
  if (model !== 'gpt2') {
    fail(`unsupported tokenizer model ${JSON.stringify(model)} (only byte-level BPE "gpt2" is implemented)`, 'tokenizer.ggml.model');
  }
  const tokens = ggufStrings(meta, 'tokenizer.ggml.tokens');
  if (tokens.length === 0) fail('empty token list', 'tokenizer.ggml.tokens');
  const merges = ggufStrings(meta, 'tokenizer.ggml.merges');

  const rawTypes = meta.get('tokenizer.ggml.token_type');
  let tokenTypes: Int32Array;
  if (rawTypes === undefined) tokenTypes = new Int32Array(tokens.length).fill(TokenType.NORMAL);
  else {
    if (!isNumberArray(rawTypes)) fail('expected an integer array', 'tokenizer.ggml.token_type');
    tokenTypes = Int32Array.from(rawTypes);
    if (tokenTypes.length !== tokens.length) {
      fail(`has ${tokenTypes.length} entries but there are ${tokens.length} tokens`, 'tokenizer.ggml.token_type');
    }
  }

  const pre = meta.get('tokenizer.ggml.pre');
  let preTokenizer: PreTokenizerKind = 'llama3';
  if (pre !== undefined) {
    if (typeof pre !== 'string') fail('expected a string', 'tokenizer.ggml.pre');
    if (GGUF_QWEN2_PRE.has(pre)) preTokenizer = 'qwen2';
    else if (!GGUF_LLAMA3_PRE.has(pre)) fail(`unsupported pre-tokenizer ${JSON.stringify(pre)} (the Llama-3 and Qwen2 regexes are implemented)`, 'tokenizer.ggml.pre');
  }

  const bos = ggufId(meta, 'tokenizer.ggml.bos_token_id', tokens.length);
  const addBosRaw = meta.get('tokenizer.ggml.add_bos_token');
  if (addBosRaw !== undefined && typeof addBosRaw !== 'boolean') fail('expected a bool', 'tokenizer.ggml.add_bos_token');
  const addEosRaw = meta.get('tokenizer.ggml.add_eos_token');
  if (addEosRaw !== undefined && typeof addEosRaw !== 'boolean') fail('expected a bool', 'tokenizer.ggml.add_eos_token');
  const eos = ggufId(meta, 'tokenizer.ggml.eos_token_id', tokens.length);
  return {
    tokens,
    tokenTypes,
    merges,
    bos,
    eos,
    eot: ggufId(meta, 'tokenizer.ggml.eot_token_id', tokens.length) ?? findToken(tokens, '<|eot_id|>'),
    // llama.cpp ignores an out-of-range special id with a warning; only PAD, which inference never uses, gets that leniency
    pad: ggufId(meta, 'tokenizer.ggml.padding_token_id', tokens.length, true),
    addBos: (addBosRaw ?? true) && bos !== null,
    addEos: (addEosRaw ?? false) && eos !== null,
    preTokenizer,
  };
}

function isNumberArray(v: unknown): v is ArrayLike<number> {
  if (Array.isArray(v)) return v.every((x) => typeof x === 'number');
  return ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);
}

function ggufStrings(meta: ReadonlyMap<string, unknown>, key: string): string[] {
  const v = meta.get(key);
  if (v === undefined) fail('missing key', key);
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) fail('expected an array of strings', key);
  return v as string[];
}

function ggufId(meta: ReadonlyMap<string, unknown>, key: string, n: number, outOfRangeIsNull = false): number | null {
  const v = meta.get(key);
  if (v === undefined) return null;
  const id = typeof v === 'bigint' ? Number(v) : v;
  if (typeof id !== 'number' || !Number.isInteger(id)) fail(`expected an integer token id, got ${String(v)}`, key);
  if ((id < 0 || id >= n) && outOfRangeIsNull) return null;
  if (id < 0 || id >= n) fail(`token id ${id} out of range [0, ${n})`, key);
  return id;
}

// ---------------------------------------------------------------------------------------------
// HF tokenizer.json

/**
 * Reads an HF `tokenizers` tokenizer.json (model type BPE) and optionally its tokenizer_config.json.
 * Added tokens get type CONTROL if `special`, else USER_DEFINED. BOS/EOS/PAD come from the config's
 * bos_token / eos_token / pad_token (string or {content}); without a config, BOS is the special token a
 * TemplateProcessing post-processor puts first. addBos: config `add_bos_token`, else whether the
 * TemplateProcessing inserts BOS, else true when there is a BOS token (the GGUF default).
 * Not implemented (rejected): normalizers, pre-tokenizers other than the Llama-3 Split regex.
 */
export function vocabFromTokenizerJson(tokenizerJson: unknown, tokenizerConfig?: unknown): BpeVocab {
  if (!isRecord(tokenizerJson)) fail('expected an object', 'tokenizer.json');
  const model = tokenizerJson['model'];
  if (!isRecord(model)) fail('missing or invalid "model"', 'tokenizer.json');
  if (model['type'] !== undefined && model['type'] !== 'BPE') {
    fail(`unsupported tokenizer model type ${JSON.stringify(model['type'])} (only BPE is implemented)`, 'model.type');
  }
  if (tokenizerJson['normalizer'] != null) fail('normalizers are not supported', 'normalizer');
  const preTokenizer = checkHfPreTokenizer(tokenizerJson['pre_tokenizer']);

  const vocab = model['vocab'];
  if (!isRecord(vocab)) fail('expected an object of token -> id', 'model.vocab');
  const tokens: string[] = [];
  const types: number[] = [];
  const put = (text: string, id: unknown, type: number, key: string): void => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= 1 << 24) fail(`bad id ${String(id)} for token ${JSON.stringify(text)}`, key);
    tokens[id] = text;
    types[id] = type;
  };
  for (const text in vocab) put(text, vocab[text], TokenType.NORMAL, 'model.vocab');
  const added = tokenizerJson['added_tokens'] ?? [];
  if (!Array.isArray(added)) fail('expected an array', 'added_tokens');
  for (const t of added) {
    if (!isRecord(t) || typeof t['content'] !== 'string') fail('expected {id, content, special}', 'added_tokens');
    put(t['content'], t['id'], t['special'] === true ? TokenType.CONTROL : TokenType.USER_DEFINED, 'added_tokens');
  }
  const tokenTypes = new Int32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    // holes in the id space become UNUSED empty tokens
    if (tokens[i] === undefined) tokens[i] = '';
    tokenTypes[i] = types[i] ?? TokenType.UNUSED;
  }

  const rawMerges = model['merges'];
  if (!Array.isArray(rawMerges)) fail('expected an array', 'model.merges');
  const merges = rawMerges.map((m: unknown, rank: number): string => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return `${m[0]} ${m[1]}`;
    return fail(`merge ${rank} is neither "A B" nor ["A", "B"]`, 'model.merges');
  });

  const config = isRecord(tokenizerConfig) ? tokenizerConfig : {};
  const specialId = (key: string): number | null => {
    const v = config[key];
    const text = isRecord(v) ? v['content'] : v;
    if (text === undefined || text === null) return null;
    if (typeof text !== 'string') fail('expected a string or {content}', `tokenizer_config.${key}`);
    const id = findToken(tokens, text);
    if (id === null) fail(`token ${JSON.stringify(text)} is not in the vocabulary`, `tokenizer_config.${key}`);
    return id;
  };
  const template = templateBos(tokenizerJson['post_processor'], tokens);
  const bos = specialId('bos_token') ?? template.bos;
  const addBosRaw = config['add_bos_token'];
  if (addBosRaw !== undefined && addBosRaw !== null && typeof addBosRaw !== 'boolean') fail('expected a boolean', 'tokenizer_config.add_bos_token');
  const addBos = (typeof addBosRaw === 'boolean' ? addBosRaw : (template.addsBos ?? true)) && bos !== null;
  return {
    tokens,
    tokenTypes,
    merges,
    bos,
    eos: specialId('eos_token'),
    eot: findToken(tokens, '<|eot_id|>'),
    pad: specialId('pad_token'),
    addBos,
    preTokenizer,
  };
}

/** Accepts the Llama-3 or Qwen2 Split regex, alone or in a Sequence with a ByteLevel that does not add its own regex. */
function checkHfPreTokenizer(pt: unknown): PreTokenizerKind {
  const parts = isRecord(pt) && pt['type'] === 'Sequence' && Array.isArray(pt['pretokenizers']) ? (pt['pretokenizers'] as unknown[]) : [pt];
  let kind: PreTokenizerKind | undefined;
  for (const p of parts) {
    if (!isRecord(p)) fail('expected an object', 'pre_tokenizer');
    const pattern = isRecord(p['pattern']) ? p['pattern']['Regex'] : undefined;
    if (p['type'] === 'Split' && pattern === LLAMA3_PATTERN) kind = 'llama3';
    else if (p['type'] === 'Split' && pattern === QWEN2_PATTERN) kind = 'qwen2';
    else if (p['type'] === 'ByteLevel' && p['use_regex'] === false && p['add_prefix_space'] !== true) continue;
    else fail(`unsupported pre-tokenizer ${JSON.stringify(p).slice(0, 200)} (the Llama-3 and Qwen2 regexes are implemented)`, 'pre_tokenizer');
  }
  if (!kind) fail('no Llama-3 or Qwen2 Split regex found (only those are implemented)', 'pre_tokenizer');
  return kind;
}

/** BOS as inserted by a TemplateProcessing post-processor (possibly inside a Sequence); addsBos null when there is none. */
function templateBos(pp: unknown, tokens: readonly string[]): { bos: number | null; addsBos: boolean | null } {
  if (!isRecord(pp)) return { bos: null, addsBos: null };
  if (pp['type'] === 'Sequence' && Array.isArray(pp['processors'])) {
    for (const p of pp['processors'] as unknown[]) {
      const r = templateBos(p, tokens);
      if (r.addsBos !== null) return r;
    }
    return { bos: null, addsBos: null };
  }
  if (pp['type'] !== 'TemplateProcessing' || !Array.isArray(pp['single'])) return { bos: null, addsBos: null };
  const first: unknown = pp['single'][0];
  const special = isRecord(first) && isRecord(first['SpecialToken']) ? first['SpecialToken']['id'] : undefined;
  if (typeof special !== 'string') return { bos: null, addsBos: false };
  const entry = isRecord(pp['special_tokens']) ? pp['special_tokens'][special] : undefined;
  const ids = isRecord(entry) ? entry['ids'] : undefined;
  const id = Array.isArray(ids) && typeof ids[0] === 'number' ? ids[0] : findToken(tokens, special);
  return { bos: id, addsBos: id !== null };
}

// ---------------------------------------------------------------------------------------------
// tiktoken

/**
 * Reads a tiktoken BPE file (`base64(token bytes) rank` per line; rank = id) plus its special tokens, which
 * tiktoken keeps outside the file. merges = null: the priority of a merge is the id of the merged token.
 */
export function vocabFromTiktoken(text: string, specials: ReadonlyArray<[string, number]>): BpeVocab {
  const tokens: string[] = [];
  const types: number[] = [];
  let buf = new Uint8Array(256);
  let lineNo = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const lineStart = start;
    start = end + 1;
    lineNo++;
    while (end > lineStart && text.charCodeAt(end - 1) <= 0x20) end--; // trailing \r, spaces
    if (end === lineStart) continue;
    const sp = text.indexOf(' ', lineStart);
    let rank = sp < 0 || sp >= end - 1 ? -1 : 0;
    for (let i = sp + 1; i < end && rank >= 0; i++) {
      const d = text.charCodeAt(i) - 0x30;
      rank = d >= 0 && d <= 9 && rank < 1 << 24 ? rank * 10 + d : -1;
    }
    if (rank < 0 || rank >= 1 << 24) fail(`line ${lineNo}: expected "base64 rank"`, 'tiktoken');
    if (sp - lineStart > buf.length) buf = new Uint8Array(sp - lineStart);
    const n = decodeBase64(text, lineStart, sp, buf);
    if (n < 0) fail(`line ${lineNo}: invalid base64`, 'tiktoken');
    if (tokens[rank] !== undefined) fail(`line ${lineNo}: rank ${rank} appears twice`, 'tiktoken');
    tokens[rank] = bytesToTokenString(buf.subarray(0, n));
    types[rank] = TokenType.NORMAL;
  }
  for (const [name, id] of specials) {
    if (!Number.isInteger(id) || id < 0 || id >= 1 << 24) fail(`bad id ${id}`, name);
    if (tokens[id] !== undefined) fail(`id ${id} is already taken by another token`, name);
    tokens[id] = name;
    types[id] = TokenType.CONTROL;
  }
  const tokenTypes = new Int32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === undefined) tokens[i] = '';
    tokenTypes[i] = types[i] ?? TokenType.UNUSED;
  }
  const special = (name: string): number | null => specials.find(([n]) => n === name)?.[1] ?? null;
  const bos = special('<|begin_of_text|>');
  return {
    tokens,
    tokenTypes,
    merges: null,
    bos,
    eos: special('<|end_of_text|>') ?? special('<|endoftext|>'),
    eot: special('<|eot_id|>'),
    pad: null,
    addBos: bos !== null,
    preTokenizer: 'llama3',
  };
}

const BASE64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) BASE64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/** Decodes s[start, end) (standard alphabet, '=' padding) into out (>= end - start bytes); returns the byte count, or -1 if invalid. */
function decodeBase64(s: string, start: number, end: number, out: Uint8Array): number {
  while (end > start && s.charCodeAt(end - 1) === 0x3d) end--;
  if ((end - start) % 4 === 1) return -1;
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? BASE64[c]! : -1;
    if (v < 0) return -1;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return n;
}

/** The 256 Llama-3 special tokens, ids 128000..128255 (BitNet `gpu/tokenizer.py`, spec 5.1). */
export function llama3SpecialTokens(): Array<[string, number]> {
  const reserved = (i: number): string => `<|reserved_special_token_${i}|>`;
  const names = [
    '<|begin_of_text|>',
    '<|end_of_text|>',
    reserved(0),
    reserved(1),
    reserved(2),
    reserved(3),
    '<|start_header_id|>',
    '<|end_header_id|>',
    reserved(4),
    '<|eot_id|>',
  ];
  for (let i = 5; i <= 250; i++) names.push(reserved(i));
  return names.map((name, i): [string, number] => [name, 128000 + i]);
}
