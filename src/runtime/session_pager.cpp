#include "runtime/session_pager.hpp"

#include "base/error.hpp"

namespace mmb {

bool SessionPager::make_room(size_t bytes, const Session* keep) {
  if (budget_ == 0) return true;
  if (bytes > budget_) return false;
  while (resident_ + bytes > budget_) {
    Session* victim = nullptr;
    Entry* victim_entry = nullptr;
    for (auto& [session, entry] : entries_) {
      if (session == keep || entry.pins || !session->resident()) continue;
      if (!victim || entry.last_use < victim_entry->last_use) victim = session, victim_entry = &entry;
    }
    if (!victim) return false;
    page_out_locked(victim, *victim_entry);
  }
  return true;
}

void SessionPager::page_out_locked(Session* session, Entry& entry) {
  session->page_out(entry.compressed);
  resident_ -= entry.bytes;
  ++page_outs_;
  if (!host_.store) return;
  const uint64_t key = ++next_key_;
  if (host_.store(host_.user, key, entry.compressed.data(), entry.compressed.size()) != 0) return;  // refused: keep it
  entry.host_key = key;
  entry.host_size = entry.compressed.size();
  entry.compressed = std::vector<std::byte>();
}

void SessionPager::page_in_locked(Session* session, Entry& entry) {
  if (entry.host_key) {
    std::vector<std::byte> page(entry.host_size);
    if (host_.load(host_.user, entry.host_key, page.data(), page.size()) != 0)
      fail(MMB_ERR_IO, "the host's page store could not load page ", entry.host_key,
           " (a paged-out session's state); the session stays paged out");
    session->page_in(page);  // a page altered by the host fails here (MMB_ERR_FORMAT) and stays the host's
    drop_host_page(entry);
  } else {
    session->page_in(entry.compressed);
    entry.compressed = std::vector<std::byte>();
  }
}

void SessionPager::drop_host_page(Entry& entry) noexcept {
  if (!entry.host_key) return;
  host_.drop(host_.user, entry.host_key);
  entry.host_key = 0;
  entry.host_size = 0;
}

void SessionPager::reserve(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!make_room(bytes, nullptr))
    fail(MMB_ERR_BUDGET, "a new session needs ", bytes, " bytes; the session memory budget is ", budget_, " bytes with ",
         resident_, " held by sessions in use");
  resident_ += bytes;
}

void SessionPager::unreserve(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  resident_ -= bytes;
}

void SessionPager::add(Session* session, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = entries_[session];
  entry.bytes = bytes;
  entry.last_use = ++clock_;
}

void SessionPager::remove(Session* session) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(session);
  if (it == entries_.end()) return;
  if (session->resident()) resident_ -= it->second.bytes;
  drop_host_page(it->second);
  entries_.erase(it);
}

bool SessionPager::pin_locked(Session* session) {
  Entry& entry = entries_.at(session);
  if (!session->resident()) {
    if (!make_room(entry.bytes, session)) return false;
    page_in_locked(session, entry);
    resident_ += entry.bytes;
    ++page_ins_;
  }
  ++entry.pins;
  entry.last_use = ++clock_;
  return true;
}

void SessionPager::pin(Session* session) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!pin_locked(session))
    fail(MMB_ERR_BUDGET, "the session memory budget of ", budget_, " bytes is held by sessions in use; this session needs ",
         entries_.at(session).bytes);
}

bool SessionPager::try_pin(Session* session) {
  std::lock_guard<std::mutex> lock(mutex_);
  return pin_locked(session);
}

void SessionPager::unpin(Session* session) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = entries_.at(session);
  --entry.pins;
  entry.last_use = ++clock_;
  // A session's KV cache grows while it is in use: count what it holds now. The next
  // room made for anyone pages others out if the budget was passed.
  const size_t now = session->resident_bytes();
  resident_ = resident_ - entry.bytes + now;
  entry.bytes = now;
}

void SessionPager::page_out(Session* session) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = entries_.at(session);
  if (entry.pins) fail(MMB_ERR_BUSY, "the session is in use and cannot be paged out");
  if (session->resident()) page_out_locked(session, entry);
}

SessionMemory SessionPager::memory() const {
  std::lock_guard<std::mutex> lock(mutex_);
  SessionMemory m;
  m.sessions = uint32_t(entries_.size());
  for (const auto& [session, entry] : entries_) {
    if (session->resident()) {
      ++m.resident_sessions;
    } else {
      ++m.paged_sessions;
      m.paged_bytes += entry.host_key ? entry.host_size : entry.compressed.size();
    }
  }
  m.resident_bytes = resident_;
  m.budget_bytes = budget_;
  m.page_outs = page_outs_;
  m.page_ins = page_ins_;
  return m;
}

}  // namespace mmb
