// Small HTTP pieces every route of the server shares: JSON responses, OpenAI-shaped error responses, strict
// body decoding (UTF-8, JSON, the field table, then zod with messages that name the field), ids.
import { Buffer, isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { measureBody, OFF_THREAD_BYTES, type BodyMeasure } from './body-measure.js';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { ApiError, errorBody, toApiError } from './errors.js';
import { checkFields, type Endpoint } from './fields.js';
import { describeIssue } from './issues.js';
import { framingError } from './transport.js';

export const created = (): number => Math.floor(Date.now() / 1000);

/** Random hex of `bytes` bytes, for response and call ids. */
export const randomId = (bytes = 12): string => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');

export function json(c: Context, body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  return c.json(body, status as ContentfulStatusCode);
}

export function errorResponse(c: Context, e: unknown): Response {
  const err = toApiError(e);
  if (err.status === 500 && !(e instanceof ApiError)) console.error('bitnet serve: internal error:', e instanceof Error ? e.message : e);
  return json(c, errorBody(err), err.status, err.headers);
}

/** body-measure.ts's numbers, for a body small enough to parse here (the worker's code, in TypeScript). */
function measureValue(v: Record<string, unknown>): BodyMeasure {
  const bytes = (s: unknown): number => (typeof s === 'string' ? Buffer.byteLength(s) : 0);
  const partsBytes = (c: unknown): number => (typeof c === 'string' ? bytes(c) : Array.isArray(c) ? c.reduce((a: number, p) => a + (p && typeof p === 'object' ? bytes((p as { text?: unknown }).text) : 0), 0) : 0);
  const largest = (x: unknown): number => (typeof x === 'string' ? bytes(x) : Array.isArray(x) ? x.reduce((a: number, s) => Math.max(a, bytes(s)), 0) : 0);
  const list: unknown[] = Array.isArray(v.messages) ? v.messages : Array.isArray(v.input) ? v.input : [];
  let chatTextBytes = 0;
  for (const m of list) if (m && typeof m === 'object') chatTextBytes += partsBytes((m as { content?: unknown }).content) + partsBytes((m as { output?: unknown }).output);
  return { malformed: false, items: list.length, chatTextBytes, largestPromptBytes: Math.max(largest(v.prompt), largest(v.input), largest(v.content)) };
}

/** 400 naming `param`. */
export function badRequest(param: string | null, message: string, code = 'invalid_value'): ApiError {
  return new ApiError(400, param ? `${param}: ${message}` : message, 'invalid_request_error', param, code);
}

/**
 * A request body that could not be read: the client went away mid-upload (499, as nginx counts it), or its
 * framing broke (a malformed chunked body; Node has already answered 400 and closed). A client error either
 * way, never a 500. ApiErrors (the body limit's 413) pass through.
 */
export function bodyReadError(c: Context, e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const broke = incoming && framingError(incoming);
  if ((broke as { code?: string } | undefined)?.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ApiError(408, 'the request took too long to arrive (--timeout-request)', 'invalid_request_error', null, 'request_timeout');
  return !broke
    ? new ApiError(499, 'the client closed the connection before sending the whole body', 'invalid_request_error', null, 'client_closed_request')
    : new ApiError(400, 'the request body could not be read (malformed framing)', 'invalid_request_error', null, 'bad_body');
}

/**
 * Reads the body as strict UTF-8 JSON, refuses the fields this server cannot honour (fields.ts) and
 * validates the rest; every error names the offending field.
 */
export async function readBody<T extends z.ZodType>(c: Context, schema: T, endpoint?: Endpoint, bounds?: (m: BodyMeasure) => void): Promise<z.infer<T>> {
  let body: ArrayBuffer;
  try {
    body = await c.req.arrayBuffer();
  } catch (e) {
    throw bodyReadError(c, e);
  }
  // a large body is measured off the event loop first, and refused from the numbers if it cannot fit
  if (bounds && body.byteLength > OFF_THREAD_BYTES) {
    const { measure, bytes } = await measureBody(body);
    body = bytes;
    if (!measure.malformed) bounds(measure);
  }
  const bytes = Buffer.from(body);
  // isUtf8 + toString: a tenth of the time of a fatal TextDecoder on megabytes, which all run on the event loop
  if (!isUtf8(bytes)) throw new ApiError(400, 'the request body is not valid UTF-8', 'invalid_request_error', null, 'invalid_encoding');
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte order mark, as TextDecoder drops it
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the request body is not valid JSON: ${(e as Error).message}`, 'invalid_request_error', null, 'invalid_json');
  }
  // bounds (how many messages, how much text) before the field checks and validation, whose cost grows with them
  if (bounds && bytes.length <= OFF_THREAD_BYTES && value !== null && typeof value === 'object' && !Array.isArray(value)) bounds(measureValue(value as Record<string, unknown>));
  if (endpoint) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest(null, 'the request body must be a JSON object');
    checkFields(value as Record<string, unknown>, endpoint);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const { param, message } = describeIssue(r.error.issues[0]!, value);
    throw new ApiError(400, param ? `${param}: ${message}` : message, 'invalid_request_error', param, 'invalid_value');
  }
  return r.data;
}

/** The answer to a non-streamed request whose client left before the reply: logged, and 499 in /metrics. */
export function clientGone(c: Context, log: (line: string) => void): Response {
  log(`bitnet serve: ${c.req.method} ${c.req.path}: the client disconnected before the reply (499)`);
  return c.body(null, 499 as 200);
}
