// Kernel launches: the grid's blocks run one after another (in a seeded random order),
// each block's threads as fibers in lock-step only where CUDA promises it. A thread
// runs until it reaches __syncthreads, a warp collective or its end; the scheduler
// then picks the next runnable thread at random (seeded), so the order of the code
// between two synchronisation points is never the same from seed to seed.
//
// Strictness: __syncthreads must be reached by every thread of the block at the same
// call site (an exited thread or another site is a divergent barrier); a warp
// collective waits for every lane of its mask, which must name itself, use the same
// mask and the same collective, and not have exited or be waiting at a barrier; a
// shuffle may only read a lane of its mask. Each is reported as an error.
#include "emulator.hpp"
#include "fiber.hpp"

#include <algorithm>
#include <memory>
#include <string>

namespace cuda_emu {

KernelView kernel_view;
const ThreadContext* current_context = nullptr;

namespace {

enum class State { Ready, Barrier, Warp, Exited };
enum class Collective { Shuffle, Ballot, Syncwarp };

struct Lane {
  State state = State::Ready;
  ThreadContext ctx{};
  const char* file = "";
  int line = 0;
  // At a warp collective:
  Collective what = Collective::Syncwarp;
  unsigned mask = 0;
  ShuffleKind kind = ShuffleKind::Index;
  int arg = 0, width = 32;
  uint64_t value = 0, result = 0;
};

// Per warp, which lanes wait at a collective, at a barrier, or have exited: a lane
// arriving at a collective is checked against its mask in O(1); the collective's
// lanes are compared one by one only once all of them are there.
struct WarpLanes {
  unsigned at_collective = 0, at_barrier = 0, exited = 0;
};

// A small fast generator (splitmix64) for the scheduler's picks: one per switch.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (Lemire's multiply-shift; the bias is far below what matters here).
  size_t below(size_t n) { return size_t((unsigned __int128)next() * n >> 64); }
};

struct BlockRun {
  std::vector<Lane> lanes;
  std::vector<uint32_t> warp_gen;
  std::vector<WarpLanes> warps;
  std::vector<int> ready;
  int current = -1;
  bool failed = false;
};

std::vector<std::unique_ptr<Fiber>> fibers;  // reused across blocks and launches
BlockRun* block = nullptr;
BlockRun block_storage;  // reused across blocks and launches
std::string launch_name;

std::string where(const Lane& l) { return std::string(l.file) + ":" + std::to_string(l.line); }

void fail(const std::string& what) {
  block->failed = true;
  const Lane& l = block->lanes[block->current >= 0 ? block->current : 0];
  report(what + " (block " + std::to_string(l.ctx.block_idx.x) + "," + std::to_string(l.ctx.block_idx.y) + "," +
         std::to_string(l.ctx.block_idx.z) + ")");
}

Lane& me() { return block->lanes[block->current]; }

void wait_here() {
  const int t = block->current;
  fibers[t]->yield();
  block->current = t;
  current_context = &block->lanes[t].ctx;
  kernel_view.thread = t;
  kernel_view.stack_lo = fibers[t]->stack_lo();
  kernel_view.stack_hi = fibers[t]->stack_hi();
}

int lanes_in_block() { return int(block->lanes.size()); }

// Completes the collective of the warp of lane t when every lane its mask names has
// arrived; reports a collective that can never complete.
void try_complete(int t) {
  Lane& first = block->lanes[t];
  const int base = t / 32 * 32;
  const unsigned mask = first.mask;
  const int self = t - base;
  if (!(mask >> self & 1u)) return fail("lane " + std::to_string(self) + " calls a warp collective at " +
                                        where(first) + " with a mask that excludes itself");
  WarpLanes& warp = block->warps[t / 32];
  // Wait, without looking at each lane, while lanes the mask names still run and none
  // is already an error (exited, at a barrier, missing from the block).
  const int count = std::min(32, lanes_in_block() - base);
  const unsigned missing = count == 32 ? 0u : ~((1u << count) - 1);
  if ((mask & ~(warp.at_collective | warp.at_barrier | warp.exited | missing)) &&
      !(mask & (warp.at_barrier | warp.exited | missing)))
    return;
  for (int i = 0; i < 32; ++i) {
    if (!(mask >> i & 1u)) continue;
    if (base + i >= lanes_in_block())
      return fail("the mask of the warp collective at " + where(first) + " names lane " + std::to_string(i) +
                  ", which the block does not have");
    const Lane& l = block->lanes[base + i];
    switch (l.state) {
      case State::Ready: return;  // not there yet
      case State::Exited:
        return fail("the warp collective at " + where(first) + " needs lane " + std::to_string(i) +
                    ", which has exited");
      case State::Barrier:
        return fail("the warp collective at " + where(first) + " needs lane " + std::to_string(i) +
                    ", which waits at __syncthreads at " + where(l));
      case State::Warp:
        if (l.mask != mask || l.what != first.what)
          return fail("lanes of a warp meet at different collectives or masks: " + where(first) + " and " + where(l));
        break;
    }
  }
  unsigned votes = 0;
  for (int i = 0; i < 32; ++i)
    if (mask >> i & 1u) votes |= unsigned(block->lanes[base + i].value != 0) << i;
  for (int i = 0; i < 32; ++i) {
    if (!(mask >> i & 1u)) continue;
    Lane& l = block->lanes[base + i];
    if (l.what == Collective::Shuffle) {
      const int w = l.width, seg = i / w * w;
      int src = i;
      switch (l.kind) {
        case ShuffleKind::Index: src = seg + (l.arg % w + w) % w; break;
        case ShuffleKind::Up: src = i - l.arg >= seg ? i - l.arg : i; break;
        case ShuffleKind::Down: src = i + l.arg < seg + w ? i + l.arg : i; break;
        case ShuffleKind::Xor: src = (i ^ l.arg) < seg + w ? i ^ l.arg : i; break;
      }
      if (src < 0 || src >= 32 || !(mask >> src & 1u))
        return fail("the shuffle at " + where(l) + " of lane " + std::to_string(i) + " reads lane " +
                    std::to_string(src) + ", which its mask excludes");
      l.result = block->lanes[base + src].value;
    } else if (l.what == Collective::Ballot) {
      l.result = votes;
    }
  }
  for (int i = 0; i < 32; ++i)
    if (mask >> i & 1u) {
      block->lanes[base + i].state = State::Ready;
      block->ready.push_back(base + i);
    }
  warp.at_collective &= ~mask;
  ++block->warp_gen[t / 32];
}

uint64_t collective(Collective what, unsigned mask, uint64_t value, ShuffleKind kind, int arg, int width,
                    const char* file, int line) {
  Lane& l = me();
  l.state = State::Warp;
  l.what = what;
  l.mask = mask;
  l.value = value;
  l.kind = kind;
  l.arg = arg;
  l.width = width;
  l.file = file;
  l.line = line;
  block->warps[block->current / 32].at_collective |= 1u << (block->current % 32);
  if (width <= 0 || width > 32 || (width & (width - 1)))
    fail("the shuffle at " + where(l) + " has width " + std::to_string(width) + ", not a power of two <= 32");
  wait_here();
  return me().result;
}

// No thread can run: release a barrier every thread reached, or report the deadlock.
bool release_barrier() {
  const Lane* at = nullptr;
  int exited = 0;
  for (const Lane& l : block->lanes) {
    if (l.state == State::Exited) ++exited;
    if (l.state == State::Warp) {
      fail("a warp collective at " + where(l) + " never completes");
      return false;
    }
    if (l.state == State::Barrier) {
      if (at && (at->file != l.file || at->line != l.line)) {
        fail("divergent __syncthreads: threads wait at " + where(*at) + " and at " + where(l));
        return false;
      }
      at = &l;
    }
  }
  if (!at) return false;  // every thread has exited: the block is done
  if (exited) {
    fail("divergent __syncthreads at " + where(*at) + ": " + std::to_string(exited) +
         " threads of the block have exited");
    return false;
  }
  for (int t = 0; t < lanes_in_block(); ++t) {
    block->lanes[t].state = State::Ready;
    block->ready.push_back(t);
  }
  for (WarpLanes& w : block->warps) w.at_barrier = 0;
  ++kernel_view.barrier_epoch;
  race_reset();
  return true;
}

void run_block(const std::function<void()>& body, dim3 grid, dim3 dims, uint3 block_idx, Rng& rng) {
  const int n = int(dims.x * dims.y * dims.z);
  BlockRun& run = block_storage;
  run.lanes.assign(n, Lane{});
  run.warp_gen.assign((n + 31) / 32, 0);
  run.warps.assign((n + 31) / 32, WarpLanes{});
  run.ready.clear();
  run.current = -1;
  run.failed = false;
  while (int(fibers.size()) < n) fibers.push_back(std::make_unique<Fiber>());
  for (int t = 0; t < n; ++t) {
    run.lanes[t].ctx = {{unsigned(t) % dims.x, unsigned(t) / dims.x % dims.y, unsigned(t) / (dims.x * dims.y)},
                        block_idx, dims, grid};
    fibers[t]->start(&body);
    run.ready.push_back(t);
  }
  block = &run;
  kernel_view.warp_gen = run.warp_gen.data();
  race_reset();
  for (;;) {
    if (run.failed) break;
    if (run.ready.empty() && !release_barrier()) break;
    const size_t pick = rng.below(run.ready.size());
    const int t = run.ready[pick];
    run.ready[pick] = run.ready.back();
    run.ready.pop_back();
    run.current = t;
    current_context = &run.lanes[t].ctx;
    kernel_view.thread = t;
    kernel_view.stack_lo = fibers[t]->stack_lo();
    kernel_view.stack_hi = fibers[t]->stack_hi();
    fibers[t]->resume();
    Lane& l = run.lanes[t];
    if (fibers[t]->finished()) {
      l.state = State::Exited;
      run.warps[t / 32].exited |= 1u << (t % 32);
      // A lane that leaves while its warp waits for it at a collective.
      for (int i = t / 32 * 32; i < std::min(n, t / 32 * 32 + 32); ++i)
        if (run.lanes[i].state == State::Warp && (run.lanes[i].mask >> (t % 32) & 1u)) {
          run.current = i;
          fail("lane " + std::to_string(t % 32) + " exits while the warp collective at " + where(run.lanes[i]) +
               " waits for it");
          break;
        }
    } else if (l.state == State::Warp) {
      try_complete(t);
    }
  }
  block = nullptr;
  current_context = nullptr;
}

bool valid(dim3 grid, dim3 dims) {
  const unsigned long long threads = 1ull * dims.x * dims.y * dims.z;
  return grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7fffffffu && grid.y <= 65535 &&
         grid.z <= 65535 && threads >= 1 && threads <= 1024 && dims.z <= 64;
}

}  // namespace

void syncthreads(const char* file, int line) {
  Lane& l = me();
  l.state = State::Barrier;
  block->warps[block->current / 32].at_barrier |= 1u << (block->current % 32);
  l.file = file;
  l.line = line;
  wait_here();
}

void syncwarp(unsigned mask, const char* file, int line) {
  collective(Collective::Syncwarp, mask, 0, ShuffleKind::Index, 0, 32, file, line);
}

uint64_t shuffle(unsigned mask, uint64_t value, ShuffleKind kind, int arg, int width, const char* file, int line) {
  return collective(Collective::Shuffle, mask, value, kind, arg, width, file, line);
}

unsigned ballot(unsigned mask, bool predicate, const char* file, int line) {
  return unsigned(collective(Collective::Ballot, mask, predicate, ShuffleKind::Index, 0, 32, file, line));
}

void launch(dim3 grid, dim3 dims, cudaStream_t stream, std::function<void()> body) {
  if (!valid(grid, dims)) return set_last_error(cudaErrorInvalidConfiguration);
  enqueue(stream, [grid, dims, body = std::move(body)] {
    Rng rng{launch_seed()};
    std::vector<uint3> order;
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) order.push_back({x, y, z});
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    race_new_launch();
    kernel_view.running = true;
    for (const uint3& b : order) run_block(body, grid, dims, b, rng);
    kernel_view.running = false;
  });
}

}  // namespace cuda_emu
