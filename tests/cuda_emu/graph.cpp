// Stream capture and graph replay. A capture records the work queued on the stream
// (launches with their arguments, copies, memsets, cuBLAS calls) instead of running it;
// a launch of the instantiated graph queues the recorded work again, in order. What a
// real capture refuses (a synchronous copy or allocation, a synchronize, pageable
// memory) invalidates the capture here too (stream.cpp, memory.cpp).
#include "emulator.hpp"

struct CUgraph_st : cuda_emu::Graph {};
struct CUgraphExec_st : cuda_emu::Graph {};

using namespace cuda_emu;

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  Stream* s = resolve(stream);
  if (!stream) return cudaErrorStreamCaptureUnsupported;  // the legacy stream cannot be captured
  if (s->capture) return cudaErrorStreamCaptureUnmatched;
  s->capture = new CUgraph_st;
  s->mode = mode;
  s->invalidated = false;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  Stream* s = resolve(stream);
  if (!s->capture) return cudaErrorStreamCaptureUnmatched;
  CUgraph_st* captured = static_cast<CUgraph_st*>(s->capture);
  s->capture = nullptr;
  if (s->invalidated) {
    delete captured;
    *graph = nullptr;
    return cudaErrorStreamCaptureInvalidated;
  }
  *graph = captured;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!graph) return cudaErrorInvalidValue;
  if (cudaError_t e = check_not_capturing("cudaGraphInstantiate")) return e;
  *exec = new CUgraphExec_st;
  (*exec)->ops = graph->ops;
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return cudaErrorInvalidValue;
  for (const Op& op : exec->ops) enqueue(stream, op);
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
