// -----------------------------------------------------------------------------
// File: queue.h
// -----------------------------------------------------------------------------
//
// mp::Queue, mp::SimpleQueue and mp::JoinableQueue: multi-producer,
// multi-consumer FIFO queues between forked processes, as Python's
// multiprocessing.Queue, SimpleQueue and JoinableQueue.
//
// Create the queue before forking; children inherit it (the fork start
// method). Items are encoded with mp/serialize.h (cereal). Order is FIFO per
// producer; items of different producers interleave in commit order.
//
// Unlike CPython, which buffers puts in a feeder thread and a pipe, mp's
// queues live in shared memory (see mp/internal/shm_queue.h, which documents
// the commit points). They are deliberately not layered on Connection: a
// process killed halfway through writing a message into a shared pipe would
// leave a torn frame that corrupts the stream for every reader, and no lock
// around a pipe survives its holder's death. So:
//
//   * Put is synchronous. When it returns OK the item is committed (in the
//     queue, visible to every process); there is no feeder thread, so a put
//     never delays the producer's exit, JoinThread has nothing to wait for
//     and CancelJoinThread nothing to cancel.
//   * Any process may be SIGKILLed at any point while putting or getting: no
//     other process deadlocks, and no committed item is corrupted, lost or
//     delivered twice. A put killed before its commit leaves no trace; a get
//     killed before its commit leaves the item for the next consumer.
//   * Items nobody reads stay in the shared memory until the last process
//     that maps the queue exits or destroys its Queue; then they are
//     discarded, silently (CPython's would be lost with the pipe).
//   * Only `maxsize` bounds a queue, as in CPython: maxsize=0 is unbounded,
//     up to memory. Items go into a shared ring of `capacity_bytes` (64 MiB
//     of address space by default, touched as used); what does not fit
//     there, an item larger than the ring, or everything put while the ring
//     is full and no consumer made room for 100 ms, goes into an overflow
//     area, in order. The overflow is address space reserved at Create (the
//     machine's RAM and swap, at most 1 TiB, less under `ulimit -v`), whose
//     pages are touched as items arrive and given back as they are
//     consumed. So a put blocks (or returns queue.Full) only on `maxsize`,
//     or if the overflow itself is full; CPython's put never blocks there
//     because its feeder thread buffers in the producer's memory instead.
//
// Thread-safety: thread- and process-safe, except Close (per process: call it
// when no other thread of this process uses the queue).
//
// Example:
//
//   auto q = mp::Queue<std::string>::Create();
//   pid_t pid = *mp::Fork();
//   if (pid == 0) {
//     (void)q->Put("A");
//     _exit(0);
//   }
//   absl::StatusOr<std::string> item = q->Get();  // "A"

#ifndef MP_QUEUE_H_
#define MP_QUEUE_H_

#include <algorithm>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mp/errors.h"
#include "mp/internal/deadline.h"
#include "mp/internal/shm_queue.h"
#include "mp/serialize.h"

namespace mp {

inline constexpr uint64_t kDefaultQueueCapacityBytes = uint64_t{64} << 20;

namespace internal {

// The common engine of the three queue types: typed items over ShmQueue.
template <typename T>
class TypedQueue {
 protected:
  explicit TypedQueue(ShmQueue q) : q_(std::move(q)) {}

  static absl::StatusOr<ShmQueue> Make(int64_t maxsize, uint64_t capacity_bytes) {
    return ShmQueue::Create(maxsize, capacity_bytes);
  }

  // A negative timeout is 0, as multiprocessing.Queue's (SemLock.acquire
  // clamps it); without `block` the timeout does not matter. An infinite one
  // reads no clock (internal/deadline.h): per item, that was 1/3 of the
  // small-item throughput.
  static absl::Time DeadlineOf(bool block, absl::Duration timeout) {
    if (!block) return absl::InfiniteFuture();
    return internal::DeadlineIn(timeout);
  }

  absl::Status DoPut(const T& value, bool block, absl::Duration timeout) {
    const absl::Time deadline = DeadlineOf(block, timeout);
    if constexpr (kIsFlatArray<T>) {
      // Encoded straight into the ring: one copy, as a raw ring's.
      return q_.PutWith(
          FlatArrayEncodedSize(value), [&](char* dst) { EncodeFlatArray(value, dst); }, block, deadline);
    } else {
      // Encoded outside the lock, into a buffer reused by this thread.
      thread_local std::string buf;
      buf.clear();
      if (absl::Status s = SerializeTo(value, &buf); !s.ok()) return s;
      return q_.Put(buf, block, deadline);
    }
  }

  absl::StatusOr<T> DoGet(bool block, absl::Duration timeout) {
    const absl::Time deadline = DeadlineOf(block, timeout);
    // Decoding holds the consumers' lock (never the producers'). Strings and
    // vectors of numbers are decoded with a single copy out of the ring.
    // Other small items decode straight from the ring; large ones are only
    // copied out under the lock and decoded after, so other consumers wait
    // for one copy, not for the decoder's passes over the bytes.
    constexpr size_t kDecodeOutside = size_t{64} << 10;
    thread_local std::string raw;
    std::optional<T> out;
    bool copied = false;
    absl::Status s = q_.Get(
        [&](absl::string_view bytes) -> absl::Status {
          // (Deserialize decodes flat arrays with one copy, and never throws.)
          if (!kIsFlatArray<T> && bytes.size() >= kDecodeOutside) {
            // An exception must not leave this frame: the consumers' lock
            // is held here and would stay held by a live process.
            try {
              raw.assign(bytes.data(), bytes.size());
            } catch (const std::bad_alloc&) {
              return PyError(PyExc::kMemoryError,
                             absl::StrCat("out of memory taking a ", bytes.size(), "-byte item from the queue"));
            }
            copied = true;
            return absl::OkStatus();
          }
          absl::StatusOr<T> v = Deserialize<T>(bytes);
          if (!v.ok()) return v.status();
          out.emplace(*std::move(v));
          return absl::OkStatus();
        },
        block, deadline);
    if (!s.ok()) return s;
    if (copied) return Deserialize<T>(raw);
    return *std::move(out);
  }

  ShmQueue q_;
  bool closed_ = false;
};

}  // namespace internal

template <typename T>
class Queue : public internal::TypedQueue<T> {
  using Base = internal::TypedQueue<T>;

 public:
  // A queue of at most `maxsize` items (<= 0: unbounded, up to memory),
  // with a shared ring of `capacity_bytes` (see the top).
  // Python: multiprocessing.Queue(maxsize=0)
  // Errors: OSError (mmap); ValueError (capacity_bytes < 64).
  static absl::StatusOr<Queue> Create(int64_t maxsize = 0, uint64_t capacity_bytes = kDefaultQueueCapacityBytes) {
    absl::StatusOr<internal::ShmQueue> q = Base::Make(maxsize, capacity_bytes);
    if (!q.ok()) return q.status();
    return Queue(*std::move(q));
  }

  // Puts `value`, waiting up to `timeout` for room if `block`
  // (absl::InfiniteDuration(): Python's None). Returns once committed. Only
  // a bounded queue (or a full overflow) ever has no room.
  // Python: Queue.put(obj, block=True, timeout=None)
  // A negative timeout is 0, as CPython's.
  // Errors: queue.Full; ValueError (closed, larger than the ring and the
  // overflow); TypeError (not serializable).
  absl::Status Put(const T& value, bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    if (this->closed_) return PyError(PyExc::kValueError, "Queue is closed");
    return this->DoPut(value, block, timeout);
  }
  // Python: Queue.put_nowait(obj)
  absl::Status PutNowait(const T& value) { return Put(value, false); }

  // Removes and returns the oldest item, waiting up to `timeout` if `block`.
  // Python: Queue.get(block=True, timeout=None)
  // A negative timeout is 0, as CPython's.
  // Errors: queue.Empty; ValueError (closed); UnpicklingError (the item does
  // not decode as T; it is consumed).
  absl::StatusOr<T> Get(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    if (this->closed_) return PyError(PyExc::kValueError, "Queue is closed");
    return this->DoGet(block, timeout);
  }
  // Python: Queue.get_nowait()
  absl::StatusOr<T> GetNowait() { return Get(false); }

  // The number of items queued now (exact, unlike CPython's approximation).
  // Python: Queue.qsize()
  int64_t Qsize() const { return this->q_.Size(); }
  // Python: Queue.empty() / Queue.full()
  bool Empty() const { return Qsize() == 0; }
  bool Full() const { return this->q_.maxsize() > 0 && Qsize() >= this->q_.maxsize(); }

  // The bytes of the shared ring, and of the overflow reserved beyond it.
  uint64_t capacity_bytes() const { return this->q_.capacity(); }
  uint64_t overflow_capacity() const { return this->q_.overflow_capacity(); }

  // This process will put and get no more; the queue stays usable by
  // others. Idempotent.
  // Python: Queue.close()
  void Close() { this->closed_ = true; }

  // Waits for this process's buffered puts to be flushed: there are none
  // (Put is synchronous), so it returns at once.
  // Python: Queue.join_thread()
  // Errors: AssertionError if the queue is not closed (as CPython).
  absl::Status JoinThread() const {
    if (!this->closed_) return PyError(PyExc::kAssertionError, "Queue not closed");
    return absl::OkStatus();
  }
  // Python: Queue.cancel_join_thread(). Nothing to cancel: no put is ever
  // left unflushed at exit.
  void CancelJoinThread() {}

 protected:
  explicit Queue(internal::ShmQueue q) : Base(std::move(q)) {}
};

template <typename T>
class JoinableQueue : public Queue<T> {
 public:
  // Python: multiprocessing.JoinableQueue(maxsize=0)
  static absl::StatusOr<JoinableQueue> Create(int64_t maxsize = 0,
                                              uint64_t capacity_bytes = kDefaultQueueCapacityBytes) {
    absl::StatusOr<internal::ShmQueue> q = internal::ShmQueue::Create(maxsize, capacity_bytes);
    if (!q.ok()) return q.status();
    return JoinableQueue(*std::move(q));
  }

  // Marks one got item as processed. Every Put counts one unfinished task.
  // Python: JoinableQueue.task_done()
  // Errors: ValueError "task_done() called too many times".
  absl::Status TaskDone() { return this->q_.TaskDone(); }

  // Waits until every item ever put had its TaskDone. A consumer killed
  // between Get and TaskDone leaves its task unfinished forever, as in
  // CPython: bound the wait with `timeout`.
  // Python: JoinableQueue.join()
  // Errors: multiprocessing.TimeoutError (only with a finite timeout, an
  // mp addition).
  absl::Status Join(absl::Duration timeout = absl::InfiniteDuration()) {
    if (!this->q_.JoinUntil(internal::DeadlineIn(timeout))) {
      return PyError(PyExc::kTimeoutError, absl::StrCat(this->q_.Unfinished(), " tasks still unfinished"));
    }
    return absl::OkStatus();
  }

 private:
  explicit JoinableQueue(internal::ShmQueue q) : Queue<T>(std::move(q)) {}
};

template <typename T>
class SimpleQueue : public internal::TypedQueue<T> {
  using Base = internal::TypedQueue<T>;

 public:
  // An unbounded queue (up to memory, see Queue).
  // Python: multiprocessing.SimpleQueue()
  static absl::StatusOr<SimpleQueue> Create(uint64_t capacity_bytes = kDefaultQueueCapacityBytes) {
    absl::StatusOr<internal::ShmQueue> q = Base::Make(0, capacity_bytes);
    if (!q.ok()) return q.status();
    return SimpleQueue(*std::move(q));
  }

  // Python: SimpleQueue.put(obj)
  // Errors: OSError "handle is closed"; TypeError; ValueError (too large).
  absl::Status Put(const T& value) {
    if (this->closed_) return PyError(PyExc::kOSError, "handle is closed");
    return this->DoPut(value, true, absl::InfiniteDuration());
  }
  // Python: SimpleQueue.get()
  // Errors: OSError "handle is closed"; UnpicklingError.
  absl::StatusOr<T> Get() {
    if (this->closed_) return PyError(PyExc::kOSError, "handle is closed");
    return this->DoGet(true, absl::InfiniteDuration());
  }
  // Python: SimpleQueue.empty()
  bool Empty() const { return this->q_.Size() == 0; }
  // Python: SimpleQueue.close()
  void Close() { this->closed_ = true; }

 private:
  explicit SimpleQueue(internal::ShmQueue q) : Base(std::move(q)) {}
};

}  // namespace mp

#endif  // MP_QUEUE_H_
