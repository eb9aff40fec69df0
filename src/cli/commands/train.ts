// `bitnet train -f TEXT... --out model.gguf`: trains a small BitNet b1.58 model (tokenizer included) from
// scratch on text files and exports it as a GGUF (or a Hugging Face folder) that `bitnet run` loads.
// Progress (loss, tokens/s, ETA) on stderr; Ctrl-C saves a checkpoint (`--checkpoint`) and stops.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { helpText, num, parseCommand, str, UsageError, type OptionSpec, type Values } from '../args.js';
import { exportGguf, exportHfPacked } from '../../train/export.js';
import { createTrainKernels } from '../../train/kernels.js';
import { modelFromCheckpoint, train, type TrainOptions } from '../../train/trainer.js';
import type { ScheduleKind } from '../../train/optim.js';

const DATA: OptionSpec[] = [
  { name: 'file', short: 'f', type: 'string', multiple: true, arg: 'FILE', help: 'training text (repeatable); documents separated by <|endoftext|> lines' },
  { name: 'val-file', type: 'string', multiple: true, arg: 'FILE', help: 'held-out text (default: --val-fraction of the documents)' },
  { name: 'val-fraction', type: 'string', env: 'BITNET_VAL_FRACTION', arg: 'X', help: 'share of documents held out', default: '0.02' },
  { name: 'vocab-size', type: 'string', env: 'BITNET_VOCAB_SIZE', arg: 'N', help: 'BPE vocabulary size', default: '4096' },
];
const MODEL: OptionSpec[] = [
  { name: 'dim', type: 'string', arg: 'N', help: 'embedding size (a multiple of 128)', default: '256' },
  { name: 'layers', type: 'string', arg: 'N', help: 'transformer blocks', default: '4' },
  { name: 'heads', type: 'string', arg: 'N', help: 'attention heads', default: '4' },
  { name: 'kv-heads', type: 'string', arg: 'N', help: 'key/value heads (GQA)', default: '2' },
  { name: 'ff', type: 'string', arg: 'N', help: 'feed-forward size (a multiple of 128)', default: '768' },
  { name: 'ctx', type: 'string', arg: 'N', help: 'context length of the model', default: '256' },
  { name: 'rope-theta', type: 'string', arg: 'X', help: 'RoPE base', default: '10000' },
  { name: 'full-precision', type: 'boolean', help: 'train the full-precision twin (no BitLinear quantization; not exportable as ternary)' },
];
const OPTIM: OptionSpec[] = [
  { name: 'steps', type: 'string', env: 'BITNET_STEPS', arg: 'N', help: 'optimizer steps', default: '1000' },
  { name: 'batch', type: 'string', arg: 'N', help: 'sequences per step', default: '8' },
  { name: 'seq', type: 'string', arg: 'N', help: 'tokens per sequence', default: '128' },
  { name: 'lr', type: 'string', arg: 'X', help: 'peak learning rate', default: '3e-3' },
  { name: 'min-lr-ratio', type: 'string', arg: 'X', help: 'final learning rate as a share of the peak', default: '0.1' },
  { name: 'warmup', type: 'string', arg: 'N', help: 'warmup steps', default: '100' },
  { name: 'schedule', type: 'string', arg: 'cosine|linear|two-stage', help: 'decay after warmup (two-stage: the 2B4T report\'s)', default: 'cosine' },
  { name: 'weight-decay', type: 'string', arg: 'X', help: 'AdamW weight decay', default: '0.1' },
  { name: 'clip', type: 'string', arg: 'X', help: 'gradient norm clip (0: off)', default: '1.0' },
  { name: 'seed', short: 's', type: 'string', arg: 'N', help: 'random seed', default: '1' },
  { name: 'eval-every', type: 'string', arg: 'N', help: 'held-out evaluation every N steps (0: at the end)', default: '100' },
  { name: 'eval-tokens', type: 'string', arg: 'N', help: 'held-out tokens per evaluation', default: '16384' },
];
const OUTPUT: OptionSpec[] = [
  { name: 'out', short: 'o', type: 'string', arg: 'PATH', help: 'the exported model (a .gguf file, or a folder with --format safetensors)' },
  { name: 'format', type: 'string', arg: 'gguf|safetensors', help: 'export format', default: 'gguf' },
  { name: 'embedding', type: 'string', arg: 'f16|f32', help: 'embedding type in the GGUF', default: 'f16' },
  { name: 'name', type: 'string', arg: 'TEXT', help: 'model name in the GGUF metadata' },
  { name: 'checkpoint', type: 'string', arg: 'PATH', help: 'save training state here (periodically, at the end, on Ctrl-C)', default: 'OUT.ckpt.gguf, or bitnet-train.ckpt.gguf' },
  { name: 'checkpoint-every', type: 'string', arg: 'N', help: 'steps between checkpoints', default: '200' },
  { name: 'resume', type: 'string', arg: 'PATH', help: 'continue the run saved in this checkpoint (its options win; --steps may extend it)' },
  { name: 'export-only', type: 'boolean', help: 'with --resume and --out: export the checkpoint as it is, without training' },
  { name: 'no-progress', type: 'boolean', env: 'BITNET_NO_PROGRESS', help: 'one line per evaluation instead of a live progress line' },
  { name: 'threads', short: 't', type: 'string', env: 'BITNET_THREADS', arg: 'N', help: 'CPU threads for the WASM kernels', default: 'physical cores' },
];

function int(v: Values, name: string, dflt: number, min = 1): number {
  return num(v, name, { int: true, min }) ?? dflt;
}

async function exportCheckpoint(v: Values): Promise<void> {
  const resume = str(v, 'resume');
  const out = str(v, 'out');
  if (!resume || !out) throw new UsageError('--export-only needs --resume CHECKPOINT and --out PATH');
  const { model, vocab, state } = await modelFromCheckpoint(resume);
  if (!state.config.quantize) throw new UsageError('this checkpoint holds a full-precision twin, which has no ternary export');
  const name = str(v, 'name') ?? basename(out).replace(/\.gguf$/, '');
  if ((str(v, 'format') ?? 'gguf') === 'gguf') {
    const embedding = (str(v, 'embedding') ?? 'f16').toUpperCase() as 'F16' | 'F32';
    await exportGguf(model, vocab, out, { name, description: `bitnet train: ${state.step} steps, ${state.tokensSeen} tokens` }, { embedding });
  } else await exportHfPacked(model, vocab, out);
  process.stderr.write(`exported ${out} from ${resume} (step ${state.step}, ${state.tokensSeen} tokens)\n`);
}

function clock(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(sec).padStart(2, '0')}s`;
}

export const trainCommand = {
  name: 'train',
  summary: 'train a small BitNet b1.58 model from scratch on text',
  help: () =>
    helpText('bitnet train -f TEXT [-f TEXT...] --out model.gguf [options]', 'Trains a byte-level BPE tokenizer and a ternary (BitLinear) model, then exports it for bitnet run.', [
      ['data', DATA],
      ['model', MODEL],
      ['optimization', OPTIM],
      ['output', OUTPUT],
    ]),
  async run(argv: string[]): Promise<void> {
    const { values: v } = parseCommand(argv, [...DATA, ...MODEL, ...OPTIM, ...OUTPUT], 0);
    if (v['export-only'] === true) return exportCheckpoint(v);
    const files = (v.file as string[] | undefined) ?? [];
    if (files.length === 0) throw new UsageError('no training text: pass -f FILE');
    const out = str(v, 'out');
    const format = str(v, 'format') ?? 'gguf';
    if (!['gguf', 'safetensors'].includes(format)) throw new UsageError(`--format must be gguf or safetensors, got "${format}"`);
    const schedule = (str(v, 'schedule') ?? 'cosine') as ScheduleKind;
    if (!['cosine', 'linear', 'two-stage'].includes(schedule)) throw new UsageError(`--schedule must be cosine, linear or two-stage, got "${schedule}"`);
    const embedding = (str(v, 'embedding') ?? 'f16').toUpperCase();
    if (!['F16', 'F32'].includes(embedding)) throw new UsageError(`--embedding must be f16 or f32, got "${str(v, 'embedding')}"`);
    const quantize = v['full-precision'] !== true;
    if (out && !quantize) throw new UsageError('--out exports a ternary model: the full-precision twin (--full-precision) is for comparison only');
    const text = (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('\n<|endoftext|>\n');
    const valFiles = (v['val-file'] as string[] | undefined) ?? [];
    const valText = valFiles.length ? (await Promise.all(valFiles.map((f) => readFile(f, 'utf8')))).join('\n<|endoftext|>\n') : undefined;
    const opts: TrainOptions = {
      text,
      ...(valText !== undefined ? { valText } : {}),
      valFraction: num(v, 'val-fraction', { min: 0, max: 0.9 }) ?? 0.02,
      vocabSize: int(v, 'vocab-size', 4096, 300),
      model: {
        nEmbd: int(v, 'dim', 256),
        nFf: int(v, 'ff', 768),
        nLayer: int(v, 'layers', 4),
        nHead: int(v, 'heads', 4),
        nHeadKv: int(v, 'kv-heads', 2),
        nCtx: int(v, 'ctx', 256),
        ropeTheta: num(v, 'rope-theta', { min: 1 }) ?? 10000,
        eps: 1e-5,
        quantize,
      },
      steps: int(v, 'steps', 1000),
      batch: int(v, 'batch', 8),
      seqLen: int(v, 'seq', 128, 2),
      lr: num(v, 'lr', { min: 0 }) ?? 3e-3,
      minLrRatio: num(v, 'min-lr-ratio', { min: 0, max: 1 }) ?? 0.1,
      warmup: int(v, 'warmup', 100, 0),
      schedule,
      weightDecay: num(v, 'weight-decay', { min: 0 }) ?? 0.1,
      clip: num(v, 'clip', { min: 0 }) ?? 1,
      seed: int(v, 'seed', 1, 0),
      evalEvery: int(v, 'eval-every', 100, 0),
      evalTokens: int(v, 'eval-tokens', 16384),
    };
    const live = v['no-progress'] !== true && process.stderr.isTTY === true && !process.env.CI;
    const controller = new AbortController();
    const onSigint = (): void => {
      process.stderr.write('\ninterrupted: saving and stopping after this step\n');
      controller.abort();
    };
    process.once('SIGINT', onSigint);
    const checkpoint = str(v, 'checkpoint') ?? (out ? `${out.replace(/\.gguf$/, '').replace(/[\\/]+$/, '')}.ckpt.gguf` : 'bitnet-train.ckpt.gguf');
    const resume = str(v, 'resume');
    let lastLine = 0;
    const threads = num(v, 'threads', { int: true, min: 1 });
    const kernels = await createTrainKernels('auto', threads);
    try {
      const r = await train(
        opts,
        {
          signal: controller.signal,
          kernels,
          checkpoint,
          checkpointEvery: int(v, 'checkpoint-every', 200),
          onPhase: (t) => process.stderr.write(`${t}\n`),
          onStep: (s) => {
            const line = `step ${s.step}/${s.steps} | loss ${s.loss.toFixed(4)} | lr ${s.lr.toExponential(2)} | ${s.tokensPerSecond.toFixed(0)} tokens/s | ETA ${clock(s.etaSeconds)}`;
            if (live) process.stderr.write(`\r\x1b[2K${line}`);
            else if (performance.now() - lastLine > 30000 || s.step === s.steps) {
              lastLine = performance.now();
              process.stderr.write(`${line}\n`);
            }
          },
          onEval: (e) => process.stderr.write(`${live ? '\r\x1b[2K' : ''}step ${e.step}: held-out loss ${e.valLoss.toFixed(4)}, perplexity ${e.valPpl.toFixed(2)}\n`),
        },
        resume,
      );
      const s = r.state;
      process.stderr.write(
        `${live ? '\n' : ''}${r.stopped ? 'stopped' : 'done'} at step ${s.step}: ${s.tokensSeen} tokens in ${clock(s.elapsedMs / 1000)}, held-out loss ${r.valLoss.toFixed(4)} (perplexity ${Math.exp(r.valLoss).toFixed(2)}) on ${r.valTokens} tokens\n`,
      );
      process.stderr.write(`checkpoint: ${checkpoint}${r.stopped ? ` (continue with --resume ${checkpoint})` : ''}\n`);
      if (out && !r.stopped) {
        const name = str(v, 'name') ?? basename(out).replace(/\.gguf$/, '');
        const description = `bitnet train: ${s.step} steps, ${s.tokensSeen} tokens, held-out loss ${r.valLoss.toFixed(4)}`;
        if (format === 'gguf') await exportGguf(r.model, r.vocab, out, { name, description }, { embedding: embedding as 'F16' | 'F32' });
        else await exportHfPacked(r.model, r.vocab, out);
        process.stderr.write(`exported ${out} (${format})\n`);
      }
      if (r.stopped) process.exitCode = 130;
    } finally {
      kernels.dispose();
      process.off('SIGINT', onSigint);
    }
  },
};
