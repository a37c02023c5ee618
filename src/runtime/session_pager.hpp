// Keeps the resident memory of a runtime's sessions under a budget. Every use of a
// session's state is bracketed by pin()/unpin(); a pinned session is never paged out.
// When a pin, or a new session, needs room, the least recently used unpinned
// sessions are paged out (their state compressed into host memory) until it fits.
// Without a budget nothing is paged out except on request (page_out()). A host page
// store (mmb_runtime_options.page_store/load/drop) takes the compressed pages when
// given; a page it refuses stays in the library's memory.
#pragma once

#include "runtime/session.hpp"

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace mmb {

struct SessionMemory {
  uint32_t sessions = 0, resident_sessions = 0, paged_sessions = 0;
  uint64_t resident_bytes = 0, paged_bytes = 0, budget_bytes = 0, page_outs = 0, page_ins = 0;
};

// The host's page store: all three functions or none (store == nullptr).
struct HostPageStore {
  mmb_page_store_fn store = nullptr;
  mmb_page_load_fn load = nullptr;
  mmb_page_drop_fn drop = nullptr;
  void* user = nullptr;
};

class SessionPager {
 public:
  explicit SessionPager(uint64_t budget_bytes, HostPageStore host = {}) : budget_(budget_bytes), host_(host) {}

  // Whether a session of `bytes` can ever fit (false: MMB_ERR_BUDGET at once).
  bool fits_alone(size_t bytes) const { return budget_ == 0 || bytes <= budget_; }
  // Makes room for a session about to be created and counts its bytes as resident.
  // Throws MMB_ERR_BUDGET when every resident session is pinned.
  void reserve(size_t bytes);
  void unreserve(size_t bytes);  // creation failed after reserve()
  // Registers a session created after reserve(), resident and unpinned.
  void add(Session* session, size_t bytes);
  void remove(Session* session);

  // Pins the session, paging it in first (making room) if needed. pin() throws
  // MMB_ERR_BUDGET when there is no room; try_pin() returns false instead.
  void pin(Session* session);
  bool try_pin(Session* session);
  void unpin(Session* session);

  // Pages an unpinned session out now. Throws MMB_ERR_BUSY when pinned.
  void page_out(Session* session);

  SessionMemory memory() const;

 private:
  struct Entry {
    size_t bytes = 0;
    int pins = 0;
    uint64_t last_use = 0;
    std::vector<std::byte> compressed;  // the state while paged out, unless the host holds it
    uint64_t host_key = 0;              // nonzero: the host's page store holds the state
    size_t host_size = 0;               // its size there
  };
  // Pages out LRU unpinned sessions other than `keep` until `bytes` more fit.
  bool make_room(size_t bytes, const Session* keep);
  void page_out_locked(Session* session, Entry& entry);
  void page_in_locked(Session* session, Entry& entry);
  void drop_host_page(Entry& entry) noexcept;
  bool pin_locked(Session* session);

  mutable std::mutex mutex_;
  const uint64_t budget_;
  const HostPageStore host_;
  uint64_t next_key_ = 0;
  uint64_t resident_ = 0;
  uint64_t clock_ = 0;
  uint64_t page_outs_ = 0, page_ins_ = 0;
  std::unordered_map<Session*, Entry> entries_;
};

// Pins a session for the lifetime of the guard.
class SessionPin {
 public:
  SessionPin(SessionPager& pager, Session* session) : pager_(pager), session_(session) { pager_.pin(session_); }
  ~SessionPin() { pager_.unpin(session_); }
  SessionPin(const SessionPin&) = delete;
  SessionPin& operator=(const SessionPin&) = delete;

 private:
  SessionPager& pager_;
  Session* session_;
};

}  // namespace mmb
