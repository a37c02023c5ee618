#include "tokenizer_json.hpp"

#include "base/error.hpp"
#include "tokenizer/tokenizer.hpp"

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string_view>
#include <unordered_map>

namespace mmb {
namespace {

using nlohmann::json;

// The "type" of a tokenizer.json component: its string, or "" when the value is no
// object or its "type" is missing or not a string (json::value would throw on those).
std::string component_type(const json& component) {
  if (!component.is_object()) return "";
  const auto it = component.find("type");
  return it != component.end() && it->is_string() ? it->get<std::string>() : "";
}

template <typename... Parts>
[[noreturn]] void bad(std::string_view file, const Parts&... parts) {
  fail(MMB_ERR_FORMAT, file, ": ", parts...);
}

json parse(const std::string& text, std::string_view file) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    bad(file, "not valid JSON (", e.what(), ")");
  }
}

// Field access with messages that name the file and the field.
struct Fields {
  std::string_view file;

  const json* find(const json& object, const char* key) const {
    auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  }
  const json& object(const json& parent, const char* key, const std::string& where) const {
    const json* v = find(parent, key);
    if (!v) bad(file, where, key, " is missing");
    if (!v->is_object()) bad(file, where, key, ": expected an object, got ", v->type_name());
    return *v;
  }
  std::string string(const json& v, const std::string& where) const {
    if (!v.is_string()) bad(file, where, ": expected a string, got ", v.type_name());
    return v.get<std::string>();
  }
  bool boolean(const json& parent, const char* key, bool fallback, const std::string& where) const {
    const json* v = find(parent, key);
    if (!v) return fallback;
    if (!v->is_boolean()) bad(file, where, key, ": expected true or false, got ", v->type_name());
    return v->get<bool>();
  }
  int32_t id(const json& v, const std::string& where) const {
    if (!v.is_number_integer()) bad(file, where, ": expected a token id, got ", v.type_name());
    int64_t id = v.is_number_unsigned() ? int64_t(std::min<uint64_t>(v.get<uint64_t>(), uint64_t(INT64_MAX))) : v.get<int64_t>();
    if (id < 0 || id >= std::numeric_limits<int32_t>::max()) bad(file, where, ": token id ", id, " is out of range");
    return int32_t(id);
  }
};

// GPT-2 stores byte-level pieces as text: each byte becomes one printable
// character, bytes that are already printable themselves and the others
// 256, 257, ... in byte order. This undoes it.
class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet() {
    byte_of_.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_of_[size_t(printable ? b : next++)] = int16_t(b);
    }
  }

  // The raw bytes of `text`, or false when a character is not in the alphabet.
  bool decode(std::string_view text, std::string& out) const {
    out.clear();
    for (size_t at = 0; at < text.size();) {
      utf8proc_int32_t cp = 0;
      utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + at),
                                            utf8proc_ssize_t(text.size() - at), &cp);
      if (n <= 0 || cp < 0 || size_t(cp) >= byte_of_.size() || byte_of_[size_t(cp)] < 0) return false;
      out.push_back(char(byte_of_[size_t(cp)]));
      at += size_t(n);
    }
    return true;
  }

 private:
  std::array<int16_t, 512> byte_of_;
};

// The piece table is sized by the largest id. Ids may leave holes (they become empty
// pieces), but no more holes than there are tokens: an id near INT32_MAX in a
// 200-byte file must not make the converter allocate 64 GiB.
void check_id_range(int32_t max_id, size_t n_tokens, std::string_view file) {
  const uint64_t limit = 2 * uint64_t(n_tokens) + 256;
  if (max_id >= 0 && uint64_t(max_id) >= limit)
    bad(file, "token ids reach ", max_id, " with only ", n_tokens, " tokens (ids may leave holes, but at most ", limit,
        " ids are accepted for this many tokens)");
}

// A vocabulary in byte-level form on its way to raw pieces.
struct Vocab {
  std::unordered_map<std::string, int32_t> by_name;  // byte-level text -> id
  int32_t max_id = -1;

  void add(std::string name, int32_t id, std::string_view file, const std::string& where) {
    auto [it, fresh] = by_name.emplace(std::move(name), id);
    if (!fresh) bad(file, where, ": piece \"", it->first, "\" appears twice");
    max_id = std::max(max_id, id);
  }
  int32_t find(const std::string& name, std::string_view file, const std::string& where) const {
    auto it = by_name.find(name);
    if (it == by_name.end()) bad(file, where, ": \"", name, "\" is not in the vocabulary");
    return it->second;
  }
};

// Fills data.pieces from the vocabulary, leaving ids listed in `literal` (added and
// special tokens, whose text is given raw) to the caller.
void decode_pieces(const Vocab& vocab, const std::vector<bool>& literal, std::string_view file, TokenizerData& data) {
  const ByteLevelAlphabet alphabet;
  std::vector<bool> seen(data.pieces.size(), false);
  std::string bytes;
  for (const auto& [name, id] : vocab.by_name) {
    if (seen[size_t(id)]) bad(file, "two pieces have the id ", id);
    seen[size_t(id)] = true;
    if (literal[size_t(id)]) continue;
    if (!alphabet.decode(name, bytes)) bad(file, "piece \"", name, "\" (id ", id, ") is not in GPT-2's byte-level form");
    data.pieces[size_t(id)] = bytes;
  }
}

const SpecialToken* find_literal(const TokenizerData& data, std::string_view text) {
  for (const auto* list : {&data.specials, &data.added})
    for (const SpecialToken& t : *list)
      if (t.text == text) return &t;
  return nullptr;
}

int32_t first_special(const TokenizerData& data, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names)
    for (const SpecialToken& t : data.specials)
      if (t.text == name) return t.id;
  return -1;
}

void assign_roles_by_name(TokenizerData& data) {
  data.eos_id = first_special(data, {"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>"});
  data.bos_id = first_special(data, {"<|begin_of_text|>", "<|startoftext|>", "<s>", "<bos>", "<|bos|>"});
  if (data.bos_id < 0 && data.eos_id >= 0 && data.pieces[size_t(data.eos_id)] == "<|endoftext|>") data.bos_id = data.eos_id;
  data.pad_id = first_special(data, {"<|padding|>", "<pad>", "<|pad|>", "[PAD]"});
  if (data.unk_id < 0) data.unk_id = first_special(data, {"<unk>", "<|unk|>"});
}

PreTokenizer read_pre_tokenizer(const json& root, const Fields& f) {
  const json* p = f.find(root, "pre_tokenizer");
  if (!p) bad(f.file, "pre_tokenizer is null: only byte-level BPE (pre_tokenizer ByteLevel) is supported");
  if (!p->is_object()) bad(f.file, "pre_tokenizer: expected an object, got ", p->type_name());
  auto type_of = [&](const json& v, const std::string& where) {
    if (!v.is_object() || !v.contains("type")) bad(f.file, where, ": expected an object with a \"type\"");
    return f.string(v["type"], where + ".type");
  };
  const json* byte_level = nullptr;
  std::string where = "pre_tokenizer";
  std::string type = type_of(*p, where);
  if (type == "ByteLevel") {
    byte_level = p;
  } else if (type == "Sequence") {
    const json* list = f.find(*p, "pretokenizers");
    if (!list || !list->is_array()) bad(f.file, "pre_tokenizer.pretokenizers: expected an array");
    for (size_t i = 0; i < list->size(); ++i) {
      std::string item = "pre_tokenizer.pretokenizers[" + std::to_string(i) + "]";
      std::string t = type_of((*list)[i], item);
      if (t != "ByteLevel" || byte_level)
        bad(f.file, item, ": type \"", t, "\" is not supported (a Sequence may hold one ByteLevel only)");
      byte_level = &(*list)[i];
      where = item;
    }
    if (!byte_level) bad(f.file, "pre_tokenizer: the Sequence holds no ByteLevel pre-tokenizer");
  } else {
    bad(f.file, "pre_tokenizer.type \"", type, "\" is not supported: only byte-level BPE (ByteLevel) is");
  }
  if (f.boolean(*byte_level, "add_prefix_space", false, where + "."))
    bad(f.file, where, ".add_prefix_space = true is not supported");
  return f.boolean(*byte_level, "use_regex", true, where + ".") ? PreTokenizer::GPT2 : PreTokenizer::None;
}

Normalizer read_normalizer(const json& root, const Fields& f) {
  const json* n = f.find(root, "normalizer");
  if (!n) return Normalizer::None;
  if (!n->is_object() || !n->contains("type")) bad(f.file, "normalizer: expected an object with a \"type\"");
  std::string type = f.string((*n)["type"], "normalizer.type");
  if (type == "NFC") return Normalizer::NFC;
  if (type == "Sequence") {
    const json* list = f.find(*n, "normalizers");
    if (!list || !list->is_array()) bad(f.file, "normalizer.normalizers: expected an array");
    if (list->empty()) return Normalizer::None;
    if (list->size() == 1 && component_type((*list)[0]) == "NFC") return Normalizer::NFC;
  }
  bad(f.file, "normalizer ", n->dump(), " is not supported (only NFC)");
}

void check_model_options(const json& model, const Fields& f) {
  for (const char* key : {"byte_fallback", "ignore_merges"})
    if (f.boolean(model, key, false, "model."))
      bad(f.file, "model.", key, " = true is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (const json* v = f.find(model, key); v && !(v->is_string() && v->get<std::string>().empty()))
      bad(f.file, "model.", key, " = ", v->dump(), " is not supported");
}

// A TemplateProcessing post-processor that puts a special token before the text
// names the BOS token and asks for it.
void read_post_processor(const json& root, const Fields& f, TokenizerData& data) {
  const json* p = f.find(root, "post_processor");
  if (!p || !p->is_object()) return;
  if (component_type(*p) == "Sequence") {
    if (const json* list = f.find(*p, "processors"); list && list->is_array())
      for (const json& item : *list)
        if (component_type(item) == "TemplateProcessing") p = &item;
  }
  if (component_type(*p) != "TemplateProcessing") return;
  const json* single = f.find(*p, "single");
  if (!single || !single->is_array() || single->size() < 2) return;
  const json& first = (*single)[0];
  if (!first.is_object() || !first.contains("SpecialToken") || !(*single)[1].contains("Sequence")) return;
  const json& token = first["SpecialToken"];
  if (!token.is_object() || !token.contains("id")) return;
  std::string name = f.string(token["id"], "post_processor.single[0].SpecialToken.id");
  const SpecialToken* t = find_literal(data, name);
  if (!t) bad(f.file, "post_processor: the template's first token \"", name, "\" is not an added token");
  data.bos_id = t->id;
  data.add_bos = true;
}

// Builds the tokenizer once so that every problem shows at conversion time.
void validate(const TokenizerData& data, std::string_view file) {
  try {
    Tokenizer check(data);
  } catch (const Error& e) {
    bad(file, e.what());
  }
}

}  // namespace

TokenizerData tokenizer_from_hf_json(const std::string& json_text) {
  const Fields f{"tokenizer.json"};
  const json root = parse(json_text, f.file);
  if (!root.is_object()) bad(f.file, "expected an object at the top, got ", root.type_name());
  const json& model = f.object(root, "model", "");
  if (const json* type = f.find(model, "type")) {
    std::string t = f.string(*type, "model.type");
    if (t != "BPE") bad(f.file, "model.type \"", t, "\" is not supported: only byte-level BPE is");
  }
  check_model_options(model, f);

  TokenizerData data;
  data.kind = TokenizerKind::ByteBPE;
  data.pre_tokenizer = read_pre_tokenizer(root, f);
  data.normalizer = read_normalizer(root, f);

  Vocab vocab;
  const json& vocab_json = f.object(model, "vocab", "model.");
  for (const auto& [name, value] : vocab_json.items()) vocab.add(name, f.id(value, "model.vocab[\"" + name + "\"]"), f.file, "model.vocab");

  std::vector<SpecialToken> added;
  std::vector<bool> added_special;
  int32_t max_id = vocab.max_id;
  if (const json* list = f.find(root, "added_tokens")) {
    if (!list->is_array()) bad(f.file, "added_tokens: expected an array, got ", list->type_name());
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      const json& t = (*list)[i];
      if (!t.is_object()) bad(f.file, where, ": expected an object, got ", t.type_name());
      if (!t.contains("id") || !t.contains("content")) bad(f.file, where, ": needs \"id\" and \"content\"");
      SpecialToken token{f.id(t["id"], where + ".id"), f.string(t["content"], where + ".content")};
      if (token.text.empty()) bad(f.file, where, ".content is empty");
      max_id = std::max(max_id, token.id);
      added_special.push_back(f.boolean(t, "special", false, where + "."));
      added.push_back(std::move(token));
    }
  }
  if (max_id < 0) bad(f.file, "model.vocab is empty");
  check_id_range(max_id, vocab.by_name.size() + added.size(), f.file);

  data.pieces.resize(size_t(max_id) + 1);
  std::vector<bool> literal(data.pieces.size(), false);
  for (size_t i = 0; i < added.size(); ++i) {
    SpecialToken& t = added[i];
    if (literal[size_t(t.id)]) bad(f.file, "added_tokens: id ", t.id, " appears twice");
    literal[size_t(t.id)] = true;
    data.pieces[size_t(t.id)] = t.text;
    (added_special[i] ? data.specials : data.added).push_back(std::move(t));
  }
  decode_pieces(vocab, literal, f.file, data);

  const json* merges = f.find(model, "merges");
  if (!merges) bad(f.file, "model.merges is missing");
  if (!merges->is_array()) bad(f.file, "model.merges: expected an array, got ", merges->type_name());
  data.merges.reserve(merges->size());
  for (size_t r = 0; r < merges->size(); ++r) {
    const std::string where = "model.merges[" + std::to_string(r) + "]";
    const json& m = (*merges)[r];
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == s.size() || s.find(' ', space + 1) != std::string::npos)
        bad(f.file, where, ": \"", s, "\" is not two pieces separated by one space");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2) {
      left = f.string(m[0], where + "[0]");
      right = f.string(m[1], where + "[1]");
    } else {
      bad(f.file, where, ": expected \"a b\" or [\"a\", \"b\"], got ", m.type_name());
    }
    data.merges.emplace_back(vocab.find(left, f.file, where), vocab.find(right, f.file, where));
  }

  if (const json* unk = f.find(model, "unk_token")) {
    const std::string name = f.string(*unk, "model.unk_token");
    if (const SpecialToken* t = find_literal(data, name)) data.unk_id = t->id;
    else data.unk_id = vocab.find(name, f.file, "model.unk_token");
  }
  assign_roles_by_name(data);
  read_post_processor(root, f, data);
  validate(data, f.file);
  return data;
}

void apply_hf_tokenizer_config(TokenizerData& data, const std::string& config_json_text) {
  const Fields f{"tokenizer_config.json"};
  const json root = parse(config_json_text, f.file);
  if (!root.is_object()) bad(f.file, "expected an object at the top, got ", root.type_name());
  const std::pair<const char*, int32_t*> roles[] = {
      {"bos_token", &data.bos_id}, {"eos_token", &data.eos_id}, {"pad_token", &data.pad_id}, {"unk_token", &data.unk_id}};
  for (const auto& [key, id] : roles) {
    auto it = root.find(key);
    if (it == root.end()) continue;
    if (it->is_null()) {
      *id = -1;
      continue;
    }
    const json& name_json = it->is_object() && it->contains("content") ? (*it)["content"] : *it;
    const std::string name = f.string(name_json, key);
    if (const SpecialToken* t = find_literal(data, name)) {
      *id = t->id;
      continue;
    }
    *id = -1;
    for (size_t i = 0; i < data.pieces.size() && *id < 0; ++i)
      if (data.pieces[i] == name) *id = int32_t(i);
    if (*id < 0) bad(f.file, key, " \"", name, "\" is no token of the tokenizer");
  }
  data.add_bos = f.boolean(root, "add_bos_token", data.add_bos, "");
  if (data.add_bos && data.bos_id < 0) bad(f.file, "add_bos_token is true but there is no BOS token");
}

TokenizerData tokenizer_from_gpt2_files(const std::string& encoder_json_text, const std::string& vocab_bpe_text) {
  const Fields f{"encoder.json"};
  const json encoder = parse(encoder_json_text, f.file);
  if (!encoder.is_object()) bad(f.file, "expected an object of piece -> id, got ", encoder.type_name());
  Vocab vocab;
  for (const auto& [name, value] : encoder.items()) vocab.add(name, f.id(value, "[\"" + name + "\"]"), f.file, "encoder");
  if (vocab.max_id < 0) bad(f.file, "no pieces");
  check_id_range(vocab.max_id, vocab.by_name.size(), f.file);

  TokenizerData data;
  data.kind = TokenizerKind::ByteBPE;
  data.pre_tokenizer = PreTokenizer::GPT2;
  data.pieces.resize(size_t(vocab.max_id) + 1);
  std::vector<bool> literal(data.pieces.size(), false);
  decode_pieces(vocab, literal, f.file, data);

  constexpr std::string_view bpe_file = "vocab.bpe";
  size_t line_no = 0;
  for (size_t at = 0; at < vocab_bpe_text.size();) {
    size_t end = vocab_bpe_text.find('\n', at);
    if (end == std::string::npos) end = vocab_bpe_text.size();
    std::string_view line(vocab_bpe_text.data() + at, end - at);
    at = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() || line.find(' ', space + 1) != std::string_view::npos)
      bad(bpe_file, "line ", line_no, ": \"", line, "\" is not two pieces separated by one space");
    const std::string where = "line " + std::to_string(line_no);
    data.merges.emplace_back(vocab.find(std::string(line.substr(0, space)), bpe_file, where),
                             vocab.find(std::string(line.substr(space + 1)), bpe_file, where));
  }

  if (auto it = vocab.by_name.find("<|endoftext|>"); it != vocab.by_name.end()) {
    data.specials.push_back({it->second, "<|endoftext|>"});
    data.bos_id = data.eos_id = it->second;
  }
  validate(data, f.file);
  return data;
}

}  // namespace mmb
