#include "grammar/utf8_ranges.hpp"

#include <algorithm>

namespace mmb::grammar {
namespace {

constexpr uint32_t kMaxScalar = 0x10FFFF;
constexpr uint32_t kSurrogateFirst = 0xD800;
constexpr uint32_t kSurrogateLast = 0xDFFF;

int encoded_length(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void encode(uint32_t cp, uint8_t* out) {
  switch (encoded_length(cp)) {
    case 1: out[0] = uint8_t(cp); break;
    case 2: out[0] = uint8_t(0xC0 | (cp >> 6)); out[1] = uint8_t(0x80 | (cp & 0x3F)); break;
    case 3:
      out[0] = uint8_t(0xE0 | (cp >> 12));
      out[1] = uint8_t(0x80 | ((cp >> 6) & 0x3F));
      out[2] = uint8_t(0x80 | (cp & 0x3F));
      break;
    default:
      out[0] = uint8_t(0xF0 | (cp >> 18));
      out[1] = uint8_t(0x80 | ((cp >> 12) & 0x3F));
      out[2] = uint8_t(0x80 | ((cp >> 6) & 0x3F));
      out[3] = uint8_t(0x80 | (cp & 0x3F));
  }
}

// Splits [first, last] (same encoded length) until each piece's encodings differ only
// in trailing bytes that span the whole continuation range 80-BF: then the piece is one
// pattern of per-byte ranges.
void split(uint32_t first, uint32_t last, std::vector<Utf8Pattern>& out) {
  const int n = encoded_length(first);
  if (n != encoded_length(last)) {
    const uint32_t edge = n == 1 ? 0x7F : n == 2 ? 0x7FF : 0xFFFF;
    split(first, edge, out);
    split(edge + 1, last, out);
    return;
  }
  if (n == 1) {
    out.push_back({{uint8_t(first), uint8_t(last)}});
    return;
  }
  for (int i = 1; i < n; ++i) {
    const uint32_t mask = (uint32_t(1) << (6 * i)) - 1;  // the i trailing continuation bytes
    if ((first & ~mask) != (last & ~mask)) {
      if ((first & mask) != 0) {
        split(first, first | mask, out);
        split((first | mask) + 1, last, out);
        return;
      }
      if ((last & mask) != mask) {
        split(first, (last & ~mask) - 1, out);
        split(last & ~mask, last, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  encode(first, a);
  encode(last, b);
  Utf8Pattern p;
  for (int i = 0; i < n; ++i) p.push_back({a[i], b[i]});
  out.push_back(std::move(p));
}

}  // namespace

std::vector<CodepointRange> normalize_class(const std::vector<CodepointRange>& ranges, bool negated) {
  std::vector<CodepointRange> sorted;
  for (CodepointRange r : ranges) {
    if (r.first > r.last || r.first > kMaxScalar) continue;
    sorted.push_back({r.first, std::min(r.last, kMaxScalar)});
  }
  std::sort(sorted.begin(), sorted.end(), [](auto x, auto y) { return x.first < y.first; });
  std::vector<CodepointRange> merged;
  for (CodepointRange r : sorted) {
    if (!merged.empty() && r.first <= merged.back().last + 1)
      merged.back().last = std::max(merged.back().last, r.last);
    else
      merged.push_back(r);
  }
  if (negated) {
    std::vector<CodepointRange> complement;
    uint32_t next = 0;
    for (CodepointRange r : merged) {
      if (r.first > next) complement.push_back({next, r.first - 1});
      next = r.last + 1;
    }
    if (next <= kMaxScalar) complement.push_back({next, kMaxScalar});
    merged = std::move(complement);
  }
  // Surrogates are not scalar values and have no UTF-8 encoding.
  std::vector<CodepointRange> out;
  for (CodepointRange r : merged) {
    if (r.last < kSurrogateFirst || r.first > kSurrogateLast) {
      out.push_back(r);
      continue;
    }
    if (r.first < kSurrogateFirst) out.push_back({r.first, kSurrogateFirst - 1});
    if (r.last > kSurrogateLast) out.push_back({kSurrogateLast + 1, r.last});
  }
  return out;
}

std::vector<Utf8Pattern> utf8_patterns(const std::vector<CodepointRange>& ranges, bool negated) {
  std::vector<Utf8Pattern> out;
  for (CodepointRange r : normalize_class(ranges, negated)) split(r.first, r.last, out);
  return out;
}

}  // namespace mmb::grammar
