#include "safetensors.hpp"

#include "base/error.hpp"
#include "base/replacing_file.hpp"
#include "bundle/tensor_table.hpp"
#include "json_fields.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

namespace mmb {

using nlohmann::json;

namespace {

struct DTypeName {
  std::string_view name;
  SafetensorsDType dtype;
};
constexpr DTypeName kReadable[] = {
    {"F32", SafetensorsDType::F32}, {"F16", SafetensorsDType::F16},
    {"BF16", SafetensorsDType::BF16}, {"F64", SafetensorsDType::F64}};
// Valid safetensors dtypes that hold no float weights pack could use.
constexpr std::string_view kUnreadable[] = {"BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64",
                                            "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};

SafetensorsDType parse_dtype(const std::string& name, const std::string& where) {
  for (const auto& d : kReadable)
    if (d.name == name) return d.dtype;
  for (std::string_view u : kUnreadable)
    if (u == name) fail(MMB_ERR_UNSUPPORTED, where, ": dtype ", name, " is not supported (pack reads F32, F16, BF16 and F64)");
  fail(MMB_ERR_FORMAT, where, ": unknown dtype '", name, "'");
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint64_t(p[i]);
  return v;
}

uint64_t unsigned_element(const json& v, const std::string& where) {
  if (!v.is_number_unsigned()) fail(MMB_ERR_FORMAT, where, ": expected a non-negative integer, got ", v.is_number_integer() ? cat(v.get<int64_t>()) : json_type_name(v));
  return v.get<uint64_t>();
}

struct Range {
  uint64_t begin, end;
};

// Reads one header entry; returns the tensor (data not yet attached) and its offsets.
SafetensorsTensor parse_entry(const std::string& name, const json& entry, uint64_t data_size, const std::string& what,
                              Range& range) {
  const std::string where = cat(what, ": tensor '", name, "'");
  if (name.empty()) fail(MMB_ERR_FORMAT, what, ": a tensor has an empty name");
  // Unknown keys are tolerated: newer writers may add some; these three define the tensor.
  JsonFields fields(entry, where);
  SafetensorsTensor t;
  t.name = name;
  t.dtype = parse_dtype(fields.string("dtype"), where);

  const json& shape = fields.value("shape");
  if (!shape.is_array()) fail(MMB_ERR_FORMAT, where, ": shape: expected an array, got ", json_type_name(shape));
  uint64_t elements = 1;
  for (const json& dim : shape) {
    uint64_t d = unsigned_element(dim, where + ": shape");
    t.shape.push_back(d);
    if (__builtin_mul_overflow(elements, d, &elements))
      fail(MMB_ERR_FORMAT, where, ": shape ", shape_string(t.shape), "... has more elements than 64 bits can count");
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements, uint64_t(safetensors_dtype_size(t.dtype)), &bytes))
    fail(MMB_ERR_FORMAT, where, ": shape ", shape_string(t.shape), " needs more bytes than 64 bits can count");

  const json& offsets = fields.value("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2)
    fail(MMB_ERR_FORMAT, where, ": data_offsets: expected an array [begin, end], got ", json_type_name(offsets),
         offsets.is_array() ? cat(" of ", offsets.size(), " values") : "");
  range.begin = unsigned_element(offsets[0], where + ": data_offsets");
  range.end = unsigned_element(offsets[1], where + ": data_offsets");
  if (range.begin > range.end) fail(MMB_ERR_FORMAT, where, ": data_offsets [", range.begin, ", ", range.end, ") end before they begin");
  if (range.end > data_size)
    fail(MMB_ERR_FORMAT, where, ": data_offsets [", range.begin, ", ", range.end, ") exceed the data section of ", data_size, " bytes");
  if (range.end - range.begin != bytes)
    fail(MMB_ERR_FORMAT, where, ": data_offsets [", range.begin, ", ", range.end, ") hold ", range.end - range.begin,
         " bytes but ", safetensors_dtype_name(t.dtype), " ", shape_string(t.shape), " needs ", bytes);
  return t;
}

}  // namespace

std::string_view safetensors_dtype_name(SafetensorsDType t) {
  for (const auto& d : kReadable)
    if (d.dtype == t) return d.name;
  return "?";
}

size_t safetensors_dtype_size(SafetensorsDType t) {
  switch (t) {
    case SafetensorsDType::F32: return 4;
    case SafetensorsDType::F64: return 8;
    default: return 2;
  }
}

uint64_t SafetensorsTensor::elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<ByteSource> source = open_file_source(path);
  SafetensorsFile file = parse({source->data(), size_t(source->size())}, path);
  file.source_ = std::move(source);
  return file;
}

SafetensorsFile SafetensorsFile::parse(std::span<const std::byte> bytes, const std::string& what) {
  SafetensorsFile file;
  file.path_ = what;
  file.size_ = bytes.size();
  if (bytes.size() < 8) fail(MMB_ERR_FORMAT, what, ": file is ", bytes.size(), " bytes, too short for the 8-byte header length");
  const uint64_t header_size = read_u64_le(bytes.data());
  if (header_size > bytes.size() - 8)
    fail(MMB_ERR_FORMAT, what, ": header length ", header_size, " exceeds the ", bytes.size() - 8, " bytes that follow it");
  if (header_size > kSafetensorsMaxHeader)
    fail(MMB_ERR_FORMAT, what, ": header length ", header_size, " exceeds the limit of ", kSafetensorsMaxHeader, " bytes");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), size_t(header_size));
  const json header = parse_json_strict(text, what + ": header");
  if (!header.is_object()) fail(MMB_ERR_FORMAT, what, ": header: expected a JSON object, got ", json_type_name(header));

  const std::byte* data = bytes.data() + 8 + header_size;
  const uint64_t data_size = bytes.size() - 8 - header_size;
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(MMB_ERR_FORMAT, what, ": __metadata__: expected an object, got ", json_type_name(*it));
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(MMB_ERR_FORMAT, what, ": __metadata__.", m.key(), ": expected a string, got ", json_type_name(*m));
        file.metadata_.emplace_back(m.key(), m->get<std::string>());
      }
      continue;
    }
    Range range{};
    SafetensorsTensor t = parse_entry(it.key(), *it, data_size, what, range);
    t.data = {data + range.begin, size_t(range.end - range.begin)};
    file.tensors_.push_back(std::move(t));
    ranges.push_back(range);
  }

  // Order by offset, then any tensor starting before its predecessor ends overlaps it.
  std::vector<size_t> order(file.tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ranges[a].begin != ranges[b].begin ? ranges[a].begin < ranges[b].begin : ranges[a].end < ranges[b].end;
  });
  const Range* last = nullptr;
  size_t last_index = 0;
  for (size_t i : order) {
    if (ranges[i].begin == ranges[i].end) continue;  // empty tensors own no bytes
    if (last && ranges[i].begin < last->end)
      fail(MMB_ERR_FORMAT, what, ": tensors '", file.tensors_[last_index].name, "' [", last->begin, ", ", last->end, ") and '",
           file.tensors_[i].name, "' [", ranges[i].begin, ", ", ranges[i].end, ") overlap");
    last = &ranges[i];
    last_index = i;
  }
  std::vector<SafetensorsTensor> sorted;
  sorted.reserve(order.size());
  for (size_t i : order) sorted.push_back(std::move(file.tensors_[i]));
  file.tensors_ = std::move(sorted);

  file.by_name_.resize(file.tensors_.size());
  for (size_t i = 0; i < file.by_name_.size(); ++i) file.by_name_[i] = i;
  std::sort(file.by_name_.begin(), file.by_name_.end(),
            [&](size_t a, size_t b) { return file.tensors_[a].name < file.tensors_[b].name; });
  return file;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                             [&](size_t i, std::string_view n) { return tensors_[i].name < n; });
  return it != by_name_.end() && tensors_[*it].name == name ? &tensors_[*it] : nullptr;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
  json header = json::object();
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      fail(MMB_ERR_INVALID_ARGUMENT, "write_safetensors: invalid tensor name '", t.name, "'");
    if (!names.insert(t.name).second) fail(MMB_ERR_INVALID_ARGUMENT, "write_safetensors: tensor '", t.name, "' given twice");
    const uint64_t bytes = t.elements() * safetensors_dtype_size(t.dtype);
    if (bytes != t.data.size())
      fail(MMB_ERR_INVALID_ARGUMENT, "write_safetensors: tensor '", t.name, "' has ", t.data.size(), " bytes, ",
           safetensors_dtype_name(t.dtype), " ", shape_string(t.shape), " needs ", bytes);
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& [key, value] : metadata) m[key] = value;
    header["__metadata__"] = m;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::byte length[8];
  for (int i = 0; i < 8; ++i) length[i] = std::byte(uint64_t(text.size()) >> (8 * i));
  ReplacingFile out(path);
  out.write(length, 8);
  out.write(text.data(), text.size());
  for (const auto& t : tensors)
    if (!t.data.empty()) out.write(t.data.data(), t.data.size());
  out.commit();
}

}  // namespace mmb
