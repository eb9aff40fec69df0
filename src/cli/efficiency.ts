// `bitnet bench --efficiency`: the BitNet reports' efficiency row for any model (non-embedding weight bytes,
// resident memory, decode ms/token at tgN, per-token bytes and integer/float ops from the shapes and the kernels
// used, the 7 nm arithmetic energy estimate beside an FP16 model of identical shape, and RAPL joules where
// readable), as a text block or a JSON object.
import {
  benchEfficiency, ENERGY_7NM, ENERGY_ASSUMPTIONS, ENERGY_FORMULA, energyPj, paperEnergyPj, sumCounts,
  type ComponentCount, type EfficiencyRun, type OpCounts,
} from '../engine/efficiency.js';
import type { LoadOptions } from '../engine/load.js';
import { mb } from './progress.js';
import { raplMeter, RAPL_ROOT } from './rapl.js';

/** The estimates derived from a run's counts, in picojoules per token. */
export interface EnergySummary {
  formula: string;
  constantsPj: typeof ENERGY_7NM;
  assumptions: string[];
  /** this model, every op as our kernels execute it */
  executedPj: number;
  /** the FP16 model of identical shape, every op */
  fp16Pj: number;
  /** the reports' accounting: non-embedding weights x one INT8 add (ternary) or one FP16 multiply + add */
  paper: { weights: number; ternaryPj: number; fp16Pj: number };
  ratioExecuted: number;
  ratioPaper: number;
}

export function energySummary(r: EfficiencyRun): EnergySummary {
  const executedPj = energyPj(sumCounts(r.counts));
  const fp16Pj = energyPj(sumCounts(r.fp16Counts));
  const p = paperEnergyPj(r.hparams);
  return {
    formula: ENERGY_FORMULA, constantsPj: ENERGY_7NM, assumptions: ENERGY_ASSUMPTIONS,
    executedPj, fp16Pj, paper: { weights: p.weights, ternaryPj: p.ternary, fp16Pj: p.fp16 },
    ratioExecuted: fp16Pj / executedPj, ratioPaper: p.fp16 / p.ternary,
  };
}

/** Large counts in engineering form: 2.08e9. */
const n = (x: number): string => (x === 0 ? '0' : x < 1e4 ? String(Math.round(x)) : x.toExponential(2).replace('e+', 'e'));

/** Joules from picojoules, with the millijoules beside. */
export const joules = (pj: number): string => `${(pj * 1e-12).toExponential(3)} J (${(pj * 1e-9).toPrecision(3)} mJ)`;

function row(name: string, c: OpCounts): string {
  return `| ${name} | ${n(c.weightBytes)} | ${n(c.kvBytes)} | ${n(c.intAdd)} | ${n(c.intMul)} | ${n(c.floatAdd)} | ${n(c.floatMul)} | ${n(c.floatSpecial)} | ${n(c.lookups)} | ${(energyPj(c) / 1e6).toPrecision(3)} |`;
}

function table(counts: readonly ComponentCount[]): string[] {
  return [
    '| component | weight B | KV B | int add | int mul | float add | float mul | exp/sqrt/trig | lookups | energy µJ |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...counts.map((c) => row(c.name, c)),
    row('**total**', sumCounts(counts)),
  ];
}

/** The text block. */
export function formatEfficiency(r: EfficiencyRun, e: EnergySummary): string {
  const total = sumCounts(r.counts);
  const fp16 = sumCounts(r.fp16Counts);
  const tg = r.tg;
  const lines = [
    `## efficiency: ${r.model}`,
    '',
    `${r.backend} x${r.threads}, ternary kernel ${r.kernel}, lm_head ${r.lmHead}, KV cache ${r.kvType}, node ${process.version}`,
    `non-embedding weights: ${mb(r.nonEmbeddingFileBytes)} in the file (every tensor but token_embd); as loaded ${mb(r.nonEmbeddingLoadedBytes)} (ternary matrices + norms) + lm_head ${mb(r.lmHeadLoadedBytes)} (${r.tiedLmHead ? `tied: the lm_head is token_embd, held as its own ${r.lmHead === 'int8' ? 'int8 copy' : 'exact copy'}` : 'its own output.weight'})`,
    `ternary weights: ${n(r.ternaryWeights)}, ${mb((r.ternaryWeights * Math.log2(3)) / 8)} at log2(3) = 1.58 bits each (the reports' convention), ${mb(r.ternaryWeights / 4)} in the kernels' 2-bit codes`,
    `resident memory: model weights ${mb(r.memory.weights)}, KV cache ${mb(r.kvCacheBytes)} (the bench sequence's ${r.kvPositions} positions)${r.memory.device !== undefined ? `, device heap ${mb(r.memory.device)}` : ''}; process RSS ${mb(r.rssBytes)} (peak ${mb(r.peakRssBytes)})`,
    `decode latency: ${r.msPerToken.toFixed(2)} ms/token (${tg.test}: ${tg.mean.toFixed(2)} ± ${tg.sd.toFixed(2)} t/s over ${tg.samples.length} run(s); fastest run ${r.bestMsPerToken.toFixed(2)} ms/token)`,
    '',
    `per decoded token at ${r.keys} keys attended (the ${tg.test} average), summed over the ${r.hparams.nLayer} layers:`,
    '',
    ...table(r.counts),
    '',
    `reads per token: ${mb(total.weightBytes)} of weights + ${mb(total.kvBytes)} of KV cache`,
    '',
    `energy estimate (arithmetic only, not a measurement): ${e.formula}`,
    `  this model, every op as our kernels execute it:      ${joules(e.executedPj)} per token`,
    `  FP16 model of identical shape, every op:             ${joules(e.fp16Pj)} per token (FP16 / this: ${e.ratioExecuted.toFixed(1)}x)`,
    `  as the reports count (the ${n(e.paper.weights)} non-embedding matrix weights only):`,
    `    ternary, one INT8 add per weight:                  ${joules(e.paper.ternaryPj)} per token`,
    `    FP16, one FP16 multiply + one FP16 add per weight: ${joules(e.paper.fp16Pj)} per token (FP16 / ternary: ${e.ratioPaper.toFixed(1)}x)`,
    `  our kernels execute ${r.kernel === 'lut' ? 'no multiplies in the ternary matmuls (table lookups of pair sums, int8 adds)' : r.kernel === 'mad' ? 'a multiply and an add per ternary weight (codes {0,1,2} x q, minus the activation sum per row)' : 'a subtraction, a multiply and an add per ternary weight ((code - 1) x q, the reference loop)'}; the reports count an INT8 add per weight`,
    `  FP16 model: ${n(fp16.floatMul)} float multiplies, ${n(fp16.floatAdd)} float adds, ${mb(fp16.weightBytes)} of weights per token`,
    ...e.assumptions.map((a) => `  assumption: ${a}`),
    `measured energy (RAPL): ${r.measuredJoulesPerToken !== undefined ? `${r.measuredJoulesPerToken.toFixed(4)} J per decoded token (${r.energyNote})` : r.energyNote}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Runs the efficiency bench and writes the block (md) or a JSON object to stdout. */
export async function runEfficiency(model: string, opts: LoadOptions & { n: number; depth: number; reps: number; format: 'md' | 'json'; raplRoot?: string }): Promise<void> {
  const meter = raplMeter(opts.raplRoot ?? process.env.BITNET_RAPL_ROOT ?? RAPL_ROOT);
  const r = await benchEfficiency(model, { ...opts, meter });
  const e = energySummary(r);
  if (opts.format === 'json') {
    process.stdout.write(`${JSON.stringify({ efficiency: { ...r, measuredJoulesPerToken: r.measuredJoulesPerToken ?? null, total: sumCounts(r.counts), fp16Total: sumCounts(r.fp16Counts), energy: e }, node: process.version }, null, 2)}\n`);
    return;
  }
  process.stdout.write(formatEfficiency(r, e));
}
