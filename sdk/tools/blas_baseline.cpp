#include "blas_baseline.hpp"

#include <cstdlib>

#if !defined(_WIN32)
#include <dlfcn.h>
#endif

namespace mmb::cli {

BlasBaseline::BlasBaseline(const std::string& path, const char* core_type) : name_(path.empty() ? "libopenblas.so.0" : path) {
  if (path == "none") {
    error_ = "none asked for";
    return;
  }
#if defined(_WIN32)
  error_ = "not available on Windows";
#else
  // OpenMP builds spin their threads between calls by default, which would take the
  // cores from the kernel measured next.
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  if (core_type) setenv("OPENBLAS_CORETYPE", core_type, 0);
  handle_ = dlopen(name_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char* e = dlerror();
    error_ = e ? e : "cannot be loaded";
    return;
  }
  sgemm_ = reinterpret_cast<Sgemm>(dlsym(handle_, "cblas_sgemm"));
  set_threads_ = reinterpret_cast<SetThreads>(dlsym(handle_, "openblas_set_num_threads"));
  if (!sgemm_) error_ = "has no cblas_sgemm";
#endif
}

// The library stays loaded: an OpenMP BLAS keeps worker threads that would run on in
// unmapped code after dlclose, and the buffers it keeps for them would then look leaked.
BlasBaseline::~BlasBaseline() = default;

void BlasBaseline::set_threads(int n) const {
  if (set_threads_) set_threads_(n);
}

void BlasBaseline::multiply(const float* w, size_t rows, size_t cols, const float* x, size_t n, float* y) const {
  constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;  // CBLAS's enums
  sgemm_(kRowMajor, kNoTrans, kTrans, int(n), int(rows), int(cols), 1.0f, x, int(cols), w, int(cols), 0.0f, y,
         int(rows));
}

}  // namespace mmb::cli
