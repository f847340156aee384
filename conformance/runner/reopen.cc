#include "conformance/runner/reopen.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "conformance/runner/proc.h"
#include "base/posix/fd.h"

namespace conformance::internal {
namespace {

bool AllDigits(absl::string_view s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<FdPath> ParseFdPath(absl::string_view path) {
  if (path == "/dev/stdin") return FdPath{"self", 0};
  if (path == "/dev/stdout") return FdPath{"self", 1};
  if (path == "/dev/stderr") return FdPath{"self", 2};
  FdPath out;
  if (absl::ConsumePrefix(&path, "/dev/fd/")) {
    out.proc = "self";
  } else if (absl::ConsumePrefix(&path, "/proc/")) {
    size_t at = path.find("/fd/");
    if (at == absl::string_view::npos) return std::nullopt;
    absl::string_view dir = path.substr(0, at);
    path.remove_prefix(at + 4);
    // self, thread-self, <pid>, or either of the first and third followed by
    // /task/<tid>.
    absl::string_view task;
    if (size_t t = dir.find("/task/"); t != absl::string_view::npos) {
      task = dir.substr(t + 6);
      dir = dir.substr(0, t);
      if (!AllDigits(task) || dir == "thread-self") return std::nullopt;
    }
    if (dir != "self" && dir != "thread-self" && !AllDigits(dir)) return std::nullopt;
    out.proc = std::string(dir);
    if (!task.empty()) absl::StrAppend(&out.proc, "/task/", task);
  } else {
    return std::nullopt;
  }
  if (!AllDigits(path)) return std::nullopt;
  out.fd = std::atoi(std::string(path).c_str());
  return out;
}

namespace {

using base::posix::UniqueFd;

// The fd of `tid` that opening `path` would reopen, if it is a capture and
// the same fd number of `tid` is that capture too.
std::optional<int> ReopenedCapture(pid_t tid, pid_t tgid, const std::string& path, const Capture& capture) {
  std::optional<FdPath> fp = ParseFdPath(path);
  if (!fp) return std::nullopt;
  std::string proc = fp->proc == "self"          ? absl::StrCat(tgid)
                     : fp->proc == "thread-self" ? absl::StrCat(tgid, "/task/", tid)
                     : absl::StartsWith(fp->proc, "self/") ? absl::StrCat(tgid, fp->proc.substr(4))
                                                          : fp->proc;
  auto is_capture = [&](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && capture.Holds(st);
  };
  // The path may name another process's fd: the dup is only the same file
  // when the caller's fd with that number is the same capture (a child
  // opening /proc/<parent>/fd/1, as bash's /proc/$$/fd/1 does in a subshell).
  std::string own = absl::StrCat("/proc/", tid, "/fd/", fp->fd);
  if (!is_capture(own)) return std::nullopt;
  std::string named = absl::StrCat("/proc/", proc, "/fd/", fp->fd);
  if (named != absl::StrCat("/proc/", tgid, "/fd/", fp->fd) && named != own) {
    struct stat a, b;
    if (::stat(own.c_str(), &a) != 0 || ::stat(named.c_str(), &b) != 0 || a.st_ino != b.st_ino ||
        a.st_dev != b.st_dev) {
      return std::nullopt;
    }
  }
  return fp->fd;
}

}  // namespace

std::optional<Reopen> ReopenOf(pid_t tid, pid_t tgid, uint64_t nr, const uint64_t* args, const Capture& capture) {
  uint64_t path_at = 0, flags = 0;
  bool refuse_magic = false;
  switch (nr) {
    case SYS_open:
      path_at = args[0];
      flags = args[1];
      break;
    case SYS_creat:
      path_at = args[0];
      flags = O_CREAT | O_WRONLY | O_TRUNC;
      break;
    case SYS_openat:
      path_at = args[1];
      flags = args[2];
      break;
    case SYS_openat2: {
      // struct open_how: flags, mode, resolve (u64 each). Unreadable or
      // too small: the call fails by itself, and must go on failing.
      std::string how;
      if (args[3] < 24 || !ReadMemory(tid, args[2], 24, &how)) break;
      path_at = args[1];
      uint64_t resolve = 0;
      std::memcpy(&flags, how.data(), 8);
      std::memcpy(&resolve, how.data() + 16, 8);
      // RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT:
      // the open fails there, and must go on failing.
      refuse_magic = (resolve & 0x1e) != 0;
      break;
    }
    default:
      break;
  }
  // O_PATH opens a socket fine; O_DIRECTORY fails on it, and O_CREAT|O_EXCL
  // on anything that exists, as on a pipe.
  bool fails_anyway = (flags & O_DIRECTORY) != 0 || ((flags & O_CREAT) != 0 && (flags & O_EXCL) != 0);
  if (path_at == 0 || refuse_magic || (flags & O_PATH) != 0 || fails_anyway) return std::nullopt;
  // The paths that can name an fd are short; 64 bytes rule out the rest.
  std::string path = ReadPath(tid, path_at, 64);
  if (path.empty() || !(absl::StartsWith(path, "/dev/") || absl::StartsWith(path, "/proc/"))) return std::nullopt;
  std::optional<int> fd = ReopenedCapture(tid, tgid, path, capture);
  if (!fd) return std::nullopt;
  return Reopen{*fd, (flags & O_CLOEXEC) != 0, std::move(path)};
}

void AnswerNotification(UniqueFd* listener, const Capture& capture, absl::FunctionRef<pid_t(pid_t)> tgid_of) {
  static const struct seccomp_notif_sizes sizes = [] {
    struct seccomp_notif_sizes s = {};
    if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) != 0) s = {};
    return s;
  }();
  std::vector<char> req_buf(std::max<size_t>(sizes.seccomp_notif, sizeof(struct seccomp_notif)));
  std::vector<char> resp_buf(std::max<size_t>(sizes.seccomp_notif_resp, sizeof(struct seccomp_notif_resp)));
  auto* req = reinterpret_cast<struct seccomp_notif*>(req_buf.data());
  if (::ioctl(listener->get(), SECCOMP_IOCTL_NOTIF_RECV, req) != 0) {
    // ENOENT: the caller died meanwhile; EINTR: try again when polled.
    if (errno != ENOENT && errno != EINTR) listener->reset();
    return;
  }
  pid_t tid = static_cast<pid_t>(req->pid);
  std::optional<Reopen> r = ReopenOf(tid, tgid_of(tid), static_cast<uint64_t>(req->data.nr),
                                     reinterpret_cast<const uint64_t*>(req->data.args), capture);
  if (r && ::ioctl(listener->get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) == 0) {
    // The caller's own fd: its fd table, not ours, holds the capture's
    // program end. PIDFD_THREAD (O_EXCL): the caller may be any thread.
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, tid, O_EXCL)));
    if (!pidfd.valid()) pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, tid, 0)));
    UniqueFd src(pidfd.valid() ? static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), r->fd, 0)) : -1);
    if (src.valid()) {
      struct seccomp_notif_addfd add = {};
      add.id = req->id;
      add.flags = SECCOMP_ADDFD_FLAG_SEND;
      add.srcfd = static_cast<uint32_t>(src.get());
      add.newfd_flags = r->cloexec ? O_CLOEXEC : 0;
      if (::ioctl(listener->get(), SECCOMP_IOCTL_NOTIF_ADDFD, &add) >= 0 || errno == ENOENT) return;
    }
  }
  auto* resp = reinterpret_cast<struct seccomp_notif_resp*>(resp_buf.data());
  resp->id = req->id;
  resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  (void)::ioctl(listener->get(), SECCOMP_IOCTL_NOTIF_SEND, resp);
}

}  // namespace conformance::internal
