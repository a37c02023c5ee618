// Stepping a batch of states, and prefilling one state, on the model's stream.
//
// Decode: the batch is cut into pieces of at most kMaxRows rows; each piece is padded
// to a power-of-two bucket (1, 2, 4, ..., 256) with rows on a scratch state, its tokens
// and state pointers are copied into the device arrays the forward pass reads, and the
// bucket's CUDA graph (captured on first use, one per bucket and per "logits wanted")
// is replayed. The only host synchronisation is after the logits copy. MMB_CUDA_GRAPHS=0
// runs the same launches without graphs or padding (for debugging).
//
// Prefill: chunks of up to kMaxRows tokens of one state go through the same layers in
// one pass each (sequential conv and scan inside, projections matrix-matrix); logits
// only for the last token.
#include "cuda_model.hpp"

#include <algorithm>
#include <cstring>

namespace mmb::cuda {

using cuda_plugin::CudaModel;
using cuda_plugin::CudaState;

namespace {

int bucket_for(int n) {
  int b = 1;
  while (b < n) b *= 2;
  return b;
}

void check_tokens(const CudaModel& m, const int32_t* tokens, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= m.dims.vocab)
      throw PluginError(MMB_ERR_INVALID_ARGUMENT, "token " + std::to_string(tokens[i]) + " at " + std::to_string(i) +
                                                      " is outside the vocabulary [0, " +
                                                      std::to_string(m.dims.vocab) + ")");
}

// The graph of one bucket, captured on first use.
cudaGraphExec_t bucket_graph(CudaModel& m, int bucket, bool with_head) {
  auto found = m.graphs.find({bucket, with_head});
  if (found != m.graphs.end()) return found->second.get();
  cudaStream_t stream = m.stream.get();
  MMB_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  Graph graph;
  try {
    enqueue_forward(m, bucket, false, 0, with_head ? bucket : 0);
  } catch (...) {
    cudaStreamEndCapture(stream, graph.out());  // ends the capture; the partial graph is dropped
    (void)cudaGetLastError();
    throw;
  }
  MMB_CUDA_CHECK(cudaStreamEndCapture(stream, graph.out()));
  cudaGraphExec_t exec = nullptr;
  MMB_CUDA_CHECK(cudaGraphInstantiate(&exec, graph.get(), 0));
  GraphExec owned(exec);
  return m.graphs.emplace(std::make_pair(bucket, with_head), std::move(owned)).first->second.get();
}

}  // namespace

void step_states(CudaModel& m, CudaState* const* states, const int32_t* tokens, size_t n, float* logits,
                 size_t stride) {
  check_tokens(m, tokens, n);
  cudaStream_t stream = m.stream.get();
  int32_t* host_tokens = m.host_tokens.as<int32_t>();
  float** host_states = m.host_states.as<float*>();
  const int vocab = m.dims.vocab;
  for (size_t start = 0; start < n; start += kMaxRows) {
    const int rows = int(std::min<size_t>(kMaxRows, n - start));
    const int width = m.use_graphs ? bucket_for(rows) : rows;
    for (int i = 0; i < width; ++i) {
      const bool real = i < rows;
      host_tokens[i] = real ? tokens[start + i] : 0;
      host_states[i] = real ? states[start + i]->data() : m.pad_state.as<float>();
    }
    MMB_CUDA_CHECK(cudaMemcpyAsync(m.scratch.tokens, host_tokens, width * sizeof(int32_t), cudaMemcpyHostToDevice,
                                   stream));
    MMB_CUDA_CHECK(cudaMemcpyAsync(m.scratch.states, host_states, width * sizeof(float*), cudaMemcpyHostToDevice,
                                   stream));
    const bool with_head = logits != nullptr;
    if (m.use_graphs)
      MMB_CUDA_CHECK(cudaGraphLaunch(bucket_graph(m, width, with_head), stream));
    else
      enqueue_forward(m, width, false, 0, with_head ? width : 0);
    // A single row's stride is meaningless (sessions pass 0), but cudaMemcpy2DAsync
    // refuses any pitch below the row's width, whatever the height.
    const size_t pitch = (rows > 1 ? stride : size_t(vocab)) * sizeof(float);
    if (with_head)
      MMB_CUDA_CHECK(cudaMemcpy2DAsync(logits + start * stride, pitch, m.scratch.logits, size_t(vocab) * sizeof(float),
                                       size_t(vocab) * sizeof(float), rows, cudaMemcpyDeviceToHost, stream));
    // Also what lets the next piece reuse the pinned staging.
    MMB_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
}

void prefill_state(CudaModel& m, CudaState& state, const int32_t* tokens, size_t n, float* logits) {
  check_tokens(m, tokens, n);
  cudaStream_t stream = m.stream.get();
  int32_t* host_tokens = m.host_tokens.as<int32_t>();
  float** host_states = m.host_states.as<float*>();
  for (int i = 0; i < kMaxRows; ++i) host_states[i] = state.data();
  MMB_CUDA_CHECK(cudaMemcpyAsync(m.scratch.states, host_states, kMaxRows * sizeof(float*), cudaMemcpyHostToDevice,
                                 stream));
  for (size_t start = 0; start < n; start += kMaxRows) {
    const int rows = int(std::min<size_t>(kMaxRows, n - start));
    const bool last = start + rows == n;
    std::memcpy(host_tokens, tokens + start, rows * sizeof(int32_t));
    MMB_CUDA_CHECK(cudaMemcpyAsync(m.scratch.tokens, host_tokens, rows * sizeof(int32_t), cudaMemcpyHostToDevice,
                                   stream));
    const bool with_head = last && logits;
    enqueue_forward(m, rows, true, rows - 1, with_head ? 1 : 0);
    if (with_head)
      MMB_CUDA_CHECK(cudaMemcpyAsync(logits, m.scratch.logits, size_t(m.dims.vocab) * sizeof(float),
                                     cudaMemcpyDeviceToHost, stream));
    MMB_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
}

}  // namespace mmb::cuda
