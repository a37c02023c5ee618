// Finds added and special tokens in text: a byte trie over their texts, searched
// leftmost-longest (the match that starts first wins; among those, the longest),
// which is how Hugging Face tokenizers extracts added tokens.
#pragma once

#include "base/function_ref.hpp"

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace mmb {

class LiteralMatcher {
 public:
  struct Match {
    size_t begin = 0;
    size_t length = 0;
    int32_t id = -1;
  };

  LiteralMatcher();

  // `text` must not be empty. Adding the same text again replaces its id.
  void add(std::string_view text, int32_t id);
  bool empty() const { return nodes_.size() == 1; }

  // The leftmost-longest match that begins at or after `from`; id -1 when none.
  Match find(std::string_view text, size_t from) const;
  // Walks `text` in order: `between` gets each stretch before, between and after the
  // matches (possibly empty), and each match's id is appended to `ids`.
  void split(std::string_view text, std::vector<int32_t>& ids, FunctionRef<void(std::string_view)> between) const;

 private:
  struct Node {
    int32_t id = -1;  // token ending here, or -1
    std::vector<std::pair<uint8_t, uint32_t>> children;
  };
  uint32_t child(uint32_t node, uint8_t byte) const;

  std::vector<Node> nodes_;            // nodes_[0] is the root
  std::array<uint32_t, 256> root_{};   // the root's children by first byte; 0 = none
};

}  // namespace mmb
