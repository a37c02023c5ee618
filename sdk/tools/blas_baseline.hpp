// An optimized BLAS's sgemm as a baseline for the matrix kernel: loaded at run time
// (dlopen), so neither the library nor the CLI depends on one; nothing on Windows.
#pragma once

#include <cstddef>
#include <string>

namespace mmb::cli {

class BlasBaseline {
 public:
  // Loads `path` (empty: libopenblas.so.0; "none": nothing); loaded() says whether it
  // has cblas_sgemm, error() why not. core_type (may be null) is OpenBLAS's
  // OPENBLAS_CORETYPE unless the environment sets one: its kernels for that CPU kind.
  BlasBaseline(const std::string& path, const char* core_type);
  ~BlasBaseline();  // leaves the library loaded (blas_baseline.cpp)
  BlasBaseline(const BlasBaseline&) = delete;
  BlasBaseline& operator=(const BlasBaseline&) = delete;

  bool loaded() const { return sgemm_ != nullptr; }
  const std::string& name() const { return name_; }
  const std::string& error() const { return error_; }
  // Threads the BLAS uses (openblas_set_num_threads, where it has it).
  void set_threads(int n) const;
  // y[v][r] = sum_c w[r][c] x[v][c] for n vectors: x (n x cols), w (rows x cols) and
  // y (n x rows), all row-major.
  void multiply(const float* w, size_t rows, size_t cols, const float* x, size_t n, float* y) const;

 private:
  using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
  using SetThreads = void (*)(int);
  void* handle_ = nullptr;
  Sgemm sgemm_ = nullptr;
  SetThreads set_threads_ = nullptr;
  std::string name_, error_;
};

}  // namespace mmb::cli
