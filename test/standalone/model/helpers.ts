// Helpers shared by the model tests: logits of a token list in generation mode (a prompt batch, then
// single-token steps), the numerics a generation sees.
import type { BitnetModel } from '../../../src/index.js';

/** Logits in generation mode: the first 4 tokens as one prompt batch, then one token per step. */
export async function generationMode(m: BitnetModel, tokens: number[]): Promise<Float32Array[]> {
  const seq = m.createSequence();
  const rows = [(await seq.prefill(tokens.slice(0, 4))).logits];
  for (const t of tokens.slice(4)) rows.push(await seq.step(t));
  seq.dispose();
  return rows;
}
