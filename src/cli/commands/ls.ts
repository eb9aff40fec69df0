// `bitnet ls`: the models in the Hugging Face cache (each snapshot with its refs, files, sizes, and the path
// that loads as a model), the cached datasets (bitnet pull --dataset) and bitnet's URL downloads; `--json`
// for the same as one object.
import { hubConfig, listCache } from '../../hub/index.js';
import { helpText, parseCommand, type OptionSpec } from '../args.js';
import { mb } from '../progress.js';

const OPTIONS: OptionSpec[] = [
  { name: 'json', type: 'boolean', help: 'print JSON' },
  { name: 'all', short: 'a', type: 'boolean', help: 'also list cached repos with no loadable model' },
];

export const lsCommand = {
  name: 'ls',
  summary: 'list cached models and datasets (Hugging Face cache and URL downloads)',
  help: () => helpText('bitnet ls [--json] [-a]', 'Lists what bitnet pull (or any Hugging Face tool) downloaded; the "model" path of each snapshot is what -m loads.', [['options', OPTIONS]]),
  async run(argv: string[]): Promise<void> {
    const { values: v } = parseCommand(argv, OPTIONS, 0);
    const cfg = hubConfig();
    const { repos, datasets, urls } = await listCache(cfg);
    const shown = v.all === true ? repos : repos.filter((r) => r.snapshots.some((s) => s.model !== undefined) || r.incomplete > 0);
    if (v.json === true) {
      process.stdout.write(`${JSON.stringify({ cacheDir: cfg.cacheDir, repos: shown, datasets, urls }, null, 2)}\n`);
      return;
    }
    const lines: string[] = [`Hugging Face cache: ${cfg.cacheDir}`];
    if (shown.length === 0) lines.push('  (no models)');
    for (const r of shown) {
      lines.push(`${r.repo}  ${mb(r.sizeOnDisk)} on disk${r.incomplete ? `, ${r.incomplete} partial download(s)` : ''}`);
      for (const s of r.snapshots) {
        lines.push(`  snapshot ${s.commit.slice(0, 12)}${s.refs.length ? ` (${s.refs.join(', ')})` : ''}${s.model ? `  model: ${s.model}` : '  (no loadable model)'}`);
        for (const f of s.files) lines.push(`    ${f.path.padEnd(40)} ${mb(f.size).padStart(10)}${s.model?.endsWith(`/${f.path}`) ? '  <- model' : ''}`);
      }
    }
    if (datasets.length) {
      lines.push('', 'Datasets (bitnet pull --dataset, bitnet eval):');
      for (const d of datasets) {
        const files = d.snapshots.reduce((a, s) => a + s.files.length, 0);
        lines.push(`${d.repo}  ${mb(d.sizeOnDisk)} on disk, ${files} file(s)${d.snapshots.length ? ` in ${d.snapshots.map((s) => `${s.commit.slice(0, 12)}${s.refs.length ? ` (${s.refs.join(', ')})` : ''}`).join(', ')}` : ''}`);
      }
    }
    if (urls.length) {
      lines.push('', `URL downloads: ${cfg.bitnetCacheDir}/url`);
      for (const u of urls) lines.push(`${u.url}  ${mb(u.size)}  ${u.path}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
