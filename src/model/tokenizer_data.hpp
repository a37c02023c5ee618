// A tokenizer as stored in a bundle: pieces (raw bytes per id), BPE merges by rank,
// special and other added tokens. The runtime builds its encoder from this
// (tokenizer/tokenizer.hpp validates it); it never parses JSON.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

enum class TokenizerKind : uint8_t { Bytes = 0, ByteBPE = 1 };
enum class PreTokenizer : uint8_t { GPT2 = 0, None = 1 };
// Applied to text outside special tokens before anything else (GPT-NeoX uses NFC).
enum class Normalizer : uint8_t { None = 0, NFC = 1 };

// One token that is matched as literal text rather than built by merges.
struct SpecialToken {
  int32_t id = -1;
  std::string text;
};

struct TokenizerData {
  TokenizerKind kind = TokenizerKind::Bytes;
  PreTokenizer pre_tokenizer = PreTokenizer::GPT2;
  Normalizer normalizer = Normalizer::None;
  std::vector<std::string> pieces;                    // id -> raw bytes (not GPT-2's unicode-mapped form)
  std::vector<std::pair<int32_t, int32_t>> merges;    // rank -> (left id, right id)
  // Control tokens (end of text, padding...): matched in text only when the caller
  // asks (MMB_TOKENIZE_PARSE_SPECIAL).
  std::vector<SpecialToken> specials;
  // Added tokens that are not special, e.g. GPT-NeoX's runs of spaces: always matched
  // as literal text, after normalization and before the pre-tokenizer.
  std::vector<SpecialToken> added;
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t pad_id = -1;
  int32_t unk_id = -1;
  bool add_bos = false;

  // The plain 256-entry byte tokenizer: id b is byte b.
  static TokenizerData bytes();
};

}  // namespace mmb
