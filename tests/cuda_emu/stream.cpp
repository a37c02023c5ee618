// The device, streams, events and the error state. Work queued on a stream runs when
// the host waits for it (a synchronize, a blocking copy, an event), in the stream's
// order, so host code that reuses a buffer an asynchronous copy still reads, or reads
// a result it has not waited for, sees the wrong data here as it may on a device.
#include "emulator.hpp"

#include <chrono>
#include <cstring>
#include <set>
#include <utility>

struct CUstream_st : cuda_emu::Stream {};
struct CUevent_st {
  bool recorded = false, done = false;
  double ms = 0.0;
  CUstream_st* stream = nullptr;
};

namespace cuda_emu {

namespace {

CUstream_st legacy;
std::set<Stream*> streams{&legacy};
cudaError_t last_error = cudaSuccess;

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Stream* resolve(cudaStream_t s) { return s ? static_cast<Stream*>(s) : &legacy; }

void set_last_error(cudaError_t e) { last_error = e; }

bool capturing(cudaStream_t s) { return resolve(s)->capture != nullptr; }

void enqueue(cudaStream_t s, Op op) {
  Stream* stream = resolve(s);
  if (stream->capture) return stream->capture->ops.push_back(std::move(op));
  for (Stream* other : streams)
    if (other->capture && other->mode != cudaStreamCaptureModeRelaxed && stream == &legacy) {
      // The legacy stream synchronizes with every blocking stream, a capture included.
      other->invalidated = true;
      report("work on the legacy stream while a stream is being captured");
      set_last_error(cudaErrorStreamCaptureInvalidated);
      return;
    }
  stream->pending.push_back(std::move(op));
}

void flush(Stream* s) {
  while (!s->pending.empty()) {
    Op op = std::move(s->pending.front());
    s->pending.pop_front();
    op();
  }
}

void flush_all() {
  for (Stream* s : streams) flush(s);
}

cudaError_t check_not_capturing(const char* call) {
  for (Stream* s : streams)
    if (s->capture && s->mode != cudaStreamCaptureModeRelaxed) {
      s->invalidated = true;
      report(std::string(call) + " while a stream is being captured (illegal on a device)");
      return cudaErrorStreamCaptureUnsupported;
    }
  return cudaSuccess;
}

}  // namespace cuda_emu

using namespace cuda_emu;

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidDevice; }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return cudaErrorInvalidDevice;
  *prop = {};
  std::strcpy(prop->name, "CUDA emulator (moemamba tests)");
  size_t free_bytes;
  cudaMemGetInfo(&free_bytes, &prop->totalGlobalMem);
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  if (cudaError_t e = check_not_capturing("cudaDeviceSynchronize")) return e;
  flush_all();
  return cudaSuccess;
}

cudaError_t cudaGetLastError() { return std::exchange(last_error, cudaSuccess); }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t error) { return cudaGetErrorName(error); }

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  *stream = new CUstream_st;
  streams.insert(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream || !streams.count(stream)) return cudaErrorInvalidResourceHandle;
  flush(stream);  // queued work still completes
  streams.erase(stream);
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (capturing(stream)) {
    report("cudaStreamSynchronize of a stream being captured");
    resolve(stream)->invalidated = true;
    return cudaErrorStreamCaptureUnsupported;
  }
  if (!stream) flush_all();  // the legacy stream waits for the blocking streams too
  flush(resolve(stream));
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  event->recorded = true;
  event->done = false;
  event->stream = static_cast<CUstream_st*>(resolve(stream));
  enqueue(stream, [event] {
    event->done = true;
    event->ms = now_ms();
  });
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (cudaError_t e = check_not_capturing("cudaEventSynchronize")) return e;
  if (event->recorded) flush(event->stream);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start->done || !end->done) return cudaErrorNotReady;
  *ms = float(end->ms - start->ms);
  return cudaSuccess;
}
