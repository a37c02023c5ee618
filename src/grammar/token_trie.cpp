#include "grammar/token_trie.hpp"

#include <algorithm>

namespace mmb::grammar {

TokenTrie::TokenTrie(const std::vector<std::string_view>& token_bytes) {
  // Tokens sorted by their bytes are already in depth-first order: one pass that keeps
  // the path of open nodes (one per byte of the current prefix) builds the tree.
  std::vector<int32_t> order;
  for (size_t id = 0; id < token_bytes.size(); ++id)
    if (!token_bytes[id].empty()) order.push_back(int32_t(id));
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const std::string_view x = token_bytes[size_t(a)], y = token_bytes[size_t(b)];
    return x != y ? x < y : a < b;
  });
  nodes_.push_back({});
  std::vector<uint32_t> path{0};  // path[d]: the open node at depth d
  std::string_view prefix;        // the bytes of the open path
  auto close_to = [&](size_t depth) {
    while (path.size() > depth + 1) {
      nodes_[path.back()].subtree_end = uint32_t(nodes_.size());
      path.pop_back();
    }
  };
  for (int32_t id : order) {
    const std::string_view t = token_bytes[size_t(id)];
    size_t common = 0;
    while (common < prefix.size() && common < t.size() && prefix[common] == t[common]) ++common;
    close_to(common);
    for (size_t d = common; d < t.size(); ++d) {
      Node n;
      n.byte = uint8_t(t[d]);
      path.push_back(uint32_t(nodes_.size()));
      nodes_.push_back(n);
    }
    prefix = t;
    Node& end = nodes_[path.back()];
    if (end.n_tokens == 0) end.first_token = uint32_t(tokens_.size());
    // Equal texts are adjacent in the order, so a node's tokens are contiguous.
    tokens_.push_back(id);
    ++end.n_tokens;
  }
  close_to(0);
  nodes_[0].subtree_end = uint32_t(nodes_.size());
}

}  // namespace mmb::grammar
