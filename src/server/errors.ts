// The one mapping from error to HTTP response for the server: BitnetError codes to statuses, and every
// error body in OpenAI's shape {"error": {"message", "type", "param", "code"}}. Internal failures become a
// 500 whose message names no stack or path.
import { BitnetError, type BitnetErrorCode } from '../errors.js';

export type ErrorType = 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'not_found_error' | 'rate_limit_error' | 'unavailable_error' | 'server_error';

/** An error meant for the client: status, OpenAI type, offending parameter and a machine-readable code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType,
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** extra response headers (Retry-After) */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const STATUS: Record<BitnetErrorCode, [number, ErrorType, string]> = {
  INVALID_ARGUMENT: [400, 'invalid_request_error', 'invalid_value'],
  CONTEXT_OVERFLOW: [400, 'invalid_request_error', 'context_length_exceeded'],
  TOKENIZER: [400, 'invalid_request_error', 'invalid_tokens'],
  CHAT_TEMPLATE: [400, 'invalid_request_error', 'chat_template_error'],
  GRAMMAR: [400, 'invalid_request_error', 'invalid_grammar'],
  QUEUE_FULL: [429, 'rate_limit_error', 'queue_full'],
  UNAVAILABLE: [503, 'unavailable_error', 'unavailable'],
  ABORTED: [503, 'unavailable_error', 'cancelled'],
  FILE_NOT_FOUND: [500, 'server_error', 'model_error'],
  BAD_MAGIC: [500, 'server_error', 'model_error'],
  UNSUPPORTED_VERSION: [500, 'server_error', 'model_error'],
  TRUNCATED: [500, 'server_error', 'model_error'],
  CORRUPT: [500, 'server_error', 'model_error'],
  UNSUPPORTED_TENSOR_TYPE: [500, 'server_error', 'model_error'],
  UNSUPPORTED_ARCHITECTURE: [500, 'server_error', 'model_error'],
  MISSING_TENSOR: [500, 'server_error', 'model_error'],
  SHAPE_MISMATCH: [500, 'server_error', 'model_error'],
  MISSING_KEY: [500, 'server_error', 'model_error'],
  BAD_METADATA: [500, 'server_error', 'model_error'],
  FILE_EXISTS: [400, 'invalid_request_error', 'invalid_value'],
  LOSSY_CONVERSION: [400, 'invalid_request_error', 'invalid_value'],
  VERIFY_FAILED: [500, 'server_error', 'model_error'],
  // model downloads happen before the server starts; should one surface, it is the server's model failing
  NETWORK: [500, 'server_error', 'model_error'],
  UNAUTHORIZED: [500, 'server_error', 'model_error'],
  REMOTE_NOT_FOUND: [500, 'server_error', 'model_error'],
  OFFLINE: [500, 'server_error', 'model_error'],
  // evaluation data is read by `bitnet eval`, never by the server
  BAD_DATA: [500, 'server_error', 'internal_error'],
};

/** Any thrown value -> ApiError (the BitnetError code decides the status; unknown errors are 500). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof BitnetError) {
    const [status, type, code] = STATUS[e.code];
    // server-side failures keep their message (it names the problem) but never a stack
    return new ApiError(status, e.message, type, e.subject ?? null, code);
  }
  return new ApiError(500, 'internal server error', 'server_error', null, 'internal_error');
}

export function errorBody(e: ApiError): { error: { message: string; type: ErrorType; param: string | null; code: string | null } } {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}
