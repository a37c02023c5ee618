#include "tokenizer/unicode_text.hpp"

#include <utf8proc.h>

#include <array>

namespace mmb {

Utf8Char decode_utf8(std::string_view text, size_t at) {
  uint8_t lead = uint8_t(text[at]);
  if (lead < 0x80) return {lead, 1};
  utf8proc_int32_t cp = 0;
  utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + at),
                                        utf8proc_ssize_t(text.size() - at), &cp);
  if (n <= 0) return {-1, 1};
  return {cp, size_t(n)};
}

void append_utf8(int32_t cp, std::string& out) {
  utf8proc_uint8_t buffer[4];
  utf8proc_ssize_t n = utf8proc_encode_char(cp, buffer);
  out.append(reinterpret_cast<const char*>(buffer), size_t(n));
}

namespace {

// GPT-2's byte-level alphabet, built once at compile time (steps after ByteLevel read
// every byte through it).
constexpr std::array<int32_t, 256> kByteLevelChars = [] {
  std::array<int32_t, 256> chars{};
  int32_t next = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool stands_for_itself = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    chars[size_t(b)] = stands_for_itself ? b : next++;
  }
  return chars;
}();

}  // namespace

int32_t byte_level_char(uint8_t b) { return kByteLevelChars[b]; }

bool is_numeric(int32_t cp) {
  if (cp < 0) return false;
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

bool is_white_space(int32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
  if (cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A)) return true;
  return cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_unicode_word(int32_t cp) {
  if (cp < 0) return false;
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      break;
  }
  // Join_Control, and the symbols that Unicode calls Alphabetic (Other_Alphabetic
  // outside the marks): circled Ⓐ..ⓩ and the squared / negative-squared letters.
  return cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
         (cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189);
}

bool is_js_whitespace(int32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
  if (cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A)) return true;
  return cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

namespace {

// Unicode's Cased property, close enough for the final-sigma rule: letters with a
// case, and characters that change under case mapping.
bool is_cased(int32_t cp) {
  if (cp < 0) return false;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
      return true;
    default:
      return utf8proc_tolower(cp) != cp || utf8proc_toupper(cp) != cp;
  }
}

// Unicode's Case_Ignorable: marks, format characters, modifiers, and the
// apostrophes / dots / colons that sit inside words.
bool is_case_ignorable(int32_t cp) {
  if (cp < 0) return false;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      break;
  }
  switch (cp) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52:
    case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
      return true;
    default:
      return false;
  }
}

// Whether the capital sigma at byte `at` ends a word: a cased letter before it and
// none after it (case-ignorable characters skipped both ways).
bool is_final_sigma(std::string_view text, size_t at, size_t length) {
  bool cased_before = false;
  size_t back = at;
  while (back > 0) {
    size_t start = back - 1;  // step back to the lead byte
    while (start > 0 && (uint8_t(text[start]) & 0xC0) == 0x80 && back - start < 4) --start;
    Utf8Char c = decode_utf8(text, start);
    if (start + c.length != back) c = {-1, 1}, start = back - 1;
    if (is_case_ignorable(c.cp)) {
      back = start;
      continue;
    }
    cased_before = is_cased(c.cp);
    break;
  }
  if (!cased_before) return false;
  size_t ahead = at + length;
  while (ahead < text.size()) {
    Utf8Char c = decode_utf8(text, ahead);
    if (is_case_ignorable(c.cp)) {
      ahead += c.length;
      continue;
    }
    return !is_cased(c.cp);
  }
  return true;
}

}  // namespace

void lowercase_full(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size());
  size_t at = 0;
  while (at < text.size()) {
    uint8_t lead = uint8_t(text[at]);
    if (lead < 0x80) {
      out.push_back(lead >= 'A' && lead <= 'Z' ? char(lead | 0x20) : char(lead));
      ++at;
      continue;
    }
    Utf8Char c = decode_utf8(text, at);
    if (c.cp < 0) {
      out.push_back(text[at]);
    } else if (c.cp == 0x130) {  // the one unconditional special lowercase mapping
      out += "i\xCC\x87";
    } else if (c.cp == 0x3A3) {
      append_utf8(is_final_sigma(text, at, c.length) ? 0x3C2 : 0x3C3, out);
    } else {
      append_utf8(utf8proc_tolower(c.cp), out);
    }
    at += c.length;
  }
}

}  // namespace mmb
