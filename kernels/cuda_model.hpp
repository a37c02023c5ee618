// The plugin's objects behind the table's opaque handles: an opened device, a model
// uploaded to it (weights, one stream, one cuBLAS handle, scratch for up to kMaxRows
// rows, decode graphs) and a session's state on the device.
#pragma once

#include "cuda_handles.hpp"
#include "device_buffer.hpp"
#include "device_weights.hpp"
#include "linear_gemm.cuh"

#include "backend/cuda_plugin.hpp"

#include <map>
#include <mutex>
#include <utility>

namespace mmb::cuda {

// Rows one forward pass takes: the largest decode bucket and the prefill chunk.
inline constexpr int kMaxRows = 256;

// Per-row working memory for kMaxRows rows, carved from one device buffer. Row
// strides are the field's width (d_model, 2 d_inner, ...).
struct Scratch {
  float *residual, *normed, *out, *mamba_out, *shared_out;  // [R, d_model]
  float *xz;                                                 // [R, 2 max_d_inner]
  float *xc, *dt, *y;                                        // [R, max_d_inner]
  float *dbc;                                                // [R, max_dbc]
  float *scores;                                             // [R, max_experts]
  float *gates, *inv_rms;                                    // [R * max_top_k]
  int32_t *experts, *in_rows, *pair_rows;                    // [R * max_top_k]
  int32_t *counts, *offsets;                                 // [max_experts]
  float *h1, *h3;                                            // [R * max_top_k, max_d_ff]
  float *pair_out;                                           // [R * max_top_k, max(d_model, max_d_inner)]
  float *logits;                                             // [R, vocab]
  float *rounded;  // [R * max_top_k, max_in]: a q8 or q4 product's input, rounded (none without such weights)
  int32_t *tokens;                                           // [R]
  float **states;                                            // [R]
  GemmScratch gemm;                                          // cuBLAS input parts and their products
};

struct ModelDims {
  int d_model = 0, vocab = 0;
  int max_d_inner = 0, max_dbc = 0, max_experts = 0, max_top_k = 1, max_d_ff = 0;
  int max_in = 0;   // widest input of a projection
  int max_out = 0;  // widest output of a plain projection but the head
  uint64_t state_floats = 0;
};

ModelDims model_dims(const ModelConfig& config);

}  // namespace mmb::cuda

namespace mmb::cuda_plugin {

struct Device {
  int index = 0;
  DeviceInfo info;
  cuda::MemoryCounter memory;
};

struct CudaModel {
  CudaModel(Device* device, const ModelConfig& config) : device(device), config(config) {}

  Device* device;
  ModelConfig config;
  cuda::ModelDims dims;
  std::mutex mutex;  // one call at a time per model (its stream, scratch and graphs)
  bool use_graphs = true;

  // Declared in destruction order last-to-first: graphs and handles go before memory.
  cuda::DeviceWeights weights;
  cuda::DeviceBuffer scratch_memory, pad_state, cublas_workspace;
  cuda::Scratch scratch{};
  cuda::PinnedBuffer host_tokens, host_states;  // staging for the per-call inputs
  cuda::Stream stream;
  cuda::CublasHandle cublas;
  std::map<std::pair<int, bool>, cuda::GraphExec> graphs;  // (bucket, with head)
};

struct CudaState {
  CudaModel* model;
  cuda::DeviceBuffer buffer;
  float* data() const { return buffer.as<float>(); }
};

}  // namespace mmb::cuda_plugin

namespace mmb::cuda {

// Allocates the model's scratch, cuBLAS workspace and staging (after the weights).
void prepare_model(cuda_plugin::CudaModel& model);

// Enqueues one forward pass over rows [0, n) of scratch.tokens / scratch.states on the
// model's stream (no synchronisation; capturable into a graph). sequential: all rows
// are one state's tokens in order (prefill); else every row has its own state. Logits
// of rows [head_first, head_first + head_rows) go to scratch.logits rows 0.. .
void enqueue_forward(cuda_plugin::CudaModel& model, int n, bool sequential, int head_first, int head_rows);

// The table's step and prefill (the caller holds model.mutex and the device).
void step_states(cuda_plugin::CudaModel& model, cuda_plugin::CudaState* const* states, const int32_t* tokens,
                 size_t n, float* logits, size_t stride);
void prefill_state(cuda_plugin::CudaModel& model, cuda_plugin::CudaState& state, const int32_t* tokens, size_t n,
                   float* logits);

}  // namespace mmb::cuda
