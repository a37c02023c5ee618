// A grammar bound to one model's vocabulary: what mmb_grammar holds. Immutable after
// construction except for its mask cache, so any number of sessions on any threads
// share one.
//
// The cache maps a canonical matcher state to its token mask. Generation revisits the
// same states all the time (every character inside a JSON string field, every element
// of an array), and states are canonical, so after the first visit a mask costs one
// hash lookup. The cache holds at most `cache_bytes` of masks; when full it is emptied
// and refills with the states in use.
#pragma once

#include "grammar/grammar_matcher.hpp"
#include "grammar/token_mask.hpp"
#include "grammar/token_trie.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mmb::grammar {

struct Vocabulary {
  std::vector<std::string> token_bytes;  // per id; empty: never allowed (special tokens, no piece)
  std::vector<int32_t> stop_tokens;      // allowed exactly where the grammar may end
  uint32_t vocab_size = 0;               // ids the model outputs
};

class TokenGrammar {
 public:
  TokenGrammar(GrammarProgram program, Vocabulary vocabulary, size_t cache_bytes);

  const GrammarProgram& program() const { return program_; }
  uint32_t vocab_size() const { return vocab_.vocab_size; }
  const MatcherState& start() const { return start_; }
  bool is_stop(int32_t token) const;
  std::span<const int32_t> stop_tokens() const { return vocab_.stop_tokens; }
  std::string_view token_bytes(int32_t token) const { return vocab_.token_bytes[size_t(token)]; }
  uint64_t fingerprint() const { return fingerprint_; }

  // The mask of `state` (stop tokens not included), from the cache or computed now.
  std::shared_ptr<const TokenMask> mask(const MatcherState& state) const;

  struct CacheStats {
    uint64_t hits = 0, misses = 0;
    size_t entries = 0, bytes = 0;
  };
  CacheStats cache_stats() const;

 private:
  GrammarProgram program_;
  Vocabulary vocab_;
  TokenTrie trie_;
  MatcherState start_;
  uint64_t fingerprint_ = 0;
  size_t cache_bytes_;
  size_t mask_bytes_;

  mutable std::mutex mutex_;  // guards the cache and the walkers' free list
  mutable std::unordered_map<std::string, std::shared_ptr<const TokenMask>> cache_;
  mutable size_t cached_bytes_ = 0;
  mutable CacheStats stats_;
  mutable std::vector<std::unique_ptr<MaskWalker>> idle_walkers_;
};

// Where one generation stands: a grammar and a canonical state of its matcher.
class GrammarCursor {
 public:
  explicit GrammarCursor(std::shared_ptr<const TokenGrammar> grammar);
  // A copy at the same place (a fork, or a job's own state); the copy's scratch is its own.
  GrammarCursor(const GrammarCursor& other) : grammar_(other.grammar_), state_(other.state_), mask_(other.mask_) {}
  GrammarCursor& operator=(const GrammarCursor&) = delete;

  const TokenGrammar& grammar() const { return *grammar_; }
  const std::shared_ptr<const TokenGrammar>& grammar_ptr() const { return grammar_; }
  const MatcherState& state() const { return state_; }

  void reset() {
    state_ = grammar_->start();
    mask_.reset();
  }
  bool can_end() const { return state_.complete; }
  // May end and nothing can follow (the walk finds no token, or no parse is left).
  bool must_end();
  // The allowed tokens (stop tokens excluded), cached on the cursor until it moves.
  const TokenMask& mask();
  // Whether `token` may come next (stop tokens: where the grammar may end).
  bool allows(int32_t token);
  // Sets the logits of the tokens not allowed here to -inf (stop tokens stay where the
  // grammar may end). n is the vocabulary size.
  void apply(float* logits, size_t n);
  // Advances past `token`; false (nothing changes) if the grammar refuses it. A stop
  // token is accepted where the grammar may end and changes nothing.
  bool accept(int32_t token);

  // Saved form: a header binding it to the grammar, then the state.
  std::string save() const;
  // Throws MMB_ERR_STATE_MISMATCH (another grammar's state) or MMB_ERR_FORMAT.
  void load(std::string_view blob);

 private:
  std::shared_ptr<const TokenGrammar> grammar_;
  MatcherState state_;
  std::shared_ptr<const TokenMask> mask_;  // of state_, when known
  std::unique_ptr<Matcher> matcher_;
  std::vector<float> stop_logits_;  // scratch of apply()
};

}  // namespace mmb::grammar
