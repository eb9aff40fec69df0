// The numbers of the bundled model's card (models/README.md), measured so a reader can rerun them:
// held-out perplexity of the shipped GGUF computed by the engine over the whole held-out split, the same
// measure from training checkpoints (the ternary run and its full-precision twin) by the trainer's
// forward pass, sample outputs from fixed seeds, and the score on the bundled eval task (tinystories_next_sentence,
// as `bitnet eval` with no arguments prints it). Writes models/<name>.json (and the card with --readme).
// Run: `npm run model-card [-- --checkpoint ternary=PATH --checkpoint full-precision=PATH] [--readme models/README.md]`;
// `--eval-only` re-measures only the eval score and keeps the other numbers of models/<name>.json.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL_FILE } from '../src/cli/default-model.js';
import { streamPerplexity } from '../src/engine/quality.js';
import { runEval } from '../src/eval/runner.js';
import { bundledTask, TINYSTORIES_TASK_FILE } from '../src/eval/tasks/tinystories.js';
import { loadModel } from '../src/index.js';
import { encodeDocuments, splitDocuments } from '../src/train/data.js';
import { createTrainKernels } from '../src/train/kernels.js';
import { evaluate, modelFromCheckpoint } from '../src/train/trainer.js';

export const SAMPLE_PROMPTS = [
  { prompt: 'Once upon a time', seed: 1 },
  { prompt: 'Lily and Tom went to the park.', seed: 2 },
  { prompt: 'The little dog was sad because', seed: 3 },
];
export const SAMPLE_OPTIONS = { maxTokens: 80, temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 };

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: new URL(`../models/${DEFAULT_MODEL_FILE}`, import.meta.url).pathname },
    'held-out': { type: 'string', default: new URL('../../shared/data/tinystories/tinystories_v1_valid_head.txt', import.meta.url).pathname },
    window: { type: 'string', default: '256' },
    checkpoint: { type: 'string', multiple: true, default: [] },
    readme: { type: 'string' },
    'eval-only': { type: 'boolean', default: false },
  },
});
const T = Number(values.window);
const out = values.model!.replace(/\.gguf$/, '.json');

/** Everything but the eval score: perplexities (engine, checkpoints) and the samples. */
async function measureCard() {
  const model = await loadModel(values.model!);
  const docs = splitDocuments(readFileSync(values['held-out']!, 'utf8'));
  const stream = encodeDocuments(model.tokenizer, docs);
  process.stderr.write(`held-out: ${docs.length} documents, ${stream.length} tokens\n`);
  const t0 = performance.now();
  let shown = -1;
  const engine = await streamPerplexity(model, stream, T, (d, n) => {
    const pct = Math.floor((100 * d) / n);
    if (pct !== shown && process.stderr.isTTY) process.stderr.write(`\rengine perplexity ${(shown = pct)}%`);
  });
  process.stderr.write(`\rengine: perplexity ${engine.ppl.toFixed(4)} ± ${engine.pplStderr.toFixed(4)} over ${engine.count} predictions (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);

  const checkpoints: Record<string, { ppl: number; tokens: number; step: number; tokensSeen: number; elapsedMs: number; config: unknown; options: unknown }> = {};
  const kernels = await createTrainKernels('auto');
  for (const spec of values.checkpoint as string[]) {
    const [label, path] = spec.includes('=') ? (spec.split('=', 2) as [string, string]) : [spec, spec];
    const { model: m, state } = await modelFromCheckpoint(path);
    m.kernels = kernels;
    const e = evaluate(m, stream, T, Infinity);
    checkpoints[label] = { ppl: Math.exp(e.loss), tokens: e.tokens, step: state.step, tokensSeen: state.tokensSeen, elapsedMs: state.elapsedMs, config: state.config, options: state.options };
    process.stderr.write(`${label}: trainer perplexity ${Math.exp(e.loss).toFixed(4)} over ${e.tokens} predictions (step ${state.step}, ${state.tokensSeen} tokens, ${(state.elapsedMs / 60000).toFixed(1)} min)\n`);
  }
  kernels.dispose();

  const samples = [];
  for (const s of SAMPLE_PROMPTS) {
    const r = await model.complete(s.prompt, { ...SAMPLE_OPTIONS, seed: s.seed });
    samples.push({ ...s, options: SAMPLE_OPTIONS, text: r.text });
  }
  const card = {
    file: DEFAULT_MODEL_FILE,
    bytes: statSync(values.model!).size,
    parameters: model.parameterCount,
    hparams: model.hparams,
    heldOut: { file: values['held-out']!.split('/').slice(-2).join('/'), documents: docs.length, tokens: stream.length, window: T },
    enginePerplexity: { ppl: Number(engine.ppl.toFixed(4)), stderr: Number(engine.pplStderr.toFixed(4)), predictions: engine.count },
    checkpoints,
    samples,
  };
  await model.dispose();
  return card;
}

/**
 * The bundled eval task scored as `bitnet eval` with no arguments scores it: the bundled documents
 * (scripts/make-tinystories-task.mjs), the lm_head in its stored type (exact logits), the default backend.
 */
async function measureNextSentence() {
  const model = await loadModel(values.model!, { lmHead: 'exact' });
  try {
    const task = bundledTask();
    const t0 = performance.now();
    const outcome = await runEval(model, { tasks: [task] });
    const t = outcome.tasks[0]!;
    const m = t.metrics.none!;
    process.stderr.write(`${task.task}: acc ${m.acc!.value.toFixed(4)}, acc_norm ${m.acc_norm!.value.toFixed(4)} over ${t.nSamples.effective} documents (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    return {
      task: task.task,
      file: TINYSTORIES_TASK_FILE,
      source: values['held-out']!.split('/').slice(-2).join('/'),
      documents: t.nSamples.effective,
      choices: 4,
      lmHead: 'exact',
      acc: Number(m.acc!.value.toFixed(4)),
      accStderr: Number(m.acc!.stderr!.toFixed(4)),
      accNorm: Number(m.acc_norm!.value.toFixed(4)),
      accNormStderr: Number(m.acc_norm!.stderr!.toFixed(4)),
    };
  } finally {
    await model.dispose();
  }
}

type Card = Awaited<ReturnType<typeof measureCard>> & { nextSentence?: Awaited<ReturnType<typeof measureNextSentence>> };
const card: Card = values['eval-only'] ? (JSON.parse(readFileSync(out, 'utf8')) as Card) : await measureCard();
card.nextSentence = await measureNextSentence();
writeFileSync(out, `${JSON.stringify(card, null, 2)}\n`);
process.stderr.write(`wrote ${out}\n`);
if (values.readme) {
  writeFileSync(values.readme, renderCard(card));
  process.stderr.write(`wrote ${values.readme}\n`);
}
if (!values['eval-only']) for (const s of card.samples) process.stdout.write(`\n[seed ${s.seed}] ${s.prompt}${s.text}\n`);

function renderCard(c: Card): string {
  const hp = c.hparams;
  const tern = c.checkpoints.ternary as (typeof c.checkpoints)[string] | undefined;
  const fp = c.checkpoints['full-precision'] as (typeof c.checkpoints)[string] | undefined;
  const o = (tern?.options ?? {}) as Record<string, unknown>;
  const min = (ms: number) => `${(ms / 60000).toFixed(0)} min`;
  const rows = [
    `| the shipped GGUF, computed by the engine (WASM backend, f16 embedding, int8 lm_head) | **${c.enginePerplexity.ppl.toFixed(2)}** ± ${c.enginePerplexity.stderr.toFixed(2)} |`,
    ...(tern ? [`| the ternary model, trainer forward (f32 latent weights quantized on the fly) | ${tern.ppl.toFixed(2)} |`] : []),
    ...(fp ? [`| its full-precision twin (same architecture, data, seed and schedule, quantization off) | ${fp.ppl.toFixed(2)} |`] : []),
  ];
  return `# ${c.file.replace(/\.gguf$/, '')}: the bundled default model

A BitNet b1.58 model trained from scratch by \`bitnet train\` on TinyStories, small enough to ship inside the
npm package (${(c.bytes / 1e6).toFixed(2)} MB) so that \`bitnet run "Once upon a time"\` works offline right after
\`npm install\`. It writes simple children's stories; it knows nothing else. For real use, load a real model
with \`-m\` (BitNet b1.58 2B4T: \`ggml-model-i2_s.gguf\`).

## Architecture

BitNet b1.58 2B4T's architecture (\`bitnet-b1.58\`) at small scale: ${hp.nLayer} layers, embedding ${hp.nEmbd},
${hp.nHead} attention heads sharing ${hp.nHeadKv} key/value heads (head size ${hp.headDim}), squared-ReLU gated
feed-forward of ${hp.nFf} with sub-norms before the output and down projections, RoPE (NeoX, base ${hp.ropeFreqBase}),
RMSNorm, tied embedding, context ${hp.nCtxTrain}. Every projection is a BitLinear: absmean ternary weights
{-1, 0, +1} with one scale per tensor, per-token absmax int8 activations. ${(c.parameters / 1e6).toFixed(2)}M parameters
(${hp.nVocab}-token byte-level BPE vocabulary trained on the training split). Stored as bitnet.cpp's I2_S with
an F16 embedding.

## Training

- Data: \`../shared/data/tinystories/\` training files (\`tinystories_v1_train_head.txt\`,
  \`tinystories_v2_gpt4_train_head.txt\`, \`tinystories_sample_3000.txt\`: 7,037 stories); held out:
  \`${c.heldOut.file}\` (${c.heldOut.documents} stories, ${c.heldOut.tokens} tokens), never trained on.
  TinyStories is CDLA-Sharing-1.0 (Eldan & Li, 2023).
- ${tern ? `${tern.step} AdamW steps of ${o.batch} x ${o.seqLen} tokens (${(tern.tokensSeen / 1e6).toFixed(2)}M tokens seen), peak learning rate ${o.lr}, ${o.warmup} warmup steps, ${o.schedule} decay to ${o.minLrRatio}x, weight decay ${o.weightDecay}, gradient clip ${o.clip}, seed ${o.seed}` : 'training facts: run with --checkpoint ternary=PATH'}.
- Time: ${tern ? min(tern.elapsedMs) : '?'} for the ternary model${fp ? ` and ${min(fp.elapsedMs)} for its twin` : ''}, one thread each (both ran side by side) on a
  2-vCPU AMD EPYC VM, Node 24, bitnet.ts's WASM SIMD training kernels.

## Held-out perplexity

Over all ${c.enginePerplexity.predictions} next-token predictions of the held-out split, in windows of ${c.heldOut.window + 1} tokens
(each story as begin-of-text + story + end-of-text):

| model | perplexity |
| --- | ---: |
${rows.join('\n')}
${tern && fp ? `\nThe ternary model's perplexity is ${(tern.ppl / fp.ppl).toFixed(2)}x its twin's: at this scale (1M parameters, ${(tern.tokensSeen / 1e6).toFixed(1)}M tokens) ternary weights\ncost quality; the BitNet b1.58 papers report the gap closing only at billions of parameters.\n` : ''}${c.nextSentence ? nextSentenceSection(c.nextSentence, c.heldOut.documents) : ''}
## Samples

Temperature ${SAMPLE_OPTIONS.temperature}, top-k ${SAMPLE_OPTIONS.topK}, top-p ${SAMPLE_OPTIONS.topP}, min-p ${SAMPLE_OPTIONS.minP}, ${SAMPLE_OPTIONS.maxTokens} tokens at most
(\`bitnet run "PROMPT" -s SEED -n ${SAMPLE_OPTIONS.maxTokens}\` prints the same):

${c.samples.map((s) => `- seed ${s.seed}: **${s.prompt}**${s.text.replace(/\n+/g, ' ')}`).join('\n')}

## Reproduce

\`\`\`sh
D=../shared/data/tinystories
cat $D/tinystories_v1_train_head.txt $D/tinystories_v2_gpt4_train_head.txt $D/tinystories_sample_3000.txt > train.txt
COMMON="-f train.txt --val-file $D/tinystories_v1_valid_head.txt --vocab-size ${o.vocabSize ?? 2048} --dim ${hp.nEmbd} --ff ${hp.nFf} \\
  --layers ${hp.nLayer} --heads ${hp.nHead} --kv-heads ${hp.nHeadKv} --ctx ${hp.nCtxTrain} --seq ${o.seqLen} --batch ${o.batch} --steps ${o.steps} --lr ${o.lr} \\
  --warmup ${o.warmup} --schedule ${o.schedule} --weight-decay ${o.weightDecay} --clip ${o.clip} --seed ${o.seed} --eval-every 500 -t 1"
npx bitnet train $COMMON --checkpoint ternary.ckpt.gguf --out models/${c.file} --name ${c.file.replace(/\.gguf$/, '')}
npx bitnet train $COMMON --full-precision --checkpoint fp.ckpt.gguf
npm run model-card -- --checkpoint ternary=ternary.ckpt.gguf --checkpoint full-precision=fp.ckpt.gguf --readme models/README.md
\`\`\`

\`npm run model-card\` measures every number above and writes them to \`${c.file.replace(/\.gguf$/, '.json')}\`
(\`npm run model-card -- --eval-only --readme models/README.md\` re-measures only the next-sentence score);
\`test/standalone/model/default-model.test.ts\` checks the engine's perplexity and the samples against it,
\`test/standalone/eval/bundled-task.test.ts\` the next-sentence score.
`;
}

function nextSentenceSection(n: NonNullable<Card['nextSentence']>, stories: number): string {
  return `
## Next-sentence choice (bitnet eval)

\`bitnet eval\` with no \`-m\` and no \`--tasks\` scores this model, offline, on the bundled task \`${n.task}\`:
${n.documents} openings of held-out stories (the first 2 to 5 sentences of a story of \`${n.source}\`, never trained
on), each with ${n.choices} candidate next sentences: the story's true one and ${n.choices - 1} sentences of other held-out stories from a
similar position and of similar length, shuffled. Scored as lm-evaluation-harness scores multiple choice: \`acc\`
picks the choice with the highest log-likelihood, \`acc_norm\` the highest per byte; chance is ${(1 / n.choices).toFixed(2)}. The lm_head
runs in its stored type (exact logits), \`bitnet eval\`'s default.

| metric | value | stderr |
| --- | ---: | ---: |
| acc | ${n.acc.toFixed(4)} | ± ${n.accStderr.toFixed(4)} |
| acc_norm | **${n.accNorm.toFixed(4)}** | ± ${n.accNormStderr.toFixed(4)} |
| chance | ${(1 / n.choices).toFixed(4)} | |

Data: TinyStories (Eldan & Li, 2023, arXiv:2305.07759; Hugging Face \`roneneldan/TinyStories\`), licensed
CDLA-Sharing-1.0; the held-out file is the head of its validation split (${stories} stories; see
\`../shared/data/tinystories/SOURCES.md\`). The documents, \`models/${n.file}\` (one JSON object a line:
\`context\`, \`choices\`, \`label\`, and \`story\` / \`sentence\` / \`source\` to trace each one back), are written
by \`scripts/make-tinystories-task.mjs\` (a fixed seed, so the same bytes every time) from that file when the
package is built; they ship in the package beside the model, under the same CDLA-Sharing-1.0 license.

\`\`\`sh
npx bitnet eval                                   # the table above (about 10 s on one core)
node scripts/make-tinystories-task.mjs            # rewrite the documents from ../shared/data/tinystories
\`\`\`
`;
}
