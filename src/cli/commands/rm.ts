// `bitnet rm REF...`: removes a cached model: `org/repo` its whole cache entry (snapshots, refs, blobs),
// `org/repo:FILE-or-QUANT` one file (and the blobs nothing else uses), a URL its download; says what it freed.
import { removeCached } from '../../hub/index.js';
import { helpText, parseCommand, UsageError } from '../args.js';
import { mb } from '../progress.js';

export const rmCommand = {
  name: 'rm',
  summary: 'remove a cached model (a Hugging Face repo, one of its files, or a URL download)',
  help: () => helpText('bitnet rm REF...', 'REF: org/repo (everything cached for it), org/repo:FILE-or-QUANT (that file), or a URL. Refuses what is not cached.', []),
  async run(argv: string[]): Promise<void> {
    const { positionals } = parseCommand(argv, [], 64);
    if (positionals.length === 0) throw new UsageError('nothing to remove: bitnet rm org/repo');
    for (const ref of positionals) {
      const r = await removeCached(ref);
      process.stdout.write(`removed ${r.what}, freed ${mb(r.freed)}\n`);
    }
  },
};
