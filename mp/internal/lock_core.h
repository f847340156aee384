// Private: the one lock under mp::Lock, mp::RLock, the lock of a Condition
// and of a Value or Array: a robust process-shared pthread mutex in
// anonymous shared memory (mp/internal/shm_sync.h), with the holder's pid and
// thread id and the recursion depth beside it.
//
// The holder's ids are ours, not glibc's: glibc overwrites its record of the
// owner when the next locker takes the mutex from a dead one, and the error
// must name the dead process. They are written right after the mutex is
// taken and cleared right before it is released, so a process killed in
// those few instructions is reported without a pid.
//
// Copies of a LockCore refer to the same lock; the memory is unmapped when
// the last copy in a process goes.
//
// Thread-safety: thread- and process-safe.

#ifndef MP_INTERNAL_LOCK_CORE_H_
#define MP_INTERNAL_LOCK_CORE_H_

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

// ThreadSanitizer cannot model a mutex that another process locks or
// unlocks, and its suppressions (tsan_suppressions.cc) match by function
// name: under TSan the fast paths stay out of line so that their frames
// carry LockCore's name.
#if defined(__SANITIZE_THREAD__)
#define MP_LOCK_FAST_PATH __attribute__((noinline))
#else
#define MP_LOCK_FAST_PATH
#endif

namespace mp::internal {

// A mapping of anonymous shared memory; unmapped on destruction.
class SharedRegion {
 public:
  // Errors: OSError (mmap), naming `what`.
  static absl::StatusOr<std::shared_ptr<SharedRegion>> Map(size_t size, const char* what);
  ~SharedRegion();
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  SharedRegion(void* data, size_t size) : data_(data), size_(size) {}
  void* data_;
  size_t size_;
};

struct LockBlock {
  pthread_mutex_t mu;
  // The holder, or 0: written by the holder only.
  std::atomic<pid_t> holder_pid{0};
  std::atomic<pid_t> holder_tid{0};
  // Recursion depth (RLock), touched by the holder only.
  int depth = 0;
  bool recursive = false;
  std::atomic<uint64_t> owner_deaths{0};
};

struct ThreadIds {
  pid_t pid = 0;
  pid_t tid = 0;
};
extern thread_local ThreadIds t_ids;
const ThreadIds& LoadThreadIds();

// This thread's pid and kernel thread id, cached: gettid() and getpid() are
// system calls (glibc caches neither), too slow for an uncontended acquire.
// The cache is cleared in a fork child (whose only thread is the one that
// forked) by an atfork handler.
inline const ThreadIds& MyIds() { return t_ids.tid != 0 ? t_ids : LoadThreadIds(); }
inline pid_t CachedPid() { return MyIds().pid; }
inline pid_t CachedTid() { return MyIds().tid; }

class LockCore {
 public:
  // Errors: OSError (mmap, pthread_mutex_init).
  static absl::StatusOr<LockCore> Create(bool recursive);

  LockCore() = default;

  // Takes the lock, waiting until `deadline` if `block`. Returns true when
  // taken, false when not (busy and not `block`, or the deadline passed).
  // Errors: OwnerDiedError (taken: the previous holder died holding it).
  // Inline: the uncontended path is a trylock and a few stores.
  MP_LOCK_FAST_PATH absl::StatusOr<bool> Acquire(bool block, absl::Time deadline) {
    // (An RLock its thread already holds takes the slow path, which counts
    // the recursion.)
    int tried = -1;  // Not tried.
    if (!block_->recursive || block_->holder_pid.load(std::memory_order_relaxed) == 0) {
      tried = pthread_mutex_trylock(&block_->mu);
      if (tried == 0) {
        const ThreadIds& me = MyIds();
        block_->holder_pid.store(me.pid, std::memory_order_relaxed);
        block_->holder_tid.store(me.tid, std::memory_order_relaxed);
        block_->depth = 1;
        return true;
      }
    }
    return AcquireSlow(block, deadline, tried);
  }

  // Errors: AssertionError (recursive, not held by this thread); ValueError
  // (not recursive: not locked, or locked by another thread).
  MP_LOCK_FAST_PATH absl::Status Release() {
    if (IsMine() && block_->depth == 1) {
      block_->depth = 0;
      block_->holder_tid.store(0, std::memory_order_relaxed);
      block_->holder_pid.store(0, std::memory_order_relaxed);
      pthread_mutex_unlock(&block_->mu);
      return absl::OkStatus();
    }
    return ReleaseSlow();
  }

  // Whether this thread holds the lock.
  bool IsMine() const {
    const ThreadIds& me = MyIds();
    return block_->holder_tid.load(std::memory_order_relaxed) == me.tid &&
           block_->holder_pid.load(std::memory_order_relaxed) == me.pid;
  }
  bool recursive() const;
  // How many deaths of holders were reported (to anyone) so far.
  uint64_t owner_deaths() const;
  // The holder's pid, or 0 when free.
  pid_t holder_pid() const;

  // For Condition::Wait: releases the lock entirely (whatever the depth) and
  // returns the depth; RestoreDepth takes it back (for good) at that depth.
  // Errors (RestoreDepth): OwnerDiedError (taken back, as Acquire).
  int ReleaseAll();
  absl::Status RestoreDepth(int depth);

  bool valid() const { return block_ != nullptr; }
  friend bool operator==(const LockCore& a, const LockCore& b) { return a.block_ == b.block_; }

 private:
  // `tried`: what the inline trylock returned (-1: it did not try). On
  // EOWNERDEAD it holds the mutex already.
  absl::StatusOr<bool> AcquireSlow(bool block, absl::Time deadline, int tried);
  absl::Status ReleaseSlow();

  std::shared_ptr<SharedRegion> region_;
  LockBlock* block_ = nullptr;
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_LOCK_CORE_H_
