// -----------------------------------------------------------------------------
// File: base/posix/fd.h
// -----------------------------------------------------------------------------
//
// File-descriptor plumbing that both the library (mp/) and the conformance
// judge (conformance/) need. It lives here, apart from both, so that the
// judge shares no code with what it judges: mp wraps these errors as Python's
// (mp/internal/fd.h), the judge reports them as they are.
//
// Every fd made here is close-on-exec from birth (pipe2/O_CLOEXEC), so a
// concurrent exec in another thread cannot leak it into a stranger.
//
// Errors are canonical absl errors from absl::ErrnoToStatus, "context: what
// strerror says", carrying the errno: ErrnoOf(status) gives it back.
//
// Thread-safety: the functions are thread-safe; a UniqueFd is not.
//
// Example:
//
//   absl::StatusOr<base::posix::PipeFds> p = base::posix::MakePipe();
//   if (!p.ok()) return p.status();
//   absl::Status s = base::posix::WriteFull(p->write.get(), "hi", 2);

#ifndef BASE_POSIX_FD_H_
#define BASE_POSIX_FD_H_

#include <signal.h>
#include <sys/types.h>

#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace base::posix {

// absl::ErrnoToStatus(errnum, context), with errnum attached for ErrnoOf.
absl::Status ErrnoError(int errnum, absl::string_view context);

// The errno an ErrnoError carries; 0 for OK and for other statuses.
int ErrnoOf(const absl::Status& status);

// Owns one file descriptor and closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  // Closes the current fd (if any) and owns `fd` instead.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct PipeFds {
  UniqueFd read;
  UniqueFd write;
};

// pipe2(O_CLOEXEC | extra_flags).
// Errors: ErrnoError (EMFILE, ENFILE).
absl::StatusOr<PipeFds> MakePipe(int extra_flags = 0);

// Waits until `fd` is readable (or hung up) or `deadline` passes. Returns
// whether it became ready. Retries on EINTR with the remaining time.
// Errors: ErrnoError from poll(2).
absl::StatusOr<bool> PollReadable(int fd, absl::Time deadline);

// Writes all of [data, data+size), retrying on EINTR and short writes.
// Errors: ErrnoError (EPIPE when the reader is gone, ...).
absl::Status WriteFull(int fd, const void* data, size_t size);

// Reads exactly `size` bytes unless EOF comes first; returns how many bytes
// were read (less than `size` only at EOF). Retries on EINTR.
// Errors: ErrnoError.
absl::StatusOr<size_t> ReadFull(int fd, void* data, size_t size);

// Keeps SIGPIPE from killing the process while it writes to a pipe whose
// reader may be gone (CPython ignores SIGPIPE at startup; a C++ program need
// not): SIGPIPE is blocked for the guard's lifetime, and a SIGPIPE the
// guarded writes caused (report it with Caused() on EPIPE) is consumed, so
// the write fails with EPIPE instead. A SIGPIPE pending before stays pending.
class SigpipeGuard {
 public:
  SigpipeGuard();
  ~SigpipeGuard();
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  void Caused() { caused_ = true; }

 private:
  sigset_t old_;
  bool was_pending_ = false;
  bool caused_ = false;
};

// Async-signal-safe helpers for the code between fork and exec/_exit: no
// allocation, no locks, no errno-to-Status conversions.
namespace signal_safe {
// Writes all bytes, ignoring errors (there is no one to report them to).
void WriteAll(int fd, const void* data, size_t size);
// Writes a NUL-terminated string.
void WriteStr(int fd, const char* s);
}  // namespace signal_safe

}  // namespace base::posix

#endif  // BASE_POSIX_FD_H_
