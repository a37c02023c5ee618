// The two pre-tokenizers where we follow Hugging Face's Rust tokenizers crate (which
// models were trained with) rather than tokenizers.js, written over tokenizers.js's own
// classes so that both reference scripts (hf_encode.mjs, pipeline_steps.js) correct
// them the same way. Each replaces pre_tokenize_text, which tokenizers.js calls once
// per piece; after a ByteLevel step a piece is already in the byte-level alphabet, as
// in the Rust crate.
'use strict';

// Digits: the Rust crate splits at char::is_numeric (general categories Nd, Nl, No),
// tokenizers.js at JavaScript's \d (ASCII 0-9).
function correctDigits(DigitsPreTokenizer) {
  DigitsPreTokenizer.prototype.pre_tokenize_text = function (text) {
    const pattern = this.config.individual_digits ? /\P{N}+|\p{N}/gu : /\P{N}+|\p{N}+/gu;
    return text.match(pattern) || [];
  };
}

// Whitespace: the Rust crate keeps the matches of \w+|[^\w\s]+ in its regex crate,
// whose \w is Unicode's (Alphabetic, marks, Nd, Pc, Join_Control) and \s White_Space;
// tokenizers.js's RegExp has no u flag, so its \w is ASCII.
function correctWhitespace(WhitespacePreTokenizer) {
  const word = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}';
  const pattern = new RegExp(`[${word}]+|[^${word}\\p{White_Space}]+`, 'gu');
  WhitespacePreTokenizer.prototype.pre_tokenize_text = function (text) {
    return text.match(pattern) || [];
  };
}

module.exports = { correctDigits, correctWhitespace };
