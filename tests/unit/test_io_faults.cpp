// I/O faults on every loader path. A bundle served through host I/O (mmb_io) fails at
// each callback call in turn (size, seek and read counted together): an error return,
// a read that ends early, a partial read (legal: the library must continue it), and a
// read whose bytes were changed. Each fault must give its documented status
// (MMB_ERR_IO for errors, MMB_ERR_FORMAT for changed bytes), leave *out NULL, hand back
// every byte taken from the runtime's allocator hooks, and the next load (the host's
// retry: the API documents no retry of its own, so a transient failure is an error)
// must give a model computing exactly the logits of one loaded without faults.
// Then states loaded from damaged buffers, and page-in through a failing host page
// store. Each path prints the fault points it exercised.
#include "support/bundle_fixtures.hpp"
#include "support/model_harness.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

using namespace mmb;
using namespace mmb::testing;

namespace {

// Allocator hooks that count live blocks and bytes; a free of an unknown block or with
// the wrong size is a misuse.
class CountingHeap {
 public:
  size_t live_bytes() {
    std::lock_guard l(mutex_);
    return bytes_;
  }
  size_t live_blocks() {
    std::lock_guard l(mutex_);
    return live_.size();
  }
  size_t misuses() {
    std::lock_guard l(mutex_);
    return misuses_;
  }
  static void* alloc(void* user, size_t size, size_t alignment) {
    auto* h = static_cast<CountingHeap*>(user);
    void* p = std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
    if (!p) return nullptr;
    std::lock_guard l(h->mutex_);
    h->live_.emplace(p, size);
    h->bytes_ += size;
    return p;
  }
  static void release(void* user, void* ptr, size_t size) {
    auto* h = static_cast<CountingHeap*>(user);
    std::lock_guard l(h->mutex_);
    auto it = h->live_.find(ptr);
    if (it == h->live_.end() || it->second != size) {
      ++h->misuses_;
      return;
    }
    h->bytes_ -= size;
    h->live_.erase(it);
    std::free(ptr);
  }
  void install(mmb_runtime_options& o) {
    o.alloc_fn = &CountingHeap::alloc;
    o.free_fn = &CountingHeap::release;
    o.alloc_user_data = this;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<void*, size_t> live_;
  size_t bytes_ = 0, misuses_ = 0;
};

enum class Fault { Error, EarlyEnd, Partial, Flip };
const char* fault_name(Fault f) {
  switch (f) {
    case Fault::Error: return "error";
    case Fault::EarlyEnd: return "early end";
    case Fault::Partial: return "partial read";
    case Fault::Flip: return "changed bytes";
  }
  return "?";
}

enum class Call { Size, Seek, Read };

// Host I/O over bytes in memory that injects one fault at callback call `at`.
struct FaultIo {
  std::span<const std::byte> bytes;
  Fault fault = Fault::Error;
  uint64_t at = UINT64_MAX;
  uint64_t calls = 0, position = 0;
  bool fired = false;
  uint64_t fault_offset = 0, fault_length = 0;  // the bytes of the faulty call
  std::vector<Call> log;  // the kind of each call

  bool due(Call c) {
    log.push_back(c);
    return calls++ == at;
  }
  mmb_io io() {
    mmb_io io{};
    io.struct_size = sizeof io;
    io.user_data = this;
    io.size = [](void* u, uint64_t* size) -> int32_t {
      auto* f = static_cast<FaultIo*>(u);
      *size = f->bytes.size();
      if (f->due(Call::Size) && f->fault == Fault::Error) {
        f->fired = true;
        return -1;
      }
      return 0;
    };
    io.seek = [](void* u, uint64_t offset) -> int32_t {
      auto* f = static_cast<FaultIo*>(u);
      if (f->due(Call::Seek) && f->fault == Fault::Error) {
        f->fired = true;
        return -1;
      }
      if (offset > f->bytes.size()) return -1;
      f->position = offset;
      return 0;
    };
    io.read = [](void* u, void* dst, size_t n) -> int64_t {
      auto* f = static_cast<FaultIo*>(u);
      size_t take = size_t(std::min<uint64_t>(n, f->bytes.size() - f->position));
      if (f->calls == f->at) {
        f->fault_offset = f->position;
        f->fault_length = n;
      }
      if (f->due(Call::Read)) {
        switch (f->fault) {
          case Fault::Error: f->fired = true; return -1;
          case Fault::EarlyEnd: f->fired = true; return 0;
          case Fault::Partial:
            if (take >= 2) {
              f->fired = true;
              take /= 2;
            }
            break;
          case Fault::Flip: break;
        }
      }
      std::memcpy(dst, f->bytes.data() + f->position, take);
      if (f->fault == Fault::Flip && f->calls - 1 == f->at && take > 0) {
        f->fired = true;
        static_cast<std::byte*>(dst)[take / 2] ^= std::byte{0x10};
      }
      f->position += take;
      return int64_t(take);
    };
    return io;
  }
};

mmb_status load_io(mmb_runtime* rt, FaultIo& f, mmb_model** out) {
  const mmb_io io = f.io();
  return mmb_model_load_io(rt, &io, nullptr, out);
}

// What a model computes: logits over a few steps (and, with a tokenizer beyond bytes,
// the tokens of a text and a rendered chat).
struct Fingerprint {
  std::vector<std::vector<float>> logits;
  std::vector<int32_t> tokens;
  std::string chat;
  bool operator==(const Fingerprint&) const = default;
};

Fingerprint fingerprint_of(mmb_model* model) {
  Fingerprint fp;
  SessionPtr s = make_session(model);
  for (int32_t t : {1, 72, 3}) fp.logits.push_back(step(s.get(), t));
  const char* text = "The quick brown fox, 1987.";
  int32_t tokens[256];
  size_t n = 0;
  REQUIRE(mmb_tokenize(model, text, std::strlen(text), tokens, 256, &n, 0) == MMB_OK);
  fp.tokens.assign(tokens, tokens + n);
  if (model_info(model).n_chat_templates > 0) {
    const mmb_chat_message m[] = {{"user", "Hi"}, {"assistant", "Hello"}};
    char buf[512];
    size_t len = 0;
    REQUIRE(mmb_chat_render(model, nullptr, m, 2, 1, buf, sizeof buf, &len) == MMB_OK);
    fp.chat.assign(buf, len);
  }
  return fp;
}

struct PathResult {
  std::map<std::string, size_t> points;  // per fault kind
  size_t total() const {
    size_t t = 0;
    for (auto& [k, v] : points) t += v;
    return t;
  }
};

// Every fault of `faults` at every callback call of a clean load; `stride` > 1 takes
// every stride-th call (and always the first and last few).
PathResult fault_every_call(const std::string& label, const std::vector<std::byte>& bytes, std::vector<Fault> faults,
                            size_t stride = 1) {
  CountingHeap heap;
  PathResult result;
  {
    RuntimePtr rt = make_runtime([&](mmb_runtime_options& o) { heap.install(o); });
    // The reference: loaded from memory, no faults.
    Fingerprint reference;
    {
      mmb_model* m = nullptr;
      REQUIRE(mmb_model_load_memory(rt.get(), bytes.data(), bytes.size(), nullptr, &m) == MMB_OK);
      ModelPtr model(m);
      reference = fingerprint_of(model.get());
    }
    FaultIo clean{bytes};
    {
      mmb_model* m = nullptr;
      REQUIRE(load_io(rt.get(), clean, &m) == MMB_OK);
      ModelPtr model(m);
      REQUIRE(fingerprint_of(model.get()) == reference);
    }
    const size_t baseline_bytes = heap.live_bytes(), baseline_blocks = heap.live_blocks();
    const uint64_t n_calls = clean.calls;
    REQUIRE(n_calls > 0);
    for (Fault fault : faults) {
      size_t points = 0;
      for (uint64_t k = 0; k <= n_calls; ++k) {
        if (stride > 1 && k % stride != 0 && k > 3 && k + 3 < n_calls) continue;
        INFO(label << ": " << fault_name(fault) << " at call " << k << " of " << n_calls);
        FaultIo f{bytes, fault, k};
        mmb_model* out = nullptr;
        const mmb_status st = load_io(rt.get(), f, &out);
        const std::string message = mmb_last_error();
        INFO("status " << mmb_status_string(st) << ": " << message << " (read of " << f.fault_length << " bytes at "
                        << f.fault_offset << ")");
        if (k == n_calls) {  // past the last call: no fault reached, the load completes
          CHECK_FALSE(f.fired);
          REQUIRE(st == MMB_OK);
          ModelPtr model(out);
          CHECK(fingerprint_of(model.get()) == reference);
          break;
        }
        REQUIRE(f.calls > k);  // the same calls as the clean load up to the fault
        if (!f.fired) {
          REQUIRE(st == MMB_OK);
          mmb_model_destroy(out);
          continue;
        }
        if (fault == Fault::Flip && st == MMB_OK) {
          // The changed byte was in bytes the loader looked at and did not use (a zstd
          // frame's first bytes, read to learn its size, then read again whole): the
          // model must be exactly right.
          ModelPtr model(out);
          CHECK(fingerprint_of(model.get()) == reference);
          ++result.points["changed bytes not used"];
          continue;
        }
        ++points;
        if (fault == Fault::Partial) {
          // A partial read is legal: the library continues it and the load succeeds.
          REQUIRE(st == MMB_OK);
          ModelPtr model(out);
          CHECK(fingerprint_of(model.get()) == reference);
        } else {
          CHECK(out == nullptr);
          if (fault == Fault::Flip) CHECK(st == MMB_ERR_FORMAT);
          else CHECK(st == MMB_ERR_IO);
          if (out) mmb_model_destroy(out);
          // Nothing of the failed load is left.
          CHECK(heap.live_bytes() == baseline_bytes);
          CHECK(heap.live_blocks() == baseline_blocks);
          // The host retries: the fault is gone, the model is right.
          FaultIo again{bytes};
          mmb_model* m = nullptr;
          REQUIRE(load_io(rt.get(), again, &m) == MMB_OK);
          ModelPtr model(m);
          CHECK(fingerprint_of(model.get()) == reference);
        }
      }
      result.points[fault_name(fault)] = points;
    }
    CHECK(heap.live_bytes() == baseline_bytes);
  }
  CHECK(heap.live_bytes() == 0);
  CHECK(heap.live_blocks() == 0);
  CHECK(heap.misuses() == 0);
  std::string line;
  for (auto& [k, v] : result.points) line += " " + k + " " + std::to_string(v) + ";";
  std::printf("[io_faults] %s: %zu fault points (%s )\n", label.c_str(), result.total(), line.c_str());
  WARN(label << ": " << result.total() << " fault points (" << line << " )");
  for (auto& [k, v] : result.points) {
    INFO(label << ": " << k);
    CHECK(v > 0);
  }
  return result;
}

const std::vector<Fault> kAllFaults = {Fault::Error, Fault::EarlyEnd, Fault::Partial, Fault::Flip};

std::vector<std::byte> tiny_bundle(DType dtype, Codec codec, bool compress_manifest) {
  SyntheticModel m = test::tiny_model(dtype, 7);
  WriterOptions w;
  w.codec = codec;
  w.compress_manifest = compress_manifest;
  return write_bundle_to_memory(m.contents, w);
}

void every_dtype_with(Codec codec, bool compress_manifest) {
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::Q8}) {
    const std::string label = std::string("tiny ") + std::string(dtype_name(dtype)) + " " +
                              std::string(codec_name(codec)) + (compress_manifest ? ", zstd manifest" : ", raw manifest");
    fault_every_call(label, tiny_bundle(dtype, codec, compress_manifest), kAllFaults);
  }
}

}  // namespace

TEST_CASE("host I/O faults at every call: raw tensors, raw manifest", "[io_faults]") {
  every_dtype_with(Codec::None, false);
}

TEST_CASE("host I/O faults at every call: zstd tensors", "[io_faults]") { every_dtype_with(Codec::Zstd, true); }

TEST_CASE("host I/O faults at every call: shuffle-zstd tensors", "[io_faults]") {
  every_dtype_with(Codec::ShuffleZstd, true);
}

TEST_CASE("host I/O faults at every call: chat templates", "[io_faults][chat]") {
  SyntheticModel m = test::tiny_model(DType::F16, 3);
  m.contents.tokenizer.chat_templates = {
      {"default",
       "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}<|im_end|>\n{% endfor %}"
       "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"}};
  WriterOptions w;
  w.codec = Codec::Zstd;
  fault_every_call("tiny with a chat template", write_bundle_to_memory(m.contents, w), kAllFaults);
}

TEST_CASE("host I/O faults at every call: the demo bundle (byte-level BPE from tokenizer.json)", "[io_faults][demo]") {
  const std::vector<std::byte> bytes = test::read_file(std::string(MMB_SOURCE_DIR) + "/models/demo-moe-mamba.mmb");
  REQUIRE(bytes.size() > 1000000);
  // Every load decodes 21 MiB from shuffle-zstd: every third call index for errors,
  // every eighth for the other faults (and the first and last few), to stay within the
  // time of one test.
  fault_every_call("demo-moe-mamba (errors)", bytes, {Fault::Error}, 3);
  fault_every_call("demo-moe-mamba", bytes, {Fault::EarlyEnd, Fault::Partial, Fault::Flip}, 8);
}

TEST_CASE("reads that are always partial load the same model", "[io_faults]") {
  const std::vector<std::byte> bytes = tiny_bundle(DType::F32, Codec::ShuffleZstd, true);
  RuntimePtr rt = make_runtime();
  mmb_model* m = nullptr;
  REQUIRE(mmb_model_load_memory(rt.get(), bytes.data(), bytes.size(), nullptr, &m) == MMB_OK);
  ModelPtr reference(m);
  for (size_t chunk : {size_t(1), size_t(7), size_t(4095)}) {
    test::MemoryIo io{bytes};
    io.max_chunk = chunk;
    const mmb_io hio = io.io();
    mmb_model* out = nullptr;
    REQUIRE(mmb_model_load_io(rt.get(), &hio, nullptr, &out) == MMB_OK);
    ModelPtr model(out);
    CHECK(fingerprint_of(model.get()) == fingerprint_of(reference.get()));
  }
}

TEST_CASE("session state load: every truncation and every single-byte change is refused", "[io_faults][state]") {
  CountingHeap heap;
  size_t truncations = 0, flips = 0;
  std::map<std::string, size_t> by_status;
  {
    RuntimePtr rt = make_runtime([&](mmb_runtime_options& o) { heap.install(o); });
    SyntheticModel weights = test::tiny_model(DType::F32, 11);
    ModelPtr model = load_model(rt.get(), weights);
    SessionPtr source = make_session(model.get());
    for (int32_t t : {5, 6, 7}) step(source.get(), t);
    const std::vector<uint8_t> blob = save_state(source.get());
    REQUIRE(blob.size() > 64);

    // The target holds another state, which every refused load must leave as it was.
    SessionPtr target = make_session(model.get()), twin = make_session(model.get());
    for (int32_t t : {9, 10}) {
      step(target.get(), t);
      step(twin.get(), t);
    }
    const std::vector<uint8_t> before = save_state(target.get());
    const size_t live = heap.live_bytes();
    auto refused = [&](const std::vector<uint8_t>& bad, size_t n, mmb_status expected, const char* what, size_t at) {
      const mmb_status st = mmb_session_state_load(target.get(), bad.data(), n);
      ++by_status[mmb_status_string(st)];
      if (st != expected) {
        FAIL_CHECK(what << " at " << at << " of " << blob.size() << ": " << mmb_status_string(st) << " ("
                        << mmb_last_error() << "), expected " << mmb_status_string(expected));
      }
    };
    for (size_t n = 0; n < blob.size(); ++n, ++truncations) refused(blob, n, MMB_ERR_FORMAT, "truncation", n);
    std::vector<uint8_t> bad = blob;
    for (size_t i = 0; i < blob.size(); ++i) {
      for (uint8_t x : {uint8_t(0x01), uint8_t(0x80)}) {
        bad[i] ^= x;
        // The major version (bytes 8-9) is read before the checksum: another major is
        // a newer format.
        refused(bad, bad.size(), (i == 8 || i == 9) ? MMB_ERR_UNSUPPORTED : MMB_ERR_FORMAT, "change", i);
        bad[i] ^= x;
        ++flips;
      }
    }
    CHECK(save_state(target.get()) == before);
    CHECK(heap.live_bytes() == live);
    CHECK(step(target.get(), 12) == step(twin.get(), 12));
    REQUIRE(mmb_session_state_load(target.get(), blob.data(), blob.size()) == MMB_OK);
    CHECK(step(target.get(), 13) == step(source.get(), 13));
  }
  CHECK(heap.live_bytes() == 0);
  CHECK(heap.misuses() == 0);
  std::printf("[io_faults] session state load: %zu truncations, %zu single-byte changes\n", truncations, flips);
  WARN("session state load: " << truncations << " truncations, " << flips << " single-byte changes");
  CHECK(truncations > 0);
  CHECK(flips > 0);
}

TEST_CASE("chat state load: every truncation is refused and changes nothing", "[io_faults][state][chat]") {
  RuntimePtr rt = make_runtime();
  SyntheticModel weights = test::tiny_model(DType::F32, 13);
  weights.contents.tokenizer.chat_templates = {
      {"default", "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"}};
  ModelPtr model = load_model(rt.get(), weights);
  auto make_chat = [&] {
    mmb_chat* c = nullptr;
    REQUIRE(mmb_chat_create(model.get(), nullptr, &c) == MMB_OK);
    return c;
  };
  mmb_chat* a = make_chat();
  mmb_chat* b = make_chat();
  REQUIRE(mmb_chat_add(a, "user", "hello there") == MMB_OK);
  REQUIRE(mmb_chat_add(b, "user", "another one") == MMB_OK);
  auto saved = [](mmb_chat* c) {
    size_t size = 0;
    REQUIRE(mmb_chat_state_size(c, &size) == MMB_OK);
    std::vector<uint8_t> out(size);
    REQUIRE(mmb_chat_state_save(c, out.data(), out.size(), &size) == MMB_OK);
    out.resize(size);
    return out;
  };
  const std::vector<uint8_t> blob = saved(a), before = saved(b);
  size_t points = 0;
  for (size_t n = 0; n < blob.size(); ++n, ++points) {
    const mmb_status st = mmb_chat_state_load(b, blob.data(), n);
    if (st != MMB_ERR_FORMAT) FAIL_CHECK("truncation to " << n << " of " << blob.size() << ": " << mmb_status_string(st));
  }
  CHECK(saved(b) == before);
  REQUIRE(mmb_chat_state_load(b, blob.data(), blob.size()) == MMB_OK);
  CHECK(saved(b) == blob);
  mmb_chat_destroy(a);
  mmb_chat_destroy(b);
  std::printf("[io_faults] chat state load: %zu truncations\n", points);
  CHECK(points > 0);
}

namespace {

// A host page store whose store or load call number `at` (both counted together)
// fails: a store refuses, a load returns an error or delivers changed bytes.
struct FaultPages {
  std::mutex mutex;
  std::map<uint64_t, std::vector<unsigned char>> pages;
  uint64_t calls = 0, at = UINT64_MAX;
  bool flip = false;  // a load at `at` delivers a changed byte instead of failing
  bool fired = false, fired_on_load = false;
  uint64_t loads = 0, drops = 0;

  static int32_t store(void* u, uint64_t key, const void* data, size_t size) {
    auto* p = static_cast<FaultPages*>(u);
    std::lock_guard l(p->mutex);
    if (p->calls++ == p->at) {
      p->fired = true;
      return 1;
    }
    const auto* b = static_cast<const unsigned char*>(data);
    p->pages[key].assign(b, b + size);
    return 0;
  }
  static int32_t load(void* u, uint64_t key, void* data, size_t size) {
    auto* p = static_cast<FaultPages*>(u);
    std::lock_guard l(p->mutex);
    ++p->loads;
    auto it = p->pages.find(key);
    if (it == p->pages.end() || it->second.size() != size) return 2;
    const bool due = p->calls++ == p->at;
    if (due && !p->flip) {
      p->fired = p->fired_on_load = true;
      return 1;
    }
    std::memcpy(data, it->second.data(), size);
    if (due) {
      p->fired = p->fired_on_load = true;
      static_cast<unsigned char*>(data)[size / 2] ^= 0x04;
    }
    return 0;
  }
  static void drop(void* u, uint64_t key) {
    auto* p = static_cast<FaultPages*>(u);
    std::lock_guard l(p->mutex);
    ++p->drops;
    p->pages.erase(key);
  }
  size_t held() {
    std::lock_guard l(mutex);
    return pages.size();
  }
};

uint32_t paged_sessions(mmb_runtime* rt) {
  mmb_session_memory m;
  m.struct_size = sizeof m;
  REQUIRE(mmb_runtime_get_session_memory(rt, &m) == MMB_OK);
  return m.paged_sessions;
}

}  // namespace

TEST_CASE("page-in through a failing host page store: every store and load call", "[io_faults][paging]") {
  SyntheticModel weights = test::tiny_model(DType::F32, 17);
  const std::vector<int32_t> prompt = random_tokens(3, 12, 256);
  constexpr int kRounds = 4;
  // The reference: a session that is never paged out.
  std::vector<std::vector<float>> expected;
  {
    RuntimePtr rt = make_runtime();
    ModelPtr model = load_model(rt.get(), weights);
    SessionPtr s = make_session(model.get());
    REQUIRE(mmb_session_prefill(s.get(), prompt.data(), prompt.size(), nullptr, 0) == MMB_OK);
    for (int i = 0; i < kRounds; ++i) expected.push_back(step(s.get(), 40 + i));
  }
  size_t store_points = 0, load_error_points = 0, load_flip_points = 0;
  std::map<std::string, size_t> flip_status;
  for (bool flip : {false, true}) {
    for (uint64_t k = 0;; ++k) {
      INFO((flip ? "changed page" : "failure") << " at page call " << k);
      CountingHeap heap;
      FaultPages host;
      host.at = k;
      host.flip = flip;
      {
        RuntimePtr rt = make_runtime([&](mmb_runtime_options& o) {
          heap.install(o);
          o.page_store = &FaultPages::store;
          o.page_load = &FaultPages::load;
          o.page_drop = &FaultPages::drop;
          o.page_user_data = &host;
        });
        ModelPtr model = load_model(rt.get(), weights);
        SessionPtr s = make_session(model.get());
        REQUIRE(mmb_session_prefill(s.get(), prompt.data(), prompt.size(), nullptr, 0) == MMB_OK);
        for (int i = 0; i < kRounds; ++i) {
          const bool fired_before = host.fired;
          REQUIRE(mmb_session_page_out(s.get()) == MMB_OK);  // a refused store: the library keeps the page
          CHECK(paged_sessions(rt.get()) == 1);
          std::vector<float> logits(size_t(vocab_size(model.get())));
          const mmb_status st = mmb_session_step(s.get(), 40 + i, logits.data(), logits.size());
          if (host.fired_on_load && !fired_before) {
            if (flip) {
              ++flip_status[mmb_status_string(st)];
              CHECK((st == MMB_ERR_FORMAT || st == MMB_ERR_IO));
            } else {
              CHECK(st == MMB_ERR_IO);
            }
            // The session stays paged out, its position unchanged; the next use tries again.
            CHECK(paged_sessions(rt.get()) == 1);
            CHECK(position(s.get()) == prompt.size() + size_t(i));
            REQUIRE(mmb_session_step(s.get(), 40 + i, logits.data(), logits.size()) == MMB_OK);
          } else {
            REQUIRE(st == MMB_OK);
          }
          CHECK(logits == expected[size_t(i)]);
          CHECK(paged_sessions(rt.get()) == 0);
        }
        s.reset();
        CHECK(host.held() == 0);
      }
      CHECK(heap.live_bytes() == 0);
      CHECK(heap.misuses() == 0);
      if (!host.fired) break;  // past the last page call
      if (!host.fired_on_load) ++store_points;
      else if (flip) ++load_flip_points;
      else ++load_error_points;
      REQUIRE(k < 1000);
    }
  }
  std::string statuses;
  for (auto& [k, v] : flip_status) statuses += " " + k + " x" + std::to_string(v);
  std::printf("[io_faults] page store: %zu refused stores, %zu failed loads, %zu changed pages (%s )\n",
              store_points / 2, load_error_points, load_flip_points, statuses.c_str());
  WARN("page store: " << store_points / 2 << " refused stores, " << load_error_points << " failed loads, "
                      << load_flip_points << " changed pages (" << statuses << " )");
  CHECK(store_points > 0);
  CHECK(load_error_points > 0);
  CHECK(load_flip_points > 0);
}
