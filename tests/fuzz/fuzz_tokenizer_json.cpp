// The pack tool's tokenizer conversion on arbitrary text, the way `mmb pack` runs it:
// tokenizer.json through tokenizer_from_hf_json, then (when the input holds a NUL
// byte) the text after the NUL as the tokenizer_config.json beside it. mmb::Error is
// the converter's way to refuse a file; anything else escaping, or a sanitizer report,
// is a finding. A converted tokenizer must then build, encode and decode: what the
// converter accepts, the bundle loader must accept too.
#include "tokenizer/tokenizer.hpp"
#include "tokenizer_json.hpp"

#include "base/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

// Texts that reach pre-tokenizer, merges, NFC and the special tokens of the seeds.
constexpr std::string_view kSamples[] = {
    "Hello hello world, it's 42!", " <|endoftext|>  two  spaces\n\ttab",
    "caf\xc3\xa9 cafe\xcc\x81 \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80", std::string_view("\xff\xfe\x00\x80 <s></s>", 11)};

void exercise(const mmb::TokenizerData& data) {
  const mmb::Tokenizer tokenizer(data);  // throws only mmb::Error for data it refuses
  bool plain = data.normalizer == mmb::Normalizer::None && data.normalizers.empty() && data.pre_tokenizers.empty() &&
               data.decoders.empty() && data.kind != mmb::TokenizerKind::CharBPE;
  for (const auto* list : {&data.specials, &data.added})
    for (const mmb::SpecialToken& t : *list) plain = plain && !t.lstrip && !t.rstrip;
  std::vector<int32_t> ids;
  std::string back;
  for (std::string_view text : kSamples) {
    for (bool parse_special : {false, true}) {
      ids.clear();
      tokenizer.encode(text, parse_special, ids);
      back.clear();
      tokenizer.decode(ids, back);
      // Without normalization or a pipeline every byte string encodes and decodes
      // back to itself.
      if (plain && back != text) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string tokenizer_json(input.substr(0, nul));
  mmb::TokenizerData converted;
  try {
    converted = mmb::tokenizer_from_hf_json(tokenizer_json);
  } catch (const mmb::Error&) {
    return 0;
  }
  exercise(converted);  // the converter validated it: a refusal now is a finding
  if (nul == std::string_view::npos) return 0;
  try {
    mmb::apply_hf_tokenizer_config(converted, std::string(input.substr(nul + 1)));
  } catch (const mmb::Error&) {
    return 0;
  }
  try {
    exercise(converted);
  } catch (const mmb::Error& e) {
    // apply_hf_tokenizer_config promises a tokenizer the loader takes.
    std::fprintf(stderr, "tokenizer_config.json gave a tokenizer the runtime refuses: %s\n", e.what());
    std::abort();
  }
  return 0;
}
