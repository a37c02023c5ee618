// The word cache of long encodes: a word finds exactly the ids kept for it, never
// those of another word sharing its slot, and words it cannot hold are not kept.
#include <catch2/catch.hpp>

#include "tokenizer/word_cache.hpp"

#include <string>
#include <vector>

using namespace mmb;

TEST_CASE("the word cache finds what was kept, and only for that word", "[tokenizer]") {
  WordCache cache;
  std::vector<int32_t> out = {7};
  CHECK_FALSE(cache.find("hello", out));  // nothing allocated yet
  cache.keep("hello", std::vector<int32_t>{1, 2});
  REQUIRE(cache.find("hello", out));
  CHECK(out == std::vector<int32_t>{7, 1, 2});
  CHECK_FALSE(cache.find("hell", out));
  CHECK_FALSE(cache.find("hello!", out));
  CHECK_FALSE(cache.find("", out));

  // Many words: each finds its own ids or nothing (a slot holds the last word kept).
  for (int i = 0; i < 20000; ++i) {
    const std::string w = "w" + std::to_string(i);
    cache.keep(w, std::vector<int32_t>{i, -i});
  }
  size_t found = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<int32_t> ids;
    if (!cache.find("w" + std::to_string(i), ids)) continue;
    ++found;
    CHECK(ids == std::vector<int32_t>{i, -i});
  }
  CHECK(found > 1000);   // the last words kept are still there
  CHECK(found < 20000);  // and a fixed number of slots cannot hold them all

  // Too long a word, or too many ids: not kept.
  const std::string long_word(23, 'x');
  cache.keep(long_word, std::vector<int32_t>{1});
  cache.keep("many", std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7});
  std::vector<int32_t> ids;
  CHECK_FALSE(cache.find(long_word, ids));
  CHECK_FALSE(cache.find("many", ids));
  // An empty word with no ids is a word like any other.
  cache.keep("", std::vector<int32_t>{});
  CHECK(cache.find("", ids));
  CHECK(ids.empty());
}
