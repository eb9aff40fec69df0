// The one error hierarchy of the project: every failure a caller can act on is a BitnetError with a `code`.
// Lowest layer: imported by every stage; the server maps `code` to an HTTP status in one place.

export type BitnetErrorCode =
  | 'FILE_NOT_FOUND' // model path does not exist or is unreadable
  | 'BAD_MAGIC' // not a GGUF / safetensors file
  | 'UNSUPPORTED_VERSION' // GGUF version we do not read
  | 'TRUNCATED' // file ends before a header field or tensor data
  | 'CORRUPT' // structurally invalid: absurd counts, bad offsets, bad JSON header, bad UTF-8
  | 'UNSUPPORTED_TENSOR_TYPE' // unknown or unsupported ggml type id / safetensors dtype
  | 'UNSUPPORTED_ARCHITECTURE' // architecture we do not implement
  | 'MISSING_TENSOR' // a required tensor is absent
  | 'SHAPE_MISMATCH' // tensor shape contradicts the hyperparameters
  | 'MISSING_KEY' // a required metadata key / config field is absent
  | 'BAD_METADATA' // metadata key present with a wrong type or value
  | 'TOKENIZER' // tokenizer cannot be built or a token id is out of range
  | 'CONTEXT_OVERFLOW' // prompt + generation exceed the context length
  | 'INVALID_ARGUMENT' // bad option passed to the API / CLI
  | 'ABORTED' // cancelled through an AbortSignal
  | 'QUEUE_FULL' // every slot is busy and the waiting queue is full: retry later
  | 'UNAVAILABLE' // the model is still loading, or the scheduler is shutting down
  | 'CHAT_TEMPLATE' // the chat template failed to render
  | 'FILE_EXISTS' // the output file exists and overwriting was not asked for
  | 'LOSSY_CONVERSION' // a conversion cannot keep the weights exactly (or the source weights are not ternary)
  | 'VERIFY_FAILED' // a written or downloaded file does not check out (wrong size, sha256 or contents; it was deleted)
  | 'NETWORK' // a download could not reach its server or was cut off (a partial download is kept to resume)
  | 'UNAUTHORIZED' // the model hub refused the request (401/403): no token, or a token without access
  | 'REMOTE_NOT_FOUND' // the repository, revision or file does not exist on the hub / server (404)
  | 'OFFLINE' // offline mode (HF_HUB_OFFLINE) is on and the model or dataset is not in the cache
  | 'BAD_DATA' // a dataset file is unreadable, or a split is empty or lacks a field the task needs
  | 'GRAMMAR'; // a grammar or JSON schema is invalid, unsupported or too large, or a token breaks it

export interface BitnetErrorDetails {
  /** file the error is about, if any */
  file?: string;
  /** tensor name, metadata key, or option name the error is about */
  name?: string;
  cause?: unknown;
}

export class BitnetError extends Error {
  readonly code: BitnetErrorCode;
  readonly file: string | undefined;
  readonly subject: string | undefined;

  constructor(code: BitnetErrorCode, message: string, details: BitnetErrorDetails = {}) {
    const where = [details.file, details.name].filter((s) => s !== undefined && s !== '').join(': ');
    super(where ? `${where}: ${message}` : message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'BitnetError';
    this.code = code;
    this.file = details.file;
    this.subject = details.name;
  }
}

/** Throws ABORTED if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BitnetError('ABORTED', 'operation aborted', { cause: signal.reason });
}
