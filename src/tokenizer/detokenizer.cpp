#include "tokenizer/detokenizer.hpp"

#include "tokenizer/utf8_repair.hpp"

#include <algorithm>
#include <cstring>

namespace mmb {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Counts the output, or writes it when `buf` is set.
struct Sink {
  char* buf = nullptr;
  size_t size = 0;
  void put(uint8_t b) {
    if (buf) buf[size] = char(b);
    ++size;
  }
  void replacement() {
    for (int i = 0; i < 3; ++i) put(uint8_t(kReplacement[i]));
  }
};

// The bytes `waiting` then `piece`, read as one sequence.
struct Joined {
  const uint8_t* waiting;
  size_t n_waiting;
  std::string_view piece;
  size_t size() const { return n_waiting + piece.size(); }
  uint8_t operator[](size_t i) const { return i < n_waiting ? waiting[i] : uint8_t(piece[i - n_waiting]); }
};

// Decodes `in` into `sink`; returns where the unfinished character at the end
// starts (in.size() when there is none).
size_t decode(const Joined& in, Sink& sink) {
  const size_t n = in.size();
  size_t i = 0;
  while (i < n) {
    // The next sequence's bytes, copied so that one that crosses from the waiting
    // bytes into the piece reads as one view (on the stack: a push never allocates).
    char window[kMaxUtf8Sequence];
    const size_t m = std::min(kMaxUtf8Sequence, n - i);
    for (size_t j = 0; j < m; ++j) window[j] = char(in[i + j]);
    size_t invalid = 0;
    bool truncated = false;
    if (const size_t length = utf8_sequence_length({window, m}, &invalid, &truncated)) {
      for (size_t j = 0; j < length; ++j) sink.put(uint8_t(window[j]));
      i += length;
    } else if (truncated) {
      return i;  // a valid beginning: wait for the rest
    } else {
      sink.replacement();  // one for the whole invalid subpart
      i += invalid;
    }
  }
  return n;
}

}  // namespace

std::string_view Detokenizer::text_of(int32_t id) const {
  std::string_view text = tokenizer_->token_bytes(id);
  if (after_bos_) {
    const Tokenizer::LeadingStrip strip = tokenizer_->leading_strip();
    for (uint32_t i = 0; i < strip.count && !strip.text.empty() && text.starts_with(strip.text); ++i)
      text.remove_prefix(strip.text.size());
  }
  return text;
}

size_t Detokenizer::push(int32_t id, char* buf, size_t cap) {
  const Joined in{waiting_, n_waiting_, text_of(id)};
  if (cap < max_push_size(in.piece.size())) {
    Sink count;
    decode(in, count);
    if (count.size > cap) return count.size;
  }
  Sink write{buf};
  const size_t rest = decode(in, write);
  uint8_t next[kMaxWaiting];
  const size_t n_next = in.size() - rest;
  for (size_t j = 0; j < n_next; ++j) next[j] = in[rest + j];
  std::memcpy(waiting_, next, n_next);
  n_waiting_ = uint8_t(n_next);
  after_bos_ = id == tokenizer_->bos_id();
  return write.size;
}

size_t Detokenizer::flush(char* buf, size_t cap) {
  if (n_waiting_ != 0 && cap < 3) return 3;
  after_bos_ = false;
  if (n_waiting_ == 0) return 0;
  std::memcpy(buf, kReplacement, 3);
  n_waiting_ = 0;
  return 3;
}

void Detokenizer::push(int32_t id, std::string& out) {
  const size_t old = out.size();
  out.resize(old + max_push_size(tokenizer_->token_bytes(id).size()));
  out.resize(old + push(id, out.data() + old, out.size() - old));
}

void Detokenizer::flush(std::string& out) {
  const size_t old = out.size();
  out.resize(old + kMaxFlushSize);
  out.resize(old + flush(out.data() + old, kMaxFlushSize));
}

}  // namespace mmb
