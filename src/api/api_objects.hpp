// What the opaque C handles hold. Runtimes and models are reference counted: the
// host's handle is one reference, and every object made from them holds another,
// so a host may destroy a parent before its children. All handles are defined here,
// in a header: the ABI check (tests/abi) then sees them as the opaque declarations
// hosts see (src/CMakeLists.txt, -femit-struct-debug-reduced).
#pragma once

#include "model/model.hpp"
#include "runtime/detokenizer.hpp"
#include "runtime/runtime.hpp"
#include "runtime/sampler.hpp"
#include "runtime/session.hpp"

#include <atomic>
#include <memory>
#include <string>

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

struct mmb_detokenizer {
  explicit mmb_detokenizer(mmb_model* m) : model(m), impl(m->impl->tokenizer()) {}
  mmb_model* model;  // one reference held: the detokenizer reads its vocabulary
  mmb::Detokenizer impl;
  std::string pending;  // output not yet handed out; keeps its capacity between calls
};

struct mmb_sampler {
  mmb::Sampler impl;
};

namespace mmb::api {

void retain(mmb_runtime* r);
void release(mmb_runtime* r);
void retain(mmb_model* m);
void release(mmb_model* m);

}  // namespace mmb::api
