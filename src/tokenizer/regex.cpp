#include "tokenizer/regex.hpp"

#include "base/error.hpp"
#include "tokenizer/unicode_text.hpp"

#include <pcre2.h>

#include <cstdint>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

// ---------------------------------------------------------------------------------
// Pattern translation. tokenizer.json patterns are written for Rust's Oniguruma-like
// syntax; the reference encoder (tokenizers.js) rewrites them into JavaScript regexes
// before running them, and we rewrite the same way into PCRE2 syntax so that both
// cut text identically. Each rule below names the construct and what it becomes.
// ---------------------------------------------------------------------------------
namespace {

// Oniguruma's \w is Unicode's word class (letters, marks, decimal digits, connector
// punctuation, and the superscript digits / vulgar fractions Rust counts as digits).
constexpr const char* kWordCharsInClass = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}";
constexpr const char* kWordCharsExtra = "\\x{B2}\\x{B3}\\x{B9}\\x{BC}-\\x{BE}";
constexpr const char* kHexChars = "0-9A-Fa-f";

std::string word_class(bool negated) {
  return cat("[", negated ? "^" : "", kWordCharsInClass, kWordCharsExtra, "]");
}

// \b and \B over the Unicode word class, as lookarounds (PCRE2's own \b would use a
// narrower \w).
std::string word_boundary(bool negated) {
  std::string w = word_class(false);
  if (!negated) return cat("(?:(?<!", w, ")(?=", w, ")|(?<=", w, ")(?!", w, "))");
  return cat("(?:(?<!", w, ")(?!", w, ")|(?<=", w, ")(?=", w, "))");
}

bool is_ascii_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// The value of 1 to 8 hex digits, or -1 when `hex` is not that.
long parse_hex(std::string_view hex) {
  if (hex.empty() || hex.size() > 8) return -1;
  long value = 0;
  for (char c : hex) {
    if (!is_hex(c)) return -1;
    value = value * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return value;
}

// The letter both ways, for ASCII-only case folding inside (?i:...).
std::string fold_letter(char c) {
  char lower = char(c | 0x20), upper = char(c & ~0x20);
  return cat("[", lower, upper, "]");
}

// Length of the UTF-8 sequence that starts with `lead` (1 for anything odd: the
// pattern is copied byte for byte then).
size_t utf8_length(uint8_t lead) {
  if (lead >= 0xF0 && lead < 0xF8) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Bloom's pattern `[^(\s|[.,!?…])]` means "neither whitespace nor these", written
// with alternation inside a class; tokenizers.js flattens it first, and so do we.
std::string flatten_bloom_class(std::string_view pattern) {
  std::string out;
  size_t at = 0;
  constexpr std::string_view kOpen = "[^(\\s|[";
  constexpr std::string_view kClose = "])]";
  while (at < pattern.size()) {
    size_t open = pattern.find(kOpen, at);
    if (open == std::string_view::npos) break;
    size_t inner = open + kOpen.size();
    size_t close = pattern.find(']', inner);
    if (close == std::string_view::npos || close == inner || pattern.substr(close, kClose.size()) != kClose) {
      out.append(pattern.substr(at, inner - at));
      at = inner;
      continue;
    }
    out.append(pattern.substr(at, open - at));
    out += "[^()|\\s";
    out.append(pattern.substr(inner, close - inner));
    out += "]";
    at = close + kClose.size();
  }
  out.append(pattern.substr(at));
  return out;
}

// The ASCII letters to add to the class `[body]` so that it holds both cases of
// each letter: asked of PCRE2 itself, letter by letter. A body PCRE2 rejects gets
// none (the whole pattern then fails to compile with PCRE2's message).
std::string ascii_case_additions(const std::string& body) {
  std::string cls = cat("[", body, "]");
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(cls.data()), cls.size(), PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED,
                                   &error, &offset, nullptr);
  if (!code) return {};
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  std::string additions;
  if (data) {
    auto has = [&](char c) {
      return pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(&c), 1, 0, 0, data, nullptr) >= 0;
    };
    for (char lower = 'a'; lower <= 'z'; ++lower) {
      char upper = char(lower - 'a' + 'A');
      bool has_lower = has(lower), has_upper = has(upper);
      if (has_lower != has_upper) additions += has_lower ? upper : lower;
    }
  }
  pcre2_match_data_free(data);
  pcre2_code_free(code);
  return additions;
}

// Translates one character class starting at `pattern[at] == '['`; returns the index
// after its closing bracket. Escapes become their Unicode meaning as above; POSIX
// bracket names become properties. Nested classes and && intersections are copied
// as they are (no real tokenizer uses them).
size_t translate_class(std::string_view pattern, size_t at, bool ascii_fold, std::string& out) {
  std::string body;
  size_t i = at + 1;
  bool negated = i < pattern.size() && pattern[i] == '^';
  if (negated) ++i;
  size_t first = i;
  bool closed = false;
  while (i < pattern.size()) {
    char c = pattern[i];
    if (c == ']' && i != first) {
      closed = true;
      ++i;
      break;
    }
    if (c == ']') {  // a ']' first in the class is a literal
      body += "\\]";
      ++i;
      continue;
    }
    if (c == '[' && pattern.substr(i, 2) == "[:") {
      size_t end = pattern.find(":]", i + 2);
      if (end != std::string_view::npos) {
        std::string_view name = pattern.substr(i + 2, end - i - 2);
        bool posix_negated = !name.empty() && name[0] == '^';
        if (posix_negated) name.remove_prefix(1);
        std::string fragment;
        if (name == "alpha") fragment = "\\p{Alphabetic}";
        else if (name == "alnum") fragment = "\\p{Alphabetic}\\p{Nd}";
        else if (name == "digit") fragment = "\\p{Nd}";
        else if (name == "lower") fragment = "\\p{Lowercase}";
        else if (name == "upper") fragment = "\\p{Uppercase}";
        else if (name == "space") fragment = "\\p{White_Space}";
        else if (name == "blank") fragment = "\\t\\p{Zs}";
        else if (name == "punct") fragment = "\\p{P}\\p{S}";
        else if (name == "cntrl") fragment = "\\p{Cc}";
        else if (name == "word") fragment = kWordCharsInClass;
        else if (name == "xdigit") fragment = kHexChars;
        if (!fragment.empty() && !posix_negated) {
          body += fragment;
          i = end + 2;
          continue;
        }
      }
    }
    if (c == '\\' && i + 1 < pattern.size()) {
      char next = pattern[i + 1];
      if ((next == 'p' || next == 'P') && pattern.substr(i + 2, 6) == "{Word}") {
        body += next == 'p' ? kWordCharsInClass : "\\W";
        i += 8;
        continue;
      }
      if (next == 'u' && i + 5 < pattern.size() && is_hex(pattern[i + 2]) && is_hex(pattern[i + 3]) &&
          is_hex(pattern[i + 4]) && is_hex(pattern[i + 5])) {
        body += cat("\\x{", pattern.substr(i + 2, 4), "}");
        i += 6;
        continue;
      }
      i += 2;
      switch (next) {
        case 'h': body += kHexChars; break;
        case 'w': body += kWordCharsInClass; break;
        case 'd': body += "\\p{Nd}"; break;
        case 'D': body += "\\P{Nd}"; break;
        case 's': body += "\\p{White_Space}"; break;
        case 'S': body += "\\P{White_Space}"; break;
        case 'v': body += "\\x0B"; break;  // JavaScript's \v is the vertical tab, PCRE2's a class
        case 'a': body += "\\x07"; break;
        case 'e': body += "\\x1B"; break;
        default:
          body += '\\';
          body += next;
          // \p{..}, \x{..}: copy the braces' content too
          if ((next == 'p' || next == 'P' || next == 'x') && i < pattern.size() && pattern[i] == '{') {
            size_t end = pattern.find('}', i);
            if (end != std::string_view::npos) {
              body.append(pattern.substr(i, end + 1 - i));
              i = end + 1;
            }
          }
      }
      continue;
    }
    size_t n = utf8_length(uint8_t(c));
    body.append(pattern.substr(i, n));
    i += n;
  }
  if (!closed) fail(MMB_ERR_FORMAT, "regex ", pattern, ": unterminated character class at offset ", at);
  // Inside (?i:...) the class also takes the other case of each ASCII letter it has
  // in one case only (as the reference does; not PCRE2's caseless mode, which would
  // fold U+017F into s and the Kelvin sign into k).
  if (ascii_fold) body += ascii_case_additions(body);
  out += cat("[", negated ? "^" : "", body, "]");
  return i;
}

// Reads a braced quantifier `{n}`, `{n,}`, `{n,m}` or `{,m}` at `at`; returns its length
// (0 when it is not one) and the body with an empty lower bound made 0.
size_t read_quantifier(std::string_view pattern, size_t at, std::string& body) {
  size_t i = at + 1;
  size_t digits_before = 0, digits_after = 0;
  while (i < pattern.size() && pattern[i] >= '0' && pattern[i] <= '9') ++i, ++digits_before;
  bool comma = i < pattern.size() && pattern[i] == ',';
  if (comma) {
    ++i;
    while (i < pattern.size() && pattern[i] >= '0' && pattern[i] <= '9') ++i, ++digits_after;
  }
  if (i >= pattern.size() || pattern[i] != '}') return 0;
  if (digits_before == 0 && (!comma || digits_after == 0)) return 0;
  body = std::string(pattern.substr(at + 1, i - at - 1));
  if (digits_before == 0) body = "0" + body;
  return i + 1 - at;
}

std::string translate(std::string_view source) {
  std::string flat = flatten_bloom_class(source);
  std::string_view pattern = flat;
  std::string out;
  out.reserve(pattern.size() * 2);
  long atom_start = -1;
  bool last_was_quantifier = false;
  bool ascii_fold = false;
  std::vector<std::pair<long, bool>> groups;  // where each open group began, its fold state
  auto emit_atom = [&](std::string_view text) {
    atom_start = long(out.size());
    out += text;
    last_was_quantifier = false;
  };
  size_t i = 0;
  while (i < pattern.size()) {
    char c = pattern[i];
    if (c == '\\') {
      if (i + 1 >= pattern.size()) {
        out += c;
        break;
      }
      char next = pattern[i + 1];
      if ((next == 'p' || next == 'P') && pattern.substr(i + 2, 6) == "{Word}") {
        emit_atom(word_class(next == 'P'));
        i += 8;
        continue;
      }
      if ((next == 'p' || next == 'P' || next == 'x') && i + 2 < pattern.size() && pattern[i + 2] == '{') {
        size_t end = pattern.find('}', i + 2);
        if (end != std::string_view::npos) {
          std::string_view text = pattern.substr(i, end + 1 - i);
          std::string atom(text);
          if (next == 'x' && ascii_fold) {
            long cp = parse_hex(pattern.substr(i + 3, end - i - 3));
            if (cp >= 0 && cp < 0x80 && is_ascii_letter(char(cp))) atom = fold_letter(char(cp));
          }
          emit_atom(atom);
          i = end + 1;
          continue;
        }
      }
      if (next == 'x' && i + 3 < pattern.size() && is_hex(pattern[i + 2]) && is_hex(pattern[i + 3])) {
        long cp = parse_hex(pattern.substr(i + 2, 2));
        emit_atom(ascii_fold && cp < 0x80 && is_ascii_letter(char(cp)) ? fold_letter(char(cp)) : std::string(pattern.substr(i, 4)));
        i += 4;
        continue;
      }
      if (next == 'u' && i + 5 < pattern.size() && is_hex(pattern[i + 2]) && is_hex(pattern[i + 3]) &&
          is_hex(pattern[i + 4]) && is_hex(pattern[i + 5])) {
        emit_atom(cat("\\x{", pattern.substr(i + 2, 4), "}"));  // JavaScript's \uHHHH
        i += 6;
        continue;
      }
      if (next == 'c' && i + 2 < pattern.size() && is_ascii_letter(pattern[i + 2])) {
        emit_atom(pattern.substr(i, 3));
        i += 3;
        continue;
      }
      size_t n = utf8_length(uint8_t(next));
      std::string_view escaped = pattern.substr(i + 1, n);
      i += 1 + n;
      switch (next) {
        case 'G': continue;  // the search always starts where the last match ended
        case 'n': case 'r': case 't': case 'f': emit_atom(cat("\\", next)); continue;
        case 'v': emit_atom("\\x0B"); continue;  // JavaScript's \v: one character, not PCRE2's class
        case 'A': emit_atom("\\A"); continue;
        case 'z': emit_atom("\\z"); continue;
        case 'Z': emit_atom("(?=\\n?\\z)"); continue;  // one optional final \n, not \r\n
        case 'h': emit_atom(cat("[", kHexChars, "]")); continue;  // Oniguruma's \h: a hex digit
        case 'H': emit_atom(cat("[^", kHexChars, "]")); continue;
        case 'w': emit_atom(word_class(false)); continue;
        case 'W': emit_atom(word_class(true)); continue;
        // Oniguruma's \d and \s are Unicode: decimal digits and the White_Space property
        // (which has U+0085 and not U+FEFF, unlike a bare JavaScript \s).
        case 'd': emit_atom("\\p{Nd}"); continue;
        case 'D': emit_atom("\\P{Nd}"); continue;
        case 's': emit_atom("\\p{White_Space}"); continue;
        case 'S': emit_atom("\\P{White_Space}"); continue;
        case 'b': emit_atom(word_boundary(false)); continue;
        case 'B': emit_atom(word_boundary(true)); continue;
        case 'a': emit_atom("\\x07"); continue;
        case 'e': emit_atom("\\x1B"); continue;
        default:
          emit_atom(cat("\\", escaped));  // a literal, a backreference...
          continue;
      }
    }
    switch (c) {
      case '[':
        atom_start = long(out.size());
        i = translate_class(pattern, i, ascii_fold, out);
        last_was_quantifier = false;
        continue;
      case ']': emit_atom("\\]"); ++i; continue;
      case '}': emit_atom("\\}"); ++i; continue;
      case '.': emit_atom("[^\\n]"); ++i; continue;  // Oniguruma's dot: anything but \n
      case '^': emit_atom("(?:\\A|(?<=\\n))"); ++i; continue;  // ^ and $ are per line
      case '$': emit_atom("(?:(?=\\n)|\\z)"); ++i; continue;
      case '(': {
        // (?i:...) folds ASCII letters only ([sS]); the reference does so, which keeps
        // e.g. U+017F and the Kelvin sign out of the contractions. An atomic group
        // (?>...) becomes a plain one, as in the reference.
        std::string_view rest = pattern.substr(i);
        std::string_view prefix = "(";
        std::string_view emitted = "(";
        bool fold = false;
        if (rest.substr(0, 4) == "(?i:") {
          prefix = "(?i:", emitted = "(?:", fold = true;
        } else if (rest.substr(0, 3) == "(?>") {
          prefix = "(?>", emitted = "(?:";
        } else if (rest.substr(0, 4) == "(?<=" || rest.substr(0, 4) == "(?<!") {
          prefix = emitted = rest.substr(0, 4);
        } else if (rest.substr(0, 3) == "(?:" || rest.substr(0, 3) == "(?=" || rest.substr(0, 3) == "(?!") {
          prefix = emitted = rest.substr(0, 3);
        } else if (rest.substr(0, 3) == "(?<") {
          size_t end = rest.find('>');
          if (end != std::string_view::npos) prefix = emitted = rest.substr(0, end + 1);
        }
        groups.emplace_back(long(out.size()), ascii_fold);
        if (fold) ascii_fold = true;
        out += emitted;
        last_was_quantifier = false;
        i += prefix.size();
        continue;
      }
      case ')':
        out += c;
        if (!groups.empty()) {
          atom_start = groups.back().first;
          ascii_fold = groups.back().second;
          groups.pop_back();
        } else {
          atom_start = -1;
          ascii_fold = false;
        }
        last_was_quantifier = false;
        ++i;
        continue;
      case '|':
        out += c;
        atom_start = -1;
        last_was_quantifier = false;
        ++i;
        continue;
      case '{': {
        std::string body;
        size_t n = read_quantifier(pattern, i, body);
        if (n == 0 || atom_start < 0) {
          emit_atom("\\{");
          ++i;
          continue;
        }
        i += n;
        // Oniguruma reads `{n,m}+` as "({n,m}) one or more times", not as possessive.
        if (i < pattern.size() && (pattern[i] == '+' || pattern[i] == '*')) {
          std::string atom = out.substr(size_t(atom_start));
          out.resize(size_t(atom_start));
          out += cat("(?:", atom, "{", body, "})", pattern[i]);
          ++i;
        } else {
          out += cat("{", body, "}");
        }
        last_was_quantifier = true;
        continue;
      }
      case '+':
        // A possessive `x++` / `x?+` / `x*+` runs as the greedy quantifier, as in the
        // reference (cl100k's `[^\r\n\p{L}\p{N}]?+\p{L}+` then gives the same pieces).
        if (!last_was_quantifier) out += c;
        last_was_quantifier = true;
        ++i;
        continue;
      case '*':
      case '?':
        out += c;
        last_was_quantifier = true;
        ++i;
        continue;
      default: {
        if (ascii_fold && is_ascii_letter(c)) {
          emit_atom(fold_letter(c));
          ++i;
          continue;
        }
        size_t n = utf8_length(uint8_t(c));
        emit_atom(pattern.substr(i, n));
        i += n;
      }
    }
  }
  return out;
}

// One thread's matching state, shared by every Regex the thread runs: match data
// for the whole-match offsets, and a JIT stack that grows to 1 MiB.
struct ThreadMatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  ThreadMatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
    if (!data || !context) throw std::bad_alloc();
    if (jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~ThreadMatchState() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  ThreadMatchState(const ThreadMatchState&) = delete;
  ThreadMatchState& operator=(const ThreadMatchState&) = delete;
};

ThreadMatchState& thread_match_state() {
  thread_local ThreadMatchState state;
  return state;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  int n = pcre2_get_error_message(code, buffer, sizeof buffer);
  return n < 0 ? cat("PCRE2 error ", code) : std::string(reinterpret_cast<const char*>(buffer), size_t(n));
}

}  // namespace

struct Regex::Compiled {
  std::string pattern;
  std::string translated;
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() { pcre2_code_free(code); }
};

Regex::Regex(std::string_view pattern) : compiled_(std::make_unique<Compiled>()) {
  compiled_->pattern = std::string(pattern);
  compiled_->translated = translate(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  // MATCH_INVALID_UTF: text that is not valid UTF-8 is searched too, its bad bytes
  // matching nothing. UCP: what is left of \w, \W inside classes is Unicode, as the
  // reference's rewrite makes it.
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled_->translated.data()), compiled_->translated.size(),
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (!compiled_->code) {
    fail(MMB_ERR_FORMAT, "regex ", pattern, ": ", pcre2_message(error), " at offset ", offset,
         compiled_->translated != pattern ? cat(" of its translation ", compiled_->translated) : std::string());
  }
  // Without JIT (another platform, or no executable memory) the interpreter runs it.
  compiled_->jit = pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

const std::string& Regex::pattern() const { return compiled_->pattern; }

void Regex::for_each_match(std::string_view text, FunctionRef<void(size_t begin, size_t end)> match) const {
  ThreadMatchState& state = thread_match_state();
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t at = 0;
  while (at <= text.size()) {
    int rc = compiled_->jit ? pcre2_jit_match(compiled_->code, subject, text.size(), at, 0, state.data, state.context)
                            : PCRE2_ERROR_JIT_STACKLIMIT;
    // The JIT's stack ran out (or there is no JIT): the interpreter keeps its
    // backtracking on the heap.
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(compiled_->code, subject, text.size(), at, PCRE2_NO_JIT, state.data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) fail(MMB_ERR_FORMAT, "regex ", compiled_->pattern, ": ", pcre2_message(rc), " at byte ", at);
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    size_t begin = ovector[0], end = ovector[1];
    if (end < begin) end = begin;  // \K in a lookahead; never in tokenizer patterns
    match(begin, end);
    at = end;
    if (end > begin) continue;
    // An empty match: the next search starts one character on, as a JavaScript
    // /gu regex's lastIndex does (an invalid byte is one character).
    if (at >= text.size()) return;
    at += utf8_char_length(text, at);
  }
}

}  // namespace mmb
