// GPT-2 `bytes_to_unicode`: the reversible byte <-> printable-character map in which byte-level BPE
// vocabularies (GGUF `tokenizer.ggml.tokens`, HF tokenizer.json) write their token strings.
// Lowest level of the tokenizer stage: no imports.

/** BYTE_TO_CHAR[b]: the character standing for byte b (printable Latin-1 stays itself, the rest is U+0100+n). */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** code point -> byte; -1 where the code point is not a byte-level character. Covers U+0000..U+0143. */
const CHAR_TO_BYTE: Int16Array = buildCharToByte();

function buildByteToChar(): string[] {
  const chars = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return chars;
}

function buildCharToByte(): Int16Array {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (table[c.charCodeAt(0)] = b));
  return table;
}

/** The byte a byte-level character stands for, or -1. */
export function charToByte(codePoint: number): number {
  return codePoint < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[codePoint]! : -1;
}

const BYTE_TO_CODE = Uint16Array.from(BYTE_TO_CHAR, (c) => c.charCodeAt(0));
const CODES = new Uint16Array(256); // scratch

/** Bytes -> byte-level token string. */
export function bytesToTokenString(bytes: ArrayLike<number>): string {
  const n = bytes.length;
  if (n > CODES.length) {
    let s = '';
    for (let i = 0; i < n; i++) s += BYTE_TO_CHAR[bytes[i]!]!;
    return s;
  }
  // one fromCharCode call over the codes: 2x faster than += on the 128k-line tiktoken load
  for (let i = 0; i < n; i++) CODES[i] = BYTE_TO_CODE[bytes[i]!]!;
  return String.fromCharCode.apply(null, CODES.subarray(0, n) as unknown as number[]);
}

/** Byte-level token string -> bytes, or null if it holds a character outside the byte-level alphabet. */
export function tokenStringToBytes(s: string): Uint8Array | null {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const b = charToByte(s.charCodeAt(i));
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string (lone surrogates become U+FFFD, as in every UTF-8 encoder). */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Text -> its byte-level token string form (UTF-8, then byte -> character). */
export function textToTokenString(text: string): string {
  return bytesToTokenString(encoder.encode(text));
}
