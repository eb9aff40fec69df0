// `bitnet pull REF...`: downloads a model from the Hugging Face hub (org/repo[:quant], hf:org/repo[@rev][:file])
// or a URL into the shared cache, checking the hub for a newer revision; prints each model's local path
// on stdout (usable as -m), progress and a summary on stderr. `--dataset org/name[:config][@rev]` prefetches
// a dataset for `bitnet eval` (its snapshot folder on stdout).
import { parseDatasetRef, pullDataset, resolveModel, hubConfig } from '../../hub/index.js';
import { helpText, parseCommand, UsageError, type OptionSpec } from '../args.js';
import { downloadProgress, mb, warn } from '../progress.js';

const OPTIONS: OptionSpec[] = [
  { name: 'dataset', type: 'string', multiple: true, arg: 'ORG/NAME', help: 'download a dataset for bitnet eval (ORG/NAME[:CONFIG][@REV]): every config, or the one named' },
  { name: 'no-progress', type: 'boolean', env: 'BITNET_NO_PROGRESS', help: 'no progress on stderr' },
];

export const pullCommand = {
  name: 'pull',
  summary: 'download a model (or with --dataset a dataset) from the Hugging Face hub or a URL into the cache',
  help: () =>
    helpText(
      'bitnet pull REF...',
      [
        'REF: org/repo, org/repo:QUANT (i2_s, tq2_0, ...), org/repo:FILE, hf:org/repo[@REVISION][:FILE-OR-QUANT],',
        'https://huggingface.co/org/repo[/resolve/REV/FILE], or any https:// URL. A GGUF repo gives one GGUF',
        '(i2_s > tq2_0 > tq1_0 unless one is named); a safetensors repo its config, tokenizer and weights.',
        'Files go to the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub), shared',
        'with huggingface_hub; URLs to ~/.cache/bitnet/url. Interrupted downloads resume. Environment: HF_TOKEN',
        '(gated/private repos), HF_ENDPOINT, HF_HUB_OFFLINE=1 (cache only). Prints the local path of each model.',
        '',
        'bitnet pull --dataset ORG/NAME[:CONFIG][@REV]: a dataset repo\'s data files (.parquet, .jsonl, .json) and',
        'card into datasets--ORG--NAME in the same cache: every config without CONFIG, else that config (its',
        'README `configs:` data_files, or the folder CONFIG/). A dataset with only a loading script (or no data',
        'files) comes from the hub\'s parquet conversion (revision refs/convert/parquet). After one pull,',
        'bitnet eval works with HF_HUB_OFFLINE=1. Prints the snapshot folder.',
      ].join('\n'),
      [['options', OPTIONS]],
    ),
  async run(argv: string[]): Promise<void> {
    const { values: v, positionals } = parseCommand(argv, OPTIONS, 64);
    const datasets = (v.dataset as string[] | undefined) ?? [];
    if (positionals.length === 0 && datasets.length === 0) throw new UsageError('no model given: bitnet pull org/repo[:quant] (or --dataset org/name)');
    const controller = new AbortController();
    const onSigint = (): void => controller.abort();
    process.once('SIGINT', onSigint);
    try {
      for (const text of datasets) {
        const ref = parseDatasetRef(text);
        const r = await pullDataset(ref, { cfg: hubConfig(), update: true, onProgress: downloadProgress(v['no-progress'] !== true), onLog: warn, signal: controller.signal });
        const size = r.files.reduce((a, f) => a + f.size, 0);
        const what = `dataset ${r.repo}${r.config ? `:${r.config}` : ''}@${r.revision === ref.revision ? '' : `${r.revision} `}${r.commit.slice(0, 12)}: ${r.files.length} file(s) (${mb(size)})`;
        process.stderr.write(`${r.fetched > 0 ? `pulled ${what}, ${mb(r.fetched)} downloaded` : `${what}: up to date`}\n`);
        process.stdout.write(`${r.path}\n`);
      }
      for (const ref of positionals) {
        const r = await resolveModel(ref, { update: true, onProgress: downloadProgress(v['no-progress'] !== true), onLog: warn, signal: controller.signal });
        if (r.ref.kind === 'local') throw new UsageError(`"${ref}" is a local path, not a hub repository or URL`);
        const size = r.hub ? r.hub.files.reduce((a, f) => a + f.size, 0) : 0;
        const what = r.hub ? `${r.hub.repo}@${r.hub.commit.slice(0, 12)}: ${r.hub.files.map((f) => f.path).join(', ')} (${mb(size)})` : ref;
        process.stderr.write(`${r.fetched > 0 ? `pulled ${what}, ${mb(r.fetched)} downloaded` : `${what}: up to date`}\n`);
        process.stdout.write(`${r.path}\n`);
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
