#include "chat/jinja_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mmb::jinja {

char32_t decode_utf8(std::string_view text, size_t at, size_t& length) {
  const Utf8Char c = mmb::decode_utf8(text, at);
  length = c.length;
  return c.cp < 0 ? 0xFFFD : char32_t(c.cp);
}

std::vector<size_t> code_point_starts(std::string_view text) {
  std::vector<size_t> starts;
  for (size_t i = 0, n = 0; i < text.size(); i += n) {
    starts.push_back(i);
    decode_utf8(text, i, n);
  }
  return starts;
}

size_t utf16_length(std::string_view text) {
  size_t units = 0;
  for (size_t i = 0, n = 0; i < text.size(); i += n) units += decode_utf8(text, i, n) >= 0x10000 ? 2 : 1;
  return units;
}

size_t whitespace_after(std::string_view text, size_t at) {
  size_t i = at, n = 0;
  while (i < text.size() && is_js_whitespace(decode_utf8(text, i, n))) i += n;
  return i - at;
}

size_t whitespace_before(std::string_view text, size_t end) {
  size_t i = end;
  while (i > 0) {
    // Step back to the start of the previous code point (at most 3 continuation bytes).
    size_t start = i - 1;
    while (start > 0 && i - start < 4 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    size_t n = 0;
    const char32_t c = decode_utf8(text, start, n);
    if (start + n != i || !is_js_whitespace(c)) break;
    i = start;
  }
  return end - i;
}

std::string_view trim_start(std::string_view text) { return text.substr(whitespace_after(text, 0)); }
std::string_view trim_end(std::string_view text) { return text.substr(0, text.size() - whitespace_before(text, text.size())); }
std::string_view trim(std::string_view text) { return trim_end(trim_start(text)); }

namespace {

// Case pairs of the scripts chat text most often holds: ASCII, Latin-1, Latin
// Extended-A, Greek and Cyrillic. Other letters keep their case.
char32_t upper_of(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    const bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_lower ? (c % 2 == 0) : (c % 2 == 1)) return c - 1;
    return c;
  }
  if (c == 0x17F) return 'S';
  if (c == 0x131) return 'I';
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3AC && c <= 0x3AF) return c == 0x3AC ? 0x386 : c - 37;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 63;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

char32_t lower_of(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    const bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_lower ? (c % 2 == 1) : (c % 2 == 0)) return c + 1;
    return c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

template <typename Map>
std::string map_case(std::string_view text, Map map, bool upper) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0, n = 0; i < text.size(); i += n) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      n = 1;
      out += char(map(b));
      continue;
    }
    const char32_t c = decode_utf8(text, i, n);
    if (c == 0xFFFD && n == 1) {
      out += text[i];  // not UTF-8: kept as it is
    } else if (upper && c == 0xDF) {
      out += "SS";
    } else {
      append_utf8(int32_t(map(c)), out);
    }
  }
  return out;
}

}  // namespace

std::string to_upper(std::string_view text) { return map_case(text, upper_of, true); }
std::string to_lower(std::string_view text) { return map_case(text, lower_of, false); }

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string js_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return "0";
  std::string out;
  if (value < 0) out = "-", value = -value;
  // The shortest digits that read back as the same double, then JavaScript's layout.
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string_view sci(buffer, size_t(result.ptr - buffer));
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  const int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  const int k = int(digits.size()), n = exponent + 1;
  if (k <= n && n <= 21) {
    out += digits + std::string(size_t(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, size_t(n)) + "." + digits.substr(size_t(n));
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(size_t(-n), '0') + digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += n - 1 >= 0 ? "e+" : "e-";
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

namespace {

// The longest decimal number at the start of `text` ([+-]digits[.digits][e[+-]digits]
// or Infinity); its length in bytes, 0 when there is none.
size_t decimal_prefix(std::string_view text, bool allow_fraction) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  if (allow_fraction && text.substr(i, 8) == "Infinity") return i + 8;
  const size_t int_start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  size_t digits = i - int_start;
  if (allow_fraction && i < text.size() && text[i] == '.') {
    size_t j = i + 1;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    digits += j - i - 1;
    if (digits > 0) i = j;
  }
  if (digits == 0) return 0;
  if (allow_fraction && i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    size_t j = i + 1;
    if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
    const size_t exp_start = j;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j > exp_start) i = j;
  }
  return i;
}

double parse_decimal(std::string_view number) {
  std::string s(number);
  if (s.find("Infinity") != std::string::npos) return s[0] == '-' ? -INFINITY : INFINITY;
  return std::strtod(s.c_str(), nullptr);
}

}  // namespace

double js_string_to_number(std::string_view text) {
  const std::string_view t = trim(text);
  if (t.empty()) return 0;
  const size_t n = decimal_prefix(t, true);
  return n == t.size() ? parse_decimal(t) : NAN;
}

double js_parse_int(std::string_view text) {
  const std::string_view t = trim_start(text);
  const size_t n = decimal_prefix(t, false);
  return n == 0 ? NAN : parse_decimal(t.substr(0, n));
}

double js_parse_float(std::string_view text) {
  const std::string_view t = trim_start(text);
  const size_t n = decimal_prefix(t, true);
  return n == 0 ? NAN : parse_decimal(t.substr(0, n));
}

}  // namespace mmb::jinja
