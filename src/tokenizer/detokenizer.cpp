#include "tokenizer/detokenizer.hpp"

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
// starts (in.size() when there is none). Well-formed sequences are those of the
// Unicode standard's table 3-7: no overlongs, no surrogates, nothing above U+10FFFF.
size_t decode(const Joined& in, Sink& sink) {
  const size_t n = in.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t lead = in[i];
    if (lead < 0x80) {
      sink.put(lead);
      ++i;
      continue;
    }
    size_t length;
    uint8_t lo = 0x80, hi = 0xBF;  // range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    } else {
      sink.replacement();
      ++i;
      continue;
    }
    size_t k = 1;
    while (k < length && i + k < n) {
      const uint8_t b = in[i + k];
      if (b < lo || b > hi) break;
      lo = 0x80;
      hi = 0xBF;
      ++k;
    }
    if (k == length) {
      for (size_t j = 0; j < length; ++j) sink.put(in[i + j]);
    } else if (i + k == n) {
      return i;  // a valid beginning: wait for the rest
    } else {
      sink.replacement();  // one for the whole invalid subpart
    }
    i += k;
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
