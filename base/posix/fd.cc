#include "base/posix/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"

namespace base::posix {
namespace {
constexpr char kErrnoPayload[] = "base.posix/errno";
}  // namespace

absl::Status ErrnoError(int errnum, absl::string_view context) {
  absl::Status s = absl::ErrnoToStatus(errnum, context);
  s.SetPayload(kErrnoPayload, absl::Cord(std::to_string(errnum)));
  return s;
}

int ErrnoOf(const absl::Status& status) {
  auto p = status.GetPayload(kErrnoPayload);
  int errnum = 0;
  if (!p || !absl::SimpleAtoi(std::string(*p), &errnum)) return 0;
  return errnum;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) {
    // Linux closes the fd even when close() reports EINTR; retrying could
    // close a descriptor another thread just opened.
    ::close(fd_);
  }
  fd_ = fd;
}

absl::StatusOr<PipeFds> MakePipe(int extra_flags) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | extra_flags) != 0) return ErrnoError(errno, "pipe2()");
  return PipeFds{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

absl::StatusOr<bool> PollReadable(int fd, absl::Time deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
      // Round up so a short timeout never becomes a busy loop of 0 ms polls.
      timeout_ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)), INT32_MAX));
    }
    struct pollfd p = {fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r > 0) return true;
    if (r == 0) {
      if (timeout_ms >= 0 && absl::Now() >= deadline) return false;
      continue;  // Woke before the deadline (clock granularity): poll again.
    }
    if (errno != EINTR) return ErrnoError(errno, "poll()");
  }
}

absl::Status WriteFull(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write()");
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> ReadFull(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, p + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read()");
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

SigpipeGuard::SigpipeGuard() {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_);
  // A SIGPIPE can only be pending from before if it was blocked: one that
  // was not would have been delivered already. So the common case (not
  // blocked) costs no sigpending() call (a syscall per Connection send).
  if (sigismember(&old_, SIGPIPE)) {
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE);
  }
}

SigpipeGuard::~SigpipeGuard() {
  if (caused_ && !was_pending_) {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  // Already blocked before: the mask is unchanged, nothing to restore.
  if (!sigismember(&old_, SIGPIPE)) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

namespace signal_safe {

void WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void WriteStr(int fd, const char* s) { WriteAll(fd, s, ::strlen(s)); }

}  // namespace signal_safe
}  // namespace base::posix
