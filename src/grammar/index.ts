// Grammar-constrained decoding: compile a GBNF grammar, a JSON Schema or "any JSON object" once, then make one
// TokenConstraint per generation over a tokenizer's vocabulary. Every bad or pathological input is refused
// with BitnetError('GRAMMAR') naming the bad part, within the limits below (time, size, depth, ambiguity).
import { BitnetError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { lowerGrammar, now, type FlatGrammar } from './compile.js';
import { GrammarConstraint, MaskCache, type TokenConstraint } from './constraint.js';
import { parseGbnf } from './gbnf.js';
import { schemaToGbnf } from './json-schema.js';
import { StateSpace } from './matcher.js';
import { tokenTrie, type TokenTrie } from './vocab.js';

export type { TokenConstraint } from './constraint.js';
export { parseGbnf } from './gbnf.js';
export type { GNode, GRule, GrammarAst } from './gbnf.js';

export type GrammarSpec =
  | { gbnf: string; root?: string } // llama.cpp GBNF dialect
  | { jsonSchema: unknown } // JSON Schema (object or boolean)
  | { json: true }; // any JSON object (response_format json_object)

export interface GrammarLimits {
  /** most characters of GBNF text (generated text from a schema included) */
  maxGrammarChars: number;
  /** deepest nesting of groups in GBNF or a pattern */
  maxNesting: number;
  /** largest count in a repetition {m,n} (GBNF, pattern, minItems/maxItems, minLength/maxLength) */
  maxRepeat: number;
  /** most rules after groups and repetitions are expanded */
  maxRules: number;
  /** most grammar elements after expansion */
  maxElements: number;
  /** compile time budget, ms */
  maxCompileMs: number;
  /** deepest nesting of JSON schemas */
  maxSchemaDepth: number;
  /** longest `pattern` */
  maxPatternChars: number;
  /** most parse stacks alive at once */
  maxStacks: number;
  /** most interned parse frames and states per grammar before its tables are rebuilt (and per generation) */
  maxFrames: number;
  /** allowed-token bitsets kept per grammar and vocabulary (16 KB each for a 128k vocabulary) */
  maxCachedMasks: number;
}

export const DEFAULT_GRAMMAR_LIMITS: GrammarLimits = {
  maxGrammarChars: 1 << 20,
  maxNesting: 64,
  maxRepeat: 10000,
  maxRules: 20000,
  maxElements: 200000,
  maxCompileMs: 2000,
  maxSchemaDepth: 64,
  maxPatternChars: 4096,
  maxStacks: 1024,
  maxFrames: 1 << 19,
  maxCachedMasks: 256,
};

/** A compiled grammar: immutable to callers, reusable across generations and tokenizers. */
export class CompiledGrammar {
  /** the GBNF text the grammar was compiled from (generated for JSON schemas) */
  readonly gbnf: string;
  /** which input it came from, for error messages: 'grammar', 'json_schema' or 'response_format' */
  readonly subject: string;
  /** @internal */
  readonly flat: FlatGrammar;
  /** @internal */
  readonly limits: GrammarLimits;
  private space: StateSpace;
  private masks = new WeakMap<TokenTrie, MaskCache>();

  /** @internal */
  constructor(gbnf: string, subject: string, flat: FlatGrammar, limits: GrammarLimits) {
    this.gbnf = gbnf;
    this.subject = subject;
    this.flat = flat;
    this.limits = limits;
    this.space = new StateSpace(flat, limits, subject); // expands the start state: refuses explosive ones now
  }

  /** @internal the mask cache for a vocabulary, its state tables rebuilt when they have grown large */
  cacheFor(trie: TokenTrie): MaskCache {
    if (this.space.size > this.limits.maxFrames / 2) {
      this.space = new StateSpace(this.flat, this.limits, this.subject);
      this.masks = new WeakMap();
    }
    let c = this.masks.get(trie);
    if (c === undefined) {
      c = new MaskCache(this.space, trie, this.limits.maxCachedMasks);
      this.masks.set(trie, c);
    }
    return c;
  }
}

/** Recently compiled grammars by their input, so a request repeating a schema finds its masks already cached. */
const recent = new Map<string, CompiledGrammar>();
const RECENT_MAX = 8;

/**
 * Throws BitnetError('GRAMMAR', message naming the bad part, { name: 'grammar' | 'json_schema' | 'response_format' }).
 * The same input (and limits) compiled again returns the same immutable grammar, from a small LRU.
 */
export function compileGrammar(spec: GrammarSpec, limits: Partial<GrammarLimits> = {}): CompiledGrammar {
  let key: string | undefined;
  try {
    key = JSON.stringify([spec, limits]);
  } catch {
    key = undefined; // cyclic input: compiled (and refused) below
  }
  if (key !== undefined && key.length <= 1 << 16) {
    const hit = recent.get(key);
    if (hit !== undefined) {
      recent.delete(key);
      recent.set(key, hit);
      return hit;
    }
  }
  const g = compileUncached(spec, limits);
  if (key !== undefined && key.length <= 1 << 16) {
    if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value!);
    recent.set(key, g);
  }
  return g;
}

function compileUncached(spec: GrammarSpec, limits: Partial<GrammarLimits>): CompiledGrammar {
  const lim = { ...DEFAULT_GRAMMAR_LIMITS, ...limits };
  const start = now();
  const deadline = start + lim.maxCompileMs;
  let text: string;
  let root = 'root';
  let subject: string;
  if ('gbnf' in spec) {
    subject = 'grammar';
    if (typeof spec.gbnf !== 'string') throw new BitnetError('GRAMMAR', 'must be a string of GBNF', { name: subject });
    text = spec.gbnf;
    root = spec.root ?? 'root';
  } else if ('jsonSchema' in spec) {
    subject = 'json_schema';
    text = toGbnf(spec.jsonSchema, lim, subject, deadline);
  } else if ('json' in spec && spec.json === true) {
    subject = 'response_format';
    text = toGbnf({ type: 'object' }, lim, subject, deadline);
  } else {
    throw new BitnetError('GRAMMAR', 'expected { gbnf }, { jsonSchema } or { json: true }', { name: 'grammar' });
  }
  const ast = parseGbnf(text, root, lim, subject);
  const flat = lowerGrammar(ast, lim, subject, deadline);
  const g = new CompiledGrammar(text, subject, flat, lim);
  if (now() > deadline) throw new BitnetError('GRAMMAR', `took longer than ${lim.maxCompileMs} ms to compile`, { name: subject });
  return g;
}

function toGbnf(schema: unknown, lim: GrammarLimits, subject: string, deadline: number): string {
  const checkTime = (): void => {
    if (now() > deadline) throw new BitnetError('GRAMMAR', `took longer than ${lim.maxCompileMs} ms to compile`, { name: subject });
  };
  const text = schemaToGbnf(schema, lim, subject, checkTime);
  if (text.length > lim.maxGrammarChars) throw new BitnetError('GRAMMAR', `the schema makes a grammar of ${text.length} characters, more than the limit of ${lim.maxGrammarChars}`, { name: subject });
  return text;
}

/** JSON Schema -> GBNF text, as llama.cpp's json-schema-to-grammar (for --json-schema and debugging). */
export function jsonSchemaToGbnf(schema: unknown, limits: Partial<GrammarLimits> = {}): string {
  const lim = { ...DEFAULT_GRAMMAR_LIMITS, ...limits };
  return toGbnf(schema, lim, 'json_schema', now() + lim.maxCompileMs);
}

/** One constraint per generation; vocabulary tables are built once per tokenizer and cached. */
/**
 * Builds the vocabulary's byte trie that constraints walk (once per tokenizer; 0.5-0.9 s for a 128k
 * vocabulary), so the first constrained request does not pay for it. Servers call it while loading.
 */
export function prepareGrammarVocabulary(tokenizer: Tokenizer): void {
  tokenTrie(tokenizer);
}

export function createConstraint(g: CompiledGrammar, tokenizer: Tokenizer, endTokens: readonly number[]): TokenConstraint {
  return new GrammarConstraint(g.cacheFor(tokenTrie(tokenizer)), endTokens, g.subject);
}
