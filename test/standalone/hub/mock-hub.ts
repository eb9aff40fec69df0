// Test helper: a loopback server mimicking the Hugging Face hub: /api/models/{repo}[/revision/{rev}], HEAD/GET
// /{repo}/resolve/{rev}/{file} with X-Repo-Commit / X-Linked-Etag / X-Linked-Size / ETag, LFS files behind a
// 302 to a CDN-like path with Range support, repos that need a token, plain URLs with ETag; switches that
// cut a response after N bytes, corrupt one byte or slow the body down; every request logged with its headers.
// Dataset repos: /api/datasets/{repo}[/revision/{rev}] and /datasets/{repo}/resolve/{rev}/{file}, with an
// optional parquet conversion served at revision refs/convert/parquet (its own commit).
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MockFile {
  path: string;
  data: Buffer;
  /** served like an LFS file: 302 to the CDN path, X-Linked-Etag = sha256 */
  lfs: boolean;
}

export interface MockRepo {
  id: string;
  sha: string;
  files: MockFile[];
  /** requests must carry "Authorization: Bearer <token>" */
  token?: string;
}

export interface Logged {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** An http URL on which nothing listens (a hub that is down). */
export async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

export const gitSha1 = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export interface MockDataset {
  main: MockRepo;
  /** the refs/convert/parquet revision, if the dataset has one */
  parquet: MockRepo | undefined;
}

export class MockHub {
  readonly repos = new Map<string, MockRepo>();
  readonly datasets = new Map<string, MockDataset>();
  /** plain files at /files/<name> */
  readonly plain = new Map<string, { data: Buffer; etag: string }>();
  readonly log: Logged[] = [];
  /** the next body-serving GET sends only this many body bytes, then cuts the connection */
  cutAfter: number | undefined;
  /** body-serving GETs flip the byte at this file offset */
  corruptAt: number | undefined;
  /** body-serving GETs send 16 KiB, then wait this many ms, and so on (a slow link) */
  throttleMs: number | undefined;
  url = '';
  private server: Server = createServer((req, res) => this.handle(req, res));

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  addRepo(id: string, files: Array<{ path: string; data: Buffer; lfs?: boolean }>, opts: { token?: string } = {}): MockRepo {
    const repo: MockRepo = { id, sha: createHash('sha1').update(`commit:${id}`).digest('hex'), files: files.map((f) => ({ path: f.path, data: f.data, lfs: f.lfs ?? f.data.length > 4096 })), ...(opts.token ? { token: opts.token } : {}) };
    this.repos.set(id, repo);
    return repo;
  }

  /** A dataset repo (main) and, with `parquet`, its refs/convert/parquet revision. */
  addDataset(id: string, files: Array<{ path: string; data: Buffer; lfs?: boolean }>, opts: { parquet?: Array<{ path: string; data: Buffer }> } = {}): MockDataset {
    const mk = (salt: string, fs: Array<{ path: string; data: Buffer; lfs?: boolean }>): MockRepo => ({
      id,
      sha: createHash('sha1').update(`${salt}:${id}`).digest('hex'),
      files: fs.map((f) => ({ path: f.path, data: f.data, lfs: f.lfs ?? f.path.endsWith('.parquet') })),
    });
    const ds: MockDataset = { main: mk('dataset', files), parquet: opts.parquet ? mk('parquet', opts.parquet) : undefined };
    this.datasets.set(id, ds);
    return ds;
  }

  requests(filter: (l: Logged) => boolean = () => true): Logged[] {
    return this.log.filter(filter);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.log.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    const url = new URL(req.url ?? '/', this.url);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const fail = (status: number, code?: string, message?: string): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...(code ? { 'x-error-code': code } : {}), ...(message ? { 'x-error-message': message } : {}) });
      res.end(JSON.stringify({ error: message ?? code ?? 'error' }));
    };
    const repoFor = (org: string | undefined, name: string | undefined): MockRepo | 'denied' | undefined => {
      const repo = this.repos.get(`${org}/${name}`);
      if (!repo) return undefined;
      if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) return 'denied';
      return repo;
    };
    const denied = (): void => (req.headers.authorization ? fail(403, 'GatedRepo', 'Access to this model is restricted') : fail(401, 'GatedRepo', 'Access to this model is restricted. You must be authenticated.'));
    const datasetAt = (id: string, rev: string | undefined): MockRepo | 'no-repo' | 'no-rev' => {
      const ds = this.datasets.get(id);
      if (!ds) return 'no-repo';
      if (rev === undefined || rev === 'main' || rev === ds.main.sha) return ds.main;
      if (ds.parquet && (rev === 'refs/convert/parquet' || rev === ds.parquet.sha)) return ds.parquet;
      return 'no-rev';
    };
    if (parts[0] === 'api' && parts[1] === 'datasets') {
      const repo = datasetAt(`${parts[2]}/${parts[3]}`, parts[4] === 'revision' ? parts[5] : undefined);
      if (repo === 'no-repo') return fail(401, 'RepoNotFound', 'Repository not found');
      if (repo === 'no-rev') return fail(404, 'RevisionNotFound', 'Invalid rev id');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ _id: 'x', id: repo.id, sha: repo.sha, private: false, siblings: repo.files.map((f) => ({ rfilename: f.path })) }));
      return;
    }
    if (parts[0] === 'datasets' && parts[3] === 'resolve') {
      const repo = datasetAt(`${parts[1]}/${parts[2]}`, parts[4]);
      if (repo === 'no-repo') return fail(401, 'RepoNotFound', 'Repository not found');
      if (repo === 'no-rev') return fail(404, 'RevisionNotFound', 'Invalid rev id');
      return this.serveResolve(req, res, repo, parts.slice(5).join('/'), fail);
    }
    if (parts[0] === 'api' && parts[1] === 'models') {
      const repo = repoFor(parts[2], parts[3]);
      if (repo === 'denied') return denied();
      if (!repo) return fail(401, 'RepoNotFound', 'Repository not found');
      if (parts[4] === 'revision' && parts[5] !== 'main' && parts[5] !== repo.sha) return fail(404, 'RevisionNotFound', 'Invalid rev id');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ _id: 'x', id: repo.id, modelId: repo.id, sha: repo.sha, private: false, siblings: repo.files.map((f) => ({ rfilename: f.path })) }));
      return;
    }
    if (parts[0] === 'cdn') {
      const all = [...this.repos.values(), ...[...this.datasets.values()].flatMap((d) => [d.main, ...(d.parquet ? [d.parquet] : [])])];
      const file = all.flatMap((r) => r.files).find((f) => sha256(f.data) === parts[1]);
      if (!file) return fail(404);
      return this.serveBody(req, res, file.data, { etag: `"${parts[1]}"` });
    }
    if (parts[0] === 'files') {
      const p = this.plain.get(parts.slice(1).join('/'));
      if (!p) return fail(404);
      return this.serveBody(req, res, p.data, { etag: p.etag, 'last-modified': 'Mon, 02 Nov 2026 10:00:00 GMT' });
    }
    if (parts[2] === 'resolve') {
      const repo = repoFor(parts[0], parts[1]);
      if (repo === 'denied') return denied();
      if (!repo) return fail(401, 'RepoNotFound', 'Repository not found');
      if (parts[3] !== 'main' && parts[3] !== repo.sha) return fail(404, 'RevisionNotFound', 'Invalid rev id');
      return this.serveResolve(req, res, repo, parts.slice(4).join('/'), fail);
    }
    fail(404);
  }

  private serveResolve(req: IncomingMessage, res: ServerResponse, repo: MockRepo, path: string, fail: (status: number, code?: string, message?: string) => void): void {
    const file = repo.files.find((f) => f.path === path);
    if (!file) return fail(404, 'EntryNotFound', 'Entry not found');
    if (file.lfs) {
      const sum = sha256(file.data);
      res.writeHead(302, {
        location: `${this.url}/cdn/${sum}?repo=${encodeURIComponent(repo.id)}`,
        'x-repo-commit': repo.sha,
        'x-linked-etag': `"${sum}"`,
        'x-linked-size': String(file.data.length),
        etag: `"${gitSha1(Buffer.from(`lfs pointer ${sum}`))}"`,
        'content-length': '0',
      });
      res.end();
      return;
    }
    this.serveBody(req, res, file.data, { etag: `"${gitSha1(file.data)}"`, 'x-repo-commit': repo.sha });
  }

  private serveBody(req: IncomingMessage, res: ServerResponse, data: Buffer, headers: Record<string, string>): void {
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (range && (ifRange === undefined || ifRange === headers.etag)) {
      start = Number(range[1]);
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        res.end();
        return;
      }
      status = 206;
    }
    const body = Buffer.from(data.subarray(start));
    if (this.corruptAt !== undefined && this.corruptAt >= start && this.corruptAt < data.length) body[this.corruptAt - start]! ^= 0xff;
    res.writeHead(status, { ...headers, 'accept-ranges': 'bytes', 'content-length': String(body.length), ...(status === 206 ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const cut = this.cutAfter;
    if (cut !== undefined && cut < body.length) {
      this.cutAfter = undefined;
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (this.throttleMs !== undefined) {
      const delay = this.throttleMs;
      let at = 0;
      const next = (): void => {
        if (res.destroyed) return;
        const chunk = body.subarray(at, at + 16384);
        at += chunk.length;
        if (at >= body.length) res.end(chunk);
        else res.write(chunk, () => setTimeout(next, delay));
      };
      next();
      return;
    }
    res.end(body);
  }
}
