// The plugin end to end, through its table as the core will use it: the library is
// dlopened from the build, a random model of every layer kind and weight dtype
// (tests/support's parity cases) is uploaded, and every result is compared with the
// core's CPU forward (src/backend/cpu/forward.cpp) on the same loaded weights.
//
// On the CPU emulator (MMB_CUDA_EMU) the same tests run fewer models and steps
// (gpu_cases.hpp): every layer kind and dtype, at the same tolerances.
//
// Tolerances: logits within 1e-3 x (max |logit| + 1) of the CPU's; both compute in f32
// and differ only in summation order, ~1e-5 of the scale, while a wrong formula is off
// by 1e-2 or more. q8: 5e-2. The device holds q8 as f16 (one more rounding of each
// weight), and both sides round a q8 product's input to int8 per group, each from its
// own f32 activations, so an input now and then rounds the other way, a step of
// max / 127 that the recurrent state carries on and that can tip a near-tied expert
// choice (measured on the emulator's cases: up to 2.2e-2, a routed model). What the q8
// runs add to the f32 ones (the same layers) is reading q8 right, and a misread group
// or scale is off by far more; the rounding itself is checked bit for bit by
// test_kernel_input_rounding.cpp.
// Device against device (batch against alone, graphs against none, state round trips):
// 1e-4 of the scale, or exact where the work is identical.
#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/forward.hpp"
#include "backend/cpu/linear.hpp"
#include "backend/cuda_plugin.hpp"
#include "bundle/bundle_reader.hpp"
#include "bundle/byte_source.hpp"
#include "model/model.hpp"
#include "support/model_harness.hpp"
#include "gpu_cases.hpp"

#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace mmb;
using namespace mmb::cuda_plugin;

namespace {

const Table& plugin() {
  static const Table* table = [] {
    // MMB_CUDA_PLUGIN when set (a build carried to another machine), else the build's own.
    const char* path = std::getenv("MMB_CUDA_PLUGIN");
    if (!path || !*path) path = MMB_CUDA_PLUGIN_PATH;
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    INFO((lib ? "" : dlerror()));
    REQUIRE(lib);
    auto entry = reinterpret_cast<EntryFn>(dlsym(lib, kEntryName));
    REQUIRE(entry);
    REQUIRE(entry(kAbiVersion + 1) == nullptr);
    return entry(kAbiVersion);
  }();
  REQUIRE(table);
  return *table;
}

#define PLUGIN_OK(call)                 \
  do {                                  \
    ErrorText error_{};                 \
    const mmb_status s_ = (call);       \
    INFO(error_.message);               \
    REQUIRE(s_ == MMB_OK);              \
  } while (0)

struct DeviceHandle {
  const Table* table = &plugin();
  Device* device = nullptr;
  DeviceInfo info;
  DeviceHandle() { PLUGIN_OK(table->device_open(0, &device, &info, &error_)); }
  // Runs at exit, after Catch has torn down: no assertion (plugin()'s) may run here.
  ~DeviceHandle() { table->device_close(device); }
};

DeviceHandle& device() {
  static DeviceHandle handle;
  return handle;
}

// A test model: the bundle, the core's Model over it, and the plugin's copy.
struct LoadedCase {
  HostAllocator allocator;
  ThreadPool pool{1};
  CpuBackend cpu{allocator, pool};  // the Model needs a backend; the CPU one costs nothing here
  std::vector<std::byte> bytes;
  std::unique_ptr<Model> model;
  CudaModel* gpu = nullptr;

  explicit LoadedCase(const testing::ModelCase& c) {
    const SyntheticModel weights = testing::build_weights(c);
    bytes = testing::bundle_bytes(weights);
    auto bundle = LoadedBundle::load(open_memory_source(bytes.data(), bytes.size(), false, allocator), ReadOptions{},
                                     allocator);
    model = std::make_unique<Model>(std::move(bundle), std::pmr::get_default_resource(), cpu);
    upload();
  }
  void upload() {
    PLUGIN_OK(plugin().model_upload(device().device, &model->config(), &model->weights(), &gpu, &error_));
  }
  ~LoadedCase() { plugin().model_free(gpu); }
  int vocab() const { return int(model->config().vocab_size); }
  size_t state_floats() const { return model->state_floats(); }
};

struct GpuState {
  CudaModel* model;
  CudaState* state = nullptr;
  explicit GpuState(CudaModel* m) : model(m) { PLUGIN_OK(plugin().state_create(m, &state, &error_)); }
  ~GpuState() { plugin().state_free(state); }
  GpuState(const GpuState&) = delete;
  GpuState& operator=(const GpuState&) = delete;
  std::vector<float> step(int32_t token, int vocab) {
    std::vector<float> logits(vocab);
    PLUGIN_OK(plugin().step(model, &state, &token, 1, logits.data(), vocab, &error_));
    return logits;
  }
  std::vector<float> read(size_t floats) const {
    std::vector<float> out(floats);
    PLUGIN_OK(plugin().state_read(model, state, out.data(), &error_));
    return out;
  }
};

// The core's CPU forward over one state (or a batch of them).
class CpuRunner {
 public:
  explicit CpuRunner(const Model& model) : model_(model), pool_(2) {
    const size_t per_row = cpu::row_scratch_floats(model);
    memory_.reset(static_cast<float*>(std::aligned_alloc(64, (per_row * cpu::kMaxLinearBatch * 4 + 63) / 64 * 64)));
    for (size_t r = 0; r < cpu::kMaxLinearBatch; ++r)
      scratch_.push_back(cpu::carve_row_scratch(model, memory_.get() + r * per_row));
  }
  // Tokens of one state in order; logits of the last.
  std::vector<float> run(std::vector<float>& state, const std::vector<int32_t>& tokens) {
    std::vector<float> logits(model_.config().vocab_size);
    for (size_t done = 0; done < tokens.size();) {
      const size_t m = std::min(cpu::kMaxLinearBatch, tokens.size() - done);
      std::vector<cpu::Row> rows(m);
      for (size_t i = 0; i < m; ++i)
        rows[i] = {tokens[done + i], state.data(), &scratch_[i], done + i + 1 == tokens.size() ? logits.data() : nullptr};
      cpu::forward(model_, pool_, rows.data(), m);
      done += m;
    }
    return logits;
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  const Model& model_;
  ThreadPool pool_;
  std::unique_ptr<float, Free> memory_;
  std::vector<cpu::RowScratch> scratch_;
};

double scale_of(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::abs(x)));
  return m + 1.0;
}

void check_logits(const std::vector<float>& got, const std::vector<float>& want, double relative) {
  REQUIRE(got.size() == want.size());
  const double tol = relative * scale_of(want);
  const double diff = testing::max_abs_diff(got, want);
  INFO("max |gpu - cpu| " << diff << ", tolerance " << tol);
  REQUIRE(diff <= tol);
}

double cpu_tolerance(DType dtype) { return dtype == DType::Q8 ? 5e-2 : 1e-3; }

// Every case in every dtype (on the emulator: each case in one, the dtypes in turn).
std::vector<testing::ModelCase> all_cases() {
  return testing::gpu::with_dtypes(testing::gpu::cases(), {DType::F32, DType::F16, DType::BF16, DType::Q8});
}

// The tests of prefill and batches: every case in every dtype (on the emulator: the
// subset of gpu_cases.hpp, which holds every layer kind).
std::vector<testing::ModelCase> machinery_cases() {
  if (testing::gpu::kEmulated) return testing::gpu::machinery_cases({DType::F32, DType::BF16, DType::F16, DType::Q8});
  return all_cases();
}

}  // namespace

TEST_CASE("plugin table: identity and device", "[cuda][plugin]") {
  const Table& t = plugin();
  REQUIRE(t.abi_version == kAbiVersion);
  REQUIRE(std::string(t.build_id) == build_id());
  REQUIRE(t.layout == layout_check());
  REQUIRE(t.device_count() >= 1);
  const DeviceInfo& info = device().info;
  INFO(info.name);
  REQUIRE(info.compute_major >= 8);
  REQUIRE(info.memory_total > 0);
  Device* bad = nullptr;
  ErrorText error{};
  REQUIRE(t.device_open(t.device_count(), &bad, nullptr, &error) != MMB_OK);
  REQUIRE(bad == nullptr);
  REQUIRE(std::string(error.message).size() > 0);
}

TEST_CASE("plugin table: steps match the CPU forward for every layer kind and dtype", "[cuda][plugin]") {
  for (const testing::ModelCase& c : all_cases()) {
    INFO(c.name);
    LoadedCase lc(c);
    CpuRunner cpu(*lc.model);
    GpuState gpu(lc.gpu);
    std::vector<float> cpu_state(lc.state_floats(), 0.0f);
    const size_t n_steps = testing::gpu::kEmulated ? 4 : 8;
    const std::vector<int32_t> tokens = testing::random_tokens(c.seed, n_steps, uint32_t(lc.vocab()));
    for (int32_t token : tokens) {
      const std::vector<float> want = cpu.run(cpu_state, {token});
      check_logits(gpu.step(token, lc.vocab()), want, cpu_tolerance(c.dtype));
    }
    // The state in the core's layout.
    const std::vector<float> state = gpu.read(lc.state_floats());
    REQUIRE(testing::max_abs_diff(state, cpu_state) <= cpu_tolerance(c.dtype) * scale_of(cpu_state));
  }
}

TEST_CASE("plugin table: prefill matches the CPU and equals stepping", "[cuda][plugin][prefill]") {
  for (const testing::ModelCase& c : machinery_cases()) {
    INFO(c.name);
    LoadedCase lc(c);
    CpuRunner cpu(*lc.model);
    // 300 tokens: a full chunk (cuBLAS projections) and a short one.
    const std::vector<int32_t> tokens = testing::random_tokens(c.seed + 1, 300, uint32_t(lc.vocab()));
    std::vector<float> cpu_state(lc.state_floats(), 0.0f);
    const std::vector<float> want = cpu.run(cpu_state, tokens);
    GpuState prefilled(lc.gpu), stepped(lc.gpu);
    std::vector<float> logits(lc.vocab());
    PLUGIN_OK(plugin().prefill(lc.gpu, prefilled.state, tokens.data(), tokens.size(), logits.data(), &error_));
    check_logits(logits, want, cpu_tolerance(c.dtype));
    // Stepping through the same tokens: all 300; on the emulator the first 40 (still
    // past kGemmMinRows, so the prefill's projections are cuBLAS's), against their prefill.
    const size_t n_stepped = testing::gpu::kEmulated ? 40 : tokens.size();
    GpuState short_prefill(lc.gpu);
    std::vector<float> short_logits(lc.vocab());
    PLUGIN_OK(plugin().prefill(lc.gpu, short_prefill.state, tokens.data(), n_stepped, short_logits.data(), &error_));
    GpuState& compared = n_stepped == tokens.size() ? prefilled : short_prefill;
    std::vector<float> step_logits;
    for (size_t i = 0; i < n_stepped; ++i) step_logits = stepped.step(tokens[i], lc.vocab());
    check_logits(n_stepped == tokens.size() ? logits : short_logits, step_logits, 1e-4);
    const std::vector<float> a = compared.read(lc.state_floats()), b = stepped.read(lc.state_floats());
    REQUIRE(testing::max_abs_diff(a, b) <= 1e-4 * scale_of(b));
    // Without logits the state advances the same.
    GpuState quiet(lc.gpu);
    PLUGIN_OK(plugin().prefill(lc.gpu, quiet.state, tokens.data(), n_stepped, nullptr, &error_));
    REQUIRE(quiet.read(lc.state_floats()) == a);
  }
}

TEST_CASE("plugin table: a batch of 64 at mixed positions equals each alone", "[cuda][plugin][batch]") {
  for (const testing::ModelCase& c : machinery_cases()) {
    // f32 and bf16 cover both row paths (the emulator's subset has one dtype per model).
    if (!testing::gpu::kEmulated && (c.dtype == DType::F16 || c.dtype == DType::Q8)) continue;
    INFO(c.name);
    LoadedCase lc(c);
    const int vocab = lc.vocab(), n = 64;
    std::vector<std::unique_ptr<GpuState>> batch, alone;
    std::vector<CudaState*> handles;
    std::vector<int32_t> next(n);
    std::vector<std::vector<int32_t>> histories;
    for (int i = 0; i < n; ++i) {
      batch.push_back(std::make_unique<GpuState>(lc.gpu));
      histories.push_back(testing::random_tokens(c.seed * 100 + i, size_t(i % 7), uint32_t(vocab)));
      handles.push_back(batch.back()->state);
      next[i] = int32_t((i * 37 + 11) % vocab);
    }
    // The histories (positions 0 to 6), a token of each state that has one left per step.
    for (size_t pos = 0; pos < 6; ++pos) {
      std::vector<CudaState*> states;
      std::vector<int32_t> tokens;
      for (int i = 0; i < n; ++i)
        if (pos < histories[i].size()) states.push_back(handles[i]), tokens.push_back(histories[i][pos]);
      PLUGIN_OK(plugin().step(lc.gpu, states.data(), tokens.data(), states.size(), nullptr, 0, &error_));
    }
    for (int i = 0; i < n; ++i) {
      alone.push_back(std::make_unique<GpuState>(lc.gpu));
      PLUGIN_OK(plugin().state_copy(lc.gpu, batch[i]->state, alone.back()->state, &error_));
    }
    const size_t stride = size_t(vocab) + 3;
    std::vector<float> logits(stride * n);
    PLUGIN_OK(plugin().step(lc.gpu, handles.data(), next.data(), n, logits.data(), stride, &error_));
    // On the emulator every 9th row: positions 0 to 6 all among them.
    for (int i = 0; i < n; i += testing::gpu::kEmulated ? 9 : 1) {
      INFO("row " << i);
      const std::vector<float> single = alone[i]->step(next[i], vocab);
      const std::vector<float> row(logits.begin() + i * stride, logits.begin() + i * stride + vocab);
      check_logits(row, single, 1e-4);
      const std::vector<float> a = batch[i]->read(lc.state_floats()), b = alone[i]->read(lc.state_floats());
      REQUIRE(testing::max_abs_diff(a, b) <= 1e-4 * scale_of(b));
    }
    // A batch over 256 splits; without logits the states still advance.
    std::vector<CudaState*> many;
    std::vector<int32_t> many_tokens;
    for (int rep = 0; rep < 5; ++rep)
      for (int i = 0; i < n; ++i) {
        many.push_back(nullptr);
        many_tokens.push_back(next[i]);
      }
    std::vector<std::unique_ptr<GpuState>> extra;
    for (size_t i = 0; i < many.size(); ++i) {
      extra.push_back(std::make_unique<GpuState>(lc.gpu));
      many[i] = extra.back()->state;
    }
    PLUGIN_OK(plugin().step(lc.gpu, many.data(), many_tokens.data(), many.size(), nullptr, 0, &error_));
    GpuState fresh(lc.gpu);
    fresh.step(many_tokens[300], vocab);
    REQUIRE(testing::max_abs_diff(extra[300]->read(lc.state_floats()), fresh.read(lc.state_floats())) <=
            1e-4 * scale_of(fresh.read(lc.state_floats())));
  }
}

TEST_CASE("plugin table: state write, read, copy and zero", "[cuda][plugin][state]") {
  const testing::ModelCase c = all_cases().front();
  LoadedCase lc(c);
  const int vocab = lc.vocab();
  const size_t floats = lc.state_floats();
  GpuState a(lc.gpu), b(lc.gpu), zero(lc.gpu);
  for (int32_t t : testing::random_tokens(5, 6, uint32_t(vocab))) a.step(t, vocab);
  const std::vector<float> saved = a.read(floats);
  PLUGIN_OK(plugin().state_write(lc.gpu, b.state, saved.data(), &error_));
  REQUIRE(b.read(floats) == saved);
  REQUIRE(a.step(3, vocab) == b.step(3, vocab));
  PLUGIN_OK(plugin().state_copy(lc.gpu, a.state, b.state, &error_));
  REQUIRE(b.read(floats) == a.read(floats));
  PLUGIN_OK(plugin().state_write(lc.gpu, a.state, nullptr, &error_));
  REQUIRE(a.read(floats) == std::vector<float>(floats, 0.0f));
  REQUIRE(a.step(9, vocab) == zero.step(9, vocab));
  // A state from the CPU continues on the device as on the CPU.
  CpuRunner cpu(*lc.model);
  std::vector<float> cpu_state(floats, 0.0f);
  cpu.run(cpu_state, testing::random_tokens(6, 5, uint32_t(vocab)));
  PLUGIN_OK(plugin().state_write(lc.gpu, b.state, cpu_state.data(), &error_));
  const std::vector<float> want = cpu.run(cpu_state, {42});
  check_logits(b.step(42, vocab), want, cpu_tolerance(c.dtype));
}

TEST_CASE("plugin table: graphs off gives the same logits", "[cuda][plugin][graphs]") {
  const testing::ModelCase c = all_cases()[1];
  LoadedCase with_graphs(c);
  setenv("MMB_CUDA_GRAPHS", "0", 1);
  LoadedCase without(c);
  unsetenv("MMB_CUDA_GRAPHS");
  const int vocab = with_graphs.vocab();
  for (int n : {1, 3, 40}) {
    INFO("batch " << n);
    std::vector<std::unique_ptr<GpuState>> a, b;
    std::vector<CudaState*> ha, hb;
    std::vector<int32_t> tokens = testing::random_tokens(uint64_t(n), size_t(n), uint32_t(vocab));
    for (int i = 0; i < n; ++i) {
      a.push_back(std::make_unique<GpuState>(with_graphs.gpu));
      b.push_back(std::make_unique<GpuState>(without.gpu));
      ha.push_back(a.back()->state);
      hb.push_back(b.back()->state);
    }
    std::vector<float> la(size_t(n) * vocab), lb(size_t(n) * vocab);
    for (int rep = 0; rep < 3; ++rep) {  // the second and third replay the captured graph
      PLUGIN_OK(plugin().step(with_graphs.gpu, ha.data(), tokens.data(), n, la.data(), vocab, &error_));
      PLUGIN_OK(plugin().step(without.gpu, hb.data(), tokens.data(), n, lb.data(), vocab, &error_));
      // Padding rows may change the row count cuBLAS sees; 1e-4 of the scale.
      check_logits(la, lb, 1e-4);
    }
  }
}

TEST_CASE("plugin table: memory accounting and bad tokens", "[cuda][plugin]") {
  const Table& t = plugin();
  const uint64_t before = t.device_bytes_used(device().device);
  {
    LoadedCase lc(all_cases().front());
    const uint64_t loaded = t.device_bytes_used(device().device);
    REQUIRE(loaded > before);
    {
      GpuState s(lc.gpu);
      REQUIRE(t.device_bytes_used(device().device) >= loaded + lc.state_floats() * sizeof(float));
      int32_t bad = lc.vocab();
      ErrorText error{};
      REQUIRE(t.step(lc.gpu, &s.state, &bad, 1, nullptr, 0, &error) == MMB_ERR_INVALID_ARGUMENT);
      REQUIRE(std::string(error.message).find("vocabulary") != std::string::npos);
      bad = -1;
      REQUIRE(t.prefill(lc.gpu, s.state, &bad, 1, nullptr, &error) == MMB_ERR_INVALID_ARGUMENT);
    }
    REQUIRE(t.device_bytes_used(device().device) == loaded);
  }
  REQUIRE(t.device_bytes_used(device().device) == before);
}
