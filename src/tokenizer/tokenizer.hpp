// Text to token ids and back, built once from a bundle's TokenizerData and then
// immutable: every method is const and may be called from many threads at once.
//
// Encoding runs the pipeline the way Hugging Face tokenizers (and the tokenizers.js
// reference) do:
//   1. added tokens matched in the raw text: those with normalized = false (special
//      tokens only with parse_special), leftmost-longest; lstrip/rstrip take the
//      whitespace (Unicode White_Space) before/after a match off the neighbouring
//      text;
//   2. the text between them is normalized (NormalizerChain);
//   3. added tokens with normalized = true are matched in the normalized text;
//   4. the rest is cut into words (PreTokenizerChain; "at input start" is the text
//      before which nothing, not even an added token, stands);
//   5. each word becomes ids by BPE: from its bytes (ByteBPE), or from its UTF-8
//      characters (CharBPE; a character without a token becomes its <0xNN> byte tokens
//      with byte_fallback, else the unknown token, consecutive ones fused with fuse_unk).
// Any byte sequence encodes, invalid UTF-8 included. single_word is stored but, as in
// tokenizers.js, not enforced.
//
// Decoding follows the decoder steps (whole-sequence decode()); token_bytes() is a
// token's text on its own, which the streaming Detokenizer joins (detokenizer.hpp
// says how the two differ).
#pragma once

#include "model/tokenizer_data.hpp"
#include "tokenizer/bpe_merges.hpp"
#include "tokenizer/literal_matcher.hpp"
#include "tokenizer/normalizer.hpp"
#include "tokenizer/pre_tokenizer.hpp"

#include <cstdint>
#include <memory_resource>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mmb {

class Tokenizer {
 public:
  // Texts at least this long remember their words' ids during one encode call
  // (tokenizer/word_cache.hpp): the same ids, found faster.
  static constexpr size_t kCacheWordsFrom = 4096;

  // Validates `data` and builds the encoder. Throws mmb::Error(MMB_ERR_FORMAT) naming
  // the problem: ids out of range, an unknown step kind, a merge whose joined bytes
  // are no token, a byte without its token (ByteBPE), two tokens with the same bytes,
  // an added token whose text is not its piece, a regex that does not compile... The
  // tables live in `memory`: the library passes its runtime's allocator hooks; tools
  // and tests may use the C++ heap.
  explicit Tokenizer(const TokenizerData& data, std::pmr::memory_resource* memory = std::pmr::get_default_resource());
  ~Tokenizer();

  // Appends the ids of `text` to `out`, without the post-processor's ids (see
  // prefix_ids()). With parse_special, the texts of special tokens become their ids;
  // otherwise they are encoded as ordinary text.
  void encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;
  // What "add special tokens" puts before and after the text: the post-processor's
  // template, or [bos_id] before for bundles that only say add_bos.
  std::span<const int32_t> prefix_ids() const { return prefix_; }
  std::span<const int32_t> suffix_ids() const { return suffix_; }

  // Appends the text of `ids` as the decoder steps make it (Replace, ByteFallback,
  // Fuse, Strip, Metaspace, ByteLevel, as tokenizers.js runs them); without steps
  // (older bundles) the pieces' bytes joined as they are. skip_special drops special
  // tokens first. Throws MMB_ERR_INVALID_ARGUMENT for an id out of range.
  void decode(std::span<const int32_t> ids, std::string& out, bool skip_special = false) const;

  // The stored piece of token `id`: raw bytes for byte-level tokenizers, the
  // vocabulary's text for CharBPE ("\xE2\x96\x81the", "<0x0A>"); a special token's
  // text. Throws MMB_ERR_INVALID_ARGUMENT for an id outside [0, n_pieces()).
  std::string_view piece(int32_t id) const {
    check_id(id);
    return std::string_view(bytes_).substr(offsets_[size_t(id)], offsets_[size_t(id) + 1] - offsets_[size_t(id)]);
  }
  // The bytes token `id` stands for in text on its own: its piece after the decoder
  // steps that act on one token (U+2581 -> " ", <0x0A> -> the byte 0x0A, Strip before
  // Fuse). Precomputed; same checks as piece().
  std::string_view token_bytes(int32_t id) const {
    check_id(id);
    return std::string_view(decoded_).substr(decoded_offsets_[size_t(id)],
                                             decoded_offsets_[size_t(id) + 1] - decoded_offsets_[size_t(id)]);
  }
  // The characters decoding drops from the start of the text (Metaspace's leading
  // space, or a Strip after Fuse): `count` times `text`, or count 0.
  struct LeadingStrip {
    std::string_view text;
    uint32_t count = 0;
  };
  LeadingStrip leading_strip() const { return {leading_strip_text_, leading_strip_count_}; }

  int32_t n_pieces() const { return int32_t(offsets_.size() - 1); }
  bool is_special(int32_t id) const { return id >= 0 && id < n_pieces() && role_[size_t(id)] == kSpecial; }

  TokenizerKind kind() const { return kind_; }
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  // Whether prompts should start with bos_id() (the model was trained that way).
  bool add_bos() const { return add_bos_; }
  // End-of-generation tokens besides eos_id(), as stored (range-checked).
  std::span<const int32_t> stop_ids() const { return stop_ids_; }

 private:
  enum Role : uint8_t { kOrdinary = 0, kSpecial = 1, kAdded = 2 };
  // Per-token flags of added tokens.
  enum : uint8_t { kLstrip = 1, kRstrip = 2 };
  struct Scratch;

  void check_id(int32_t id) const;
  // Splits `text` at the matches of `matcher`, applies lstrip/rstrip, appends the
  // matches' ids and hands each stretch between them (with whether it starts the
  // input) to `between`.
  void split_literals(std::string_view text, const LiteralMatcher& matcher, bool at_input_start, std::vector<int32_t>& out,
                      FunctionRef<void(std::string_view, bool)> between) const;
  void encode_raw_section(std::string_view text, bool at_input_start, bool parse_special, Scratch& scratch,
                          std::vector<int32_t>& out) const;
  void encode_words(std::string_view text, bool at_input_start, Scratch& scratch, std::vector<int32_t>& out) const;
  void encode_word(std::string_view word, Scratch& scratch, std::vector<int32_t>& out, size_t section_begin) const;
  void encode_char_word(std::string_view word, Scratch& scratch, std::vector<int32_t>& out, size_t section_begin) const;
  void push_unknown(std::string_view bytes, std::vector<int32_t>& out, size_t section_begin) const;
  int32_t find_piece(std::string_view bytes) const;
  int32_t output_id(int32_t id) const;

  TokenizerKind kind_;
  std::pmr::string bytes_;              // all pieces back to back
  std::pmr::vector<uint64_t> offsets_;  // piece i is bytes_[offsets_[i], offsets_[i + 1])
  std::pmr::string decoded_;            // token_bytes() back to back
  std::pmr::vector<uint64_t> decoded_offsets_;
  std::pmr::vector<uint8_t> role_;      // per id
  std::pmr::vector<uint8_t> literal_flags_;  // per id: kLstrip | kRstrip
  std::pmr::unordered_map<std::string_view, int32_t> by_piece_;  // what BPE symbols and merges resolve to
  std::pmr::unordered_map<int32_t, int32_t> output_ids_;  // CharBPE: ordinary id -> added token of the same text
  int32_t byte_tokens_[256];            // ByteBPE, Bytes: the token of each byte
  int32_t fallback_tokens_[256];        // CharBPE: the <0xNN> token of each byte, or -1
  int32_t ascii_tokens_[128];           // CharBPE: the token of each ASCII character, or -1
  BpeMerges merges_;
  // CharBPE: pairs of initial symbols that stand next to each other in some token. A
  // word can be cut where its pair stands in none, since no merge can join across
  // there: text without a pre-tokenizer (Llama-2) is merged in short stretches.
  BpeMerges adjacent_pairs_;
  NormalizerChain normalizer_;
  PreTokenizerChain pre_tokenizer_;
  // Added tokens matched in raw text (with and without the special ones), and those
  // matched in normalized text.
  LiteralMatcher raw_all_, raw_added_, normalized_all_, normalized_added_;
  std::vector<DecoderStep> decoders_;
  bool byte_fallback_, fuse_unk_, ignore_merges_;
  std::string end_of_word_suffix_;
  std::vector<int32_t> prefix_, suffix_, stop_ids_;
  std::string leading_strip_text_;
  uint32_t leading_strip_count_ = 0;
  int32_t bos_id_, eos_id_, pad_id_, unk_id_;
  bool add_bos_;
};

}  // namespace mmb
