// A tokenizer as stored in a bundle: pieces (raw bytes per id), BPE merges by rank,
// special and other added tokens, and the pipeline around the model (normalizers,
// pre-tokenizers, decoders, post-processor) as plain step lists, the way
// Hugging Face's tokenizer.json describes them. The runtime builds its encoder from
// this (tokenizer/tokenizer.hpp validates it); it never parses JSON.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

// What BPE starts from. Bytes: no merges, id b is byte b. ByteBPE: a word's bytes,
// each its byte token (GPT-2's byte-level BPE). CharBPE: a word's UTF-8 characters,
// each the token whose piece is that character; a character without one becomes its
// bytes' <0xNN> tokens (byte_fallback) or the unknown token (SentencePiece-style BPE:
// Llama-2, Mistral, Gemma).
enum class TokenizerKind : uint8_t { Bytes = 0, ByteBPE = 1, CharBPE = 2 };

// The pre-tokenizer of bundles from before pipelines: GPT-2's regex, or no split.
// New bundles describe theirs with PreTokenizerStep and set this to None.
enum class PreTokenizer : uint8_t { GPT2 = 0, None = 1 };
// Likewise the old single normalizer (GPT-NeoX uses NFC); new bundles use steps.
enum class Normalizer : uint8_t { None = 0, NFC = 1 };

// ---- Normalizers: applied in order to text outside added tokens that are matched raw.
enum class NormalizerKind : uint8_t {
  NFC = 0, NFD = 1, NFKC = 2, NFKD = 3,
  Lowercase = 4,
  Replace = 5,  // every match of `pattern` becomes `content`
  Prepend = 6,  // `content` before the text (when the text is not empty)
  Strip = 7,    // whitespace off the left (`left`) and/or right (`right`) end
};
struct NormalizerStep {
  NormalizerKind kind = NormalizerKind::NFC;
  std::string pattern;       // Replace: literal text, or a regex when pattern_is_regex
  bool pattern_is_regex = false;
  std::string content;       // Replace's replacement, Prepend's prefix
  bool left = false, right = false;  // Strip
};

// ---- Pre-tokenizers: each step splits every piece the previous steps made.
enum class PreTokenizerKind : uint8_t {
  ByteLevel = 0,        // optional prefix space, then (use_regex) GPT-2's regex split
  Split = 1,            // split at matches of `pattern` by `behavior`, (invert: the non-matches)
  Metaspace = 2,        // spaces become `replacement` (U+2581), prefix per `prepend_scheme`, split before it when `split`
  Digits = 3,           // digits apart from the rest (individual_digits: one per piece)
  Punctuation = 4,      // Unicode punctuation apart, by `behavior`
  Whitespace = 5,       // the regex \w+|[^\w\s]+
  WhitespaceSplit = 6,  // split on whitespace, which is removed
};
// How the matched delimiter joins the pieces (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior : uint8_t { Removed = 0, Isolated = 1, MergedWithPrevious = 2, MergedWithNext = 3, Contiguous = 4 };
// When Metaspace puts `replacement` before the text: always, never, or only before
// the first piece of the input (not after an added token).
enum class PrependScheme : uint8_t { Always = 0, Never = 1, First = 2 };
struct PreTokenizerStep {
  PreTokenizerKind kind = PreTokenizerKind::ByteLevel;
  std::string pattern;             // Split: literal text, or a regex when pattern_is_regex
  bool pattern_is_regex = false;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;             // Split
  bool add_prefix_space = false;   // ByteLevel
  bool use_regex = true;           // ByteLevel
  std::string replacement = "\xE2\x96\x81";  // Metaspace: U+2581
  PrependScheme prepend_scheme = PrependScheme::Always;  // Metaspace
  bool split = true;               // Metaspace
  bool individual_digits = false;  // Digits
};

// ---- Decoders: turn the pieces of a token sequence back into text, in order.
enum class DecoderKind : uint8_t {
  ByteLevel = 0,     // pieces are raw bytes already: nothing to do (kept for the record)
  Metaspace = 1,     // `replacement` -> " ", and the first token's leading space dropped (prepend_scheme != Never)
  ByteFallback = 2,  // <0xNN> tokens -> their bytes
  Fuse = 3,          // the pieces become one
  Strip = 4,         // up to `start` leading and `stop` trailing `content` characters off each piece
  Replace = 5,       // `pattern` -> `content` in each piece
};
struct DecoderStep {
  DecoderKind kind = DecoderKind::ByteLevel;
  std::string pattern;   // Replace (literal)
  std::string content;   // Replace's replacement; Strip's character
  uint32_t start = 0, stop = 0;  // Strip
  std::string replacement = "\xE2\x96\x81";  // Metaspace
  PrependScheme prepend_scheme = PrependScheme::Always;  // Metaspace
};

// One token that is matched as literal text rather than built by merges.
struct SpecialToken {
  int32_t id = -1;
  std::string text;
  // Hugging Face AddedToken flags. lstrip/rstrip: the match takes the whitespace
  // before/after it. single_word: matches only where it is not inside a word.
  // normalized: matched in normalized text (after the normalizers) instead of raw.
  bool lstrip = false, rstrip = false, single_word = false, normalized = false;
};

// A chat template from tokenizer_config.json: "default" for the plain string form,
// else the name given there ("tool_use", "rag"...). The text is Jinja.
struct ChatTemplateText {
  std::string name;
  std::string text;
};

struct TokenizerData {
  TokenizerKind kind = TokenizerKind::Bytes;
  PreTokenizer pre_tokenizer = PreTokenizer::GPT2;  // used only when pre_tokenizers is empty
  Normalizer normalizer = Normalizer::None;         // used only when normalizers is empty
  std::vector<std::string> pieces;                    // id -> raw bytes (not GPT-2's unicode-mapped form)
  std::vector<std::pair<int32_t, int32_t>> merges;    // rank -> (left id, right id)
  // Control tokens (end of text, padding...): matched in text only when the caller
  // asks (MMB_TOKENIZE_PARSE_SPECIAL).
  std::vector<SpecialToken> specials;
  // Added tokens that are not special, e.g. GPT-NeoX's runs of spaces: always matched
  // as literal text.
  std::vector<SpecialToken> added;
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t pad_id = -1;
  int32_t unk_id = -1;
  bool add_bos = false;

  // The pipeline. With a step list present the old single-value fields above are
  // ignored for that stage.
  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokenizerStep> pre_tokenizers;
  std::vector<DecoderStep> decoders;
  // BPE model options (tokenizer.json's model.*).
  bool byte_fallback = false;   // CharBPE: unknown characters as <0xNN> tokens
  bool fuse_unk = false;        // consecutive unknown characters give one unknown token
  bool ignore_merges = false;   // a word that is a token is that token, unmerged
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  // Post-processor (TemplateProcessing's single-sequence template): ids around the
  // text when special tokens are added (MMB_TOKENIZE_ADD_BOS). When both are empty
  // and add_bos is set, the prefix is bos_id (bundles from before pipelines).
  std::vector<int32_t> post_prefix;
  std::vector<int32_t> post_suffix;
  // End-of-generation tokens besides eos_id (generation_config.json's eos_token_id
  // list, e.g. <|eot_id|>, <|im_end|>).
  std::vector<int32_t> stop_ids;
  std::vector<ChatTemplateText> chat_templates;

  // The plain 256-entry byte tokenizer: id b is byte b.
  static TokenizerData bytes();
};

}  // namespace mmb
