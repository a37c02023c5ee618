#include "tokenizer/normalizer.hpp"

#include "tokenizer/regex.hpp"
#include "tokenizer/unicode_forms.hpp"
#include "tokenizer/unicode_text.hpp"

#include <memory>
#include <utility>

namespace mmb {

struct NormalizerChain::Step {
  NormalizerStep config;
  std::unique_ptr<Regex> regex;  // Replace with a regex pattern
};

namespace {

void replace_literal(std::string_view text, const std::string& pattern, const std::string& content, std::string& out) {
  out.clear();
  if (pattern.empty()) {
    // An empty pattern matches before every character and at the end (the reference
    // runs it as an empty regex).
    size_t at = 0;
    while (at < text.size()) {
      size_t n = utf8_char_length(text, at);
      out += content;
      out.append(text.substr(at, n));
      at += n;
    }
    out += content;
    return;
  }
  size_t at = 0;
  while (true) {
    size_t found = text.find(pattern, at);
    if (found == std::string_view::npos) break;
    out.append(text.substr(at, found - at));
    out += content;
    at = found + pattern.size();
  }
  out.append(text.substr(at));
}

void replace_regex(std::string_view text, const Regex& regex, const std::string& content, std::string& out) {
  out.clear();
  size_t copied = 0;
  regex.for_each_match(text, [&](size_t begin, size_t end) {
    out.append(text.substr(copied, begin - copied));
    out += content;
    copied = end;
  });
  out.append(text.substr(copied));
}

// The reference strips with String.prototype.trim*: JavaScript's whitespace.
void strip(std::string_view text, bool left, bool right, std::string& out) {
  size_t begin = 0, end = text.size();
  if (left) {
    while (begin < end) {
      Utf8Char c = decode_utf8(text, begin);
      if (!is_js_whitespace(c.cp)) break;
      begin += c.length;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;  // step back to the lead byte of the last character
      while (start > begin && (uint8_t(text[start]) & 0xC0) == 0x80 && end - start < 4) --start;
      Utf8Char c = decode_utf8(text, start);
      if (start + c.length != end || !is_js_whitespace(c.cp)) break;
      end = start;
    }
  }
  out.assign(text.substr(begin, end - begin));
}

}  // namespace

NormalizerChain::NormalizerChain(const std::vector<NormalizerStep>& steps, Normalizer legacy) {
  if (steps.empty()) {
    if (legacy == Normalizer::NFC) steps_.push_back(Step{NormalizerStep{}, nullptr});
    return;
  }
  steps_.reserve(steps.size());
  for (const NormalizerStep& config : steps) {
    Step step{config, nullptr};
    if (config.kind == NormalizerKind::Replace && config.pattern_is_regex) step.regex = std::make_unique<Regex>(config.pattern);
    steps_.push_back(std::move(step));
  }
}

NormalizerChain::~NormalizerChain() = default;
NormalizerChain::NormalizerChain(NormalizerChain&&) noexcept = default;

bool NormalizerChain::empty() const { return steps_.empty(); }

void NormalizerChain::apply(std::string_view text, std::string& out) const {
  if (steps_.empty()) {
    out.assign(text);
    return;
  }
  std::string current(text), next;
  for (const Step& step : steps_) {
    const NormalizerStep& c = step.config;
    switch (c.kind) {
      case NormalizerKind::NFC: normalize_unicode(current, UnicodeForm::NFC, next); break;
      case NormalizerKind::NFD: normalize_unicode(current, UnicodeForm::NFD, next); break;
      case NormalizerKind::NFKC: normalize_unicode(current, UnicodeForm::NFKC, next); break;
      case NormalizerKind::NFKD: normalize_unicode(current, UnicodeForm::NFKD, next); break;
      case NormalizerKind::Lowercase: lowercase_full(current, next); break;
      case NormalizerKind::Replace:
        if (step.regex) replace_regex(current, *step.regex, c.content, next);
        else replace_literal(current, c.pattern, c.content, next);
        break;
      case NormalizerKind::Prepend:
        // Only text that has something gets the prefix (Hugging Face's tokenizers).
        if (current.empty()) continue;
        next = c.content;
        next += current;
        break;
      case NormalizerKind::Strip: strip(current, c.left, c.right, next); break;
      default: continue;
    }
    current.swap(next);
  }
  out = std::move(current);
}

}  // namespace mmb
