#include "mp/internal/lock_core.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/shm_sync.h"

namespace mp::internal {

thread_local ThreadIds t_ids;

namespace {
void ClearIdsInChild() { t_ids = ThreadIds{}; }
}  // namespace

const ThreadIds& LoadThreadIds() {
  static const int registered = pthread_atfork(nullptr, nullptr, ClearIdsInChild);
  (void)registered;
  t_ids.pid = ::getpid();
  t_ids.tid = ::gettid();
  return t_ids;
}

absl::StatusOr<std::shared_ptr<SharedRegion>> SharedRegion::Map(size_t size, const char* what) {
  absl::StatusOr<void*> p = MapSharedAnonymous(size, what);
  if (!p.ok()) return p.status();
  return std::shared_ptr<SharedRegion>(new SharedRegion(*p, size));
}

SharedRegion::~SharedRegion() { ::munmap(data_, size_); }

absl::StatusOr<LockCore> LockCore::Create(bool recursive) {
  const char* what = recursive ? "an RLock" : "a Lock";
  absl::StatusOr<std::shared_ptr<SharedRegion>> region = SharedRegion::Map(sizeof(LockBlock), what);
  if (!region.ok()) return region.status();
  LockCore core;
  core.region_ = *std::move(region);
  core.block_ = new (core.region_->data()) LockBlock();
  core.block_->recursive = recursive;
  if (absl::Status s = InitRobustMutex(&core.block_->mu, recursive, what); !s.ok()) return s;
  return core;
}

absl::StatusOr<bool> LockCore::AcquireSlow(bool block, absl::Time deadline, int tried) {
  const ThreadIds& me = MyIds();
  if (block_->recursive && block_->holder_tid.load(std::memory_order_relaxed) == me.tid &&
      block_->holder_pid.load(std::memory_order_relaxed) == me.pid) {
    // Ours already: glibc counts the recursion too; keep both in step.
    if (pthread_mutex_trylock(&block_->mu) != 0) {
      return PyError(PyExc::kRuntimeError, "RLock recursion limit reached");
    }
    ++block_->depth;
    return true;
  }
  RobustLock r;
  if (tried == EOWNERDEAD) {
    pthread_mutex_consistent(&block_->mu);
    r = RobustLock::kOwnerDied;
  } else {
    r = LockRobustMutex(&block_->mu, block, deadline);
  }
  if (r == RobustLock::kTimedOut) return false;
  pid_t dead = block_->holder_pid.load(std::memory_order_relaxed);
  block_->holder_pid.store(me.pid, std::memory_order_relaxed);
  block_->holder_tid.store(me.tid, std::memory_order_relaxed);
  block_->depth = 1;
  if (r == RobustLock::kOwnerDied) {
    block_->owner_deaths.fetch_add(1, std::memory_order_relaxed);
    std::string who = dead > 0 ? absl::StrCat("pid ", dead)
                               : std::string("pid unknown (killed while taking or giving it back)");
    return PyError(PyExc::kOwnerDiedError,
                   absl::StrCat("the previous owner, ", who, ", died holding the ", block_->recursive ? "RLock" : "Lock",
                                "; it is now held by this thread, and what it protects may be inconsistent"));
  }
  return true;
}

absl::Status LockCore::ReleaseSlow() {
  if (!IsMine()) {
    if (block_->recursive) {
      return PyError(PyExc::kAssertionError, "attempt to release recursive lock not owned by thread");
    }
    pid_t holder = block_->holder_pid.load(std::memory_order_relaxed);
    if (holder == 0) return PyError(PyExc::kValueError, "semaphore or lock released too many times");
    return PyError(PyExc::kValueError,
                   absl::StrCat("the lock is held by pid ", holder,
                                ", not by this thread; an mp::Lock is released by the thread that acquired it"));
  }
  if (--block_->depth == 0) {
    block_->holder_tid.store(0, std::memory_order_relaxed);
    block_->holder_pid.store(0, std::memory_order_relaxed);
  }
  pthread_mutex_unlock(&block_->mu);
  return absl::OkStatus();
}

bool LockCore::recursive() const { return block_->recursive; }
uint64_t LockCore::owner_deaths() const { return block_->owner_deaths.load(std::memory_order_relaxed); }
pid_t LockCore::holder_pid() const { return block_->holder_pid.load(std::memory_order_relaxed); }

int LockCore::ReleaseAll() {
  int depth = block_->depth;
  block_->depth = 0;
  block_->holder_tid.store(0, std::memory_order_relaxed);
  block_->holder_pid.store(0, std::memory_order_relaxed);
  for (int i = 0; i < depth; ++i) pthread_mutex_unlock(&block_->mu);
  return depth;
}

absl::Status LockCore::RestoreDepth(int depth) {
  absl::StatusOr<bool> r = Acquire(true, absl::InfiniteFuture());
  for (int i = 1; i < depth; ++i) {
    pthread_mutex_trylock(&block_->mu);  // Ours: recursive, cannot fail.
    ++block_->depth;
  }
  return r.status();
}

}  // namespace mp::internal
