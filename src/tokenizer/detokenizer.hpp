// Token ids to text for streaming: only whole, valid UTF-8 characters come out. Each
// token contributes its Tokenizer::token_bytes() (its piece after the decoder steps
// that act on one token: U+2581 -> " ", <0xNN> -> that byte; precomputed, so a push
// never allocates). The bytes of a character split across tokens wait (at most 3)
// until it is complete; bytes that can never become a character turn into U+FFFD, one
// per maximal invalid subpart (Unicode's recommended practice, also that of WHATWG
// and Python), so the concatenated output equals a one-shot replacement decode of all
// the bytes.
//
// How it differs from the whole-sequence Tokenizer::decode():
//  - The leading space that decoders drop at the start of a text (Metaspace, or a
//    Strip after Fuse: Llama-2, Mistral) is dropped only from the token pushed right
//    after BOS (or after set_after_bos()), never from the first token of a
//    continuation: generated text after a prompt keeps its space.
//  - With a Metaspace decoder before ByteFallback (Mistral v3), a first token that is
//    a <0x20> byte token loses its space here but not in decode(), where Metaspace
//    only strips a space it made itself.
//  - Special tokens come out as their text (decode() can skip them).
//  - Strip's trailing characters after Fuse are not removed (the stream has no end).
//  - Byte runs are not cut at added tokens or ordinary tokens: for valid pieces this
//    gives the same U+FFFD count as the per-run replacement of decode().
//
// Small and copyable: a caller may push on a copy and keep it only if the output
// fits (the C API's size-then-copy does this).
#pragma once

#include "tokenizer/tokenizer.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace mmb {

class Detokenizer {
 public:
  // Bytes that may wait for the rest of a character.
  static constexpr size_t kMaxWaiting = 3;
  // The most bytes one push can write for a token of `piece_bytes` bytes of
  // token_bytes(): every
  // byte may become a 3-byte U+FFFD, and so may the waiting bytes.
  static constexpr size_t max_push_size(size_t piece_bytes) { return 3 * piece_bytes + 3; }
  static constexpr size_t kMaxFlushSize = 3;

  // Keeps a reference: the tokenizer must outlive the detokenizer.
  explicit Detokenizer(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // Appends the text that token `id` completes. Throws MMB_ERR_INVALID_ARGUMENT for
  // an id out of range (nothing changes then).
  void push(int32_t id, std::string& out);
  // Appends the waiting bytes as U+FFFD (if any) and starts over (as a new one: not
  // after BOS).
  void flush(std::string& out);

  // Without allocation: writes the text into buf[0, cap) and returns its size. When
  // the size is more than cap, nothing is written and nothing changes: call again
  // with a buffer of the returned size.
  size_t push(int32_t id, char* buf, size_t cap);
  size_t flush(char* buf, size_t cap);

  // Bytes of an unfinished character now waiting (0..kMaxWaiting).
  size_t waiting() const { return n_waiting_; }
  void reset() {
    n_waiting_ = 0;
    after_bos_ = false;
  }
  // The next token starts the text as if BOS had just been pushed: it loses the
  // tokenizer's leading_strip(). For a stream whose prompt ended with BOS.
  void set_after_bos() { after_bos_ = true; }

 private:
  // The bytes token `id` adds here: token_bytes(), less the leading strip after BOS.
  std::string_view text_of(int32_t id) const;

  const Tokenizer* tokenizer_;
  uint8_t waiting_[kMaxWaiting] = {};
  uint8_t n_waiting_ = 0;
  bool after_bos_ = false;
};

}  // namespace mmb
