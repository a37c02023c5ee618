#include "tokenizer/pre_tokenizer.hpp"

#include "tokenizer/gpt2_pretokenizer.hpp"
#include "tokenizer/llama3_pretokenizer.hpp"
#include "tokenizer/regex.hpp"
#include "tokenizer/unicode_text.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace mmb {

struct PreTokenizerChain::Step {
  PreTokenizerStep config;
  bool after_byte_level;                // an earlier step was ByteLevel (see char_at)
  std::unique_ptr<Regex> regex;         // Split with a regex pattern
  std::optional<Llama3Pattern> llama3;  // ...that the hand-written scanner runs faster
};

namespace {

using Emit = FunctionRef<void(std::string_view)>;

// One stretch of a piece: a match of the step's delimiter or the text between two.
struct Span {
  size_t begin, end;
  bool is_match;
};

// Hugging Face's SplitDelimiterBehavior over the spans of one piece, in order:
// Removed drops the delimiters, Isolated keeps each apart, MergedWithPrevious /
// MergedWithNext glue a delimiter to the text before / after it, Contiguous keeps a
// run of delimiters together. tokenizers.js cuts every behaviour but Removed as
// Isolated and keeps only the matches under `invert`; the Rust library defines them,
// and both agree on Isolated, and on Removed with a regex (without capture groups).
void split_by_behavior(std::string_view piece, const std::vector<Span>& spans, SplitBehavior behavior, Emit emit) {
  std::vector<std::pair<size_t, size_t>> out;
  out.reserve(spans.size());
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const Span& s : spans)
        if (!s.is_match) out.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::Isolated:
      for (const Span& s : spans) out.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !out.empty()) out.back().second = s.end;
        else out.emplace_back(s.begin, s.end);
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool next_match = false;  // walking backwards: whether the span after was a delimiter
      for (size_t i = spans.size(); i-- > 0;) {
        const Span& s = spans[i];
        if (s.is_match && !next_match && !out.empty()) out.back().first = s.begin;
        else out.emplace_back(s.begin, s.end);
        next_match = s.is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case SplitBehavior::Contiguous: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.is_match && previous_match && !out.empty()) out.back().second = s.end;
        else out.emplace_back(s.begin, s.end);
        previous_match = s.is_match;
      }
      break;
    }
  }
  for (auto [begin, end] : out)
    if (end > begin) emit(piece.substr(begin, end - begin));
}

// The spans of `piece` around the non-empty `matches` (sorted, non-overlapping).
template <typename ForEachMatch>
std::vector<Span> spans_of(std::string_view piece, bool invert, ForEachMatch&& for_each_match) {
  std::vector<Span> spans;
  size_t at = 0;
  for_each_match([&](size_t begin, size_t end) {
    if (end == begin) return;  // an empty match delimits nothing
    if (begin > at) spans.push_back({at, begin, invert});
    spans.push_back({begin, end, !invert});
    at = end;
  });
  if (at < piece.size()) spans.push_back({at, piece.size(), invert});
  return spans;
}

// The spans of `piece` around each occurrence of `literal`, left to right.
std::vector<Span> literal_spans(std::string_view piece, std::string_view literal, bool invert) {
  return spans_of(piece, invert, [&](auto&& on_match) {
    if (literal.empty()) return;
    size_t at = 0;
    while ((at = piece.find(literal, at)) != std::string_view::npos) {
      on_match(at, at + literal.size());
      at += literal.size();
    }
  });
}

// The character at byte `at` as a step sees it. Hugging Face's Rust tokenizers
// rewrites each piece that ByteLevel cuts into GPT-2's byte-level alphabet, one
// character per byte, and the steps after it classify those characters; we keep the
// bytes, so after ByteLevel each byte is read as the character it stands for (so the
// UTF-8 continuation byte B2 of "²" or "в" is the number '²').
Utf8Char char_at(std::string_view piece, size_t at, bool byte_level) {
  if (byte_level) return {byte_level_char(uint8_t(piece[at])), 1};
  return decode_utf8(piece, at);
}

// Cuts `piece` into runs of characters of the same class; `keep(cls)` says which
// classes are pieces (the rest is dropped), `single(cls)` which are one per piece.
template <typename Classify, typename Keep, typename Single>
void split_runs(std::string_view piece, bool byte_level, Classify&& classify, Keep&& keep, Single&& single, Emit emit) {
  size_t at = 0;
  while (at < piece.size()) {
    Utf8Char c = char_at(piece, at, byte_level);
    int cls = classify(c.cp);
    size_t end = at + c.length;
    if (!single(cls)) {
      while (end < piece.size()) {
        Utf8Char n = char_at(piece, end, byte_level);
        if (classify(n.cp) != cls) break;
        end += n.length;
      }
    }
    if (keep(cls)) emit(piece.substr(at, end - at));
    at = end;
  }
}

// Unicode punctuation as the reference's Punctuation pre-tokenizer defines it: the
// P* categories plus every ASCII punctuation and symbol character.
bool is_punctuation(int32_t cp) {
  if (cp < 0) return false;
  if ((cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E))
    return true;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

std::string replace_spaces(std::string_view piece, const std::string& replacement) {
  std::string out;
  out.reserve(piece.size() + replacement.size());
  for (char c : piece) {
    if (c == ' ') out += replacement;
    else out.push_back(c);
  }
  return out;
}

}  // namespace

PreTokenizerChain::PreTokenizerChain(const std::vector<PreTokenizerStep>& steps, PreTokenizer legacy) : legacy_(legacy) {
  steps_.reserve(steps.size());
  bool after_byte_level = false;
  for (const PreTokenizerStep& config : steps) {
    Step step{config, after_byte_level, nullptr, std::nullopt};
    after_byte_level |= config.kind == PreTokenizerKind::ByteLevel;
    if (config.kind == PreTokenizerKind::Split && config.pattern_is_regex) {
      step.llama3 = recognize_llama3_pattern(config.pattern);
      if (!step.llama3) step.regex = std::make_unique<Regex>(config.pattern);
    }
    steps_.push_back(std::move(step));
  }
}

PreTokenizerChain::~PreTokenizerChain() = default;
PreTokenizerChain::PreTokenizerChain(PreTokenizerChain&&) noexcept = default;

namespace {

// Runs step `index` and the ones after it over `piece`; pieces past the last step go
// to `word`. Recursion keeps each rewritten piece alive while its pieces are used.
template <typename StepT>
void run_step(const std::vector<StepT>& steps, size_t index, std::string_view piece, bool at_input_start, Emit word) {
  const StepT& step = steps[index];
  const PreTokenizerStep& c = step.config;
  auto emit = [&](std::string_view sub) {
    if (sub.empty()) return;
    if (index + 1 == steps.size()) word(sub);
    else run_step(steps, index + 1, sub, at_input_start, word);
  };
  switch (c.kind) {
    case PreTokenizerKind::ByteLevel: {
      // The reference adds the space when the piece does not already start with one.
      std::string prefixed;
      if (c.add_prefix_space && piece.front() != ' ') {
        prefixed.reserve(piece.size() + 1);
        prefixed += ' ';
        prefixed += piece;
        piece = prefixed;
      }
      if (c.use_regex) split_gpt2(piece, emit);
      else emit(piece);
      return;
    }
    case PreTokenizerKind::Split: {
      // Matched against the bytes even after ByteLevel, where the Rust crate matches
      // the byte-level alphabet: the same pieces for a pattern that only picks out
      // printable ASCII (Falcon's [0-9][0-9][0-9]), which stands for itself there.
      std::vector<Span> spans;
      if (step.llama3) {
        spans = spans_of(piece, c.invert, [&](auto&& on_match) { for_each_llama3_match(piece, *step.llama3, on_match); });
      } else if (step.regex) {
        spans = spans_of(piece, c.invert, [&](auto&& on_match) { step.regex->for_each_match(piece, on_match); });
      } else {
        spans = literal_spans(piece, c.pattern, c.invert);
      }
      split_by_behavior(piece, spans, c.behavior, emit);
      return;
    }
    case PreTokenizerKind::Metaspace: {
      std::string replaced = replace_spaces(piece, c.replacement);
      bool prepend = c.prepend_scheme == PrependScheme::Always || (c.prepend_scheme == PrependScheme::First && at_input_start);
      if (prepend && std::string_view(replaced).substr(0, c.replacement.size()) != c.replacement) replaced.insert(0, c.replacement);
      if (!c.split || c.replacement.empty()) {
        emit(replaced);
        return;
      }
      // split: each replacement character starts a new piece (MergedWithNext), as the
      // Rust library does; tokenizers.js keeps the piece whole (BPE gives the same
      // tokens unless a merge spans the replacement character).
      std::string_view text = replaced;
      split_by_behavior(text, literal_spans(text, c.replacement, false), SplitBehavior::MergedWithNext, emit);
      return;
    }
    case PreTokenizerKind::Digits: {
      // Runs of numbers and of the rest (each number alone with individual_digits). A
      // number is what Rust's char::is_numeric says, as in the Rust crate that models
      // were trained with: '²', '½' and Arabic-Indic digits too, and after ByteLevel
      // the bytes B2 B3 B9 BC BD BE (tokenizers.js: ASCII 0-9 only).
      split_runs(
          piece, step.after_byte_level, [](int32_t cp) { return is_numeric(cp) ? 1 : 0; }, [](int) { return true; },
          [&](int cls) { return cls == 1 && c.individual_digits; }, emit);
      return;
    }
    case PreTokenizerKind::Punctuation: {
      // The reference cuts runs of punctuation from runs of the rest, whatever the
      // configured behavior ([^P]+|[P]+).
      split_runs(
          piece, step.after_byte_level, [](int32_t cp) { return is_punctuation(cp) ? 1 : 0; }, [](int) { return true; },
          [](int) { return false; }, emit);
      return;
    }
    case PreTokenizerKind::Whitespace: {
      // \w+|[^\w\s]+ with the Rust regex crate's Unicode \w and \s, as in the Rust
      // crate ("naïve café" and "日本語" stay words); whitespace is dropped.
      // tokenizers.js: ASCII \w and JavaScript's \s.
      split_runs(
          piece, step.after_byte_level, [](int32_t cp) { return is_unicode_word(cp) ? 0 : is_white_space(cp) ? 2 : 1; },
          [](int cls) { return cls != 2; }, [](int) { return false; }, emit);
      return;
    }
    case PreTokenizerKind::WhitespaceSplit: {
      // JavaScript's \s, as tokenizers.js; the Rust crate splits at White_Space
      // (U+0085 yes, U+FEFF no).
      split_runs(
          piece, step.after_byte_level, [](int32_t cp) { return is_js_whitespace(cp) ? 1 : 0; }, [](int cls) { return cls == 0; },
          [](int) { return false; }, emit);
      return;
    }
  }
  emit(piece);
}

}  // namespace

void PreTokenizerChain::split(std::string_view text, bool at_input_start, FunctionRef<void(std::string_view)> word) const {
  if (text.empty()) return;
  if (steps_.empty()) {
    if (legacy_ == PreTokenizer::GPT2) split_gpt2(text, word);
    else word(text);
    return;
  }
  run_step(steps_, 0, text, at_input_start, word);
}

}  // namespace mmb
