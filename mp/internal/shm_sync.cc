#include "mp/internal/shm_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/errors.h"

namespace mp::internal {
namespace {

constexpr long kLockSliceNanos = 20 * 1000 * 1000;

struct timespec MonotonicIn(long nanos) {
  struct timespec t;
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  t.tv_nsec += nanos;
  while (t.tv_nsec >= 1000000000) {
    t.tv_nsec -= 1000000000;
    ++t.tv_sec;
  }
  return t;
}

}  // namespace

absl::StatusOr<void*> MapSharedAnonymous(size_t size, absl::string_view what) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return PyOSError(errno, absl::StrCat("mmap(", size, " bytes) for ", what));
  return p;
}

absl::Status InitRobustMutex(pthread_mutex_t* mu, bool recursive, absl::string_view what) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  int r = pthread_mutex_init(mu, &attr);
  pthread_mutexattr_destroy(&attr);
  if (r != 0) return PyOSError(r, absl::StrCat("pthread_mutex_init() for ", what));
  return absl::OkStatus();
}

RobustLock LockRobustMutex(pthread_mutex_t* mu, bool block, absl::Time deadline, int spin) {
  // The previous owner died holding the lock: marking it consistent makes
  // it usable again; what it protected is the caller's business (told by
  // kOwnerDied).
  for (int i = 0; i < (block ? spin : 1); ++i) {
    int r = pthread_mutex_trylock(mu);
    if (r == 0) return RobustLock::kLocked;
    if (r == EOWNERDEAD) {
      pthread_mutex_consistent(mu);
      return RobustLock::kOwnerDied;
    }
    CpuRelax(i);
  }
  if (!block) return RobustLock::kTimedOut;
  // Sleep in slices, never for good (see the header).
  for (;;) {
    long slice = kLockSliceNanos;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return RobustLock::kTimedOut;
      slice = std::min<long>(slice, static_cast<long>(absl::ToInt64Nanoseconds(left)) + 1);
    }
    struct timespec until = MonotonicIn(slice);
    int r = pthread_mutex_clocklock(mu, CLOCK_MONOTONIC, &until);
    if (r == 0) return RobustLock::kLocked;
    if (r == EOWNERDEAD) {
      pthread_mutex_consistent(mu);
      return RobustLock::kOwnerDied;
    }
    // EDEADLK (a non-recursive lock its holder takes again: it waits, as
    // CPython's does, until its deadline) must not spin.
    if (r != ETIMEDOUT) ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr);
  }
}

void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, absl::Time deadline) {
  struct timespec ts;
  struct timespec* rel = nullptr;
  if (deadline != absl::InfiniteFuture()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    ts = absl::ToTimespec(left);
    rel = &ts;
  }
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, rel, nullptr, 0);
}

void FutexWake(std::atomic<uint32_t>* word, int n) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, n, nullptr, nullptr, 0);
}

namespace {

// Field 22 (starttime) and field 3 (state) of /proc/PID/stat; false if the
// process is gone. The command name (field 2) may hold spaces and ')', so
// fields are counted from its last ')'.
bool ReadStat(pid_t pid, char* state, uint64_t* start_time) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return false;
  // p -> ") S ppid ..."; starttime is the 20th field after the state.
  ++p;
  while (*p == ' ') ++p;
  *state = *p;
  int field = 3;
  while (*p != '\0' && field < 22) {
    if (*p++ == ' ') ++field;
  }
  *start_time = std::strtoull(p, nullptr, 10);
  return true;
}

}  // namespace

ProcessIdentity SelfIdentity() {
  ProcessIdentity id;
  id.pid = ::getpid();
  char state;
  if (!ReadStat(id.pid, &state, &id.start_time)) id.start_time = 0;
  return id;
}

bool IsRunning(const ProcessIdentity& id) {
  if (id.pid <= 0) return false;
  char state = '?';
  uint64_t start = 0;
  if (!ReadStat(id.pid, &state, &start)) return false;
  if (state == 'Z' || state == 'X' || state == 'x') return false;
  return id.start_time == 0 || start == id.start_time;
}

}  // namespace mp::internal
