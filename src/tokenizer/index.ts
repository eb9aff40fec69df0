// Public surface of the tokenizer stage: vocabulary loaders (GGUF, tokenizer.json, tiktoken), the BPE
// Tokenizer with its streaming decoder, the pre-tokenizer, and the small BPE trainer.
export { Tokenizer } from './tokenizer.js';
export type { EncodeOptions, DecodeOptions, StreamDecoder, TextSegment } from './tokenizer.js';
export { TokenType, vocabFromGguf, vocabFromTokenizerJson, vocabFromTiktoken, llama3SpecialTokens } from './vocab.js';
export type { BpeVocab } from './vocab.js';
export { pretokenize, LLAMA3_PATTERN } from './pretokenize.js';
export type { PreTokenizerKind } from './pretokenize.js';
export { BYTE_TO_CHAR, bytesToTokenString, tokenStringToBytes, textToTokenString } from './byte-unicode.js';
export { trainBpe } from './train.js';
export type { TrainOptions } from './train.js';
