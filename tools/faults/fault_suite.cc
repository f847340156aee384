// The fault-injection suite of issue 8: each case injects one fault into mp's
// primitives many times and checks the DEFINED OUTCOME written above it.
// Every trial runs in its own forked process under a watchdog, so a hang, a
// crash (a signal such as SIGPIPE) or an rlimit cannot spill into the next
// trial; the trial process also checks that the trial left no fd open and no
// child (zombie or running) behind (testing/leak_check.h).
//
// Usage: fault_suite [--reduced] [--case=NAME]
// Prints a table of case, trials, passed (with the first failures' reasons)
// and exits 1 if any trial failed.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mp/connection.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"
#include "mp/os.h"
#include "mp/pool.h"
#include "mp/process.h"
#include "mp/queue.h"
#include "mp/serialize.h"
#include "mp/subprocess.h"
#include "testing/leak_check.h"
#include "mp/testing/sanitizers.h"
#include "mp/testing/queue_kill_round.h"
#include "tools/faults/sync_cases.h"

namespace mp::faults {
namespace {

namespace sp = mp::subprocess;

// Returns "" if `status` is the error `exc` with every piece of `parts` in
// its message, else why not.
std::string ExpectError(const absl::Status& status, PyExc exc, std::vector<std::string> parts,
                        absl::string_view what) {
  if (status.ok()) return absl::StrCat(std::string(what), ": succeeded, expected ", std::string(PyExcName(exc)));
  if (!Is(status, exc)) return absl::StrCat(std::string(what), ": ", status.ToString(), " is not ", std::string(PyExcName(exc)));
  for (const std::string& p : parts) {
    if (!absl::StrContains(status.message(), p)) {
      return absl::StrCat(std::string(what), ": '", std::string(status.message()), "' does not mention '", p, "'");
    }
  }
  return "";
}

#define RETURN_IF_FAILED(expr)       \
  do {                               \
    std::string _r = (expr);         \
    if (!_r.empty()) return _r;      \
  } while (0)

// ---------------------------------------------------------------------------
// killed_workers: a Pool worker is SIGKILLed while it runs a task.
// DEFINED OUTCOME: that task's Get() is WorkerLostError naming the worker's
// pid and "signal 9"; the 20 other tasks (some queued on the same worker)
// return their right values; Close()+Join() return OK.

int g_started_fd = -1;

int ReportPidThenSleep(int) {
  pid_t me = ::getpid();
  (void)!::write(g_started_fd, &me, sizeof me);
  for (;;) ::pause();
}

int AddOne(int x) { return x + 1; }

std::string KilledWorker(int) {
  absl::StatusOr<internal::PipeFds> started = internal::MakePipe();
  if (!started.ok()) return started.status().ToString();
  g_started_fd = started->write.get();  // Workers are forks: they see it.
  Pool pool(2);
  if (!pool.status().ok()) return pool.status().ToString();
  absl::StatusOr<AsyncResult<int>> victim = pool.ApplyAsync(ReportPidThenSleep, std::tuple(0));
  if (!victim.ok()) return victim.status().ToString();
  std::vector<AsyncResult<int>> others;
  for (int k = 0; k < 20; ++k) {
    absl::StatusOr<AsyncResult<int>> r = pool.ApplyAsync(AddOne, std::tuple(k));
    if (!r.ok()) return r.status().ToString();
    others.push_back(*std::move(r));
  }
  absl::StatusOr<bool> ready = internal::PollReadable(started->read.get(), absl::Now() + absl::Seconds(60));
  if (!ready.ok() || !*ready) return "the victim task never started";
  pid_t pid = 0;
  if (::read(started->read.get(), &pid, sizeof pid) != sizeof pid) return "short read of the victim's pid";
  if (!Kill(pid, SIGKILL).ok()) return "kill failed";
  absl::StatusOr<int> v = victim->Get(absl::Seconds(60));
  RETURN_IF_FAILED(ExpectError(v.status(), PyExc::kWorkerLostError, {absl::StrCat("pid ", pid), "signal 9"},
                               "the killed task"));
  for (int k = 0; k < 20; ++k) {
    absl::StatusOr<int> r = others[k].Get(absl::Seconds(60));
    if (!r.ok() || *r != k + 1) return absl::StrCat("task ", k, ": ", r.ok() ? std::to_string(*r) : r.status().ToString());
  }
  if (absl::Status s = pool.Close(); !s.ok()) return s.ToString();
  if (absl::Status s = pool.Join(); !s.ok()) return absl::StrCat("Join: ", s.ToString());
  return "";
}

// ---------------------------------------------------------------------------
// queue_peer_kills: see mp/testing/queue_kill_round.h for the defined outcome.
std::string QueuePeerKills(int trial) {
  return testing::RunQueueKillRound(0x5eed0000u + static_cast<uint32_t>(trial)).failure;
}

// ---------------------------------------------------------------------------
// exec_failures: Popen of a missing program, of a file without exec
// permission, and with a cwd that does not exist.
// DEFINED OUTCOME: Start() returns FileNotFoundError "[Errno 2]" /
// PermissionError "[Errno 13]" / FileNotFoundError "[Errno 2]", each naming the
// path (the program, or the cwd); no child is left (checked by the harness).
std::string ExecFailures(int trial) {
  std::string missing = absl::StrCat("/nonexistent/mp-fault-suite-", trial);
  RETURN_IF_FAILED(ExpectError(sp::Popen::Start({missing}).status(), PyExc::kFileNotFoundError,
                               {"[Errno 2]", missing}, "missing program"));
  RETURN_IF_FAILED(ExpectError(sp::Run({"mp-fault-suite-no-such-program"}).status(), PyExc::kFileNotFoundError,
                               {"[Errno 2]", "mp-fault-suite-no-such-program"}, "missing program on PATH"));
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/mp-fault-noexec-XXXXXX");
  int fd = ::mkstemp(path.data());
  if (fd < 0) return "mkstemp failed";
  (void)!::write(fd, "#!/bin/sh\nexit 0\n", 17);
  ::fchmod(fd, 0644);
  ::close(fd);
  std::string r = ExpectError(sp::Popen::Start({path}).status(), PyExc::kPermissionError, {"[Errno 13]", path},
                              "non-executable program");
  ::unlink(path.c_str());
  RETURN_IF_FAILED(r);
  std::string cwd = absl::StrCat("/nonexistent/cwd-", trial);
  RETURN_IF_FAILED(ExpectError(sp::Popen::Start({"/bin/true"}, {.cwd = cwd}).status(), PyExc::kFileNotFoundError,
                               {"[Errno 2]", cwd}, "missing cwd"));
  return "";
}

// ---------------------------------------------------------------------------
// emfile: RLIMIT_NOFILE is lowered to what is open now plus a few, and the
// table is filled, leaving 0..5 slots free in turn.
// DEFINED OUTCOME: Pipe(), Process::Start(), Pool(2) and Popen::Start (3
// pipes) each either succeed (enough slots; never with none free) or return
// OSError "[Errno 24]"; a failure leaves exactly as many fds open as before
// it (and no child); once the fillers are closed and the limit restored,
// Pipe, Process and Run work again.

// Runs the three operations; returns "" or why the outcome was not defined.
std::string TryAllWithFds(int free_slots) {
  auto fd_count = [] {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd) n += ::fcntl(fd, F_GETFD) >= 0;
    return n;
  };
  auto check = [&](absl::Status s, const char* what, int before) -> std::string {
    // With no slot free, every operation needs one: success would mean the
    // limit was not applied and the case proved nothing.
    if (s.ok() && free_slots == 0) return absl::StrCat(what, " succeeded with no fd free");
    if (s.ok()) return "";
    if (!Is(s, PyExc::kOSError) || !absl::StrContains(s.message(), "[Errno 24]")) {
      return absl::StrCat(what, " with ", free_slots, " free fds: ", s.ToString(), " (expected EMFILE)");
    }
    if (fd_count() != before) return absl::StrCat(what, " failed with EMFILE but leaked ", fd_count() - before, " fds");
    return "";
  };
  {
    int before = fd_count();
    absl::StatusOr<std::pair<Connection, Connection>> p = Pipe(false);
    RETURN_IF_FAILED(check(p.status(), "Pipe()", before));
  }
  {
    int before = fd_count();
    Process proc([] { _exit(0); });
    absl::Status s = proc.Start();
    RETURN_IF_FAILED(check(s, "Process::Start", before));
    if (s.ok() && !proc.Join().ok()) return "Join failed";
  }
  {
    int before = fd_count();
    absl::Status s;
    {
      Pool pool(2);
      s = pool.status();
      if (s.ok()) {
        absl::StatusOr<int> v = pool.Apply(AddOne, std::tuple(1));
        if (!v.ok() || *v != 2) return absl::StrCat("Pool with ", free_slots, " free fds: Apply failed");
      }
    }
    RETURN_IF_FAILED(check(s, "Pool", before));
  }
  {
    int before = fd_count();
    absl::StatusOr<sp::Popen> p =
        sp::Popen::Start({"/bin/true"}, {.std_in = sp::kPipe, .std_out = sp::kPipe, .std_err = sp::kPipe});
    RETURN_IF_FAILED(check(p.status(), "Popen::Start", before));
    if (p.ok() && !p->Communicate().ok()) return "Communicate failed";
  }
  return "";
}

std::string Emfile(int) {
  struct rlimit old;
  ::getrlimit(RLIMIT_NOFILE, &old);
  int highest = 0;
  for (const auto& [fd, target] : test_support::OpenFds()) highest = std::max(highest, fd);
  struct rlimit small = old;
  small.rlim_cur = static_cast<rlim_t>(highest + 1 + 16);
  if (::setrlimit(RLIMIT_NOFILE, &small) != 0) return "setrlimit failed";
  std::vector<int> fillers;
  for (;;) {
    int fd = ::dup(2);
    if (fd < 0) break;
    fillers.push_back(fd);
  }
  std::string r;
  for (int free_slots = 0; free_slots <= 5 && r.empty(); ++free_slots) {
    r = TryAllWithFds(free_slots);
    if (!fillers.empty()) {
      ::close(fillers.back());
      fillers.pop_back();
    }
  }
  for (int fd : fillers) ::close(fd);
  ::setrlimit(RLIMIT_NOFILE, &old);
  RETURN_IF_FAILED(r);
  // Works again.
  absl::StatusOr<std::pair<Connection, Connection>> p = Pipe(false);
  if (!p.ok()) return absl::StrCat("Pipe after raising the limit: ", p.status().ToString());
  Process proc([] { _exit(0); });
  if (absl::Status s = proc.Start(); !s.ok()) return absl::StrCat("Start after raising the limit: ", s.ToString());
  if (!proc.Join().ok() || proc.exitcode() != 0) return "child after raising the limit did not exit 0";
  absl::StatusOr<sp::CompletedProcess> c = sp::Run({"/bin/echo", "ok"}, {.capture_output = true});
  if (!c.ok() || c->std_out != "ok\n") return "Run after raising the limit failed";
  return "";
}

// ---------------------------------------------------------------------------
// memory: RLIMIT_AS is lowered to the current address-space size plus 32 MiB.
// DEFINED OUTCOME: Serialize of a 64 MiB string returns MemoryError (it
// returned TypeError "std::bad_alloc" before this suite), never aborts;
// Process::Start and Popen::Start either work (fork/exec need no new address
// space here) or return OSError "[Errno 12]"; with only 1 MiB headroom, a
// Pool either works or returns RuntimeError "can't start new thread" (it
// aborted on std::system_error before this suite) and leaves no worker; no
// crash, no hang.
std::string Memory(int) {
  std::string big(64 << 20, 'm');
  struct rlimit old;
  ::getrlimit(RLIMIT_AS, &old);
  if (!testing::LimitAddressSpace(32 << 20)) return "setrlimit failed";
  std::string r;
  absl::StatusOr<std::string> bytes = Serialize(big);
  r = ExpectError(bytes.status(), PyExc::kMemoryError, {"out of memory"}, "Serialize of 64 MiB");
  bytes = std::string();
  Process proc([] { _exit(0); });
  absl::Status s = proc.Start();
  if (s.ok()) {
    if (!proc.Join().ok() || proc.exitcode() != 0) r = "child under RLIMIT_AS did not exit 0";
  } else if (!absl::StrContains(s.message(), "[Errno 12]")) {
    r = absl::StrCat("Process::Start: ", s.ToString());
  }
  absl::StatusOr<sp::CompletedProcess> c = sp::Run({"/bin/true"});
  if (!c.ok() && !absl::StrContains(c.status().message(), "[Errno 12]")) r = absl::StrCat("Run: ", c.status().ToString());
  // No headroom at all: a Pool's handler thread cannot get its stack.
  (void)testing::LimitAddressSpace(1 << 20);
  {
    Pool pool(2);
    if (pool.status().ok()) {
      absl::StatusOr<int> v = pool.Apply(AddOne, std::tuple(1));
      if (!v.ok() || *v != 2) r = absl::StrCat("Pool under RLIMIT_AS: ", v.ok() ? std::to_string(*v) : v.status().ToString());
    } else if (!Is(pool.status(), PyExc::kRuntimeError) || !absl::StrContains(pool.status().message(), "can't start new thread")) {
      r = absl::StrCat("Pool under RLIMIT_AS: ", pool.status().ToString());
    }
  }
  ::setrlimit(RLIMIT_AS, &old);
  return r;
}

// ---------------------------------------------------------------------------
// sigpipe: with SIGPIPE at its default action (which kills), we write to a
// Connection whose reader is closed or whose reading process died, and feed
// 1 MiB to a child that never reads stdin.
// DEFINED OUTCOME: SendBytes returns BrokenPipeError (duplex and one-way
// pipes); Communicate returns OK with returncode 0 (EPIPE ignored, as
// CPython); this process is not killed (the harness sees a normal exit).
std::string Sigpipe(int) {
  ::signal(SIGPIPE, SIG_DFL);
  for (bool duplex : {true, false}) {
    absl::StatusOr<std::pair<Connection, Connection>> p = Pipe(duplex);
    if (!p.ok()) return p.status().ToString();
    Connection& reader = p->first;
    Connection& writer = p->second;
    Process child([&reader] { (void)reader.RecvBytes(); });
    if (absl::Status s = child.Start(); !s.ok()) return s.ToString();
    reader.Close();
    if (!writer.SendBytes("one").ok()) return "first message failed";
    if (!child.Join().ok()) return "join failed";
    absl::Status s = writer.SendBytes(std::string(1 << 20, 'p'));
    RETURN_IF_FAILED(ExpectError(s, PyExc::kBrokenPipeError, {"[Errno 32]"},
                                 duplex ? "send to a dead peer (duplex)" : "send to a dead peer (one-way)"));
  }
  absl::StatusOr<sp::Popen> p = sp::Popen::Start({"/bin/true"}, {.std_in = sp::kPipe});
  if (!p.ok()) return p.status().ToString();
  if (!p->Wait().ok()) return "wait failed";
  absl::StatusOr<sp::Output> out = p->Communicate(std::string(1 << 20, 'i'));
  if (!out.ok()) return absl::StrCat("Communicate to an exited child: ", out.status().ToString());
  if (p->returncode() != 0) return "returncode not 0";
  return "";
}

// ---------------------------------------------------------------------------
// eintr_storm: SIGALRM every 100 µs, handler installed without SA_RESTART, so
// every blocking system call is interrupted over and over.
// DEFINED OUTCOME: Pool::Map (2000 items), Process::Join (with and without
// a timeout), Queue Get(timeout) on an empty queue (Empty, not before the
// timeout), Popen::Wait, Popen::Communicate (1 MiB through cat), Queue
// Put/Get (2000 items each way with a child) and Connection Recv (200
// messages up to 256 KiB) all complete with exactly the right values;
// timeouts are neither cut short nor lost.
// SIGALRM lands on any thread (the Pool's handler thread too), so the count
// is a lock-free atomic, not a sig_atomic_t: those are only safe within one
// thread.
std::atomic<int> g_alarms{0};
static_assert(std::atomic<int>::is_always_lock_free);
void OnAlarm(int) { g_alarms.fetch_add(1, std::memory_order_relaxed); }

std::string Pattern(int i, size_t n) {
  std::string s(n, '\0');
  for (size_t k = 0; k < n; ++k) s[k] = static_cast<char>('a' + (i + k) % 26);
  return s;
}

int Square(int x) { return x * x; }

std::string EintrOps() {
  {
    Pool pool(2);
    if (!pool.status().ok()) return pool.status().ToString();
    std::vector<int> in(2000);
    for (int i = 0; i < 2000; ++i) in[i] = i;
    absl::StatusOr<std::vector<int>> out = pool.Map(Square, in, 7);
    if (!out.ok()) return absl::StrCat("Pool::Map: ", out.status().ToString());
    for (int i = 0; i < 2000; ++i) {
      if ((*out)[i] != i * i) return absl::StrCat("Pool::Map: item ", i, " is ", (*out)[i]);
    }
    if (!pool.Close().ok() || !pool.Join().ok()) return "Pool Close/Join failed";
  }
  {
    absl::StatusOr<Queue<int>> q = Queue<int>::Create();
    if (!q.ok()) return q.status().ToString();
    absl::Time start = absl::Now();
    absl::StatusOr<int> v = q->Get(true, absl::Milliseconds(50));
    if (!Is(v.status(), PyExc::kQueueEmpty)) return absl::StrCat("Get(timeout) on empty: ", v.status().ToString());
    if (absl::Now() - start < absl::Milliseconds(45)) return "Get(timeout) returned Empty before its timeout";
    Process p([] { ::usleep(300000); });
    if (absl::Status s = p.Start(); !s.ok()) return s.ToString();
    start = absl::Now();
    if (absl::Status s = p.Join(absl::Milliseconds(50)); !s.ok()) return absl::StrCat("Join(timeout): ", s.ToString());
    if (absl::Now() - start < absl::Milliseconds(45)) return "Join(timeout) returned before its timeout";
    if (p.exitcode().has_value() && *p.exitcode() != 0) return "child ended early";
    if (!p.Join().ok() || p.exitcode() != 0) return "Join after Join(timeout) failed";
  }
  {
    Process p([] { ::usleep(20000); });
    if (absl::Status s = p.Start(); !s.ok()) return s.ToString();
    if (absl::Status s = p.Join(); !s.ok()) return absl::StrCat("Join: ", s.ToString());
    if (p.exitcode() != 0) return "Join: exitcode not 0";
  }
  {
    absl::StatusOr<sp::Popen> p = sp::Popen::Start({"/bin/sleep", "0.02"});
    if (!p.ok()) return p.status().ToString();
    absl::StatusOr<int> rc = p->Wait();
    if (!rc.ok() || *rc != 0) return absl::StrCat("Wait: ", rc.ok() ? std::to_string(*rc) : rc.status().ToString());
  }
  {
    std::string in = Pattern(3, 1 << 20);
    absl::StatusOr<sp::Popen> p = sp::Popen::Start({"/bin/cat"}, {.std_in = sp::kPipe, .std_out = sp::kPipe});
    if (!p.ok()) return p.status().ToString();
    absl::StatusOr<sp::Output> out = p->Communicate(in);
    if (!out.ok()) return absl::StrCat("Communicate: ", out.status().ToString());
    if (out->std_out != in || p->returncode() != 0) return "Communicate: output differs from input";
  }
  {
    absl::StatusOr<Queue<int>> to_child = Queue<int>::Create(16);
    absl::StatusOr<Queue<int>> from_child = Queue<int>::Create(16);
    if (!to_child.ok() || !from_child.ok()) return "Queue::Create failed";
    Process p([&] {
      for (int i = 0; i < 2000; ++i) {
        absl::StatusOr<int> v = to_child->Get();
        if (!v.ok() || *v != i) _exit(3);
        if (!from_child->Put(i * 2).ok()) _exit(4);
      }
      _exit(0);
    });
    if (absl::Status s = p.Start(); !s.ok()) return s.ToString();
    for (int i = 0; i < 2000; ++i) {
      if (absl::Status s = to_child->Put(i); !s.ok()) return absl::StrCat("Queue Put: ", s.ToString());
      absl::StatusOr<int> v = from_child->Get();
      if (!v.ok() || *v != i * 2) return absl::StrCat("Queue Get: ", v.ok() ? std::to_string(*v) : v.status().ToString());
    }
    if (!p.Join().ok() || p.exitcode() != 0) return "queue child did not exit 0";
  }
  {
    absl::StatusOr<std::pair<Connection, Connection>> c = Pipe(true);
    if (!c.ok()) return c.status().ToString();
    Process p([&] {
      for (int i = 0; i < 200; ++i) {
        if (!c->second.SendBytes(Pattern(i, static_cast<size_t>(i) * 1297 % (256 << 10))).ok()) _exit(3);
      }
      _exit(0);
    });
    if (absl::Status s = p.Start(); !s.ok()) return s.ToString();
    c->second.Close();
    for (int i = 0; i < 200; ++i) {
      absl::StatusOr<std::string> m = c->first.RecvBytes();
      if (!m.ok()) return absl::StrCat("Recv ", i, ": ", m.status().ToString());
      if (*m != Pattern(i, static_cast<size_t>(i) * 1297 % (256 << 10))) return absl::StrCat("Recv ", i, ": wrong bytes");
    }
    if (!p.Join().ok() || p.exitcode() != 0) return "connection child did not exit 0";
  }
  return "";
}

std::string EintrStorm(int) {
  struct sigaction sa = {};
  sa.sa_handler = OnAlarm;
  sa.sa_flags = 0;  // No SA_RESTART: every slow call sees EINTR.
  struct sigaction old;
  ::sigaction(SIGALRM, &sa, &old);
  struct itimerval every = {{0, 100}, {0, 100}}, off = {};
  g_alarms.store(0);
  ::setitimer(ITIMER_REAL, &every, nullptr);
  std::string r = EintrOps();
  ::setitimer(ITIMER_REAL, &off, nullptr);
  ::sigaction(SIGALRM, &old, nullptr);
  // The storm must have happened for the case to prove anything.
  if (r.empty() && g_alarms.load() < 100) r = absl::StrCat("only ", g_alarms.load(), " SIGALRMs were delivered");
  return r;
}

// ---------------------------------------------------------------------------
// full_pipe: a child that prints one line and then never reads stdin, while
// we Communicate 64 MiB to it with a 0.5 s timeout.
// DEFINED OUTCOME: no deadlock: each Communicate returns TimeoutExpired in
// about its timeout, carrying the output so far (a prefix of "partial\n",
// all of it within 20 tries); after Kill(), Communicate returns "partial\n"
// and returncode -9.
std::string FullPipe(int) {
  absl::StatusOr<sp::Popen> p = sp::Popen::Start({"/bin/sh", "-c", "echo partial; exec sleep 60"},
                                                 {.std_in = sp::kPipe, .std_out = sp::kPipe});
  if (!p.ok()) return p.status().ToString();
  std::string input(64 << 20, 'f');
  std::string seen;
  for (int attempt = 0; attempt < 20 && seen != "partial\n"; ++attempt) {
    absl::Time start = absl::Now();
    absl::StatusOr<sp::Output> out = p->Communicate(input, absl::Milliseconds(500));
    if (absl::Now() - start > absl::Seconds(20)) return "Communicate overran its 0.5 s timeout by > 20 s";
    RETURN_IF_FAILED(ExpectError(out.status(), PyExc::kTimeoutExpired, {}, "Communicate to a non-reader"));
    std::optional<sp::SubprocessErrorInfo> info = sp::GetSubprocessErrorInfo(out.status());
    if (!info) return "TimeoutExpired without SubprocessErrorInfo";
    if (!absl::StartsWith("partial\n", info->output)) return absl::StrCat("TimeoutExpired output '", info->output, "'");
    seen = info->output;
  }
  if (seen != "partial\n") return "partial output never arrived";
  if (!p->Kill().ok()) return "kill failed";
  absl::StatusOr<sp::Output> out = p->Communicate();
  if (!out.ok()) return absl::StrCat("Communicate after kill: ", out.status().ToString());
  if (out->std_out != "partial\n") return absl::StrCat("final output '", out->std_out, "'");
  if (p->returncode() != -9) return absl::StrCat("returncode ", p->returncode().value_or(999));
  return "";
}

// ---------------------------------------------------------------------------
// closes_stdout_early: the child copies 100 bytes of its stdin to stdout, then
// closes both and exits 7 a moment later, while we Communicate 8 MiB.
// DEFINED OUTCOME: Communicate returns OK with exactly the 100 bytes written
// (the rest of the input meets EPIPE, ignored as CPython does); returncode 7.
std::string ClosesStdoutEarly(int) {
  absl::StatusOr<sp::Popen> p =
      sp::Popen::Start({"/bin/sh", "-c", "head -c 100; exec 0<&- 1>&-; sleep 0.05; exit 7"},
                       {.std_in = sp::kPipe, .std_out = sp::kPipe});
  if (!p.ok()) return p.status().ToString();
  std::string input = Pattern(0, 8 << 20);
  absl::StatusOr<sp::Output> out = p->Communicate(input, absl::Seconds(60));
  if (!out.ok()) return absl::StrCat("Communicate: ", out.status().ToString());
  if (out->std_out != input.substr(0, 100)) return absl::StrCat("got ", out->std_out.size(), " bytes, not the first 100");
  if (p->returncode() != 7) return absl::StrCat("returncode ", p->returncode().value_or(999));
  return "";
}

// ---------------------------------------------------------------------------

// Sanitizers reserve terabytes of address space, so RLIMIT_AS cannot apply.
constexpr bool kSanitized = mp::testing::kSanitizerReservesAddressSpace;

struct Case {
  const char* name;
  int full_trials;
  int reduced_trials;
  std::string (*trial)(int);
  bool needs_address_limit = false;
  bool needs_full_fd_table = false;
};

const Case kCases[] = {
    {"killed_workers", 100, 5, KilledWorker},
    {"queue_peer_kills", 1000, 30, QueuePeerKills},
    {"exec_failures", 100, 10, ExecFailures},
    {"emfile", 50, 5, Emfile, false, true},
    {"memory", 50, 5, Memory, true},
    {"sigpipe", 100, 10, Sigpipe},
    {"eintr_storm", 20, 3, EintrStorm},
    {"full_pipe", 20, 3, FullPipe},
    {"closes_stdout_early", 100, 10, ClosesStdoutEarly},
    // Issue 19, in sync_cases.cc.
    {"lock_holder_kills", 1000, 30, LockHolderKills},
    {"barrier_party_kills", 200, 10, BarrierPartyKills},
    {"shm_creator_kills", 100, 10, ShmCreatorKills},
};

constexpr char kDoneMarker[] = "done:";
constexpr absl::Duration kWatchdog = absl::Seconds(120);

// Runs one trial in a child process; "" or why it failed.
std::string RunTrial(const Case& c, int trial) {
  absl::StatusOr<internal::PipeFds> result = internal::MakePipe();
  if (!result.ok()) return result.status().ToString();
  absl::StatusOr<pid_t> pid = Fork();
  if (!pid.ok()) return pid.status().ToString();
  if (*pid == 0) {
    result->read.reset();
    std::map<int, std::string> before = test_support::OpenFds();
    std::string why = c.trial(trial);
    std::string children = test_support::ReapLeftoverChildren();
    if (!children.empty()) absl::StrAppend(&why, why.empty() ? "" : "; ", "left children: ", children);
    for (const auto& [fd, target] : test_support::OpenFds()) {
      auto it = before.find(fd);
      if (it == before.end() || it->second != target) absl::StrAppend(&why, why.empty() ? "" : "; ", "leaked fd ", fd, " -> ", target);
    }
    if (why.size() > 2000) why.resize(2000);
    // The marker tells a finished trial from a process that exited early.
    why = absl::StrCat(kDoneMarker, why);
    (void)internal::WriteFull(result->write.get(), why.data(), why.size());
    _exit(0);
  }
  result->write.reset();
  absl::StatusOr<std::optional<ExitStatus>> st = WaitPidFor(*pid, kWatchdog);
  if (!st.ok()) return st.status().ToString();
  if (!st->has_value()) {
    (void)Kill(*pid, SIGKILL);
    (void)WaitPid(*pid);
    test_support::ReapLeftoverChildren();
    return absl::StrCat("hang: no result within ", absl::FormatDuration(kWatchdog));
  }
  std::string why;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(result->read.get(), buf, sizeof buf)) > 0) why.append(buf, static_cast<size_t>(n));
  if ((*st)->python_returncode() != 0) {
    return absl::StrCat("trial process ", (*st)->ToString(), why.empty() ? "" : ": ", why);
  }
  if (!absl::StartsWith(why, kDoneMarker)) return absl::StrCat("trial process exited 0 before finishing: '", why, "'");
  return why.substr(std::strlen(kDoneMarker));
}

int Main(int argc, char** argv) {
  bool reduced = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--reduced") {
      reduced = true;
    } else if (absl::StartsWith(a, "--case=")) {
      only = a.substr(7);
    } else {
      std::fprintf(stderr, "usage: %s [--reduced] [--case=NAME]\n", argv[0]);
      return 2;
    }
  }
  std::printf("%-22s %7s %7s %10s  %s\n", "case", "trials", "passed", "time", "failures");
  bool all_ok = true;
  for (const Case& c : kCases) {
    if (!only.empty() && only != c.name) continue;
    if (c.needs_address_limit && kSanitized) {
      std::printf("%-22s %7s %7s %10s  %s\n", c.name, "-", "-", "-", "skipped: sanitizer build");
      continue;
    }
    if (c.needs_full_fd_table && testing::kSanitizerNeedsFreeFds) {
      std::printf("%-22s %7s %7s %10s  %s\n", c.name, "-", "-", "-", "skipped: UBSan's vptr check needs free fds");
      continue;
    }
    int trials = reduced ? c.reduced_trials : c.full_trials, passed = 0;
    std::vector<std::string> failures;
    absl::Time start = absl::Now();
    for (int t = 0; t < trials; ++t) {
      std::string why = RunTrial(c, t);
      if (why.empty()) {
        ++passed;
      } else if (failures.size() < 3) {
        failures.push_back(absl::StrCat("trial ", t, ": ", why));
      }
    }
    all_ok &= passed == trials;
    std::printf("%-22s %7d %7d %9.1fs  %s\n", c.name, trials, passed, absl::ToDoubleSeconds(absl::Now() - start),
                failures.empty() ? "" : failures[0].c_str());
    for (size_t k = 1; k < failures.size(); ++k) std::printf("%51s%s\n", "", failures[k].c_str());
    std::fflush(stdout);
  }
  std::printf("%s\n", all_ok ? "ALL PASSED" : "FAILURES");
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace mp::faults

int main(int argc, char** argv) { return mp::faults::Main(argc, argv); }
