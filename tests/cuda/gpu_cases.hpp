// The models the GPU tests (tests/cuda's plugin tests, tests/gpu's sessions) run: the
// parity cases of tests/support, plus what only the GPU tests add (relu2 feed-forwards,
// which the parity cases leave to the attention models), and how many of them a run
// on the CPU emulator of tests/cuda_emu (MMB_CUDA_EMU) takes, whose every emulated
// thread is a fiber: what costs microseconds on a device costs a second there.
//
// On the emulator every case still runs the per-step parity test, each in one dtype
// (the dtypes taken in turn, so every dtype meets many layer kinds); the tests of the
// machinery around the forward (prefill chunks, batches, state moves) take a subset
// that holds every layer kind, each in its dtype. Tolerances do not change.
#pragma once

#include "support/model_harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

namespace mmb::testing::gpu {

#ifdef MMB_CUDA_EMU
inline constexpr bool kEmulated = true;
#else
inline constexpr bool kEmulated = false;
#endif

// Nemotron-H's squared ReLU in an MLP, in MoE experts and in a shared expert.
inline ModelCase relu2_case() {
  using namespace builders;
  LayerConfig m = moe(4, 2, ff(32, ExpertAct::ReLU2), RouterAct::Sigmoid);
  m.moe.renorm = true;
  m.moe.n_shared = 1;
  m.moe.shared = ff(48, ExpertAct::ReLU2, true);
  return named("relu2 mlp and experts",
               model(32, 256, NormKind::RMS, NormKind::RMS, true,
                     {mamba(64, 16, 4, 2), mlp(ff(64, ExpertAct::ReLU2, true)), mamba(64, 8, 4, 2), m}),
               31);
}

inline std::vector<ModelCase> cases() {
  std::vector<ModelCase> out = parity_cases();
  out.push_back(relu2_case());
  return out;
}

// Each case once per dtype on a device; on the emulator each case once, the dtypes in
// turn. The name gets the dtype.
inline std::vector<ModelCase> with_dtypes(const std::vector<ModelCase>& base, std::initializer_list<DType> dtypes) {
  std::vector<ModelCase> out;
  const std::vector<DType> list(dtypes);
  for (size_t i = 0; i < base.size(); ++i)
    for (size_t j = 0; j < list.size(); ++j) {
      if (kEmulated && j != i % list.size()) continue;
      ModelCase d = base[i];
      d.dtype = list[j];
      d.name += std::string(" ") + std::string(dtype_name(list[j]));
      out.push_back(d);
    }
  return out;
}

// The cases of the machinery tests: all on a device; on the emulator those that hold,
// together, every layer kind and option the plugin runs (Mamba with every bias, MoE
// with every router and option, MLPs, parallel blocks, projection experts, a stateless
// model, relu2), each stored in the next of `dtypes` (the test's own). The session
// tests, which reach the same plugin calls through the public API, take two of them
// there: every kind of layer still, the routed projections and every feed-forward.
inline std::vector<ModelCase> machinery_cases(std::initializer_list<DType> dtypes, bool through_sessions = false) {
  if (!kEmulated) return cases();
  const std::set<std::string> chosen =
      through_sessions ? std::set<std::string>{"mixed plan", "x, z and out_proj experts"}
                       : std::set<std::string>{"mixed plan", "parallel mamba + moe", "x, z and out_proj experts",
                                               "feed-forward only", "relu2 mlp and experts"};
  std::vector<ModelCase> out;
  const std::vector<DType> list(dtypes);
  for (const ModelCase& c : cases())
    if (chosen.count(c.name)) {
      out.push_back(c);
      out.back().dtype = list[(out.size() - 1) % list.size()];
    }
  REQUIRE(out.size() == chosen.size());
  return out;
}

}  // namespace mmb::testing::gpu
