#include "mp/connection_wait.h"

#include <errno.h>
#include <poll.h>

#include <algorithm>
#include <climits>

#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/deadline.h"

namespace mp::connection {

absl::StatusOr<std::vector<Waitable>> Wait(absl::Span<const Waitable> objects, absl::Duration timeout) {
  std::vector<struct pollfd> fds;
  fds.reserve(objects.size());
  for (const Waitable& w : objects) {
    if (w.fd() < 0 || (w.connection() != nullptr && w.connection()->closed())) {
      return PyError(PyExc::kOSError, "handle is closed");
    }
    fds.push_back({w.fd(), POLLIN, 0});
  }
  absl::Time deadline = internal::DeadlineIn(timeout);
  for (;;) {
    int ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
      // Rounded up: poll must not return before the deadline.
      ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left + absl::Milliseconds(1) -
                                                                         absl::Nanoseconds(1)),
                                              INT_MAX));
    }
    int n = ::poll(fds.data(), fds.size(), ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PyOSError(errno, "poll()");
    }
    std::vector<Waitable> ready;
    for (size_t i = 0; i < fds.size(); ++i) {
      // POLLHUP and POLLERR are ready too: the read that follows says EOF.
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) ready.push_back(objects[i]);
      if (fds[i].revents & POLLNVAL) return PyError(PyExc::kOSError, "handle is closed");
    }
    if (!ready.empty() || absl::Now() >= deadline) return ready;
  }
}

}  // namespace mp::connection
