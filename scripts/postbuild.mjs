#!/usr/bin/env node
// After tsc: make the CLI entry executable so the `bitnet` bin works from dist/.
import { chmodSync, existsSync } from 'node:fs';
const bin = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(bin)) chmodSync(bin, 0o755);
