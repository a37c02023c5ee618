// Test-side reading of tokenizer.json "normalizer" and "pre_tokenizer" objects into
// the step lists the runtime consumes, so that one JSON config drives both our steps
// and the reference's (tests/tokenizer/pipeline_steps.js). Only the kinds the runtime
// has; anything else fails the test.
#pragma once

#include "model/tokenizer_data.hpp"

#include <nlohmann/json.hpp>

#include <vector>

namespace mmb::test {

std::vector<NormalizerStep> normalizer_steps_from_json(const nlohmann::json& config);
std::vector<PreTokenizerStep> pre_tokenizer_steps_from_json(const nlohmann::json& config);

}  // namespace mmb::test
