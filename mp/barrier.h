// -----------------------------------------------------------------------------
// File: barrier.h
// -----------------------------------------------------------------------------
//
// mp::Barrier, as Python's multiprocessing.Barrier (threading.Barrier's
// semantics, between processes): `parties` processes (or threads) Wait, and
// all return together once the last one arrives; the last one runs the
// `action` first. A Wait that times out, an Abort, or an action that fails
// breaks the barrier: every waiter, and every later Wait until Reset, gets
// BrokenBarrierError. Create it before forking; copies refer to the same
// barrier.
//
// Under faults (`tools/faults` case `barrier_party_kills`):
//   * A party that dies leaves the barrier broken, not hung. A process (or
//     thread) becomes a party the first time it waits on the barrier; while
//     anyone waits, the waiters check every 20 ms that each party that has
//     not arrived in the current cycle still runs, and break the barrier
//     when one does not: it will never arrive. So a party killed between
//     two cycles, or while running the action, or while it waits, breaks
//     the barrier for the others within about 20 ms. (CPython's waiters
//     wait for it forever, or until their timeout.)
//   * A process that dies before its first Wait is not known to the
//     barrier: bound the first Wait with a timeout where that can happen.
//   * The other side of the same rule: a party that has exited breaks the
//     barrier when the others wait on it again without it, even if a new
//     process would have come in its place (a pool's replacement worker).
//
// Thread-safety: thread- and process-safe.
//
// Example:
//
//   absl::StatusOr<mp::Barrier> b = mp::Barrier::Create(3);
//   // in each of 3 processes:
//   absl::StatusOr<int> index = b->Wait();  // 0, 1 or 2
//   if (mp::Is(index.status(), mp::PyExc::kBrokenBarrierError)) ...

#ifndef MP_BARRIER_H_
#define MP_BARRIER_H_

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mp/internal/lock_core.h"

namespace mp {

namespace internal {
struct BarrierBlock;
}  // namespace internal

class Barrier {
 public:
  // At most this many distinct processes (and threads) may take part.
  static constexpr int kMaxParties = 256;

  // `action`, if any, runs in the last process to arrive, before any is
  // released; a non-OK status from it breaks the barrier. `timeout` is the
  // default for Wait (InfiniteDuration(): None).
  // Python: multiprocessing.Barrier(parties, action=None, timeout=None)
  // Errors: ValueError (parties < 1 or > kMaxParties); OSError (mmap).
  static absl::StatusOr<Barrier> Create(int parties, std::function<absl::Status()> action = nullptr,
                                        absl::Duration timeout = absl::InfiniteDuration());

  // Waits for the other parties; returns this party's arrival index, 0 to
  // parties-1. Without `timeout`, the barrier's default applies.
  // Python: Barrier.wait(timeout=None)
  // Errors: BrokenBarrierError (broken before or while waiting, by a
  // timeout, Abort, Reset, a failed action or a dead party); the action's
  // own error, in the process that ran it.
  absl::StatusOr<int> Wait();
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // Breaks the barrier: current and future waiters get BrokenBarrierError.
  // Python: Barrier.abort()
  void Abort();
  // Back to empty and unbroken; current waiters get BrokenBarrierError.
  // Python: Barrier.reset()
  void Reset();

  // Python: Barrier.parties, Barrier.n_waiting, Barrier.broken
  int parties() const;
  int n_waiting() const;
  bool broken() const;

 private:
  Barrier() = default;
  absl::Status Break();  // Under the barrier's mutex.
  std::shared_ptr<internal::SharedRegion> region_;
  internal::BarrierBlock* block_ = nullptr;
  std::function<absl::Status()> action_;
  absl::Duration timeout_ = absl::InfiniteDuration();
};

}  // namespace mp

#endif  // MP_BARRIER_H_
