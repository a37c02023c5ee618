// The forward pass of DESIGN.md section 5 as a sequence of launches on the model's
// stream, mirroring src/backend/cpu/forward.cpp step by step. Plain projections take
// cuBLAS from kGemmMinRows rows on (prefill chunks, large batches) and the row kernel
// below that (decode); expert sets always take the grouped row kernel, fed by the
// device-side grouping, so nothing waits for the host.
#include "conv_update.cuh"
#include "cuda_model.hpp"
#include "embedding.cuh"
#include "expert_combine.cuh"
#include "ffn_activation.cuh"
#include "input_rounding.cuh"
#include "linear_gemm.cuh"
#include "linear_rows.cuh"
#include "norm.cuh"
#include "residual_add.cuh"
#include "router.cuh"
#include "selective_scan.cuh"

#include <algorithm>

namespace mmb::cuda {

using cuda_plugin::CudaModel;

// The activations pass from the config to the kernel by value.
static_assert(uint8_t(ExpertAct::ReLU) == uint8_t(FfnActivation::ReLU) &&
                  uint8_t(ExpertAct::GELU) == uint8_t(FfnActivation::GELU) &&
                  uint8_t(ExpertAct::GELUTanh) == uint8_t(FfnActivation::GELUTanh) &&
                  uint8_t(ExpertAct::SiLU) == uint8_t(FfnActivation::SiLU) &&
                  uint8_t(ExpertAct::SwiGLU) == uint8_t(FfnActivation::SwiGLU) &&
                  uint8_t(ExpertAct::GeGLU) == uint8_t(FfnActivation::GeGLU) &&
                  uint8_t(ExpertAct::ReLU2) == uint8_t(FfnActivation::ReLU2),
              "FfnActivation mirrors ExpertAct");

ModelDims model_dims(const ModelConfig& c) {
  ModelDims d;
  d.d_model = int(c.d_model);
  d.vocab = int(c.vocab_size);
  auto experts = [&](uint32_t n, uint32_t k) {
    d.max_experts = std::max(d.max_experts, int(n));
    d.max_top_k = std::max(d.max_top_k, int(k));
  };
  auto projection = [&](const std::optional<ProjectionExperts>& p) {
    if (p) experts(p->n_experts, p->top_k);
  };
  for (const LayerConfig& l : c.layers) {
    if (l.has_mamba()) {
      const MambaConfig& m = l.mamba;
      d.max_d_inner = std::max(d.max_d_inner, int(m.d_inner));
      d.max_dbc = std::max(d.max_dbc, int(m.dt_rank + 2 * m.d_state));
      d.state_floats += uint64_t(m.d_inner) * (m.d_state + m.d_conv - 1);
      projection(m.x_proj_experts);
      projection(m.z_proj_experts);
      projection(m.out_proj_experts);
    }
    if (l.has_moe()) {
      experts(l.moe.n_experts, l.moe.top_k);
      d.max_d_ff = std::max({d.max_d_ff, int(l.moe.expert.d_ff), int(l.moe.shared.d_ff)});
    }
    if (l.kind == LayerKind::MLP) d.max_d_ff = std::max(d.max_d_ff, int(l.mlp.d_ff));
  }
  d.max_in = std::max({d.d_model, d.max_d_inner, d.max_d_ff, d.max_dbc});
  d.max_out = std::max({d.d_model, 2 * d.max_d_inner, d.max_dbc, d.max_experts, d.max_d_ff});
  return d;
}

void prepare_model(CudaModel& m) {
  const ModelDims& d = m.dims;
  const size_t R = kMaxRows, K = size_t(d.max_top_k);
  const size_t pair_width = size_t(std::max(d.d_model, d.max_d_inner));
  size_t total = 0;
  // Offsets first (64-byte aligned fields), then one allocation.
  auto field = [&](size_t bytes) {
    const size_t at = total;
    total += (bytes + 63) / 64 * 64;
    return at;
  };
  const size_t f = sizeof(float);
  const size_t residual = field(R * d.d_model * f), normed = field(R * d.d_model * f), out = field(R * d.d_model * f),
               mamba_out = field(R * d.d_model * f), shared_out = field(R * d.d_model * f),
               xz = field(R * 2 * d.max_d_inner * f), xc = field(R * d.max_d_inner * f),
               dt = field(R * d.max_d_inner * f), y = field(R * d.max_d_inner * f), dbc = field(R * d.max_dbc * f),
               scores = field(R * d.max_experts * f), gates = field(R * K * f), inv_rms = field(R * K * f),
               experts = field(R * K * 4), in_rows = field(R * K * 4), pair_rows = field(R * K * 4),
               counts = field(size_t(d.max_experts) * 4), offsets = field(size_t(d.max_experts) * 4),
               h1 = field(R * K * d.max_d_ff * f), h3 = field(R * K * d.max_d_ff * f),
               pair_out = field(R * K * pair_width * f), logits = field(R * size_t(d.vocab) * f),
               tokens = field(R * 4), states = field(R * sizeof(float*)),
               rounded = field(m.weights.any_rounded_input ? R * K * size_t(d.max_in) * f : 0);
  // cuBLAS's split input (16-bit weights only): 3 parts of R rows, and their products;
  // the head's products in chunks of rows when the vocabulary is large.
  const bool split = m.weights.any_16bit;
  const size_t head_floats = std::min<size_t>(R * size_t(d.vocab), size_t(16) << 20);
  const size_t partial_floats = split ? 3 * std::max(R * size_t(d.max_out), head_floats) : 0;
  const size_t parts = field(split ? 3 * R * size_t(d.max_in) * 2 : 0), partial = field(partial_floats * f),
               row_scale = field(split ? R * f : 0);
  m.scratch_memory = DeviceBuffer(&m.device->memory, total, "the model's scratch");
  char* base = m.scratch_memory.as<char>();
  Scratch& s = m.scratch;
  auto at = [&](size_t offset) { return static_cast<void*>(base + offset); };
  s.residual = static_cast<float*>(at(residual));
  s.normed = static_cast<float*>(at(normed));
  s.out = static_cast<float*>(at(out));
  s.mamba_out = static_cast<float*>(at(mamba_out));
  s.shared_out = static_cast<float*>(at(shared_out));
  s.xz = static_cast<float*>(at(xz));
  s.xc = static_cast<float*>(at(xc));
  s.dt = static_cast<float*>(at(dt));
  s.y = static_cast<float*>(at(y));
  s.dbc = static_cast<float*>(at(dbc));
  s.scores = static_cast<float*>(at(scores));
  s.gates = static_cast<float*>(at(gates));
  s.inv_rms = static_cast<float*>(at(inv_rms));
  s.experts = static_cast<int32_t*>(at(experts));
  s.in_rows = static_cast<int32_t*>(at(in_rows));
  s.pair_rows = static_cast<int32_t*>(at(pair_rows));
  s.counts = static_cast<int32_t*>(at(counts));
  s.offsets = static_cast<int32_t*>(at(offsets));
  s.h1 = static_cast<float*>(at(h1));
  s.h3 = static_cast<float*>(at(h3));
  s.pair_out = static_cast<float*>(at(pair_out));
  s.logits = static_cast<float*>(at(logits));
  s.rounded = static_cast<float*>(at(rounded));
  s.tokens = static_cast<int32_t*>(at(tokens));
  s.states = static_cast<float**>(at(states));
  s.gemm = GemmScratch{at(parts), static_cast<float*>(at(partial)), partial_floats,
                       static_cast<float*>(at(row_scale))};
  MMB_CUDA_CHECK(cudaMemset(base, 0, total));

  // The state padded rows of a decode bucket point at (contents never read back).
  m.pad_state = DeviceBuffer(&m.device->memory, std::max<uint64_t>(d.state_floats, 1) * f, "the padding state");
  MMB_CUDA_CHECK(cudaMemset(m.pad_state.get(), 0, m.pad_state.bytes()));

  // cuBLAS gets its workspace up front so that graph capture never allocates.
  constexpr size_t kCublasWorkspace = 32u << 20;
  m.cublas_workspace = DeviceBuffer(&m.device->memory, kCublasWorkspace, "the cuBLAS workspace");
  MMB_CUBLAS_CHECK(cublasSetStream(m.cublas.get(), m.stream.get()));
  MMB_CUBLAS_CHECK(cublasSetWorkspace(m.cublas.get(), m.cublas_workspace.get(), kCublasWorkspace));
  MMB_CUBLAS_CHECK(cublasSetMathMode(m.cublas.get(), CUBLAS_DEFAULT_MATH));

  m.host_tokens = PinnedBuffer(R * sizeof(int32_t));
  m.host_states = PinnedBuffer(R * sizeof(float*));
}

namespace {

// One forward pass's context.
struct Pass {
  CudaModel& m;
  cudaStream_t stream;
  const Scratch& s;
  int n;
  bool sequential;

  // x's rows [0, rows) as a q8 or q4 product of `shape` takes them: rounded per group
  // into scratch (the others as they are).
  void round_input(const DeviceMatrix& shape, const float*& x, int& ldx, int rows) {
    if (!shape.rounds_input) return;
    round_input_groups(stream, x, ldx, s.rounded, int(shape.cols), rows);
    x = s.rounded;
    ldx = int(shape.cols);
  }

  void linear(const DeviceLinear& w, const float* x, int ldx, float* y, int ldy, int rows) {
    round_input(w.weight, x, ldx, rows);
    if (rows >= kGemmMinRows)
      linear_gemm(m.cublas.get(), stream, w.weight, w.bias, x, ldx, y, ldy, rows, s.gemm);
    else
      linear_rows(stream, w.weight, w.bias, x, ldx, y, ldy, rows);
  }

  // Router, top-k and grouping for rows [0, n) of x: leaves experts/gates and the
  // groups in scratch.
  void route(const DeviceLinear& router, const float* sel_bias, int n_experts, int top_k, RouterAct act,
             bool renorm, float routed_scale, const float* x, int ldx) {
    linear(router, x, ldx, s.scores, n_experts, n);
    route_rows(stream,
               RouteArgs{s.scores, sel_bias, s.experts, s.gates, n_experts, top_k, RouterActivation(uint8_t(act)),
                         renorm, routed_scale},
               n);
    group_by_expert(stream, s.experts, n, top_k, n_experts, ExpertGroups{s.counts, s.offsets, s.in_rows, s.pair_rows});
  }

  // Named fields: GroupedRows starts with offsets, ExpertGroups with counts.
  GroupedRows from_rows() const {
    return {.offsets = s.offsets, .counts = s.counts, .in_rows = s.in_rows, .out_rows = s.pair_rows};
  }
  GroupedRows from_pairs() const {
    return {.offsets = s.offsets, .counts = s.counts, .in_rows = s.pair_rows, .out_rows = s.pair_rows};
  }

  // x_rows: the rows of x the groups read (n, or n * top_k for pairs).
  void grouped(const DeviceExpertSet& set, const GroupedRows& rows, const float* x, int ldx, int x_rows, float* y,
               int ldy) {
    round_input(set.shape, x, ldx, x_rows);
    linear_rows_grouped(stream, set.shape, set.weights, set.biases, set.n, rows, x, ldx, y, ldy);
  }

  // y = projection(x) for a plain or routed projection of out_dim outputs.
  void project(const std::optional<ProjectionExperts>& pc, const DeviceProjection& w, const float* x, int ldx,
               float* y, int ldy, int out_dim) {
    if (!pc) {
      linear(w.plain, x, ldx, y, ldy, n);
      return;
    }
    route(w.router, w.sel_bias, int(pc->n_experts), int(pc->top_k), pc->router, pc->renorm, pc->routed_scale, x,
          ldx);
    grouped(w.experts, from_rows(), x, ldx, n, s.pair_out, out_dim);
    expert_combine(stream, s.pair_out, out_dim, s.gates, nullptr, int(pc->top_k), y, ldy, out_dim, n);
  }

  void mamba(const LayerConfig& lc, const DeviceLayer& dl) {
    const MambaConfig& mc = lc.mamba;
    const DeviceMamba& w = dl.mamba;
    const int d = m.dims.d_model, di = int(mc.d_inner), ds = int(mc.d_state), dbc = int(mc.dt_rank + 2 * mc.d_state);
    if (mc.split_in_proj()) {
      project(mc.x_proj_experts, w.x_in, s.normed, d, s.xz, 2 * di, di);
      project(mc.z_proj_experts, w.z_in, s.normed, d, s.xz + di, 2 * di, di);
    } else {
      linear(w.in_proj, s.normed, d, s.xz, 2 * di, n);
    }
    conv_update(stream,
                ConvArgs{s.xz, 2 * di, w.conv_weight, w.conv_bias, s.states, dl.state_offset, s.xc, di,
                         int(mc.d_conv)},
                n, sequential);
    linear(DeviceLinear{w.x_proj, nullptr}, s.xc, di, s.dbc, dbc, n);
    linear(w.dt_proj, s.dbc, dbc, s.dt, di, n);
    selective_scan(stream,
                   ScanArgs{s.dt, s.xc, s.dbc, s.xz + di, 2 * di, w.A, w.D, s.states,
                            dl.state_offset + size_t(di) * (mc.d_conv - 1), s.y, di, ds, int(mc.dt_rank)},
                   n, sequential);
    project(mc.out_proj_experts, w.out_proj, s.y, di, s.out, d, d);
  }

  // out = w2 act(w1 x + b1) [* (w3 x + b3)] + b2 over all n rows.
  void feed_forward(const FeedForwardConfig& fc, const DeviceFeedForward& w, float* out) {
    const int d = m.dims.d_model, ff = int(fc.d_ff);
    linear(w.w1, s.normed, d, s.h1, ff, n);
    if (fc.gated()) linear(w.w3, s.normed, d, s.h3, ff, n);
    ffn_activation(stream, FfnActivation(uint8_t(fc.act)), s.h1, s.h3, ff, n);
    linear(w.w2, s.h1, ff, out, d, n);
  }

  void moe(const LayerConfig& lc, const DeviceLayer& dl) {
    const MoEConfig& mc = lc.moe;
    const DeviceMoE& w = dl.moe;
    const int d = m.dims.d_model, ff = int(mc.expert.d_ff), K = int(mc.top_k);
    route(w.router, w.sel_bias, int(mc.n_experts), K, mc.router, mc.renorm, mc.routed_scale, s.normed, d);
    grouped(w.w1, from_rows(), s.normed, d, n, s.h1, ff);
    if (mc.expert.gated()) grouped(w.w3, from_rows(), s.normed, d, n, s.h3, ff);
    ffn_activation(stream, FfnActivation(uint8_t(mc.expert.act)), s.h1, s.h3, ff, n * K);
    grouped(w.w2, from_pairs(), s.h1, ff, n * int(mc.top_k), s.pair_out, d);
    const float* inv = nullptr;
    if (mc.normalize_expert_output) {
      inverse_rms_rows(stream, s.pair_out, d, d, m.config.norm_eps, s.inv_rms, n * K);
      inv = s.inv_rms;
    }
    expert_combine(stream, s.pair_out, d, s.gates, inv, K, s.out, d, d, n);
    for (const DeviceFeedForward& shared : w.shared) {
      feed_forward(mc.shared, shared, s.shared_out);
      add_rows(stream, s.out, d, s.shared_out, d, d, n);
    }
  }

  void norm(const DeviceNorm& w, const float* x, float* y) {
    const int d = m.dims.d_model;
    normalize_rows(stream, w.type, w.weight, w.bias, m.config.norm_eps, x, d, y, d, d, n);
  }

  void run(int head_first, int head_rows) {
    const int d = m.dims.d_model;
    embedding_gather(stream, m.weights.embed, s.tokens, s.residual, n);
    for (size_t i = 0; i < m.config.layers.size(); ++i) {
      const LayerConfig& lc = m.config.layers[i];
      const DeviceLayer& dl = m.weights.layers[i];
      norm(dl.norm, s.residual, s.normed);
      switch (lc.kind) {
        case LayerKind::Mamba: mamba(lc, dl); break;
        case LayerKind::Parallel:
          mamba(lc, dl);
          MMB_CUDA_CHECK(cudaMemcpyAsync(s.mamba_out, s.out, size_t(n) * d * sizeof(float), cudaMemcpyDeviceToDevice,
                                         stream));
          if (!lc.shared_norm) norm(dl.norm_moe, s.residual, s.normed);
          moe(lc, dl);
          add_rows(stream, s.out, d, s.mamba_out, d, d, n);
          break;
        case LayerKind::MoE: moe(lc, dl); break;
        case LayerKind::MLP: feed_forward(lc.mlp, dl.mlp, s.out); break;
        case LayerKind::Mamba2:
        case LayerKind::Attention:
          break;  // CudaBackend::unsupported() keeps such models off the device
      }
      add_rows(stream, s.residual, d, s.out, d, d, n);
    }
    if (head_rows == 0) return;
    const float* last = s.residual + size_t(head_first) * d;
    normalize_rows(stream, m.weights.norm_f.type, m.weights.norm_f.weight, m.weights.norm_f.bias, m.config.norm_eps,
                   last, d, s.normed, d, d, head_rows);
    linear(DeviceLinear{m.weights.head, nullptr}, s.normed, d, s.logits, m.dims.vocab, head_rows);
  }
};

}  // namespace

void enqueue_forward(CudaModel& model, int n, bool sequential, int head_first, int head_rows) {
  Pass{model, model.stream.get(), model.scratch, n, sequential}.run(head_first, head_rows);
}

}  // namespace mmb::cuda
