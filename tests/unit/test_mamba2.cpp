// Mamba-2 (SSD) layers and Mamba-1's dt/B/C norms (Falcon-Mamba, Jamba) in the library,
// through the public C API: logits against the float64 reference in every weight dtype,
// prefill (the chunked SSD form) against stepping, saved and forked state, batched
// steps, the state's size; and configs that break the layer's rules, refused by name.
// The reference itself is checked in test_mamba2_reference.cpp.
#include <catch2/catch.hpp>

#include "reference/reference_model.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/mamba2_models.hpp"
#include "support/model_harness.hpp"

#include "base/host_allocator.hpp"
#include "bundle/bundle_format.hpp"
#include "bundle/bundle_reader.hpp"
#include "bundle/manifest.hpp"
#include "runtime/state_blob.hpp"

#include <moemamba/moemamba.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <set>

using namespace mmb;
using namespace mmb::testing;
using mmb::reference::ReferenceModel;

namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A case loaded once, with its reference weights.
struct Fixture {
  explicit Fixture(ModelCase k) : c(std::move(k)), weights(build_mamba2_weights(c)) {}
  ModelCase c;
  SyntheticModel weights;
  RuntimePtr rt = make_runtime();
  ModelPtr model = load_model(rt.get(), weights);
  uint32_t vocab = c.config.vocab_size;

  ReferenceModel reference() const { return build_reference(weights); }
  SessionPtr session() const { return make_session(model.get()); }
};

void check_close_to_reference(const std::vector<float>& got, const std::vector<double>& expected) {
  const double diff = max_abs_diff(got, expected);
  INFO("max |lib - ref| = " << diff << ", tolerance " << logit_tolerance(expected));
  CHECK(diff <= logit_tolerance(expected));
}

// The float part of a saved state (after the blob's header).
std::vector<float> state_floats_of(const mmb_session* session, const ModelConfig& config) {
  const std::vector<uint8_t> blob = save_state(session);
  const size_t n = expected_state_floats(config);
  REQUIRE(blob.size() == kStateHeaderSize + 4 * n);
  std::vector<float> out(n);
  std::memcpy(out.data(), blob.data() + kStateHeaderSize, 4 * n);
  return out;
}

// Two states of the same tokens, computed in different orders, agree per layer to
// `relative` of the largest magnitude in that layer's state (so a layer of small
// values is not judged by another's large ones). Layers' states lie in layer order.
void check_states_close(const std::vector<float>& got, const std::vector<float>& expected, const ModelConfig& config,
                        double relative) {
  REQUIRE(got.size() == expected.size());
  size_t begin = 0;
  for (size_t i = 0; i < config.layers.size(); ++i) {
    ModelConfig one = config;
    one.layers = {config.layers[i]};
    const size_t end = begin + expected_state_floats(one);
    double scale = 0.0, diff = 0.0;
    for (size_t k = begin; k < end; ++k) {
      scale = std::max(scale, double(std::abs(expected[k])));
      diff = std::max(diff, double(std::abs(got[k] - expected[k])));
    }
    INFO("layer " << i << ": max |prefill - steps| = " << diff << ", largest |state| " << scale);
    CHECK(diff <= relative * scale);
    begin = end;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------
// The test models.

TEST_CASE("Mamba-2 cases cover every option of the layer and of Mamba-1's inner norms", "[parity]") {
  std::set<bool> one_group, own_norm_group, gated, per_channel, in_bias, out_bias, conv_bias, dt_min, dt_max, no_conv;
  std::set<int> inner_norms;
  bool big_state = false, with_moe = false, with_mamba = false;
  for (const ModelCase& c : mamba2_cases()) {
    validate_config(c.config);
    bool has2 = false, has_moe = false, has1 = false;
    for (const LayerConfig& l : c.config.layers) {
      has_moe |= l.has_moe();
      has1 |= l.has_mamba();
      if (l.has_mamba()) inner_norms.insert(int(l.mamba.dt_bc_norm));
      if (l.kind != LayerKind::Mamba2) continue;
      has2 = true;
      const Mamba2Config& m = l.mamba2;
      one_group.insert(m.n_groups == 1);
      own_norm_group.insert(m.norm_group_size != 0 && m.norm_group_size != m.d_inner / m.n_groups);
      gated.insert(m.gated_norm);
      per_channel.insert(m.d_per_channel);
      in_bias.insert(m.in_proj_bias);
      out_bias.insert(m.out_proj_bias);
      conv_bias.insert(m.conv_bias);
      dt_min.insert(m.dt_min > 0);
      dt_max.insert(std::isfinite(m.dt_max));
      no_conv.insert(m.d_conv == 1);
      big_state |= m.d_state == 256;
    }
    with_moe |= has2 && has_moe;
    with_mamba |= has2 && has1;
  }
  for (const auto* s : {&one_group, &own_norm_group, &gated, &per_channel, &in_bias, &out_bias, &conv_bias, &dt_min,
                        &dt_max, &no_conv})
    CHECK(s->size() == 2);
  CHECK(inner_norms.size() == 3);
  CHECK(big_state);
  CHECK(with_moe);
  CHECK(with_mamba);
}

// ---------------------------------------------------------------------------------
// The library against the reference.

TEST_CASE("Mamba-2 and inner-norm models: f32 logits match the reference", "[parity]") {
  for (const ModelCase& c : mamba2_cases()) check_parity(c, build_mamba2_weights(c), 24);
}

TEST_CASE("Mamba-2 and inner-norm models: f16 and bf16 weights match the reference on the rounded weights", "[parity]") {
  // As in test_model_parity.cpp: the reference reads the rounded values and the library
  // widens them exactly, so the f32 tolerance applies unchanged.
  const std::set<std::string> chosen = {"mamba2 G=1", "mamba2 H=8 G=2, norm groups of 16, biases, D per channel",
                                        "mamba2 H=8 G=4, no gated norm, no conv bias, dt clamped", "moe-mamba2",
                                        "falcon-mamba-like: RMS dt/B/C norms", "jamba-like: weighted dt/B/C norms"};
  const size_t runs = check_parity_in_dtypes(mamba2_cases(), chosen, {DType::F16, DType::BF16}, build_mamba2_weights, 16);
  CHECK(runs == 2 * chosen.size());
}

TEST_CASE("Mamba-2 and inner-norm models: q8 weights match the reference on the dequantized weights", "[parity][q8]") {
  // in_proj and out_proj are q8 (packed_dtype), the reference reads q * scale exactly: the
  // f32 tolerance applies, as in test_model_parity.cpp.
  const std::set<std::string> chosen = {"mamba2 H=8 G=2, norm groups of 16, biases, D per channel", "mamba2 d_state 256",
                                        "mamba + mamba2 mixed plan", "jamba-like: weighted dt/B/C norms"};
  CHECK(check_parity_in_dtypes(mamba2_cases(), chosen, {DType::Q8}, build_mamba2_weights, 16) == chosen.size());
}

// ---------------------------------------------------------------------------------
// Sessions.

TEST_CASE("Mamba-2 prefill of n tokens equals n steps in logits and state, across SSD chunks",
          "[parity][session][threads]") {
  // Prefill runs Mamba-2 in the chunked SSD form (chunks of 64 tokens: matrix products
  // C B^T under the decay mask exp(cum_t - cum_s) within a chunk, the state carried
  // between chunks); stepping runs the recurrence. Both sum the same float32 terms in
  // different orders and take exp of a cumulated sum of dt A instead of a product of
  // exps: each is within ~1e-6 relative of the exact value per chunk (sums of up to
  // N = 256 and 64 terms, |cum| up to ~10 carrying a 6e-8 relative rounding into the
  // exponent), ~1e-5 after a few layers. 1e-4 of the largest logit (+1, as for the
  // reference) and of the largest state value per layer keeps a tenfold margin, while a
  // slip at a chunk boundary (the carried state dropped, a decay applied twice or not at
  // all, an off-by-one in the causal mask) is off by O(1). Lengths around one chunk
  // (63, 64, 65), several (150), and the shortest (1, 2).
  const char* names[] = {"mamba2 G=1",
                         "mamba2 H=8 G=2, norm groups of 16, biases, D per channel",
                         "mamba2 H=8 G=4, no gated norm, no conv bias, dt clamped",
                         "mamba2 d_state 256",
                         "mamba2 odd sizes",
                         "moe-mamba2",
                         "mamba + mamba2 mixed plan",
                         "jamba-like: weighted dt/B/C norms"};
  const size_t lengths[] = {1, 2, 63, 64, 65, 150};
  for (const char* name : names) {
    Fixture f(mamba2_case(name));
    INFO("model " << name);
    const std::vector<int32_t> tokens = random_tokens(f.c.seed + 17, 150 + 3, f.vocab);

    // One stepped run and one reference run, recorded after each prompt length.
    ReferenceModel ref = f.reference();
    SessionPtr stepped = f.session();
    std::vector<std::vector<double>> ref_logits;
    std::vector<std::vector<float>> step_logits, step_states;
    for (size_t t = 0, k = 0; t < 150; ++t) {
      const std::vector<double> expected = ref.step(tokens[t]);
      const std::vector<float> got = step(stepped.get(), tokens[t]);
      if (k < std::size(lengths) && t + 1 == lengths[k]) {
        ref_logits.push_back(expected);
        step_logits.push_back(got);
        step_states.push_back(state_floats_of(stepped.get(), f.c.config));
        ++k;
      }
    }
    CHECK(ref.min_selection_margin() > kMinSelectionMargin);

    for (size_t k = 0; k < std::size(lengths); ++k) {
      const size_t n = lengths[k];
      INFO("prefill of " << n << " tokens");
      SessionPtr prefilled = f.session();
      std::vector<float> logits(f.vocab);
      const mmb_status s = mmb_session_prefill(prefilled.get(), tokens.data(), n, logits.data(), logits.size());
      INFO(mmb_last_error());
      REQUIRE(s == MMB_OK);
      CHECK(position(prefilled.get()) == n);
      check_close_to_reference(logits, ref_logits[k]);
      const double diff = max_abs_diff(logits, step_logits[k]);
      INFO("max |prefill - steps| over the logits = " << diff);
      CHECK(diff <= logit_tolerance(widen(step_logits[k])));
      check_states_close(state_floats_of(prefilled.get(), f.c.config), step_states[k], f.c.config, 1e-4);

      // The state prefill leaves continues like the reference.
      ReferenceModel cont = f.reference();
      for (size_t t = 0; t < n; ++t) cont.step(tokens[t]);
      for (size_t t = n; t < n + 3; ++t) check_close_to_reference(step(prefilled.get(), tokens[t]), cont.step(tokens[t]));
    }
  }
}

TEST_CASE("Mamba-2 state saved mid-stream and loaded elsewhere continues exactly", "[parity][session]") {
  for (const char* name : {"mamba2 H=8 G=2, norm groups of 16, biases, D per channel", "moe-mamba2",
                           "mamba + mamba2 mixed plan"}) {
    Fixture f(mamba2_case(name));
    INFO("model " << name);
    const std::vector<int32_t> tokens = random_tokens(f.c.seed + 21, 85, f.vocab);
    // A prefill across a chunk boundary, then steps: the saved state holds both.
    SessionPtr original = f.session();
    REQUIRE(mmb_session_prefill(original.get(), tokens.data(), 70, nullptr, 0) == MMB_OK);
    for (size_t i = 70; i < 73; ++i) step(original.get(), tokens[i]);
    const std::vector<uint8_t> blob = save_state(original.get());

    SessionPtr fresh = f.session(), busy = f.session();
    for (int32_t t : random_tokens(22, 5, f.vocab)) step(busy.get(), t);
    for (mmb_session* s : {fresh.get(), busy.get()}) {
      REQUIRE(mmb_session_state_load(s, blob.data(), blob.size()) == MMB_OK);
      CHECK(position(s) == 73);
    }
    ReferenceModel ref = f.reference();
    for (size_t i = 0; i < 73; ++i) ref.step(tokens[i]);
    for (size_t i = 73; i < tokens.size(); ++i) {
      const std::vector<float> expected = step(original.get(), tokens[i]);
      CHECK(same_bits(step(fresh.get(), tokens[i]), expected));
      CHECK(same_bits(step(busy.get(), tokens[i]), expected));
      check_close_to_reference(expected, ref.step(tokens[i]));
    }
  }
}

TEST_CASE("a fork of a Mamba-2 session is independent of its original", "[parity][session]") {
  Fixture f(mamba2_case("mamba + mamba2 mixed plan"));
  const std::vector<int32_t> prefix = random_tokens(31, 6, f.vocab);
  const std::vector<int32_t> x = random_tokens(32, 10, f.vocab), y = random_tokens(33, 10, f.vocab);
  SessionPtr a = f.session(), run_x = f.session(), run_y = f.session();
  for (int32_t t : prefix) {
    step(a.get(), t);
    step(run_x.get(), t);
    step(run_y.get(), t);
  }
  mmb_session* forked = nullptr;
  REQUIRE(mmb_session_fork(a.get(), &forked) == MMB_OK);
  SessionPtr b(forked);
  CHECK(position(b.get()) == prefix.size());
  for (size_t i = 0; i < x.size(); ++i) {  // interleaved, so that any shared buffer would show
    CHECK(same_bits(step(a.get(), x[i]), step(run_x.get(), x[i])));
    CHECK(same_bits(step(b.get(), y[i]), step(run_y.get(), y[i])));
  }
  a.reset();
  ReferenceModel ref = f.reference();
  for (int32_t t : prefix) ref.step(t);
  for (int32_t t : y) ref.step(t);
  check_close_to_reference(step(b.get(), 3), ref.step(3));
}

TEST_CASE("a batch step of Mamba-2 sessions at mixed positions equals single steps", "[parity][session][threads]") {
  for (const char* name : {"mamba2 H=8 G=2, norm groups of 16, biases, D per channel", "mamba + mamba2 mixed plan",
                           "jamba-like: weighted dt/B/C norms"}) {
    Fixture f(mamba2_case(name));
    INFO("model " << name);
    constexpr size_t n = 4;
    const size_t advance[n] = {0, 3, 7, 12};
    auto [batch, single, refs, handles] = sessions_at_mixed_positions(f.model.get(), f.weights, advance);
    const size_t stride = f.vocab + 3;
    for (int round = 0; round < 5; ++round) {
      INFO("round " << round);
      const std::vector<int32_t> tokens = random_tokens(60 + round, n, f.vocab);
      std::vector<float> out(n * stride, -12345.0f);
      const mmb_status s = mmb_step_batch(handles.data(), tokens.data(), n, out.data(), stride);
      INFO(mmb_last_error());
      REQUIRE(s == MMB_OK);
      for (size_t i = 0; i < n; ++i) {
        // The batch reads the weights once for all rows (matrix-matrix): another
        // summation order than a single step, so equal within the tolerance.
        const std::vector<float> row(out.begin() + ptrdiff_t(i * stride), out.begin() + ptrdiff_t(i * stride + f.vocab));
        const std::vector<double> expected = refs[i].step(tokens[i]);
        CHECK(max_abs_diff(row, step(single[i].get(), tokens[i])) <= logit_tolerance(expected));
        check_close_to_reference(row, expected);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      CHECK(position(batch[i].get()) == advance[i] + 5);
      check_states_close(state_floats_of(batch[i].get(), f.c.config), state_floats_of(single[i].get(), f.c.config),
                         f.c.config, 1e-4);
    }
  }
}

TEST_CASE("Mamba-2 state size follows the formula and does not grow", "[parity][session]") {
  RuntimePtr rt = make_runtime();
  for (const ModelCase& c : mamba2_cases()) {
    INFO(c.name);
    const uint64_t floats = expected_state_floats(c.config);
    CHECK(state_floats(c.config) == floats);
    const SyntheticModel weights = build_mamba2_weights(c);
    ModelPtr model = load_model(rt.get(), weights);
    CHECK(model_info(model.get()).state_bytes == 4 * floats);
    SessionPtr session = make_session(model.get());
    size_t size0 = 0;
    REQUIRE(mmb_session_state_size(session.get(), &size0) == MMB_OK);
    CHECK(size0 == kStateHeaderSize + 4 * floats);
    for (int32_t t : random_tokens(7, 70, c.config.vocab_size))
      REQUIRE(mmb_session_step(session.get(), t, nullptr, 0) == MMB_OK);
    size_t size70 = 0;
    REQUIRE(mmb_session_state_size(session.get(), &size70) == MMB_OK);
    CHECK(size70 == size0);
  }
  // By hand: H 8 x P 8 x N 32 + (64 + 2 * 2 * 32) channels x 3 = 2048 + 576, and 8 x 8 x 8
  // + (64 + 2 * 8 * 8) x 3 = 512 + 576.
  CHECK(expected_state_floats(mamba2_case("mamba2 H=8 G=2, norm groups of 16, biases, D per channel").config) ==
        2048 + 576 + 512 + 576);
}

// ---------------------------------------------------------------------------------
// Malformed configs.

TEST_CASE("a bundle with an invalid Mamba-2 or inner-norm config is a format error naming the field", "[bundle][layers]") {
  struct Case {
    const char* what;
    const char* model;
    std::function<void(LayerConfig&)> edit;  // of layer 1 (Mamba-2 for the Mamba-2 model, Mamba for the other)
    std::vector<std::string> fragments;
  };
  const char* m2 = "mamba2 G=1";  // layer 1: d_inner 64, N 16, H 4, G 1
  const char* m1 = "falcon-mamba-like: RMS dt/B/C norms";
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Case> cases = {
      {"n_heads not dividing d_inner", m2, [](LayerConfig& l) { l.mamba2.n_heads = 6; },
       {"layers[1].mamba2.", "n_heads = 6"}},
      {"no heads", m2, [](LayerConfig& l) { l.mamba2.n_heads = 0; }, {"layers[1].mamba2.n_heads"}},
      {"n_groups not dividing n_heads", m2, [](LayerConfig& l) { l.mamba2.n_heads = 8; l.mamba2.n_groups = 3; },
       {"layers[1].mamba2.", "n_groups = 3"}},
      {"more groups than heads", m2, [](LayerConfig& l) { l.mamba2.n_groups = 8; }, {"layers[1].mamba2.n_groups"}},
      {"norm_group_size not dividing d_inner", m2, [](LayerConfig& l) { l.mamba2.norm_group_size = 24; },
       {"layers[1].mamba2.norm_group_size"}},
      {"norm_group_size above d_inner", m2, [](LayerConfig& l) { l.mamba2.norm_group_size = 128; },
       {"layers[1].mamba2.norm_group_size"}},
      {"dt_min equal to dt_max", m2, [](LayerConfig& l) { l.mamba2.dt_min = l.mamba2.dt_max = 0.1f; },
       {"layers[1].mamba2.dt_min", "dt_max"}},
      {"dt_min above dt_max", m2, [](LayerConfig& l) { l.mamba2.dt_min = 0.5f; l.mamba2.dt_max = 0.1f; },
       {"layers[1].mamba2.dt_min", "dt_max"}},
      {"negative dt_min", m2, [](LayerConfig& l) { l.mamba2.dt_min = -0.5f; }, {"layers[1].mamba2.dt_min"}},
      {"NaN dt_max", m2, [nan](LayerConfig& l) { l.mamba2.dt_max = nan; }, {"layers[1].mamba2.", "dt_max"}},
      {"norm_eps zero", m2, [](LayerConfig& l) { l.mamba2.norm_eps = 0.0f; }, {"layers[1].mamba2.norm_eps"}},
      {"no state", m2, [](LayerConfig& l) { l.mamba2.d_state = 0; }, {"layers[1].mamba2.d_state"}},
      {"unknown inner norm", m1, [](LayerConfig& l) { l.mamba.dt_bc_norm = InnerNorm(3); },
       {"layers[1].dt_bc_norm", "3"}},
      {"inner norm eps zero", m1, [](LayerConfig& l) { l.mamba.dt_bc_norm_eps = 0.0f; }, {"layers[1].dt_bc_norm_eps"}},
  };
  static const HostAllocator allocator;
  RuntimePtr rt = make_runtime();
  for (const char* model : {m2, m1}) {
    // A valid bundle taken apart: its tensor data, and its manifest's records to re-encode.
    const std::vector<std::byte> good = bundle_bytes(build_mamba2_weights(mamba2_case(model)));
    ReadOptions options;
    options.load_tensor_data = false;
    const auto bundle = LoadedBundle::load(open_memory_source(good.data(), good.size(), false, allocator), options, allocator);
    uint64_t manifest_at = 0;
    std::memcpy(&manifest_at, good.data() + BundleHeaderLayout::manifest_offset, 8);
    const std::vector<std::byte> data(good.begin(), good.begin() + ptrdiff_t(manifest_at));
    for (const Case& k : cases) {
      if (std::string(k.model) != model) continue;
      INFO(k.what);
      ModelConfig config = bundle->config();
      k.edit(config.layers[1]);
      const std::vector<std::byte> manifest = encode_manifest(config, bundle->tokenizer(), bundle->metadata(), bundle->tensors());
      const std::vector<std::byte> bytes = test::assemble_bundle(data, manifest, false);
      mmb_model* loaded = nullptr;
      const mmb_status s = mmb_model_load_memory(rt.get(), bytes.data(), bytes.size(), nullptr, &loaded);
      ModelPtr owned(loaded);
      const std::string message = mmb_last_error();
      INFO(message);
      CHECK(s == MMB_ERR_FORMAT);
      for (const std::string& fragment : k.fragments) CHECK_THAT(message, Catch::Contains(fragment));
    }
  }
}
