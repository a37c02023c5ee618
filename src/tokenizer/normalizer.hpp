// The normalizer steps of a tokenizer (tokenizer.json's "normalizer"): Unicode
// normal forms, lowercase, Replace, Prepend, Strip, applied in order to the text
// between added tokens before pre-tokenization.
#pragma once

#include "model/tokenizer_data.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace mmb {

class NormalizerChain {
 public:
  // Empty `steps` falls back to the old single normalizer (None or NFC). Throws
  // mmb::Error(MMB_ERR_FORMAT) for a bad step (a regex that does not compile...).
  NormalizerChain(const std::vector<NormalizerStep>& steps, Normalizer legacy);
  ~NormalizerChain();
  NormalizerChain(NormalizerChain&&) noexcept;

  bool empty() const;
  // Writes the normalized `text` into `out` (replacing its content). Invalid UTF-8
  // bytes pass through unchanged. Thread-safe.
  void apply(std::string_view text, std::string& out) const;

 private:
  struct Step;
  std::vector<Step> steps_;
};

}  // namespace mmb
