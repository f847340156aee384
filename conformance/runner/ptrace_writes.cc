#include "conformance/runner/ptrace_writes.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "conformance/runner/child_setup.h"
#include "conformance/runner/proc.h"

namespace conformance::internal {
namespace {

// The fd a write-family call writes to (as observe.bpf.c reads it).
int64_t OutFd(uint64_t nr, const uint64_t* args) {
  switch (nr) {
    case SYS_splice:           // splice(fd_in, off_in, fd_out, ...)
    case SYS_copy_file_range:  // copy_file_range(fd_in, off_in, fd_out, ...)
      return static_cast<int>(args[2]);
    case SYS_tee:  // tee(fd_in, fd_out, ...)
      return static_cast<int>(args[1]);
    default:
      return static_cast<int>(args[0]);
  }
}

// The first `n` bytes of the iovecs at `iov` (`count` of them) of `tid`,
// into `out`; false if any cannot be read.
bool ReadIovecs(pid_t tid, uint64_t iov, uint64_t count, size_t n, std::string* out) {
  count = std::min<uint64_t>(count, 1024);  // IOV_MAX: more fail with EINVAL.
  std::string raw;
  if (!ReadMemory(tid, iov, count * sizeof(struct iovec), &raw)) return false;
  for (uint64_t i = 0; i < count && out->size() < n; ++i) {
    struct iovec v;
    std::memcpy(&v, raw.data() + i * sizeof(v), sizeof(v));
    size_t take = std::min(v.iov_len, n - out->size());
    if (take != 0 && !ReadMemory(tid, reinterpret_cast<uint64_t>(v.iov_base), take, out)) return false;
  }
  return out->size() == n;
}

}  // namespace

bool PtraceWrites::IsWrite(uint64_t nr) {
  return std::find(std::begin(kWriteSyscalls), std::end(kWriteSyscalls), static_cast<int>(nr)) !=
         std::end(kWriteSyscalls);
}

bool PtraceWrites::Entered(pid_t tid, uint64_t nr, const uint64_t* args, const Capture& capture,
                           const WriteReports& reports) {
  int64_t fd = OutFd(nr, args);
  struct stat st;
  if (fd < 0 || ::stat(absl::StrCat("/proc/", tid, "/fd/", fd).c_str(), &st) != 0) return false;
  int stream = capture.StreamOf(st);
  if (stream == 0 || !reports.Wanted(stream)) return false;
  Call& c = calls_[tid];
  c.stream = stream;
  c.nr = nr;
  std::copy(args, args + 6, c.args.begin());
  c.order = ++let_go_;
  return true;
}

void PtraceWrites::Returned(pid_t tid, pid_t pid, int64_t ret, absl::Duration t, WriteReports* reports) {
  auto it = calls_.find(tid);
  if (it == calls_.end()) return;
  Call c = it->second;
  calls_.erase(it);
  if (ret <= 0) return;  // Nothing written (an error, or a restart to come).
  size_t n = static_cast<size_t>(ret);
  std::string data;
  bool read = false;
  switch (c.nr) {
    case SYS_write:
      read = ReadMemory(tid, c.args[1], n, &data);
      break;
    case SYS_writev:
    case SYS_pwritev2:
    case SYS_vmsplice:
      read = ReadIovecs(tid, c.args[1], c.args[2], n, &data);
      break;
    default:  // sendfile, splice, tee, copy_file_range: never in its memory.
      break;
  }
  reports->Add(c.stream, pid, tid, /*continues=*/false, data, read ? 0 : n, t, c.order);
}

}  // namespace conformance::internal
