// The bundled offline task: TinyStories next-sentence choice for the bundled 1M model (and any model). Each
// document is the opening of a held-out story and four candidate next sentences (the true one and three
// from other stories, at the same position); scored as multiple choice (acc, acc_norm). The documents are
// written by scripts/make-tinystories-task.mjs from ../shared/data into models/ when the package is built.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BitnetError } from '../../errors.js';
import type { TaskSpec } from '../task.js';
import { ACC, ACC_NORM, DEFAULTS, int, str, strList } from './common.js';

export const TINYSTORIES_TASK_FILE = 'tinystories-next-sentence.jsonl';

/** Path of the bundled documents (src/eval/tasks and dist/eval/tasks both sit three levels below the package root). */
export function tinystoriesTaskPath(): string {
  return fileURLToPath(new URL(`../../../models/${TINYSTORIES_TASK_FILE}`, import.meta.url));
}

const NAME = 'tinystories_next_sentence';

export const tinystoriesNextSentence: TaskSpec = {
  ...DEFAULTS,
  task: NAME,
  version: 1.0,
  dataset: { path: 'json', dataFiles: { test: tinystoriesTaskPath() } },
  testSplit: 'test',
  outputType: 'multiple_choice',
  docToText: (doc) => str(doc, 'context', NAME),
  docToTarget: (doc) => int(doc, 'label', NAME),
  docToChoice: (doc) => strList(doc.choices, 'field "choices"', NAME),
  metrics: [ACC, ACC_NORM],
  doc: "bitnet.ts's own task (not lm-eval's): held-out TinyStories openings, the true next sentence among four; chance is 0.25",
};

/**
 * The bundled task, or a clear error when this install lacks its documents. `file` reads the documents from
 * another path (the same task otherwise).
 */
export function bundledTask(file: string = tinystoriesTaskPath()): TaskSpec {
  if (!existsSync(file)) {
    throw new BitnetError('FILE_NOT_FOUND', "the bundled task's documents are not in this install (they are written from ../shared/data/tinystories by `node scripts/make-tinystories-task.mjs`, which `npm run build` runs when that folder exists); pass --tasks", { file });
  }
  return file === tinystoriesTaskPath() ? tinystoriesNextSentence : { ...tinystoriesNextSentence, dataset: { path: 'json', dataFiles: { test: file } } };
}
