// The training run: data and vocabulary (or a checkpoint to resume), then optimizer steps over seeded
// random windows with clipping and the learning-rate schedule, periodic held-out evaluation, periodic
// and final checkpoints, and a stop on an AbortSignal that saves first. Batches depend only on (seed,
// step), so a resumed run continues exactly the curve of an uninterrupted one.
import { BitnetError } from '../errors.js';
import { yieldToEventLoop } from '../generate/sequence.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import type { BpeVocab } from '../tokenizer/vocab.js';
import { loadCheckpoint, restore, saveCheckpoint, type LoadedCheckpoint, type RunState } from './checkpoint.js';
import { encodeDocuments, evalWindows, sampleBatch, splitDocuments, splitHeldOut, trainVocabulary } from './data.js';
import { createTrainKernels, refTrainKernels, type TrainKernels } from './kernels.js';
import { TrainModel, type ModelConfig } from './model.js';
import { AdamW, clipGradients, scheduleAt, type ScheduleKind } from './optim.js';

export interface TrainOptions {
  /** training text (documents separated by `<|endoftext|>` lines) */
  text: string;
  /** held-out text; default: `valFraction` of the documents */
  valText?: string;
  valFraction: number;
  vocabSize: number;
  model: Omit<ModelConfig, 'nVocab'>;
  steps: number;
  batch: number;
  seqLen: number;
  lr: number;
  minLrRatio: number;
  warmup: number;
  schedule: ScheduleKind;
  weightDecay: number;
  clip: number;
  seed: number;
  /** evaluate every N steps (0: only at the end) on up to evalTokens held-out tokens */
  evalEvery: number;
  evalTokens: number;
}

/** Options kept in checkpoints (the texts are not: a resume re-reads them). */
export type StoredOptions = Omit<TrainOptions, 'text' | 'valText'>;

export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensSeen: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

export interface TrainHooks {
  onStep?: (s: StepInfo) => void;
  onEval?: (e: { step: number; valLoss: number; valPpl: number }) => void;
  onPhase?: (text: string) => void;
  /** save a checkpoint here every checkpointEvery steps, at the end, and when stopped */
  checkpoint?: string;
  checkpointEvery?: number;
  signal?: AbortSignal;
  /** kernels for the linear maps (default: WASM SIMD on all physical cores; the caller disposes what it passes) */
  kernels?: TrainKernels;
}

export interface TrainResult {
  model: TrainModel;
  vocab: BpeVocab;
  state: RunState<StoredOptions>;
  stopped: boolean;
  valLoss: number;
  valTokens: number;
}

/** The model a checkpoint holds (reference kernels; for exports and evaluations). */
export async function modelFromCheckpoint(path: string): Promise<{ model: TrainModel; vocab: BpeVocab; state: RunState<StoredOptions> }> {
  const ck = await loadCheckpoint<StoredOptions>(path);
  const model = new TrainModel(ck.state.config, 0);
  for (const p of model.params) {
    const src = ck.tensors.get(p.name);
    if (!src || src.length !== p.data.length) throw new BitnetError('MISSING_TENSOR', 'missing or misshapen in the checkpoint', { file: path, name: p.name });
    p.data.set(src);
  }
  return { model, vocab: ck.vocab, state: ck.state };
}

/** Mean cross-entropy (nats per token) of the model on consecutive windows of a token stream. */
export function evaluate(model: TrainModel, stream: Int32Array, T: number, maxTokens: number): { loss: number; tokens: number } {
  let sum = 0;
  let count = 0;
  for (const w of evalWindows(stream, T, maxTokens)) {
    const r = model.step(w, 1, w.length - 1, { backward: false });
    sum += r.loss * r.count;
    count += r.count;
  }
  return { loss: count ? sum / count : NaN, tokens: count };
}

/** Trains from scratch, or resumes the run saved at `resume` (its options win; `steps` may be raised). */
export async function train(input: TrainOptions, hooks: TrainHooks = {}, resume?: string): Promise<TrainResult> {
  let opts: StoredOptions;
  let vocab: BpeVocab;
  let ck: Awaited<ReturnType<typeof loadCheckpoint<StoredOptions>>> | undefined;
  if (resume) {
    hooks.onPhase?.(`resuming from ${resume}`);
    ck = await loadCheckpoint<StoredOptions>(resume);
    opts = { ...ck.state.options, steps: Math.max(ck.state.options.steps, input.steps) };
    vocab = ck.vocab;
  } else {
    const { text: _t, valText: _v, ...rest } = input;
    opts = rest;
  }
  const docs = splitDocuments(input.text);
  const split = input.valText !== undefined ? { train: docs, val: splitDocuments(input.valText) } : splitHeldOut(docs, opts.valFraction, opts.seed);
  if (!resume) {
    hooks.onPhase?.(`training a ${opts.vocabSize}-token BPE vocabulary on ${split.train.length} documents`);
    vocab = trainVocabulary(split.train, opts.vocabSize);
  }
  const tok = new Tokenizer(vocab!);
  hooks.onPhase?.(`tokenizing ${split.train.length} training and ${split.val.length} held-out documents`);
  const trainStream = encodeDocuments(tok, split.train);
  const valStream = encodeDocuments(tok, split.val);
  const config: ModelConfig = { ...opts.model, nVocab: tok.vocabSize };
  if (opts.seqLen > config.nCtx) throw new BitnetError('INVALID_ARGUMENT', `sequence length ${opts.seqLen} exceeds the context ${config.nCtx}`, { name: 'seqLen' });
  const kernels = hooks.kernels ?? (await createTrainKernels('auto'));
  const model = new TrainModel(config, opts.seed, kernels);
  try {
    return await loop(model, opts, ck, resume, vocab!, trainStream, valStream, hooks);
  } finally {
    // the returned model keeps working (for exports and checks) on the reference kernels
    if (!hooks.kernels) {
      model.kernels = refTrainKernels;
      kernels.dispose();
    }
  }
}

async function loop(
  model: TrainModel,
  opts: StoredOptions,
  ck: LoadedCheckpoint<StoredOptions> | undefined,
  resume: string | undefined,
  vocab: BpeVocab,
  trainStream: Int32Array,
  valStream: Int32Array,
  hooks: TrainHooks,
): Promise<TrainResult> {
  const config = model.config;
  const optim = new AdamW(model.params);
  const state: RunState<StoredOptions> = ck ? { ...ck.state, options: opts } : { config, options: opts, step: 0, tokensSeen: 0, elapsedMs: 0, history: [] };
  if (ck) restore(ck, model, optim, resume!);
  hooks.onPhase?.(
    `model: ${(model.parameterCount / 1e6).toFixed(2)}M parameters (${config.nLayer} layers x ${config.nEmbd}, ${config.quantize ? 'ternary BitLinear' : 'full precision'}); ` +
      `${trainStream.length} training tokens, ${valStream.length} held-out`,
  );

  const sched = { kind: opts.schedule, lr: opts.lr, minLrRatio: opts.minLrRatio, warmup: opts.warmup, total: opts.steps, weightDecay: opts.weightDecay };
  const save = async (): Promise<void> => {
    if (hooks.checkpoint) await saveCheckpoint(hooks.checkpoint, model, optim, vocab, state);
  };
  const evalNow = (): number => {
    const e = evaluate(model, valStream, opts.seqLen, opts.evalTokens);
    hooks.onEval?.({ step: state.step, valLoss: e.loss, valPpl: Math.exp(e.loss) });
    return e.loss;
  };
  const runStart = performance.now();
  const elapsedBefore = state.elapsedMs;
  const stepsBefore = state.step;
  let stopped = false;
  while (state.step < opts.steps) {
    if (hooks.signal?.aborted) {
      stopped = true;
      break;
    }
    const batch = sampleBatch(trainStream, opts.batch, opts.seqLen, opts.seed, state.step);
    model.zeroGrad();
    const { loss } = model.step(batch, opts.batch, opts.seqLen, { backward: true });
    if (!Number.isFinite(loss)) throw new BitnetError('INVALID_ARGUMENT', `the loss became ${loss} at step ${state.step}: lower the learning rate`, { name: 'lr' });
    const gradNorm = clipGradients(model.params, opts.clip);
    const { lr, weightDecay } = scheduleAt(sched, state.step);
    optim.step(lr, weightDecay);
    state.step++;
    state.tokensSeen += opts.batch * opts.seqLen;
    state.elapsedMs = elapsedBefore + (performance.now() - runStart);
    const entry: RunState<StoredOptions>['history'][number] = { step: state.step, loss };
    state.history.push(entry);
    const rate = ((state.step - stepsBefore) * opts.batch * opts.seqLen * 1000) / Math.max(1, performance.now() - runStart);
    hooks.onStep?.({ step: state.step, steps: opts.steps, loss, lr, gradNorm, tokensSeen: state.tokensSeen, tokensPerSecond: rate, etaSeconds: ((opts.steps - state.step) * opts.batch * opts.seqLen) / Math.max(rate, 1e-9) });
    if (opts.evalEvery > 0 && state.step % opts.evalEvery === 0 && state.step < opts.steps) entry.valLoss = evalNow();
    if (hooks.checkpointEvery && state.step % hooks.checkpointEvery === 0) await save();
    await yieldToEventLoop(); // lets signals (Ctrl-C) and I/O through between steps
  }
  const valLoss = evalNow();
  if (state.history.length) state.history[state.history.length - 1]!.valLoss = valLoss;
  await save();
  return { model, vocab, state, stopped, valLoss, valTokens: Math.min(valStream.length, opts.evalTokens) };
}
