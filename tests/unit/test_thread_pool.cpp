// The compute thread pool: every task once, worker ids usable for scratch, and
// concurrent submitters never deadlock.
#include <catch2/catch.hpp>

#include "base/thread_pool.hpp"

#include <atomic>
#include <thread>
#include <vector>

TEST_CASE("thread pool runs every task exactly once", "[threads]") {
  for (int threads : {1, 2, 3, 8}) {
    mmb::ThreadPool pool(threads);
    CHECK(pool.size() == threads);
    for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(1000)}) {
      std::vector<std::atomic<int>> hits(n);
      std::atomic<int> bad_worker{0};
      for (int rep = 0; rep < 20; ++rep)
        pool.run(n, [&](size_t i, int worker) {
          hits[i].fetch_add(1);
          if (worker < 0 || worker >= threads) bad_worker.fetch_add(1);
        });
      for (size_t i = 0; i < n; ++i) CHECK(hits[i].load() == 20);
      CHECK(bad_worker.load() == 0);
    }
  }
}

TEST_CASE("thread pool worker ids are exclusive while tasks run", "[threads]") {
  mmb::ThreadPool pool(4);
  std::vector<std::atomic<int>> in_use(4);
  std::atomic<int> collisions{0};
  pool.run(2000, [&](size_t, int worker) {
    if (in_use[size_t(worker)].exchange(1) != 0) collisions.fetch_add(1);
    std::this_thread::yield();  // widen the window in which a collision would show
    in_use[size_t(worker)].store(0);
  });
  CHECK(collisions.load() == 0);
}

TEST_CASE("thread pool serves concurrent submitters", "[threads]") {
  mmb::ThreadPool pool(3);
  std::atomic<long> total{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < 6; ++t)
    submitters.emplace_back([&] {
      for (int rep = 0; rep < 200; ++rep) pool.run(50, [&](size_t i, int) { total.fetch_add(long(i)); });
    });
  for (auto& s : submitters) s.join();
  CHECK(total.load() == 6L * 200L * (49L * 50L / 2L));
}

TEST_CASE("thread pool loops of different sizes back to back each run their own tasks once", "[threads]") {
  // A worker that read the claim word of a finished short loop must not pair it with
  // the next, longer loop's task count or task: each loop's hits are counted apart,
  // and complete when run() returns.
  for (int threads : {2, 3}) {
    mmb::ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits_short(2), hits_long(64);
    std::atomic<int> wrong{0};
    for (int rep = 0; rep < 3000; ++rep) {
      for (auto& h : hits_short) h.store(0);
      for (auto& h : hits_long) h.store(0);
      pool.run(2, [&](size_t i, int) { hits_short[i].fetch_add(1); });
      for (auto& h : hits_short)
        if (h.load() != 1) wrong.fetch_add(1);
      pool.run(64, [&](size_t i, int) { hits_long[i].fetch_add(1); });
      for (auto& h : hits_long)
        if (h.load() != 1) wrong.fetch_add(1);
      for (auto& h : hits_short)
        if (h.load() != 1) wrong.fetch_add(1);  // no short-loop task ran again
    }
    CHECK(wrong.load() == 0);
  }
}
