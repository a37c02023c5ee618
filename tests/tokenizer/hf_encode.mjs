// The outside reference for tokenizer.json pipelines: Hugging Face's tokenizers.js
// (npm @huggingface/tokenizers), built from a tokenizer.json and tokenizer_config.json,
// encodes each string of a JSON array and decodes the ids back.
//
// usage: node hf_encode.mjs PACKAGE_DIR TOKENIZER_DIR TEXTS.json OUT.json [--special N]
//          [--as-published | --corrections NAME,...]
//
// OUT.json: {"ids": [[...]], "decoded": [...], "special_ids": [[...]], "corrections": [...]}
//   ids: encode(text, {add_special_tokens: false}) (added tokens in the text are still
//        matched, as in Hugging Face's tokenizers; the post-processor adds nothing);
//   decoded: decode(ids, {clean_up_tokenization_spaces: false});
//   special_ids: encode(text) with the post-processor's tokens, for the first N texts.
//
// tokenizers.js differs from the Rust crate that defines these files in a few places;
// they are corrected here to the Rust crate's behavior (listed in "corrections"): all of
// them by default, none with --as-published, the named ones with --corrections (names:
// trim, digits, whitespace, byte-fallback, byte-level-regex):
// (digits and whitespace are in rust_pre_tokenizers.cjs, shared with pipeline_steps.js)
//   - digits: Digits splits at ASCII 0-9 only (JavaScript's \d); Rust: char::is_numeric,
//     the categories Nd, Nl, No (\p{N}): '²', '½', Arabic-Indic digits. Like the Rust
//     crate, tokenizers.js hands the steps after ByteLevel the byte-level alphabet, so
//     there the bytes B2 B3 B9 BC BD BE (the alphabet's ² ³ ¹ ¼ ½ ¾) are numbers too.
//   - whitespace: Whitespace uses ASCII \w (a RegExp without the u flag); Rust's regex
//     crate: Unicode \w (Alphabetic, M*, Nd, Pc, Join_Control) and \s (White_Space).
//   - trim: trim(), trimStart(), trimEnd() (Strip normalizer, lstrip/rstrip of added tokens)
//     use JavaScript's whitespace (U+FEFF yes, U+0085 no); Rust: White_Space.
//   - byte-level-regex: ByteLevel's own GPT-2 regex uses JavaScript's \s (U+FEFF is a space, U+0085 is
//     not); the Rust crate's Oniguruma: TAB..CR, U+0085 and the Z* separators (tiktoken's
//     regex agrees: U+0085 is a space, U+FEFF is not).
//   - byte-fallback: ByteFallback decodes byte runs with a TextDecoder that drops a leading byte order
//     mark; Rust keeps it (and gives one U+FFFD per byte of an invalid run).
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import rust from './rust_pre_tokenizers.cjs';

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return null;
  const value = args[i + 1];
  args.splice(i, 2);
  return value;
};
const asPublished = args.includes('--as-published');
if (asPublished) args.splice(args.indexOf('--as-published'), 1);
const nSpecial = Number(flag('--special') ?? 0);
const allCorrections = ['trim', 'digits', 'whitespace', 'byte-fallback', 'byte-level-regex'];
const chosen = flag('--corrections');
const wanted = new Set(asPublished ? [] : chosen === null ? allCorrections : chosen.split(',').filter(Boolean));
for (const name of wanted) {
  if (!allCorrections.includes(name)) {
    console.error(`unknown correction ${name} (known: ${allCorrections.join(', ')})`);
    process.exit(2);
  }
}
const [packageDir, tokenizerDir, inputPath, outputPath] = args;
if (!outputPath) {
  console.error('usage: node hf_encode.mjs PACKAGE_DIR TOKENIZER_DIR TEXTS.json OUT.json [--special N] ' +
                '[--as-published | --corrections NAME,...]');
  process.exit(2);
}

const hf = await import(pathToFileURL(path.join(packageDir, 'dist', 'tokenizers.mjs')).href);
const corrections = [];
if (wanted.has('trim')) {
  const ws = /^\p{White_Space}+|\p{White_Space}+$/gu;
  const wsStart = /^\p{White_Space}+/u;
  const wsEnd = /\p{White_Space}+$/u;
  String.prototype.trim = function () { return String(this).replace(ws, ''); };
  String.prototype.trimStart = function () { return String(this).replace(wsStart, ''); };
  String.prototype.trimEnd = function () { return String(this).replace(wsEnd, ''); };
  corrections.push('trim: White_Space');
}
if (wanted.has('digits')) {
  rust.correctDigits(hf.DigitsPreTokenizer);
  corrections.push('Digits: \\p{N}');
}
if (wanted.has('whitespace')) {
  rust.correctWhitespace(hf.WhitespacePreTokenizer);
  corrections.push('Whitespace: Unicode \\w and \\s');
}
if (wanted.has('byte-fallback')) {
  const decodeRun = (bytes) => {
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(bytes));
    } catch {
      return '\uFFFD'.repeat(bytes.length);
    }
  };
  hf.ByteFallbackDecoder.prototype.decode_chain = function (tokens) {
    const out = [];
    let run = [];
    for (const token of tokens) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
      if (m) {
        run.push(parseInt(m[1], 16));
        continue;
      }
      if (run.length) out.push(decodeRun(run));
      run = [];
      out.push(token);
    }
    if (run.length) out.push(decodeRun(run));
    return out;
  };
  corrections.push('ByteFallback: keeps U+FEFF, one U+FFFD per invalid byte');
}
if (wanted.has('byte-level-regex')) {
  const space = '\\t\\n\\v\\f\\r\\x85\\p{Zl}\\p{Zp}\\p{Zs}';
  const gpt2Pattern = new RegExp(
    `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${space}\\p{L}\\p{N}]+|[${space}]+(?![^${space}])|[${space}]+`, 'gu');
  const byteLevel = hf.ByteLevelPreTokenizer.prototype.pre_tokenize_text;
  hf.ByteLevelPreTokenizer.prototype.pre_tokenize_text = function (text, options) {
    this.pattern = gpt2Pattern;
    return byteLevel.call(this, text, options);
  };
  corrections.push('ByteLevel regex: Oniguruma \\s');
}

const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));
const tokenizerJson = readJson(path.join(tokenizerDir, 'tokenizer.json'));
const configPath = path.join(tokenizerDir, 'tokenizer_config.json');
const config = fs.existsSync(configPath) ? readJson(configPath) : {};
const tokenizer = new hf.Tokenizer(tokenizerJson, config);

const texts = readJson(inputPath);
const ids = [];
const decoded = [];
const specialIds = [];
for (const [i, text] of texts.entries()) {
  const list = tokenizer.encode(text, { add_special_tokens: false }).ids;
  if (list.some((id) => typeof id !== 'number')) {
    console.error(`text ${i}: the tokenizer produced a piece that is not in its vocabulary`);
    process.exit(1);
  }
  ids.push(list);
  decoded.push(list.length ? tokenizer.decode(list, { clean_up_tokenization_spaces: false }) : '');
  if (i < nSpecial) specialIds.push(tokenizer.encode(text).ids);
}
fs.writeFileSync(outputPath, JSON.stringify({ ids, decoded, special_ids: specialIds, corrections }));
