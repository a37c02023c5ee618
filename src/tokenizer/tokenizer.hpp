// Text to token ids and back, built once from a bundle's TokenizerData and then
// immutable: every method is const and may be called from many threads at once.
//
// Encoding, in order: special tokens (when asked for) split the text; each stretch
// between them is normalized (if the tokenizer says so), split again at added
// tokens, cut into words by the pre-tokenizer, and each word is merged by BPE from
// its bytes. Any byte sequence encodes, invalid UTF-8 included, and (without
// normalization) decodes back to the same bytes.
#pragma once

#include "model/tokenizer_data.hpp"
#include "tokenizer/bpe_merges.hpp"
#include "tokenizer/literal_matcher.hpp"

#include <cstdint>
#include <memory_resource>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mmb {

class Tokenizer {
 public:
  // Validates `data` and builds the encoder. Throws mmb::Error(MMB_ERR_FORMAT) naming
  // the problem: ids out of range, a merge whose joined bytes are no token, a byte
  // without its token, two tokens with the same bytes, a special token whose text is
  // not its piece... The tables live in `memory`: the library passes its runtime's
  // allocator hooks; tools and tests may use the C++ heap.
  explicit Tokenizer(const TokenizerData& data, std::pmr::memory_resource* memory = std::pmr::get_default_resource());

  // Appends the ids of `text` to `out` (no BOS: the caller adds it). With
  // parse_special, the texts of special tokens become their ids; otherwise they are
  // encoded as ordinary text.
  void encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;
  // Appends the raw bytes of `ids` (which may end inside a UTF-8 character).
  // Throws MMB_ERR_INVALID_ARGUMENT for an id out of range.
  void decode(std::span<const int32_t> ids, std::string& out) const;

  // The raw bytes of token `id`; a special token gives its text. Throws
  // MMB_ERR_INVALID_ARGUMENT for an id outside [0, n_pieces()).
  std::string_view piece(int32_t id) const {
    check_id(id);
    return std::string_view(bytes_).substr(offsets_[size_t(id)], offsets_[size_t(id) + 1] - offsets_[size_t(id)]);
  }
  int32_t n_pieces() const { return int32_t(offsets_.size() - 1); }
  bool is_special(int32_t id) const { return id >= 0 && id < n_pieces() && special_[size_t(id)]; }

  TokenizerKind kind() const { return kind_; }
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  // Whether prompts should start with bos_id() (the model was trained that way).
  bool add_bos() const { return add_bos_; }

 private:
  struct Scratch;
  void check_id(int32_t id) const;
  void encode_ordinary(std::string_view text, Scratch& scratch, std::vector<int32_t>& out) const;
  void encode_words(std::string_view text, Scratch& scratch, std::vector<int32_t>& out) const;

  TokenizerKind kind_;
  PreTokenizer pre_tokenizer_;
  Normalizer normalizer_;
  std::pmr::string bytes_;              // all pieces back to back
  std::pmr::vector<uint64_t> offsets_;  // piece i is bytes_[offsets_[i], offsets_[i + 1])
  std::pmr::vector<uint8_t> special_;   // per id
  int32_t byte_tokens_[256];
  BpeMerges merges_;
  LiteralMatcher specials_;
  LiteralMatcher added_;
  int32_t bos_id_, eos_id_, pad_id_, unk_id_;
  bool add_bos_;
};

}  // namespace mmb
