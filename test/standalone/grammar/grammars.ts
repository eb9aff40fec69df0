// GBNF grammars written for the tests (JSON, arithmetic, a list, a C-like subset) and a parse helper.
// Not a test file itself.
import { DEFAULT_GRAMMAR_LIMITS, parseGbnf, type GrammarAst } from '../../../src/grammar/index.js';

export function astOf(text: string, root = 'root'): GrammarAst {
  return parseGbnf(text, root, DEFAULT_GRAMMAR_LIMITS);
}

export const JSON_GBNF = String.raw`# JSON, as llama.cpp's grammars/json.gbnf
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# optional space: one newline and up to 20 blanks, or one space
ws ::= | " " | "\n" [ \t]{0,20}
`;

export const ARITHMETIC_GBNF = String.raw`root   ::= expr
expr   ::= term (ws [-+] ws term){0,3}
term   ::= factor (ws [*/] ws factor){0,2}
factor ::= "-"? (number | "(" ws expr ws ")")
number ::= [0-9]{1,4} ("." [0-9]{1,3})?
ws     ::= [ ]?
`;

export const LIST_GBNF = String.raw`root ::= item{1,5}
item ::= "- " [^\n\r]{1,30} "\n"
`;

export const C_GBNF = String.raw`root    ::= stmt{1,4}
stmt    ::= decl | assign | ifstmt | block
decl    ::= type " " ident (" = " expr)? ";\n"
assign  ::= ident " = " expr ";\n"
ifstmt  ::= "if (" cond ") " block ("else " block)?
block   ::= "{\n" stmt{0,2} "}\n"
type    ::= "int" | "float" | "char"
cond    ::= expr " " ("==" | "!=" | "<" | ">" | "<=" | ">=") " " expr
expr    ::= operand (" " [-+*/] " " operand){0,3}
operand ::= ident | [0-9]{1,4} | "(" expr ")"
ident   ::= [a-z_] [a-z0-9_]{0,7}
`;

export const GRAMMARS: Record<string, string> = { json: JSON_GBNF, arithmetic: ARITHMETIC_GBNF, list: LIST_GBNF, c: C_GBNF };
