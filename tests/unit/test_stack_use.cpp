// The header promises that a computing call needs at most 64 KiB of its thread's
// stack: run step, prefill and a batch on a thread that has little more than that
// (a call that used more would overflow it and crash the test program).
#include <catch2/catch.hpp>

#include "support/kernel_paths.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>
#include <pthread.h>

#include <vector>

using namespace mmb;
using namespace mmb::testing;

namespace {

struct Work {
  mmb_model* model;
  uint32_t vocab;
  mmb_status status = MMB_ERR_INTERNAL;
};

void* compute(void* arg) {
  auto* w = static_cast<Work*>(arg);
  mmb_session* s[9] = {};
  std::vector<float> logits(size_t(w->vocab) * 9);
  std::vector<int32_t> tokens(130, 1);
  mmb_status st = MMB_OK;
  for (auto& one : s)
    if (st == MMB_OK) st = mmb_session_create(w->model, nullptr, &one);
  if (st == MMB_OK) st = mmb_session_step(s[0], 1, logits.data(), w->vocab);
  // 130 tokens: chunks of 64 through the widened 16-bit kernels (AVX2: the lane panels).
  if (st == MMB_OK) st = mmb_session_prefill(s[1], tokens.data(), tokens.size(), logits.data(), w->vocab);
  if (st == MMB_OK) st = mmb_step_batch(s, tokens.data(), 9, logits.data(), w->vocab);
  for (auto* one : s) mmb_session_destroy(one);
  w->status = st;
  return nullptr;
}

}  // namespace

TEST_CASE("a computing call fits in 64 KiB of stack", "[session]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  WARN("sanitizer builds use several times the stack: the 64 KiB promise is for shipping builds");
  return;
#endif
  ModelCase c = parity_cases().front();
  c.dtype = DType::F16;
  const SyntheticModel weights = build_weights(c);
  RuntimePtr rt = make_runtime(1);  // the calling thread does all the work
  ModelPtr model = load_model(rt.get(), weights);
  // Every kernel path this machine runs: each has its own blocks on the stack.
  for (cpu::KernelPath path : supported_kernel_paths()) {
    KernelPathScope scope(path);
    INFO(cpu::kernel_path_name(path));
    Work work{model.get(), c.config.vocab_size};
    pthread_attr_t attr;
    REQUIRE(pthread_attr_init(&attr) == 0);
    // 64 KiB for the library and 16 KiB for this test's own frames and the C library.
    REQUIRE(pthread_attr_setstacksize(&attr, 80 * 1024) == 0);
    pthread_t thread;
    REQUIRE(pthread_create(&thread, &attr, compute, &work) == 0);
    REQUIRE(pthread_join(thread, nullptr) == 0);
    pthread_attr_destroy(&attr);
    CHECK(work.status == MMB_OK);
  }
}
