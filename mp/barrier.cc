#include "mp/barrier.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/deadline.h"
#include "mp/internal/shm_sync.h"

namespace mp {
namespace internal {

// A process (thread) that has waited on the barrier.
struct Party {
  ProcessIdentity id;
  pid_t tid = 0;
  uint64_t arrived_round = UINT64_MAX;  // The round it last arrived in.
  bool used = false;
};

// Under `mu`, except the atomics, which waiters read without it.
//
// Each round (filling, then released or broken) has a number; a waiter
// remembers its round and, once the round number has moved on, reads how its
// round ended in `released`: bit r % 64 is set when round r was released.
// A waiter can fall behind by 64 rounds only if the barrier breaks 64 times
// without it; it is then told its round broke.
struct BarrierBlock {
  pthread_mutex_t mu;
  std::atomic<uint32_t> seq{0};        // Bumped when a round ends: the futex word.
  std::atomic<uint64_t> round{0};      // The round now filling.
  std::atomic<uint64_t> released{0};   // How the last 64 rounds ended.
  std::atomic<bool> broken{false};
  std::atomic<int> count{0};           // Arrived in this round.
  int parties = 0;
  Party party[Barrier::kMaxParties];
};

namespace {
constexpr absl::Duration kLivenessSlice = absl::Milliseconds(20);

void WakeAll(BarrierBlock* b) {
  b->seq.fetch_add(1, std::memory_order_release);
  FutexWake(&b->seq, INT_MAX);
}

// Ends the round: released (the waiters pass) or not (they get
// BrokenBarrierError). Under the mutex.
void EndRound(BarrierBlock* b, bool released) {
  uint64_t r = b->round.load();
  uint64_t bit = uint64_t{1} << (r % 64);
  uint64_t mask = b->released.load();
  b->released.store(released ? (mask | bit) : (mask & ~bit));
  b->count.store(0);
  b->round.store(r + 1, std::memory_order_release);
  WakeAll(b);
}

void BreakLocked(BarrierBlock* b) {
  b->broken.store(true);
  EndRound(b, false);
}

// Locks the barrier's mutex; a holder that died (inside the action, or
// halfway through Wait) breaks the barrier.
void LockBarrier(BarrierBlock* b) {
  if (LockRobustMutex(&b->mu, true, absl::InfiniteFuture()) == RobustLock::kOwnerDied) BreakLocked(b);
}

// How round `r` ended, once the round number has passed it.
bool WasReleased(BarrierBlock* b, uint64_t r) {
  if (b->round.load(std::memory_order_acquire) - r > 64) return false;
  return (b->released.load() >> (r % 64)) & 1;
}

// The first party that has not arrived in this round and no longer runs, or
// -1. Under the mutex.
int DeadStraggler(BarrierBlock* b) {
  uint64_t round = b->round.load();
  for (int i = 0; i < Barrier::kMaxParties; ++i) {
    Party& p = b->party[i];
    if (p.used && p.arrived_round != round && !IsRunning(p.id)) return i;
  }
  return -1;
}
}  // namespace
}  // namespace internal

absl::StatusOr<Barrier> Barrier::Create(int parties, std::function<absl::Status()> action, absl::Duration timeout) {
  if (parties < 1 || parties > kMaxParties) {
    return PyError(PyExc::kValueError, absl::StrCat("parties must be 1 to ", kMaxParties, ", not ", parties));
  }
  absl::StatusOr<std::shared_ptr<internal::SharedRegion>> region =
      internal::SharedRegion::Map(sizeof(internal::BarrierBlock), "a Barrier");
  if (!region.ok()) return region.status();
  Barrier b;
  b.region_ = *std::move(region);
  b.block_ = new (b.region_->data()) internal::BarrierBlock();
  b.block_->parties = parties;
  if (absl::Status s = internal::InitRobustMutex(&b.block_->mu, false, "a Barrier"); !s.ok()) return s;
  b.action_ = std::move(action);
  b.timeout_ = timeout;
  return b;
}

absl::Status Barrier::Break() {
  internal::BreakLocked(block_);
  return PyError(PyExc::kBrokenBarrierError, "the barrier is broken");
}

absl::StatusOr<int> Barrier::Wait() { return Wait(timeout_); }

absl::StatusOr<int> Barrier::Wait(absl::Duration timeout) {
  using namespace internal;  // NOLINT: the helpers above.
  absl::Time deadline = internal::DeadlineIn(timeout);
  BarrierBlock* b = block_;
  LockBarrier(b);
  if (b->broken.load()) {
    pthread_mutex_unlock(&b->mu);
    return PyError(PyExc::kBrokenBarrierError, "the barrier is broken");
  }
  // Find this party's slot, or take a free one (or one a dead party left).
  ProcessIdentity me{CachedPid(), 0};
  pid_t tid = CachedTid();
  int slot = -1, free_slot = -1;
  for (int i = 0; i < kMaxParties && slot < 0; ++i) {
    Party& p = b->party[i];
    if (p.used && p.id.pid == me.pid && p.tid == tid) {
      slot = i;
    } else if (free_slot < 0 && !p.used) {
      free_slot = i;
    }
  }
  if (slot < 0) {
    if (free_slot < 0) {
      pthread_mutex_unlock(&b->mu);
      return PyError(PyExc::kRuntimeError, absl::StrCat("more than ", kMaxParties, " processes use this Barrier"));
    }
    slot = free_slot;
    b->party[slot].id = SelfIdentity();
    b->party[slot].tid = tid;
    b->party[slot].used = true;
  }
  const uint64_t round = b->round.load();
  b->party[slot].arrived_round = round;
  int index = b->count.fetch_add(1);
  if (index + 1 == b->parties) {
    // The last one: run the action, then release everyone.
    if (action_) {
      absl::Status s = action_();
      if (!s.ok()) {
        (void)Break();
        pthread_mutex_unlock(&b->mu);
        return s;
      }
    }
    EndRound(b, /*released=*/true);
    pthread_mutex_unlock(&b->mu);
    return index;
  }
  pthread_mutex_unlock(&b->mu);
  absl::Time next_check = absl::Now() + kLivenessSlice;
  for (;;) {
    uint32_t seen = b->seq.load(std::memory_order_acquire);
    if (b->round.load(std::memory_order_acquire) != round) {
      if (WasReleased(b, round)) return index;
      return PyError(PyExc::kBrokenBarrierError, "the barrier is broken");
    }
    absl::Time now = absl::Now();
    if (now >= deadline || now >= next_check) {
      LockBarrier(b);
      absl::Status broken;
      if (b->round.load() == round) {
        if (now >= deadline) {
          broken = Break();
        } else if (int dead = DeadStraggler(b); dead >= 0) {
          // It will never arrive: nobody may wait for it, now or later.
          b->party[dead].used = false;
          broken = Break();
        }
      }
      pthread_mutex_unlock(&b->mu);
      if (!broken.ok()) return broken;
      next_check = absl::Now() + kLivenessSlice;
      continue;
    }
    FutexWait(&b->seq, seen, std::min(deadline, next_check));
  }
}

void Barrier::Abort() {
  internal::LockBarrier(block_);
  (void)Break();
  pthread_mutex_unlock(&block_->mu);
}

void Barrier::Reset() {
  internal::LockBarrier(block_);
  if (block_->count.load() > 0) internal::EndRound(block_, false);  // Its waiters break.
  block_->broken.store(false);
  pthread_mutex_unlock(&block_->mu);
}

int Barrier::parties() const { return block_->parties; }
int Barrier::n_waiting() const { return block_->broken.load() ? 0 : block_->count.load(); }
bool Barrier::broken() const { return block_->broken.load(); }

}  // namespace mp
