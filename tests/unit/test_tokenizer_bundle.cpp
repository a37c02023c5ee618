// The tokenizer in the bundle: every TokenizerData field (pipeline steps, added-token
// flags, BPE options, post-processor ids, stop ids, chat templates) survives the
// manifest's write and read; a bundle from before these fields (the demo model) still
// loads and tokenizes as before; and a tokenizer pipeline with a bad step stored in a
// bundle is refused with MMB_ERR_FORMAT when the model is built.
#include <catch2/catch.hpp>

#include "base/host_allocator.hpp"
#include "bundle/bundle_reader.hpp"
#include "bundle/byte_source.hpp"
#include "bundle/manifest.hpp"
#include "support/tokenizer_checks.hpp"
#include "tokenizer/tokenizer.hpp"

#include <cstring>
#include <filesystem>

using namespace mmb;

namespace {

// Every field set away from its default.
TokenizerData every_field() {
  TokenizerData t;
  t.kind = TokenizerKind::CharBPE;
  t.pre_tokenizer = PreTokenizer::None;
  t.normalizer = Normalizer::NFC;
  t.pieces = {"<unk>", "<s>", "</s>", "a", "b", "ab", "<0x0A>", std::string("\0\xff", 2), ""};
  t.merges = {{3, 4}};
  t.specials = {{0, "<unk>"}, {1, "<s>", true, false, true, false}, {2, "</s>", false, true, false, true}};
  t.added = {{7, std::string("\0\xff", 2), true, true, true, true}};
  t.bos_id = 1;
  t.eos_id = 2;
  t.pad_id = 2;
  t.unk_id = 0;
  t.add_bos = true;
  NormalizerStep replace{NormalizerKind::Replace, "\\s+", true, " ", false, false};
  NormalizerStep strip{NormalizerKind::Strip, "", false, "", true, true};
  NormalizerStep prepend{NormalizerKind::Prepend, "", false, "\xE2\x96\x81", false, false};
  t.normalizers = {replace, strip, prepend, NormalizerStep{NormalizerKind::NFKD}};
  PreTokenizerStep split;
  split.kind = PreTokenizerKind::Split;
  split.pattern = "[0-9]{1,3}";
  split.pattern_is_regex = true;
  split.behavior = SplitBehavior::MergedWithNext;
  split.invert = true;
  PreTokenizerStep meta;
  meta.kind = PreTokenizerKind::Metaspace;
  meta.replacement = "_";
  meta.prepend_scheme = PrependScheme::First;
  meta.split = false;
  PreTokenizerStep level;
  level.add_prefix_space = true;
  level.use_regex = false;
  PreTokenizerStep digits;
  digits.kind = PreTokenizerKind::Digits;
  digits.individual_digits = true;
  PreTokenizerStep empty_replacement;
  empty_replacement.kind = PreTokenizerKind::Metaspace;
  empty_replacement.replacement = "";
  t.pre_tokenizers = {split, meta, level, digits, empty_replacement};
  DecoderStep d_replace{DecoderKind::Replace, "\xE2\x96\x81", " "};
  DecoderStep d_strip{DecoderKind::Strip, "", " ", 1, 2};
  DecoderStep d_meta{DecoderKind::Metaspace};
  d_meta.replacement = "_";
  d_meta.prepend_scheme = PrependScheme::Never;
  t.decoders = {d_replace, DecoderStep{DecoderKind::ByteFallback}, DecoderStep{DecoderKind::Fuse}, d_strip, d_meta};
  t.byte_fallback = true;
  t.fuse_unk = true;
  t.ignore_merges = true;
  t.continuing_subword_prefix = "##";
  t.end_of_word_suffix = "</w>";
  t.post_prefix = {1, 1};
  t.post_suffix = {2};
  t.stop_ids = {2, 6};
  t.chat_templates = {{"default", "{{ messages }}"}, {"tool_use", "{% for m in messages %}{{ m }}{% endfor %}"}};
  return t;
}

// Checks two lists of the same length element by element with check(x, y).
template <class T, class Check>
void check_each(const std::vector<T>& a, const std::vector<T>& b, Check check) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) check(a[i], b[i]);
}

void check_same(const TokenizerData& a, const TokenizerData& b) {
  CHECK(a.kind == b.kind);
  CHECK(a.pre_tokenizer == b.pre_tokenizer);
  CHECK(a.normalizer == b.normalizer);
  CHECK(a.pieces == b.pieces);
  CHECK(a.merges == b.merges);
  const auto same_token = [](const SpecialToken& x, const SpecialToken& y) {
    CHECK(x.id == y.id);
    CHECK(x.text == y.text);
    CHECK(x.lstrip == y.lstrip);
    CHECK(x.rstrip == y.rstrip);
    CHECK(x.single_word == y.single_word);
    CHECK(x.normalized == y.normalized);
  };
  check_each(a.specials, b.specials, same_token);
  check_each(a.added, b.added, same_token);
  CHECK(a.bos_id == b.bos_id);
  CHECK(a.eos_id == b.eos_id);
  CHECK(a.pad_id == b.pad_id);
  CHECK(a.unk_id == b.unk_id);
  CHECK(a.add_bos == b.add_bos);
  check_each(a.normalizers, b.normalizers, [](const NormalizerStep& x, const NormalizerStep& y) {
    CHECK(x.kind == y.kind);
    CHECK(x.pattern == y.pattern);
    CHECK(x.pattern_is_regex == y.pattern_is_regex);
    CHECK(x.content == y.content);
    CHECK(x.left == y.left);
    CHECK(x.right == y.right);
  });
  check_each(a.pre_tokenizers, b.pre_tokenizers, [](const PreTokenizerStep& x, const PreTokenizerStep& y) {
    CHECK(x.kind == y.kind);
    CHECK(x.pattern == y.pattern);
    CHECK(x.pattern_is_regex == y.pattern_is_regex);
    CHECK(x.behavior == y.behavior);
    CHECK(x.invert == y.invert);
    CHECK(x.add_prefix_space == y.add_prefix_space);
    CHECK(x.use_regex == y.use_regex);
    CHECK(x.replacement == y.replacement);
    CHECK(x.prepend_scheme == y.prepend_scheme);
    CHECK(x.split == y.split);
    CHECK(x.individual_digits == y.individual_digits);
  });
  check_each(a.decoders, b.decoders, [](const DecoderStep& x, const DecoderStep& y) {
    CHECK(x.kind == y.kind);
    CHECK(x.pattern == y.pattern);
    CHECK(x.content == y.content);
    CHECK(x.start == y.start);
    CHECK(x.stop == y.stop);
    CHECK(x.replacement == y.replacement);
    CHECK(x.prepend_scheme == y.prepend_scheme);
  });
  CHECK(a.byte_fallback == b.byte_fallback);
  CHECK(a.fuse_unk == b.fuse_unk);
  CHECK(a.ignore_merges == b.ignore_merges);
  CHECK(a.continuing_subword_prefix == b.continuing_subword_prefix);
  CHECK(a.end_of_word_suffix == b.end_of_word_suffix);
  CHECK(a.post_prefix == b.post_prefix);
  CHECK(a.post_suffix == b.post_suffix);
  CHECK(a.stop_ids == b.stop_ids);
  check_each(a.chat_templates, b.chat_templates, [](const ChatTemplateText& x, const ChatTemplateText& y) {
    CHECK(x.name == y.name);
    CHECK(x.text == y.text);
  });
}

// Encodes and decodes a manifest with `tokenizer` (the config and tensors do not
// matter here). The bytes are copied to 8-byte aligned memory, as the reader has them.
TokenizerData round_trip(const TokenizerData& tokenizer) {
  const std::vector<std::byte> bytes = encode_manifest(ModelConfig{}, tokenizer, {}, {});
  std::vector<uint64_t> aligned((bytes.size() + 7) / 8);
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  return decode_manifest(std::span(reinterpret_cast<const std::byte*>(aligned.data()), bytes.size())).tokenizer;
}

}  // namespace

TEST_CASE("every tokenizer field survives the bundle manifest", "[tokenizer][bundle]") {
  const TokenizerData t = every_field();
  check_same(round_trip(t), t);
  // The defaults too (absent fields read back as their defaults).
  const TokenizerData plain = TokenizerData::bytes();
  check_same(round_trip(plain), plain);
  check_tokenizer(t, 16, MMB_ERR_FORMAT);
  TokenizerData far = t;
  far.stop_ids.push_back(20);
  CHECK_THROWS_WITH(check_tokenizer(far, 16, MMB_ERR_FORMAT), Catch::Contains("stop_ids holds 20"));
}

TEST_CASE("a bundle from before tokenizer pipelines still loads and tokenizes", "[tokenizer][bundle]") {
  const std::string path = std::string(MMB_SOURCE_DIR) + "/models/demo-moe-mamba.mmb";
  REQUIRE(std::filesystem::exists(path));
  static const HostAllocator allocator;
  const std::unique_ptr<LoadedBundle> bundle = LoadedBundle::load(open_file_source(path), ReadOptions{}, allocator);
  const TokenizerData& d = bundle->tokenizer();
  CHECK(d.kind == TokenizerKind::ByteBPE);
  CHECK(d.normalizers.empty());
  CHECK(d.pre_tokenizers.empty());
  CHECK(d.decoders.empty());
  CHECK(d.post_prefix.empty());
  CHECK(d.chat_templates.empty());
  const Tokenizer t(d);
  const std::string text = "The jury said it did find that the city's election was conducted \xe2\x80\x94 fairly.\n";
  const std::vector<int32_t> ids = test::encode(t, text);
  CHECK(ids.size() < text.size());  // merges happened
  CHECK(test::decode(t, ids) == text);
  CHECK(test::stream(t, ids) == text);
  for (int32_t id = 0; id < t.n_pieces(); ++id) CHECK(t.token_bytes(id) == t.piece(id));
  if (d.add_bos) CHECK(std::vector<int32_t>(t.prefix_ids().begin(), t.prefix_ids().end()) == std::vector<int32_t>{d.bos_id});
  else CHECK(t.prefix_ids().empty());
}
