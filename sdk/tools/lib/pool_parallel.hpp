// Runs ReadOptions::parallel work on a ThreadPool, as the runtime does for mmb_model_load_*.
#pragma once

#include "base/function_ref.hpp"
#include "base/thread_pool.hpp"

#include <cstddef>

namespace mmb {

class PoolParallel {
 public:
  using Fn = FunctionRef<void(size_t n_tasks, FunctionRef<void(size_t task)> task)>;

  explicit PoolParallel(ThreadPool& pool) : body_{&pool}, fn_(body_) {}
  PoolParallel(const PoolParallel&) = delete;
  PoolParallel& operator=(const PoolParallel&) = delete;

  Fn* get() { return &fn_; }  // for ReadOptions::parallel

 private:
  struct Body {
    ThreadPool* pool;
    void operator()(size_t n_tasks, FunctionRef<void(size_t)> task) const {
      pool->run(n_tasks, [&](size_t i, int) { task(i); });
    }
  };
  Body body_;
  Fn fn_;
};

}  // namespace mmb
