// The numbers of the bundled model's card (models/README.md), measured so a reader can rerun them:
// held-out perplexity of the shipped GGUF computed by the engine over the whole held-out split, the same
// measure from training checkpoints (the ternary run and its full-precision twin) by the trainer's
// forward pass, and sample outputs from fixed seeds. Writes models/<name>.json and prints a summary.
// Run: `npm run model-card [-- --checkpoint ternary=PATH --checkpoint full-precision=PATH]`
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL_FILE } from '../src/cli/default-model.js';
import { streamPerplexity } from '../src/engine/quality.js';
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
  },
});
const T = Number(values.window);
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
const out = values.model!.replace(/\.gguf$/, '.json');
writeFileSync(out, `${JSON.stringify(card, null, 2)}\n`);
process.stderr.write(`wrote ${out}\n`);
if (values.readme) {
  writeFileSync(values.readme, renderCard(card));
  process.stderr.write(`wrote ${values.readme}\n`);
}
for (const s of samples) process.stdout.write(`\n[seed ${s.seed}] ${s.prompt}${s.text}\n`);
await model.dispose();

function renderCard(c: typeof card): string {
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
${tern && fp ? `\nThe ternary model's perplexity is ${(tern.ppl / fp.ppl).toFixed(2)}x its twin's: at this scale (1M parameters, ${(tern.tokensSeen / 1e6).toFixed(1)}M tokens) ternary weights\ncost quality; the BitNet b1.58 papers report the gap closing only at billions of parameters.\n` : ''}
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

\`npm run model-card\` measures every number above and writes them to \`${c.file.replace(/\.gguf$/, '.json')}\`;
\`test/standalone/model/default-model.test.ts\` checks the engine's perplexity and the samples against it.
`;
}
