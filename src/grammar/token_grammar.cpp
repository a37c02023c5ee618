#include "grammar/token_grammar.hpp"

#include "base/checksum.hpp"
#include "base/error.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>
#include <limits>

namespace mmb::grammar {
namespace {

std::vector<std::string_view> views(const std::vector<std::string>& bytes) {
  return std::vector<std::string_view>(bytes.begin(), bytes.end());
}

std::string cache_key(const MatcherState& s) {
  std::string key(s.stacks.size() * sizeof(uint32_t) + 1, '\0');
  key[0] = char(s.complete);
  if (!s.stacks.empty()) std::memcpy(key.data() + 1, s.stacks.data(), s.stacks.size() * sizeof(uint32_t));
  return key;
}

constexpr char kMagic[4] = {'M', 'M', 'B', 'G'};
constexpr uint32_t kSaveVersion = 2;  // 2: an xxh64 of everything before it closes the blob

}  // namespace

TokenGrammar::TokenGrammar(GrammarProgram program, Vocabulary vocabulary, size_t cache_bytes)
    : program_(std::move(program)),
      vocab_(std::move(vocabulary)),
      trie_(views(vocab_.token_bytes)),
      cache_bytes_(cache_bytes),
      mask_bytes_((size_t(vocab_.vocab_size) + 63) / 64 * 8) {
  start_ = Matcher(program_).start();
  std::sort(vocab_.stop_tokens.begin(), vocab_.stop_tokens.end());
  vocab_.stop_tokens.erase(std::unique(vocab_.stop_tokens.begin(), vocab_.stop_tokens.end()), vocab_.stop_tokens.end());
  Xxh64Stream h;
  h.update(&vocab_.vocab_size, sizeof vocab_.vocab_size);
  const uint64_t p = program_.fingerprint();
  h.update(&p, sizeof p);
  for (const std::string& t : vocab_.token_bytes) {
    const uint64_t n = t.size();
    h.update(&n, sizeof n);
    h.update(t.data(), t.size());
  }
  h.update(vocab_.stop_tokens.data(), vocab_.stop_tokens.size() * sizeof(int32_t));
  fingerprint_ = h.digest();
}

bool TokenGrammar::is_stop(int32_t token) const {
  return std::binary_search(vocab_.stop_tokens.begin(), vocab_.stop_tokens.end(), token);
}

std::shared_ptr<const TokenMask> TokenGrammar::mask(const MatcherState& state) const {
  std::string key = cache_key(state);
  std::unique_ptr<MaskWalker> walker;
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      ++stats_.hits;
      return it->second;
    }
    ++stats_.misses;
    if (!idle_walkers_.empty()) {
      walker = std::move(idle_walkers_.back());
      idle_walkers_.pop_back();
    }
  }
  if (!walker) walker = std::make_unique<MaskWalker>(program_, trie_);
  auto mask = std::make_shared<const TokenMask>(walker->compute(state, vocab_.vocab_size));
  std::lock_guard lock(mutex_);
  idle_walkers_.push_back(std::move(walker));
  const size_t entry_bytes = mask_bytes_ + key.size() + 64;
  if (entry_bytes <= cache_bytes_) {
    if (cached_bytes_ + entry_bytes > cache_bytes_) {
      cache_.clear();
      cached_bytes_ = 0;
    }
    if (cache_.emplace(std::move(key), mask).second) cached_bytes_ += entry_bytes;
  }
  return mask;
}

TokenGrammar::CacheStats TokenGrammar::cache_stats() const {
  std::lock_guard lock(mutex_);
  CacheStats s = stats_;
  s.entries = cache_.size();
  s.bytes = cached_bytes_;
  return s;
}

GrammarCursor::GrammarCursor(std::shared_ptr<const TokenGrammar> grammar)
    : grammar_(std::move(grammar)), state_(grammar_->start()) {}

const TokenMask& GrammarCursor::mask() {
  if (!mask_) mask_ = grammar_->mask(state_);
  return *mask_;
}

bool GrammarCursor::must_end() { return state_.complete && (!state_.has_stacks() || !mask().any_token); }

bool GrammarCursor::allows(int32_t token) {
  if (token < 0 || uint32_t(token) >= grammar_->vocab_size()) return false;
  if (grammar_->is_stop(token)) return state_.complete;
  return mask().allows(token);
}

void GrammarCursor::apply(float* logits, size_t n) {
  const TokenMask& m = mask();
  const std::span<const int32_t> stops = grammar_->stop_tokens();
  // Stop tokens have no bytes, so the mask never holds them: keep their logits aside.
  std::vector<float>& kept = stop_logits_;
  const size_t n_kept = state_.complete ? stops.size() : 0;
  kept.resize(n_kept);
  for (size_t i = 0; i < n_kept; ++i) kept[i] = size_t(stops[i]) < n ? logits[stops[i]] : 0.0f;
  const float refused = -std::numeric_limits<float>::infinity();
  for (size_t w = 0; w * 64 < n; ++w) {
    const uint64_t word = w < m.words.size() ? m.words[w] : 0;
    const size_t end = std::min(n, w * 64 + 64);
    if (word == ~uint64_t(0)) continue;
    if (word == 0) {  // the common case in narrow states: a plain fill the compiler vectorizes
      std::fill(logits + w * 64, logits + end, refused);
      continue;
    }
    // Else only the refused lanes are written (a select over every lane measured slower).
    float* row = logits + w * 64;
    const size_t lanes = end - w * 64;
    for (uint64_t bits = ~word; bits; bits &= bits - 1)
      if (size_t k = size_t(std::countr_zero(bits)); k < lanes) row[k] = refused;
  }
  for (size_t i = 0; i < n_kept; ++i)
    if (size_t(stops[i]) < n) logits[stops[i]] = kept[i];
}

bool GrammarCursor::accept(int32_t token) {
  if (token < 0 || uint32_t(token) >= grammar_->vocab_size()) return false;
  if (grammar_->is_stop(token)) return state_.complete;
  const std::string_view bytes = grammar_->token_bytes(token);
  if (bytes.empty()) return false;
  if (!matcher_) matcher_ = std::make_unique<Matcher>(grammar_->program());
  MatcherState next = state_;
  if (!matcher_->advance(next, bytes)) return false;
  if (!(next == state_)) {
    state_ = std::move(next);
    mask_.reset();
  }
  return true;
}

std::string GrammarCursor::save() const {
  std::string out(kMagic, sizeof kMagic);
  auto put = [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  const uint64_t fp = grammar_->fingerprint();
  const uint32_t n = uint32_t(state_.stacks.size());
  const uint8_t complete = state_.complete;
  put(&kSaveVersion, 4);
  put(&fp, 8);
  put(&complete, 1);
  put(&n, 4);
  put(state_.stacks.data(), size_t(n) * 4);
  const uint64_t sum = xxh64(out.data(), out.size());
  put(&sum, 8);
  return out;
}

void GrammarCursor::load(std::string_view blob) {
  constexpr size_t kHeader = 4 + 4 + 8 + 1 + 4;
  if (blob.size() < kHeader + 8 || std::memcmp(blob.data(), kMagic, 4) != 0)
    fail(MMB_ERR_FORMAT, "not a saved grammar state (", blob.size(), " bytes, no MMBG header)");
  uint64_t sum;
  std::memcpy(&sum, blob.data() + blob.size() - 8, 8);
  if (sum != xxh64(blob.data(), blob.size() - 8)) fail(MMB_ERR_FORMAT, "saved grammar state: checksum mismatch (damaged)");
  blob.remove_suffix(8);
  uint32_t version, n;
  uint64_t fp;
  uint8_t complete;
  std::memcpy(&version, blob.data() + 4, 4);
  std::memcpy(&fp, blob.data() + 8, 8);
  std::memcpy(&complete, blob.data() + 16, 1);
  std::memcpy(&n, blob.data() + 17, 4);
  if (version != kSaveVersion) fail(MMB_ERR_FORMAT, "saved grammar state version ", version, "; this library reads ", kSaveVersion);
  if (fp != grammar_->fingerprint())
    fail(MMB_ERR_STATE_MISMATCH, "the saved grammar state belongs to another grammar or vocabulary");
  if (complete > 1 || blob.size() != kHeader + size_t(n) * 4)
    fail(MMB_ERR_FORMAT, "saved grammar state: ", blob.size(), " bytes do not match its header");
  MatcherState s;
  s.complete = complete;
  s.stacks.resize(n);
  if (n) std::memcpy(s.stacks.data(), blob.data() + kHeader, size_t(n) * 4);
  // Every stack must be one the matcher could have made: a Read on top, and below it
  // only positions right after a call.
  const GrammarProgram& p = grammar_->program();
  for (size_t i = 0; i < s.stacks.size();) {
    const uint32_t depth = s.stacks[i];
    if (depth == 0 || depth > s.stacks.size() - i - 1) fail(MMB_ERR_FORMAT, "saved grammar state: bad stack depth");
    for (uint32_t k = 0; k < depth; ++k) {
      const uint32_t pos = s.stacks[i + 1 + k];
      const bool ok = pos < p.n_elements() &&
                      (k == 0 ? p.reads(pos) : pos > 0 && p.element(pos - 1).op == Op::Call);
      if (!ok) fail(MMB_ERR_FORMAT, "saved grammar state: position ", pos, " is not a valid stack entry");
    }
    i += 1 + depth;
  }
  state_ = std::move(s);
  mask_.reset();
}

}  // namespace mmb::grammar
