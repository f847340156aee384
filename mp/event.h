// -----------------------------------------------------------------------------
// File: event.h
// -----------------------------------------------------------------------------
//
// mp::Event, as Python's multiprocessing.Event: a flag in shared memory that
// processes wait for. Create it before forking; copies refer to the same
// event.
//
// CPython builds its Event from a Condition and a Lock, so a process killed
// inside set() or wait() can leave the others deadlocked. mp's is one futex
// word and holds no lock: Set is a single store followed by a wake of every
// sleeper, so a process killed at any point of Set, Clear or Wait leaves the
// flag either set or not, and never a waiter stranded. A wake-up across
// processes costs one futex wake (BENCHMARKS.md, "Event set->wait").
//
// Thread-safety: thread- and process-safe.
//
// Example:
//
//   absl::StatusOr<mp::Event> ready = mp::Event::Create();
//   mp::Process p([&] { Prepare(); ready->Set(); });
//   (void)p.Start();
//   bool set = ready->Wait(absl::Seconds(5));  // false on timeout

#ifndef MP_EVENT_H_
#define MP_EVENT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mp/internal/lock_core.h"

namespace mp {

namespace internal {
struct EventBlock;
}  // namespace internal

class Event {
 public:
  // Python: multiprocessing.Event()
  // Errors: OSError (mmap).
  static absl::StatusOr<Event> Create();

  // Python: Event.is_set()
  bool IsSet() const;
  // Sets the flag and wakes every waiter.
  // Python: Event.set()
  void Set();
  // Python: Event.clear()
  void Clear();
  // Waits until the flag is set or `timeout` passes (InfiniteDuration():
  // Python's None); returns the flag.
  // Python: Event.wait(timeout=None)
  bool Wait(absl::Duration timeout = absl::InfiniteDuration()) const;

 private:
  Event() = default;
  std::shared_ptr<internal::SharedRegion> region_;
  internal::EventBlock* block_ = nullptr;
};

}  // namespace mp

#endif  // MP_EVENT_H_
