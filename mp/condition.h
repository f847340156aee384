// -----------------------------------------------------------------------------
// File: condition.h
// -----------------------------------------------------------------------------
//
// mp::Condition, as Python's multiprocessing.Condition: a condition variable
// over a Lock or RLock (a new RLock by default), shared between processes.
// Create it before forking; copies refer to the same condition.
//
// Under faults:
//   * A process killed while it holds the condition's lock: as for that
//     lock (lock.h). The next process to take it gets OwnerDiedError with
//     the lock held, from Acquire, or from Wait when that is where it takes
//     the lock back.
//   * A process killed while it waits: never makes a live waiter miss a
//     notification. Notify(n) gives n wake-up tokens (at most one per
//     waiter) that any waiter that was waiting at the time may take, so a
//     token meant for the dead one goes to a live one; only a token that no
//     live waiter can take is left over. (CPython's notify() waits for each
//     woken waiter to wake up: with a dead one, notify itself hangs.)
//   * Waiters that were waiting when Notify ran are the ones it wakes; a
//     waiter that came later waits for a later Notify, as in CPython.
//
// Thread-safety: thread- and process-safe.
//
// Example:
//
//   absl::StatusOr<mp::Condition> cond = mp::Condition::Create();
//   {
//     mp::Guard g(*cond);
//     (void)cond->WaitFor([&] { return *ready; }, absl::Seconds(5));
//   }

#ifndef MP_CONDITION_H_
#define MP_CONDITION_H_

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mp/internal/lock_core.h"
#include "mp/lock.h"

namespace mp {

namespace internal {
struct ConditionBlock;
}  // namespace internal

class Condition {
 public:
  // Over a new RLock, or over `lock`.
  // Python: multiprocessing.Condition(lock=None)
  // Errors: OSError (mmap).
  static absl::StatusOr<Condition> Create();
  static absl::StatusOr<Condition> Create(Lock lock);
  static absl::StatusOr<Condition> Create(RLock lock);

  // The underlying lock's acquire and release.
  // Python: Condition.acquire(block=True, timeout=None), Condition.release()
  // Errors: as Lock/RLock.
  absl::StatusOr<bool> Acquire(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    return lock_.Acquire(block, internal::AcquireDeadline(block, timeout));
  }
  absl::Status Release() { return lock_.Release(); }

  // Releases the lock (entirely, for an RLock), waits until notified or
  // `timeout` passes, takes the lock back (at the same depth) and returns
  // whether it was notified (false: timed out).
  // Python: Condition.wait(timeout=None)
  // Errors: AssertionError "must acquire() condition before using wait()";
  // OwnerDiedError (notified or not, the lock is held again, taken from a
  // holder that died holding it).
  absl::StatusOr<bool> Wait(absl::Duration timeout = absl::InfiniteDuration());

  // Waits until `predicate()` is true or `timeout` passes, and returns its
  // last value.
  // Python: Condition.wait_for(predicate, timeout=None)
  // Errors: as Wait.
  template <typename Predicate>
  absl::StatusOr<bool> WaitFor(Predicate predicate, absl::Duration timeout = absl::InfiniteDuration());

  // Wakes up to `n` of the processes waiting now (NotifyAll: all of them).
  // Python: Condition.notify(n=1), Condition.notify_all()
  // Errors: AssertionError "lock is not owned".
  absl::Status Notify(int n = 1);
  absl::Status NotifyAll();

 private:
  static absl::StatusOr<Condition> Make(internal::LockCore lock);
  Condition() = default;
  internal::LockCore lock_;
  std::shared_ptr<internal::SharedRegion> region_;
  internal::ConditionBlock* block_ = nullptr;
};

template <typename Predicate>
absl::StatusOr<bool> Condition::WaitFor(Predicate predicate, absl::Duration timeout) {
  bool result = predicate();
  absl::Time deadline = timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  while (!result) {
    absl::Duration left = absl::InfiniteDuration();
    if (deadline != absl::InfiniteFuture()) {
      left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
    }
    absl::StatusOr<bool> w = Wait(left);
    if (!w.ok()) return w.status();
    result = predicate();
  }
  return result;
}

}  // namespace mp

#endif  // MP_CONDITION_H_
