// `bitnet convert IN OUT --type i2_s|tq2_0|tq1_0`: converts a ternary model (GGUF in any ternary format, or
// a Hugging Face folder) to a bitnet.cpp I2_S or llama.cpp TQ2_0/TQ1_0 GGUF, keeping the ternary weights
// exactly; progress, the verification result and any warning go to stderr. Ctrl-C leaves no partial file.
import { convertModel, CONVERT_TYPES, EMBEDDING_TYPES, type ConvertProgress, type ConvertType, type EmbeddingType } from '../../engine/convert.js';
import { helpText, parseCommand, str, UsageError, type OptionSpec, type Values } from '../args.js';
import { mb, warn } from '../progress.js';

const OPTIONS: OptionSpec[] = [
  { name: 'type', type: 'string', arg: CONVERT_TYPES.join('|'), help: 'projection type: i2_s for bitnet.cpp (arch bitnet-b1.58), tq2_0 / tq1_0 for llama.cpp (arch bitnet)' },
  { name: 'embedding', type: 'string', arg: EMBEDDING_TYPES.join('|'), help: 'token embedding (and untied output) type; keep: as stored, f16 from Hugging Face bf16/f32', default: 'keep' },
  { name: 'allow-lossy', type: 'boolean', help: 'convert even where the effective weights change (differing TQ block scales -> I2_S, non-ternary float weights); each such tensor is named' },
  { name: 'force', short: 'f', type: 'boolean', help: 'replace an existing OUT (only once the new file is written and verified)' },
  { name: 'no-progress', type: 'boolean', env: 'BITNET_NO_PROGRESS', help: 'no progress line on stderr' },
];

const SUMMARY = `Converts IN (a GGUF file with I2_S, TQ2_0, TQ1_0 or ternary-valued F32/F16 projections, or a Hugging Face
folder with packed ternary or bf16/f16/f32 master weights) to a GGUF at OUT. The ternary weights are kept
exactly (value x scale, for every weight); where a target cannot store them exactly the conversion stops
and names the tensor, unless --allow-lossy. Metadata, hyperparameters and the whole tokenizer (merges,
token types, special ids, chat template) are carried over. OUT is written to OUT.tmp-PID, re-read and
compared with IN, and only then renamed to OUT. An existing OUT is an error without --force (llama-quantize
overwrites silently; a conversion of a large model is not worth losing to a typo).

examples:
  bitnet convert ./bitnet-b1.58-2B-4T ggml-model-i2_s.gguf --type i2_s     # HF safetensors -> bitnet.cpp
  bitnet convert ggml-model-i2_s.gguf bitnet-2b-tq2_0.gguf --type tq2_0    # -> llama.cpp / ollama`;

function choice<T extends string>(v: Values, name: string, allowed: readonly T[]): T | undefined {
  const s = str(v, name)?.toLowerCase();
  if (s === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(s)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${str(v, name)}"`);
  return s as T;
}

/** One live line on a terminal; otherwise nothing until the summary. */
function progressLine(enabled: boolean): { update: (p: ConvertProgress) => void; clear: () => void } {
  const tty = enabled && process.stderr.isTTY === true && !process.env.CI;
  let shown = false;
  return {
    update(p) {
      if (!tty) return;
      shown = true;
      const what = p.phase === 'write' ? 'converting' : 'verifying';
      process.stderr.write(`\r\x1b[2K${what} ${p.done}/${p.total} ${p.tensor}`);
    },
    clear() {
      if (shown) process.stderr.write('\r\x1b[2K');
    },
  };
}

export const convertCommand = {
  name: 'convert',
  summary: 'convert a ternary model between I2_S (bitnet.cpp), TQ2_0/TQ1_0 (llama.cpp) and Hugging Face',
  help: () => helpText(`bitnet convert IN OUT --type ${CONVERT_TYPES.join('|')} [--embedding TYPE] [--force]`, SUMMARY, [['options', OPTIONS]]),
  async run(argv: string[]): Promise<void> {
    const { values: v, positionals } = parseCommand(argv, OPTIONS, 2);
    const [input, output] = positionals;
    if (!input || !output) throw new UsageError('usage: bitnet convert IN OUT --type i2_s|tq2_0|tq1_0');
    const type = choice<ConvertType>(v, 'type', CONVERT_TYPES);
    if (!type) throw new UsageError(`--type is required (${CONVERT_TYPES.join(', ')})`);
    const embedding = choice<EmbeddingType>(v, 'embedding', EMBEDDING_TYPES) ?? 'keep';
    const progress = progressLine(v['no-progress'] !== true);
    const ac = new AbortController();
    const onSigint = (): void => ac.abort(new Error('interrupted'));
    process.once('SIGINT', onSigint);
    const t0 = performance.now();
    try {
      const r = await convertModel(input, output, {
        type,
        embedding,
        allowLossy: v['allow-lossy'] === true,
        force: v.force === true,
        signal: ac.signal,
        onProgress: progress.update,
        onWarning: (m) => {
          progress.clear();
          warn(m);
        },
      });
      progress.clear();
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      process.stderr.write(
        `wrote ${r.output}: arch ${r.arch} (from ${r.sourceArch}), ${r.ternary} ${r.type.toUpperCase()} projections, embedding ${r.embeddingType}, ` +
          `${r.tensors} tensors, ${mb(r.bytes)} in ${secs} s\n`,
      );
      for (const l of r.lossy) warn(`${l.tensor}: ${l.reason} (--allow-lossy)`);
      const exact = r.ternary - new Set(r.lossy.map((l) => l.tensor)).size;
      process.stderr.write(
        r.lossy.length === 0
          ? `verified: ${r.ternary} ternary tensors identical (values and scales), ${r.verifiedOther} other tensors byte for byte\n`
          : `verified: ${r.ternary} ternary tensors with identical values, ${exact} also with identical scales; ${r.verifiedOther} other tensors byte for byte\n`,
      );
    } finally {
      process.removeListener('SIGINT', onSigint);
      progress.clear();
    }
  },
};
