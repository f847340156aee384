#include "mp/connection.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/os.h"

namespace mp {
namespace {

struct Point {
  int x = 0;
  std::string name;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, name);
  }
  bool operator==(const Point&) const = default;
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + 3) % 256);
  return s;
}

TEST(ConnectionTest, DuplexCarriesBytesBothWays) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok()) << pipe.status();
  auto& [a, b] = *pipe;
  EXPECT_TRUE(a.readable() && a.writable() && b.readable() && b.writable());
  ASSERT_TRUE(a.SendBytes("hello").ok());
  ASSERT_TRUE(a.SendBytes("").ok());
  EXPECT_EQ(*b.RecvBytes(), "hello");
  EXPECT_EQ(*b.RecvBytes(), "");
  ASSERT_TRUE(b.SendBytes("back").ok());
  EXPECT_EQ(*a.RecvBytes(), "back");
}

TEST(ConnectionTest, SimplexReadsFirstWritesSecond) {
  auto pipe = Pipe(/*duplex=*/false);
  ASSERT_TRUE(pipe.ok()) << pipe.status();
  auto& [r, w] = *pipe;
  EXPECT_TRUE(r.readable());
  EXPECT_FALSE(r.writable());
  EXPECT_FALSE(w.readable());
  EXPECT_TRUE(w.writable());
  absl::Status s = r.SendBytes("x");
  EXPECT_TRUE(Is(s, PyExc::kOSError));
  EXPECT_EQ(s.message(), "OSError: connection is read-only");
  EXPECT_EQ(w.RecvBytes().status().message(), "OSError: connection is write-only");
  EXPECT_EQ(w.Poll().status().message(), "OSError: connection is write-only");
}

TEST(ConnectionTest, SendRecvTypedValues) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  auto& [a, b] = *pipe;
  ASSERT_TRUE(a.Send(Point{3, "p"}).ok());
  ASSERT_TRUE(a.Send(std::vector<int>{1, 2, 3}).ok());
  ASSERT_TRUE(a.Send(42).ok());
  EXPECT_EQ(*b.Recv<Point>(), (Point{3, "p"}));
  EXPECT_EQ(*b.Recv<std::vector<int>>(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(*b.Recv<int>(), 42);
  ASSERT_TRUE(a.Send(std::string("not an int")).ok());
  EXPECT_TRUE(Is(b.Recv<int>().status(), PyExc::kUnpicklingError));
}

TEST(ConnectionTest, CleanEofIsEOFError) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  auto& [a, b] = *pipe;
  ASSERT_TRUE(a.SendBytes("last").ok());
  a.Close();
  EXPECT_EQ(*b.RecvBytes(), "last");
  absl::StatusOr<std::string> got = b.RecvBytes();
  EXPECT_TRUE(Is(got.status(), PyExc::kEOFError)) << got.status();
  EXPECT_TRUE(*b.Poll());  // EOF counts as readable, as in CPython.
}

TEST(ConnectionTest, TruncatedMessageIsOSError) {
  for (std::string raw : {std::string("\x00\x00\x00\x0a" "abc", 7), std::string("\x00\x00", 2),
                          std::string("\xff\xff\xff\xff\x00\x00", 6)}) {
    auto pipe = Pipe(false);
    ASSERT_TRUE(pipe.ok());
    auto& [r, w] = *pipe;
    ASSERT_EQ(::write(w.fileno(), raw.data(), raw.size()), static_cast<ssize_t>(raw.size()));
    w.Close();
    absl::Status s = r.RecvBytes().status();
    EXPECT_TRUE(Is(s, PyExc::kOSError)) << s;
    EXPECT_FALSE(Is(s, PyExc::kEOFError));
    EXPECT_EQ(s.message(), "OSError: got end of file during message") << absl::CEscape(raw);
  }
}

TEST(ConnectionTest, LongerThanMaxlengthIsBadMessageLength) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  auto& [a, b] = *pipe;
  ASSERT_TRUE(a.SendBytes("0123456789").ok());
  absl::Status s = b.RecvBytes(9).status();
  EXPECT_EQ(s.message(), "OSError: bad message length");
  ASSERT_TRUE(a.SendBytes("0123").ok());
  auto p2 = Pipe();
  ASSERT_TRUE(p2.ok());
  ASSERT_TRUE(p2->first.SendBytes("0123456789").ok());
  EXPECT_EQ(*p2->second.RecvBytes(10), "0123456789");
}

// CPython's _bad_message_length(): the rest of the message is unread, so
// the connection is no longer readable (a duplex one) or closed (a
// read-only one), and a later receive fails instead of reading the
// message's bytes as a header.
TEST(ConnectionTest, MessageOverMaxlengthLeavesNoReadableConnectionAsCPython) {
  auto duplex = Pipe();
  ASSERT_TRUE(duplex.ok());
  auto& [a, b] = *duplex;
  ASSERT_TRUE(a.SendBytes(std::string(100, 'x')).ok());
  ASSERT_TRUE(a.SendBytes("next").ok());
  EXPECT_EQ(b.RecvBytes(10).status().message(), "OSError: bad message length");
  EXPECT_FALSE(b.readable());
  EXPECT_EQ(b.RecvBytes().status().message(), "OSError: connection is write-only");
  EXPECT_TRUE(b.SendBytes("still writable").ok());
  EXPECT_EQ(*a.RecvBytes(), "still writable");

  auto simplex = Pipe(false);
  ASSERT_TRUE(simplex.ok());
  ASSERT_TRUE(simplex->second.SendBytes("0123456789").ok());
  EXPECT_EQ(simplex->first.RecvBytesTo([](absl::string_view) { return absl::OkStatus(); }, 3).status().message(),
            "OSError: bad message length");
  EXPECT_TRUE(simplex->first.closed());
  EXPECT_EQ(simplex->first.RecvBytes().status().message(), "OSError: handle is closed");
}

TEST(ConnectionTest, NegativeLengthIsBadMessageLength) {
  auto pipe = Pipe(false);
  ASSERT_TRUE(pipe.ok());
  ASSERT_EQ(::write(pipe->second.fileno(), "\xff\xff\xff\xfe", 4), 4);
  EXPECT_EQ(pipe->first.RecvBytes().status().message(), "OSError: bad message length");
}

// A header may claim any length up to 2^64-1: RecvBytes must not allocate
// it before the bytes arrive (it used to, and died of the allocation).
TEST(ConnectionTest, HugeClaimedLengthIsTruncatedNotAllocated) {
  auto pipe = Pipe(false);
  ASSERT_TRUE(pipe.ok());
  const std::string raw("\xff\xff\xff\xff\x40\x00\x00\x00\x00\x00\x00\x00" "abc", 15);
  ASSERT_EQ(::write(pipe->second.fileno(), raw.data(), raw.size()), static_cast<ssize_t>(raw.size()));
  pipe->second.Close();
  EXPECT_EQ(pipe->first.RecvBytes().status().message(), "OSError: got end of file during message");
}

// Messages larger than the first buffer (1 MiB) grow it and arrive intact.
TEST(ConnectionTest, RecvBytesGrowsPastFirstBuffer) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  std::string big(3 * (1 << 20) + 17, 'x');
  for (size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>(i);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(pipe->first.SendBytes(big).ok() ? 0 : 1);
  absl::StatusOr<std::string> got = pipe->second.RecvBytes();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(status, 0);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == big);
}

// SendBytesV frames its pieces as one message (empty pieces included), so
// the reader cannot tell it from SendBytes of their concatenation; a large
// piece crosses a pipe smaller than the message.
TEST(ConnectionTest, SendBytesVSendsThePiecesAsOneMessage) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  std::string big = Pattern(3 * (1 << 20) + 5);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<absl::string_view> pieces = {"head", "", big, "tail"};
    bool ok = pipe->first.SendBytesV(pieces).ok() && pipe->first.SendBytesV({}).ok();
    _exit(ok ? 0 : 1);
  }
  absl::StatusOr<std::string> got = pipe->second.RecvBytes();
  absl::StatusOr<std::string> empty = pipe->second.RecvBytes();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(status, 0);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == absl::StrCat("head", big, "tail"));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, "");
}

// More pieces than one writev(2) takes (IOV_MAX) still make one message.
TEST(ConnectionTest, SendBytesVTakesMorePiecesThanIovMax) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  std::vector<std::string> parts;
  for (int i = 0; i < 3000; ++i) parts.push_back(absl::StrCat(i, ","));
  std::vector<absl::string_view> pieces(parts.begin(), parts.end());
  ASSERT_TRUE(pipe->first.SendBytesV(pieces).ok());
  absl::StatusOr<std::string> got = pipe->second.RecvBytes();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, absl::StrJoin(parts, ""));
}

TEST(ConnectionTest, PollWaitsForData) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  auto& [a, b] = *pipe;
  EXPECT_FALSE(*b.Poll());
  absl::Time start = absl::Now();
  EXPECT_FALSE(*b.Poll(absl::Milliseconds(50)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
  ASSERT_TRUE(a.SendBytes("x").ok());
  EXPECT_TRUE(*b.Poll());
  EXPECT_TRUE(*b.Poll(absl::InfiniteDuration()));
  EXPECT_EQ(*b.RecvBytes(), "x");
}

TEST(ConnectionTest, PollInfiniteWakesOnChildSend) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  auto& [a, b] = *pipe;
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok());
  if (*pid == 0) {
    b.Close();
    ::usleep(50000);
    _exit(a.Send(7).ok() ? 0 : 1);
  }
  a.Close();
  EXPECT_TRUE(*b.Poll(absl::InfiniteDuration()));
  EXPECT_EQ(*b.Recv<int>(), 7);
  EXPECT_EQ(WaitPid(*pid)->python_returncode(), 0);
}

// RecvBytes polls without blocking for a while before it sleeps in read():
// a message, a split header, and EOF arriving well after that spin must still
// be received (pipe and socketpair take different non-blocking reads).
TEST(ConnectionTest, RecvBytesAfterSpinBlocksForLateSenders) {
  for (bool duplex : {false, true}) {
    SCOPED_TRACE(duplex ? "duplex" : "simplex");
    auto pipe = Pipe(duplex);
    ASSERT_TRUE(pipe.ok());
    auto& [r, w] = *pipe;
    absl::StatusOr<pid_t> pid = Fork();
    ASSERT_TRUE(pid.ok());
    if (*pid == 0) {
      r.Close();
      ::usleep(30000);
      if (!w.SendBytes("late").ok()) _exit(1);
      ::usleep(30000);
      // A header split across two writes, then EOF.
      if (::write(w.fileno(), "\x00\x00", 2) != 2) _exit(2);
      ::usleep(30000);
      if (::write(w.fileno(), "\x00\x02ok", 4) != 4) _exit(3);
      ::usleep(30000);
      _exit(0);
    }
    w.Close();
    EXPECT_EQ(*r.RecvBytes(), "late");
    EXPECT_EQ(*r.RecvBytes(), "ok");
    absl::StatusOr<std::string> eof = r.RecvBytes();
    EXPECT_TRUE(Is(eof.status(), PyExc::kEOFError)) << eof.status();
    EXPECT_EQ(WaitPid(*pid)->python_returncode(), 0);
  }
}

// FromFd takes any fd: on a regular file (neither pipe nor socket) the
// non-blocking first reads must consume exactly what a plain read would.
TEST(ConnectionTest, RecvBytesFromRegularFile) {
  char path[] = "/tmp/mp_connection_test_XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  std::string frames = std::string("\x00\x00\x00\x03" "one" "\x00\x00\x00\x00", 11);
  ASSERT_EQ(::write(fd, frames.data(), frames.size()), static_cast<ssize_t>(frames.size()));
  ASSERT_EQ(::lseek(fd, 0, SEEK_SET), 0);
  Connection c = Connection::FromFd(fd, true, false);
  EXPECT_EQ(*c.RecvBytes(), "one");
  EXPECT_EQ(*c.RecvBytes(), "");
  EXPECT_TRUE(Is(c.RecvBytes().status(), PyExc::kEOFError));
}

TEST(ConnectionTest, ClosedConnectionRefusesEverything) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  auto& [a, b] = *pipe;
  a.Close();
  a.Close();
  EXPECT_TRUE(a.closed());
  EXPECT_EQ(a.fileno(), -1);
  EXPECT_EQ(a.SendBytes("x").message(), "OSError: handle is closed");
  EXPECT_EQ(a.RecvBytes().status().message(), "OSError: handle is closed");
  EXPECT_EQ(a.Poll().status().message(), "OSError: handle is closed");
  Connection empty;
  EXPECT_TRUE(empty.closed());
  EXPECT_FALSE(b.closed());
}

TEST(ConnectionTest, SendToDeadPeerIsBrokenPipe) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  auto& [a, b] = *pipe;
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok());
  if (*pid == 0) {
    ::pause();
    _exit(0);
  }
  b.Close();
  ASSERT_TRUE(Kill(*pid, SIGKILL).ok());
  EXPECT_EQ(WaitPid(*pid)->python_returncode(), -SIGKILL);
  absl::Status s = a.SendBytes("anyone?");
  EXPECT_TRUE(Is(s, PyExc::kBrokenPipeError)) << s;
  EXPECT_TRUE(Is(a.RecvBytes().status(), PyExc::kEOFError));
}

// A one-way Pipe() is an os.pipe, where a dead reader raises SIGPIPE, whose
// default action kills: SendBytes must return BrokenPipeError instead, even
// with SIGPIPE at SIG_DFL, and leave no SIGPIPE pending.
TEST(ConnectionTest, SendOnOneWayPipeToClosedReaderIsBrokenPipeNotSigpipe) {
  struct sigaction dfl = {}, old;
  dfl.sa_handler = SIG_DFL;
  ASSERT_EQ(::sigaction(SIGPIPE, &dfl, &old), 0);
  {
    auto pipe = Pipe(false);
    ASSERT_TRUE(pipe.ok());
    auto& [reader, writer] = *pipe;
    reader.Close();
    absl::Status s = writer.SendBytes(std::string(100000, 'x'));
    EXPECT_TRUE(Is(s, PyExc::kBrokenPipeError)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "[Errno 32]")) << s;
    sigset_t pending;
    sigpending(&pending);
    EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  }
  ::sigaction(SIGPIPE, &old, nullptr);
}

// The caller's own SIGPIPE state is left alone: with SIGPIPE blocked, a
// SIGPIPE pending from before stays pending, the one the send caused does not
// stay, and the mask is as it was.
TEST(ConnectionTest, SendToClosedReaderKeepsCallersBlockedSigpipe) {
  sigset_t pipe_only, old_mask;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask), 0);
  for (bool pending_before : {false, true}) {
    SCOPED_TRACE(pending_before ? "pending before" : "not pending before");
    auto pipe = Pipe(false);
    ASSERT_TRUE(pipe.ok());
    auto& [reader, writer] = *pipe;
    reader.Close();
    if (pending_before) {
      ASSERT_EQ(::raise(SIGPIPE), 0);
    }
    EXPECT_TRUE(Is(writer.SendBytes("x"), PyExc::kBrokenPipeError));
    sigset_t pending, mask;
    sigpending(&pending);
    EXPECT_EQ(sigismember(&pending, SIGPIPE), pending_before ? 1 : 0);
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    EXPECT_TRUE(sigismember(&mask, SIGPIPE));
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &zero) > 0) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

// Runs `script` in python3 with `conn` as fd 3; returns the child's pid.
pid_t StartPython(Connection& conn, const char* script) {
  absl::StatusOr<pid_t> pid = Fork();
  if (!pid.ok()) return -1;
  if (*pid == 0) {
    int fd = conn.fileno();
    if (fd == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else {
      ::dup2(fd, 3);  // The copy is not close-on-exec.
    }
    ::execlp("python3", "python3", "-c", script, static_cast<char*>(nullptr));
    _exit(127);
  }
  return *pid;
}

constexpr char kEchoReversed[] = R"(
from multiprocessing.connection import Connection
c = Connection(3)
while True:
    try:
        m = c.recv_bytes()
    except EOFError:
        break
    c.send_bytes(m[::-1])
)";

TEST(ConnectionTest, InteroperatesWithPythonConnection) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  auto& [mine, theirs] = *pipe;
  pid_t pid = StartPython(theirs, kEchoReversed);
  ASSERT_GT(pid, 0);
  theirs.Close();
  // Sizes around CPython's 16384 split between header and body writes.
  for (size_t n : {size_t{0}, size_t{1}, size_t{5}, size_t{16384}, size_t{16385}, size_t{1} << 20,
                   size_t{3} << 20}) {
    std::string msg = Pattern(n);
    ASSERT_TRUE(mine.SendBytes(msg).ok());
    absl::StatusOr<std::string> back = mine.RecvBytes();
    ASSERT_TRUE(back.ok()) << back.status();
    std::string want(msg.rbegin(), msg.rend());
    EXPECT_TRUE(*back == want) << "size " << n;
  }
  mine.Close();
  EXPECT_EQ(WaitPid(pid)->python_returncode(), 0);
}

TEST(ConnectionTest, PythonPeerClosingIsEOFError) {
  auto pipe = Pipe(false);
  ASSERT_TRUE(pipe.ok());
  auto& [r, w] = *pipe;
  pid_t pid = StartPython(w, R"(
from multiprocessing.connection import Connection
c = Connection(3, readable=False)
c.send_bytes(b"one")
c.send_bytes(b"x" * 100000)
c.close()
)");
  ASSERT_GT(pid, 0);
  w.Close();
  EXPECT_EQ(*r.RecvBytes(), "one");
  EXPECT_EQ(*r.RecvBytes(), std::string(100000, 'x'));
  EXPECT_TRUE(Is(r.RecvBytes().status(), PyExc::kEOFError));
  EXPECT_EQ(WaitPid(pid)->python_returncode(), 0);
}

TEST(ConnectionTest, SendBytesChunksRejectsOverrun) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  auto& [a, b] = *pipe;
  int calls = 0;
  absl::Status s = a.SendBytesChunks(4, [&]() -> absl::string_view { return ++calls == 1 ? "abc" : "de"; });
  EXPECT_TRUE(Is(s, PyExc::kValueError)) << s;
  EXPECT_TRUE(Is(a.SendBytesChunks(4, []() -> absl::string_view { return ""; }), PyExc::kValueError));
  auto fresh = Pipe();
  ASSERT_TRUE(fresh.ok());
  calls = 0;
  ASSERT_TRUE(fresh->first.SendBytesChunks(5, [&]() -> absl::string_view { return ++calls == 1 ? "ab" : "cde"; }).ok());
  EXPECT_EQ(*fresh->second.RecvBytes(), "abcde");
  (void)b;
}

// A message over 4 GiB, streamed: the child generates it chunk by chunk and
// the parent checks every byte as it arrives, so neither side holds it.
TEST(ConnectionTest, StreamsMessageOver4GiB) {
  constexpr uint64_t kSize = (uint64_t{4} << 30) + 12345;
  constexpr size_t kPeriod = 251;
  constexpr size_t kChunk = kPeriod * 4096;
  std::string ref(kChunk + kPeriod, '\0');
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = static_cast<char>(i % kPeriod);
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  auto& [a, b] = *pipe;
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok());
  if (*pid == 0) {
    b.Close();
    uint64_t sent = 0;
    absl::Status s = a.SendBytesChunks(kSize, [&]() {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, kSize - sent));
      sent += n;
      return absl::string_view(ref.data(), n);  // Each chunk starts at a multiple of kPeriod.
    });
    _exit(s.ok() ? 0 : 1);
  }
  a.Close();
  uint64_t offset = 0;
  bool same = true;
  absl::StatusOr<uint64_t> got = b.RecvBytesTo([&](absl::string_view piece) {
    while (!piece.empty()) {
      size_t n = std::min(piece.size(), kChunk);
      same = same && std::memcmp(piece.data(), ref.data() + offset % kPeriod, n) == 0;
      offset += n;
      piece.remove_prefix(n);
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, kSize);
  EXPECT_EQ(offset, kSize);
  EXPECT_TRUE(same);
  EXPECT_TRUE(Is(b.RecvBytes().status(), PyExc::kEOFError));
  EXPECT_EQ(WaitPid(*pid)->python_returncode(), 0);
}

TEST(ConnectionTest, RecvBytesToStopsOnSinkError) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok());
  ASSERT_TRUE(pipe->first.SendBytes("abc").ok());
  absl::StatusOr<uint64_t> got = pipe->second.RecvBytesTo(
      [](absl::string_view) { return PyError(PyExc::kValueError, "sink full"); });
  EXPECT_EQ(got.status().message(), "ValueError: sink full");
  ASSERT_TRUE(pipe->first.SendBytes("abcdef").ok());
  EXPECT_EQ(pipe->second.RecvBytesTo([](absl::string_view) { return absl::OkStatus(); }, 3).status().message(),
            "OSError: bad message length");
}

}  // namespace
}  // namespace mp
