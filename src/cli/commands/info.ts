// `bitnet info MODEL`: metadata, hyperparameters, the tensor table (type, shape, size), parameter count and
// a memory estimate, read from headers only. `--json` prints the same as one JSON object.
import { inspectModel } from '../../engine/load.js';
import { estimateMemory } from '../../engine/memory.js';
import { GGUF_TYPE, GGUF_TYPE_NAMES, type GgufTypedValue } from '../../formats/gguf.js';
import { ropeIsScaled } from '../../model/rope-scaling.js';
import { helpText, num, parseCommand, requireModel, type OptionSpec } from '../args.js';
import { resolveRef } from '../common.js';
import { mb } from '../progress.js';

const OPTIONS: OptionSpec[] = [
  { name: 'model', short: 'm', type: 'string', env: 'BITNET_MODEL', arg: 'REF', help: 'model: path, hub repo or URL (or the positional argument)', default: 'the bundled TinyStories model' },
  { name: 'json', type: 'boolean', help: 'print JSON' },
  { name: 'ctx-size', short: 'c', type: 'string', arg: 'N', help: 'context size for the memory estimate (0: the model\'s, at most 4096)', default: '0' },
  { name: 'tensors', type: 'boolean', help: 'list every tensor (default: the first 40 lines)' },
  { name: 'no-progress', type: 'boolean', help: 'no download progress on stderr' },
];

/** shortest decimal that reads back as the same float32 */
function f32(x: number): string {
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

function showValue(tv: GgufTypedValue): string {
  const v = tv.value;
  if (tv.type === GGUF_TYPE.ARRAY) {
    const n = (v as ArrayLike<unknown>).length;
    const items = Array.from(v as ArrayLike<unknown>).slice(0, 4).map((x) => (typeof x === 'string' ? JSON.stringify(x) : String(x)));
    return `[${GGUF_TYPE_NAMES[tv.itemType ?? 0]} x ${n}] ${items.join(', ')}${n > 4 ? ', ...' : ''}`;
  }
  if (typeof v === 'string') return JSON.stringify(v.length > 120 ? `${v.slice(0, 117)}...` : v);
  return tv.type === GGUF_TYPE.FLOAT32 ? f32(v as number) : String(v);
}

function jsonValue(tv: GgufTypedValue): unknown {
  const v = tv.value;
  if (typeof v === 'bigint') return v.toString();
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? x.toString() : x));
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' && x !== null && 'type' in x ? jsonValue(x as GgufTypedValue) : x));
  return v;
}

export const infoCommand = {
  name: 'info',
  summary: 'show a model\'s metadata, tensors, parameter count and memory estimate',
  help: () => helpText('bitnet info [MODEL] [--json] [--tensors]', 'Reads the model\'s headers (not its weights) and describes it.', [['options', OPTIONS]]),
  async run(argv: string[]): Promise<void> {
    const { values: v, positionals } = parseCommand(argv, OPTIONS, 1);
    const path = positionals[0] ?? requireModel(v);
    const info = await inspectModel(await resolveRef(path, v));
    const params = info.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    const ctx = num(v, 'ctx-size', { int: true, min: 0 }) || Math.min(info.hparams?.nCtxTrain || 4096, 4096);
    const mem = info.hparams ? estimateMemory(info.hparams, info.tensors, { contextSize: ctx, kvType: 'f16', batchSize: 512 }) : undefined;
    const typeCounts = new Map<string, number>();
    for (const t of info.tensors) typeCounts.set(t.type, (typeCounts.get(t.type) ?? 0) + 1);
    if (v.json === true) {
      const metadata = Object.fromEntries([...info.metadata].map(([k, tv]) => [k, jsonValue(tv)]));
      const out = { path: info.path, format: info.format, fileSize: info.fileSize, parameters: params, hparams: info.hparams ?? null, hparamsError: info.hparamsError ?? null, memory: mem ? { contextSize: ctx, ...mem } : null, metadata, tensors: info.tensors, warnings: info.warnings };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return;
    }
    const lines: string[] = [];
    lines.push(`file:        ${info.path} (${info.format}, ${mb(info.fileSize)})`);
    lines.push(`parameters:  ${params.toLocaleString('en-US')} (${(params / 1e9).toFixed(3)} B)`);
    lines.push(`tensors:     ${info.tensors.length} (${[...typeCounts].map(([t, n]) => `${t}: ${n}`).join(', ')})`);
    if (info.hparams) {
      const h = info.hparams;
      lines.push(`arch:        ${h.arch}: ${h.nLayer} layers, embd ${h.nEmbd}, ffn ${h.nFf}, heads ${h.nHead}/${h.nHeadKv} kv, head dim ${h.headDim}, vocab ${h.nVocab}, ctx ${h.nCtxTrain}`);
      lines.push(`             ${h.act === 'relu2' ? 'squared ReLU' : 'SiLU'} gate, ${h.subNorms ? 'sub-norms, ' : ''}${h.ropeStyle} RoPE base ${h.ropeFreqBase}${ropeIsScaled(h.ropeScaling) ? ` (${h.ropeScaling.type} x${f32(Math.fround(1 / h.ropeScaling.freqScale))} over ${h.ropeScaling.origCtx})` : ''}, rms eps ${f32(h.eps)}`);
    } else {
      lines.push(`arch:        not loadable: ${info.hparamsError}`);
    }
    if (mem) lines.push(`memory:      ~${mb(mem.total)} at context ${ctx} (weights ${mb(mem.weights)}, KV cache f16 ${mb(mem.kvCache)}, buffers ${mb(mem.buffers)})`);
    for (const w of info.warnings) lines.push(`warning:     ${w}`);
    lines.push('', 'metadata:');
    for (const [k, tv] of info.metadata) lines.push(`  ${k.padEnd(44)} ${GGUF_TYPE_NAMES[tv.type]?.padEnd(4)} ${showValue(tv)}`);
    lines.push('', 'tensors:');
    const shown = v.tensors === true ? info.tensors : info.tensors.slice(0, 40);
    for (const t of shown) lines.push(`  ${t.name.padEnd(32)} ${t.type.padEnd(10)} [${t.shape.join(', ')}]`.padEnd(70) + ` ${mb(t.bytes)}`);
    if (shown.length < info.tensors.length) lines.push(`  ... ${info.tensors.length - shown.length} more (--tensors lists all)`);
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
