#include "conformance/runner/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/posix/fd.h"

namespace conformance::internal {
namespace {

using base::posix::UniqueFd;

// Bounds against hostile programs (the others are in RunRequest).
constexpr size_t kMaxWriteRecords = size_t{1} << 20;
// Reads from a capture: up to kBatch runs of up to kPiece bytes per call.
constexpr size_t kBatch = 64;
constexpr size_t kPiece = 4096;

// A capture: a Unix stream socketpair, `mine` the runner's end (SO_PASSCRED:
// see Receive) and `theirs` the program's stdout or stderr, shut for reading
// (a program that reads its stdout gets EOF instead of blocking forever).
// `id` names `theirs` as /proc/<pid>/fd shows it.
absl::Status MakeCapture(UniqueFd* mine, UniqueFd* theirs, FileId* id) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return base::posix::ErrnoError(errno, "socketpair()");
  mine->reset(sv[0]);
  theirs->reset(sv[1]);
  int one = 1;
  if (::setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0) {
    return base::posix::ErrnoError(errno, "setsockopt(SO_PASSCRED)");
  }
  // Every write queues a buffer of ~1 KiB or more against the sender's
  // SO_SNDBUF, shared by all writers: the default (~200 KiB) would block the
  // program after a few hundred short lines while the runner handles a stop.
  // SO_SNDBUFFORCE passes net.core.wmem_max where allowed.
  int size = 4 << 20;
  if (::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0) {
    (void)::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
  if (::shutdown(sv[1], SHUT_RD) != 0) return base::posix::ErrnoError(errno, "shutdown(SHUT_RD)");
  struct stat st;
  if (::fstat(sv[1], &st) != 0) return base::posix::ErrnoError(errno, "fstat");
  *id = {st.st_dev, st.st_ino};
  return absl::OkStatus();
}

// A pipe capture, for the BPF observer: `mine` reads, nonblocking.
absl::Status MakePipeCapture(UniqueFd* mine, UniqueFd* theirs, FileId* id) {
  absl::StatusOr<base::posix::PipeFds> p = base::posix::MakePipe(O_NONBLOCK);
  if (!p.ok()) return p.status();
  // Room for bursts while the runner is busy: 1 MiB where allowed.
  (void)::fcntl(p->write.get(), F_SETPIPE_SZ, 1 << 20);
  // Only the runner's end is nonblocking: the program's stays as a pipe is.
  int flags = ::fcntl(p->write.get(), F_GETFL);
  if (flags < 0 || ::fcntl(p->write.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return base::posix::ErrnoError(errno, "fcntl(F_SETFL)");
  }
  struct stat st;
  if (::fstat(p->write.get(), &st) != 0) return base::posix::ErrnoError(errno, "fstat");
  *id = {st.st_dev, st.st_ino};
  *mine = std::move(p->read);
  *theirs = std::move(p->write);
  return absl::OkStatus();
}

// A pty capture: `mine` the master (nonblocking), `theirs` the slave.
absl::Status MakePtyCapture(UniqueFd* mine, UniqueFd* theirs, FileId* id) {
  mine->reset(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
  if (!mine->valid()) return base::posix::ErrnoError(errno, "open /dev/ptmx");
  int unlock = 0;
  if (::ioctl(mine->get(), TIOCSPTLCK, &unlock) != 0) return base::posix::ErrnoError(errno, "ioctl(TIOCSPTLCK)");
  // The slave through the master (no path lookup, and no O_NONBLOCK: that
  // is the master's file only). O_NOCTTY: nobody's controlling terminal.
  theirs->reset(::ioctl(mine->get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!theirs->valid()) return base::posix::ErrnoError(errno, "ioctl(TIOCGPTPEER)");
  struct termios t;
  if (::tcgetattr(theirs->get(), &t) != 0) return base::posix::ErrnoError(errno, "tcgetattr");
  // The bytes a program writes reach the master unchanged (no \n -> \r\n),
  // and nothing is echoed (nothing is typed either: stdin is /dev/null).
  t.c_oflag &= ~static_cast<tcflag_t>(OPOST);
  t.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHOE | ECHOK | ECHONL | ECHOCTL | ECHOKE);
  if (::tcsetattr(theirs->get(), TCSANOW, &t) != 0) return base::posix::ErrnoError(errno, "tcsetattr");
  struct winsize ws = {};
  ws.ws_row = 24;
  ws.ws_col = 80;
  if (::ioctl(theirs->get(), TIOCSWINSZ, &ws) != 0) return base::posix::ErrnoError(errno, "ioctl(TIOCSWINSZ)");
  struct stat st;
  if (::fstat(theirs->get(), &st) != 0) return base::posix::ErrnoError(errno, "fstat");
  *id = {st.st_dev, st.st_ino};
  return absl::OkStatus();
}

}  // namespace

Capture::Capture(Observation* obs, size_t max_output_bytes) : obs_(obs), max_output_bytes_(max_output_bytes) {
  captured_[1] = &obs_->stdout_bytes;
  captured_[2] = &obs_->stderr_bytes;
}

absl::Status Capture::Open(UniqueFd theirs[3], CaptureKind kind) {
  kind_ = kind;
  for (int s = 1; s <= 2; ++s) {
    absl::Status made = kind == CaptureKind::kPipes  ? MakePipeCapture(&cap_[s], &theirs[s], &ids_[s])
                        : kind == CaptureKind::kPtys ? MakePtyCapture(&cap_[s], &theirs[s], &ids_[s])
                                                     : MakeCapture(&cap_[s], &theirs[s], &ids_[s]);
    if (!made.ok()) return made;
    open_[s] = true;
  }
  buf_.resize(kBatch * kPiece);
  return absl::OkStatus();
}

int Capture::StreamOf(const struct stat& st) const {
  for (int s = 1; s <= 2; ++s) {
    if (st.st_ino == ids_[s].ino && st.st_dev == ids_[s].dev) return s;
  }
  return 0;
}

void Capture::ReceiveAll(absl::Time start, absl::FunctionRef<bool(pid_t)> untraced_writer) {
  for (int s = 1; s <= 2; ++s) {
    if (kind_ != CaptureKind::kSockets) {
      ReadBytes(s, start);
    } else {
      Receive(s, start, untraced_writer);
    }
  }
}

void Capture::ReadBytes(int s, absl::Time start) {
  while (open_[s]) {
    ssize_t n = ::read(cap_[s].get(), buf_.data(), buf_.size());
    if (n < 0 && errno == EINTR) continue;
    // A pty master reads EIO once no process holds the slave (after the
    // bytes written before are read): the end of the stream.
    if (n < 0 && errno == EIO && kind_ == CaptureKind::kPtys) n = 0;
    if (n < 0 && errno != EAGAIN) {
      obs_->anomalies.push_back(
          absl::StrCat("reading the captured ", s == 1 ? "stdout" : "stderr", " failed: ", ::strerror(errno)));
    }
    if (n == 0 || (n < 0 && errno != EAGAIN)) open_[s] = false;
    if (n <= 0) return;
    if (anonymous_writes_) {
      // Text only: the stream's reads run on as one record until the other
      // stream's bytes come between.
      bool continues = !obs_->writes.empty() && obs_->writes.back().stream == s;
      Record(s, std::nullopt, buf_.data(), static_cast<size_t>(n), continues, start);
    } else {
      Keep(s, buf_.data(), static_cast<size_t>(n));
    }
  }
}

bool Capture::Keep(int s, const char* data, size_t len) {
  std::string* dst = captured_[s];
  size_t keep = std::min(len, max_output_bytes_ - std::min(max_output_bytes_, dst->size()));
  if (keep < len) obs_->output_truncated = true;
  dst->append(data, keep);
  return keep != 0;
}

// SO_PASSCRED on the runner's end makes each read return the bytes of one
// writer only (unix_stream_read_generic never glues data from different
// senders then), with an SCM_CREDENTIALS message naming its thread group, as
// a pid of the runner's pid namespace; and the receive queue holds the
// writes in the order they happened. So every run of bytes read is
// attributed and ordered by the kernel, and writers never stop.
//
// The pid is the writer's at the time of the write (the queued bytes hold a
// reference to its struct pid), translated when read. The ProcessRecord it
// names is unambiguous in a traced run: a traced process's pid is freed only
// after the runner, its tracer, has reaped it, and the captures are drained
// right then, before recording its end (and at its exit stop), so every byte
// it wrote is read before its pid can be reused. Untraced, a grandchild is
// reaped by its parent, not the runner, and its pid may be reused before its
// last bytes are read; then they name the new process (the tree is unknown
// there anyway).
void Capture::Receive(int s, absl::Time start, absl::FunctionRef<bool(pid_t)> untraced_writer) {
  // recvmmsg: one system call reads up to kBatch runs (a read stops at each
  // change of writer, so runs are short when many processes write at once).
  constexpr size_t kControl = CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int));
  struct mmsghdr msgs[kBatch];
  struct iovec iovs[kBatch];
  alignas(struct cmsghdr) char control[kBatch][kControl];
  while (open_[s]) {
    for (size_t i = 0; i < kBatch; ++i) {
      iovs[i] = {buf_.data() + i * kPiece, kPiece};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = control[i];
      msgs[i].msg_hdr.msg_controllen = kControl;
    }
    int got = ::recvmmsg(cap_[s].get(), msgs, kBatch, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, nullptr);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        obs_->anomalies.push_back(absl::StrCat("reading the captured ", s == 1 ? "stdout" : "stderr",
                                               " failed: ", ::strerror(errno)));
        open_[s] = false;
      }
      return;
    }
    std::optional<pid_t> last;  // The writer of the previous piece of this batch, if recorded.
    for (int i = 0; i < got; ++i) {
      struct msghdr& m = msgs[i].msg_hdr;
      std::optional<pid_t> pid;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
          struct ucred u;
          std::memcpy(&u, CMSG_DATA(c), sizeof(u));
          pid = u.pid;
        } else if (c->cmsg_type == SCM_RIGHTS) {
          // fds a program sent to its stdout are nobody's business here.
          size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (size_t k = 0; k < count; ++k) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
            ::close(fd);
          }
        }
      }
      if (msgs[i].msg_len == 0) {  // EOF (every later piece is empty too).
        open_[s] = false;
        return;
      }
      // A traced tree cannot write before its process is known: a new process
      // starts stopped, and runs only once the tracer has recorded it.
      if (pid && untraced_writer(*pid)) unknown_writers_.insert(*pid);
      // Consecutive pieces of one batch from the same writer are one run:
      // no other writer's bytes came between them.
      bool recorded = Record(s, pid, buf_.data() + static_cast<size_t>(i) * kPiece, msgs[i].msg_len,
                             pid && pid == last, start);
      last = recorded ? pid : std::nullopt;
    }
    if (got < static_cast<int>(kBatch)) return;  // Nothing more now.
  }
}

bool Capture::Record(int s, std::optional<pid_t> pid, const char* data, size_t len, bool continues,
                     absl::Time start) {
  if (!pid) anonymous_bytes_ += len;
  if (!continues && obs_->writes.size() >= kMaxWriteRecords) {
    obs_->output_truncated = true;
    return false;  // Past a cap: read on, so that writers never block, and drop.
  }
  size_t before = captured_[s]->size();
  if (!Keep(s, data, len)) return false;
  size_t keep = captured_[s]->size() - before;
  if (continues && !obs_->writes.empty() && obs_->writes.back().stream == s) {
    obs_->writes.back().data.append(data, keep);
    return true;
  }
  WriteRecord w;
  w.pid = pid.value_or(0);
  w.stream = s;
  w.data.assign(data, keep);
  w.at = absl::Now() - start;
  obs_->writes.push_back(std::move(w));
  return true;
}

void Capture::Finish() {
  if (kind_ != CaptureKind::kSockets) return;
  if (anonymous_bytes_ != 0) {
    obs_->anomalies.push_back(
        absl::StrCat(anonymous_bytes_, " captured bytes came without the writer's credentials (pid 0)"));
  }
  if (!unknown_writers_.empty()) {
    std::vector<pid_t> pids(unknown_writers_.begin(), unknown_writers_.end());
    std::sort(pids.begin(), pids.end());
    obs_->anomalies.push_back(absl::StrCat("writes from pids the runner did not trace: ", absl::StrJoin(pids, " ")));
  }
  // The records and the captured bytes come from the same reads; this checks
  // the bookkeeping (the caps), not the kernel.
  std::string concat[3];
  for (const WriteRecord& w : obs_->writes) concat[w.stream] += w.data;
  for (int s = 1; s <= 2; ++s) {
    const std::string& cap = *captured_[s];
    if (concat[s] == cap) continue;
    size_t i = 0;
    while (i < cap.size() && i < concat[s].size() && cap[i] == concat[s][i]) ++i;
    absl::StrAppend(&obs_->attribution_mismatch, obs_->attribution_mismatch.empty() ? "" : "; ",
                    s == 1 ? "stdout" : "stderr", ": ", cap.size(), " bytes captured, ", concat[s].size(),
                    " attributed, first difference at byte ", i);
  }
}

}  // namespace conformance::internal
