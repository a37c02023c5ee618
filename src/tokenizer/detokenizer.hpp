// Token ids to text for streaming: only whole, valid UTF-8 characters come out. The
// bytes of a character split across tokens wait (at most 3) until it is complete;
// bytes that can never become a character turn into U+FFFD, one per maximal invalid
// subpart (Unicode's recommended practice, also that of WHATWG and Python), so the
// concatenated output equals a one-shot replacement decode of all the bytes.
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
  // The most bytes one push can write for a token of `piece_bytes` bytes: every
  // byte may become a 3-byte U+FFFD, and so may the waiting bytes.
  static constexpr size_t max_push_size(size_t piece_bytes) { return 3 * piece_bytes + 3; }
  static constexpr size_t kMaxFlushSize = 3;

  // Keeps a reference: the tokenizer must outlive the detokenizer.
  explicit Detokenizer(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // Appends the text that token `id` completes. Throws MMB_ERR_INVALID_ARGUMENT for
  // an id out of range (nothing changes then).
  void push(int32_t id, std::string& out);
  // Appends the waiting bytes as U+FFFD (if any) and starts over.
  void flush(std::string& out);

  // Without allocation: writes the text into buf[0, cap) and returns its size. When
  // the size is more than cap, nothing is written and nothing changes: call again
  // with a buffer of the returned size.
  size_t push(int32_t id, char* buf, size_t cap);
  size_t flush(char* buf, size_t cap);

  // Bytes of an unfinished character now waiting (0..kMaxWaiting).
  size_t waiting() const { return n_waiting_; }
  void reset() { n_waiting_ = 0; }

 private:
  const Tokenizer* tokenizer_;
  uint8_t waiting_[kMaxWaiting] = {};
  uint8_t n_waiting_ = 0;
};

}  // namespace mmb
