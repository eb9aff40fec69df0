// A trie of the vocabulary's token bytes (typed arrays, children in byte order), built once per Tokenizer and
// cached in a WeakMap: the mask walk visits each shared prefix once and prunes dead branches. CONTROL,
// USER_DEFINED, UNKNOWN and UNUSED tokens (and empty ones) are left out: they never match grammar text.
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { TokenType } from '../tokenizer/vocab.js';

export interface TokenTrie {
  vocabSize: number;
  nNodes: number;
  /** edges of node n: edgeStart[n] .. edgeStart[n + 1] */
  edgeStart: Int32Array;
  edgeByte: Uint8Array;
  edgeChild: Int32Array;
  /** tokens whose bytes end at node n: tokIds[tokStart[n] .. tokStart[n + 1]] */
  tokStart: Int32Array;
  tokIds: Int32Array;
  /** each token's bytes; null for the tokens left out */
  bytes: Array<Uint8Array | null>;
}

const tries = new WeakMap<Tokenizer, TokenTrie>();

export function tokenTrie(tokenizer: Tokenizer): TokenTrie {
  let t = tries.get(tokenizer);
  if (t === undefined) {
    t = buildTrie(tokenizer);
    tries.set(tokenizer, t);
  }
  return t;
}

function buildTrie(tokenizer: Tokenizer): TokenTrie {
  const n = tokenizer.vocabSize;
  const bytes: Array<Uint8Array | null> = new Array<Uint8Array | null>(n).fill(null);
  const keyed: Array<[string, number]> = [];
  let total = 0;
  for (let id = 0; id < n; id++) {
    const type = tokenizer.vocab.tokenTypes[id];
    if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED || type === TokenType.UNKNOWN || type === TokenType.UNUSED) continue;
    const b = tokenizer.tokenBytes(id);
    if (b.length === 0) continue;
    bytes[id] = b;
    // a Latin-1 string per token sorts in byte order
    keyed.push([String.fromCharCode.apply(null, b as unknown as number[]), id]);
    total += b.length;
  }
  keyed.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1]));

  // nodes in preorder: each new node's parent and byte; sorted keys make children appear in byte order
  const parent = new Int32Array(total + 1);
  const byte = new Uint8Array(total + 1);
  parent[0] = -1;
  let nNodes = 1;
  const tokNode = new Int32Array(keyed.length);
  const path: number[] = [0]; // path[d] = node at depth d of the previous key
  let prev = '';
  keyed.forEach(([s, id], k) => {
    let lcp = 0;
    while (lcp < s.length && lcp < prev.length && s.charCodeAt(lcp) === prev.charCodeAt(lcp)) lcp++;
    path.length = lcp + 1;
    for (let d = lcp; d < s.length; d++) {
      parent[nNodes] = path[d]!;
      byte[nNodes] = s.charCodeAt(d);
      path.push(nNodes++);
    }
    tokNode[k] = path[s.length]!;
    prev = s;
    void id;
  });
  const edgeStart = new Int32Array(nNodes + 1);
  for (let v = 1; v < nNodes; v++) edgeStart[parent[v]! + 1]!++;
  for (let v = 0; v < nNodes; v++) edgeStart[v + 1]! += edgeStart[v]!;
  const fill = edgeStart.slice(0, nNodes);
  const edgeByte = new Uint8Array(nNodes - 1);
  const edgeChild = new Int32Array(nNodes - 1);
  for (let v = 1; v < nNodes; v++) {
    const e = fill[parent[v]!]!++;
    edgeByte[e] = byte[v]!;
    edgeChild[e] = v;
  }
  const tokStart = new Int32Array(nNodes + 1);
  for (let k = 0; k < keyed.length; k++) tokStart[tokNode[k]! + 1]!++;
  for (let v = 0; v < nNodes; v++) tokStart[v + 1]! += tokStart[v]!;
  const tfill = tokStart.slice(0, nNodes);
  const tokIds = new Int32Array(keyed.length);
  for (let k = 0; k < keyed.length; k++) tokIds[tfill[tokNode[k]!]!++] = keyed[k]![1];
  return { vocabSize: n, nNodes, edgeStart, edgeByte, edgeChild, tokStart, tokIds, bytes };
}
