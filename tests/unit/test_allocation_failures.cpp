// Allocation-failure injection through the runtime's allocator hook: for every N, the
// Nth hook allocation of an operation fails. Each operation must then return a clean
// status (MMB_ERR_OUT_OF_MEMORY), give back every hook allocation it made, and leave
// the objects made before it working. The loop ends at the first N the operation no
// longer reaches; N - 1 is the number of injection points it exercised (printed).
//
// Only the hook's allocations are failed: they are everything that grows with the
// model (tests/heap measures what is left on the C++ heap: per-tensor bookkeeping).
#include "support/bundle_fixtures.hpp"
#include "support/failing_heap.hpp"
#include "support/model_harness.hpp"

#include <catch2/catch.hpp>

#include <cstdio>

using namespace mmb;
using namespace mmb::testing;

namespace {

std::vector<std::byte> tiny_bundle(Codec codec) {
  SyntheticModel m = test::tiny_model(DType::F16, 5);
  WriterOptions w;
  w.codec = codec;
  return write_bundle_to_memory(m.contents, w);
}

ModelPtr load(mmb_runtime* rt, const std::vector<std::byte>& bytes, uint32_t flags = MMB_LOAD_COPY_MEMORY) {
  mmb_load_options lo;
  REQUIRE(mmb_load_options_init(&lo, sizeof lo) == MMB_OK);
  lo.flags = flags;
  mmb_model* m = nullptr;
  REQUIRE(mmb_model_load_memory(rt, bytes.data(), bytes.size(), &lo, &m) == MMB_OK);
  return ModelPtr(m);
}

// An earlier session and its twin, stepped alike: after a failed operation the earlier
// one must still give exactly the twin's logits.
struct EarlierSession {
  SessionPtr session, twin;
  int32_t next = 1;
  EarlierSession(mmb_model* model) : session(make_session(model)), twin(make_session(model)) {
    for (int32_t t : {72, 105}) {
      step(session.get(), t);
      step(twin.get(), t);
    }
  }
  void check_still_steps() {
    next = (next * 31 + 7) % 256;
    CHECK(step(session.get(), next) == step(twin.get(), next));
  }
};

}  // namespace

TEST_CASE("model load fails cleanly at every hook allocation", "[oom]") {
  FailingHeap heap;
  {
    RuntimePtr rt = runtime_on(heap);
    for (auto [codec, flags] : {std::pair{Codec::None, uint32_t(MMB_LOAD_COPY_MEMORY)}, std::pair{Codec::Zstd, 0u}}) {
      const std::vector<std::byte> bytes = tiny_bundle(codec);
      ModelPtr earlier_model = load(rt.get(), bytes, flags);
      EarlierSession earlier(earlier_model.get());
      mmb_model* loaded = nullptr;
      const size_t points = inject_each(
          heap,
          [&] {
            mmb_load_options lo;
            REQUIRE(mmb_load_options_init(&lo, sizeof lo) == MMB_OK);
            lo.flags = flags;
            loaded = nullptr;
            return mmb_model_load_memory(rt.get(), bytes.data(), bytes.size(), &lo, &loaded);
          },
          [&] {
            CHECK(loaded == nullptr);
            earlier.check_still_steps();
          });
      ModelPtr model(loaded);
      // The model that finally loaded computes what the earlier one does.
      SessionPtr fresh = make_session(model.get()), reference = make_session(earlier_model.get());
      CHECK(step(fresh.get(), 3) == step(reference.get(), 3));
      std::printf("[oom] model load (%s): %zu injection points\n", codec == Codec::None ? "raw, copied" : "zstd, borrowed",
                  points);
      CHECK(points > 0);
    }
  }
  CHECK(heap.outstanding() == 0);
  CHECK(heap.misuses() == 0);
}

TEST_CASE("session create and fork fail cleanly at every hook allocation", "[oom]") {
  FailingHeap heap;
  {
    RuntimePtr rt = runtime_on(heap);
    ModelPtr model = load(rt.get(), tiny_bundle(Codec::None));
    EarlierSession earlier(model.get());

    mmb_session* created = nullptr;
    const size_t create_points = inject_each(
        heap, [&] { created = nullptr; return mmb_session_create(model.get(), nullptr, &created); },
        [&] {
          CHECK(created == nullptr);
          earlier.check_still_steps();
        });
    SessionPtr fresh(created);
    SessionPtr reference = make_session(model.get());
    CHECK(step(fresh.get(), 9) == step(reference.get(), 9));

    mmb_session* forked = nullptr;
    const size_t fork_points = inject_each(
        heap, [&] { forked = nullptr; return mmb_session_fork(earlier.session.get(), &forked); },
        [&] {
          CHECK(forked == nullptr);
          earlier.check_still_steps();
        });
    SessionPtr fork(forked);
    CHECK(save_state(fork.get()) == save_state(earlier.session.get()));
    CHECK(step(fork.get(), 11) == step(earlier.twin.get(), 11));

    std::printf("[oom] session create: %zu injection points, fork: %zu\n", create_points, fork_points);
    CHECK(create_points > 0);
    CHECK(fork_points > 0);
  }
  CHECK(heap.outstanding() == 0);
  CHECK(heap.misuses() == 0);
}

TEST_CASE("state load and generate fail cleanly at every hook allocation", "[oom]") {
  FailingHeap heap;
  {
    RuntimePtr rt = runtime_on(heap);
    ModelPtr model = load(rt.get(), tiny_bundle(Codec::None));
    EarlierSession earlier(model.get());
    const std::vector<uint8_t> blob = save_state(earlier.session.get());

    SessionPtr target = make_session(model.get());
    const size_t load_points = inject_each(
        heap, [&] { return mmb_session_state_load(target.get(), blob.data(), blob.size()); },
        [&] { earlier.check_still_steps(); });
    CHECK(save_state(target.get()) == blob);

    mmb_sampler* raw_sampler = nullptr;
    REQUIRE(mmb_sampler_create(nullptr, &raw_sampler) == MMB_OK);
    SamplerPtr sampler(raw_sampler);
    SessionPtr writer = make_session(model.get());
    mmb_generate_options go;
    REQUIRE(mmb_generate_options_init(&go, sizeof go) == MMB_OK);
    go.max_tokens = 6;
    const size_t generate_points = inject_each(
        heap,
        [&] {
          mmb_session_reset(writer.get());
          mmb_sampler_reset(sampler.get());
          return mmb_generate(writer.get(), sampler.get(), "Hello", 5, &go, nullptr, nullptr);
        },
        [&] { earlier.check_still_steps(); });
    CHECK(position(writer.get()) >= 5);

    // Neither allocates through the hook today (both work in memory the session owns);
    // the figures are printed so a change shows.
    std::printf("[oom] state load: %zu injection points, generate: %zu\n", load_points, generate_points);
  }
  CHECK(heap.outstanding() == 0);
  CHECK(heap.misuses() == 0);
}
