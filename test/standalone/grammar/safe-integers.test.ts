// zod's z.number().int() writes the safe-integer bounds (minimum -(2^53 - 1), maximum 2^53 - 1) into every
// JSON Schema it emits (the AI SDK, the openai SDK's helpers and LangChain send them): they compile, and the
// grammar holds exactly the safe integers, checked with the reference acceptor.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { jsonSchemaToGbnf } from '../../../src/grammar/index.js';
import { astOf } from './grammars.js';
import { Acceptor } from './reference.js';

test('zod integers: the safe-integer bounds compile and bound the grammar exactly', () => {
  const schema = z.toJSONSchema(z.number().int());
  assert.equal((schema as { maximum?: number }).maximum, Number.MAX_SAFE_INTEGER);
  const twin = new Acceptor(astOf(jsonSchemaToGbnf(schema)));
  for (const ok of ['0', '7', '-1', '42', '9007199254740991', '-9007199254740991', '1000000000000000', '8999999999999999']) assert.ok(twin.accepts(ok), ok);
  for (const bad of ['9007199254740992', '-9007199254740992', '9999999999999999', '12345678901234567', '01', '-0', '1.5']) assert.ok(!twin.accepts(bad), bad);
});
