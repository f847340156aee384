// Private: the one way mp turns a timeout into a deadline.
//
// Thread-safety: thread-safe.

#ifndef MP_INTERNAL_DEADLINE_H_
#define MP_INTERNAL_DEADLINE_H_

#include <algorithm>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mp::internal {

// The time `timeout` from now; a negative timeout is now (Python treats it
// as 0), an infinite one absl::InfiniteFuture(). absl::Now() + infinity
// would give the same, but an infinite wait reads no clock here: absl::Now()
// writes absl's clock state, and in a parent that has just forked a write to
// a page is a page fault (see popen_fork.h): Process::Join() paid one.
inline absl::Time DeadlineIn(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return absl::InfiniteFuture();
  return absl::Now() + std::max(timeout, absl::ZeroDuration());
}

}  // namespace mp::internal

#endif  // MP_INTERNAL_DEADLINE_H_
