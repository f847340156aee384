// The spawn mechanism's signal dispositions, with clone3's
// CLONE_CLEAR_SIGHAND and without it (refused by a seccomp filter, as on a
// kernel before 5.5): no handler of the parent's runs in the child before it
// execs (it would run on the parent's memory), ignored signals stay ignored
// and the child has the parent's signal mask, as after CPython's
// _posixsubprocess and POSIX's exec. (After exec no handler is left anyway:
// only a signal before it can tell.)
#include "mp/internal/spawn.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mp/subprocess.h"
#include "mp/testing/refused_syscalls.h"

namespace mp::internal {
namespace {

void OnSignal(int) {}

uint64_t Bit(int sig) { return uint64_t{1} << (sig - 1); }

// The child's /proc/self/status lines "SigBlk", "SigIgn" and "SigCgt" as
// numbers, read by cat (which sets no handler and blocks nothing).
struct Dispositions {
  uint64_t blocked = 0, ignored = 0, caught = 0;  // caught: 0 after any exec.
};

absl::StatusOr<Dispositions> ChildDispositions(subprocess::RunOptions o = {}) {
  o.capture_output = true;
  absl::StatusOr<subprocess::CompletedProcess> r = subprocess::Run({"cat", "/proc/self/status"}, o);
  if (!r.ok()) return r.status();
  if (r->returncode != 0) return absl::InternalError(absl::StrCat("cat exited with ", r->returncode));
  Dispositions d;
  std::istringstream in(r->std_out);
  std::string line;
  int found = 0;
  while (std::getline(in, line)) {
    for (auto [key, field] : {std::pair{"SigBlk:\t", &d.blocked}, {"SigIgn:\t", &d.ignored}, {"SigCgt:\t", &d.caught}}) {
      if (line.rfind(key, 0) == 0 && absl::SimpleHexAtoi(line.substr(8), field)) ++found;
    }
  }
  if (found != 3) return absl::InternalError("no SigBlk/SigIgn/SigCgt in /proc/self/status");
  return d;
}

// Installs a handler for SIGUSR1, ignores SIGUSR2 and blocks SIGWINCH for
// the duration of a test; restores all three after.
class Dispositioned {
 public:
  Dispositioned() {
    struct sigaction handle = {}, ignore = {};
    handle.sa_handler = OnSignal;
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGUSR1, &handle, &old_usr1_);
    ::sigaction(SIGUSR2, &ignore, &old_usr2_);
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    ::pthread_sigmask(SIG_BLOCK, &winch, &old_mask_);
  }
  ~Dispositioned() {
    ::sigaction(SIGUSR1, &old_usr1_, nullptr);
    ::sigaction(SIGUSR2, &old_usr2_, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }

 private:
  struct sigaction old_usr1_, old_usr2_;
  sigset_t old_mask_;
};

// 0 when the child's dispositions are right; otherwise which was wrong.
int CheckDispositions(subprocess::RunOptions o = {}) {
  absl::StatusOr<Dispositions> d = ChildDispositions(std::move(o));
  if (!d.ok()) return 1;
  if ((d->ignored & Bit(SIGUSR2)) == 0) return 3;   // An ignored signal was reset.
  if ((d->blocked & Bit(SIGWINCH)) == 0) return 4;  // The mask was not inherited.
  if ((d->blocked & Bit(SIGUSR1)) != 0) return 5;   // A mask left over from the spawn.
  return 0;
}

TEST(SpawnTest, ChildKeepsIgnoredSignalsAndOurMask) {
  Dispositioned scope;
  EXPECT_EQ(CheckDispositions(), 0);
}

TEST(SpawnTest, WithoutClone3ChildKeepsIgnoredSignalsAndOurMask) {
  Dispositioned scope;
  // The filter answers clone3 with ENOSYS, as a kernel before 5.3 does; the
  // fallback (clone, then rt_sigaction per signal, with every signal blocked
  // meanwhile) must give the same child.
  int failed = mp::testing::WithRefusedSyscalls({SYS_clone3}, [] {
    if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) return 10;
    return CheckDispositions();
  });
  EXPECT_EQ(failed, 0);
}

// Set by a SIGSYS handler of the test process. The child shares our memory
// until it execs, so a handler of ours that ran in it would set this here.
std::atomic<int> g_sigsys_handled{0};
void OnSigsys(int) { g_sigsys_handled.store(1); }

// The child's execve is answered with SIGSYS (a seccomp trap), so a signal
// reaches the child between clone and exec, when it still runs on our memory.
// No handler of ours may run there: SIGSYS must kill the child.
int SignalBeforeExecKillsTheChild() {
  struct sigaction sa = {};
  sa.sa_handler = OnSigsys;
  if (::sigaction(SIGSYS, &sa, nullptr) != 0) return 11;
  struct rlimit no_core = {0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);  // SIGSYS would dump one.
  absl::StatusOr<subprocess::CompletedProcess> r = subprocess::Run({"/bin/true"});
  if (g_sigsys_handled.load() != 0) return 12;  // Our handler ran in the child.
  if (!r.ok()) return 13;
  return r->returncode == -SIGSYS ? 0 : 14;
}

TEST(SpawnTest, NoHandlerOfOursRunsInTheChildBeforeExec) {
  using mp::testing::Refusal;
  EXPECT_EQ(mp::testing::WithRefusedSyscalls({SYS_execve}, SignalBeforeExecKillsTheChild, Refusal::kSigsys), 0);
}

TEST(SpawnTest, WithoutClone3NoHandlerOfOursRunsInTheChildBeforeExec) {
  using mp::testing::Refusal;
  int failed = mp::testing::WithRefusedSyscalls({SYS_clone3}, [] {
    return mp::testing::WithRefusedSyscalls({SYS_execve}, SignalBeforeExecKillsTheChild, Refusal::kSigsys);
  });
  EXPECT_EQ(failed, 0);
}

TEST(SpawnTest, APreexecFnChildKeepsIgnoredSignalsAndOurMask) {
  Dispositioned scope;
  subprocess::RunOptions o;
  o.popen.preexec_fn = [] {};
  EXPECT_EQ(CheckDispositions(std::move(o)), 0);
}

}  // namespace
}  // namespace mp::internal
