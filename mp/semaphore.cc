#include "mp/semaphore.h"

#include <errno.h>

#include <atomic>
#include <climits>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/shm_sync.h"
#include "mp/lock.h"

namespace mp {
namespace internal {

struct SemBlock {
  // The units: the futex word sleepers wait on while it is 0.
  std::atomic<uint32_t> value{0};
  // Sleepers (a dead one only costs a spare wake).
  std::atomic<uint32_t> sleepers{0};
  uint32_t max_value = 0;
  bool bounded = false;
};

absl::StatusOr<SemaphoreCore> SemaphoreCore::Create(int64_t value, bool bounded) {
  if (value < 0) return PyError(PyExc::kValueError, "semaphore initial value must be >= 0");
  if (value > INT_MAX) return PyError(PyExc::kValueError, absl::StrCat("semaphore initial value ", value, " > ", INT_MAX));
  absl::StatusOr<std::shared_ptr<SharedRegion>> region = SharedRegion::Map(sizeof(SemBlock), "a Semaphore");
  if (!region.ok()) return region.status();
  SemaphoreCore core;
  core.region_ = *std::move(region);
  core.block_ = new (core.region_->data()) SemBlock();
  core.block_->value.store(static_cast<uint32_t>(value));
  core.block_->max_value = bounded ? static_cast<uint32_t>(value) : INT_MAX;
  core.block_->bounded = bounded;
  return core;
}

absl::StatusOr<bool> SemaphoreCore::Acquire(bool block, absl::Duration timeout) {
  absl::Time deadline = AcquireDeadline(block, timeout);
  for (int round = 0;; ++round) {
    // The CAS is the commit point: a process killed before it took nothing.
    uint32_t v = block_->value.load(std::memory_order_relaxed);
    while (v > 0) {
      if (block_->value.compare_exchange_weak(v, v - 1, std::memory_order_acquire)) return true;
    }
    if (!block || absl::Now() >= deadline) return false;
    if (round < kSpinLock) {
      CpuRelax(round);
      continue;
    }
    block_->sleepers.fetch_add(1, std::memory_order_seq_cst);
    FutexWait(&block_->value, 0, deadline);
    block_->sleepers.fetch_sub(1, std::memory_order_seq_cst);
  }
}

absl::Status SemaphoreCore::Release() {
  uint32_t v = block_->value.load(std::memory_order_relaxed);
  do {
    if (v >= block_->max_value) {
      if (block_->bounded) return PyError(PyExc::kValueError, "semaphore or lock released too many times");
      return PyOSError(EOVERFLOW, "semaphore release");
    }
  } while (!block_->value.compare_exchange_weak(v, v + 1, std::memory_order_release));
  // Every sleeper: one woken and then killed before it takes the unit would
  // otherwise leave the others asleep beside a free unit.
  if (block_->sleepers.load(std::memory_order_seq_cst) != 0) FutexWake(&block_->value, INT_MAX);
  return absl::OkStatus();
}

int64_t SemaphoreCore::value() const { return block_->value.load(std::memory_order_relaxed); }

}  // namespace internal

absl::StatusOr<Semaphore> Semaphore::Create(int64_t value) {
  absl::StatusOr<internal::SemaphoreCore> core = internal::SemaphoreCore::Create(value, false);
  if (!core.ok()) return core.status();
  return Semaphore(*std::move(core));
}

absl::StatusOr<BoundedSemaphore> BoundedSemaphore::Create(int64_t value) {
  absl::StatusOr<internal::SemaphoreCore> core = internal::SemaphoreCore::Create(value, true);
  if (!core.ok()) return core.status();
  return BoundedSemaphore(*std::move(core));
}

}  // namespace mp
