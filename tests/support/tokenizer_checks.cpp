#include "support/tokenizer_checks.hpp"

#include "base/error.hpp"
#include "tokenizer/detokenizer.hpp"

#include <catch2/catch.hpp>

namespace mmb::test {

std::vector<int32_t> encode(const Tokenizer& t, std::string_view text, bool parse_special) {
  std::vector<int32_t> ids;
  t.encode(text, parse_special, ids);
  return ids;
}

std::string decode(const Tokenizer& t, const std::vector<int32_t>& ids, bool skip_special) {
  std::string s;
  t.decode(ids, s, skip_special);
  return s;
}

std::string stream(const Tokenizer& t, const std::vector<int32_t>& ids, bool after_bos) {
  Detokenizer d(t);
  if (after_bos) d.set_after_bos();
  std::string out;
  for (int32_t id : ids) d.push(id, out);
  d.flush(out);
  return out;
}

void require_format_error(const TokenizerData& d, const std::string& phrase) {
  try {
    Tokenizer t(d);
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_FORMAT);
    CHECK_THAT(e.what(), Catch::Contains(phrase));
    return;
  }
  FAIL("malformed tokenizer data was accepted; expected an error containing \"" << phrase << "\"");
}

}  // namespace mmb::test
