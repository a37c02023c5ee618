// The pre-tokenizer steps of a tokenizer (tokenizer.json's "pre_tokenizer"): each
// step cuts (and for ByteLevel's prefix space and Metaspace, rewrites) the pieces the
// previous step made; BPE then merges each final piece on its own.
#pragma once

#include "base/function_ref.hpp"
#include "model/tokenizer_data.hpp"

#include <string_view>
#include <vector>

namespace mmb {

class PreTokenizerChain {
 public:
  // Empty `steps` falls back to the old single pre-tokenizer (GPT-2's regex or none).
  // Throws mmb::Error(MMB_ERR_FORMAT) for a bad step (a regex that does not compile...).
  PreTokenizerChain(const std::vector<PreTokenizerStep>& steps, PreTokenizer legacy);
  ~PreTokenizerChain();
  PreTokenizerChain(PreTokenizerChain&&) noexcept;

  // Calls `word` for each final piece of `text`, in order (a piece is never empty;
  // its view lives until `word` returns). `at_input_start`: the text begins the
  // caller's input (no added token before it), which Metaspace's prepend_scheme
  // "first" needs. Thread-safe.
  void split(std::string_view text, bool at_input_start, FunctionRef<void(std::string_view)> word) const;

 private:
  struct Step;
  std::vector<Step> steps_;
  PreTokenizer legacy_;
};

}  // namespace mmb
