// The `bitnet/server` entry point (Node only): run the OpenAI-compatible server from code, or mount its
// fetch handler (createApp) in another Hono/fetch server.
export { createApp, ServerState, type AppOptions } from './app.js';
export { startServer, type ServeOptions, type RunningServer } from './serve.js';
export { ApiError, toApiError } from './errors.js';
export { FIELDS, fieldTableMarkdown, type FieldRule } from './fields.js';
