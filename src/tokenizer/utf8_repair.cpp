#include "tokenizer/utf8_repair.hpp"

namespace mmb {

size_t utf8_sequence_length(std::string_view bytes, size_t* invalid, bool* truncated) {
  const uint8_t lead = uint8_t(bytes[0]);
  *truncated = false;
  if (lead < 0x80) return 1;
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
    *invalid = 1;
    return 0;
  }
  size_t k = 1;
  while (k < length && k < bytes.size()) {
    const uint8_t b = uint8_t(bytes[k]);
    if (b < lo || b > hi) break;
    lo = 0x80;
    hi = 0xBF;
    ++k;
  }
  if (k == length) return length;
  *invalid = k;
  *truncated = k == bytes.size();
  return 0;
}

void append_repaired_utf8(std::string_view bytes, std::string& out) {
  for (size_t i = 0; i < bytes.size();) {
    size_t invalid = 0;
    bool truncated = false;
    if (const size_t n = utf8_sequence_length(bytes.substr(i), &invalid, &truncated)) {
      out.append(bytes.data() + i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += invalid;
    }
  }
}

}  // namespace mmb
