#include "tokenizer/tokenizer.hpp"

#include "base/error.hpp"
#include "tokenizer/gpt2_pretokenizer.hpp"
#include "tokenizer/unicode_nfc.hpp"

#include <cstdio>
#include <limits>
#include <string>
#include <unordered_map>

namespace mmb {
namespace {

// Token bytes for messages: in double quotes, other than printable ASCII as \xNN,
// cut after 40 bytes.
std::string quoted(std::string_view bytes) {
  std::string s = "\"";
  for (size_t i = 0; i < bytes.size() && i < 40; ++i) {
    uint8_t b = uint8_t(bytes[i]);
    if (b >= 0x20 && b < 0x7F && b != '"' && b != '\\') {
      s.push_back(char(b));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", b);
      s += hex;
    }
  }
  if (bytes.size() > 40) s += "...";
  return s + "\"";
}

// Checks the scalar fields: enums in range, ids in [0, n) or -1.
void check_header(const TokenizerData& d, size_t n) {
  if (d.kind != TokenizerKind::Bytes && d.kind != TokenizerKind::ByteBPE)
    fail(MMB_ERR_FORMAT, "tokenizer: unknown kind ", int(d.kind));
  if (d.pre_tokenizer != PreTokenizer::GPT2 && d.pre_tokenizer != PreTokenizer::None)
    fail(MMB_ERR_FORMAT, "tokenizer: unknown pre-tokenizer ", int(d.pre_tokenizer));
  if (d.normalizer != Normalizer::None && d.normalizer != Normalizer::NFC)
    fail(MMB_ERR_FORMAT, "tokenizer: unknown normalizer ", int(d.normalizer));
  if (n == 0) fail(MMB_ERR_FORMAT, "tokenizer: no pieces");
  if (n > size_t(std::numeric_limits<int32_t>::max())) fail(MMB_ERR_FORMAT, "tokenizer: ", n, " pieces is too many");
  const std::pair<const char*, int32_t> ids[] = {{"bos_id", d.bos_id}, {"eos_id", d.eos_id}, {"pad_id", d.pad_id}, {"unk_id", d.unk_id}};
  for (const auto& [name, id] : ids)
    if (id < -1 || id >= int32_t(n)) fail(MMB_ERR_FORMAT, "tokenizer: ", name, " ", id, " is outside [0, ", n, ") and not -1");
  if (d.add_bos && d.bos_id < 0) fail(MMB_ERR_FORMAT, "tokenizer: add_bos is set but there is no bos_id");
  if (d.kind == TokenizerKind::Bytes && !d.merges.empty())
    fail(MMB_ERR_FORMAT, "tokenizer: a byte tokenizer has no merges, found ", d.merges.size());
}

}  // namespace

struct Tokenizer::Scratch {
  BpeScratch bpe;
  std::string normalized;
};

Tokenizer::Tokenizer(const TokenizerData& d, std::pmr::memory_resource* memory)
    : kind_(d.kind), pre_tokenizer_(d.pre_tokenizer), normalizer_(d.normalizer),
      bytes_(memory), offsets_(memory), special_(memory), merges_(d.merges.size(), memory),
      bos_id_(d.bos_id), eos_id_(d.eos_id), pad_id_(d.pad_id), unk_id_(d.unk_id), add_bos_(d.add_bos) {
  const size_t n = d.pieces.size();
  check_header(d, n);

  size_t total = 0;
  for (const std::string& p : d.pieces) total += p.size();
  bytes_.reserve(total);
  offsets_.reserve(n + 1);
  offsets_.push_back(0);
  for (const std::string& p : d.pieces) {
    bytes_ += p;
    offsets_.push_back(bytes_.size());
  }

  // Special and added tokens: matched as text, so their text must be their piece.
  enum : uint8_t { kOrdinary = 0, kSpecial = 1, kAdded = 2 };
  std::vector<uint8_t> role(n, kOrdinary);
  auto literal = [&](const SpecialToken& t, uint8_t r, const char* what, LiteralMatcher& matcher,
                     std::unordered_map<std::string_view, int32_t>& seen) {
    if (t.id < 0 || size_t(t.id) >= n) fail(MMB_ERR_FORMAT, "tokenizer: ", what, " token ", quoted(t.text), " has id ", t.id, ", outside [0, ", n, ")");
    if (t.text.empty()) fail(MMB_ERR_FORMAT, "tokenizer: ", what, " token ", t.id, " has no text");
    if (t.text != d.pieces[size_t(t.id)])
      fail(MMB_ERR_FORMAT, "tokenizer: ", what, " token ", t.id, " has text ", quoted(t.text), " but its piece is ", quoted(d.pieces[size_t(t.id)]));
    if (role[size_t(t.id)] != kOrdinary) fail(MMB_ERR_FORMAT, "tokenizer: token ", t.id, " is listed twice among special and added tokens");
    if (auto [it, fresh] = seen.emplace(t.text, t.id); !fresh)
      fail(MMB_ERR_FORMAT, "tokenizer: ", what, " tokens ", it->second, " and ", t.id, " have the same text ", quoted(t.text));
    role[size_t(t.id)] = r;
    matcher.add(t.text, t.id);
  };
  std::unordered_map<std::string_view, int32_t> special_texts, added_texts;
  for (const SpecialToken& t : d.specials) literal(t, kSpecial, "special", specials_, special_texts);
  for (const SpecialToken& t : d.added) literal(t, kAdded, "added", added_, added_texts);
  special_.resize(n);
  for (size_t i = 0; i < n; ++i) special_[i] = role[i] == kSpecial;

  // Bytes -> id for what merges and single bytes produce. Ordinary tokens must be
  // unique; an added token is only used where no ordinary token has its bytes
  // (GPT-NeoX's added "  " repeats the ordinary token for two spaces).
  std::unordered_map<std::string_view, int32_t> by_bytes;
  by_bytes.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (role[i] != kOrdinary || d.pieces[i].empty()) continue;
    if (auto [it, fresh] = by_bytes.emplace(d.pieces[i], int32_t(i)); !fresh)
      fail(MMB_ERR_FORMAT, "tokenizer: tokens ", it->second, " and ", i, " have the same bytes ", quoted(d.pieces[i]));
  }
  for (size_t i = 0; i < n; ++i)
    if (role[i] != kOrdinary) by_bytes.emplace(d.pieces[i], int32_t(i));

  for (int b = 0; b < 256; ++b) {
    const char byte = char(b);
    auto it = by_bytes.find(std::string_view(&byte, 1));
    if (it == by_bytes.end()) fail(MMB_ERR_FORMAT, "tokenizer: no token for the byte ", quoted(std::string_view(&byte, 1)), " (every byte needs one)");
    byte_tokens_[b] = it->second;
  }

  std::string joined;
  for (size_t rank = 0; rank < d.merges.size(); ++rank) {
    const auto [left, right] = d.merges[rank];
    for (int32_t id : {left, right})
      if (id < 0 || size_t(id) >= n) fail(MMB_ERR_FORMAT, "tokenizer: merge ", rank, " uses id ", id, ", outside [0, ", n, ")");
    joined = d.pieces[size_t(left)];
    joined += d.pieces[size_t(right)];
    if (d.pieces[size_t(left)].empty() || d.pieces[size_t(right)].empty())
      fail(MMB_ERR_FORMAT, "tokenizer: merge ", rank, " (", left, " + ", right, ") joins an empty piece");
    auto it = by_bytes.find(joined);
    if (it == by_bytes.end())
      fail(MMB_ERR_FORMAT, "tokenizer: merge ", rank, " (", left, " ", quoted(d.pieces[size_t(left)]), " + ", right, " ",
           quoted(d.pieces[size_t(right)]), ") makes ", quoted(joined), ", which is no token");
    merges_.add(left, right, {int32_t(rank), it->second});
  }
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= n_pieces()) fail(MMB_ERR_INVALID_ARGUMENT, "token ", id, " is outside [0, ", n_pieces(), ")");
}

void Tokenizer::encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const {
  Scratch scratch;
  if (!parse_special) {
    encode_ordinary(text, scratch, out);
    return;
  }
  specials_.split(text, out, [&](std::string_view between) { encode_ordinary(between, scratch, out); });
}

void Tokenizer::encode_ordinary(std::string_view text, Scratch& scratch, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  if (normalizer_ == Normalizer::NFC) {
    nfc_normalize(text, scratch.normalized);
    text = scratch.normalized;
  }
  added_.split(text, out, [&](std::string_view between) { encode_words(between, scratch, out); });
}

void Tokenizer::encode_words(std::string_view text, Scratch& scratch, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  if (kind_ == TokenizerKind::Bytes) {
    for (char c : text) out.push_back(byte_tokens_[uint8_t(c)]);
    return;
  }
  if (pre_tokenizer_ == PreTokenizer::None) {
    bpe_encode(text, merges_, byte_tokens_, scratch.bpe, out);
    return;
  }
  split_gpt2(text, [&](std::string_view word) { bpe_encode(word, merges_, byte_tokens_, scratch.bpe, out); });
}

void Tokenizer::decode(std::span<const int32_t> ids, std::string& out) const {
  for (int32_t id : ids) out += piece(id);
}

}  // namespace mmb
