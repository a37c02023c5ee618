#include "bench_decode.hpp"

#include "api_handles.hpp"
#include "bundle_args.hpp"
#include "command.hpp"
#include "cpu_description.hpp"
#include "memory_bandwidth.hpp"
#include "synthetic_model.hpp"

#include "api/api_objects.hpp"
#include "base/dtype.hpp"
#include "base/error.hpp"
#include "runtime/state_blob.hpp"

#include <moemamba/moemamba.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace mmb::cli {

namespace {

struct Options {
  std::string bundle;          // or a shape
  std::string shape;
  DType dtype = DType::F32;
  std::vector<int> threads;
  int tokens = 32;             // timed decode steps per repetition
  int repetitions = 5;
  int prefill = 256;
  std::vector<int> batches;     // batched decode at each size (default: 4)
  int32_t backend = MMB_BACKEND_AUTO;
  int32_t device = 0;
  int experts = 0;              // > 0: every MoE layer of the shape gets this many experts
  std::vector<int> contexts;    // batch-1 decode after this many tokens of context (attention models)
  bool json = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Stats {
  double median, min, max;
};

Stats summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

Options parse(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) fail(MMB_ERR_INVALID_ARGUMENT, a, " needs a value");
      return args[++i];
    };
    auto number = [&](int lo, int hi) {
      const std::string& v = value();
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < lo || n > hi) fail(MMB_ERR_INVALID_ARGUMENT, a, " ", v, " is not a number in [", lo, ", ", hi, "]");
      return int(n);
    };
    if (a == "--shape") o.shape = value();
    else if (a == "--dtype") o.dtype = parse_dtype(value());
    else if (a == "--threads") o.threads.push_back(number(1, 1024));
    else if (a == "--tokens") o.tokens = number(1, 1 << 20);
    else if (a == "--repetitions") o.repetitions = number(1, 1000);
    else if (a == "--prefill") o.prefill = number(0, 1 << 20);
    else if (a == "--batch") o.batches.push_back(number(0, 4096));
    else if (a == "--backend") {
      try {
        o.backend = parse_backend(value());
      } catch (const std::invalid_argument& e) {
        fail(MMB_ERR_INVALID_ARGUMENT, e.what());
      }
    }
    else if (a == "--device") o.device = number(0, 1023);
    else if (a == "--experts") o.experts = number(1, 1024);
    else if (a == "--context") o.contexts.push_back(number(0, 1 << 22));
    else if (a == "--json") o.json = true;
    else if (!a.empty() && a[0] == '-') fail(MMB_ERR_INVALID_ARGUMENT, "unknown option ", a);
    else if (o.bundle.empty()) o.bundle = a;
    else fail(MMB_ERR_INVALID_ARGUMENT, "more than one bundle given");
  }
  if (o.bundle.empty() == o.shape.empty()) fail(MMB_ERR_INVALID_ARGUMENT, "give a BUNDLE or --shape NAME (not both)");
  if (o.experts && o.shape.empty()) fail(MMB_ERR_INVALID_ARGUMENT, "--experts changes a --shape");
  if (o.batches.empty()) o.batches.push_back(4);
  if (o.threads.empty())
    for (int t = 1; t <= int(std::max(1u, std::thread::hardware_concurrency())); ++t) o.threads.push_back(t);
  return o;
}

struct Row {
  std::string what;
  int threads;
  double tokens_per_s, spread_lo, spread_hi, ms_per_token, floor_pct;
};

// A saved state at `position` whose recurrent state is zero and whose KV cache holds
// small pseudo-random f16 values: what decoding after that much context reads, made
// without prefilling it (which would take minutes for large shapes and long contexts).
std::vector<std::byte> state_at_context(const mmb_model_info& info, uint64_t position) {
  const uint64_t floats = info.state_bytes / sizeof(float);
  const uint64_t values = position * info.kv_values_per_token;
  const StateKv kv{MMB_KV_F16, values * 2};
  std::vector<std::byte> blob(state_header_size(&kv) + floats * sizeof(float) + kv.bytes);
  std::byte* out = blob.data() + state_header_size(&kv) + floats * sizeof(float);
  uint32_t x = 12345;
  for (uint64_t i = 0; i < values; ++i) {
    x = x * 1664525u + 1013904223u;
    const uint16_t h = f32_to_f16(float(int32_t(x >> 8) % 2001 - 1000) / 1000.0f);
    std::memcpy(out + 2 * i, &h, 2);
  }
  write_state_blob(blob.data(), info.fingerprint, position, nullptr, floats, &kv);
  return blob;
}

// What a context costs in memory: KV bytes per token and how many sessions of a 4k
// context fit in 4 GB (KV cache at f16 plus each session's constant part).
void print_context_memory(mmb_runtime* rt, mmb_model* model, const mmb_model_info& info) {
  mmb_session* s = nullptr;
  check(mmb_session_create(model, nullptr, &s), "session");
  mmb_session_memory m;
  m.struct_size = sizeof m;
  check(mmb_runtime_get_session_memory(rt, &m), "session memory");
  mmb_session_destroy(s);
  const double per_token = double(info.kv_values_per_token) * 2.0;
  const double session_4k = double(m.resident_bytes) + 4096.0 * per_token;
  std::printf("KV cache: %d attention layers, %.0f bytes per token per session (f16); a 4096-token session holds "
              "%.1f MB -> %d sessions in 4 GB\n",
              info.n_attention_layers, per_token, session_4k / 1e6, int(4e9 / session_4k));
}

}  // namespace

int run_bench_decode(const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::printf("usage: mmb bench decode (BUNDLE | --shape NAME [--dtype f32|f16|bf16|q8|q4]) [--threads N]...\n"
                "         [--tokens N] [--repetitions N] [--prefill N] [--batch N]... [--backend auto|cpu|cuda]\n"
                "         [--device N] [--experts N] [--context N]... [--json]\n"
                "--experts N gives every MoE layer of the shape N experts (top-k kept, at most N):\n"
                "equal active bytes for any N, so decode time should not depend on it.\n"
                "--context N (models with attention layers) adds decode at batch 1 after N tokens of\n"
                "context (a loaded state with an f16 KV cache of N tokens, so no prefill is timed).\n"
                "The floor is each token's bytes over the read bandwidth measured in the same run: the\n"
                "host's memory on the CPU (the better of two readings, before the model loads and after\n"
                "decode at batch 1), the device's copy bandwidth on a GPU; with a KV cache, the keys\n"
                "and values of the context count too.\n");
    return 0;
  }
  Options o = parse(args);

  std::vector<std::byte> memory;
  if (!o.shape.empty()) {
    ModelConfig config = named_shape(o.shape);
    if (o.experts)
      for (LayerConfig& l : config.layers)
        if (l.has_moe()) {
          l.moe.n_experts = uint32_t(o.experts);
          l.moe.top_k = std::min(l.moe.top_k, l.moe.n_experts);
        }
    SyntheticModel m = make_synthetic_model(config, {1, o.dtype});
    memory = write_bundle_to_memory(m.contents, WriterOptions{});
  }

  std::vector<Row> rows;
  for (int threads : o.threads) {
    mmb_runtime_options ro;
    check(mmb_runtime_options_init(&ro, sizeof ro), "runtime options");
    ro.n_threads = threads;
    ro.backend = o.backend;
    ro.device_index = o.device;
    mmb_runtime* rt = nullptr;
    check(mmb_runtime_create(&ro, &rt), "runtime");
    std::unique_ptr<mmb_runtime, void (*)(mmb_runtime*)> rt_guard(rt, mmb_runtime_destroy);
    mmb_backend_info backend;
    backend.struct_size = sizeof backend;
    check(mmb_runtime_get_backend_info(rt, &backend), "backend");
    const bool gpu = backend.backend == MMB_BACKEND_CUDA;
    Bandwidth bw{0, 0, "device copy"};
    if (gpu) bw.read_gbps = bw.copy_gbps = rt->impl.backend().measure_read_bandwidth() / 1e9;
    else bw = measure_bandwidth(threads);
    mmb_model* model = nullptr;
    mmb_load_options lo;
    check(mmb_load_options_init(&lo, sizeof lo), "load options");
    lo.flags = MMB_LOAD_SKIP_CHECKSUMS;
    if (memory.empty()) check(mmb_model_load_file(rt, o.bundle.c_str(), &lo, &model), "load");
    else check(mmb_model_load_memory(rt, memory.data(), memory.size(), &lo, &model), "load");
    std::unique_ptr<mmb_model, void (*)(mmb_model*)> model_guard(model, mmb_model_destroy);
    mmb_model_info info;
    info.struct_size = sizeof info;
    check(mmb_model_get_info(model, &info), "info");
    const int max_batch = *std::max_element(o.batches.begin(), o.batches.end());
    std::vector<float> logits(size_t(info.vocab_size) * size_t(std::max(1, max_batch)));
    // Bytes a token must read at batch 1: active weights plus the state, read and written.
    const double floor_bytes = double(info.active_weight_bytes) + 2.0 * double(info.state_bytes);
    double floor_s = 0;

    auto token_at = [&](int i) { return int32_t((i * 7919 + 13) % info.vocab_size); };

    // Eight warm-up steps, then the repetitions' seconds per token, on a session
    // (destroyed after).
    auto time_steps = [&](mmb_session* s) {
      for (int i = 0; i < 8; ++i) check(mmb_session_step(s, token_at(i), logits.data(), logits.size()), "warm-up");
      std::vector<double> per_token;
      for (int r = 0; r < o.repetitions; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < o.tokens; ++i) check(mmb_session_step(s, token_at(i), logits.data(), logits.size()), "step");
        per_token.push_back(seconds_since(t0) / o.tokens);
      }
      mmb_session_destroy(s);
      return summarize(per_token);
    };

    // Decode at batch 1.
    {
      mmb_session* s = nullptr;
      check(mmb_session_create(model, nullptr, &s), "session");
      const Stats st = time_steps(s);
      // The host's memory again, right after: a VM's speed drifts from minute to minute,
      // and the better of the two readings is the floor no kernel should beat.
      if (!gpu) {
        const Bandwidth after = measure_bandwidth(threads);
        if (after.read_gbps > bw.read_gbps) bw = after;
      }
      floor_s = floor_bytes / (bw.read_gbps * 1e9);
      rows.push_back({"decode b=1", threads, 1.0 / st.median, 1.0 / st.max, 1.0 / st.min, st.median * 1e3,
                      100.0 * floor_s / st.median});
    }
    // Decode at batch 1 after a context: every token also reads the context's keys and values.
    for (const int context : o.contexts) {
      if (info.n_attention_layers == 0) fail(MMB_ERR_INVALID_ARGUMENT, "--context needs a model with attention layers");
      mmb_session_options so;
      check(mmb_session_options_init(&so, sizeof so), "session options");
      so.max_context = uint64_t(context) + 8 + uint64_t(o.tokens) * uint64_t(o.repetitions);
      mmb_session* s = nullptr;
      check(mmb_session_create(model, &so, &s), "session");
      const std::vector<std::byte> blob = state_at_context(info, uint64_t(context));
      check(mmb_session_state_load(s, blob.data(), blob.size()), "state at the context");
      const Stats st = time_steps(s);
      // The keys and values read at the middle of the timed steps.
      const double kv_bytes = double(info.kv_values_per_token) * 2.0 * (context + 8 + o.tokens / 2.0);
      const double floor_context = (floor_bytes + kv_bytes) / (bw.read_gbps * 1e9);
      rows.push_back({"decode @" + std::to_string(context), threads, 1.0 / st.median, 1.0 / st.max, 1.0 / st.min,
                      st.median * 1e3, 100.0 * floor_context / st.median});
    }
    // Batched decode: weights read once per step of the whole batch.
    for (const int batch : o.batches) {
      if (batch <= 1) continue;
      std::vector<mmb_session*> sessions(static_cast<size_t>(batch));
      for (auto& s : sessions) check(mmb_session_create(model, nullptr, &s), "session");
      std::vector<int32_t> tokens(static_cast<size_t>(batch));
      std::vector<double> per_step;
      for (int r = 0; r < o.repetitions + 1; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < o.tokens; ++i) {
          for (int b = 0; b < batch; ++b) tokens[size_t(b)] = token_at(i + b);
          check(mmb_step_batch(sessions.data(), tokens.data(), sessions.size(), logits.data(), size_t(info.vocab_size)), "batch");
        }
        if (r > 0) per_step.push_back(seconds_since(t0) / o.tokens);  // first repetition warms up
      }
      for (auto* s : sessions) mmb_session_destroy(s);
      Stats st = summarize(per_step);
      const double floor_batch = (double(info.active_weight_bytes) + 2.0 * batch * double(info.state_bytes)) /
                                 (bw.read_gbps * 1e9);
      rows.push_back({"decode b=" + std::to_string(batch), threads, batch / st.median, batch / st.max,
                      batch / st.min, st.median * 1e3 / batch, 100.0 * floor_batch / st.median});
    }
    // Prefill of a prompt.
    if (o.prefill > 0) {
      std::vector<int32_t> prompt(size_t(o.prefill));
      for (int i = 0; i < o.prefill; ++i) prompt[size_t(i)] = token_at(i);
      mmb_session* s = nullptr;
      check(mmb_session_create(model, nullptr, &s), "session");
      std::vector<double> per_token;
      for (int r = 0; r <= o.repetitions; ++r) {  // the first warms the caches and the pool
        check(mmb_session_reset(s), "reset");
        auto t0 = std::chrono::steady_clock::now();
        check(mmb_session_prefill(s, prompt.data(), prompt.size(), logits.data(), logits.size()), "prefill");
        if (r > 0) per_token.push_back(seconds_since(t0) / o.prefill);
      }
      mmb_session_destroy(s);
      Stats st = summarize(per_token);
      rows.push_back({"prefill " + std::to_string(o.prefill), threads, 1.0 / st.median, 1.0 / st.max, 1.0 / st.min,
                      st.median * 1e3, 0.0});
    }
    if (!o.json && threads == o.threads.front()) {
      std::printf("%s\n", cpu_description_line().c_str());
      std::printf("model: %s%s  params %.1fM total, %.1fM active  active weights %.1f MB  state %.2f MB\n",
                  o.shape.empty() ? o.bundle.c_str() : o.shape.c_str(),
                  o.experts ? cat(", ", o.experts, " experts").c_str() : "", info.params_total / 1e6,
                  info.params_active / 1e6, info.active_weight_bytes / 1e6, info.state_bytes / 1e6);
      if (info.n_attention_layers) print_context_memory(rt, model, info);
    }
    if (!o.json && gpu)
      std::printf("CUDA device %d (%s, %.1f GB): copy bandwidth %.1f GB/s -> floor %.1f us/token at batch 1\n",
                  backend.device_index, backend.device_name, backend.device_memory_total / 1e9, bw.read_gbps,
                  floor_s * 1e6);
    else if (!o.json)
      std::printf("threads %d: read bandwidth %.1f GB/s (best pattern: %s), copy %.1f GB/s -> floor %.2f ms/token at batch 1\n",
                  threads, bw.read_gbps, bw.read_pattern, bw.copy_gbps, floor_s * 1e3);
  }
  if (o.json) {
    std::printf("[\n");
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("  {\"what\": \"%s\", \"threads\": %d, \"tokens_per_s\": %.3f, \"min\": %.3f, \"max\": %.3f, "
                  "\"ms_per_token\": %.4f, \"floor_pct\": %.2f, \"cpu\": \"%s\", \"kernels\": \"%s\"}%s\n",
                  r.what.c_str(), r.threads, r.tokens_per_s, r.spread_lo, r.spread_hi, r.ms_per_token, r.floor_pct,
                  cpu_model_name().c_str(), cpu_kernel_path_name(), i + 1 < rows.size() ? "," : "");
    }
    std::printf("]\n");
    return 0;
  }
  std::printf("\n%-14s %7s %12s %21s %12s %10s\n", "benchmark", "threads", "tokens/s", "spread (min..max)", "ms/token",
              "% floor");
  for (const Row& r : rows) {
    char floor[32] = "-";
    if (r.floor_pct > 0) std::snprintf(floor, sizeof floor, "%.1f%%", r.floor_pct);
    std::printf("%-14s %7d %12.1f %10.1f..%-10.1f %12.3f %10s\n", r.what.c_str(), r.threads, r.tokens_per_s,
                r.spread_lo, r.spread_hi, r.ms_per_token, floor);
  }
  return 0;
}

}  // namespace mmb::cli
