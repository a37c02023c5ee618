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
// Pieces of a byte-level vocabulary are mapped back to raw bytes; the others are
// their text already.
void decode_pieces(const Vocab& vocab, const std::vector<bool>& literal, bool byte_level, std::string_view file,
                   TokenizerData& data) {
  const ByteLevelAlphabet alphabet;
  std::vector<bool> seen(data.pieces.size(), false);
  std::string bytes;
  for (const auto& [name, id] : vocab.by_name) {
    if (seen[size_t(id)]) bad(file, "two pieces have the id ", id);
    seen[size_t(id)] = true;
    if (literal[size_t(id)]) continue;
    if (!byte_level) {
      data.pieces[size_t(id)] = name;
      continue;
    }
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

// A component and its place in the file, for messages ("pre_tokenizer.pretokenizers[1]").
struct Component {
  const json* value;
  std::string where;
};

// The members of `root[key]`, a Sequence (under `list_key`) flattened, nested ones too.
std::vector<Component> flatten(const json& root, const char* key, const char* list_key, const Fields& f) {
  std::vector<Component> out;
  const json* top = f.find(root, key);
  if (!top) return out;
  std::vector<Component> todo{{top, key}};
  while (!todo.empty()) {
    Component c = todo.front();
    todo.erase(todo.begin());
    if (!c.value->is_object()) bad(f.file, c.where, ": expected an object, got ", c.value->type_name());
    const json* type = f.find(*c.value, "type");
    if (!type) bad(f.file, c.where, ".type is missing");
    if (f.string(*type, c.where + ".type") != "Sequence") {
      out.push_back(c);
      continue;
    }
    const json* list = f.find(*c.value, list_key);
    if (!list || !list->is_array()) bad(f.file, c.where, ".", list_key, ": expected an array");
    std::vector<Component> members;
    for (size_t i = 0; i < list->size(); ++i)
      members.push_back({&(*list)[i], c.where + "." + list_key + "[" + std::to_string(i) + "]"});
    todo.insert(todo.begin(), members.begin(), members.end());
  }
  return out;
}

std::string type_of(const Component& c, const Fields& f) { return f.string((*c.value)["type"], c.where + ".type"); }

[[noreturn]] void unsupported(const Fields& f, const Component& c, const std::string& type) {
  bad(f.file, c.where, ".type \"", type, "\" is not supported");
}

std::string string_or(const json& object, const char* key, const std::string& fallback, const Fields& f, const std::string& where) {
  const json* v = f.find(object, key);
  return v ? f.string(*v, where + "." + key) : fallback;
}

uint32_t count_or(const json& object, const char* key, const Fields& f, const std::string& where) {
  const json* v = f.find(object, key);
  if (!v) return 0;
  if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0))
    bad(f.file, where, ".", key, ": expected a count, got ", v->dump());
  return uint32_t(std::min<uint64_t>(v->get<uint64_t>(), UINT32_MAX));
}

// A Split or Replace pattern: {"String": text} or {"Regex": pattern}.
void read_pattern(const json& object, const Fields& f, const std::string& where, std::string& pattern, bool& is_regex) {
  const json* p = f.find(object, "pattern");
  if (!p || !p->is_object()) bad(f.file, where, ".pattern: expected {\"String\": ...} or {\"Regex\": ...}");
  if (const json* s = f.find(*p, "String")) {
    pattern = f.string(*s, where + ".pattern.String");
    is_regex = false;
  } else if (const json* r = f.find(*p, "Regex")) {
    pattern = f.string(*r, where + ".pattern.Regex");
    is_regex = true;
  } else {
    bad(f.file, where, ".pattern: expected {\"String\": ...} or {\"Regex\": ...}");
  }
}

SplitBehavior read_behavior(const json& object, const Fields& f, const std::string& where) {
  const std::string b = string_or(object, "behavior", "Isolated", f, where);
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  bad(f.file, where, ".behavior \"", b, "\" is unknown");
}

// Metaspace's prepend_scheme; absent means "always" (what tokenizers.js assumes,
// whatever the older add_prefix_space says).
PrependScheme read_prepend_scheme(const json& object, const Fields& f, const std::string& where) {
  const std::string s = string_or(object, "prepend_scheme", "always", f, where);
  if (s == "always") return PrependScheme::Always;
  if (s == "never") return PrependScheme::Never;
  if (s == "first") return PrependScheme::First;
  bad(f.file, where, ".prepend_scheme \"", s, "\" is unknown");
}

void read_normalizers(const json& root, const Fields& f, TokenizerData& data) {
  for (const Component& c : flatten(root, "normalizer", "normalizers", f)) {
    const std::string type = type_of(c, f);
    NormalizerStep step;
    if (type == "NFC") step.kind = NormalizerKind::NFC;
    else if (type == "NFD") step.kind = NormalizerKind::NFD;
    else if (type == "NFKC") step.kind = NormalizerKind::NFKC;
    else if (type == "NFKD") step.kind = NormalizerKind::NFKD;
    else if (type == "Lowercase") step.kind = NormalizerKind::Lowercase;
    else if (type == "Replace") {
      step.kind = NormalizerKind::Replace;
      read_pattern(*c.value, f, c.where, step.pattern, step.pattern_is_regex);
      step.content = string_or(*c.value, "content", "", f, c.where);
    } else if (type == "Prepend") {
      step.kind = NormalizerKind::Prepend;
      step.content = string_or(*c.value, "prepend", "", f, c.where);
    } else if (type == "Strip") {
      step.kind = NormalizerKind::Strip;
      step.left = f.boolean(*c.value, "strip_left", true, c.where + ".");
      step.right = f.boolean(*c.value, "strip_right", true, c.where + ".");
    } else {
      unsupported(f, c, type);
    }
    data.normalizers.push_back(std::move(step));
  }
  // NFC alone is what bundles described before steps existed: stored that way, older
  // runtimes read it the same.
  if (data.normalizers.size() == 1 && data.normalizers[0].kind == NormalizerKind::NFC) {
    data.normalizers.clear();
    data.normalizer = Normalizer::NFC;
  }
}

void read_pre_tokenizers(const json& root, const Fields& f, TokenizerData& data) {
  for (const Component& c : flatten(root, "pre_tokenizer", "pretokenizers", f)) {
    const std::string type = type_of(c, f);
    PreTokenizerStep step;
    if (type == "ByteLevel") {
      step.kind = PreTokenizerKind::ByteLevel;
      step.add_prefix_space = f.boolean(*c.value, "add_prefix_space", false, c.where + ".");
      step.use_regex = f.boolean(*c.value, "use_regex", true, c.where + ".");
    } else if (type == "Split") {
      step.kind = PreTokenizerKind::Split;
      read_pattern(*c.value, f, c.where, step.pattern, step.pattern_is_regex);
      step.behavior = read_behavior(*c.value, f, c.where);
      step.invert = f.boolean(*c.value, "invert", false, c.where + ".");
    } else if (type == "Metaspace") {
      step.kind = PreTokenizerKind::Metaspace;
      step.replacement = string_or(*c.value, "replacement", step.replacement, f, c.where);
      step.prepend_scheme = read_prepend_scheme(*c.value, f, c.where);
      step.split = f.boolean(*c.value, "split", true, c.where + ".");
    } else if (type == "Digits") {
      step.kind = PreTokenizerKind::Digits;
      step.individual_digits = f.boolean(*c.value, "individual_digits", false, c.where + ".");
    } else if (type == "Punctuation") {
      step.kind = PreTokenizerKind::Punctuation;
      step.behavior = read_behavior(*c.value, f, c.where);
    } else if (type == "Whitespace") {
      step.kind = PreTokenizerKind::Whitespace;
    } else if (type == "WhitespaceSplit") {
      step.kind = PreTokenizerKind::WhitespaceSplit;
    } else {
      unsupported(f, c, type);
    }
    data.pre_tokenizers.push_back(std::move(step));
  }
  data.pre_tokenizer = PreTokenizer::None;
  // A lone ByteLevel without prefix space is what bundles described before steps
  // existed (GPT-2's regex, or none): stored that way.
  if (data.pre_tokenizers.size() == 1 && data.pre_tokenizers[0].kind == PreTokenizerKind::ByteLevel &&
      !data.pre_tokenizers[0].add_prefix_space) {
    data.pre_tokenizer = data.pre_tokenizers[0].use_regex ? PreTokenizer::GPT2 : PreTokenizer::None;
    data.pre_tokenizers.clear();
  }
}

void read_decoders(const json& root, const Fields& f, TokenizerData& data) {
  for (const Component& c : flatten(root, "decoder", "decoders", f)) {
    const std::string type = type_of(c, f);
    DecoderStep step;
    if (type == "ByteLevel") {
      step.kind = DecoderKind::ByteLevel;
    } else if (type == "Metaspace") {
      step.kind = DecoderKind::Metaspace;
      step.replacement = string_or(*c.value, "replacement", step.replacement, f, c.where);
      step.prepend_scheme = read_prepend_scheme(*c.value, f, c.where);
    } else if (type == "ByteFallback") {
      step.kind = DecoderKind::ByteFallback;
    } else if (type == "Fuse") {
      step.kind = DecoderKind::Fuse;
    } else if (type == "Strip") {
      step.kind = DecoderKind::Strip;
      step.content = string_or(*c.value, "content", "", f, c.where);
      step.start = count_or(*c.value, "start", f, c.where);
      step.stop = count_or(*c.value, "stop", f, c.where);
    } else if (type == "Replace") {
      step.kind = DecoderKind::Replace;
      bool is_regex = false;
      read_pattern(*c.value, f, c.where, step.pattern, is_regex);
      if (is_regex) bad(f.file, c.where, ".pattern: a Regex pattern is not supported in a decoder (only String)");
      step.content = string_or(*c.value, "content", "", f, c.where);
    } else {
      unsupported(f, c, type);
    }
    data.decoders.push_back(std::move(step));
  }
}

// The model is byte-level when a ByteLevel pre-tokenizer or decoder says so: its
// vocabulary is then in GPT-2's byte alphabet.
bool is_byte_level(const json& root, const Fields& f) {
  for (const auto& [key, list] : {std::pair{"pre_tokenizer", "pretokenizers"}, std::pair{"decoder", "decoders"}})
    for (const Component& c : flatten(root, key, list, f))
      if (type_of(c, f) == "ByteLevel") return true;
  return false;
}

void read_model_options(const json& model, const Fields& f, TokenizerData& data) {
  if (const json* dropout = f.find(model, "dropout"); dropout && !(dropout->is_number() && dropout->get<double>() == 0))
    bad(f.file, "model.dropout = ", dropout->dump(), " is not supported (BPE dropout is for training)");
  data.byte_fallback = f.boolean(model, "byte_fallback", false, "model.");
  data.fuse_unk = f.boolean(model, "fuse_unk", false, "model.");
  data.ignore_merges = f.boolean(model, "ignore_merges", false, "model.");
  if (const json* v = f.find(model, "continuing_subword_prefix"); v && !(v->is_string() && v->get<std::string>().empty()))
    bad(f.file, "model.continuing_subword_prefix = ", v->dump(), " is not supported");
  if (const json* v = f.find(model, "end_of_word_suffix")) data.end_of_word_suffix = f.string(*v, "model.end_of_word_suffix");
  if (data.kind == TokenizerKind::ByteBPE && !data.end_of_word_suffix.empty())
    bad(f.file, "model.end_of_word_suffix is not supported for byte-level BPE");
}

// The id of a token named in a template or config: an added token's, else the
// vocabulary's.
int32_t token_id(const TokenizerData& data, const std::string& name) {
  if (const SpecialToken* t = find_literal(data, name)) return t->id;
  for (size_t i = 0; i < data.pieces.size(); ++i)
    if (data.pieces[i] == name) return int32_t(i);
  return -1;
}

// The post-processor's single-sequence template: special tokens before the text
// ("A") go to post_prefix, after it to post_suffix. A prefix names the BOS token.
void read_post_processor(const json& root, const Fields& f, TokenizerData& data) {
  const json* top = f.find(root, "post_processor");
  if (!top) return;
  for (const Component& c : flatten(root, "post_processor", "processors", f)) {
    const std::string type = type_of(c, f);
    if (type == "ByteLevel") continue;  // offsets only
    if (type != "TemplateProcessing") unsupported(f, c, type);
    const json* single = f.find(*c.value, "single");
    if (!single || !single->is_array()) bad(f.file, c.where, ".single: expected an array");
    bool seen_text = false;
    data.post_prefix.clear();
    data.post_suffix.clear();
    for (size_t i = 0; i < single->size(); ++i) {
      const std::string where = c.where + ".single[" + std::to_string(i) + "]";
      const json& item = (*single)[i];
      if (!item.is_object()) bad(f.file, where, ": expected an object, got ", item.type_name());
      if (const json* seq = f.find(item, "Sequence")) {
        if (!seq->is_object() || !seq->contains("id")) bad(f.file, where, ".Sequence: expected an object with an \"id\"");
        if (f.string((*seq)["id"], where + ".Sequence.id") != "A") bad(f.file, where, ": the single template uses sequence B");
        seen_text = true;
      } else if (const json* token = f.find(item, "SpecialToken")) {
        if (!token->is_object() || !token->contains("id")) bad(f.file, where, ".SpecialToken: expected an object with an \"id\"");
        const std::string name = f.string((*token)["id"], where + ".SpecialToken.id");
        const int32_t id = token_id(data, name);
        if (id < 0) bad(f.file, where, ": the template's token \"", name, "\" is no token");
        (seen_text ? data.post_suffix : data.post_prefix).push_back(id);
      } else {
        bad(f.file, where, ": expected a \"Sequence\" or a \"SpecialToken\"");
      }
    }
  }
  if (!data.post_prefix.empty()) {
    data.bos_id = data.post_prefix.front();
    data.add_bos = true;
  }
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
    if (t != "BPE")
      bad(f.file, "model.type \"", t, "\" is not supported: only BPE is (WordPiece and Unigram models are used by none of the supported families)");
  }

  TokenizerData data;
  const bool byte_level = is_byte_level(root, f);
  data.kind = byte_level ? TokenizerKind::ByteBPE : TokenizerKind::CharBPE;
  read_model_options(model, f, data);
  read_normalizers(root, f, data);
  read_pre_tokenizers(root, f, data);
  read_decoders(root, f, data);

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
      const bool special = f.boolean(t, "special", false, where + ".");
      token.lstrip = f.boolean(t, "lstrip", false, where + ".");
      token.rstrip = f.boolean(t, "rstrip", false, where + ".");
      token.single_word = f.boolean(t, "single_word", false, where + ".");
      token.normalized = f.boolean(t, "normalized", !special, where + ".");
      added_special.push_back(special);
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
  decode_pieces(vocab, literal, byte_level, f.file, data);

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
    *id = token_id(data, name);
    if (*id < 0) bad(f.file, key, " \"", name, "\" is no token of the tokenizer");
  }
  // add_bos_token / add_eos_token rebuild the template around the text the way
  // transformers does for the Llama family: BOS first, EOS last, or not.
  auto set_end = [&](const char* key, int32_t id, std::vector<int32_t>& ids, bool front) {
    const json* v = f.find(root, key);
    if (!v) return;
    const bool want = f.boolean(root, key, false, "");
    if (want && id < 0) bad(f.file, key, " is true but there is no ", front ? "BOS" : "EOS", " token");
    const bool has = !ids.empty() && (front ? ids.front() : ids.back()) == id;
    if (want && !has) ids.insert(front ? ids.begin() : ids.end(), id);
    if (!want && has) ids.erase(front ? ids.begin() : ids.end() - 1);
  };
  if (data.add_bos && data.post_prefix.empty() && data.post_suffix.empty() && data.bos_id >= 0) data.post_prefix = {data.bos_id};
  set_end("add_bos_token", data.bos_id, data.post_prefix, true);
  set_end("add_eos_token", data.eos_id, data.post_suffix, false);
  data.add_bos = !data.post_prefix.empty() && data.post_prefix.front() == data.bos_id;

  if (const json* templates = f.find(root, "chat_template")) {
    data.chat_templates.clear();
    if (templates->is_string()) {
      data.chat_templates.push_back({"default", templates->get<std::string>()});
    } else if (templates->is_array()) {
      for (size_t i = 0; i < templates->size(); ++i) {
        const std::string where = "chat_template[" + std::to_string(i) + "]";
        const json& t = (*templates)[i];
        if (!t.is_object() || !t.contains("name") || !t.contains("template"))
          bad(f.file, where, ": expected an object with \"name\" and \"template\"");
        ChatTemplateText text{f.string(t["name"], where + ".name"), f.string(t["template"], where + ".template")};
        for (const ChatTemplateText& other : data.chat_templates)
          if (other.name == text.name) bad(f.file, where, ": the name \"", text.name, "\" appears twice");
        data.chat_templates.push_back(std::move(text));
      }
    } else {
      bad(f.file, "chat_template: expected a string or a list of {\"name\", \"template\"}, got ", templates->type_name());
    }
  }
}

void apply_hf_generation_config(TokenizerData& data, const std::string& config_json_text) {
  const Fields f{"generation_config.json"};
  const json root = parse(config_json_text, f.file);
  if (!root.is_object()) bad(f.file, "expected an object at the top, got ", root.type_name());
  const json* eos = f.find(root, "eos_token_id");
  if (!eos) return;
  std::vector<int32_t> ids;
  if (eos->is_array()) {
    for (size_t i = 0; i < eos->size(); ++i) ids.push_back(f.id((*eos)[i], "eos_token_id[" + std::to_string(i) + "]"));
  } else {
    ids.push_back(f.id(*eos, "eos_token_id"));
  }
  for (int32_t id : ids)
    if (size_t(id) >= data.pieces.size()) bad(f.file, "eos_token_id ", id, " is outside the tokenizer's ", data.pieces.size(), " tokens");
  if (data.eos_id < 0 && !ids.empty()) data.eos_id = ids.front();
  for (int32_t id : ids)
    if (id != data.eos_id && std::find(data.stop_ids.begin(), data.stop_ids.end(), id) == data.stop_ids.end())
      data.stop_ids.push_back(id);
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
  decode_pieces(vocab, literal, true, f.file, data);

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
