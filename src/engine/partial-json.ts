// A JSON reader that tolerates a cut-off end: what a model has written so far. Used by the tool-call parsers
// (engine/tools.ts) to stream calls while they are generated: each node records its span in the text and
// whether it is complete, strings their decoded text so far. Text that cannot be the start of JSON gives
// `ok: false`.

export interface JsonNode {
  kind: 'object' | 'array' | 'string' | 'scalar';
  /** offset of the value's first character */
  start: number;
  /** offset past its last character (the text's length while incomplete) */
  end: number;
  complete: boolean;
  /** objects: members in order; the last may lack its value while incomplete */
  entries?: Array<{ key: string; keyComplete: boolean; value: JsonNode | undefined }>;
  /** arrays */
  items?: JsonNode[];
  /** strings: the decoded text so far (a cut-off escape is left out) */
  text?: string;
}

export interface PartialJson {
  /** the value, when the text has started one (whitespace may come before it) */
  node: JsonNode | undefined;
  /** false when the text cannot be the start of a JSON value */
  ok: boolean;
  /** offset past the value */
  end: number;
}

const WS = new Set([' ', '\t', '\n', '\r']);
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const SCALAR = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/;
const SCALAR_PREFIX = /^(?:-?[\d.eE+-]*|t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?)$/;

class Bad extends Error {}

/** Reads one JSON value from `text` at `from`, as far as the text goes. */
export function parsePartialJson(text: string, from = 0): PartialJson {
  let i = from;
  const skip = (): void => {
    while (i < text.length && WS.has(text[i]!)) i++;
  };

  function str(node: JsonNode): void {
    i++; // the opening quote
    let out = '';
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === '"') {
        i++;
        node.complete = true;
        node.end = i;
        break;
      }
      if (ch === '\\') {
        if (i + 1 >= text.length) break;
        const e = text[i + 1]!;
        if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{0,4}$/.test(hex)) throw new Bad();
          if (hex.length < 4) break;
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          const v = ESCAPES[e];
          if (v === undefined) throw new Bad();
          out += v;
          i += 2;
        }
      } else {
        if (ch < ' ') throw new Bad();
        out += ch;
        i++;
      }
    }
    if (!node.complete) i = text.length;
    node.text = out;
  }

  /** the value at i (whitespace skipped); incomplete when the text ends inside it */
  function value(): JsonNode | undefined {
    skip();
    if (i >= text.length) return undefined;
    const node: JsonNode = { kind: 'scalar', start: i, end: text.length, complete: false };
    const ch = text[i]!;
    if (ch === '"') {
      node.kind = 'string';
      str(node);
      return node;
    }
    if (ch === '{' || ch === '[') {
      const isObj = ch === '{';
      const close = isObj ? '}' : ']';
      node.kind = isObj ? 'object' : 'array';
      if (isObj) node.entries = [];
      else node.items = [];
      i++;
      skip();
      if (i < text.length && text[i] === close) {
        i++;
        node.complete = true;
        node.end = i;
        return node;
      }
      for (;;) {
        skip();
        if (i >= text.length) return node;
        if (isObj) {
          if (text[i] !== '"') throw new Bad();
          const key: JsonNode = { kind: 'string', start: i, end: text.length, complete: false };
          str(key);
          const entry = { key: key.text ?? '', keyComplete: key.complete, value: undefined as JsonNode | undefined };
          node.entries!.push(entry);
          if (!key.complete) return node;
          skip();
          if (i >= text.length) return node;
          if (text[i] !== ':') throw new Bad();
          i++;
          entry.value = value();
          if (!entry.value?.complete) return node;
        } else {
          const v = value();
          if (!v) return node;
          node.items!.push(v);
          if (!v.complete) return node;
        }
        skip();
        if (i >= text.length) return node;
        if (text[i] === ',') i++;
        else if (text[i] === close) {
          i++;
          node.complete = true;
          node.end = i;
          return node;
        } else throw new Bad();
      }
    }
    // a number is complete only once something that cannot continue it follows (literals once spelt out)
    const run = /^[-+0-9.eE]*/.exec(text.slice(i, i + 400))![0];
    const word = run ? (SCALAR.exec(run)?.[0] === run ? run : '') : (SCALAR.exec(text.slice(i, i + 5))?.[0] ?? '');
    if (word && (i + word.length < text.length || !run)) {
      i += word.length;
      node.complete = true;
      node.end = i;
      return node;
    }
    if (run && i + run.length < text.length) throw new Bad();
    if (!SCALAR_PREFIX.test(text.slice(i))) throw new Bad();
    i = text.length;
    return node;
  }

  try {
    const node = value();
    return { node, ok: true, end: i };
  } catch (e) {
    if (e instanceof Bad) return { node: undefined, ok: false, end: i };
    throw e;
  }
}

/** The member `key` of an object node. */
export function member(node: JsonNode | undefined, key: string): JsonNode | undefined {
  return node?.entries?.find((e) => e.key === key && e.keyComplete)?.value;
}
