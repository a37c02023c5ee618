// Field-by-field comparison of model configs inside Catch2 tests, so a mismatch
// names the field and the layer.
#pragma once

#include "model/model_config.hpp"

namespace mmb::test {

void check_same_feed_forward(const FeedForwardConfig& a, const FeedForwardConfig& b);
void check_same_config(const ModelConfig& a, const ModelConfig& b);

}  // namespace mmb::test
