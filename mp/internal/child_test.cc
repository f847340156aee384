#include "mp/internal/child.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mp/testing/refused_syscalls.h"
#include "mp/testing/sanitizers.h"

namespace mp::internal {
namespace {

// Forks a child that runs `body` and exits with what it returns.
template <typename Body>
pid_t ForkRunning(Body body) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  return pid;
}

pid_t ForkSleeper() {
  return ForkRunning([] {
    for (;;) ::pause();
    return 0;
  });
}

TEST(ChildTest, WaitReapsOnceAndKeepsTheStatus) {
  Child c(ForkRunning([] { return 3; }), Child::kLostAsProcess);
  absl::StatusOr<std::optional<ExitStatus>> st = c.Wait(absl::InfiniteFuture());
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(*st, ExitStatus::Exited(3));
  EXPECT_EQ(c.Poll(), ExitStatus::Exited(3));
  EXPECT_EQ(c.status(), ExitStatus::Exited(3));
  int wstatus;
  EXPECT_EQ(::waitpid(c.pid(), &wstatus, WNOHANG), -1) << "already reaped";
}

TEST(ChildTest, FiniteWaitTimesOutWithoutReaping) {
  Child c(ForkSleeper(), Child::kLostAsProcess);
  absl::Time start = absl::Now();
  absl::StatusOr<std::optional<ExitStatus>> st = c.Wait(start + absl::Milliseconds(50));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_FALSE(st->has_value());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_FALSE(c.Poll().has_value());
  ASSERT_TRUE(c.SendSignal(SIGKILL).ok());
  EXPECT_EQ(*c.Wait(absl::Now() + absl::Seconds(10)), ExitStatus::Signaled(SIGKILL));
}

TEST(ChildTest, ChildReapedBehindOurBackReportsTheCallersChoice) {
  for (ExitStatus if_lost : {Child::kLostAsSubprocess, Child::kLostAsProcess}) {
    pid_t pid = ForkRunning([] { return 5; });
    int wstatus;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    Child c(pid, if_lost);
    EXPECT_EQ(c.Poll(), if_lost);
    EXPECT_EQ(*c.Wait(absl::InfiniteFuture()), if_lost);
  }
}

TEST(ChildTest, SignalAfterReapingIsANoOp) {
  Child c(ForkRunning([] { return 0; }), Child::kLostAsProcess);
  ASSERT_TRUE(c.Wait(absl::InfiniteFuture()).ok());
  EXPECT_TRUE(c.SendSignal(SIGKILL).ok());
}

TEST(ChildTest, SentinelBecomesReadableWhenTheChildEnds) {
  Child c(ForkSleeper(), Child::kLostAsProcess);
  absl::StatusOr<int> fd = c.Sentinel();
  ASSERT_TRUE(fd.ok()) << fd.status();
  struct pollfd p = {*fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 20), 0);
  ASSERT_TRUE(c.SendSignal(SIGTERM).ok());
  EXPECT_EQ(::poll(&p, 1, 10000), 1);
  EXPECT_EQ(*c.Wait(absl::InfiniteFuture()), ExitStatus::Signaled(SIGTERM));
  EXPECT_EQ(*c.Sentinel(), *fd) << "the same fd for good";
}

TEST(ChildTest, SentinelOfAReapedChildIsReadableAtOnce) {
  Child c(ForkRunning([] { return 0; }), Child::kLostAsProcess);
  ASSERT_TRUE(c.Wait(absl::InfiniteFuture()).ok());
  absl::StatusOr<int> fd = c.Sentinel();
  ASSERT_TRUE(fd.ok()) << fd.status();
  struct pollfd p = {*fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 1);
}

TEST(ChildTest, ThreadsWaitingTogetherAllSeeTheOneStatus) {
  Child c(ForkSleeper(), Child::kLostAsProcess);
  std::optional<ExitStatus> seen[3];
  std::thread waiters[3] = {
      std::thread([&] { seen[0] = *c.Wait(absl::InfiniteFuture()); }),
      std::thread([&] { seen[1] = *c.Wait(absl::InfiniteFuture()); }),
      std::thread([&] { seen[2] = *c.Wait(absl::Now() + absl::Seconds(30)); }),
  };
  absl::SleepFor(absl::Milliseconds(20));
  ASSERT_TRUE(c.SendSignal(SIGKILL).ok());
  for (std::thread& t : waiters) t.join();
  for (const auto& s : seen) EXPECT_EQ(s, ExitStatus::Signaled(SIGKILL));
}

TEST(ChildTest, WithoutPidfdAFiniteWaitPolls) {
  int failed = mp::testing::WithoutPidfd([] {
    Child quick(ForkRunning([] {
                  ::usleep(100 * 1000);
                  return 7;
                }),
                Child::kLostAsProcess);
    absl::StatusOr<std::optional<ExitStatus>> st = quick.Wait(absl::Now() + absl::Seconds(30));
    if (!st.ok()) return 11;
    if (*st != ExitStatus::Exited(7)) return 12;
    Child slow(ForkSleeper(), Child::kLostAsProcess);
    absl::Time start = absl::Now();
    st = slow.Wait(start + absl::Milliseconds(50));
    if (!st.ok()) return 13;
    if (st->has_value() || absl::Now() - start < absl::Milliseconds(50)) return 14;
    if (!slow.SendSignal(SIGKILL).ok()) return 15;
    st = slow.Wait(absl::Now() + absl::Seconds(30));
    if (!st.ok() || *st != ExitStatus::Signaled(SIGKILL)) return 16;
    return 0;
  });
  EXPECT_EQ(failed, 0);
}

bool Reaped(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

TEST(ReapInBackgroundTest, ARunningChildIsReapedWhenItEnds) {
  pid_t pid = ForkRunning([] {
    ::usleep(100 * 1000);
    return 0;
  });
  ReapInBackground(std::make_unique<Child>(pid, Child::kLostAsSubprocess));
  EXPECT_FALSE(Reaped(pid));
  absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!Reaped(pid) && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_TRUE(Reaped(pid));
}

// Where no thread can be made, the child waits for the next sweep (as
// CPython's subprocess._active waits for the next Popen). Run in a child so
// that the address-space limit cannot hurt the test binary.
TEST(ReapInBackgroundTest, WithoutAThreadTheChildIsReapedByTheNextSweep) {
  if (mp::testing::kSanitizerReservesAddressSpace) {
    GTEST_SKIP() << "sanitizers reserve terabytes of address space: RLIMIT_AS cannot be applied";
  }
  pid_t tester = ForkRunning([] {
    // Earlier tests' threads (reapers too) left stacks in glibc's cache,
    // which a new thread reuses without mapping anything: hold them with
    // parked threads of both sizes.
    static std::atomic<bool> release{false};
    std::vector<pthread_t> parked;
    for (size_t stack : {size_t{0}, size_t{256} << 10}) {
      for (int i = 0; i < 32; ++i) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        if (stack) pthread_attr_setstacksize(&attr, stack);
        pthread_t t;
        if (pthread_create(&t, &attr, [](void*) -> void* {
              while (!release.load()) ::usleep(1000);
              return nullptr;
            }, nullptr) == 0) {
          parked.push_back(t);
        }
        pthread_attr_destroy(&attr);
      }
    }
    pid_t pid = ForkRunning([] {
      ::usleep(50 * 1000);
      return 0;
    });
    auto child = std::make_unique<Child>(pid, Child::kLostAsSubprocess);
    struct rlimit unlimited;
    ::getrlimit(RLIMIT_AS, &unlimited);
    if (!mp::testing::LimitAddressSpace(64 << 10)) ::_exit(10);
    ReapInBackground(std::move(child));
    ::setrlimit(RLIMIT_AS, &unlimited);
    ::usleep(300 * 1000);
    int code = Reaped(pid) ? 11 : 0;  // Reaped by a thread after all?
    if (code == 0) {
      ReapAbandoned();
      code = Reaped(pid) ? 0 : 12;
    }
    release = true;
    for (pthread_t t : parked) pthread_join(t, nullptr);
    ::_exit(code);
    return 0;
  });
  int wstatus = 0;
  ASSERT_EQ(::waitpid(tester, &wstatus, 0), tester);
  ASSERT_TRUE(WIFEXITED(wstatus)) << "killed by signal " << WTERMSIG(wstatus);
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "10: setup, 11: a thread was made, 12: not reaped by the sweep";
}

TEST(WaitForExitTest, DoesNotReap) {
  pid_t pid = ForkRunning([] { return 9; });
  absl::StatusOr<bool> ended = WaitForExit(pid, -1, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_TRUE(*ended);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, WNOHANG), pid) << "still there to reap";
  EXPECT_EQ(WEXITSTATUS(wstatus), 9);
}

}  // namespace
}  // namespace mp::internal
