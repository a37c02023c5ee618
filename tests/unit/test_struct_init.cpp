// Every *_init writes into no more bytes than the struct_size the host passes, so a host
// built against an older header (a smaller struct) never has its memory overwritten by
// a newer library. Each struct lies in a buffer filled with a guard pattern: after the
// call every byte past struct_size must still hold it, and the call that reads the
// struct must accept the result without looking past struct_size either.
#include "support/bundle_fixtures.hpp"
#include "support/model_harness.hpp"

#include <catch2/catch.hpp>

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace mmb;
using namespace mmb::testing;

namespace {

constexpr unsigned char kGuard = 0xA5;
constexpr size_t kSlack = 64;  // guard bytes after the whole struct

// Storage for a T and kSlack bytes after it, every byte kGuard to begin with.
template <typename T>
struct Guarded {
  alignas(T) unsigned char bytes[sizeof(T) + kSlack];
  Guarded() { std::memset(bytes, kGuard, sizeof bytes); }
  T* get() { return reinterpret_cast<T*>(bytes); }
  // The first byte at or after `from` that lost the guard pattern, or sizeof bytes.
  size_t first_written(size_t from) const {
    for (size_t i = from; i < sizeof bytes; ++i)
      if (bytes[i] != kGuard) return i;
    return sizeof bytes;
  }
};

// One options struct: its init, the sizes of its versions this library must know
// (oldest first, the last one sizeof), and a call that reads it.
template <typename T>
struct InitCase {
  const char* name;
  mmb_status (*init)(T*, size_t);
  std::vector<size_t> known;
  std::function<mmb_status(T*)> use;
};

// Sizes no version of the struct has: below the first, between two versions, above the
// last, and values that a 32-bit struct_size would wrap onto a known size.
template <typename T>
std::vector<size_t> unknown_sizes(const std::vector<size_t>& known) {
  std::vector<size_t> sizes = {0, 1, 3, known.front() - 1, sizeof(T) + 1, sizeof(T) + 8, size_t(1) << 20,
                               (size_t(1) << 32) + sizeof(T), (size_t(1) << 32) + known.front(), SIZE_MAX};
  for (size_t i = 0; i + 1 < known.size(); ++i) {
    sizes.push_back(known[i] + 1);
    sizes.push_back(known[i + 1] - 1);
  }
  return sizes;
}

template <typename T>
void check_init(const InitCase<T>& c) {
  INFO(c.name);
  REQUIRE(c.known.back() == sizeof(T));
  Guarded<T> full;
  REQUIRE(c.init(full.get(), sizeof(T)) == MMB_OK);
  CHECK(full.get()->struct_size == sizeof(T));
  CHECK(full.first_written(sizeof(T)) == sizeof full.bytes);

  for (size_t size : c.known) {
    INFO("struct_size " << size);
    Guarded<T> g;
    REQUIRE(c.init(g.get(), size) == MMB_OK);
    CHECK(std::string(mmb_last_error()).empty());
    CHECK(g.get()->struct_size == size);
    CHECK(g.first_written(size) == sizeof g.bytes);  // not one byte past the host's struct
    // What it wrote is the defaults, as the whole struct has them.
    CHECK(std::memcmp(g.bytes + sizeof(uint32_t), full.bytes + sizeof(uint32_t), size - sizeof(uint32_t)) == 0);
    // The guard bytes past struct_size are not valid field values (an unknown job mode,
    // a wild pointer): the reader must leave them alone, as it must for an older host.
    const mmb_status used = c.use(g.get());
    INFO(mmb_last_error());
    CHECK(used == MMB_OK);
  }

  for (size_t size : unknown_sizes<T>(c.known)) {
    INFO("struct_size " << size);
    Guarded<T> g;
    CHECK(c.init(g.get(), size) == MMB_ERR_INVALID_ARGUMENT);
    CHECK_THAT(mmb_last_error(), Catch::Contains(c.name) && Catch::Contains("struct_size"));
    CHECK(g.first_written(0) == sizeof g.bytes);  // nothing written at all
  }

  CHECK(c.init(nullptr, sizeof(T)) == MMB_ERR_INVALID_ARGUMENT);
  CHECK_THAT(mmb_last_error(), Catch::Contains("NULL"));
}

// A runtime, a model and a session for the calls that read the structs.
struct Fixture {
  SyntheticModel weights = test::tiny_model(DType::F32, 2);
  std::vector<std::byte> bytes = bundle_bytes(weights);
  RuntimePtr rt = make_runtime(1);
  ModelPtr model = load_model(rt.get(), weights);
  SessionPtr session = make_session(model.get());
};

}  // namespace

TEST_CASE("every *_init writes at most struct_size bytes and the result is accepted", "[api]") {
  static_assert(sizeof(void*) == 8, "the first runtime options size pinned below is that of an LP64 target");
  Fixture f;

  // The first version of mmb_runtime_options ended after alloc_user_data, at 64 bytes.
  CHECK(offsetof(mmb_runtime_options, job_mode) == 64);
  check_init<mmb_runtime_options>({"mmb_runtime_options", mmb_runtime_options_init,
                                   {offsetof(mmb_runtime_options, job_mode), sizeof(mmb_runtime_options)},
                                   [](mmb_runtime_options* o) {
                                     o->n_threads = 1;
                                     mmb_runtime* rt = nullptr;
                                     const mmb_status s = mmb_runtime_create(o, &rt);
                                     mmb_runtime_destroy(rt);
                                     return s;
                                   }});

  check_init<mmb_load_options>({"mmb_load_options", mmb_load_options_init, {sizeof(mmb_load_options)},
                                [&f](mmb_load_options* o) {
                                  mmb_model* m = nullptr;
                                  const mmb_status s = mmb_model_load_memory(f.rt.get(), f.bytes.data(), f.bytes.size(), o, &m);
                                  mmb_model_destroy(m);
                                  return s;
                                }});

  check_init<mmb_session_options>({"mmb_session_options", mmb_session_options_init, {sizeof(mmb_session_options)},
                                   [&f](mmb_session_options* o) {
                                     mmb_session* s = nullptr;
                                     const mmb_status status = mmb_session_create(f.model.get(), o, &s);
                                     mmb_session_destroy(s);
                                     return status;
                                   }});

  check_init<mmb_prefill_options>({"mmb_prefill_options", mmb_prefill_options_init, {sizeof(mmb_prefill_options)},
                                   [&f](mmb_prefill_options* o) {
                                     const int32_t tokens[3] = {1, 2, 3};
                                     return mmb_session_prefill_ex(f.session.get(), tokens, 3, nullptr, 0, o);
                                   }});

  check_init<mmb_sampler_params>({"mmb_sampler_params", mmb_sampler_params_init, {sizeof(mmb_sampler_params)},
                                  [](mmb_sampler_params* p) {
                                    mmb_sampler* s = nullptr;
                                    const mmb_status status = mmb_sampler_create(p, &s);
                                    mmb_sampler_destroy(s);
                                    return status;
                                  }});

  SamplerPtr sampler;
  {
    mmb_sampler* raw = nullptr;
    REQUIRE(mmb_sampler_create(nullptr, &raw) == MMB_OK);
    sampler.reset(raw);
  }
  check_init<mmb_generate_options>({"mmb_generate_options", mmb_generate_options_init, {sizeof(mmb_generate_options)},
                                    [&](mmb_generate_options* o) {
                                      o->max_tokens = 2;
                                      return mmb_generate(f.session.get(), sampler.get(), "a", 1, o, nullptr, nullptr);
                                    }});

  check_init<mmb_job_options>({"mmb_job_options", mmb_job_options_init, {sizeof(mmb_job_options)},
                               [&](mmb_job_options* o) {
                                 o->max_tokens = 2;
                                 mmb_job* job = nullptr;
                                 mmb_status s = mmb_job_submit_text(f.session.get(), sampler.get(), "a", 1, o, &job);
                                 if (s != MMB_OK) return s;
                                 int32_t state = -1;
                                 mmb_status result = MMB_ERR_INTERNAL;
                                 s = mmb_job_wait(job, 60000, &state);
                                 if (s == MMB_OK) s = mmb_job_poll(job, &state, &result);
                                 mmb_job_destroy(job);
                                 if (s != MMB_OK) return s;
                                 return state == MMB_JOB_FINISHED ? result : MMB_ERR_INTERNAL;
                               }});
}

TEST_CASE("runtime options at their first size get the documented defaults", "[api]") {
  Guarded<mmb_runtime_options> g;
  REQUIRE(mmb_runtime_options_init(g.get(), offsetof(mmb_runtime_options, job_mode)) == MMB_OK);
  const mmb_runtime_options* o = g.get();
  CHECK(o->backend == MMB_BACKEND_AUTO);
  CHECK(o->n_threads == 0);
  CHECK(o->device_index == 0);
  CHECK(o->log_level == MMB_LOG_WARN);
  CHECK(o->log_fn == nullptr);
  CHECK(o->log_user_data == nullptr);
  CHECK(o->alloc_fn == nullptr);
  CHECK(o->free_fn == nullptr);
  CHECK(o->alloc_user_data == nullptr);
}
