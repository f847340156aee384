#include "mp/internal/child.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/errors.h"

namespace mp::internal {
namespace {

// Set once pidfd_open has said ENOSYS or EPERM: the kernel lacks it or a
// filter refuses it, so later waits go straight to polling.
std::atomic<bool> g_no_pidfd{false};

// A pidfd for `pid`, or an invalid fd with errno set. Race-free only while
// `pid` is an unreaped child of ours.
UniqueFd OpenPidfd(pid_t pid) {
  if (g_no_pidfd.load(std::memory_order_relaxed)) {
    errno = ENOSYS;
    return UniqueFd();
  }
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd.valid() && (errno == ENOSYS || errno == EPERM)) g_no_pidfd.store(true, std::memory_order_relaxed);
  return fd;
}

// Whether `pid` has terminated (or is not our child), without reaping it.
// Returns false when it is still running.
bool ExitedNow(pid_t pid) {
  siginfo_t info;
  info.si_pid = 0;
  for (;;) {
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0) return info.si_pid != 0;
    if (errno != EINTR) return true;  // ECHILD: gone; the reaper says how.
  }
}

}  // namespace

bool HavePidfd() {
  static const bool probed = [] {
    UniqueFd self = OpenPidfd(::getpid());
    return self.valid();
  }();
  return probed && !g_no_pidfd.load(std::memory_order_relaxed);
}

absl::StatusOr<bool> WaitForExit(pid_t pid, int pidfd, absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) {
    siginfo_t info;
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0) {
      if (errno == ECHILD) return true;
      if (errno != EINTR) return PyOSError(errno, absl::StrCat("waitid(", pid, ")"));
    }
    return true;
  }
  UniqueFd own;
  if (pidfd < 0) {
    own = OpenPidfd(pid);
    if (!own.valid()) {
      if (errno == ESRCH) return true;  // Reaped behind our back.
      if (errno != ENOSYS && errno != EPERM) return PyOSError(errno, absl::StrCat("pidfd_open(", pid, ")"));
    }
    pidfd = own.get();
  }
  if (pidfd >= 0) return PollReadable(pidfd, deadline);
  // No pidfd: poll, with the backoff CPython's Popen._wait uses (it starts
  // at 0.5 ms and stops doubling at 50 ms; a child of ours usually ends
  // sooner, so we start and stop lower).
  for (absl::Duration nap = absl::Microseconds(50);; nap = std::min(nap * 2, absl::Milliseconds(10))) {
    if (ExitedNow(pid)) return true;
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    absl::SleepFor(std::min(nap, left));
  }
}

Child::Child(pid_t pid, ExitStatus if_lost, UniqueFd sentinel)
    : pid_(pid), if_lost_(if_lost), sentinel_(std::move(sentinel)) {}

std::optional<ExitStatus> Child::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void Child::ReapLocked() {
  if (status_) return;
  int wstatus = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &wstatus, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = ExitStatus::FromWaitStatus(wstatus);
  } else if (r < 0) {
    status_ = if_lost_;  // ECHILD: reaped behind our back.
  }
}

std::optional<ExitStatus> Child::Poll() {
  std::lock_guard<std::mutex> lock(mu_);
  ReapLocked();
  return status_;
}

absl::StatusOr<std::optional<ExitStatus>> Child::Wait(absl::Time deadline) {
  for (bool first = true;; first = false) {
    int pidfd = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // The first time round an infinite wait, a running child is likely:
      // go straight to waitid, which returns at once for a dead one anyway.
      if (!first || deadline != absl::InfiniteFuture()) ReapLocked();
      if (status_) return status_;
      if (deadline != absl::InfiniteFuture()) {
        if (!sentinel_.valid()) {
          // The child is unreaped (we hold the lock), so the pid is its own.
          sentinel_ = OpenPidfd(pid_);
          sentinel_is_pidfd_ = sentinel_.valid();
        }
        if (sentinel_is_pidfd_) pidfd = sentinel_.get();
      }
    }
    // Block outside the lock, so SendSignal and Poll stay responsive. (The
    // pidfd stays open until the Child is destroyed.)
    absl::StatusOr<bool> ended = WaitForExit(pid_, pidfd, deadline);
    if (!ended.ok()) return ended.status();
    if (!*ended) {
      std::lock_guard<std::mutex> lock(mu_);
      ReapLocked();
      return status_;
    }
  }
}

absl::Status Child::SendSignal(int signo, bool to_group) {
  std::lock_guard<std::mutex> lock(mu_);
  ReapLocked();
  if (status_) return absl::OkStatus();
  // Holding mu_ keeps the pid from being reaped (and reused) meanwhile.
  const pid_t target = to_group ? -pid_ : pid_;
  if (::kill(target, signo) == 0 || errno == ESRCH) return absl::OkStatus();
  return PyOSError(errno, absl::StrCat("kill(", target, ", ", signo, ")"));
}

absl::StatusOr<int> Child::Sentinel() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!sentinel_.valid() && !status_) {
    sentinel_ = OpenPidfd(pid_);
    sentinel_is_pidfd_ = sentinel_.valid();
    if (!sentinel_.valid() && errno != ESRCH) return PyOSError(errno, absl::StrCat("pidfd_open(", pid_, ")"));
  }
  if (!sentinel_.valid()) {
    // Already reaped: an fd at EOF, readable for good.
    absl::StatusOr<PipeFds> p = MakePipe();
    if (!p.ok()) return p.status();
    sentinel_ = std::move(p->read);
    sentinel_is_pidfd_ = false;
  }
  return sentinel_.get();
}

namespace {

// Parked children, for when no reaper thread could be made. Leaked on
// purpose (no destructor runs at exit, when a reaper may still use one), and
// reset in a forked child, whose parked children are not its own.
struct Parked {
  std::mutex mu;
  pid_t owner = 0;
  std::vector<std::unique_ptr<Child>> children;
};
Parked& parked = *new Parked;
std::atomic<bool> g_any_parked{false};

void* ReaperMain(void* arg) {
  std::unique_ptr<Child> child(static_cast<Child*>(arg));
  (void)child->Wait(absl::InfiniteFuture());
  return nullptr;
}

// Starts a detached thread that owns and reaps `child`; false if none can
// be made.
bool StartReaper(Child* child) {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return false;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  // waitid needs little stack; sanitizers want more than that.
  pthread_attr_setstacksize(&attr, 256 * 1024);
  // The thread inherits this mask: no signal handler of the program should
  // ever run on it.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  const bool started = pthread_create(&thread, &attr, ReaperMain, child) == 0;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  return started;
}

}  // namespace

void ReapInBackground(std::unique_ptr<Child> child) {
  if (child == nullptr || child->Poll()) return;
  if (StartReaper(child.get())) {
    (void)child.release();  // The reaper owns it now.
    return;
  }
  std::lock_guard<std::mutex> lock(parked.mu);
  if (parked.owner != ::getpid()) {
    parked.children.clear();  // A forked copy of its parent's: not ours to reap.
    parked.owner = ::getpid();
  }
  parked.children.push_back(std::move(child));
  g_any_parked.store(true, std::memory_order_relaxed);
}

void ReapAbandoned() {
  if (!g_any_parked.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(parked.mu);
  if (parked.owner != ::getpid()) return;
  std::erase_if(parked.children, [](const std::unique_ptr<Child>& c) { return c->Poll().has_value(); });
  g_any_parked.store(!parked.children.empty(), std::memory_order_relaxed);
}

}  // namespace mp::internal
