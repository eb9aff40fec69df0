// Command-line options: one table per group (model, context, sampling), each flag with llama.cpp's
// spelling and a BITNET_* environment twin; precedence flag > environment > default lives here only.
import { parseArgs } from 'node:util';
import { BitnetError } from '../errors.js';
import type { GenerateOptions } from '../generate/generate.js';
import { compileGrammar, type CompiledGrammar, type GrammarSpec } from '../grammar/index.js';
import type { LoadOptions } from '../engine/load.js';
import { BACKEND_KINDS, KV_TYPES, TERNARY_KERNELS, type KvType } from '../kernels/index.js';
import { ROPE_SCALING_TYPES, type RopeOptions } from '../model/rope-scaling.js';
import { defaultModelPath } from './default-model.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface OptionSpec {
  name: string;
  short?: string;
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** environment twin */
  env?: string;
  /** llama.cpp's multi-letter short spellings (e.g. '-ctk'), taken as the flag (also as -ctk=VALUE) */
  aliases?: string[];
  /** placeholder shown in help */
  arg?: string;
  help: string;
  /** shown in help; the code applies defaults itself */
  default?: string;
}

export const MODEL_OPTIONS: OptionSpec[] = [
  { name: 'model', short: 'm', type: 'string', env: 'BITNET_MODEL', arg: 'REF', help: 'model: a GGUF file, a Hugging Face folder, a hub repo (org/repo[:quant], hf:org/repo[@rev][:file]) or an https URL, downloaded once into the cache', default: 'the bundled TinyStories model' },
  { name: 'activation', type: 'string', env: 'BITNET_ACTIVATION', arg: 'relu2|silu', help: 'force the gate activation when the file does not say' },
  { name: 'no-progress', type: 'boolean', env: 'BITNET_NO_PROGRESS', help: 'no progress bar on stderr' },
];

/** RoPE scaling beyond the training context, as llama.cpp's flags (part of the context group). */
export const ROPE_OPTIONS: OptionSpec[] = [
  { name: 'rope-scaling', type: 'string', env: 'BITNET_ROPE_SCALING', arg: 'none|linear|yarn', help: 'RoPE scaling method', default: 'the model\'s, else linear' },
  { name: 'rope-scale', type: 'string', env: 'BITNET_ROPE_SCALE', arg: 'N', help: 'RoPE context scaling factor: expands the context by N', default: 'the model\'s, else 1' },
  { name: 'rope-freq-scale', type: 'string', env: 'BITNET_ROPE_FREQ_SCALE', arg: 'X', help: 'RoPE frequency scaling factor (1/N of --rope-scale)' },
  { name: 'rope-freq-base', type: 'string', env: 'BITNET_ROPE_FREQ_BASE', arg: 'N', help: 'RoPE base frequency', default: 'the model\'s' },
  { name: 'yarn-orig-ctx', type: 'string', env: 'BITNET_YARN_ORIG_CTX', arg: 'N', help: 'YaRN: the original context of the model (0: the model\'s rope.scaling.original_context_length, else its training context)', default: '0' },
  { name: 'yarn-ext-factor', type: 'string', env: 'BITNET_YARN_EXT_FACTOR', arg: 'X', help: 'YaRN: extrapolation mix factor (0: full interpolation; -1: 1 for yarn, else 0)', default: '-1' },
  { name: 'yarn-attn-factor', type: 'string', env: 'BITNET_YARN_ATTN_FACTOR', arg: 'X', help: 'YaRN: scale sqrt(t), the attention magnitude', default: '1' },
  { name: 'yarn-beta-fast', type: 'string', env: 'BITNET_YARN_BETA_FAST', arg: 'X', help: 'YaRN: low correction dim (beta)', default: '32' },
  { name: 'yarn-beta-slow', type: 'string', env: 'BITNET_YARN_BETA_SLOW', arg: 'X', help: 'YaRN: high correction dim (alpha)', default: '1' },
];

export const CONTEXT_OPTIONS: OptionSpec[] = [
  { name: 'ctx-size', short: 'c', type: 'string', env: 'BITNET_CTX_SIZE', arg: 'N', help: 'context size in tokens (0: the model\'s, at most 4096; more than the model\'s warns: see --rope-scaling)', default: '0' },
  { name: 'batch-size', short: 'b', type: 'string', env: 'BITNET_BATCH_SIZE', arg: 'N', help: 'prompt tokens per forward pass', default: '512' },
  { name: 'cache-type', type: 'string', env: 'BITNET_CACHE_TYPE', arg: 'TYPE', help: 'KV cache storage type of K and V both (f32, f16, q8_0, q4_0)', default: 'f16' },
  { name: 'cache-type-k', aliases: ['-ctk'], type: 'string', env: 'BITNET_CACHE_TYPE_K', arg: 'TYPE', help: 'KV cache type of K (f32, f16, q8_0, q4_0; q8_0/q4_0 need head sizes that are multiples of 32)', default: '--cache-type' },
  { name: 'cache-type-v', aliases: ['-ctv'], type: 'string', env: 'BITNET_CACHE_TYPE_V', arg: 'TYPE', help: 'KV cache type of V (f32, f16, q8_0, q4_0)', default: '--cache-type' },
  { name: 'threads', short: 't', type: 'string', env: 'BITNET_THREADS', arg: 'N', help: 'CPU threads', default: 'physical cores (1 for tiny models)' },
  { name: 'backend', type: 'string', env: 'BITNET_BACKEND', arg: 'auto|cpu|webgpu|wasm|wasm-simd|wasm-relaxed|ref', help: 'compute backend (auto: WebGPU on a real GPU, else WASM SIMD; cpu: WASM SIMD)', default: 'auto' },
  { name: 'ternary-kernel', type: 'string', env: 'BITNET_TERNARY_KERNEL', arg: 'auto|lut|mad', help: 'WASM ternary matmul: table lookups, multiply-add, or whichever a one-time timing finds faster', default: 'auto' },
  { name: 'lm-head', type: 'string', env: 'BITNET_LM_HEAD', arg: 'int8|exact', help: 'lm_head as int8 rows (faster) or in its stored type (bitnet.cpp-exact logits; f16 = exact)', default: 'int8' },
  ...ROPE_OPTIONS,
];

/** Context shift (run, chat, serve): what a full context does, as llama.cpp's --keep / --no-context-shift. */
export const CONTEXT_SHIFT_OPTIONS: OptionSpec[] = [
  { name: 'keep', type: 'string', env: 'BITNET_KEEP', arg: 'N', help: 'tokens a context shift keeps from the start of the prompt, BOS not counted (-1: the whole prompt; chat: the system prompt when not given)', default: '0' },
  { name: 'no-context-shift', type: 'boolean', env: 'BITNET_NO_CONTEXT_SHIFT', help: 'stop at the end of the context (finish reason length) instead of dropping half of the tokens after --keep and going on' },
];

/**
 * The context shift group as generation options (contextShift on unless --no-context-shift; nKeep when
 * --keep is given). `contextSize`: the loaded context, which --keep must be below (a UsageError naming it).
 */
export function contextShiftOptions(v: Values, contextSize: number): Pick<GenerateOptions, 'contextShift' | 'nKeep'> {
  const keep = num(v, 'keep', { int: true, min: -1 });
  if (keep !== undefined && keep >= contextSize) throw new UsageError(`--keep must be below the context size ${contextSize}, got "${str(v, 'keep')}"`);
  return { contextShift: v['no-context-shift'] !== true, ...(keep !== undefined ? { nKeep: keep } : {}) };
}

export const SAMPLING_OPTIONS: OptionSpec[] = [
  { name: 'n-predict', short: 'n', type: 'string', env: 'BITNET_N_PREDICT', arg: 'N', help: 'tokens to generate (-1: until a stop; with --no-context-shift, or the end of the context)', default: '-1' },
  { name: 'seed', short: 's', type: 'string', env: 'BITNET_SEED', arg: 'N', help: 'random seed (-1: random)', default: '-1' },
  { name: 'temp', type: 'string', env: 'BITNET_TEMP', arg: 'T', help: 'temperature (0: greedy)', default: '0.8' },
  { name: 'top-k', type: 'string', env: 'BITNET_TOP_K', arg: 'K', help: 'top-k sampling (0: off)', default: '40' },
  { name: 'top-p', type: 'string', env: 'BITNET_TOP_P', arg: 'P', help: 'top-p sampling (1: off)', default: '0.95' },
  { name: 'min-p', type: 'string', env: 'BITNET_MIN_P', arg: 'P', help: 'min-p sampling (0: off)', default: '0.05' },
  { name: 'repeat-penalty', type: 'string', env: 'BITNET_REPEAT_PENALTY', arg: 'X', help: 'repetition penalty (1: off)', default: '1.0' },
  { name: 'repeat-last-n', type: 'string', env: 'BITNET_REPEAT_LAST_N', arg: 'N', help: 'tokens the penalties look back over (-1: all)', default: '64' },
  { name: 'presence-penalty', type: 'string', env: 'BITNET_PRESENCE_PENALTY', arg: 'X', help: 'presence penalty', default: '0' },
  { name: 'frequency-penalty', type: 'string', env: 'BITNET_FREQUENCY_PENALTY', arg: 'X', help: 'frequency penalty', default: '0' },
  { name: 'stop', short: 'r', type: 'string', multiple: true, arg: 'TEXT', help: 'stop string (repeatable); never printed' },
  { name: 'ignore-eos', type: 'boolean', env: 'BITNET_IGNORE_EOS', help: 'keep generating past end-of-text tokens' },
];

export const GRAMMAR_OPTIONS: OptionSpec[] = [
  { name: 'grammar', type: 'string', arg: 'GBNF', help: 'constrain the output to a GBNF grammar (llama.cpp\'s dialect, start rule "root")' },
  { name: 'grammar-file', type: 'string', arg: 'FILE', help: 'read the GBNF grammar from a file' },
  { name: 'json-schema', type: 'string', arg: 'JSON', help: 'constrain the output to JSON valid for this JSON Schema (e.g. \'{}\' for any JSON)' },
  { name: 'json-schema-file', type: 'string', arg: 'FILE', help: 'read the JSON Schema from a file' },
];

/**
 * The grammar of the grammar group, compiled (reading its file), or undefined; errors name the flag.
 * `read` reads a file as UTF-8 text.
 */
export async function grammarOption(v: Values, read: (file: string) => Promise<string>): Promise<CompiledGrammar | undefined> {
  const given = GRAMMAR_OPTIONS.map((o) => o.name).filter((n) => str(v, n) !== undefined);
  if (given.length === 0) return undefined;
  if (given.length > 1) throw new UsageError(`--${given[0]} and --${given[1]} cannot be used together`);
  const flag = given[0]!;
  let text = str(v, flag)!;
  if (flag.endsWith('-file')) {
    try {
      text = await read(text);
    } catch (e) {
      throw new UsageError(`--${flag}: cannot read ${text}: ${(e as Error).message}`);
    }
  }
  let spec: GrammarSpec;
  if (flag.startsWith('json-schema')) {
    let schema: unknown;
    try {
      schema = JSON.parse(text) as unknown;
    } catch (e) {
      throw new UsageError(`--${flag}: not valid JSON: ${(e as Error).message}`);
    }
    spec = { jsonSchema: schema };
  } else spec = { gbnf: text };
  try {
    return compileGrammar(spec);
  } catch (e) {
    if (e instanceof BitnetError && e.code === 'GRAMMAR') {
      const msg = e.subject !== undefined && e.message.startsWith(`${e.subject}: `) ? e.message.slice(e.subject.length + 2) : e.message;
      throw new UsageError(`--${flag}: ${msg}`);
    }
    throw e;
  }
}

export const HELP_OPTION: OptionSpec = { name: 'help', short: 'h', type: 'boolean', help: 'show this help' };

export type Values = Record<string, string | boolean | string[] | undefined>;

/** Parses argv against option specs; missing options fall back to their environment twin. */
export function parseCommand(argv: string[], specs: OptionSpec[], maxPositionals: number): { values: Values; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const s of [...specs, HELP_OPTION]) {
    options[s.name] = { type: s.type, ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(expandAliases(argv, specs), specs), options, allowPositionals: true, strict: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    const unknown = /^Unknown option '([^']+)'/.exec(err.message);
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
      throw new UsageError(`unknown option ${unknown[1]} (a prompt that starts with "-" goes after --, as in -- "${unknown[1]}")`);
    }
    throw new UsageError(err.message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
  const values = { ...parsed.values } as Values;
  for (const s of specs) {
    if (values[s.name] !== undefined || !s.env) continue;
    const env = process.env[s.env];
    if (env === undefined || env === '') continue;
    values[s.name] = s.type === 'boolean' ? !['0', 'false', 'no'].includes(env.toLowerCase()) : env;
  }
  if (parsed.positionals.length > maxPositionals) throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  return { values, positionals: parsed.positionals };
}

/** Multi-letter short spellings (`-ctk q8_0`, `-ctk=q8_0`) as their long flags; arguments after `--` stay as they are. */
export function expandAliases(argv: string[], specs: OptionSpec[]): string[] {
  const byAlias = new Map<string, string>();
  for (const s of specs) for (const a of s.aliases ?? []) byAlias.set(a, s.name);
  if (byAlias.size === 0) return argv;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const eq = a.indexOf('=');
    const name = byAlias.get(eq < 0 ? a : a.slice(0, eq));
    out.push(name === undefined ? a : eq < 0 ? `--${name}` : `--${name}${a.slice(eq)}`);
  }
  return out;
}

/**
 * `-n -1` / `--seed -1` as llama.cpp parses them: a negative number after an option that takes a value is that
 * value (node's parseArgs would read it as an option), so such pairs become `--name=-1`.
 */
export function joinNegativeValues(argv: string[], specs: OptionSpec[]): string[] {
  const byFlag = new Map<string, string>();
  for (const s of specs) {
    if (s.type !== 'string') continue;
    byFlag.set(`--${s.name}`, s.name);
    if (s.short) byFlag.set(`-${s.short}`, s.name);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = byFlag.get(a);
    const next = argv[i + 1];
    if (name !== undefined && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

export function helpText(usage: string, summary: string, groups: Array<[string, OptionSpec[]]>): string {
  const lines = [`usage: ${usage}`, '', summary, ''];
  for (const [title, specs] of groups) {
    lines.push(`${title}:`);
    for (const s of specs) {
      const flag = `${s.short ? `-${s.short}, ` : s.aliases?.length ? `${s.aliases[0]}, ` : '    '}--${s.name}${s.arg ? ` ${s.arg}` : ''}`;
      const extra = [s.default !== undefined ? `default ${s.default}` : '', s.env ? `env ${s.env}` : ''].filter(Boolean).join('; ');
      lines.push(`  ${flag.padEnd(32)} ${s.help}${extra ? ` (${extra})` : ''}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

export function str(v: Values, name: string): string | undefined {
  const x = v[name];
  return typeof x === 'string' ? x : undefined;
}

export function num(v: Values, name: string, opts: { int?: boolean; min?: number; max?: number } = {}): number | undefined {
  const s = str(v, name);
  if (s === undefined) return undefined;
  const n = Number(s);
  const bad = s.trim() === '' || !Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max);
  if (bad) {
    const kind = opts.int ? 'an integer' : 'a number';
    const lo = opts.min !== undefined;
    const hi = opts.max !== undefined;
    const range = lo && hi ? `${kind} in [${opts.min}, ${opts.max}]` : lo ? `${kind} >= ${opts.min}` : hi ? `${kind} <= ${opts.max}` : kind;
    throw new UsageError(`--${name} must be ${range}, got "${s}"`);
  }
  return n;
}

/** -m (or BITNET_MODEL), else the bundled TinyStories model. */
export function requireModel(v: Values): string {
  const m = str(v, 'model') ?? defaultModelPath();
  if (!m) throw new UsageError('no model given: pass -m PATH-OR-REPO (or set BITNET_MODEL); the bundled default model is missing from this install');
  return m;
}

function oneOf<T extends string>(v: Values, name: string, allowed: readonly T[]): T | undefined {
  const s = str(v, name);
  if (s === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(s)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${s}"`);
  return s as T;
}

/**
 * The cache types of --cache-type (both), --cache-type-k / -ctk and --cache-type-v / -ctv (each overriding the
 * first for its side), or undefined when none is given. A bad value is a UsageError naming its flag.
 */
export function kvTypeOptions(v: Values): { k: KvType; v: KvType } | undefined {
  const both = oneOf(v, 'cache-type', KV_TYPES);
  const k = oneOf(v, 'cache-type-k', KV_TYPES);
  const vt = oneOf(v, 'cache-type-v', KV_TYPES);
  if (both === undefined && k === undefined && vt === undefined) return undefined;
  return { k: k ?? both ?? 'f16', v: vt ?? both ?? 'f16' };
}

function positive(v: Values, name: string): number | undefined {
  const n = num(v, name);
  if (n !== undefined && !(n > 0)) throw new UsageError(`--${name} must be a number > 0, got "${str(v, name)}"`);
  return n;
}

/** RoPE overrides from the --rope-* and --yarn-* flags (undefined when none is given); errors name the flag. */
export function ropeOptions(v: Values): RopeOptions | undefined {
  const o: RopeOptions = {};
  const scaling = oneOf(v, 'rope-scaling', ROPE_SCALING_TYPES);
  if (scaling) o.scaling = scaling;
  const scale = positive(v, 'rope-scale');
  const freqScale = positive(v, 'rope-freq-scale');
  if (scale !== undefined && freqScale !== undefined) throw new UsageError('--rope-scale and --rope-freq-scale cannot be used together (one is 1/the other)');
  if (scale !== undefined) o.scale = scale;
  if (freqScale !== undefined) o.scale = 1 / freqScale;
  const set = (key: keyof RopeOptions, x: number | undefined) => {
    if (x !== undefined) (o as Record<string, unknown>)[key] = x;
  };
  set('freqBase', positive(v, 'rope-freq-base'));
  set('yarnOrigCtx', num(v, 'yarn-orig-ctx', { int: true, min: 0 }));
  set('yarnExtFactor', num(v, 'yarn-ext-factor', { max: 1 }));
  set('yarnAttnFactor', positive(v, 'yarn-attn-factor'));
  set('yarnBetaFast', positive(v, 'yarn-beta-fast'));
  set('yarnBetaSlow', positive(v, 'yarn-beta-slow'));
  return Object.keys(o).length ? o : undefined;
}

/** Load options from the model and context groups. */
export function loadOptions(v: Values): LoadOptions {
  const ctx = num(v, 'ctx-size', { int: true, min: 0 });
  const batch = num(v, 'batch-size', { int: true, min: 1 });
  const kv = kvTypeOptions(v);
  const act = oneOf(v, 'activation', ['relu2', 'silu'] as const);
  const threads = num(v, 'threads', { int: true, min: 1 });
  const backend = oneOf(v, 'backend', BACKEND_KINDS);
  const lmHead = oneOf(v, 'lm-head', ['int8', 'exact', 'f16'] as const);
  const ternaryKernel = oneOf(v, 'ternary-kernel', TERNARY_KERNELS);
  const rope = ropeOptions(v);
  return {
    ...(rope ? { rope } : {}),
    ...(threads ? { threads } : {}),
    ...(backend ? { backend } : {}),
    ...(lmHead ? { lmHead } : {}),
    ...(ternaryKernel ? { ternaryKernel } : {}),
    ...(ctx ? { contextSize: ctx } : {}),
    ...(batch ? { batchSize: batch } : {}),
    ...(kv ? { kvType: kv } : {}),
    ...(act ? { activation: act } : {}),
  };
}

/** Generation options from the sampling group. */
export function generateOptions(v: Values): GenerateOptions {
  const n = num(v, 'n-predict', { int: true, min: -1 });
  const seed = num(v, 'seed', { int: true, min: -1 });
  const o: GenerateOptions = {};
  if (n !== undefined && n >= 0) o.maxTokens = n;
  if (seed !== undefined && seed >= 0) o.seed = seed;
  const set = (key: keyof GenerateOptions, flag: string, opts: Parameters<typeof num>[2] = {}) => {
    const x = num(v, flag, opts);
    if (x !== undefined) (o as Record<string, unknown>)[key] = x;
  };
  set('temperature', 'temp', { min: 0 });
  set('topK', 'top-k', { int: true, min: 0 });
  set('topP', 'top-p', { min: 0, max: 1 });
  set('minP', 'min-p', { min: 0, max: 1 });
  set('repeatPenalty', 'repeat-penalty', { min: 0 });
  set('repeatLastN', 'repeat-last-n', { int: true, min: -1 });
  set('presencePenalty', 'presence-penalty');
  set('frequencyPenalty', 'frequency-penalty');
  const stop = v.stop;
  if (Array.isArray(stop) && stop.length) o.stop = stop.map((s) => s.replace(/\\n/g, '\n'));
  if (v['ignore-eos'] === true) o.ignoreEos = true;
  return o;
}
