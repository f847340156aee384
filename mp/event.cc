#include "mp/event.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <new>

#include "absl/time/clock.h"
#include "mp/internal/deadline.h"
#include "mp/internal/shm_sync.h"

namespace mp {
namespace internal {
struct EventBlock {
  std::atomic<uint32_t> flag{0};     // The futex word.
  std::atomic<uint32_t> sleepers{0};  // A dead one costs a spare wake only.
};
}  // namespace internal

absl::StatusOr<Event> Event::Create() {
  absl::StatusOr<std::shared_ptr<internal::SharedRegion>> region =
      internal::SharedRegion::Map(sizeof(internal::EventBlock), "an Event");
  if (!region.ok()) return region.status();
  Event e;
  e.region_ = *std::move(region);
  e.block_ = new (e.region_->data()) internal::EventBlock();
  return e;
}

bool Event::IsSet() const { return block_->flag.load(std::memory_order_acquire) != 0; }

void Event::Set() {
  block_->flag.store(1, std::memory_order_seq_cst);
  if (block_->sleepers.load(std::memory_order_seq_cst) != 0) internal::FutexWake(&block_->flag, INT_MAX);
}

void Event::Clear() { block_->flag.store(0, std::memory_order_seq_cst); }

bool Event::Wait(absl::Duration timeout) const {
  absl::Time deadline = internal::DeadlineIn(timeout);
  for (;;) {
    if (IsSet()) return true;
    if (absl::Now() >= deadline) return false;
    // Announce the sleep before the futex re-checks the flag: a Set between
    // the check above and the sleep then either is seen by the futex (the
    // word is no longer 0) or sees the sleeper and wakes it.
    block_->sleepers.fetch_add(1, std::memory_order_seq_cst);
    internal::FutexWait(&block_->flag, 0, deadline);
    block_->sleepers.fetch_sub(1, std::memory_order_seq_cst);
  }
}

}  // namespace mp
