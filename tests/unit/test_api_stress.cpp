// Eight threads call the public C API at random, with valid and invalid arguments, on
// shared runtimes (one whose jobs run on its worker thread, one whose jobs advance only
// in mmb_runtime_frame(), called by a ninth thread), shared models and shared sessions.
// Objects the header gives no thread promise (sessions, samplers, detokenizers, grammar
// states, chats, a job's reader) are used one thread at a time, under a lock or owned by
// one thread; where the header promises a status instead (session calls while a job
// runs: MMB_ERR_BUSY; a job polled, waited on and cancelled from several threads; a
// grammar shared by every thread) the threads race on purpose. Every status must be one
// the header documents for that call, never MMB_ERR_INTERNAL. Handles are destroyed and
// made again only through the API (never used after their destroy).
//
// Runs MMB_STRESS_SECONDS seconds (default 5); the ThreadSanitizer stage runs it longer.
// Prints how many calls each function got. No Catch assertions off the main thread.
#include <catch2/catch.hpp>

#include "support/bundle_fixtures.hpp"
#include "support/grammar_fixtures.hpp"
#include "support/model_harness.hpp"
#include "support/splitmix_rng.hpp"

#include <moemamba/moemamba.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

using namespace mmb;
using namespace mmb::testing;

namespace {

// Every function the test calls, for the per-function call counts.
#define MMB_STRESS_FUNCTIONS(X)                                                                              \
  X(status_string) X(last_error) X(version) X(runtime_options_init) X(runtime_create) X(runtime_destroy)     \
  X(runtime_get_backend) X(runtime_get_backend_info) X(runtime_frame) X(runtime_get_session_memory)         \
  X(load_options_init) X(model_load_file) X(model_load_memory) X(model_load_io) X(model_get_info)           \
  X(model_get_meta) X(model_get_stop_tokens) X(model_destroy) X(session_options_init) X(session_create)     \
  X(session_destroy) X(session_reset) X(session_get_position) X(session_get_model) X(session_step)          \
  X(prefill_options_init) X(session_prefill) X(session_prefill_ex) X(step_batch) X(session_state_size)       \
  X(session_state_save) X(session_state_load) X(session_fork) X(session_page_out) X(tokenize)               \
  X(token_to_bytes) X(detokenizer_create) X(detokenizer_destroy) X(detokenizer_push) X(detokenizer_flush)    \
  X(sampler_params_init) X(sampler_create) X(sampler_destroy) X(sampler_reset) X(sampler_accept)            \
  X(sampler_sample) X(generate_options_init) X(generate) X(job_options_init) X(job_submit_text)             \
  X(job_submit_tokens) X(job_poll) X(job_read_text) X(job_read_tokens) X(job_wait) X(job_cancel)           \
  X(job_destroy) X(chat_render) X(chat_options_init) X(chat_create) X(chat_destroy) X(chat_get_session)     \
  X(chat_add) X(chat_get_message_count) X(chat_get_message) X(chat_prefill) X(chat_generate) X(chat_reset)  \
  X(chat_state_size) X(chat_state_save) X(chat_state_load) X(grammar_options_init) X(grammar_create)        \
  X(grammar_create_choice) X(grammar_destroy) X(grammar_state_create) X(grammar_state_destroy)              \
  X(grammar_state_clone) X(grammar_state_reset) X(grammar_state_accept) X(grammar_state_can_end)            \
  X(grammar_state_get_mask) X(grammar_state_apply) X(sampler_sample_grammar) X(grammar_state_size)          \
  X(grammar_state_save) X(grammar_state_load) X(job_event)  // job_event: events received, not a call

enum Fn {
#define MMB_STRESS_ENUM(name) fn_##name,
  MMB_STRESS_FUNCTIONS(MMB_STRESS_ENUM)
#undef MMB_STRESS_ENUM
  fn_count
};

const char* const kFnNames[] = {
#define MMB_STRESS_NAME(name) "mmb_" #name,
    MMB_STRESS_FUNCTIONS(MMB_STRESS_NAME)
#undef MMB_STRESS_NAME
};

// A set of statuses a call may return.
struct Allowed {
  uint32_t bits = 0;
  Allowed(std::initializer_list<mmb_status> statuses) {
    for (mmb_status s : statuses) bits |= 1u << s;
  }
  Allowed with(mmb_status s, bool on = true) const {
    Allowed a = *this;
    if (on) a.bits |= 1u << s;
    return a;
  }
  bool has(mmb_status s) const { return s >= 0 && s < 32 && ((bits >> s) & 1u); }
};

// Call counts and the statuses nobody documented; shared by all threads.
struct Ledger {
  std::array<std::atomic<uint64_t>, fn_count> calls{};
  std::mutex mutex;
  std::vector<std::string> failures;
  size_t failure_count = 0;

  void count(Fn f) { calls[f].fetch_add(1, std::memory_order_relaxed); }
  void fail(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex);
    ++failure_count;
    if (failures.size() < 40) failures.push_back(what);
  }
  // Counts the call and checks its status against the documented set.
  mmb_status check(Fn f, mmb_status s, Allowed allowed, const char* where) {
    count(f);
    if (s == MMB_ERR_INTERNAL || !allowed.has(s))
      fail(std::string(kFnNames[f]) + " (" + where + ") returned " + mmb_status_string(s) + ": " + mmb_last_error());
    return s;
  }
};

Ledger* g_ledger = nullptr;  // set while the test runs; the job event callback reaches it

mmb_status check(Fn f, mmb_status s, Allowed allowed, const char* where = "") {
  return g_ledger->check(f, s, allowed, where);
}
void expect(bool ok, const std::string& what) {
  if (!ok) g_ledger->fail(what);
}

constexpr mmb_status OK = MMB_OK, INVALID = MMB_ERR_INVALID_ARGUMENT, FORMAT = MMB_ERR_FORMAT,
                     SMALL = MMB_ERR_BUFFER_TOO_SMALL, BUSY = MMB_ERR_BUSY, MISMATCH = MMB_ERR_STATE_MISMATCH,
                     UNSUPPORTED = MMB_ERR_UNSUPPORTED, GRAMMAR = MMB_ERR_GRAMMAR, CANCELLED = MMB_ERR_CANCELLED;

// ChatML, as in test_chat_api.cpp (the byte tokenizer has no special tokens).
const char* const kChatML =
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
const char* const kGrammar = "root ::= [a-z ]{1,12} \".\"";
const char* const kOtherGrammar = "root ::= (\"yes\" | \"no\") \"!\"";

// A model the threads share, with what they need to know of it.
struct SharedModel {
  mmb_model* model = nullptr;
  int32_t vocab = 0;
  bool has_chat = false;
};

// A session several threads take turns on; jobs on it are polled from any thread.
struct Slot {
  std::mutex session_mutex;     // one session call at a time
  mmb_session* session = nullptr;
  int model = 0;                // index into the shared models
  std::shared_mutex job_mutex;  // shared: poll, wait, cancel, read; exclusive: destroy
  std::mutex read_mutex;        // one reader at a time per job
  mmb_job* job = nullptr;       // written under session_mutex and job_mutex (exclusive)
  bool job_on_session = false;  // the job runs on `session` (not on one destroyed since)
};

struct Blobs {
  std::vector<uint8_t> state[2];    // a session state of model 0 and of model 1
  std::vector<uint8_t> damaged;     // model 0's with a byte flipped
  std::vector<uint8_t> chat;        // a saved chat of model 0
  std::vector<uint8_t> grammar;     // a state of the shared grammar
  std::vector<uint8_t> other_grammar;  // a state of another grammar of the same model
};

struct World {
  mmb_runtime* runtimes[2] = {};  // 0: MMB_JOBS_WORKER, 1: MMB_JOBS_FRAME
  SharedModel models[3];          // 0: tiny, chat template (worker runtime); 1: tiny, wider vocab (frame runtime); 2: demo
  std::vector<std::byte> bundle;  // model 1's bundle, loaded and destroyed again and again
  std::vector<std::byte> damaged_bundle;
  mmb_grammar* grammar = nullptr;  // on model 0, shared by every thread
  Blobs blobs;
  std::array<Slot, 6> slots;       // 0-2 on model 0, 3-5 on model 1
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> events{0};
};

thread_local bool t_in_poll = false;   // events delivered by this thread's mmb_job_poll()
thread_local uint64_t t_event_seed = 0;

void on_job_event(void* user_data, mmb_job* job, int32_t kind, int32_t token, const char*, size_t, mmb_status status) {
  auto* world = static_cast<World*>(user_data);
  world->events.fetch_add(1, std::memory_order_relaxed);
  g_ledger->count(fn_job_event);
  if (kind == MMB_JOB_EVENT_FINISHED) expect(status == OK || status == CANCELLED, "a FINISHED event with another status");
  if (kind == MMB_JOB_EVENT_ERROR) expect(status != OK && status != MMB_ERR_INTERNAL, "an ERROR event with MMB_OK or INTERNAL");
  if (kind == MMB_JOB_EVENT_TOKEN) expect(token >= -1, "a token event with a negative token");
  // Inside mmb_job_poll() the poller holds the job (a shared lock): cancelling it from
  // the callback is allowed. Events delivered by mmb_runtime_frame() leave it alone.
  if (t_in_poll && (++t_event_seed % 7) == 0) check(fn_job_cancel, mmb_job_cancel(job), {OK}, "in event");
}

int32_t vocab_of(const mmb_model* model) {
  mmb_model_info info{};
  info.struct_size = sizeof info;
  return mmb_model_get_info(model, &info) == MMB_OK ? info.vocab_size : 0;
}

std::vector<uint8_t> save(const mmb_session* s) {
  size_t size = 0, written = 0;
  REQUIRE(mmb_session_state_size(s, &size) == MMB_OK);
  std::vector<uint8_t> blob(size);
  REQUIRE(mmb_session_state_save(s, blob.data(), blob.size(), &written) == MMB_OK);
  return blob;
}

class Worker {
 public:
  Worker(World& w, int index) : w_(w), index_(index), rng_(0x5eed0000 + uint64_t(index)) {}

  void run() {
    check(fn_sampler_create, mmb_sampler_create(nullptr, &sampler_), {OK});
    new_detokenizer();
    check(fn_grammar_state_create, mmb_grammar_state_create(w_.grammar, &gstate_), {OK});
    check(fn_chat_create, mmb_chat_create(w_.models[0].model, nullptr, &chat_), {OK});
    check(fn_session_create, mmb_session_create(w_.models[index_ % 2].model, nullptr, &own_), {OK});
    while (!w_.stop.load(std::memory_order_relaxed)) {
      switch (rng_.below(15)) {
        case 0: case 1: slot_session_call(); break;
        case 2: submit_job(); break;
        case 3: case 4: job_call(); break;
        case 5: destroy_job_or_session(); break;
        case 6: batch(); break;
        case 7: text(); break;
        case 8: detokenize(); break;
        case 9: sample(); break;
        case 10: grammar(); break;
        case 11: chat(); break;
        case 12: own_session(); break;
        case 13: load_and_destroy(); break;
        default: misc(); break;
      }
    }
    mmb_chat_destroy(chat_);
    mmb_grammar_state_destroy(gstate_);
    mmb_detokenizer_destroy(detok_);
    mmb_sampler_destroy(sampler_);
    mmb_session_destroy(own_);
    for (Fn f : {fn_chat_destroy, fn_grammar_state_destroy, fn_detokenizer_destroy, fn_sampler_destroy, fn_session_destroy})
      g_ledger->count(f);
  }

 private:
  World& w_;
  int index_;
  SplitMixRng rng_;
  mmb_sampler* sampler_ = nullptr;
  mmb_detokenizer* detok_ = nullptr;
  int detok_model_ = 0;
  mmb_grammar_state* gstate_ = nullptr;
  mmb_chat* chat_ = nullptr;
  mmb_session* own_ = nullptr;
  std::vector<float> logits_;

  // A token for a model of `vocab` ids: mostly valid, else out of range (negative, past
  // the end, an id only the wider model or the demo model has, extremes).
  int32_t token(int32_t vocab, bool* valid) {
    if (rng_.below(5) != 0) {
      *valid = true;
      return int32_t(rng_.below(uint32_t(vocab)));
    }
    const int32_t t = rng_.pick<int32_t>({-1, vocab, vocab + 17, 300, 4000, std::numeric_limits<int32_t>::max(),
                                          std::numeric_limits<int32_t>::min()});
    *valid = t >= 0 && t < vocab;
    return t;
  }

  // A state blob to load: valid for model 0 or 1, damaged, truncated, garbage or empty.
  std::pair<const uint8_t*, size_t> blob(int* kind) {
    *kind = int(rng_.below(6));
    const Blobs& b = w_.blobs;
    switch (*kind) {
      case 0: return {b.state[0].data(), b.state[0].size()};
      case 1: return {b.state[1].data(), b.state[1].size()};
      case 2: return {b.damaged.data(), b.damaged.size()};
      case 3: return {b.state[0].data(), b.state[0].size() / 2};
      case 4: return {b.chat.data(), b.chat.size()};
      default: return {b.state[0].data(), 0};
    }
  }
  // What loading blob `kind` into a session of model `model` may give.
  static Allowed load_allowed(int kind, int model) {
    if (kind == 0 || kind == 1) return kind == model ? Allowed{OK} : Allowed{MISMATCH};
    return Allowed{FORMAT, INVALID};
  }

  void new_detokenizer() {
    detok_model_ = int(rng_.below(3));
    mmb_detokenizer_destroy(detok_);
    g_ledger->count(fn_detokenizer_destroy);
    detok_ = nullptr;
    check(fn_detokenizer_create, mmb_detokenizer_create(w_.models[detok_model_].model, &detok_), {OK});
  }

  // One call on a shared session, under its lock; MMB_ERR_BUSY is allowed only while a
  // job of this session exists.
  void slot_session_call() {
    Slot& slot = w_.slots[rng_.below(uint32_t(w_.slots.size()))];
    std::lock_guard<std::mutex> lock(slot.session_mutex);
    const bool busy = slot.job != nullptr && slot.job_on_session;
    const int32_t vocab = w_.models[slot.model].vocab;
    mmb_session* s = slot.session;
    logits_.assign(size_t(vocab) + 8, 0.0f);
    bool valid = false;
    switch (rng_.below(12)) {
      case 0: {
        const int32_t t = token(vocab, &valid);
        const size_t cap = rng_.pick<size_t>({size_t(vocab), size_t(vocab) + 8, size_t(vocab) - 1, 0});
        float* out = rng_.below(4) == 0 ? nullptr : logits_.data();
        Allowed a = !valid ? Allowed{INVALID} : (out && cap < size_t(vocab)) ? Allowed{SMALL} : Allowed{OK};
        if (!valid && out && cap < size_t(vocab)) a = a.with(SMALL);  // the order of the checks is not documented
        check(fn_session_step, mmb_session_step(s, t, out, cap), a.with(BUSY, busy), "slot");
        break;
      }
      case 1: {
        std::vector<int32_t> tokens(rng_.below(40));
        bool all_valid = true;
        for (int32_t& t : tokens) {
          t = rng_.below(20) == 0 ? token(vocab, &valid) : int32_t(rng_.below(uint32_t(vocab)));
          if (t < 0 || t >= vocab) all_valid = false;
        }
        const bool with_logits = rng_.coin();
        Allowed a = all_valid ? Allowed{OK} : Allowed{INVALID};
        if (tokens.empty() && with_logits) a = a.with(INVALID);  // n == 0 is allowed only without logits
        if (rng_.coin()) {
          mmb_prefill_options o;
          check(fn_prefill_options_init, mmb_prefill_options_init(&o, sizeof o), {OK});
          const bool bad_size = rng_.below(4) == 0;
          if (bad_size) o.struct_size = 2;
          check(fn_session_prefill_ex,
                mmb_session_prefill_ex(s, tokens.data(), tokens.size(), with_logits ? logits_.data() : nullptr,
                                       size_t(vocab), &o),
                (bad_size ? Allowed{INVALID} : a).with(BUSY, busy), "slot");
        } else {
          check(fn_session_prefill,
                mmb_session_prefill(s, tokens.data(), tokens.size(), with_logits ? logits_.data() : nullptr, size_t(vocab)),
                a.with(BUSY, busy), "slot");
        }
        break;
      }
      case 2: {
        size_t size = 0;
        check(fn_session_state_size, mmb_session_state_size(s, &size), Allowed{OK}.with(BUSY, busy), "slot");
        std::vector<uint8_t> buf(size + 16);
        const size_t cap = rng_.pick<size_t>({size, size + 16, size / 2, 0});
        size_t written = 0;
        const mmb_status st = check(fn_session_state_save, mmb_session_state_save(s, buf.data(), cap, &written),
                                    (cap < size ? Allowed{SMALL} : Allowed{OK}).with(BUSY, busy), "slot");
        if (st == OK) expect(written == size, "mmb_session_state_save wrote another size than mmb_session_state_size gave");
        break;
      }
      case 3: {
        int kind = 0;
        auto [data, size] = blob(&kind);
        check(fn_session_state_load, mmb_session_state_load(s, data, size), load_allowed(kind, slot.model).with(BUSY, busy),
              "slot");
        break;
      }
      case 4: {
        mmb_session* fork = nullptr;
        if (check(fn_session_fork, mmb_session_fork(s, &fork), Allowed{OK}.with(BUSY, busy), "slot") == OK) {
          bool v = false;
          const int32_t t = token(vocab, &v);
          check(fn_session_step, mmb_session_step(fork, t, nullptr, 0), v ? Allowed{OK} : Allowed{INVALID}, "fork");
          mmb_session_destroy(fork);
          g_ledger->count(fn_session_destroy);
        }
        break;
      }
      case 5: check(fn_session_page_out, mmb_session_page_out(s), Allowed{OK}.with(BUSY, busy), "slot"); break;
      case 6: check(fn_session_reset, mmb_session_reset(s), Allowed{OK}.with(BUSY, busy), "slot"); break;
      case 7: {
        uint64_t position = 0;
        check(fn_session_get_position, mmb_session_get_position(s, &position), Allowed{OK}.with(BUSY, busy), "slot");
        g_ledger->count(fn_session_get_model);
        expect(mmb_session_get_model(s) == w_.models[slot.model].model, "mmb_session_get_model gave another model");
        break;
      }
      case 8: {  // generation on the shared session, short
        mmb_generate_options o;
        check(fn_generate_options_init, mmb_generate_options_init(&o, sizeof o), {OK});
        o.max_tokens = int32_t(rng_.below(4));
        const char* prompt = "abc";
        check(fn_generate, mmb_generate(s, sampler_, prompt, 3, &o, nullptr, nullptr), Allowed{OK}.with(BUSY, busy), "slot");
        break;
      }
      case 9: check(fn_session_state_size, mmb_session_state_size(s, nullptr), {INVALID}, "null out"); break;
      case 10: check(fn_session_step, mmb_session_step(nullptr, 0, nullptr, 0), {INVALID}, "null"); break;
      default: {
        mmb_session* fork = nullptr;
        check(fn_session_fork, mmb_session_fork(s, nullptr), Allowed{INVALID}.with(BUSY, busy), "null out");
        check(fn_session_fork, mmb_session_fork(nullptr, &fork), {INVALID}, "null");
        break;
      }
    }
  }

  mmb_job_options job_options(bool* bad) {
    mmb_job_options o;
    check(fn_job_options_init, mmb_job_options_init(&o, sizeof o), {OK});
    o.max_tokens = int32_t(rng_.below(12));
    o.on_event = rng_.coin() ? on_job_event : nullptr;
    o.event_user_data = &w_;
    if (rng_.below(4) == 0) {
      o.stop_text = "e";
      o.stop_text_len = 1;
    }
    *bad = false;
    switch (rng_.below(12)) {
      case 0: o.max_tokens = -3; *bad = true; break;
      case 1: o.struct_size = 3; *bad = true; break;
      case 2: o.stop_text = nullptr; o.stop_text_len = 4; *bad = true; break;
      default: break;
    }
    return o;
  }

  // Submits a job on a shared session (or tries to while one runs: MMB_ERR_BUSY).
  void submit_job() {
    Slot& slot = w_.slots[rng_.below(uint32_t(w_.slots.size()))];
    std::lock_guard<std::mutex> lock(slot.session_mutex);
    const bool busy = slot.job != nullptr && slot.job_on_session;
    const int32_t vocab = w_.models[slot.model].vocab;
    bool bad = false;
    const mmb_job_options o = job_options(&bad);
    mmb_sampler* sampler = rng_.below(3) == 0 ? nullptr : sampler_;
    mmb_job* job = nullptr;
    mmb_status st;
    if (rng_.coin()) {
      const char* texts[] = {"", "hello there", "the quick brown fox jumps"};
      const char* text = texts[rng_.below(3)];
      st = check(fn_job_submit_text, mmb_job_submit_text(slot.session, sampler, text, std::strlen(text), &o, &job),
                 (bad ? Allowed{INVALID} : Allowed{OK}).with(BUSY, busy), "slot");
    } else {
      std::vector<int32_t> tokens(1 + rng_.below(24));
      bool all_valid = true, v = false;
      for (int32_t& t : tokens) {
        t = rng_.below(10) == 0 ? token(vocab, &v) : int32_t(rng_.below(uint32_t(vocab)));
        all_valid = all_valid && t >= 0 && t < vocab;
      }
      st = check(fn_job_submit_tokens,
                 mmb_job_submit_tokens(slot.session, sampler, tokens.data(), tokens.size(), &o, &job),
                 (bad || !all_valid ? Allowed{INVALID} : Allowed{OK}).with(BUSY, busy), "slot");
    }
    if (st != OK) return;
    std::unique_lock<std::shared_mutex> jl(slot.job_mutex);
    if (slot.job != nullptr) {
      // The old job had finished (or ran on a session destroyed since), so the session
      // took a new one: the slot keeps the new one, the old one goes.
      mmb_job_destroy(slot.job);
      g_ledger->count(fn_job_destroy);
    }
    slot.job = job;
    slot.job_on_session = true;
  }

  // Polls, waits on, cancels or reads a shared job: many threads at once on one job.
  void job_call() {
    Slot& slot = w_.slots[rng_.below(uint32_t(w_.slots.size()))];
    std::shared_lock<std::shared_mutex> jl(slot.job_mutex);
    mmb_job* job = slot.job;
    if (job == nullptr) {
      check(fn_job_poll, mmb_job_poll(nullptr, nullptr, nullptr), {INVALID}, "null");
      return;
    }
    int32_t state = -1;
    switch (rng_.below(5)) {
      case 0: {
        mmb_status result = MMB_ERR_INTERNAL;
        t_in_poll = true;
        check(fn_job_poll, mmb_job_poll(job, &state, &result), {OK});
        t_in_poll = false;
        expect(state >= MMB_JOB_QUEUED && state <= MMB_JOB_FINISHED, "mmb_job_poll gave an unknown state");
        expect(result != MMB_ERR_INTERNAL && result != BUSY, std::string("a job ended with ") + mmb_status_string(result));
        break;
      }
      case 1:
        check(fn_job_wait, mmb_job_wait(job, rng_.below(3), rng_.coin() ? &state : nullptr), {OK});
        break;
      case 2: check(fn_job_cancel, mmb_job_cancel(job), {OK}); break;
      case 3: {
        std::lock_guard<std::mutex> rl(slot.read_mutex);
        char buf[64];
        size_t len = 0;
        const size_t cap = rng_.pick<size_t>({0, 2, sizeof buf});
        check(fn_job_read_text, mmb_job_read_text(job, cap ? buf : nullptr, cap, &len), {OK, SMALL});
        check(fn_job_read_text, mmb_job_read_text(job, buf, sizeof buf, nullptr), {INVALID}, "null len");
        break;
      }
      default: {
        std::lock_guard<std::mutex> rl(slot.read_mutex);
        int32_t tokens[16];
        size_t n = 0;
        const size_t cap = rng_.pick<size_t>({0, 1, 16});
        check(fn_job_read_tokens, mmb_job_read_tokens(job, cap ? tokens : nullptr, cap, &n), {OK, SMALL});
        break;
      }
    }
  }

  // Destroys a shared job (running or not) or a shared session (its job, if any, is
  // cancelled by the library and stays to be polled and destroyed), and makes a new
  // session on a random model.
  void destroy_job_or_session() {
    Slot& slot = w_.slots[rng_.below(uint32_t(w_.slots.size()))];
    std::lock_guard<std::mutex> lock(slot.session_mutex);
    if (rng_.below(3) != 0) {
      std::unique_lock<std::shared_mutex> jl(slot.job_mutex);
      mmb_job_destroy(slot.job);
      g_ledger->count(fn_job_destroy);
      slot.job = nullptr;
      slot.job_on_session = false;
      return;
    }
    mmb_session_destroy(slot.session);
    g_ledger->count(fn_session_destroy);
    {
      std::unique_lock<std::shared_mutex> jl(slot.job_mutex);
      slot.job_on_session = false;
    }
    slot.session = nullptr;
    // A slot keeps its runtime's half (0-2 on model 0, 3-5 on model 1) so that both
    // runtimes always have sessions and jobs.
    const int model = slot.model;
    mmb_session_options o;
    check(fn_session_options_init, mmb_session_options_init(&o, sizeof o), {OK});
    if (rng_.below(4) == 0) {
      o.struct_size = 1;
      mmb_session* s = nullptr;
      check(fn_session_create, mmb_session_create(w_.models[model].model, &o, &s), {INVALID}, "bad struct_size");
      o.struct_size = sizeof o;
    }
    check(fn_session_create, mmb_session_create(w_.models[model].model, rng_.coin() ? &o : nullptr, &slot.session), {OK});
  }

  // Batched steps over two or three shared sessions, locked in slot order.
  void batch() {
    const size_t n = 2 + rng_.below(2);
    std::vector<size_t> picked;
    while (picked.size() < n) picked.push_back(rng_.below(uint32_t(w_.slots.size())));
    const bool duplicate = rng_.below(5) == 0;
    if (!duplicate) {
      std::sort(picked.begin(), picked.end());
      picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
    } else {
      picked.push_back(picked[0]);
    }
    std::vector<size_t> order = picked;
    std::sort(order.begin(), order.end());
    order.erase(std::unique(order.begin(), order.end()), order.end());
    std::vector<std::unique_lock<std::mutex>> locks;
    for (size_t i : order) locks.emplace_back(w_.slots[i].session_mutex);
    std::vector<mmb_session*> sessions;
    std::vector<int32_t> tokens;
    bool busy = false, same_model = true, valid = true;
    int32_t vocab = std::numeric_limits<int32_t>::max(), widest = 0;
    for (size_t i : picked) {
      Slot& slot = w_.slots[i];
      busy = busy || (slot.job != nullptr && slot.job_on_session);
      same_model = same_model && slot.model == w_.slots[picked[0]].model;
      vocab = std::min(vocab, w_.models[slot.model].vocab);
      widest = std::max(widest, w_.models[slot.model].vocab);
      sessions.push_back(slot.session);
    }
    for (size_t i = 0; i < sessions.size(); ++i) {
      bool v = false;
      tokens.push_back(rng_.below(6) == 0 ? token(vocab, &v) : int32_t(rng_.below(uint32_t(vocab))));
      // A token is judged by the vocabulary of its own session's model.
      valid = valid && tokens.back() >= 0 && tokens.back() < w_.models[w_.slots[picked[i]].model].vocab;
    }
    const size_t stride = rng_.pick<size_t>({size_t(vocab), size_t(vocab) - 1});
    logits_.assign(sessions.size() * size_t(widest) + 8, 0.0f);
    float* out = rng_.below(3) == 0 ? nullptr : logits_.data();
    Allowed a{OK};
    if (duplicate || !valid || !same_model || (out && stride < size_t(widest))) {
      // Several faults at once: which is reported first is not documented.
      a = Allowed{};
      if (duplicate || !valid) a = a.with(INVALID);
      if (!same_model) a = a.with(MISMATCH).with(INVALID);
      if (out && stride < size_t(widest)) a = a.with(SMALL);
    }
    check(fn_step_batch, mmb_step_batch(sessions.data(), tokens.data(), sessions.size(), out, stride), a.with(BUSY, busy));
    check(fn_step_batch, mmb_step_batch(sessions.data(), tokens.data(), 0, nullptr, 0), {INVALID}, "n == 0");
  }

  // Tokenizing and token bytes on a shared model from every thread.
  void text() {
    const SharedModel& m = w_.models[rng_.below(3)];
    std::string text;
    switch (rng_.below(4)) {
      case 0: text = "The quick brown fox jumps over the lazy dog, again and again."; break;
      case 1: text = "<|endoftext|> special <|im_start|>user"; break;
      case 2: for (int i = 0; i < 40; ++i) text.push_back(char(rng_.below(256))); break;
      default: text = "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"; break;
    }
    std::vector<int32_t> tokens(128);
    size_t n = 0;
    const size_t cap = rng_.pick<size_t>({0, 3, 128});
    const uint32_t flags = rng_.below(4);
    check(fn_tokenize, mmb_tokenize(m.model, text.data(), text.size(), cap ? tokens.data() : nullptr, cap, &n, flags),
          {OK, SMALL});
    switch (rng_.below(4)) {
      case 0: check(fn_tokenize, mmb_tokenize(nullptr, "a", 1, tokens.data(), 128, &n, 0), {INVALID}, "null model"); break;
      case 1: check(fn_tokenize, mmb_tokenize(m.model, nullptr, 5, tokens.data(), 128, &n, 0), {INVALID}, "null text"); break;
      case 2: check(fn_tokenize, mmb_tokenize(m.model, "a", 1, tokens.data(), 128, nullptr, 0), {INVALID}, "null n"); break;
      default: check(fn_tokenize, mmb_tokenize(m.model, nullptr, 0, nullptr, 0, &n, 0), {OK, SMALL}, "empty"); break;
    }
    bool valid = false;
    const int32_t t = token(m.vocab, &valid);
    char buf[64];
    size_t len = 0;
    const size_t bcap = rng_.pick<size_t>({0, 1, sizeof buf});
    check(fn_token_to_bytes, mmb_token_to_bytes(m.model, t, buf, bcap, &len),
          valid ? Allowed{OK, SMALL} : Allowed{INVALID, SMALL});
  }

  void detokenize() {
    if (rng_.below(20) == 0) new_detokenizer();
    if (detok_ == nullptr) return;
    const int32_t vocab = w_.models[detok_model_].vocab;
    char buf[64];
    size_t len = 0;
    const size_t cap = rng_.pick<size_t>({1, 2, 3, sizeof buf});
    if (rng_.below(8) == 0) {
      check(fn_detokenizer_flush, mmb_detokenizer_flush(detok_, buf, cap, &len), {OK, SMALL});
      return;
    }
    bool valid = false;
    const int32_t t = token(vocab, &valid);
    check(fn_detokenizer_push, mmb_detokenizer_push(detok_, t, buf, cap, &len),
          valid ? Allowed{OK, SMALL} : Allowed{INVALID, SMALL});
    if (rng_.below(10) == 0)
      check(fn_detokenizer_push, mmb_detokenizer_push(nullptr, 0, buf, sizeof buf, &len), {INVALID}, "null");
  }

  void sample() {
    const int32_t vocab = w_.models[rng_.below(2)].vocab;
    switch (rng_.below(6)) {
      case 0: {  // a new sampler with random, sometimes invalid, parameters
        mmb_sampler_params p;
        check(fn_sampler_params_init, mmb_sampler_params_init(&p, sizeof p), {OK});
        bool bad = false;
        switch (rng_.below(8)) {
          case 0: p.top_p = 0.0f; bad = true; break;
          case 1: p.min_p = 1.5f; bad = true; break;
          case 2: p.temperature = std::nanf(""); bad = true; break;
          case 3: p.penalty_window = 70000; bad = true; break;
          case 4: p.repetition_penalty = 0.0f; bad = true; break;
          case 5: p.temperature = -1.0f; break;
          default: p.seed = rng_.next(); p.top_k = int32_t(rng_.below(50)); break;
        }
        mmb_sampler* s = nullptr;
        if (check(fn_sampler_create, mmb_sampler_create(&p, &s), bad ? Allowed{INVALID} : Allowed{OK}) == OK) {
          mmb_sampler_destroy(sampler_);
          g_ledger->count(fn_sampler_destroy);
          sampler_ = s;
        }
        break;
      }
      case 1: check(fn_sampler_reset, mmb_sampler_reset(sampler_), {OK}); break;
      case 2: {
        const int32_t t = rng_.pick<int32_t>({0, 5, 255, -1, -100});
        check(fn_sampler_accept, mmb_sampler_accept(sampler_, t), t >= 0 ? Allowed{OK} : Allowed{INVALID});
        break;
      }
      default: {
        std::vector<float> logits = rng_.values(size_t(vocab), -5.0f, 5.0f);
        const bool none_finite = rng_.below(8) == 0;
        if (none_finite) std::fill(logits.begin(), logits.end(), -std::numeric_limits<float>::infinity());
        int32_t t = -1;
        const size_t n = rng_.below(10) == 0 ? 0 : logits.size();
        const mmb_status st = check(fn_sampler_sample, mmb_sampler_sample(sampler_, logits.data(), n, &t),
                                    none_finite || n == 0 ? Allowed{INVALID} : Allowed{OK});
        if (st == OK) expect(t >= 0 && t < vocab, "mmb_sampler_sample chose a token out of range");
        break;
      }
    }
  }

  // One state per thread of the grammar every thread shares.
  void grammar() {
    const int32_t vocab = w_.models[0].vocab;
    const size_t words = (size_t(vocab) + 31) / 32;
    std::vector<uint32_t> mask(words + 1, 0);
    switch (rng_.below(10)) {
      case 0: case 1: {  // an allowed token, from the mask
        if (check(fn_grammar_state_get_mask, mmb_grammar_state_get_mask(gstate_, mask.data(), words), {OK}) != OK) break;
        std::vector<int32_t> allowed;
        for (int32_t t = 0; t < vocab; ++t)
          if ((mask[size_t(t) / 32] >> (t % 32)) & 1u) allowed.push_back(t);
        if (allowed.empty()) {
          check(fn_grammar_state_reset, mmb_grammar_state_reset(gstate_), {OK});
          break;
        }
        check(fn_grammar_state_accept, mmb_grammar_state_accept(gstate_, rng_.pick(allowed)), {OK});
        break;
      }
      case 2: {
        bool valid = false;
        const int32_t t = token(vocab, &valid);
        check(fn_grammar_state_accept, mmb_grammar_state_accept(gstate_, t), valid ? Allowed{OK, GRAMMAR} : Allowed{INVALID});
        break;
      }
      case 3: check(fn_grammar_state_get_mask, mmb_grammar_state_get_mask(gstate_, mask.data(), words - 1), {SMALL}); break;
      case 4: {
        std::vector<float> logits = rng_.values(size_t(vocab));
        const size_t n = rng_.pick<size_t>({size_t(vocab), size_t(vocab) - 1});
        check(fn_grammar_state_apply, mmb_grammar_state_apply(gstate_, logits.data(), n),
              n == size_t(vocab) ? Allowed{OK} : Allowed{INVALID});
        std::vector<float> fresh = rng_.values(size_t(vocab));
        int32_t t = -1;
        check(fn_sampler_sample_grammar, mmb_sampler_sample_grammar(sampler_, gstate_, fresh.data(), fresh.size(), &t),
              {OK, GRAMMAR});
        break;
      }
      case 5: {
        int32_t can_end = -1, must_end = -1;
        check(fn_grammar_state_can_end, mmb_grammar_state_can_end(gstate_, &can_end, &must_end), {OK});
        if (must_end == 1) check(fn_grammar_state_reset, mmb_grammar_state_reset(gstate_), {OK});
        break;
      }
      case 6: {
        mmb_grammar_state* c = nullptr;
        if (check(fn_grammar_state_clone, mmb_grammar_state_clone(gstate_, &c), {OK}) == OK) {
          mmb_grammar_state_destroy(gstate_);
          g_ledger->count(fn_grammar_state_destroy);
          gstate_ = c;
        }
        break;
      }
      case 7: {  // save, then load one of: its own blob, the shared one, another grammar's, a damaged one
        size_t size = 0, len = 0;
        check(fn_grammar_state_size, mmb_grammar_state_size(gstate_, &size), {OK});
        std::vector<uint8_t> buf(size);
        check(fn_grammar_state_save, mmb_grammar_state_save(gstate_, buf.data(), size, &len), {OK});
        if (size > 0)
          check(fn_grammar_state_save, mmb_grammar_state_save(gstate_, buf.data(), size - 1, &len), {SMALL}, "small");
        switch (rng_.below(4)) {
          case 0: check(fn_grammar_state_load, mmb_grammar_state_load(gstate_, buf.data(), buf.size()), {OK}); break;
          case 1:
            check(fn_grammar_state_load,
                  mmb_grammar_state_load(gstate_, w_.blobs.grammar.data(), w_.blobs.grammar.size()), {OK});
            break;
          case 2:
            check(fn_grammar_state_load,
                  mmb_grammar_state_load(gstate_, w_.blobs.other_grammar.data(), w_.blobs.other_grammar.size()),
                  {MISMATCH}, "other grammar");
            break;
          default: {
            std::vector<uint8_t> damaged = buf;
            if (!damaged.empty()) damaged[rng_.below(uint32_t(damaged.size()))] ^= 0x5a;
            check(fn_grammar_state_load, mmb_grammar_state_load(gstate_, damaged.data(), damaged.size() / 2 + 1),
                  {FORMAT, MISMATCH, INVALID}, "damaged");
            break;
          }
        }
        break;
      }
      case 8: {  // another state of the shared grammar, made and dropped; a grammar compiled here
        mmb_grammar_state* s = nullptr;
        check(fn_grammar_state_create, mmb_grammar_state_create(w_.grammar, &s), {OK});
        mmb_grammar_state_destroy(s);
        g_ledger->count(fn_grammar_state_destroy);
        check(fn_grammar_state_create, mmb_grammar_state_create(nullptr, &s), {INVALID}, "null");
        if (rng_.below(4) == 0) {
          mmb_grammar* g = nullptr;
          const bool bad = rng_.coin();
          const std::string text = bad ? "root ::= (" : kOtherGrammar;
          check(fn_grammar_create,
                mmb_grammar_create(w_.models[0].model, MMB_GRAMMAR_GBNF, text.data(), text.size(), nullptr, &g),
                bad ? Allowed{GRAMMAR} : Allowed{OK});
          mmb_grammar_destroy(g);
          g_ledger->count(fn_grammar_destroy);
          const char* items[] = {"left", "right", ""};
          const size_t n = rng_.below(4);
          check(fn_grammar_create_choice, mmb_grammar_create_choice(w_.models[0].model, items, nullptr, n, nullptr, &g),
                n == 0 ? Allowed{INVALID} : n == 3 ? Allowed{GRAMMAR} : Allowed{OK});
          if (n == 1 || n == 2) {
            mmb_grammar_destroy(g);
            g_ledger->count(fn_grammar_destroy);
          }
          check(fn_grammar_create, mmb_grammar_create(w_.models[0].model, 7, "x", 1, nullptr, &g), {INVALID}, "kind");
        }
        break;
      }
      default: {  // generation under the thread's own state on its own session
        mmb_generate_options o;
        check(fn_generate_options_init, mmb_generate_options_init(&o, sizeof o), {OK});
        o.max_tokens = int32_t(1 + rng_.below(4));
        o.grammar = mmb_session_get_model(own_) == w_.models[0].model ? gstate_ : nullptr;
        g_ledger->count(fn_session_get_model);
        check(fn_generate, mmb_generate(own_, sampler_, "x", 1, &o, nullptr, nullptr), {OK, GRAMMAR});
        int32_t must_end = 0;
        check(fn_grammar_state_can_end, mmb_grammar_state_can_end(gstate_, nullptr, &must_end), {OK});
        if (must_end) check(fn_grammar_state_reset, mmb_grammar_state_reset(gstate_), {OK});
        break;
      }
    }
  }

  // One chat per thread on model 0; rendering on the shared models.
  void chat() {
    size_t count = 0;
    check(fn_chat_get_message_count, mmb_chat_get_message_count(chat_, &count), {OK});
    if (count > 8) {
      check(fn_chat_reset, mmb_chat_reset(chat_), {OK});
      count = 0;
    }
    switch (rng_.below(9)) {
      case 0: case 1: {
        const bool null_role = rng_.below(6) == 0;
        check(fn_chat_add, mmb_chat_add(chat_, null_role ? nullptr : rng_.pick<const char*>({"user", "assistant", "system"}),
                                        "hi there"),
              null_role ? Allowed{INVALID} : Allowed{OK});
        break;
      }
      case 2: check(fn_chat_prefill, mmb_chat_prefill(chat_, nullptr), {OK}); break;
      case 3: {
        mmb_generate_options o;
        check(fn_generate_options_init, mmb_generate_options_init(&o, sizeof o), {OK});
        o.max_tokens = int32_t(rng_.below(4));
        mmb_chat_stats stats{};
        stats.struct_size = sizeof stats;
        check(fn_chat_generate, mmb_chat_generate(chat_, sampler_, &o, nullptr, nullptr, rng_.coin() ? &stats : nullptr), {OK});
        break;
      }
      case 4: {
        char role[16], content[16];
        size_t role_len = 0, content_len = 0;
        const size_t index = rng_.below(uint32_t(count + 2));
        const size_t cap = rng_.pick<size_t>({0, 4, 16});
        check(fn_chat_get_message,
              mmb_chat_get_message(chat_, index, cap ? role : nullptr, cap, &role_len, cap ? content : nullptr, cap,
                                   &content_len),
              index >= count ? Allowed{INVALID} : Allowed{OK, SMALL});
        break;
      }
      case 5: {
        size_t size = 0, written = 0;
        check(fn_chat_state_size, mmb_chat_state_size(chat_, &size), {OK});
        std::vector<uint8_t> buf(size);
        check(fn_chat_state_save, mmb_chat_state_save(chat_, buf.data(), buf.size(), &written), {OK});
        int kind = rng_.below(4);
        switch (kind) {
          case 0: check(fn_chat_state_load, mmb_chat_state_load(chat_, buf.data(), buf.size()), {OK}); break;
          case 1:
            check(fn_chat_state_load, mmb_chat_state_load(chat_, w_.blobs.chat.data(), w_.blobs.chat.size()), {OK});
            break;
          case 2:  // a session's state is not a chat's
            check(fn_chat_state_load, mmb_chat_state_load(chat_, w_.blobs.state[0].data(), w_.blobs.state[0].size()),
                  {FORMAT}, "session blob");
            break;
          default:
            // A byte in the middle of the session's state, the checksummed part.
            buf[buf.size() - w_.blobs.state[0].size() / 2] ^= 0x21;
            check(fn_chat_state_load, mmb_chat_state_load(chat_, buf.data(), buf.size()), {FORMAT}, "damaged");
            break;
        }
        break;
      }
      case 6: {  // rendering on a shared model: model 0 has a template, the others none
        const size_t m = rng_.below(3);
        const mmb_chat_message messages[] = {{"system", "be brief"}, {"user", "hello"}, {"assistant", nullptr}};
        const size_t n = 1 + rng_.below(3);
        char buf[256];
        size_t len = 0;
        const size_t cap = rng_.pick<size_t>({0, 8, sizeof buf});
        Allowed a = n == 3 ? Allowed{INVALID} : !w_.models[m].has_chat ? Allowed{UNSUPPORTED} : Allowed{OK, SMALL};
        if (n == 3 && !w_.models[m].has_chat) a = a.with(UNSUPPORTED);
        check(fn_chat_render, mmb_chat_render(w_.models[m].model, nullptr, messages, n, 1, cap ? buf : nullptr, cap, &len), a);
        check(fn_chat_render, mmb_chat_render(w_.models[0].model, "no_such", messages, 1, 0, buf, sizeof buf, &len),
              {UNSUPPORTED}, "unknown template");
        break;
      }
      case 7: {  // the chat's session, paged out; a chat on a model without a template
        g_ledger->count(fn_chat_get_session);
        check(fn_session_page_out, mmb_session_page_out(mmb_chat_get_session(chat_)), {OK}, "chat session");
        mmb_chat* c = nullptr;
        check(fn_chat_create, mmb_chat_create(w_.models[1].model, nullptr, &c), {UNSUPPORTED}, "no template");
        break;
      }
      default: {  // another chat made and destroyed
        mmb_chat_options o;
        check(fn_chat_options_init, mmb_chat_options_init(&o, sizeof o), {OK});
        mmb_chat* c = nullptr;
        const bool bad = rng_.coin();
        if (bad) o.struct_size = 5;
        check(fn_chat_create, mmb_chat_create(w_.models[0].model, &o, &c), bad ? Allowed{INVALID} : Allowed{OK});
        mmb_chat_destroy(c);
        g_ledger->count(fn_chat_destroy);
        break;
      }
    }
  }

  // The thread's own session: stepped, saved and loaded with other models' blobs,
  // remade on the other model.
  void own_session() {
    mmb_model* model = mmb_session_get_model(own_);
    g_ledger->count(fn_session_get_model);
    const int m = model == w_.models[0].model ? 0 : 1;
    const int32_t vocab = w_.models[m].vocab;
    switch (rng_.below(4)) {
      case 0: {
        bool valid = false;
        const int32_t t = token(vocab, &valid);
        logits_.assign(size_t(vocab), 0.0f);
        check(fn_session_step, mmb_session_step(own_, t, logits_.data(), logits_.size()), valid ? Allowed{OK} : Allowed{INVALID});
        break;
      }
      case 1: {
        int kind = 0;
        auto [data, size] = blob(&kind);
        check(fn_session_state_load, mmb_session_state_load(own_, data, size), load_allowed(kind, m));
        break;
      }
      case 2: {
        mmb_session_destroy(own_);
        g_ledger->count(fn_session_destroy);
        own_ = nullptr;
        check(fn_session_create, mmb_session_create(w_.models[1 - m].model, nullptr, &own_), {OK});
        break;
      }
      default: {
        // A job on the thread's own session, waited for here (on the frame runtime the
        // wait advances it); meanwhile the session is busy.
        mmb_job* job = nullptr;
        const int32_t tokens[] = {1, 2, 3};
        if (check(fn_job_submit_tokens, mmb_job_submit_tokens(own_, sampler_, tokens, 3, nullptr, &job), {OK}) != OK) break;
        uint64_t position = 0;
        check(fn_session_get_position, mmb_session_get_position(own_, &position), {BUSY, OK}, "own, job");
        int32_t state = -1;
        check(fn_job_wait, mmb_job_wait(job, 5, &state), {OK});
        if (rng_.coin()) check(fn_job_cancel, mmb_job_cancel(job), {OK});
        mmb_job_destroy(job);
        g_ledger->count(fn_job_destroy);
        check(fn_session_get_position, mmb_session_get_position(own_, &position), {OK}, "own, job destroyed");
        break;
      }
    }
  }

  // Models loaded and destroyed while other threads use the shared ones.
  void load_and_destroy() {
    mmb_runtime* rt = w_.runtimes[rng_.below(2)];
    mmb_load_options o;
    check(fn_load_options_init, mmb_load_options_init(&o, sizeof o), {OK});
    mmb_model* model = nullptr;
    switch (rng_.below(6)) {
      case 0:
        o.flags = MMB_LOAD_COPY_MEMORY;
        check(fn_model_load_memory, mmb_model_load_memory(rt, w_.bundle.data(), w_.bundle.size(), &o, &model), {OK});
        break;
      case 1:  // borrowed: the bytes outlive every model made from them
        check(fn_model_load_memory, mmb_model_load_memory(rt, w_.bundle.data(), w_.bundle.size(), &o, &model), {OK});
        break;
      case 2: {
        test::MemoryIo io{std::span<const std::byte>(w_.bundle)};
        io.max_chunk = 1 << 16;
        const mmb_io callbacks = io.io();
        check(fn_model_load_io, mmb_model_load_io(rt, &callbacks, &o, &model), {OK});
        break;
      }
      case 3:
        check(fn_model_load_memory,
              mmb_model_load_memory(rt, w_.damaged_bundle.data(), w_.damaged_bundle.size(), &o, &model), {FORMAT}, "damaged");
        check(fn_model_load_memory, mmb_model_load_memory(rt, w_.bundle.data(), w_.bundle.size() / 3, &o, &model),
              {FORMAT}, "truncated");
        return;
      case 4:
        check(fn_model_load_file, mmb_model_load_file(rt, "/nonexistent/model.mmb", &o, &model), {MMB_ERR_IO}, "missing");
        o.struct_size = 1;
        check(fn_model_load_memory, mmb_model_load_memory(rt, w_.bundle.data(), w_.bundle.size(), &o, &model), {INVALID},
              "bad struct_size");
        check(fn_model_load_memory, mmb_model_load_memory(rt, nullptr, 10, nullptr, &model), {INVALID}, "null data");
        return;
      default: {  // a runtime of its own, made, used and dropped
        mmb_runtime_options ro;
        check(fn_runtime_options_init, mmb_runtime_options_init(&ro, sizeof ro), {OK});
        ro.backend = MMB_BACKEND_CPU;
        ro.n_threads = 1;
        mmb_runtime* own_rt = nullptr;
        const int bad = int(rng_.below(4));
        if (bad == 1) ro.n_threads = -2;
        if (bad == 2) ro.backend = 99;
        if (bad == 3) ro.struct_size = 7;
        if (check(fn_runtime_create, mmb_runtime_create(&ro, &own_rt), bad ? Allowed{INVALID} : Allowed{OK}) != OK) return;
        o.flags = MMB_LOAD_COPY_MEMORY;
        check(fn_model_load_memory, mmb_model_load_memory(own_rt, w_.bundle.data(), w_.bundle.size(), &o, &model), {OK});
        mmb_runtime_destroy(own_rt);  // the model keeps it alive
        g_ledger->count(fn_runtime_destroy);
        break;
      }
    }
    if (model == nullptr) return;
    expect(vocab_of(model) == w_.models[1].vocab, "a loaded model has another vocabulary");
    g_ledger->count(fn_model_get_info);
    mmb_session* s = nullptr;
    check(fn_session_create, mmb_session_create(model, nullptr, &s), {OK});
    mmb_model_destroy(model);  // the session keeps it alive
    g_ledger->count(fn_model_destroy);
    const int32_t tokens[] = {7, 8, 9, 300};
    check(fn_session_prefill, mmb_session_prefill(s, tokens, 4, nullptr, 0), {OK}, "loaded");
    // Its fingerprint is the shared model 1's: their states load into each other.
    check(fn_session_state_load, mmb_session_state_load(s, w_.blobs.state[1].data(), w_.blobs.state[1].size()), {OK}, "loaded");
    check(fn_session_state_load, mmb_session_state_load(s, w_.blobs.state[0].data(), w_.blobs.state[0].size()), {MISMATCH},
          "loaded");
    mmb_session_destroy(s);
    g_ledger->count(fn_session_destroy);
  }

  void misc() {
    mmb_runtime* rt = w_.runtimes[rng_.below(2)];
    switch (rng_.below(10)) {
      case 0:
        g_ledger->count(fn_status_string);
        expect(mmb_status_string(mmb_status(rng_.below(40))) != nullptr, "mmb_status_string gave NULL");
        g_ledger->count(fn_last_error);
        expect(mmb_last_error() != nullptr, "mmb_last_error gave NULL");
        g_ledger->count(fn_version);
        expect(mmb_version() == MMB_VERSION_NUMBER, "mmb_version differs from the header's");
        break;
      case 1: {
        int32_t backend = 0, threads = 0;
        check(fn_runtime_get_backend, mmb_runtime_get_backend(rt, &backend, &threads), {OK});
        check(fn_runtime_get_backend, mmb_runtime_get_backend(rt, nullptr, nullptr), {INVALID}, "null outputs");
        mmb_backend_info info{};
        info.struct_size = rng_.coin() ? sizeof info : 3;
        check(fn_runtime_get_backend_info, mmb_runtime_get_backend_info(rt, &info),
              info.struct_size == sizeof info ? Allowed{OK} : Allowed{INVALID});
        break;
      }
      case 2: {
        mmb_session_memory mem{};
        mem.struct_size = rng_.below(4) == 0 ? 2 : sizeof mem;
        check(fn_runtime_get_session_memory, mmb_runtime_get_session_memory(rt, &mem),
              mem.struct_size == sizeof mem ? Allowed{OK} : Allowed{INVALID});
        break;
      }
      case 3: {
        // A frame call from a worker thread too: on the worker runtime it advances
        // nothing; on the frame runtime it races the frame thread ("more are safe").
        mmb_frame_stats stats{};
        stats.struct_size = sizeof stats;
        check(fn_runtime_frame, mmb_runtime_frame(rt, rng_.below(500), &stats), {OK}, "worker thread");
        check(fn_runtime_frame, mmb_runtime_frame(nullptr, 0, nullptr), {INVALID}, "null");
        break;
      }
      case 4: {
        const SharedModel& m = w_.models[rng_.below(3)];
        mmb_model_info info{};
        info.struct_size = rng_.below(5) == 0 ? 4 : sizeof info;
        check(fn_model_get_info, mmb_model_get_info(m.model, &info), info.struct_size == 4 ? Allowed{INVALID} : Allowed{OK});
        if (info.struct_size == sizeof info) expect(info.vocab_size == m.vocab, "mmb_model_get_info: another vocab_size");
        break;
      }
      case 5: {
        const SharedModel& m = w_.models[rng_.below(3)];
        char buf[32];
        size_t len = 0;
        const char* key = rng_.pick<const char*>({"name", "no_such_key"});
        const size_t cap = rng_.pick<size_t>({0, 2, sizeof buf});
        const mmb_status st = check(fn_model_get_meta, mmb_model_get_meta(m.model, key, cap ? buf : nullptr, cap, &len),
                                    {OK, SMALL, INVALID});
        if (std::strcmp(key, "no_such_key") == 0) expect(st == INVALID, "mmb_model_get_meta found a key that is absent");
        check(fn_model_get_meta, mmb_model_get_meta(m.model, nullptr, buf, sizeof buf, &len), {INVALID}, "null key");
        break;
      }
      case 6: {
        const SharedModel& m = w_.models[rng_.below(3)];
        int32_t tokens[8];
        size_t n = 0;
        const size_t cap = rng_.pick<size_t>({0, 8});
        check(fn_model_get_stop_tokens, mmb_model_get_stop_tokens(m.model, cap ? tokens : nullptr, cap, &n), {OK, SMALL});
        check(fn_model_get_stop_tokens, mmb_model_get_stop_tokens(m.model, tokens, 8, nullptr), {INVALID}, "null n");
        break;
      }
      case 7: {  // every options init with good and bad sizes
        union {
          mmb_runtime_options r;
          mmb_load_options l;
          mmb_session_options s;
          mmb_prefill_options p;
          mmb_sampler_params sp;
          mmb_generate_options g;
          mmb_job_options j;
          mmb_chat_options c;
          mmb_grammar_options go;
        } u;
        const size_t size = rng_.pick<size_t>({0, 1, 3, 100000});
        check(fn_runtime_options_init, mmb_runtime_options_init(&u.r, size), {INVALID}, "bad size");
        check(fn_load_options_init, mmb_load_options_init(&u.l, size), {INVALID}, "bad size");
        check(fn_session_options_init, mmb_session_options_init(&u.s, size), {INVALID}, "bad size");
        check(fn_prefill_options_init, mmb_prefill_options_init(&u.p, size), {INVALID}, "bad size");
        check(fn_sampler_params_init, mmb_sampler_params_init(&u.sp, size), {INVALID}, "bad size");
        check(fn_generate_options_init, mmb_generate_options_init(&u.g, size), {INVALID}, "bad size");
        check(fn_job_options_init, mmb_job_options_init(&u.j, size), {INVALID}, "bad size");
        check(fn_chat_options_init, mmb_chat_options_init(&u.c, size), {INVALID}, "bad size");
        check(fn_grammar_options_init, mmb_grammar_options_init(&u.go, size), {INVALID}, "bad size");
        check(fn_grammar_options_init, mmb_grammar_options_init(nullptr, sizeof u.go), {INVALID}, "null");
        check(fn_runtime_options_init, mmb_runtime_options_init(&u.r, 64), {OK}, "first version");
        break;
      }
      case 8: {  // a job on a thread's own short-lived session of the frame runtime's model, destroyed while it runs
        mmb_session* s = nullptr;
        if (check(fn_session_create, mmb_session_create(w_.models[1].model, nullptr, &s), {OK}) != OK) break;
        mmb_job* job = nullptr;
        const char* prompt = "a long enough prompt to take more than one chunk of sixteen tokens";
        check(fn_job_submit_text, mmb_job_submit_text(s, sampler_, prompt, std::strlen(prompt), nullptr, &job), {OK});
        if (rng_.coin()) {
          mmb_session_destroy(s);  // cancels the job; the job stays valid until destroyed
          g_ledger->count(fn_session_destroy);
          s = nullptr;
          int32_t state = -1;
          mmb_status result = MMB_ERR_INTERNAL;
          check(fn_job_poll, mmb_job_poll(job, &state, &result), {OK}, "session destroyed");
          expect(state == MMB_JOB_FINISHED, "a job of a destroyed session is not FINISHED");
        }
        mmb_job_destroy(job);
        g_ledger->count(fn_job_destroy);
        mmb_session_destroy(s);
        g_ledger->count(fn_session_destroy);
        break;
      }
      default: {
        mmb_session* s = nullptr;
        check(fn_session_create, mmb_session_create(nullptr, nullptr, &s), {INVALID}, "null model");
        check(fn_session_create, mmb_session_create(w_.models[0].model, nullptr, nullptr), {INVALID}, "null out");
        mmb_detokenizer* d = nullptr;
        check(fn_detokenizer_create, mmb_detokenizer_create(nullptr, &d), {INVALID}, "null");
        mmb_sampler* sp = nullptr;
        check(fn_sampler_create, mmb_sampler_create(nullptr, nullptr), {INVALID}, "null out");
        (void)sp;
        mmb_job_destroy(nullptr);
        mmb_session_destroy(nullptr);
        mmb_model_destroy(nullptr);
        mmb_runtime_destroy(nullptr);
        for (Fn f : {fn_job_destroy, fn_session_destroy, fn_model_destroy, fn_runtime_destroy}) g_ledger->count(f);
        break;
      }
    }
  }
};

double stress_seconds() {
  const char* env = std::getenv("MMB_STRESS_SECONDS");
  const double s = env ? std::atof(env) : 5.0;
  return s > 0 ? s : 5.0;
}

}  // namespace

// Tags on the TEST_CASE line: the tsan build picks its files by that line.
TEST_CASE("API stress: eight threads call the C API at random on shared runtimes, models, sessions", "[threads][stress]") {
  Ledger ledger;
  g_ledger = &ledger;
  World w;
  RuntimePtr worker_rt = make_runtime([](mmb_runtime_options& o) { o.job_mode = MMB_JOBS_WORKER; });
  RuntimePtr frame_rt = make_runtime([](mmb_runtime_options& o) { o.job_mode = MMB_JOBS_FRAME; });
  w.runtimes[0] = worker_rt.get();
  w.runtimes[1] = frame_rt.get();

  // Model 0: tiny, the byte tokenizer and a chat template; model 1: tiny with more
  // rows than the tokenizer has pieces (ids 256-319 have no text), another fingerprint.
  ModelConfig shape = named_shape("tiny");
  SyntheticModel m0 = make_synthetic_model(shape, {5, DType::F32});
  m0.contents.tokenizer = test::byte_tokenizer();
  m0.contents.tokenizer.chat_templates = {{"default", kChatML}};
  shape.vocab_size = 320;
  SyntheticModel m1 = make_synthetic_model(shape, {9, DType::F16});
  m1.contents.tokenizer = test::byte_tokenizer();
  w.bundle = bundle_bytes(m1);
  w.damaged_bundle = w.bundle;
  for (size_t i = 0; i < 256; ++i) w.damaged_bundle[w.damaged_bundle.size() / 2 + i] ^= std::byte{0x40};
  ModelPtr model0 = load_model(worker_rt.get(), m0);
  ModelPtr model1 = load_model(frame_rt.get(), m1);
  mmb_model* demo_raw = nullptr;
  REQUIRE(mmb_model_load_file(frame_rt.get(), demo_model_path().c_str(), nullptr, &demo_raw) == MMB_OK);
  ModelPtr demo(demo_raw);
  w.models[0] = {model0.get(), vocab_of(model0.get()), true};
  w.models[1] = {model1.get(), vocab_of(model1.get()), false};
  w.models[2] = {demo.get(), vocab_of(demo.get()), false};
  REQUIRE(w.models[0].vocab == 256);
  REQUIRE(w.models[1].vocab == 320);
  REQUIRE(w.models[2].vocab > 320);

  // The blobs the threads load where they belong and where they do not.
  for (int m = 0; m < 2; ++m) {
    SessionPtr s = make_session(w.models[m].model);
    for (int32_t t : {10, 20, 30}) step(s.get(), t);
    w.blobs.state[m] = save(s.get());
  }
  w.blobs.damaged = w.blobs.state[0];
  w.blobs.damaged[w.blobs.damaged.size() / 2] ^= 0x10;
  {
    mmb_chat* chat = nullptr;
    REQUIRE(mmb_chat_create(model0.get(), nullptr, &chat) == MMB_OK);
    REQUIRE(mmb_chat_add(chat, "user", "hello") == MMB_OK);
    REQUIRE(mmb_chat_prefill(chat, nullptr) == MMB_OK);
    size_t size = 0, written = 0;
    REQUIRE(mmb_chat_state_size(chat, &size) == MMB_OK);
    w.blobs.chat.resize(size);
    REQUIRE(mmb_chat_state_save(chat, w.blobs.chat.data(), size, &written) == MMB_OK);
    mmb_chat_destroy(chat);
  }
  GrammarPtr grammar = make_grammar(model0.get(), MMB_GRAMMAR_GBNF, kGrammar);
  GrammarPtr other = make_grammar(model0.get(), MMB_GRAMMAR_GBNF, kOtherGrammar);
  w.grammar = grammar.get();
  auto grammar_blob = [](mmb_grammar* g, int32_t token) {
    GrammarStatePtr s = make_state(g);
    REQUIRE(mmb_grammar_state_accept(s.get(), token) == MMB_OK);
    size_t size = 0, len = 0;
    REQUIRE(mmb_grammar_state_size(s.get(), &size) == MMB_OK);
    std::vector<uint8_t> blob(size);
    REQUIRE(mmb_grammar_state_save(s.get(), blob.data(), size, &len) == MMB_OK);
    return blob;
  };
  w.blobs.grammar = grammar_blob(grammar.get(), 'a');
  w.blobs.other_grammar = grammar_blob(other.get(), 'y');

  for (size_t i = 0; i < w.slots.size(); ++i) {
    w.slots[i].model = i < w.slots.size() / 2 ? 0 : 1;
    REQUIRE(mmb_session_create(w.models[w.slots[i].model].model, nullptr, &w.slots[i].session) == MMB_OK);
  }

  const double seconds = stress_seconds();
  std::atomic<uint64_t> frames{0};
  std::thread frame_thread([&] {
    uint64_t n = 0;
    while (!w.stop.load(std::memory_order_relaxed)) {
      mmb_frame_stats stats{};
      stats.struct_size = (++n % 50) == 0 ? 1 : sizeof stats;
      check(fn_runtime_frame, mmb_runtime_frame(frame_rt.get(), 2000, &stats),
            stats.struct_size == sizeof stats ? Allowed{OK} : Allowed{INVALID}, "frame thread");
      frames.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) threads.emplace_back([&w, t] { Worker(w, t).run(); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  w.stop = true;
  for (std::thread& t : threads) t.join();

  // Every job ends once cancelled (the frame thread still runs to advance the frame
  // runtime's); then all goes.
  for (Slot& slot : w.slots) {
    if (slot.job == nullptr) continue;
    REQUIRE(mmb_job_cancel(slot.job) == MMB_OK);
    int32_t state = -1;
    for (int i = 0; i < 2000 && state != MMB_JOB_FINISHED; ++i) REQUIRE(mmb_job_wait(slot.job, 10, &state) == MMB_OK);
    CHECK(state == MMB_JOB_FINISHED);
    mmb_status result = MMB_ERR_INTERNAL;
    REQUIRE(mmb_job_poll(slot.job, &state, &result) == MMB_OK);
    CHECK(result != MMB_ERR_INTERNAL);
    mmb_job_destroy(slot.job);
  }
  frame_thread.join();
  for (Slot& slot : w.slots) mmb_session_destroy(slot.session);

  uint64_t total = 0;
  std::string table;
  for (int f = 0; f < fn_count; ++f) {
    const uint64_t n = ledger.calls[size_t(f)].load();
    if (f != fn_job_event) total += n;
    if (f != fn_job_event) table += std::string("  ") + kFnNames[f] + ": " + std::to_string(n) + "\n";
  }
  std::printf("API stress: %.0f s, 8 threads and a frame thread, %llu calls (%llu frames, %llu job events)\n%s", seconds,
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(frames.load()),
              static_cast<unsigned long long>(w.events.load()), table.c_str());
  std::fflush(stdout);
  g_ledger = nullptr;
  for (const std::string& f : ledger.failures) UNSCOPED_INFO(f);
  INFO(ledger.failure_count << " calls returned a status the header does not document for them");
  CHECK(ledger.failure_count == 0);
  CHECK(total > 1000);
}
