#include "conformance/runner/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/posix/fd.h"

namespace conformance::internal {

using base::posix::UniqueFd;

std::string ReadSmallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "";
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) break;
  }
  return out;
}

pid_t TgidOf(pid_t tid) {
  std::string status = ReadSmallFile(absl::StrCat("/proc/", tid, "/status"));
  size_t at = status.find("\nTgid:");
  if (at == std::string::npos) return 0;
  return static_cast<pid_t>(std::strtol(status.c_str() + at + 6, nullptr, 10));
}

std::vector<std::string> SplitArgs(absl::string_view block) {
  block = block.substr(0, kMaxExecArgs);
  if (!block.empty() && block.back() == '\0') block.remove_suffix(1);
  std::vector<std::string> out;
  if (block.empty()) return out;
  for (absl::string_view a : absl::StrSplit(block, '\0')) out.emplace_back(a);
  return out;
}

std::string ExeOf(pid_t pid) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(absl::StrCat("/proc/", pid, "/exe").c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::vector<std::string> ArgsOf(pid_t pid) {
  return SplitArgs(ReadSmallFile(absl::StrCat("/proc/", pid, "/cmdline")));
}

std::string ExecPathOf(pid_t tid, uint64_t nr, const uint64_t* args) {
  bool at = nr == SYS_execveat;
  std::string path = ReadPath(tid, at ? args[1] : args[0], PATH_MAX);
  if (!at) return path;
  // The kernel's names (fs/exec.c, alloc_bprm).
  int dirfd = static_cast<int>(args[0]);
  if (dirfd == AT_FDCWD || (!path.empty() && path[0] == '/')) return path;
  if (path.empty()) {
    // Unreadable, or "" with AT_EMPTY_PATH: the fd itself.
    std::string first;
    bool empty = (args[4] & AT_EMPTY_PATH) != 0 && ReadMemory(tid, args[1], 1, &first) && first[0] == '\0';
    return empty ? absl::StrCat("/dev/fd/", dirfd) : "";
  }
  return absl::StrCat("/dev/fd/", dirfd, "/", path);
}

bool ReadMemory(pid_t tid, uint64_t addr, size_t len, std::string* out) {
  size_t old = out->size();
  out->resize(old + len);
  struct iovec local = {out->data() + old, len};
  struct iovec remote = {reinterpret_cast<void*>(addr), len};
  ssize_t n = ::process_vm_readv(tid, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(len)) return true;
  for (size_t i = 0; i < len; i += sizeof(long)) {
    errno = 0;
    long word = ::ptrace(PTRACE_PEEKDATA, tid, addr + i, nullptr);
    if (errno != 0) {
      out->resize(old);
      return false;
    }
    std::memcpy(out->data() + old + i, &word, std::min(sizeof(long), len - i));
  }
  return true;
}

std::string ReadPath(pid_t tid, uint64_t addr, size_t max) {
  constexpr uint64_t kPage = 4096;
  std::string out;
  size_t first = std::min<uint64_t>(max, kPage - addr % kPage);
  if (addr == 0 || !ReadMemory(tid, addr, first, &out)) return "";
  if (out.find('\0') == std::string::npos && first < max && !ReadMemory(tid, addr + first, max - first, &out)) {
    return "";
  }
  size_t nul = out.find('\0');
  return nul == std::string::npos ? "" : out.substr(0, nul);
}

std::vector<pid_t> OwnChildren() {
  std::vector<pid_t> out;
  std::string dir = absl::StrCat("/proc/", ::getpid(), "/task");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string kids = ReadSmallFile(absl::StrCat(dir, "/", e->d_name, "/children"));
    for (absl::string_view k : absl::StrSplit(kids, ' ', absl::SkipWhitespace())) {
      out.push_back(static_cast<pid_t>(std::strtol(std::string(k).c_str(), nullptr, 10)));
    }
  }
  ::closedir(d);
  return out;
}

}  // namespace conformance::internal
