#include "mp/connection.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/deadline.h"
#include "mp/internal/fd.h"
#include "mp/internal/framing.h"

namespace mp {
namespace {

constexpr size_t kChunk = size_t{1} << 20;

absl::Status Truncated() { return PyError(PyExc::kOSError, "got end of file during message"); }

// Writes all of `iov`, retrying short writes and EINTR. A dead reader must
// give BrokenPipeError, never kill us (CPython ignores SIGPIPE at startup): on
// a socket sendmsg's MSG_NOSIGNAL does it; a pipe has no such flag, so
// SIGPIPE is blocked around the writes and the one we caused is consumed.
absl::Status WriteAllV(int fd, bool is_socket, struct iovec* iov, int iovcnt) {
  std::optional<internal::SigpipeGuard> sigpipe;
  if (!is_socket) sigpipe.emplace();
  while (iovcnt > 0) {
    ssize_t n;
    if (is_socket) {
      struct msghdr msg = {};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(iovcnt);
      n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    } else {
      n = ::writev(fd, iov, iovcnt);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE && sigpipe) sigpipe->Caused();
      return PyOSError(errno, "send_bytes");
    }
    size_t left = static_cast<size_t>(n);
    while (iovcnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --iovcnt;
    }
    if (iovcnt > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return absl::OkStatus();
}

// How long a receiver polls (without blocking) for the next message before it
// sleeps in read(). Waking a process that sleeps on another CPU costs tens of
// microseconds here, more than a typical request/reply turnaround, so a short
// bounded spin makes ping-pong traffic several times faster; a receiver whose
// peer is slower only wastes this much CPU per message before it sleeps.
constexpr int64_t kSpinNanos = 50 * 1000;

int64_t MonotonicNanos() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// One read that never blocks: the byte count, 0 at EOF, or -1 with errno
// (EAGAIN: nothing yet). Per call, not O_NONBLOCK: the fd's open file
// description may be shared with other processes, whose reads must keep
// blocking.
ssize_t ReadNow(int fd, bool is_socket, void* buf, size_t size) {
  if (is_socket) return ::recv(fd, buf, size, MSG_DONTWAIT);
  struct iovec iov = {buf, size};
  return ::preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
}

// Reads exactly `size` bytes unless EOF comes first (returns the count read),
// polling without blocking for up to kSpinNanos before the first blocking
// read. It reads no byte beyond `size`, so another process reading the same
// fd (a pipe shared by workers, with a lock around whole messages) is as safe
// as with a plain read. `*can_spin` turns false for good when the fd refuses
// per-call non-blocking reads (RWF_NOWAIT on a tty, or an old kernel).
absl::StatusOr<size_t> ReadFullSpinning(int fd, bool is_socket, bool* can_spin, char* buf, size_t size) {
  size_t got = 0;
  if (*can_spin) {
    int64_t give_up = 0;
    for (int round = 0;; ++round) {
      ssize_t n = ReadNow(fd, is_socket, buf, size);
      if (n == 0) return size_t{0};
      if (n > 0) {
        got = static_cast<size_t>(n);
        break;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        if (!is_socket && (errno == EOPNOTSUPP || errno == EINVAL)) {
          *can_spin = false;
          break;
        }
        return PyOSError(errno, "recv_bytes");
      }
      int64_t now = MonotonicNanos();
      if (round == 0) {
        give_up = now + kSpinNanos;
      } else if (now >= give_up) {
        break;
      }
      // Let a peer that shares this CPU run: it is the one we wait for (and
      // the scheduler often puts a ping-pong pair on one CPU). Cheap when
      // nothing else is runnable here.
      ::sched_yield();
    }
  }
  if (got == size) return got;
  absl::StatusOr<size_t> rest = internal::ReadFull(fd, buf + got, size - got);
  if (!rest.ok()) return rest.status();
  return got + *rest;
}

bool IsSocket(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

Connection Connection::FromFd(int fd, bool readable, bool writable) {
  Connection c(fd, readable, writable);
  c.is_socket_ = IsSocket(fd);
  return c;
}

absl::Status Connection::CheckReadable() const {
  if (closed()) return PyError(PyExc::kOSError, "handle is closed");
  if (!readable_) return PyError(PyExc::kOSError, "connection is write-only");
  return absl::OkStatus();
}

absl::Status Connection::CheckWritable() const {
  if (closed()) return PyError(PyExc::kOSError, "handle is closed");
  if (!writable_) return PyError(PyExc::kOSError, "connection is read-only");
  return absl::OkStatus();
}

absl::Status Connection::SendBytes(absl::string_view buf) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  char header[internal::kMaxFrameHeader];
  struct iovec iov[2];
  iov[0].iov_base = header;
  iov[0].iov_len = internal::EncodeFrameHeader(buf.size(), header);
  iov[1].iov_base = const_cast<char*>(buf.data());
  iov[1].iov_len = buf.size();
  // One writev: a small message (<= PIPE_BUF) lands atomically even when
  // several processes write to the same pipe.
  return WriteAllV(fd_.get(), is_socket_, iov, buf.empty() ? 1 : 2);
}

absl::Status Connection::SendBytesV(absl::Span<const absl::string_view> pieces) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  uint64_t size = 0;
  for (absl::string_view p : pieces) size += p.size();
  char header[internal::kMaxFrameHeader];
  std::vector<struct iovec> iov;
  iov.reserve(pieces.size() + 1);
  iov.push_back({header, internal::EncodeFrameHeader(size, header)});
  for (absl::string_view p : pieces) {
    if (!p.empty()) iov.push_back({const_cast<char*>(p.data()), p.size()});
  }
  // writev takes at most IOV_MAX pieces at a time.
  for (size_t i = 0; i < iov.size(); i += IOV_MAX) {
    int n = static_cast<int>(std::min<size_t>(IOV_MAX, iov.size() - i));
    if (absl::Status s = WriteAllV(fd_.get(), is_socket_, iov.data() + i, n); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Connection::SendBytesChunks(uint64_t size, absl::FunctionRef<absl::string_view()> next_chunk) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  char header[internal::kMaxFrameHeader];
  struct iovec iov[1];
  iov[0].iov_base = header;
  iov[0].iov_len = internal::EncodeFrameHeader(size, header);
  if (absl::Status s = WriteAllV(fd_.get(), is_socket_, iov, 1); !s.ok()) return s;
  uint64_t sent = 0;
  while (sent < size) {
    absl::string_view chunk = next_chunk();
    if (chunk.empty() || chunk.size() > size - sent) {
      return PyError(PyExc::kValueError,
                     absl::StrCat("send_bytes chunk of ", chunk.size(), " bytes at offset ", sent,
                                  " does not fit a message of ", size, " bytes"));
    }
    iov[0].iov_base = const_cast<char*>(chunk.data());
    iov[0].iov_len = chunk.size();
    if (absl::Status s = WriteAllV(fd_.get(), is_socket_, iov, 1); !s.ok()) return s;
    sent += chunk.size();
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Connection::RecvHeader(uint64_t maxlength) {
  if (absl::Status s = CheckReadable(); !s.ok()) return s;
  bool first = true;
  absl::StatusOr<internal::FrameHeader> header =
      internal::ReadFrameHeader([&](char* data, size_t size) -> absl::StatusOr<size_t> {
        // Only the header's first read spins: the rest of a message follows
        // at once.
        if (std::exchange(first, false)) return ReadFullSpinning(fd_.get(), is_socket_, &can_spin_, data, size);
        return internal::ReadFull(fd_.get(), data, size);
      });
  if (!header.ok()) return header.status();
  if (header->state == internal::FrameHeader::State::kBad || header->body_size > maxlength) return BadMessageLength();
  return header->body_size;
}

// CPython's _bad_message_length(): the message's bytes are left unread, so
// nothing more can be read in step; a duplex connection stays writable.
absl::Status Connection::BadMessageLength() {
  if (writable_) {
    readable_ = false;
  } else {
    Close();
  }
  return PyError(PyExc::kOSError, "bad message length");
}

absl::StatusOr<std::string> Connection::RecvBytes(size_t maxlength) {
  absl::StatusOr<uint64_t> size = RecvHeader(maxlength);
  if (!size.ok()) return size.status();
  // The buffer grows with the bytes that actually arrive: a corrupt or
  // hostile header claiming 2^62 bytes must not allocate them up front (found
  // by mp/fuzz/connection_fuzz.cc). Doubling keeps the copies amortised.
  std::string out;
  size_t got = 0;
  while (got < *size) {
    out.resize(static_cast<size_t>(std::min<uint64_t>(*size, std::max(kChunk, 2 * out.size()))));
    absl::StatusOr<size_t> n = internal::ReadFull(fd_.get(), out.data() + got, out.size() - got);
    if (!n.ok()) return n.status();
    got += *n;
    // CPython raises EOFError when not one byte of the body came; a header
    // without its body is a truncated message all the same, so mp says so.
    if (got < out.size()) return Truncated();
  }
  return out;
}

absl::StatusOr<uint64_t> Connection::RecvBytesTo(absl::FunctionRef<absl::Status(absl::string_view)> sink,
                                                 uint64_t maxlength) {
  absl::StatusOr<uint64_t> size = RecvHeader(maxlength);
  if (!size.ok()) return size.status();
  std::string buf(static_cast<size_t>(std::min<uint64_t>(*size, kChunk)), '\0');
  uint64_t left = *size;
  while (left > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    ssize_t n = ::read(fd_.get(), buf.data(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PyOSError(errno, "recv_bytes");
    }
    if (n == 0) return Truncated();
    if (absl::Status s = sink(absl::string_view(buf.data(), static_cast<size_t>(n))); !s.ok()) return s;
    left -= static_cast<uint64_t>(n);
  }
  return *size;
}

absl::StatusOr<bool> Connection::Poll(absl::Duration timeout) {
  if (absl::Status s = CheckReadable(); !s.ok()) return s;
  return internal::PollReadable(fd_.get(), internal::DeadlineIn(timeout));
}

void Connection::Close() { fd_.reset(); }

absl::StatusOr<std::pair<Connection, Connection>> Pipe(bool duplex) {
  if (duplex) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return PyOSError(errno, "socketpair()");
    return std::make_pair(Connection::FromFd(fds[0], true, true), Connection::FromFd(fds[1], true, true));
  }
  absl::StatusOr<internal::PipeFds> p = internal::MakePipe();
  if (!p.ok()) return p.status();
  return std::make_pair(Connection::FromFd(p->read.release(), true, false),
                        Connection::FromFd(p->write.release(), false, true));
}

}  // namespace mp
