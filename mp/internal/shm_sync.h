// Private: the mechanism every process-shared primitive of mp is made of
// (the queues' ring, Lock, RLock, Semaphore, Event, Condition, Barrier,
// Value and Array):
//
//   * anonymous shared memory, mapped before fork and inherited by children;
//   * robust process-shared pthread mutexes in it: when a holder dies, the
//     kernel marks the mutex and the next locker is told (EOWNERDEAD);
//   * futex words in it, for sleeping until a word changes.
//
// A robust mutex is locked by spinning a little, then sleeping in 20 ms
// slices, never for good: when a waiter that unlock() woke is killed before
// it takes the lock, and a third process barges in first (acquiring without
// the futex's WAITERS bit), the kernel's robust-futex cleanup cannot pass
// that wakeup on, and the remaining waiters would sleep forever. Each
// timeout re-arms the WAITERS bit, so they recover. (The queue's fault test
// found this.)
//
// Thread-safety: thread- and process-safe.

#ifndef MP_INTERNAL_SHM_SYNC_H_
#define MP_INTERNAL_SHM_SYNC_H_

#include <pthread.h>
#include <sched.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mp::internal {

// Busy-wait rounds before sleeping on a robust mutex: waking a process on
// another CPU costs tens of microseconds, far more than a short critical
// section holds the lock.
inline constexpr int kSpinLock = 200;

// One round of busy-waiting. Every 64th round yields the CPU instead: with
// more runnable processes than CPUs (the peer we wait for may be the one
// descheduled), pure spinning would burn whole time slices.
inline void CpuRelax(int round);

// Maps `size` bytes of zeroed anonymous shared memory (MAP_SHARED), which
// children forked later inherit. Release it with munmap(2).
// Errors: OSError (mmap), naming `what`.
absl::StatusOr<void*> MapSharedAnonymous(size_t size, absl::string_view what);

// Initializes a robust, process-shared mutex (recursive if asked).
// Errors: OSError from pthread_mutex_init, naming `what`.
absl::Status InitRobustMutex(pthread_mutex_t* mu, bool recursive, absl::string_view what);

enum class RobustLock {
  kLocked,     // The caller holds the mutex.
  kOwnerDied,  // The caller holds it; its previous owner died holding it. The
               // mutex is already marked consistent: each death is reported
               // to exactly one locker.
  kTimedOut,   // `deadline` passed (or it was busy and `block` was false).
};

// Locks `mu`: a few spins, then slices of sleep until `deadline`
// (absl::InfiniteFuture(): for good). With `block` false, one try.
RobustLock LockRobustMutex(pthread_mutex_t* mu, bool block, absl::Time deadline, int spin = kSpinLock);

// Waits while `*word` == `expected`, until `deadline` or a wake (spurious
// returns happen: callers re-check). Process-shared (no FUTEX_PRIVATE).
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, absl::Time deadline);

// Wakes up to `n` sleepers on `word` (INT_MAX: all).
void FutexWake(std::atomic<uint32_t>* word, int n);

// A process, told apart from a later one that reuses its pid by its start
// time (field 22 of /proc/PID/stat).
struct ProcessIdentity {
  pid_t pid = 0;
  uint64_t start_time = 0;
};

// The calling process's identity.
ProcessIdentity SelfIdentity();

// Whether `id` is still running: false once it died (a zombie counts as
// dead: it runs no more code) or its pid was reused.
bool IsRunning(const ProcessIdentity& id);

inline void CpuRelax(int round) {
  if (round % 64 == 63) {
    ::sched_yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace mp::internal

#endif  // MP_INTERNAL_SHM_SYNC_H_
