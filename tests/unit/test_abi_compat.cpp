// Structs only grow, so the sizes of their first version (ABI 1, header 0.1) stay
// valid: a host passes its own sizeof to each *_init and to every call that reads the
// struct. Those sizes are pinned here as numbers (x86-64 / AArch64 LP64 layout, worked
// out from the header by hand). The function table refuses any ABI version it does not
// serve.
#include "support/bundle_fixtures.hpp"
#include "support/model_harness.hpp"

#include <catch2/catch.hpp>

#include <cstdint>

using namespace mmb;
using namespace mmb::testing;

namespace {

// sizeof each extensible struct in ABI 1 (MMB_ABI_VERSION 1, header 0.1.0).
constexpr uint32_t kV1RuntimeOptions = 64;
constexpr uint32_t kV1LoadOptions = 24;
constexpr uint32_t kV1Io = 40;
constexpr uint32_t kV1ModelInfo = 112;
constexpr uint32_t kV1SessionOptions = 8;
constexpr uint32_t kV1PrefillOptions = 24;
constexpr uint32_t kV1SamplerParams = 48;
constexpr uint32_t kV1GenerateOptions = 32;

}  // namespace

TEST_CASE("structs of ABI 1 size are accepted by this library", "[api]") {
  static_assert(sizeof(void*) == 8, "the pinned sizes are those of an LP64 target");
  // The header only ever appends fields.
  CHECK(sizeof(mmb_runtime_options) >= kV1RuntimeOptions);
  CHECK(sizeof(mmb_load_options) >= kV1LoadOptions);
  CHECK(sizeof(mmb_io) >= kV1Io);
  CHECK(sizeof(mmb_model_info) >= kV1ModelInfo);
  CHECK(sizeof(mmb_session_options) >= kV1SessionOptions);
  CHECK(sizeof(mmb_prefill_options) >= kV1PrefillOptions);
  CHECK(sizeof(mmb_sampler_params) >= kV1SamplerParams);
  CHECK(sizeof(mmb_generate_options) >= kV1GenerateOptions);

  mmb_runtime_options ro;
  REQUIRE(mmb_runtime_options_init(&ro, kV1RuntimeOptions) == MMB_OK);
  ro.n_threads = 1;
  mmb_runtime* raw_rt = nullptr;
  REQUIRE(mmb_runtime_create(&ro, &raw_rt) == MMB_OK);
  RuntimePtr rt(raw_rt);

  SyntheticModel weights = test::tiny_model(DType::F32, 2);
  const std::vector<std::byte> bytes = write_bundle_to_memory(weights.contents, {});
  mmb_load_options lo;
  REQUIRE(mmb_load_options_init(&lo, kV1LoadOptions) == MMB_OK);
  mmb_model* raw_model = nullptr;
  REQUIRE(mmb_model_load_memory(rt.get(), bytes.data(), bytes.size(), &lo, &raw_model) == MMB_OK);
  ModelPtr model(raw_model);

  test::MemoryIo memory{std::span<const std::byte>(bytes)};
  mmb_io io = memory.io();
  io.struct_size = kV1Io;
  mmb_model* via_io = nullptr;
  REQUIRE(mmb_model_load_io(rt.get(), &io, nullptr, &via_io) == MMB_OK);
  mmb_model_destroy(via_io);

  mmb_model_info info{};
  info.struct_size = kV1ModelInfo;
  REQUIRE(mmb_model_get_info(model.get(), &info) == MMB_OK);
  CHECK(info.vocab_size == int32_t(weights.contents.config.vocab_size));
  CHECK(info.name != nullptr);  // the last field of ABI 1 is written

  mmb_session_options so;
  REQUIRE(mmb_session_options_init(&so, kV1SessionOptions) == MMB_OK);
  mmb_session* raw_session = nullptr;
  REQUIRE(mmb_session_create(model.get(), &so, &raw_session) == MMB_OK);
  SessionPtr session(raw_session);

  mmb_prefill_options po;
  REQUIRE(mmb_prefill_options_init(&po, kV1PrefillOptions) == MMB_OK);
  const int32_t prompt[3] = {1, 2, 3};
  CHECK(mmb_session_prefill_ex(session.get(), prompt, 3, nullptr, 0, &po) == MMB_OK);
  CHECK(position(session.get()) == 3);

  mmb_sampler_params sp;
  REQUIRE(mmb_sampler_params_init(&sp, kV1SamplerParams) == MMB_OK);
  mmb_sampler* raw_sampler = nullptr;
  REQUIRE(mmb_sampler_create(&sp, &raw_sampler) == MMB_OK);
  SamplerPtr sampler(raw_sampler);

  mmb_generate_options go;
  REQUIRE(mmb_generate_options_init(&go, kV1GenerateOptions) == MMB_OK);
  go.max_tokens = 2;
  CHECK(mmb_generate(session.get(), sampler.get(), "a", 1, &go, nullptr, nullptr) == MMB_OK);
  CHECK(position(session.get()) > 3);
}

TEST_CASE("mmb_get_api refuses every ABI version but the ones it serves", "[api]") {
  CHECK(mmb_get_api(MMB_ABI_VERSION) != nullptr);
  // A host built against a newer header asks for a table this library cannot give.
  CHECK(mmb_get_api(MMB_ABI_VERSION + 1) == nullptr);
  CHECK(mmb_get_api(UINT32_MAX) == nullptr);
  // Version 1's *_init members took no struct_size (header 0.1 and 0.2): a host built
  // for it gets NULL, not a table whose inits it would call with a missing argument.
  CHECK(mmb_get_api(1) == nullptr);
  const mmb_api* api = mmb_get_api(MMB_ABI_VERSION);
  REQUIRE(api != nullptr);
  CHECK(api->abi_version == MMB_ABI_VERSION);
}
