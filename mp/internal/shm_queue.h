// Private: the mechanism under mp::Queue, SimpleQueue and JoinableQueue: a
// FIFO of byte messages in anonymous shared memory, created before fork and
// inherited by children, that survives any process being SIGKILLed.
//
// Layout: one control block (two robust process-shared mutexes, futex words,
// the producers' and the consumers' published states) followed by a byte
// ring. Each message is an 8-byte length then its bytes, padded to 8; a
// message that would straddle the ring's end is preceded by a wrap marker and
// starts at offset 0.
//
// Two locks (the classic two-lock queue): producers serialize on `put_mu`,
// consumers on `get_mu`, so a put and a get copy their bytes at the same time
// (a 1 MiB item is a long copy). Producers own the tail (and the count of
// puts); consumers own the head (and the counts of gets and TaskDone calls).
// A producer writes only into free space (past the published tail, before the
// published head plus capacity); a consumer reads only published messages. A
// stale view of the other side is always conservative: less free space, fewer
// messages.
//
// Commit points (why a SIGKILL anywhere loses or duplicates nothing
// committed): each side's state is double-buffered under a 64-bit generation:
// the owner (holding its side's mutex) writes the spare copy and publishes it
// with ONE release store of the generation. That store is the commit point of
// a put (after its bytes are in the ring's free space) and of a get (after the
// consumer has copied/decoded the bytes). A process dying before the store
// leaves the published state as it was (its bytes lie in free space, or the
// message is still at the head for the next consumer); dying after it leaves
// the complete new state. Readers of the other side's state check that the
// generation did not move while they copied it (a seqlock that never has an
// odd, half-written phase). The mutexes are robust: the next locker gets
// EOWNERDEAD, marks it consistent, and needs no repair. The one time a
// producer touches the consumers' state (restarting an empty ring at a lap
// boundary, so that any message up to the capacity fits), it takes `get_mu`
// too, always after `put_mu`; consumers never take `put_mu`.
//
// Sleepers wait on futex words outside the mutexes, and every wake wakes all,
// so a waiter that dies can never swallow a wakeup meant for a live one.
// Lockers sleep on a mutex in 20 ms slices: a woken mutex waiter killed before
// it takes the lock would otherwise strand the others (the fault test found
// this; see mp/internal/shm_sync.h, which holds the mechanism).
//
// Thread-safety: thread- and process-safe.

#ifndef MP_INTERNAL_SHM_QUEUE_H_
#define MP_INTERNAL_SHM_QUEUE_H_

#include <pthread.h>

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

  // Appends a message of `size` bytes that `fill` writes straight into the
  // ring (at `dst`, holding the producers' lock but not the consumers'), so
  // an encoder needs no buffer of its own. `fill` must not fail or block.
  // Errors: as Put.
  absl::Status PutWith(size_t size, absl::FunctionRef<void(char* dst)> fill, bool block, absl::Time deadline);

  // Passes the oldest message to `consume` under the consumers' lock (puts
  // go on meanwhile) and removes it
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
  // Lock one of the two mutexes, recovering it from a dead owner.
  void Lock(pthread_mutex_t* mu) const;
  void Unlock(pthread_mutex_t* mu) const;

  ShmControl* ctl_ = nullptr;
  char* ring_ = nullptr;
  size_t mapped_ = 0;
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_SHM_QUEUE_H_
