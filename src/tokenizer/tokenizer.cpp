#include "tokenizer/tokenizer.hpp"

#include "base/error.hpp"
#include "tokenizer/unicode_text.hpp"
#include "tokenizer/utf8_repair.hpp"
#include "tokenizer/word_cache.hpp"

#include <algorithm>
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

void check_id_list(const std::vector<int32_t>& ids, const char* what, size_t n) {
  for (int32_t id : ids)
    if (id < 0 || size_t(id) >= n) fail(MMB_ERR_FORMAT, "tokenizer: ", what, " holds ", id, ", outside [0, ", n, ")");
}

// Checks the scalar fields and step kinds: enums in range, ids in [0, n) or -1.
void check_header(const TokenizerData& d, size_t n) {
  if (uint8_t(d.kind) > uint8_t(TokenizerKind::CharBPE)) fail(MMB_ERR_FORMAT, "tokenizer: unknown kind ", int(d.kind));
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
  check_id_list(d.post_prefix, "post_prefix", n);
  check_id_list(d.post_suffix, "post_suffix", n);
  check_id_list(d.stop_ids, "stop_ids", n);
  for (size_t i = 0; i < d.normalizers.size(); ++i)
    if (uint8_t(d.normalizers[i].kind) > uint8_t(NormalizerKind::Strip))
      fail(MMB_ERR_FORMAT, "tokenizer: normalizers[", i, "] has the unknown kind ", int(d.normalizers[i].kind));
  for (size_t i = 0; i < d.pre_tokenizers.size(); ++i) {
    const PreTokenizerStep& p = d.pre_tokenizers[i];
    if (uint8_t(p.kind) > uint8_t(PreTokenizerKind::WhitespaceSplit))
      fail(MMB_ERR_FORMAT, "tokenizer: pre_tokenizers[", i, "] has the unknown kind ", int(p.kind));
    if (uint8_t(p.behavior) > uint8_t(SplitBehavior::Contiguous))
      fail(MMB_ERR_FORMAT, "tokenizer: pre_tokenizers[", i, "] has the unknown split behavior ", int(p.behavior));
    if (uint8_t(p.prepend_scheme) > uint8_t(PrependScheme::First))
      fail(MMB_ERR_FORMAT, "tokenizer: pre_tokenizers[", i, "] has the unknown prepend scheme ", int(p.prepend_scheme));
  }
  for (size_t i = 0; i < d.decoders.size(); ++i) {
    if (uint8_t(d.decoders[i].kind) > uint8_t(DecoderKind::Replace))
      fail(MMB_ERR_FORMAT, "tokenizer: decoders[", i, "] has the unknown kind ", int(d.decoders[i].kind));
    if (uint8_t(d.decoders[i].prepend_scheme) > uint8_t(PrependScheme::First))
      fail(MMB_ERR_FORMAT, "tokenizer: decoders[", i, "] has the unknown prepend scheme ", int(d.decoders[i].prepend_scheme));
  }
  if (!d.continuing_subword_prefix.empty())
    fail(MMB_ERR_FORMAT, "tokenizer: continuing_subword_prefix ", quoted(d.continuing_subword_prefix), " is not supported");
  if (!d.end_of_word_suffix.empty() && d.kind != TokenizerKind::CharBPE)
    fail(MMB_ERR_FORMAT, "tokenizer: end_of_word_suffix is supported for CharBPE only");
}

// The length of the symbol CharBPE starts from at the front of `text`: one UTF-8
// character, or one byte where the text is not valid UTF-8.
size_t char_length(std::string_view text) {
  if (uint8_t(text[0]) < 0x80) return 1;
  size_t invalid = 0;
  bool truncated = false;
  const size_t n = utf8_sequence_length(text, &invalid, &truncated);
  return n ? n : 1;
}

// The byte a piece "<0xNN>" stands for (ByteFallback), or -1.
int byte_fallback_value(std::string_view piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') return -1;
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

void replace_all(std::string& s, std::string_view pattern, std::string_view content) {
  if (pattern.empty()) return;
  for (size_t at = s.find(pattern); at != std::string::npos; at = s.find(pattern, at + content.size()))
    s.replace(at, pattern.size(), content);
}

// Up to `start` leading and `stop` trailing copies of `content` off `s`.
void strip_copies(std::string& s, std::string_view content, uint32_t start, uint32_t stop) {
  if (content.empty()) return;
  size_t begin = 0, end = s.size();
  for (uint32_t i = 0; i < start && end - begin >= content.size() && s.compare(begin, content.size(), content) == 0; ++i)
    begin += content.size();
  for (uint32_t i = 0; i < stop && end - begin >= content.size() && s.compare(end - content.size(), content.size(), content) == 0; ++i)
    end -= content.size();
  s = s.substr(begin, end - begin);
}

// Whitespace that lstrip and rstrip take: Unicode's White_Space property, as in
// Hugging Face's tokenizers (tokenizers.js uses JavaScript's trim(), which differs
// only in U+FEFF and U+0085). The length of the whitespace character at the start
// (or, with `back`, the end) of `s`, or 0.
size_t white_space_at(std::string_view s, bool back) {
  if (s.empty()) return 0;
  size_t at = 0;
  if (back) {  // the start of the last character: at most 3 continuation bytes back
    at = s.size() - 1;
    for (int k = 0; k < 3 && at > 0 && (uint8_t(s[at]) & 0xC0) == 0x80; ++k) --at;
  }
  const Utf8Char c = decode_utf8(s, at);
  if (back && at + c.length != s.size()) return 0;  // the last bytes are no whole character
  return c.cp >= 0 && is_white_space(c.cp) ? c.length : 0;
}

std::string_view trim_white_space(std::string_view s, bool front, bool back) {
  while (front)
    if (size_t n = white_space_at(s, false)) s.remove_prefix(n);
    else break;
  while (back)
    if (size_t n = white_space_at(s, true)) s.remove_suffix(n);
    else break;
  return s;
}

}  // namespace

struct Tokenizer::Scratch {
  BpeScratch bpe;
  std::string normalized;
  WordCache words;
  bool cache_words = false;  // a long text: its repeated words are worth remembering
};

Tokenizer::Tokenizer(const TokenizerData& d, std::pmr::memory_resource* memory)
    : kind_(d.kind), bytes_(memory), offsets_(memory), decoded_(memory), decoded_offsets_(memory), role_(memory),
      literal_flags_(memory), by_piece_(memory), output_ids_(memory), merges_(d.merges.size(), memory),
      adjacent_pairs_(0, memory),
      normalizer_((check_header(d, d.pieces.size()), d.normalizers), d.normalizer),
      pre_tokenizer_(d.pre_tokenizers, d.pre_tokenizer), decoders_(d.decoders), byte_fallback_(d.byte_fallback),
      fuse_unk_(d.fuse_unk), ignore_merges_(d.ignore_merges), end_of_word_suffix_(d.end_of_word_suffix),
      stop_ids_(d.stop_ids), bos_id_(d.bos_id), eos_id_(d.eos_id), pad_id_(d.pad_id), unk_id_(d.unk_id), add_bos_(d.add_bos) {
  const size_t n = d.pieces.size();

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
  role_.assign(n, kOrdinary);
  literal_flags_.assign(n, 0);
  std::string normalized_text;
  auto literal = [&](const SpecialToken& t, Role r, const char* what, std::unordered_map<std::string_view, int32_t>& seen) {
    if (t.id < 0 || size_t(t.id) >= n) fail(MMB_ERR_FORMAT, "tokenizer: ", what, " token ", quoted(t.text), " has id ", t.id, ", outside [0, ", n, ")");
    if (t.text.empty()) fail(MMB_ERR_FORMAT, "tokenizer: ", what, " token ", t.id, " has no text");
    if (t.text != d.pieces[size_t(t.id)])
      fail(MMB_ERR_FORMAT, "tokenizer: ", what, " token ", t.id, " has text ", quoted(t.text), " but its piece is ", quoted(d.pieces[size_t(t.id)]));
    if (role_[size_t(t.id)] != kOrdinary) fail(MMB_ERR_FORMAT, "tokenizer: token ", t.id, " is listed twice among special and added tokens");
    if (auto [it, fresh] = seen.emplace(t.text, t.id); !fresh)
      fail(MMB_ERR_FORMAT, "tokenizer: ", what, " tokens ", it->second, " and ", t.id, " have the same text ", quoted(t.text));
    role_[size_t(t.id)] = r;
    literal_flags_[size_t(t.id)] = uint8_t((t.lstrip ? kLstrip : 0) | (t.rstrip ? kRstrip : 0));
    // Like tokenizers.js: a normalized token is looked for in normalized text by its
    // normalized form; without normalizers there is no difference.
    std::string_view key = t.text;
    bool in_normalized = t.normalized && !normalizer_.empty();
    if (in_normalized) {
      normalizer_.apply(t.text, normalized_text);
      key = normalized_text;
      if (key.empty()) return;  // normalized away: can never match
    }
    (in_normalized ? normalized_all_ : raw_all_).add(key, t.id);
    if (r == kAdded) (in_normalized ? normalized_added_ : raw_added_).add(key, t.id);
  };
  std::unordered_map<std::string_view, int32_t> special_texts, added_texts;
  for (const SpecialToken& t : d.specials) literal(t, kSpecial, "special", special_texts);
  for (const SpecialToken& t : d.added) literal(t, kAdded, "added", added_texts);

  // Bytes -> id for what BPE symbols and merges produce. Ordinary tokens must be
  // unique. An added token stands in where no ordinary token has its bytes
  // (GPT-NeoX's added "  " repeats the ordinary token for two spaces).
  by_piece_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (role_[i] != kOrdinary || d.pieces[i].empty()) continue;
    if (auto [it, fresh] = by_piece_.emplace(piece(int32_t(i)), int32_t(i)); !fresh)
      fail(MMB_ERR_FORMAT, "tokenizer: tokens ", it->second, " and ", i, " have the same bytes ", quoted(d.pieces[i]));
  }
  for (size_t i = 0; i < n; ++i) {
    if (role_[i] == kOrdinary) continue;
    auto [it, fresh] = by_piece_.emplace(piece(int32_t(i)), int32_t(i));
    // CharBPE pieces are the vocabulary's text, which tokenizers.js looks up among
    // the added tokens first: merges run on the ordinary token, the output is the
    // added one.
    if (!fresh && kind_ == TokenizerKind::CharBPE && it->second != int32_t(i)) output_ids_[it->second] = int32_t(i);
  }

  if (kind_ == TokenizerKind::CharBPE) {
    for (int b = 0; b < 128; ++b) {
      const char c = char(b);
      const std::string_view one(&c, 1);
      ascii_tokens_[b] = end_of_word_suffix_.empty() ? find_piece(one) : -1;
    }
    std::fill(std::begin(fallback_tokens_), std::end(fallback_tokens_), -1);
    for (size_t i = 0; i < n; ++i)
      if (int b = byte_fallback_value(d.pieces[i]); b >= 0 && role_[i] == kOrdinary && fallback_tokens_[b] < 0)
        fallback_tokens_[b] = int32_t(i);
    std::fill(std::begin(byte_tokens_), std::end(byte_tokens_), -1);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    for (size_t i = 0; i < n; ++i) {
      const std::string_view p = piece(int32_t(i));
      int32_t previous = -1;
      for (size_t at = 0; at < p.size();) {
        const size_t length = char_length(p.substr(at));
        const int32_t id = find_piece(p.substr(at, length));
        if (previous >= 0 && id >= 0) pairs.emplace_back(previous, id);
        previous = id;
        at += length;
      }
    }
    std::sort(pairs.begin(), pairs.end());
    pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
    adjacent_pairs_ = BpeMerges(pairs.size(), memory);
    for (const auto& [left, right] : pairs) adjacent_pairs_.add(left, right, {0, 0});
  } else {
    for (int b = 0; b < 256; ++b) {
      const char byte = char(b);
      const int32_t id = find_piece(std::string_view(&byte, 1));
      if (id < 0) fail(MMB_ERR_FORMAT, "tokenizer: no token for the byte ", quoted(std::string_view(&byte, 1)), " (every byte needs one)");
      byte_tokens_[b] = id;
    }
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
    const int32_t result = find_piece(joined);
    if (result < 0)
      fail(MMB_ERR_FORMAT, "tokenizer: merge ", rank, " (", left, " ", quoted(d.pieces[size_t(left)]), " + ", right, " ",
           quoted(d.pieces[size_t(right)]), ") makes ", quoted(joined), ", which is no token");
    merges_.add(left, right, {int32_t(rank), result});
  }

  // The post-processor: its template, else BOS for bundles that only say add_bos.
  prefix_ = d.post_prefix;
  suffix_ = d.post_suffix;
  if (prefix_.empty() && suffix_.empty() && d.add_bos) prefix_.push_back(d.bos_id);

  // Each token's text on its own: the decoder steps that act on one token at a time,
  // up to the first Fuse (after it they act on the whole text; Replace still applies
  // per token, as the stream has no whole text). The leading strip is kept apart.
  bool fused = false;
  for (const DecoderStep& s : decoders_) {
    if (s.kind == DecoderKind::Fuse) fused = true;
    if (s.kind == DecoderKind::Strip && fused && s.start > 0 && leading_strip_count_ == 0) {
      leading_strip_text_ = s.content;
      leading_strip_count_ = s.start;
    }
    if (s.kind == DecoderKind::Metaspace && leading_strip_count_ == 0) {
      leading_strip_text_ = " ";
      leading_strip_count_ = 1;
    }
  }
  std::string text;
  decoded_offsets_.reserve(n + 1);
  decoded_offsets_.push_back(0);
  for (size_t i = 0; i < n; ++i) {
    text = d.pieces[i];
    bool after_fuse = false;
    for (const DecoderStep& s : decoders_) {
      switch (s.kind) {
        case DecoderKind::ByteLevel: break;
        case DecoderKind::Metaspace: replace_all(text, s.replacement, " "); break;
        case DecoderKind::ByteFallback:
          if (int b = byte_fallback_value(text); b >= 0) text.assign(1, char(b));
          break;
        case DecoderKind::Fuse: after_fuse = true; break;
        case DecoderKind::Strip:
          if (!after_fuse) strip_copies(text, s.content, s.start, s.stop);
          break;
        case DecoderKind::Replace: replace_all(text, s.pattern, s.content); break;
      }
    }
    decoded_ += text;
    decoded_offsets_.push_back(decoded_.size());
  }
}

Tokenizer::~Tokenizer() = default;

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= n_pieces()) fail(MMB_ERR_INVALID_ARGUMENT, "token ", id, " is outside [0, ", n_pieces(), ")");
}

int32_t Tokenizer::output_id(int32_t id) const {
  if (output_ids_.empty()) return id;
  auto it = output_ids_.find(id);
  return it == output_ids_.end() ? id : it->second;
}

int32_t Tokenizer::find_piece(std::string_view bytes) const {
  auto it = by_piece_.find(bytes);
  return it == by_piece_.end() ? -1 : it->second;
}

void Tokenizer::split_literals(std::string_view text, const LiteralMatcher& matcher, bool at_input_start,
                               std::vector<int32_t>& out, FunctionRef<void(std::string_view, bool)> between) const {
  if (matcher.empty()) {
    between(text, at_input_start);
    return;
  }
  bool strip_front = false;  // the previous match takes the whitespace after it
  for (size_t at = 0; at <= text.size();) {
    const LiteralMatcher::Match m = at < text.size() ? matcher.find(text, at) : LiteralMatcher::Match{text.size(), 0, -1};
    const bool strip_back = m.id >= 0 && (literal_flags_[size_t(m.id)] & kLstrip);
    std::string_view stretch = text.substr(at, m.begin - at);
    // A stretch "starts the input" when nothing stands before it, even if an
    // lstrip/rstrip then empties it (the reference counts sections before trimming).
    const bool first = at_input_start && at == 0;
    stretch = trim_white_space(stretch, strip_front, strip_back);
    if (!stretch.empty()) between(stretch, first);
    if (m.id < 0) break;
    out.push_back(m.id);
    strip_front = literal_flags_[size_t(m.id)] & kRstrip;
    at = m.begin + m.length;
  }
}

void Tokenizer::encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const {
  Scratch scratch;
  scratch.cache_words = text.size() >= kCacheWordsFrom;
  split_literals(text, parse_special ? raw_all_ : raw_added_, true, out, [&](std::string_view section, bool first) {
    encode_raw_section(section, first, parse_special, scratch, out);
  });
}

void Tokenizer::encode_raw_section(std::string_view text, bool at_input_start, bool parse_special, Scratch& scratch,
                                   std::vector<int32_t>& out) const {
  if (!normalizer_.empty()) {
    normalizer_.apply(text, scratch.normalized);
    text = scratch.normalized;
  }
  if (text.empty()) return;
  // The reference hands every piece of one raw section the raw section's index, so
  // all of them count as the input's start when the raw section does.
  split_literals(text, parse_special ? normalized_all_ : normalized_added_, at_input_start, out,
                 [&](std::string_view words, bool) { encode_words(words, at_input_start, scratch, out); });
}

void Tokenizer::encode_words(std::string_view text, bool at_input_start, Scratch& scratch, std::vector<int32_t>& out) const {
  if (kind_ == TokenizerKind::Bytes) {
    for (char c : text) out.push_back(byte_tokens_[uint8_t(c)]);
    return;
  }
  // Unknown tokens fuse across the words of one stretch, as in tokenizers.js.
  const size_t section_begin = out.size();
  pre_tokenizer_.split(text, at_input_start, [&](std::string_view word) { encode_word(word, scratch, out, section_begin); });
}

void Tokenizer::encode_word(std::string_view word, Scratch& scratch, std::vector<int32_t>& out, size_t section_begin) const {
  if (ignore_merges_) {
    const int32_t whole = find_piece(word);
    if (whole >= 0 && end_of_word_suffix_.empty()) {
      out.push_back(output_id(whole));
      return;
    }
  }
  if (kind_ != TokenizerKind::ByteBPE) {
    encode_char_word(word, scratch, out, section_begin);
    return;
  }
  if (scratch.cache_words && scratch.words.find(word, out)) return;
  const size_t before = out.size();
  bpe_encode(word, merges_, byte_tokens_, scratch.bpe, out);
  if (scratch.cache_words) scratch.words.keep(word, std::span(out).subspan(before));
}

void Tokenizer::push_unknown(std::string_view bytes, std::vector<int32_t>& out, size_t section_begin) const {
  if (byte_fallback_) {
    bool all = true;
    for (char c : bytes) all = all && fallback_tokens_[uint8_t(c)] >= 0;
    if (all) {
      for (char c : bytes) out.push_back(fallback_tokens_[uint8_t(c)]);
      return;
    }
  }
  if (unk_id_ < 0) return;  // no way to say it: dropped, as the reference does
  if (fuse_unk_ && out.size() > section_begin && out.back() == unk_id_) return;
  out.push_back(unk_id_);
}

void Tokenizer::encode_char_word(std::string_view word, Scratch& scratch, std::vector<int32_t>& out, size_t section_begin) const {
  if (word.size() > size_t(std::numeric_limits<int32_t>::max()))
    fail(MMB_ERR_INVALID_ARGUMENT, "a word of ", word.size(), " bytes is too long to merge");
  auto& symbols = scratch.bpe.symbols;
  auto& begins = scratch.bpe.begins;
  // With end_of_word_suffix the last symbol differs, so the word is merged whole.
  const bool may_cut = end_of_word_suffix_.empty();
  std::string with_suffix;
  for (size_t at = 0; at < word.size();) {
    // One stretch: symbols up to a pair no token holds.
    symbols.clear();
    begins.clear();
    int32_t previous = BpeScratch::kUnknown;
    while (at < word.size()) {
      const uint8_t lead = uint8_t(word[at]);
      size_t length = 1;
      int32_t id;
      if (lead < 0x80 && ascii_tokens_[lead] >= 0) {
        id = ascii_tokens_[lead];
      } else {
        length = char_length(word.substr(at));
        std::string_view ch = word.substr(at, length);
        if (at + length == word.size() && !may_cut) {
          with_suffix.assign(ch);
          with_suffix += end_of_word_suffix_;
          ch = with_suffix;
        }
        id = find_piece(ch);
        if (id < 0) id = BpeScratch::kUnknown;
      }
      if (may_cut && !symbols.empty() && (previous < 0 || id < 0 || !adjacent_pairs_.find(previous, id))) break;
      const int32_t i = int32_t(symbols.size());
      symbols.push_back({id, i - 1, -1});
      if (i > 0) symbols[size_t(i - 1)].next = i;
      begins.push_back(uint32_t(at));
      previous = id;
      at += length;
    }
    const size_t stretch_end = at;
    bpe_merge(merges_, scratch.bpe, int32_t(symbols.size()));
    for (int32_t i = 0; i >= 0; i = symbols[size_t(i)].next) {
      const BpeScratch::Symbol& s = symbols[size_t(i)];
      if (s.id >= 0) {
        out.push_back(output_id(s.id));
        continue;
      }
      const size_t begin = begins[size_t(i)], end = s.next >= 0 ? begins[size_t(s.next)] : stretch_end;
      if (s.next < 0 && !may_cut) {
        with_suffix.assign(word.substr(begin, end - begin));
        with_suffix += end_of_word_suffix_;
        push_unknown(with_suffix, out, section_begin);
      } else {
        push_unknown(word.substr(begin, end - begin), out, section_begin);
      }
    }
  }
}

void Tokenizer::decode(std::span<const int32_t> ids, std::string& out, bool skip_special) const {
  for (int32_t id : ids) check_id(id);
  if (decoders_.empty()) {
    for (int32_t id : ids)
      if (!(skip_special && is_special(id))) out += piece(id);
    return;
  }
  // Each step maps the list of texts to a new list, as the reference does.
  std::vector<std::string> texts;
  std::vector<uint8_t> added;  // whether texts[i] is an added token's (ByteLevel passes those through)
  texts.reserve(ids.size());
  for (int32_t id : ids) {
    if (skip_special && is_special(id)) continue;
    texts.emplace_back(piece(id));
    added.push_back(role_[size_t(id)] != kOrdinary);
  }
  std::vector<std::string> next;
  for (const DecoderStep& s : decoders_) {
    switch (s.kind) {
      case DecoderKind::ByteLevel:
      case DecoderKind::ByteFallback: {
        // ByteLevel: runs of ordinary tokens become text (pieces are raw bytes here);
        // ByteFallback: runs of <0xNN> tokens do. Either way invalid UTF-8 in a run
        // becomes U+FFFD per maximal invalid subpart.
        const bool level = s.kind == DecoderKind::ByteLevel;
        next.clear();
        std::vector<uint8_t> next_added;
        std::string run;
        bool in_run = false;
        auto close_run = [&] {
          if (!in_run) return;
          next.emplace_back();
          append_repaired_utf8(run, next.back());
          next_added.push_back(0);
          run.clear();
          in_run = false;
        };
        for (size_t i = 0; i < texts.size(); ++i) {
          const int b = level ? -1 : byte_fallback_value(texts[i]);
          if (level ? !added[i] : b >= 0) {
            if (level) run += texts[i];
            else run.push_back(char(b));
            in_run = true;
          } else {
            close_run();
            next.push_back(std::move(texts[i]));
            next_added.push_back(added[i]);
          }
        }
        close_run();
        texts.swap(next);
        added.swap(next_added);
        break;
      }
      case DecoderKind::Metaspace:
        for (size_t i = 0; i < texts.size(); ++i) {
          replace_all(texts[i], s.replacement, " ");
          if (i == 0 && texts[i].starts_with(' ')) texts[i].erase(0, 1);
        }
        break;
      case DecoderKind::Fuse: {
        std::string all;
        for (const std::string& t : texts) all += t;
        texts.assign(1, std::move(all));
        added.assign(1, 0);
        break;
      }
      case DecoderKind::Strip:
        for (std::string& t : texts) strip_copies(t, s.content, s.start, s.stop);
        break;
      case DecoderKind::Replace:
        for (std::string& t : texts) replace_all(t, s.pattern, s.content);
        break;
    }
  }
  for (const std::string& t : texts) out += t;
}

}  // namespace mmb
