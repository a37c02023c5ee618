// What a loaded model and a session keep on the C++ heap instead of the host's
// allocator hooks. Everything that grows with the model (tensor data, the tokenizer's
// tables, A = -exp(A_log), session state and scratch, the handles) must go through the
// hooks; the C++ heap may hold only bookkeeping that grows with the number of tensors
// (their records and names, the per-layer weight bindings).
//
// This executable replaces the global operator new/delete to count the bytes the
// library takes from the C++ heap, so it is separate from mmb_tests.
#include <catch2/catch.hpp>

#include "api/api_objects.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <new>
#include <string>
#include <vector>

namespace {

std::atomic<bool> counting{false};
std::atomic<long long> heap_live{0};
std::atomic<long long> hook_live{0};

constexpr size_t kHeader = 16;  // the size of each block, in front of it

void* counted_new(size_t n) {
  void* p = std::malloc(n + kHeader);
  if (!p) throw std::bad_alloc();
  *static_cast<size_t*>(p) = counting ? n : 0;
  heap_live += counting ? (long long)n : 0;
  return static_cast<char*>(p) + kHeader;
}

void counted_delete(void* p) noexcept {
  if (!p) return;
  char* block = static_cast<char*>(p) - kHeader;
  heap_live -= (long long)*reinterpret_cast<size_t*>(block);
  std::free(block);
}

void* hook_alloc(void*, size_t size, size_t alignment) {
  hook_live += (long long)size;
  return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}
void hook_free(void*, void* p, size_t size) {
  hook_live -= (long long)size;
  std::free(p);
}

struct Held {
  long long heap = 0, hooks = 0;
  size_t tensors = 0;
};

// Loads `bundle` through the hooks and makes one session; what each side holds then.
Held held_by(const std::vector<std::byte>& bundle) {
  mmb_runtime_options o;
  REQUIRE(mmb_runtime_options_init(&o, sizeof o) == MMB_OK);
  o.n_threads = 1;
  o.alloc_fn = hook_alloc;
  o.free_fn = hook_free;
  const long long heap0 = heap_live, hooks0 = hook_live;
  counting = true;
  mmb_runtime* rt = nullptr;
  REQUIRE(mmb_runtime_create(&o, &rt) == MMB_OK);
  mmb_model* model = nullptr;
  REQUIRE(mmb_model_load_memory(rt, bundle.data(), bundle.size(), nullptr, &model) == MMB_OK);
  mmb_session* session = nullptr;
  REQUIRE(mmb_session_create(model, nullptr, &session) == MMB_OK);
  REQUIRE(mmb_session_step(session, 1, nullptr, 0) == MMB_OK);
  counting = false;
  Held h{heap_live - heap0, hook_live - hooks0, model->impl->bundle().tensors().size()};
  mmb_session_destroy(session);
  mmb_model_destroy(model);
  mmb_runtime_destroy(rt);
  CHECK(hook_live == hooks0);  // everything given back
  return h;
}

// The first parity case with every width multiplied by `k`.
mmb::testing::ModelCase scaled(uint32_t k) {
  mmb::testing::ModelCase c = mmb::testing::parity_cases()[0];
  c.config.d_model *= k;
  for (mmb::LayerConfig& l : c.config.layers) {
    l.mamba.d_inner *= k;
    l.mamba.d_state *= k;
    l.moe.expert.d_ff *= k;
  }
  return c;
}

}  // namespace

void* operator new(size_t n) { return counted_new(n); }
void* operator new[](size_t n) { return counted_new(n); }
void operator delete(void* p) noexcept { counted_delete(p); }
void operator delete[](void* p) noexcept { counted_delete(p); }
void operator delete(void* p, size_t) noexcept { counted_delete(p); }
void operator delete[](void* p, size_t) noexcept { counted_delete(p); }

TEST_CASE("the C++ heap held by a model and a session does not grow with the model's widths") {
  const Held small = held_by(mmb::testing::bundle_bytes(mmb::testing::build_weights(scaled(1))));
  const Held large = held_by(mmb::testing::bundle_bytes(mmb::testing::build_weights(scaled(4))));
  std::printf("widths x1: heap %lld bytes, hooks %lld bytes; widths x4: heap %lld bytes, hooks %lld bytes (%zu tensors)\n",
              small.heap, small.hooks, large.heap, large.hooks, small.tensors);
  REQUIRE(small.tensors == large.tensors);
  CHECK(large.hooks > 4 * small.hooks);  // the model's memory grew, through the hooks
  // Same tensors and layers: the same bookkeeping, give or take the widths' digits in
  // a few strings and allocator rounding.
  CHECK(std::llabs(large.heap - small.heap) <= 256);
}

TEST_CASE("the shipped demo model keeps only a few hundred bytes per tensor on the C++ heap") {
  std::ifstream f(MMB_SOURCE_DIR "/models/demo-moe-mamba.mmb", std::ios::binary);
  REQUIRE(f.good());
  std::vector<char> chars((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  const Held demo = held_by(bytes);
  std::printf("demo model: heap %lld bytes (%.0f per tensor), hooks %lld bytes, %zu tensors, 4096-token tokenizer\n",
              demo.heap, double(demo.heap) / double(demo.tensors), demo.hooks, demo.tensors);
  // A tensor's record (name, shape, offsets, checksum: about 200 bytes) and its binding
  // in the layer tables (about 150): 768 per tensor (88 KB here) leaves room for
  // allocator rounding but not for the tokenizer's tables, about 190 KB for 4096 tokens
  // (pieces, offsets, the merge table).
  CHECK(demo.heap <= 768 * (long long)demo.tensors);
}
