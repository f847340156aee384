// Private: the mechanism under mp::Queue, SimpleQueue and JoinableQueue: a
// FIFO of byte messages in anonymous shared memory, created before fork and
// inherited by children, that survives any process being SIGKILLed.
//
// Layout: one control block (two robust process-shared mutexes, futex words,
// the producers' and the consumers' published states) followed by a byte
// ring; and a second, much larger ring, the overflow, mapped apart
// (MAP_NORESERVE: address space only until written). Each message is an
// 8-byte length then its bytes, padded to 8; a message that would straddle a
// ring's end is preceded by a wrap marker and starts at offset 0.
//
// The two rings are two lanes of one FIFO. A put goes to the first ring while
// the overflow is empty and it fits; else to the overflow (at once for a put
// that must not wait or an item larger than the ring, otherwise once no
// consumer has made room for a while, so that a consumer that keeps up keeps
// all traffic in the hot, small ring). While the overflow holds items every
// put goes there, so all items of the first ring precede all of the
// overflow's, and a consumer takes from the first ring, then the overflow.
// Consumers give the overflow's consumed pages back to the kernel
// (MADV_REMOVE) as they go; the overflow's producers never write past the
// consumers' published `released` offset (plus its size), so a page is
// punched only while it is nobody's.
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
// committed): each side's state of each lane is double-buffered under a
// 64-bit generation: the owner (holding its side's mutex) writes the spare
// copy and publishes it with ONE release store of the generation. That store
// is the commit point of a put (after its bytes are in the lane's free space)
// and of a get (after the consumer has copied/decoded the bytes); each put or
// get changes one lane's state only. A process dying before the store
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
  // A queue holding at most `maxsize` messages (<= 0: no limit), with a
  // first ring of `capacity` bytes (rounded up to a multiple of 8) and as
  // large an overflow as the address space allows (none if it allows none).
  // Errors: ValueError (capacity too small); OSError (mmap).
  static absl::StatusOr<ShmQueue> Create(int64_t maxsize, uint64_t capacity);

  ShmQueue() = default;
  ShmQueue(ShmQueue&& other) noexcept { *this = std::move(other); }
  ShmQueue& operator=(ShmQueue&& other) noexcept;
  ShmQueue(const ShmQueue&) = delete;
  ShmQueue& operator=(const ShmQueue&) = delete;
  ~ShmQueue();

  // Appends `bytes`; waits for room until `deadline` if `block`.
  // Errors: queue.Full; ValueError (larger than both rings could ever hold).
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
  // The ring's bytes, and the overflow's (0 if none could be reserved).
  uint64_t capacity() const;
  uint64_t overflow_capacity() const;
  bool valid() const { return ctl_ != nullptr; }

  // The overflow's unit of reservation and release, and how much of it a
  // consumer lets accumulate before it gives the pages back.
  static constexpr uint64_t kOverflowPage = 4096;
  static constexpr uint64_t kReleaseStep = uint64_t{1} << 20;

  // How many words each side publishes per lane (shm_queue.cc names them).
  static constexpr int kProducerFields = 2;
  static constexpr int kConsumerFields = 3;

 private:
  // Lock one of the two mutexes, recovering it from a dead owner.
  void Lock(pthread_mutex_t* mu) const;
  void Unlock(pthread_mutex_t* mu) const;
  bool TryAppend(int lane, uint64_t (&p)[kProducerFields], uint64_t free_end, size_t size,
                 absl::FunctionRef<void(char* dst)> fill);
  void ReleaseOverflow(uint64_t (&c)[kConsumerFields], bool drained);
  // Reads both lanes' states: this side's own (holding its mutex), and a
  // snapshot of the other side's, overflow first (see shm_queue.cc).
  void LoadForPut(uint64_t (&p)[2][kProducerFields], uint64_t (&c)[2][kConsumerFields]) const;
  void LoadForGet(uint64_t (&c)[2][kConsumerFields], uint64_t (&p)[2][kProducerFields]) const;

  ShmControl* ctl_ = nullptr;
  char* lane_[2] = {nullptr, nullptr};  // The ring, the overflow.
  size_t mapped_ = 0;                   // The control block and the ring.
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_SHM_QUEUE_H_
