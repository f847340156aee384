// -----------------------------------------------------------------------------
// File: lock.h
// -----------------------------------------------------------------------------
//
// mp::Lock and mp::RLock, as Python's multiprocessing.Lock and
// multiprocessing.RLock, and mp::Guard, the `with lock:` of C++.
//
// Create a lock before forking; children inherit it. Copies of a Lock refer
// to the same lock, as Python references do.
//
// A killed holder does not deadlock the others. CPython's locks are POSIX
// semaphores: a process SIGKILLed while it holds one never gives it back, and
// every process that waits for it waits forever. mp's are robust
// process-shared mutexes (mp/internal/shm_sync.h, the mechanism of mp's
// queues): when the holder dies, the kernel marks the lock, and the NEXT
// acquirer (exactly one) gets it together with the error OwnerDiedError,
// "the previous owner, pid P, died holding the Lock". That caller now HOLDS
// the lock, as with pthread's EOWNERDEAD: it can repair the state the lock
// protected, then Release() as usual. Any later acquirer sees an ordinary
// lock. (`tools/faults` case `lock_holder_kills`.)
//
// Deviation from CPython, the price of that guarantee: a Lock is released by
// the thread that acquired it. CPython lets any process or thread release a
// Lock; a lock that anyone may release has no owner whose death could be
// told apart from a release to come. mp::Release() from another thread or
// process returns ValueError and leaves the lock held. (A Semaphore, which
// has no owner in CPython either, is released by anyone: see semaphore.h.)
//
// Thread-safety: thread- and process-safe.
//
// Example (the documentation's Lock example):
//
//   absl::StatusOr<mp::Lock> lock = mp::Lock::Create();
//   mp::Process p([&] {
//     mp::Guard g(*lock);     // lock.acquire() ... finally: lock.release()
//     std::printf("hello world %d\n", i);
//   });

#ifndef MP_LOCK_H_
#define MP_LOCK_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mp/errors.h"
#include "mp/internal/lock_core.h"

namespace mp {

class Condition;

namespace internal {
// A timeout as CPython's SemLock.acquire reads it: ignored unless blocking,
// a negative one counts as zero, InfiniteDuration() is None.
inline absl::Time AcquireDeadline(bool block, absl::Duration timeout) {
  if (!block || timeout == absl::InfiniteDuration()) return absl::InfiniteFuture();
  return absl::Now() + (timeout < absl::ZeroDuration() ? absl::ZeroDuration() : timeout);
}
}  // namespace internal

// A non-recursive lock.
class Lock {
 public:
  // Python: multiprocessing.Lock()
  // Errors: OSError (mmap).
  static absl::StatusOr<Lock> Create();

  // Takes the lock, waiting up to `timeout` if `block` (InfiniteDuration():
  // Python's None). Returns true when taken, false when not. Taking it again
  // from the thread that holds it waits (for the timeout), as in CPython.
  // Python: Lock.acquire(block=True, timeout=None)
  // Errors: OwnerDiedError: the lock IS taken, and its previous holder died
  // holding it (the message names its pid): repair what it protects.
  absl::StatusOr<bool> Acquire(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    return core_.Acquire(block, internal::AcquireDeadline(block, timeout));
  }

  // Python: Lock.release()
  // Errors: ValueError "semaphore or lock released too many times" (not
  // held); ValueError (held by another thread: see the deviation above).
  absl::Status Release() { return core_.Release(); }

  // mp additions: the holder's pid (0 when free); how many holders died
  // holding it, reported so far.
  pid_t holder_pid() const { return core_.holder_pid(); }
  uint64_t owner_deaths() const { return core_.owner_deaths(); }

  friend bool operator==(const Lock& a, const Lock& b) { return a.core_ == b.core_; }

 private:
  friend class Condition;
  explicit Lock(internal::LockCore core) : core_(std::move(core)) {}
  internal::LockCore core_;
};

// A recursive lock: its holder may take it again, and must release it as
// many times.
class RLock {
 public:
  // Python: multiprocessing.RLock()
  // Errors: OSError (mmap).
  static absl::StatusOr<RLock> Create();

  // Python: RLock.acquire(block=True, timeout=None)
  // Errors: OwnerDiedError (taken, at depth 1: as Lock::Acquire).
  absl::StatusOr<bool> Acquire(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    return core_.Acquire(block, internal::AcquireDeadline(block, timeout));
  }

  // Python: RLock.release()
  // Errors: AssertionError "attempt to release recursive lock not owned by
  // thread" (as CPython, also when not held at all).
  absl::Status Release() { return core_.Release(); }

  pid_t holder_pid() const { return core_.holder_pid(); }
  uint64_t owner_deaths() const { return core_.owner_deaths(); }

  friend bool operator==(const RLock& a, const RLock& b) { return a.core_ == b.core_; }

 private:
  friend class Condition;
  explicit RLock(internal::LockCore core) : core_(std::move(core)) {}
  internal::LockCore core_;
};

// Holds a Lock, RLock, Semaphore or BoundedSemaphore for a scope, as
// Python's `with lock:`. The constructor waits for it (for good, or up to
// `timeout`); the destructor releases it if it was taken.
//
//   mp::Guard g(lock);
//   if (mp::Is(g.status(), mp::PyExc::kOwnerDiedError)) RepairSharedState();
//
// Python: with lock: ...
template <typename L>
class [[nodiscard]] Guard {
 public:
  explicit Guard(L& lock, absl::Duration timeout = absl::InfiniteDuration()) : lock_(&lock) {
    absl::StatusOr<bool> r = lock.Acquire(true, timeout);
    status_ = r.status();
    held_ = r.ok() ? *r : Is(r.status(), PyExc::kOwnerDiedError);
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  ~Guard() {
    if (held_) (void)lock_->Release();
  }

  // Whether the lock is held (false only after a timeout or an error).
  bool held() const { return held_; }
  // OK, or the error Acquire returned (OwnerDiedError with held()).
  const absl::Status& status() const { return status_; }

 private:
  L* lock_;
  bool held_ = false;
  absl::Status status_;
};

}  // namespace mp

#endif  // MP_LOCK_H_
