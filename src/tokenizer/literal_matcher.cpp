#include "tokenizer/literal_matcher.hpp"

namespace mmb {

LiteralMatcher::LiteralMatcher() : nodes_(1) {}

uint32_t LiteralMatcher::child(uint32_t node, uint8_t byte) const {
  if (node == 0) return root_[byte];
  for (const auto& [b, next] : nodes_[node].children)
    if (b == byte) return next;
  return 0;
}

void LiteralMatcher::add(std::string_view text, int32_t id) {
  uint32_t node = 0;
  for (char ch : text) {
    uint8_t byte = uint8_t(ch);
    uint32_t next = child(node, byte);
    if (next == 0) {
      next = uint32_t(nodes_.size());
      nodes_.emplace_back();
      if (node == 0) root_[byte] = next;
      else nodes_[node].children.emplace_back(byte, next);
    }
    node = next;
  }
  nodes_[node].id = id;
}

LiteralMatcher::Match LiteralMatcher::find(std::string_view text, size_t from) const {
  for (size_t begin = from; begin < text.size(); ++begin) {
    uint32_t node = root_[uint8_t(text[begin])];
    Match best;
    for (size_t at = begin + 1; node != 0; ++at) {
      if (nodes_[node].id >= 0) best = {begin, at - begin, nodes_[node].id};
      if (at == text.size()) break;
      node = child(node, uint8_t(text[at]));
    }
    if (best.id >= 0) return best;
  }
  return {text.size(), 0, -1};
}

void LiteralMatcher::split(std::string_view text, std::vector<int32_t>& ids,
                           FunctionRef<void(std::string_view)> between) const {
  if (empty()) {
    between(text);
    return;
  }
  for (size_t at = 0; at < text.size();) {
    const Match m = find(text, at);
    between(text.substr(at, m.begin - at));
    if (m.id < 0) break;
    ids.push_back(m.id);
    at = m.begin + m.length;
  }
}

}  // namespace mmb
