#include "mp/condition.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <new>

#include "mp/errors.h"
#include "mp/internal/deadline.h"
#include "mp/internal/shm_sync.h"

namespace mp {
namespace internal {

// The waiters' state is one 64-bit word, so that a waiter takes a token
// with one compare-and-swap and a process killed anywhere leaves it whole:
//   bits 32..63  boundary: waiters whose ticket is before it may take a token
//   bits 16..31  tokens:   notifications not yet taken
//   bits  0..15  waiting:  registered waiters that took no token (yet)
// Invariant: tokens <= the live waiters before the boundary, so a token is
// never taken by a waiter that came after the Notify that made it.
struct ConditionBlock {
  std::atomic<uint32_t> seq{0};  // Bumped by Notify: the futex word.
  std::atomic<uint64_t> word{0};
  uint32_t next_ticket = 0;  // Under the lock.
};

namespace {
constexpr uint64_t kMax16 = 0xffff;
uint32_t Boundary(uint64_t w) { return static_cast<uint32_t>(w >> 32); }
uint64_t Tokens(uint64_t w) { return (w >> 16) & kMax16; }
uint64_t Waiting(uint64_t w) { return w & kMax16; }
uint64_t Pack(uint32_t boundary, uint64_t tokens, uint64_t waiting) {
  return (uint64_t{boundary} << 32) | (tokens << 16) | waiting;
}
bool Before(uint32_t ticket, uint32_t boundary) { return static_cast<int32_t>(ticket - boundary) < 0; }

// Takes a token if `ticket` may; true if it did.
bool TryTake(std::atomic<uint64_t>& word, uint32_t ticket) {
  uint64_t w = word.load(std::memory_order_acquire);
  while (Tokens(w) > 0 && Before(ticket, Boundary(w))) {
    if (word.compare_exchange_weak(w, Pack(Boundary(w), Tokens(w) - 1, Waiting(w) - 1), std::memory_order_acq_rel)) {
      return true;
    }
  }
  return false;
}
}  // namespace
}  // namespace internal

absl::StatusOr<Condition> Condition::Make(internal::LockCore lock) {
  absl::StatusOr<std::shared_ptr<internal::SharedRegion>> region =
      internal::SharedRegion::Map(sizeof(internal::ConditionBlock), "a Condition");
  if (!region.ok()) return region.status();
  Condition c;
  c.lock_ = std::move(lock);
  c.region_ = *std::move(region);
  c.block_ = new (c.region_->data()) internal::ConditionBlock();
  return c;
}

absl::StatusOr<Condition> Condition::Create() {
  absl::StatusOr<RLock> lock = RLock::Create();
  if (!lock.ok()) return lock.status();
  return Make(lock->core_);
}
absl::StatusOr<Condition> Condition::Create(Lock lock) { return Make(lock.core_); }
absl::StatusOr<Condition> Condition::Create(RLock lock) { return Make(lock.core_); }

absl::StatusOr<bool> Condition::Wait(absl::Duration timeout) {
  using namespace internal;  // NOLINT: the helpers above.
  if (!lock_.IsMine()) return PyError(PyExc::kAssertionError, "must acquire() condition before using wait()");
  absl::Time deadline = internal::DeadlineIn(timeout);
  // Register, under the lock.
  uint32_t ticket = block_->next_ticket++;
  uint64_t w = block_->word.load(std::memory_order_relaxed);
  do {
    if (Waiting(w) == kMax16) return PyError(PyExc::kRuntimeError, "too many processes wait on this Condition");
  } while (!block_->word.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel));
  int depth = lock_.ReleaseAll();
  bool woken = false;
  for (;;) {
    uint32_t seen = block_->seq.load(std::memory_order_acquire);
    if (TryTake(block_->word, ticket)) {
      woken = true;
      break;
    }
    if (absl::Now() >= deadline) break;
    FutexWait(&block_->seq, seen, deadline);
  }
  absl::Status relocked = lock_.RestoreDepth(depth);
  if (!woken) {
    // Timed out: leave, under the lock again (no Notify runs meanwhile).
    // A token that came in the meantime is taken, not left to strand.
    woken = TryTake(block_->word, ticket);
    if (!woken) {
      w = block_->word.load(std::memory_order_relaxed);
      while (!block_->word.compare_exchange_weak(w, w - 1, std::memory_order_acq_rel)) {
      }
    }
  }
  if (!relocked.ok()) return relocked;
  return woken;
}

absl::Status Condition::Notify(int n) {
  using namespace internal;  // NOLINT
  if (!lock_.IsMine()) return PyError(PyExc::kAssertionError, "lock is not owned");
  if (n <= 0) return absl::OkStatus();
  uint64_t w = block_->word.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    uint64_t tokens = std::min<uint64_t>(Tokens(w) + static_cast<uint64_t>(n), Waiting(w));
    if (tokens == Tokens(w)) return absl::OkStatus();  // Nobody new to wake.
    next = Pack(block_->next_ticket, tokens, Waiting(w));
  } while (!block_->word.compare_exchange_weak(w, next, std::memory_order_acq_rel));
  block_->seq.fetch_add(1, std::memory_order_release);
  FutexWake(&block_->seq, INT_MAX);
  return absl::OkStatus();
}

absl::Status Condition::NotifyAll() { return Notify(INT_MAX); }

}  // namespace mp
