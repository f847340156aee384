// Private: the mechanism under mp::Queue, SimpleQueue and JoinableQueue: a
// FIFO of byte messages in anonymous shared memory, created before fork and
// inherited by children, that survives any process being SIGKILLed.
//
// Layout: one control block (a robust process-shared mutex, futex words, a
// double-buffered State) followed by a byte ring. Each message is an 8-byte
// length then its bytes, padded to 8; a message that would straddle the
// ring's end is preceded by a wrap marker and starts at offset 0.
//
// Commit points (why a SIGKILL anywhere loses or duplicates nothing
// committed): every mutation happens under the mutex, and all of the queue's
// logical state (head, tail, count, unfinished tasks) lives in `State`, which
// is double-buffered: the mutator writes the inactive copy and then publishes
// it with ONE atomic store of `cur`. That store is the commit point of a put
// (after its bytes are in the ring's free space) and of a get (after the
// consumer has copied/decoded the bytes). A process dying before the store
// leaves the published state as it was (its bytes lie in free space, or the
// message is still at the head for the next consumer); dying after it leaves
// the complete new state. The mutex is robust: the next locker gets
// EOWNERDEAD, marks it consistent, and needs no repair. Sleepers wait on futex
// words outside the mutex, and every wake wakes all, so a waiter that dies can
// never swallow a wakeup meant for a live one. Lockers sleep on the mutex in
// 20 ms slices: a woken mutex waiter killed before it takes the lock would
// otherwise strand the others (the fault test found this; see Lock()).
//
// Thread-safety: thread- and process-safe.

#ifndef MP_INTERNAL_SHM_QUEUE_H_
#define MP_INTERNAL_SHM_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mp::internal {

struct ShmControl;

class ShmQueue {
 public:
  // A queue holding at most `maxsize` messages (<= 0: no limit) and at most
  // `capacity` bytes of framed messages (rounded up to a multiple of 8).
  // Errors: ValueError (capacity too small); OSError (mmap).
  static absl::StatusOr<ShmQueue> Create(int64_t maxsize, uint64_t capacity);

  ShmQueue() = default;
  ShmQueue(ShmQueue&& other) noexcept { *this = std::move(other); }
  ShmQueue& operator=(ShmQueue&& other) noexcept;
  ShmQueue(const ShmQueue&) = delete;
  ShmQueue& operator=(const ShmQueue&) = delete;
  ~ShmQueue();

  // Appends `bytes`; waits for room until `deadline` if `block`.
  // Errors: queue.Full; ValueError (larger than the ring could ever hold).
  absl::Status Put(absl::string_view bytes, bool block, absl::Time deadline);

  // Passes the oldest message to `consume` under the lock and removes it
  // (also when `consume` fails, whose error is then returned); waits for one
  // until `deadline` if `block`.
  // Errors: queue.Empty; whatever `consume` returns.
  absl::Status Get(absl::FunctionRef<absl::Status(absl::string_view)> consume, bool block, absl::Time deadline);

  // Messages currently queued; unfinished tasks (puts minus TaskDone calls).
  int64_t Size() const;
  int64_t Unfinished() const;

  // Errors: ValueError "task_done() called too many times".
  absl::Status TaskDone();
  // Waits until every put message had its TaskDone; false on timeout.
  bool JoinUntil(absl::Time deadline);

  int64_t maxsize() const;
  uint64_t capacity() const;
  bool valid() const { return ctl_ != nullptr; }

 private:
  void Lock() const;
  void Unlock() const;

  ShmControl* ctl_ = nullptr;
  char* ring_ = nullptr;
  size_t mapped_ = 0;
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_SHM_QUEUE_H_
