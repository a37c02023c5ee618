// The outside reference for our normalizer and pre-tokenizer steps: runs
// tokenizer.json "normalizer" / "pre_tokenizer" objects through the npm package
// @huggingface/tokenizers (tokenizers.js) on each text and writes what they give.
//
// A corrected reference for two steps: Digits and Whitespace run as in Hugging Face's
// Rust crate (Unicode numbers; Unicode \w and \s), which we follow there
// (rust_pre_tokenizers.cjs); every other class is tokenizers.js as published.
//
// usage: node pipeline_steps.js PACKAGE_DIR CASES.json OUT.json
//   CASES.json: an array of {"normalizer": {...}} or {"pre_tokenizer": {...}}, each
//     with "texts" (UTF-8 in hex) and optional "section_index" (Metaspace's "first").
//   OUT.json: per case, per text: the normalized text in hex, or the list of pieces in
//     hex. Byte-level pieces (after a ByteLevel step) are turned back into their bytes.
'use strict';
const fs = require('fs');
const path = require('path');

const [packageDir, inputPath, outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error('usage: node pipeline_steps.js PACKAGE_DIR CASES.json OUT.json');
  process.exit(2);
}
const tokenizers = require(path.join(packageDir, 'dist', 'tokenizers.cjs'));
const rust = require('./rust_pre_tokenizers.cjs');
rust.correctDigits(tokenizers.DigitsPreTokenizer);
rust.correctWhitespace(tokenizers.WhitespacePreTokenizer);

// tokenizer.json "type" -> the package's exported class.
const normalizerClasses = {
  Sequence: tokenizers.SequenceNormalizer, NFC: tokenizers.NFCNormalizer, NFD: tokenizers.NFDNormalizer,
  NFKC: tokenizers.NFKCNormalizer, NFKD: tokenizers.NFKDNormalizer, Lowercase: tokenizers.LowercaseNormalizer,
  Replace: tokenizers.ReplaceNormalizer, Prepend: tokenizers.PrependNormalizer, Strip: tokenizers.StripNormalizer,
};
const preTokenizerClasses = {
  Sequence: tokenizers.SequencePreTokenizer, ByteLevel: tokenizers.ByteLevelPreTokenizer,
  Split: tokenizers.SplitPreTokenizer, Metaspace: tokenizers.MetaspacePreTokenizer,
  Digits: tokenizers.DigitsPreTokenizer, Punctuation: tokenizers.PunctuationPreTokenizer,
  Whitespace: tokenizers.WhitespacePreTokenizer, WhitespaceSplit: tokenizers.WhitespaceSplitPreTokenizer,
};
function make(classes, config) {
  const Class = classes[config.type];
  if (!Class) throw new Error(`no class for ${config.type}`);
  return new Class(config);
}

// GPT-2's byte <-> printable character table, inverted: byte-level pieces to bytes.
const unicodeToByte = (() => {
  const bs = [];
  for (let b = 0x21; b <= 0x7e; ++b) bs.push(b);
  for (let b = 0xa1; b <= 0xac; ++b) bs.push(b);
  for (let b = 0xae; b <= 0xff; ++b) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; ++b) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n += 1;
    }
  }
  const map = new Map();
  bs.forEach((b, i) => map.set(String.fromCharCode(cs[i]), b));
  return map;
})();
const hasByteLevel = (config) =>
  config.type === 'ByteLevel' || (config.type === 'Sequence' && config.pretokenizers.some(hasByteLevel));

const fromHex = (hex) => Buffer.from(hex, 'hex').toString('utf8');
const toHex = (text) => Buffer.from(text, 'utf8').toString('hex');
const byteLevelToHex = (piece) => Buffer.from(Array.from(piece, (ch) => {
  const b = unicodeToByte.get(ch);
  if (b === undefined) throw new Error(`not a byte-level character: ${ch}`);
  return b;
})).toString('hex');

const cases = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
const results = cases.map((c) => {
  if (c.normalizer) {
    const normalizer = make(normalizerClasses, c.normalizer);
    return c.texts.map((hex) => toHex(normalizer.normalize(fromHex(hex))));
  }
  const preTokenizer = make(preTokenizerClasses, c.pre_tokenizer);
  const byteLevel = hasByteLevel(c.pre_tokenizer);
  const options = { section_index: c.section_index ?? 0 };
  return c.texts.map((hex) => preTokenizer.pre_tokenize(fromHex(hex), options).map(byteLevel ? byteLevelToHex : toHex));
});
fs.writeFileSync(outputPath, JSON.stringify(results));
