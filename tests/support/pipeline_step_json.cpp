#include "support/pipeline_step_json.hpp"

#include <stdexcept>
#include <string>

namespace mmb::test {
namespace {

// {"String": "..."} or {"Regex": "..."}.
void read_pattern(const nlohmann::json& pattern, std::string& text, bool& is_regex) {
  is_regex = pattern.contains("Regex");
  text = is_regex ? pattern.at("Regex").get<std::string>() : pattern.at("String").get<std::string>();
}

SplitBehavior behavior_of(const std::string& name) {
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  throw std::runtime_error("unknown split behavior " + name);
}

void add_normalizer(const nlohmann::json& c, std::vector<NormalizerStep>& steps) {
  const std::string type = c.at("type");
  if (type == "Sequence") {
    for (const nlohmann::json& inner : c.at("normalizers")) add_normalizer(inner, steps);
    return;
  }
  NormalizerStep s;
  if (type == "NFC") s.kind = NormalizerKind::NFC;
  else if (type == "NFD") s.kind = NormalizerKind::NFD;
  else if (type == "NFKC") s.kind = NormalizerKind::NFKC;
  else if (type == "NFKD") s.kind = NormalizerKind::NFKD;
  else if (type == "Lowercase") s.kind = NormalizerKind::Lowercase;
  else if (type == "Replace") {
    s.kind = NormalizerKind::Replace;
    read_pattern(c.at("pattern"), s.pattern, s.pattern_is_regex);
    s.content = c.value("content", "");
  } else if (type == "Prepend") {
    s.kind = NormalizerKind::Prepend;
    s.content = c.at("prepend");
  } else if (type == "Strip") {
    s.kind = NormalizerKind::Strip;
    s.left = c.value("strip_left", false);
    s.right = c.value("strip_right", false);
  } else {
    throw std::runtime_error("unknown normalizer " + type);
  }
  steps.push_back(std::move(s));
}

void add_pre_tokenizer(const nlohmann::json& c, std::vector<PreTokenizerStep>& steps) {
  const std::string type = c.at("type");
  if (type == "Sequence") {
    for (const nlohmann::json& inner : c.at("pretokenizers")) add_pre_tokenizer(inner, steps);
    return;
  }
  PreTokenizerStep s;
  if (type == "ByteLevel") {
    s.kind = PreTokenizerKind::ByteLevel;
    s.add_prefix_space = c.value("add_prefix_space", false);
    s.use_regex = c.value("use_regex", true);
  } else if (type == "Split") {
    s.kind = PreTokenizerKind::Split;
    read_pattern(c.at("pattern"), s.pattern, s.pattern_is_regex);
    s.behavior = behavior_of(c.value("behavior", "Isolated"));
    s.invert = c.value("invert", false);
  } else if (type == "Metaspace") {
    s.kind = PreTokenizerKind::Metaspace;
    s.replacement = c.value("replacement", "\xE2\x96\x81");
    const std::string scheme = c.value("prepend_scheme", "always");
    s.prepend_scheme = scheme == "never" ? PrependScheme::Never : scheme == "first" ? PrependScheme::First : PrependScheme::Always;
    s.split = c.value("split", true);
  } else if (type == "Digits") {
    s.kind = PreTokenizerKind::Digits;
    s.individual_digits = c.value("individual_digits", false);
  } else if (type == "Punctuation") {
    s.kind = PreTokenizerKind::Punctuation;
    s.behavior = behavior_of(c.value("behavior", "Isolated"));
  } else if (type == "Whitespace") {
    s.kind = PreTokenizerKind::Whitespace;
  } else if (type == "WhitespaceSplit") {
    s.kind = PreTokenizerKind::WhitespaceSplit;
  } else {
    throw std::runtime_error("unknown pre-tokenizer " + type);
  }
  steps.push_back(std::move(s));
}

}  // namespace

std::vector<NormalizerStep> normalizer_steps_from_json(const nlohmann::json& config) {
  std::vector<NormalizerStep> steps;
  add_normalizer(config, steps);
  return steps;
}

std::vector<PreTokenizerStep> pre_tokenizer_steps_from_json(const nlohmann::json& config) {
  std::vector<PreTokenizerStep> steps;
  add_pre_tokenizer(config, steps);
  return steps;
}

}  // namespace mmb::test
