// -----------------------------------------------------------------------------
// File: semaphore.h
// -----------------------------------------------------------------------------
//
// mp::Semaphore and mp::BoundedSemaphore, as Python's
// multiprocessing.Semaphore and multiprocessing.BoundedSemaphore: a counter
// in shared memory that Acquire decrements (waiting while it is 0) and
// Release increments. Create one before forking; copies refer to the same
// semaphore. Use mp::Guard (lock.h) for `with sem:`.
//
// A semaphore has no owner, in CPython as here: any process releases it. So
// a process killed after it acquired a unit never gives that unit back (as
// in CPython), and nobody can tell that it will not: bound waits with a
// timeout where a holder may die. What mp does guarantee: the counter is
// one atomic word, so a process killed at any point of Acquire or Release
// either took (gave) a unit or did not, never half; and a woken waiter that
// is killed before it takes its unit cannot strand the others (a release
// wakes every sleeper, which then compete for the units). (`tools/faults`
// case `lock_holder_kills` checks both.)
//
// Thread-safety: thread- and process-safe.
//
// Example:
//
//   absl::StatusOr<mp::BoundedSemaphore> slots = mp::BoundedSemaphore::Create(4);
//   {
//     mp::Guard g(*slots);  // at most 4 processes in here at once
//     Work();
//   }

#ifndef MP_SEMAPHORE_H_
#define MP_SEMAPHORE_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mp/internal/lock_core.h"

namespace mp {

namespace internal {
struct SemBlock;
// The engine of both semaphores.
class SemaphoreCore {
 public:
  static absl::StatusOr<SemaphoreCore> Create(int64_t value, bool bounded);
  SemaphoreCore() = default;
  absl::StatusOr<bool> Acquire(bool block, absl::Duration timeout);
  absl::Status Release();
  int64_t value() const;

 private:
  std::shared_ptr<SharedRegion> region_;
  SemBlock* block_ = nullptr;
};
}  // namespace internal

class Semaphore {
 public:
  // Python: multiprocessing.Semaphore(value=1)
  // Errors: ValueError (value < 0 or above 2^31-1); OSError (mmap).
  static absl::StatusOr<Semaphore> Create(int64_t value = 1);

  // Takes a unit, waiting up to `timeout` for one if `block`. True when
  // taken, false when not.
  // Python: Semaphore.acquire(block=True, timeout=None)
  absl::StatusOr<bool> Acquire(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    return core_.Acquire(block, timeout);
  }
  // Gives a unit back (any process may).
  // Python: Semaphore.release()
  absl::Status Release() { return core_.Release(); }
  // Python: Semaphore.get_value()
  int64_t GetValue() const { return core_.value(); }

 protected:
  explicit Semaphore(internal::SemaphoreCore core) : core_(std::move(core)) {}
  internal::SemaphoreCore core_;
};

// A semaphore that may not be released above its initial value.
class BoundedSemaphore : public Semaphore {
 public:
  // Python: multiprocessing.BoundedSemaphore(value=1)
  // Errors: as Semaphore::Create.
  static absl::StatusOr<BoundedSemaphore> Create(int64_t value = 1);

  // Python: BoundedSemaphore.release()
  // Errors: ValueError "semaphore or lock released too many times" (at the
  // initial value already), as CPython.
  absl::Status Release() { return core_.Release(); }

 private:
  explicit BoundedSemaphore(internal::SemaphoreCore core) : Semaphore(std::move(core)) {}
};

}  // namespace mp

#endif  // MP_SEMAPHORE_H_
