#include "mp/internal/resource_tracker.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"

namespace mp::internal {
namespace {

constexpr size_t kMaxName = 255;
constexpr size_t kMaxNames = 4096;

std::mutex g_mu;
int g_write_fd = -1;  // Under g_mu.

// --- The tracker process: system calls only. ---

void Say(const char* s) { (void)!::write(2, s, std::strlen(s)); }

[[noreturn]] void TrackerMain(int read_fd) {
  // Every other fd goes: above all, any write end of our own pipe.
  for (int fd = 0; fd < 3; ++fd) {
    if (fd != read_fd && fd != 2) ::close(fd);
  }
  if (read_fd < 3) {
    int moved = ::fcntl(read_fd, F_DUPFD, 3);
    ::close(read_fd);
    read_fd = moved;
  }
  ::syscall(SYS_close_range, 3u, static_cast<unsigned>(read_fd - 1), 0u);
  ::syscall(SYS_close_range, static_cast<unsigned>(read_fd + 1), ~0u, 0u);
  // A table of names, in memory of its own (no malloc after fork).
  size_t table_size = kMaxNames * (kMaxName + 1);
  char* table = static_cast<char*>(
      ::mmap(nullptr, table_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (table == MAP_FAILED) ::_exit(1);
  char line[kMaxName + 8];
  size_t used = 0;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(read_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != '\n') {
        if (used < sizeof line - 1) line[used++] = buf[i];
        continue;
      }
      line[used] = '\0';
      const char* name = line + 2;
      if (used > 2 && line[1] == ' ' && std::strlen(name) <= kMaxName) {
        char* slot = nullptr;
        for (size_t k = 0; k < kMaxNames && slot == nullptr; ++k) {
          char* s = table + k * (kMaxName + 1);
          if (line[0] == 'R' && s[0] == '\0') slot = s;
          if (line[0] == 'U' && std::strcmp(s, name) == 0) slot = s;
        }
        if (slot != nullptr && line[0] == 'R') std::strcpy(slot, name);
        if (slot != nullptr && line[0] == 'U') slot[0] = '\0';
      }
      used = 0;
    }
  }
  // Every process that could unlink them is gone.
  int leaked = 0;
  for (size_t k = 0; k < kMaxNames; ++k) {
    char* s = table + k * (kMaxName + 1);
    if (s[0] == '\0') continue;
    char path[kMaxName + 16] = "/dev/shm";
    std::strcat(path, s);
    if (::unlink(path) == 0) ++leaked;
  }
  if (leaked > 0) {
    char n[16];
    int len = 0;
    char digits[16];
    for (int v = leaked; v > 0; v /= 10) digits[len++] = static_cast<char>('0' + v % 10);
    for (int k = 0; k < len; ++k) n[k] = digits[len - 1 - k];
    n[len] = '\0';
    Say("mp resource_tracker: There appear to be ");
    Say(n);
    Say(" leaked shared_memory objects to clean up at shutdown\n");
  }
  ::_exit(0);
}

absl::Status StartLocked() {
  if (g_write_fd >= 0) return absl::OkStatus();
  absl::StatusOr<PipeFds> p = MakePipe();
  if (!p.ok()) return p.status();
  pid_t child = ::fork();
  if (child < 0) return PyOSError(errno, "fork() for the resource tracker");
  if (child == 0) {
    // Fork again and leave: the tracker is then nobody's child to reap.
    pid_t tracker = ::fork();
    if (tracker == 0) TrackerMain(p->read.get());
    ::_exit(tracker < 0 ? 1 : 0);
  }
  int wstatus = 0;
  while (::waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return PyOSError(EAGAIN, "fork() for the resource tracker");
  }
  g_write_fd = p->write.release();
  return absl::OkStatus();
}

void Send(char op, absl::string_view name) {
  std::string msg = absl::StrCat(std::string(1, op), " ", name, "\n");
  std::lock_guard<std::mutex> l(g_mu);
  if (g_write_fd >= 0) (void)WriteFull(g_write_fd, msg.data(), msg.size());
}

}  // namespace

absl::Status EnsureResourceTracker() {
  std::lock_guard<std::mutex> l(g_mu);
  return StartLocked();
}

absl::Status RegisterSharedMemory(absl::string_view name) {
  if (name.size() > kMaxName) return PyError(PyExc::kValueError, "shared memory name too long");
  if (absl::Status s = EnsureResourceTracker(); !s.ok()) return s;
  Send('R', name);
  return absl::OkStatus();
}

void UnregisterSharedMemory(absl::string_view name) { Send('U', name); }

void DetachResourceTrackerForTesting() {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_write_fd >= 0) ::close(g_write_fd);
  g_write_fd = -1;
}

}  // namespace mp::internal
