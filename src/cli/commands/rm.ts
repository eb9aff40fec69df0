// `bitnet rm REF...`: removes a cached model: `org/repo` its whole cache entry (snapshots, refs, blobs),
// `org/repo:FILE-or-QUANT` one file (and the blobs nothing else uses), a URL its download, `--dataset org/name`
// a cached dataset; says what it freed.
import { removeCached, removeCachedDataset } from '../../hub/index.js';
import { helpText, parseCommand, UsageError, type OptionSpec } from '../args.js';
import { mb } from '../progress.js';

const OPTIONS: OptionSpec[] = [{ name: 'dataset', type: 'string', multiple: true, arg: 'ORG/NAME', help: 'remove a cached dataset' }];

export const rmCommand = {
  name: 'rm',
  summary: 'remove a cached model (a Hugging Face repo, one of its files, or a URL download) or dataset',
  help: () => helpText('bitnet rm REF...', 'REF: org/repo (everything cached for it), org/repo:FILE-or-QUANT (that file), or a URL. Refuses what is not cached.', [['options', OPTIONS]]),
  async run(argv: string[]): Promise<void> {
    const { values: v, positionals } = parseCommand(argv, OPTIONS, 64);
    const datasets = (v.dataset as string[] | undefined) ?? [];
    if (positionals.length === 0 && datasets.length === 0) throw new UsageError('nothing to remove: bitnet rm org/repo');
    for (const d of datasets) {
      const r = await removeCachedDataset(d);
      process.stdout.write(`removed ${r.what}, freed ${mb(r.freed)}\n`);
    }
    for (const ref of positionals) {
      const r = await removeCached(ref);
      process.stdout.write(`removed ${r.what}, freed ${mb(r.freed)}\n`);
    }
  },
};
