// The HTTP/1.1 transport under the app (issue 19): Node's server with timeouts that are set, every open
// connection tracked, and the limits a hostile or broken client runs into:
//   - at most `maxConnections` connections; one more evicts the oldest idle connection (no request in
//     flight: keep-alive, or one that has not finished sending its headers), else is answered 503 and
//     closed at once, with a reserve of RESERVE connections that may still ask /health;
//   - a client that reads nothing for `writeTimeoutMs` while bytes wait for it, or that holds more than
//     `maxUnsentBytes` unsent and reads nothing for a second, is cut off (its generations cancelled);
//   - a response queued behind a pipelined one learns that its connection closed (Node tells only the
//     response on the socket), so its stream ends with the connection;
//   - an HTTP version other than 1.x, or a second Host header, is a 400.
// Node's own: `headersTimeoutMs` to send the headers, `requestTimeoutMs` for the whole request,
// `idleTimeoutMs` between keep-alive requests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { errorBody, ApiError } from './errors.js';
import type { ServerState } from './state.js';

export interface TransportOptions {
  /** default 256 */
  maxConnections?: number;
  /** keep-alive idle time between requests; default 65 s */
  idleTimeoutMs?: number;
  /** time to send the request headers; default 10 s */
  headersTimeoutMs?: number;
  /** time to send the whole request (headers and body); default 60 s */
  requestTimeoutMs?: number;
  /** a client that reads nothing for this long while bytes wait for it is cut off; default 60 s */
  writeTimeoutMs?: number;
  /** unsent bytes a connection may hold while its client reads nothing; default 8 MiB */
  maxUnsentBytes?: number;
}

/** connections past the cap that may still ask /health (and then are closed) */
export const RESERVE = 4;

const HEALTH = new Set(['/health', '/v1/health']);

interface Conn {
  socket: Socket;
  /** responses not closed yet, in request order */
  open: Set<ServerResponse>;
  /** past the cap: /health only, then closed */
  reserve: boolean;
  /** the last request: the one whose body may be arriving */
  last: IncomingMessage | undefined;
  /** bytes the client has taken, and when that last grew (or nothing waited) */
  taken: number;
  lastProgress: number;
}

export interface Transport {
  server: Server;
  /** shutting down: idle connections are closed now, busy ones as their last response ends */
  drain(): void;
  /** stops the watchdog */
  stop(): void;
}

const broken = new WeakMap<IncomingMessage, Error>();

/** The client error that broke off this request's body (a malformed chunked body, --timeout-request), if any. */
export const framingError = (req: IncomingMessage): Error | undefined => broken.get(req);

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** A raw 503/400 written straight to a socket that will not be parsed, then closed. */
function rawRefusal(socket: Socket, status: number, reason: string, err: ApiError): void {
  const body = JSON.stringify(errorBody(err));
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${body}`);
  socket.destroySoon();
}

export function createTransport(listener: Listener, state: ServerState, opts: TransportOptions, log: (line: string) => void): Transport {
  const maxConnections = opts.maxConnections ?? 256;
  const writeTimeoutMs = opts.writeTimeoutMs ?? 60_000;
  const maxUnsent = opts.maxUnsentBytes ?? 8 * 1024 * 1024;
  const headersTimeout = opts.headersTimeoutMs ?? 10_000;
  const requestTimeout = Math.max(opts.requestTimeoutMs ?? 60_000, headersTimeout);
  const conns = new Map<Socket, Conn>();
  let draining = false;

  const refuse = (req: IncomingMessage, res: ServerResponse, err: ApiError): void => {
    const body = JSON.stringify(errorBody(err));
    res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close', ...err.headers });
    res.end(body);
    const key = `other\t${err.status}`;
    state.counters.http.set(key, (state.counters.http.get(key) ?? 0) + 1);
    log(`bitnet serve: ${req.method} ${req.url}: ${err.status} ${err.message}`);
  };

  const server = createServer(
    {
      // the timers below are checked this often (Node's default is every 30 s)
      connectionsCheckingInterval: Math.max(50, Math.min(1000, headersTimeout / 4)),
      headersTimeout,
      requestTimeout,
      keepAliveTimeout: opts.idleTimeoutMs ?? 65_000,
    },
    (req, res) => {
      const conn = conns.get(req.socket);
      // a connection refused at the cap (its 503 already written) is never served
      if (!conn) return void req.socket.destroy();
      conn.last = req;
      conn.open.add(res);
      res.once('close', () => {
        conn.open.delete(res);
        if (draining && conn.open.size === 0) conn.socket.destroySoon();
      });
      if (req.httpVersionMajor !== 1) {
        return refuse(req, res, new ApiError(400, `HTTP/${req.httpVersion} is not served here: this server speaks HTTP/1.1`, 'invalid_request_error', null, 'bad_http_version'));
      }
      let hosts = 0;
      for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') hosts++;
      if (hosts > 1) return refuse(req, res, new ApiError(400, 'more than one Host header', 'invalid_request_error', null, 'bad_host'));
      if (conn.reserve && !HEALTH.has((req.url ?? '').split('?')[0]!)) {
        return refuse(req, res, new ApiError(503, `too many connections (--max-connections ${maxConnections}); retry later`, 'unavailable_error', null, 'too_many_connections', { 'Retry-After': '1' }));
      }
      if (conn.reserve || draining) res.setHeader('connection', 'close');
      listener(req, res);
    },
  );

  server.on('connection', (socket: Socket) => {
    if (draining) return void socket.destroy();
    let reserve = false;
    if (conns.size >= maxConnections) {
      // evict the oldest idle connection; failing that, the reserve; failing that, a 503
      let idle: Conn | undefined;
      for (const c of conns.values()) {
        if (c.open.size === 0 && !c.reserve) {
          idle = c;
          break;
        }
      }
      if (idle) {
        conns.delete(idle.socket);
        idle.socket.destroy();
      } else if ([...conns.values()].filter((c) => c.reserve).length < RESERVE) reserve = true;
      else {
        rawRefusal(socket, 503, 'Service Unavailable', new ApiError(503, `too many connections (--max-connections ${maxConnections}); retry later`, 'unavailable_error', null, 'too_many_connections'));
        return;
      }
    }
    const conn: Conn = { socket, open: new Set(), reserve, last: undefined, taken: 0, lastProgress: performance.now() };
    conns.set(socket, conn);
    state.connections = conns.size;
    // a reserve connection gets a short while to ask /health
    if (reserve) socket.setTimeout(2000, () => socket.destroy());
    socket.once('close', () => {
      conns.delete(socket);
      state.connections = conns.size;
      // Node emits 'close' only on the response that owns the socket; those queued behind it (pipelined)
      // would never learn that their client is gone
      for (const res of [...conn.open]) {
        if (!res.socket && !res.writableFinished) {
          res.destroyed = true;
          res.emit('close');
        }
      }
    });
  });

  // a client error (bad request line, malformed chunked body, headers timeout): Node's answer (400, 408,
  // 431) and a close, without the stack Node would otherwise leave to an 'error' listener
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    // the client left (a reset, or the connection closed in the middle of a request)
    if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    const conn = conns.get(socket);
    // a request whose body broke (malformed chunked): its reader sees "aborted" as the socket closes, and
    // asks framingError() whether that was the framing
    if (conn?.last && !conn.last.complete) broken.set(conn.last, err);
    // once a response has begun on this socket, nothing more can be said on it
    if (conn && [...conn.open].some((r) => r.headersSent)) return void socket.destroy();
    rawRefusal(socket, status, reason, new ApiError(status, status === 408 ? 'the request took too long to arrive' : `malformed request (${err.code ?? err.message})`, 'invalid_request_error', null, 'bad_request'));
  });

  // the watchdog: write timeouts and the unsent-bytes cap
  const tickMs = Math.max(50, Math.min(1000, writeTimeoutMs / 4));
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const conn of conns.values()) {
      const s = conn.socket;
      let unsent = s.writableLength;
      for (const res of conn.open) if (!res.socket) unsent += res.writableLength;
      // what the kernel has taken: whole chunks done, and libuv's queue shrinking inside a big one (a
      // JSON answer is one chunk; Node's own socket timeout watches the same queue)
      const taken = s.bytesWritten - s.writableLength - ((s as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0);
      if (unsent === 0 || taken !== conn.taken) {
        conn.taken = taken;
        conn.lastProgress = now;
        continue;
      }
      const stalled = now - conn.lastProgress;
      const why = stalled >= writeTimeoutMs ? `read nothing for ${(stalled / 1000).toFixed(1)} s` : unsent > maxUnsent && stalled >= Math.min(1000, writeTimeoutMs) ? `holds ${unsent} unsent bytes (more than ${maxUnsent}) and reads nothing` : undefined;
      if (!why) continue;
      log(`bitnet serve: a client that ${why} was cut off`);
      state.counters.cutOff++;
      s.destroy();
    }
  }, tickMs);
  watchdog.unref();

  return {
    server,
    drain() {
      draining = true;
      for (const conn of conns.values()) if (conn.open.size === 0) conn.socket.destroy();
    },
    stop() {
      clearInterval(watchdog);
    },
  };
}
