#include "tokenizer/unicode_nfc.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <new>

namespace mmb {
namespace {

// Every code point below U+0300 (where the combining marks begin) is its own NFC
// form and composes with nothing before it: text made only of them is already NFC.
constexpr utf8proc_int32_t kFirstCombining = 0x300;

void append_nfc(std::string_view valid, bool may_change, std::string& out) {
  if (!may_change) {
    out.append(valid);
    return;
  }
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                                    utf8proc_ssize_t(valid.size()), &mapped, utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n == UTF8PROC_ERROR_NOMEM) throw std::bad_alloc();
  if (n < 0) {  // cannot happen for valid UTF-8; keep the text rather than lose it
    out.append(valid);
    return;
  }
  out.append(reinterpret_cast<const char*>(mapped), size_t(n));
  std::free(mapped);
}

}  // namespace

void nfc_normalize(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size());
  size_t begin = 0, at = 0;
  bool may_change = false;
  while (at < text.size()) {
    if (uint8_t(text[at]) < 0x80) {
      ++at;
      continue;
    }
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + at),
                                          utf8proc_ssize_t(text.size() - at), &cp);
    if (n > 0) {
      may_change |= cp >= kFirstCombining;
      at += size_t(n);
      continue;
    }
    append_nfc(text.substr(begin, at - begin), may_change, out);
    out.push_back(text[at]);
    begin = ++at;
    may_change = false;
  }
  append_nfc(text.substr(begin), may_change, out);
}

}  // namespace mmb
