// Lock, Event and Value against their raw baselines, measured in the same
// run (names match tools/bench/bench.py's figures):
//   * Lock acquire+release uncontended vs a process-shared pthread mutex
//     (plain, and robust as mp's is);
//   * the same contended by two processes;
//   * Event set->wait wake-up across processes (a ping-pong of two Events)
//     vs the same ping-pong on two raw futex words;
//   * Value increments under its lock by 4 processes vs an int beside a
//     process-shared pthread mutex.

#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <vector>

#include "benchmark/benchmark.h"
#include "mp/event.h"
#include "mp/lock.h"
#include "mp/os.h"
#include "mp/sharedctypes.h"

namespace mp {
namespace {

constexpr int64_t kContendedOps = 200000;  // Per process.
constexpr int64_t kPingPongs = 20000;
constexpr int64_t kIncrements = 100000;    // Per process.

template <typename T, typename... Args>
T* MapShared(Args... args) {
  void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) T(args...);
}
template <typename T>
void Unmap(T* p) {
  p->~T();
  ::munmap(p, sizeof(T));
}

struct RawMutex {
  pthread_mutex_t mu;
  int value = 0;
  explicit RawMutex(bool robust) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (robust) pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&mu, &a);
    pthread_mutexattr_destroy(&a);
  }
};

// Runs `body` in `n` forked processes at once and waits for them.
template <typename F>
void InProcesses(int n, F body) {
  std::vector<pid_t> kids;
  for (int k = 0; k < n; ++k) {
    pid_t pid = *Fork();
    if (pid == 0) {
      body();
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int st;
    ::waitpid(pid, &st, 0);
  }
}

// --- Uncontended ------------------------------------------------------------

void BM_LockUncontended(benchmark::State& state) {
  absl::StatusOr<Lock> lock = Lock::Create();
  for (auto _ : state) {
    (void)lock->Acquire();
    (void)lock->Release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LockUncontended);

void RawUncontended(benchmark::State& state, bool robust) {
  RawMutex* m = MapShared<RawMutex>(robust);
  for (auto _ : state) {
    pthread_mutex_lock(&m->mu);
    pthread_mutex_unlock(&m->mu);
  }
  state.SetItemsProcessed(state.iterations());
  Unmap(m);
}
void BM_RawPthreadMutexUncontended(benchmark::State& state) { RawUncontended(state, false); }
void BM_RawRobustMutexUncontended(benchmark::State& state) { RawUncontended(state, true); }
BENCHMARK(BM_RawPthreadMutexUncontended);
BENCHMARK(BM_RawRobustMutexUncontended);

// --- Contended by two processes ---------------------------------------------

void BM_LockContended2(benchmark::State& state) {
  absl::StatusOr<Lock> lock = Lock::Create();
  for (auto _ : state) {
    InProcesses(2, [&] {
      for (int64_t i = 0; i < kContendedOps; ++i) {
        (void)lock->Acquire();
        (void)lock->Release();
      }
    });
  }
  state.SetItemsProcessed(state.iterations() * 2 * kContendedOps);
}
BENCHMARK(BM_LockContended2)->UseRealTime()->Unit(benchmark::kMillisecond);

void RawContended(benchmark::State& state, bool robust) {
  RawMutex* m = MapShared<RawMutex>(robust);
  for (auto _ : state) {
    InProcesses(2, [&] {
      for (int64_t i = 0; i < kContendedOps; ++i) {
        pthread_mutex_lock(&m->mu);
        pthread_mutex_unlock(&m->mu);
      }
    });
  }
  state.SetItemsProcessed(state.iterations() * 2 * kContendedOps);
  Unmap(m);
}
void BM_RawPthreadMutexContended2(benchmark::State& state) { RawContended(state, false); }
void BM_RawRobustMutexContended2(benchmark::State& state) { RawContended(state, true); }
BENCHMARK(BM_RawPthreadMutexContended2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawRobustMutexContended2)->UseRealTime()->Unit(benchmark::kMillisecond);

// --- Event wake-up ------------------------------------------------------------

// A ping-pong: each round trip is two wake-ups across processes.
void BM_EventWakeup(benchmark::State& state) {
  absl::StatusOr<Event> ping = Event::Create();
  absl::StatusOr<Event> pong = Event::Create();
  for (auto _ : state) {
    pid_t pid = *Fork();
    if (pid == 0) {
      for (int64_t i = 0; i < kPingPongs; ++i) {
        ping->Wait();
        ping->Clear();
        pong->Set();
      }
      _exit(0);
    }
    for (int64_t i = 0; i < kPingPongs; ++i) {
      ping->Set();
      pong->Wait();
      pong->Clear();
    }
    int st;
    ::waitpid(pid, &st, 0);
  }
  state.SetItemsProcessed(state.iterations() * 2 * kPingPongs);
}
BENCHMARK(BM_EventWakeup)->UseRealTime()->Unit(benchmark::kMillisecond);

struct FutexPair {
  std::atomic<uint32_t> ping{0};
  std::atomic<uint32_t> pong{0};
};

void RawWait(std::atomic<uint32_t>* w) {
  while (w->load(std::memory_order_acquire) == 0) {
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT, 0, nullptr, nullptr, 0);
  }
}
void RawSet(std::atomic<uint32_t>* w) {
  w->store(1, std::memory_order_release);
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void BM_RawFutexWakeup(benchmark::State& state) {
  FutexPair* f = MapShared<FutexPair>();
  for (auto _ : state) {
    pid_t pid = *Fork();
    if (pid == 0) {
      for (int64_t i = 0; i < kPingPongs; ++i) {
        RawWait(&f->ping);
        f->ping.store(0);
        RawSet(&f->pong);
      }
      _exit(0);
    }
    for (int64_t i = 0; i < kPingPongs; ++i) {
      RawSet(&f->ping);
      RawWait(&f->pong);
      f->pong.store(0);
    }
    int st;
    ::waitpid(pid, &st, 0);
  }
  state.SetItemsProcessed(state.iterations() * 2 * kPingPongs);
  Unmap(f);
}
BENCHMARK(BM_RawFutexWakeup)->UseRealTime()->Unit(benchmark::kMillisecond);

// --- Value increments by 4 processes ------------------------------------------

void BM_ValueIncrements4(benchmark::State& state) {
  absl::StatusOr<Value<int>> v = Value<int>::Create(0);
  for (auto _ : state) {
    InProcesses(4, [&] {
      for (int64_t i = 0; i < kIncrements; ++i) {
        Guard g(v->get_lock());
        ++*v->get_obj();
      }
    });
  }
  if (*v->Get() != state.iterations() * 4 * kIncrements) state.SkipWithError("lost increments");
  state.SetItemsProcessed(state.iterations() * 4 * kIncrements);
}
BENCHMARK(BM_ValueIncrements4)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_RawMutexIncrements4(benchmark::State& state) {
  RawMutex* m = MapShared<RawMutex>(false);
  for (auto _ : state) {
    InProcesses(4, [&] {
      for (int64_t i = 0; i < kIncrements; ++i) {
        pthread_mutex_lock(&m->mu);
        ++m->value;
        pthread_mutex_unlock(&m->mu);
      }
    });
  }
  state.SetItemsProcessed(state.iterations() * 4 * kIncrements);
  Unmap(m);
}
BENCHMARK(BM_RawMutexIncrements4)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mp
