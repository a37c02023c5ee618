// What the opaque C handles hold. Runtimes and models are reference counted: the
// host's handle is one reference, and every object made from them holds another,
// so a host may destroy a parent before its children.
#pragma once

#include "model/model.hpp"
#include "runtime/runtime.hpp"
#include "runtime/session.hpp"

#include <atomic>
#include <memory>

struct mmb_runtime {
  explicit mmb_runtime(const mmb_runtime_options& o) : impl(o) {}
  std::atomic<int> refs{1};
  mmb::Runtime impl;
};

struct mmb_model {
  mmb_model(mmb_runtime* r, std::unique_ptr<mmb::Model> m) : runtime(r), impl(std::move(m)) {}
  std::atomic<int> refs{1};
  mmb_runtime* runtime;  // one reference held
  std::unique_ptr<mmb::Model> impl;
};

struct mmb_session {
  mmb_session(mmb_model* m, std::unique_ptr<mmb::Session> s) : model(m), impl(std::move(s)) {}
  mmb_model* model;  // one reference held
  std::unique_ptr<mmb::Session> impl;
};

namespace mmb::api {

void retain(mmb_runtime* r);
void release(mmb_runtime* r);
void retain(mmb_model* m);
void release(mmb_model* m);

}  // namespace mmb::api
