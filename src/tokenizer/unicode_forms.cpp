#include "tokenizer/unicode_forms.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <new>

namespace mmb {
namespace {

utf8proc_option_t options_of(UnicodeForm form) {
  switch (form) {
    case UnicodeForm::NFC: return utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    case UnicodeForm::NFD: return utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
    case UnicodeForm::NFKC: return utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    case UnicodeForm::NFKD: return utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  }
  return utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
}

// Below this code point every character is its own normal form and composes with
// nothing before it, so text made only of them is left as it is: U+0300 (the first
// combining mark) for NFC; U+00A0 (the first with a decomposition) for the others.
int32_t first_changing(UnicodeForm form) { return form == UnicodeForm::NFC ? 0x300 : 0xA0; }

void append_normalized(std::string_view valid, bool may_change, utf8proc_option_t options, std::string& out) {
  if (!may_change || valid.empty()) {
    out.append(valid);
    return;
  }
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                                    utf8proc_ssize_t(valid.size()), &mapped, options);
  if (n == UTF8PROC_ERROR_NOMEM) throw std::bad_alloc();
  if (n < 0) {  // cannot happen for valid UTF-8; keep the text rather than lose it
    out.append(valid);
    return;
  }
  out.append(reinterpret_cast<const char*>(mapped), size_t(n));
  std::free(mapped);
}

}  // namespace

void normalize_unicode(std::string_view text, UnicodeForm form, std::string& out) {
  out.clear();
  out.reserve(text.size());
  const utf8proc_option_t options = options_of(form);
  const int32_t threshold = first_changing(form);
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
      may_change |= cp >= threshold;
      at += size_t(n);
      continue;
    }
    append_normalized(text.substr(begin, at - begin), may_change, options, out);
    out.push_back(text[at]);
    begin = ++at;
    may_change = false;
  }
  append_normalized(text.substr(begin), may_change, options, out);
}

}  // namespace mmb
