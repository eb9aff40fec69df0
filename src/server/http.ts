// Small HTTP pieces every route of the server shares: JSON responses, OpenAI-shaped error responses, strict
// body decoding (UTF-8, JSON, the field table, then zod with messages that name the field), ids.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { ApiError, errorBody, toApiError } from './errors.js';
import { checkFields, type Endpoint } from './fields.js';
import { describeIssue } from './issues.js';

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

/** 400 naming `param`. */
export function badRequest(param: string | null, message: string, code = 'invalid_value'): ApiError {
  return new ApiError(400, param ? `${param}: ${message}` : message, 'invalid_request_error', param, code);
}

/**
 * Reads the body as strict UTF-8 JSON, refuses the fields this server cannot honour (fields.ts) and
 * validates the rest; every error names the offending field.
 */
export async function readBody<T extends z.ZodType>(c: Context, schema: T, endpoint?: Endpoint): Promise<z.infer<T>> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, 'the request body is not valid UTF-8', 'invalid_request_error', null, 'invalid_encoding');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the request body is not valid JSON: ${(e as Error).message}`, 'invalid_request_error', null, 'invalid_json');
  }
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
