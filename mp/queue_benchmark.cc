// Throughput of mp::Queue and round trips of mp::Connection, each next to a
// raw baseline measured in the same run:
//   * small items 1->1 (and mp 2->2) vs a raw lock-free SPSC ring in shm;
//   * 1 MiB items vs the same raw ring with 1 MiB slots;
//   * a ping-pong round trip through Connection vs raw read/write on pipes.
// A queue benchmark's iteration moves a whole batch between forked processes,
// so fork costs are amortized; a round-trip iteration is one round trip.
// Names match tools/bench/bench.py's figures; run with --benchmark_repetitions=9
// --benchmark_report_aggregates_only=true for medians.

#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "mp/connection.h"
#include "mp/os.h"
#include "mp/queue.h"

namespace mp {
namespace {

constexpr int64_t kSmallItems = 1 << 20;
constexpr int64_t kBigItems = 1024;
constexpr size_t kMiB = size_t{1} << 20;

void Reap(pid_t pid) {
  int st;
  ::waitpid(pid, &st, 0);
}

// Spins, yielding the CPU now and then: with more runnable processes than
// CPUs, a pure spin would burn whole time slices waiting for a descheduled
// peer.
inline void Relax(int& spins) {
  if (++spins % 128 == 0) {
    ::sched_yield();
  } else {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
}

// The baseline: a single-producer single-consumer ring of fixed-size slots in
// shared memory, synchronized by two spinning counters (no lock, no sleep).
struct RawRing {
  alignas(64) std::atomic<uint64_t> head{0};
  alignas(64) std::atomic<uint64_t> tail{0};
  alignas(64) char data[1];

  static RawRing* Create(size_t slots, size_t slot_size) {
    void* p = ::mmap(nullptr, sizeof(RawRing) + slots * slot_size, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return new (p) RawRing();
  }
  static void Destroy(RawRing* r, size_t slots, size_t slot_size) { ::munmap(r, sizeof(RawRing) + slots * slot_size); }
};

void RunRawRing(benchmark::State& state, size_t slot_size, int64_t items) {
  constexpr size_t kSlots = 64;
  const size_t slots = slot_size >= kMiB ? 16 : kSlots * 64;
  std::string src(slot_size, 'x'), dst(slot_size, '\0');
  for (auto _ : state) {
    RawRing* r = RawRing::Create(slots, slot_size);
    pid_t pid = *Fork();
    if (pid == 0) {
      for (int64_t i = 0; i < items; ++i) {
        uint64_t t = r->tail.load(std::memory_order_relaxed);
        int spins = 0;
        while (t - r->head.load(std::memory_order_acquire) >= slots) Relax(spins);
        std::memcpy(r->data + (t % slots) * slot_size, src.data(), slot_size);
        r->tail.store(t + 1, std::memory_order_release);
      }
      _exit(0);
    }
    for (int64_t i = 0; i < items; ++i) {
      uint64_t h = r->head.load(std::memory_order_relaxed);
      int spins = 0;
      while (r->tail.load(std::memory_order_acquire) == h) Relax(spins);
      std::memcpy(dst.data(), r->data + (h % slots) * slot_size, slot_size);
      r->head.store(h + 1, std::memory_order_release);
    }
    benchmark::DoNotOptimize(dst.data());
    Reap(pid);
    RawRing::Destroy(r, slots, slot_size);
  }
  state.SetItemsProcessed(state.iterations() * items);
  state.SetBytesProcessed(state.iterations() * items * static_cast<int64_t>(slot_size));
}

void BM_RawShmRing_Small(benchmark::State& state) { RunRawRing(state, sizeof(int64_t), kSmallItems); }
void BM_RawShmRing_1MiB(benchmark::State& state) { RunRawRing(state, kMiB, kBigItems); }

template <typename T>
void RunQueue(benchmark::State& state, int producers, int consumers, int64_t items, const T& item,
              uint64_t capacity = uint64_t{64} << 20) {
  for (auto _ : state) {
    auto q = Queue<T>::Create(0, capacity);
    std::vector<pid_t> pids;
    for (int p = 0; p < producers; ++p) {
      pid_t pid = *Fork();
      if (pid == 0) {
        for (int64_t i = p; i < items; i += producers) {
          if (!q->Put(item).ok()) _exit(1);
        }
        _exit(0);
      }
      pids.push_back(pid);
    }
    // Consumers other than this process take their share; this one the rest.
    int64_t share = items / consumers;
    for (int c = 1; c < consumers; ++c) {
      pid_t pid = *Fork();
      if (pid == 0) {
        for (int64_t i = 0; i < share; ++i) {
          if (!q->Get().ok()) _exit(1);
        }
        _exit(0);
      }
      pids.push_back(pid);
    }
    for (int64_t i = 0; i < items - share * (consumers - 1); ++i) {
      absl::StatusOr<T> v = q->Get();
      benchmark::DoNotOptimize(v);
    }
    for (pid_t pid : pids) Reap(pid);
  }
  state.SetItemsProcessed(state.iterations() * items);
}

void BM_MpQueue_Small_1to1(benchmark::State& state) { RunQueue<int64_t>(state, 1, 1, kSmallItems, 42); }
void BM_MpQueue_Small_2to2(benchmark::State& state) { RunQueue<int64_t>(state, 2, 2, kSmallItems, 42); }
// The figure gives the queue the raw ring's buffer (16 MiB): with the default
// 64 MiB, a producer that runs ahead walks twice the L3 cache, and each
// iteration's fresh queue takes 4x the page faults, so that variant measures
// memory more than the queue (both are reported).
void BM_MpQueue_1MiB(benchmark::State& state) {
  RunQueue<std::string>(state, 1, 1, kBigItems, std::string(kMiB, 'x'), uint64_t{16} << 20);
  state.SetBytesProcessed(state.iterations() * kBigItems * static_cast<int64_t>(kMiB));
}
void BM_MpQueue_1MiB_DefaultCapacity(benchmark::State& state) {
  RunQueue<std::string>(state, 1, 1, kBigItems, std::string(kMiB, 'x'), kDefaultQueueCapacityBytes);
  state.SetBytesProcessed(state.iterations() * kBigItems * static_cast<int64_t>(kMiB));
}

// Raw ping-pong: 8 bytes each way over two pipes, blocking read/write. One
// iteration is one round trip (the echo child lives for the whole run).
void BM_RawPipe_RoundTrip(benchmark::State& state) {
  int a[2], b[2];
  (void)!::pipe(a);
  (void)!::pipe(b);
  pid_t pid = *Fork();
  if (pid == 0) {
    ::close(a[1]);
    ::close(b[0]);
    char buf[8];
    while (::read(a[0], buf, 8) == 8) (void)!::write(b[1], buf, 8);
    _exit(0);
  }
  ::close(a[0]);
  ::close(b[1]);
  char buf[8] = {};
  for (auto _ : state) {
    (void)!::write(a[1], buf, 8);
    (void)!::read(b[0], buf, 8);
  }
  ::close(a[1]);
  Reap(pid);
  ::close(b[0]);
  state.SetItemsProcessed(state.iterations());
}

// The raw ping-pong over one socketpair, the mechanism under Pipe(true): for
// context (the figure's baseline stays the raw pipe).
void BM_RawSocketpair_RoundTrip(benchmark::State& state) {
  int sv[2];
  (void)!::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pid_t pid = *Fork();
  if (pid == 0) {
    ::close(sv[0]);
    char buf[8];
    while (::read(sv[1], buf, 8) == 8) (void)!::write(sv[1], buf, 8);
    _exit(0);
  }
  ::close(sv[1]);
  char buf[8] = {};
  for (auto _ : state) {
    (void)!::write(sv[0], buf, 8);
    (void)!::read(sv[0], buf, 8);
  }
  ::close(sv[0]);
  Reap(pid);
  state.SetItemsProcessed(state.iterations());
}

// The same through Connection: two simplex Pipes (pipe fds, as the raw one),
// or one duplex Pipe (a socketpair, as CPython's Pipe()).
void ConnectionRoundTrip(benchmark::State& state, bool duplex) {
  Connection mine_r, mine_w, theirs_r, theirs_w;
  if (duplex) {
    auto p = *Pipe(true);
    mine_r = std::move(p.first);
    theirs_r = std::move(p.second);
  } else {
    auto p1 = *Pipe(false);
    auto p2 = *Pipe(false);
    theirs_r = std::move(p1.first);
    mine_w = std::move(p1.second);
    mine_r = std::move(p2.first);
    theirs_w = std::move(p2.second);
  }
  Connection& send = duplex ? mine_r : mine_w;
  pid_t pid = *Fork();
  if (pid == 0) {
    mine_r.Close();
    mine_w.Close();
    Connection& out = duplex ? theirs_r : theirs_w;
    for (;;) {
      absl::StatusOr<std::string> m = theirs_r.RecvBytes();
      if (!m.ok() || !out.SendBytes(*m).ok()) break;
    }
    _exit(0);
  }
  theirs_r.Close();
  theirs_w.Close();
  const std::string msg(8, 'x');
  for (auto _ : state) {
    (void)send.SendBytes(msg);
    absl::StatusOr<std::string> back = mine_r.RecvBytes();
    benchmark::DoNotOptimize(back);
  }
  mine_r.Close();
  mine_w.Close();
  Reap(pid);
  state.SetItemsProcessed(state.iterations());
}

void BM_Connection_RoundTrip_Simplex(benchmark::State& state) { ConnectionRoundTrip(state, false); }
void BM_Connection_RoundTrip_Duplex(benchmark::State& state) { ConnectionRoundTrip(state, true); }

BENCHMARK(BM_RawShmRing_Small)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MpQueue_Small_1to1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MpQueue_Small_2to2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawShmRing_1MiB)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MpQueue_1MiB)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MpQueue_1MiB_DefaultCapacity)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawPipe_RoundTrip)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawSocketpair_RoundTrip)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Connection_RoundTrip_Simplex)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Connection_RoundTrip_Duplex)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mp
