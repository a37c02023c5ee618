// The vocabulary as a prefix tree of token bytes, so a mask is found by one walk that
// reads each shared prefix once and drops a whole subtree at the first byte the grammar
// refuses, instead of trying 50k tokens one by one.
//
// Nodes are stored in depth-first order: a node's first child comes right after it and
// its subtree ends at `subtree_end`, so the walk reads memory front to back and skips a
// refused subtree with one jump.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace mmb::grammar {

class TokenTrie {
 public:
  // token_bytes[id] is the text of token id; empty entries (special tokens, ids without
  // a piece) are left out: a grammar never allows them.
  explicit TokenTrie(const std::vector<std::string_view>& token_bytes);

  struct Node {
    uint32_t subtree_end = 0;  // one past the last node of this node's subtree
    uint32_t first_token = 0;  // tokens ending here: tokens_[first_token, first_token + n_tokens)
    uint16_t n_tokens = 0;
    uint8_t byte = 0;          // the byte that leads here from the parent
  };

  // Node 0 is the root (the empty prefix); its children start at node 1.
  const Node& node(uint32_t id) const { return nodes_[id]; }
  uint32_t n_nodes() const { return uint32_t(nodes_.size()); }
  const int32_t* tokens(const Node& n) const { return tokens_.data() + n.first_token; }

 private:
  std::vector<Node> nodes_;
  std::vector<int32_t> tokens_;
};

}  // namespace mmb::grammar
