// The calls the tokenizer tests make again and again, in one line each: a text's ids,
// ids' text (whole, or streamed), and the check that malformed tokenizer data is
// refused.
#pragma once

#include "tokenizer/tokenizer.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mmb::test {

std::vector<int32_t> encode(const Tokenizer& t, std::string_view text, bool parse_special = false);
std::string decode(const Tokenizer& t, const std::vector<int32_t>& ids, bool skip_special = false);
// What a Detokenizer gives for `ids` pushed one by one, then flushed; with after_bos,
// as if the stream had just had BOS (Detokenizer::set_after_bos()).
std::string stream(const Tokenizer& t, const std::vector<int32_t>& ids, bool after_bos = false);

// Building a Tokenizer from `d` fails with MMB_ERR_FORMAT and a message containing
// `phrase`.
void require_format_error(const TokenizerData& d, const std::string& phrase);

}  // namespace mmb::test
