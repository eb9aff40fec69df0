// Public API of the `bitnet` package: everything a library user imports comes from here.
export { BitnetError } from './errors.js';
export type { BitnetErrorCode } from './errors.js';
