// embedding_gather: rows of the table, widened exactly to f32 (tolerance 0), from a
// table with more rows than the vocabulary and a width that is not a multiple of 32.
#include "cuda_test_support.hpp"
#include "embedding.cuh"

using namespace mmb::cuda;
using namespace mmb::cuda::test;

TEST_CASE("embedding_gather copies the token rows exactly", "[cuda][embedding]") {
  for (WeightType type : {WeightType::F32, WeightType::F16, WeightType::BF16}) {
    INFO(type_name(type));
    const uint32_t rows = 41, d = 45;  // 37 tokens in use, 4 padding rows
    Rng rng(7);
    TestMatrix embed(rng.values(size_t(rows) * d), rows, d, type);
    const std::vector<int32_t> tokens = {0, 36, 5, 5, 40, 17};
    DeviceArray<int32_t> dev_tokens(tokens);
    DeviceArray<float> out(tokens.size() * d);
    embedding_gather(nullptr, embed.matrix, dev_tokens.get(), out.get(), int(tokens.size()));
    const std::vector<float> got = out.read();
    for (size_t r = 0; r < tokens.size(); ++r)
      for (uint32_t j = 0; j < d; ++j) REQUIRE(got[r * d + j] == embed.values[size_t(tokens[r]) * d + j]);
  }
}
