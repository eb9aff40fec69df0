// Python's ast.literal_eval for what lm-eval's templates render: lists and tuples of strings, numbers,
// booleans and None (and dicts of them). lm-eval turns a rendered doc_to_choice (and a doc_to_target that
// looks like a list or a number) into a value this way; our Jinja renders lists with double quotes, Python
// with single ones, so both quote styles and Python's string escapes are read.
import { BitnetError } from '../errors.js';

export type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0', a: '\x07', b: '\b', f: '\f', v: '\v', '\n': '' };

/** Parses a Python literal; throws INVALID_ARGUMENT naming `what` when the text is not one. */
export function pyLiteral(text: string, what = 'value'): PyValue {
  let i = 0;
  const fail = (why: string): never => {
    throw new BitnetError('INVALID_ARGUMENT', `${what}: ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text)} is not a Python literal (${why} at ${i})`, { name: what });
  };
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const str = (): string => {
    const q = text[i]!;
    const triple = text.startsWith(q.repeat(3), i);
    i += triple ? 3 : 1;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i]!;
      if (triple ? text.startsWith(q.repeat(3), i) : c === q) {
        i += triple ? 3 : 1;
        return out;
      }
      if (c === '\\') {
        const e = text[i + 1] ?? '';
        if (e === 'x' || e === 'u' || e === 'U') {
          const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
          const hex = text.slice(i + 2, i + 2 + n);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) fail('bad escape');
          out += String.fromCodePoint(parseInt(hex, 16));
          i += 2 + n;
        } else if (e in ESCAPES) {
          out += ESCAPES[e];
          i += 2;
        } else {
          out += `\\${e}`;
          i += 2;
        }
        continue;
      }
      out += c;
      i++;
    }
  };
  const seq = (close: string): PyValue[] => {
    i++;
    const out: PyValue[] = [];
    for (;;) {
      ws();
      if (text[i] === close) {
        i++;
        return out;
      }
      out.push(value());
      ws();
      if (text[i] === ',') i++;
      else if (text[i] !== close) fail(`expected "," or "${close}"`);
    }
  };
  const dict = (): { [k: string]: PyValue } => {
    i++;
    const out: { [k: string]: PyValue } = {};
    for (;;) {
      ws();
      if (text[i] === '}') {
        i++;
        return out;
      }
      const k = value();
      ws();
      if (text[i] !== ':') fail('expected ":"');
      i++;
      out[String(k)] = value();
      ws();
      if (text[i] === ',') i++;
      else if (text[i] !== '}') fail('expected "," or "}"');
    }
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === undefined) return fail('unexpected end');
    if (c === '[') return seq(']');
    if (c === '(') return seq(')');
    if (c === '{') return dict();
    if (c === "'" || c === '"') {
      let s = str();
      // adjacent literals concatenate, as in Python
      for (;;) {
        const save = i;
        ws();
        if (text[i] === "'" || text[i] === '"') s += str();
        else {
          i = save;
          return s;
        }
      }
    }
    const m = /^(?:True|False|None|true|false|null|[-+]?(?:\d[\d_]*\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))/.exec(text.slice(i));
    if (!m) return fail('unexpected character');
    i += m[0].length;
    const w = m[0];
    if (w === 'True' || w === 'true') return true;
    if (w === 'False' || w === 'false') return false;
    if (w === 'None' || w === 'null') return null;
    return Number(w.replace(/_/g, ''));
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing text');
  return v;
}

/** Python's str.isdigit() for the ASCII digits lm-eval's rendered targets use. */
export const isDigits = (s: string): boolean => /^[0-9]+$/.test(s);
