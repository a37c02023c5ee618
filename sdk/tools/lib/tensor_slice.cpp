#include "tensor_slice.hpp"

#include "base/error.hpp"
#include "bundle/tensor_table.hpp"

#include <algorithm>
#include <charconv>

namespace mmb {

namespace {

// Decimal digits only, the whole of `s`.
std::optional<uint64_t> parse_count(std::string_view s) {
  uint64_t v = 0;
  if (s.empty() || s.front() == '+' || s.front() == '-') return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Splits a trailing "[...]" off `name`: its contents, or nullopt.
std::optional<std::string_view> take_group(std::string_view& name) {
  if (name.empty() || name.back() != ']') return std::nullopt;
  const size_t open = name.rfind('[');
  if (open == std::string_view::npos || open == 0) return std::nullopt;
  std::string_view inside = name.substr(open + 1, name.size() - open - 2);
  name = name.substr(0, open);
  return inside;
}

}  // namespace

std::string sliced_name(const std::string& source, std::optional<uint64_t> index,
                        std::optional<std::pair<uint64_t, uint64_t>> rows) {
  std::string s = source;
  if (index) s += cat("[", *index, "]");
  if (rows) s += cat("[", rows->first, ":", rows->second, "]");
  return s;
}

std::optional<TensorSlice> parse_sliced_name(const std::string& name) {
  std::string_view rest = name;
  TensorSlice s;
  std::optional<std::string_view> last = take_group(rest);
  if (!last) return std::nullopt;
  if (const size_t colon = last->find(':'); colon != std::string_view::npos) {
    const auto a = parse_count(last->substr(0, colon)), b = parse_count(last->substr(colon + 1));
    if (!a || !b || *a >= *b) return std::nullopt;
    s.rows = std::pair{*a, *b};
    std::string_view before = rest;
    if (std::optional<std::string_view> first = take_group(before)) {
      const auto j = parse_count(*first);
      if (!j) return std::nullopt;
      s.index = *j;
      rest = before;
    }
  } else {
    const auto j = parse_count(*last);
    if (!j) return std::nullopt;
    s.index = *j;
  }
  // "w[1:2][3]" and the like are not slices of a tensor named "w[1:2]": no such names.
  if (rest.empty() || rest.back() == ']') return std::nullopt;
  s.source = std::string(rest);
  return s;
}

SafetensorsTensor slice_tensor(const SafetensorsTensor& t, const TensorSlice& s, const std::string& what) {
  // [j] keeps at least one dimension.
  if (t.shape.size() < (s.index ? 2u : 1u))
    fail(MMB_ERR_FORMAT, what, ": tensor '", t.name, "' of shape ", shape_string(t.shape),
         " has too few dimensions for ", sliced_name(t.name, s.index, s.rows));
  SafetensorsTensor part;
  part.name = sliced_name(t.name, s.index, s.rows);
  part.dtype = t.dtype;
  part.shape = t.shape;
  const uint64_t element = safetensors_dtype_size(t.dtype);
  uint64_t offset = 0;
  if (s.index) {
    if (*s.index >= t.shape[0])
      fail(MMB_ERR_FORMAT, what, ": ", part.name, ": index ", *s.index, " is outside tensor '", t.name, "' of shape ",
           shape_string(t.shape));
    part.shape.erase(part.shape.begin());
    offset = *s.index * (t.elements() / t.shape[0]) * element;
  }
  uint64_t bytes = t.elements() / (s.index ? t.shape[0] : 1) * element;
  if (s.rows) {
    const auto [a, b] = *s.rows;
    if (b > part.shape[0])
      fail(MMB_ERR_FORMAT, what, ": ", part.name, ": rows ", a, " to ", b, " are outside tensor '", t.name,
           "' of shape ", shape_string(t.shape));
    const uint64_t row = bytes / part.shape[0];
    offset += a * row;
    bytes = (b - a) * row;
    part.shape[0] = b - a;
  }
  part.data = t.data.subspan(offset, bytes);
  return part;
}

void check_parts_tile(const SafetensorsTensor& source, std::vector<std::span<const std::byte>> parts,
                      const std::string& what) {
  std::sort(parts.begin(), parts.end(), [](auto x, auto y) { return x.data() < y.data(); });
  const std::byte* next = source.data.data();
  for (const auto& p : parts) {
    if (p.data() != next)
      fail(MMB_ERR_FORMAT, what, ": tensor '", source.name, "' of shape ", shape_string(source.shape), " is ",
           p.data() > next ? "not all read" : "read twice", " by the parts the config implies (from byte ",
           uint64_t(std::min(p.data(), next) - source.data.data()), ")");
    next += p.size();
  }
  if (next != source.data.data() + source.data.size())
    fail(MMB_ERR_FORMAT, what, ": tensor '", source.name, "' of shape ", shape_string(source.shape),
         " is not all read by the parts the config implies (from byte ", uint64_t(next - source.data.data()), ")");
}

}  // namespace mmb
