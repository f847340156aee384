#include "mp/condition.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/lock.h"
#include "mp/os.h"
#include "mp/process.h"

namespace mp {
namespace {

std::atomic<int>* SharedInts() {
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) std::atomic<int>[8]();
}

TEST(ConditionTest, WaitRequiresTheLockAndNotifyToo) {
  absl::StatusOr<Condition> c = Condition::Create();
  ASSERT_TRUE(c.ok());
  absl::StatusOr<bool> w = c->Wait(absl::Milliseconds(1));
  EXPECT_TRUE(Is(w.status(), PyExc::kAssertionError));
  EXPECT_EQ(w.status().message(), "AssertionError: must acquire() condition before using wait()");
  absl::Status n = c->Notify();
  EXPECT_EQ(n.message(), "AssertionError: lock is not owned");
}

TEST(ConditionTest, WaitTimesOutHoldingTheLockAgain) {
  absl::StatusOr<Condition> c = Condition::Create();
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(*c->Acquire(), true);
  ASSERT_EQ(*c->Acquire(), true);  // An RLock: depth 2.
  absl::Time start = absl::Now();
  EXPECT_EQ(*c->Wait(absl::Milliseconds(100)), false);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(95));
  EXPECT_TRUE(c->Release().ok());
  EXPECT_TRUE(c->Release().ok());
  EXPECT_FALSE(c->Release().ok());
}

TEST(ConditionTest, NotifyWakesOneWaiterAndNotifyAllTheRest) {
  absl::StatusOr<Condition> c = Condition::Create(*Lock::Create());
  ASSERT_TRUE(c.ok());
  std::atomic<int>* s = SharedInts();  // [0] waiting, [1] woken
  std::vector<Process> kids;
  for (int k = 0; k < 3; ++k) {
    kids.emplace_back([&] {
      Guard g(*c);
      s[0].fetch_add(1);
      absl::StatusOr<bool> w = c->Wait(absl::Seconds(20));
      if (!w.ok() || !*w) Exit(1);
      s[1].fetch_add(1);
    });
    ASSERT_TRUE(kids.back().Start().ok());
  }
  while (s[0].load() < 3) ::usleep(1000);
  {
    Guard g(*c);  // All three are waiting (they registered under the lock).
    ASSERT_TRUE(c->Notify().ok());
  }
  ::usleep(200000);
  EXPECT_EQ(s[1].load(), 1);
  {
    Guard g(*c);
    ASSERT_TRUE(c->NotifyAll().ok());
  }
  for (Process& p : kids) {
    ASSERT_TRUE(p.Join().ok());
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_EQ(s[1].load(), 3);
  ::munmap(s, 4096);
}

TEST(ConditionTest, AWaiterThatCameAfterANotifyDoesNotTakeIt) {
  absl::StatusOr<Condition> c = Condition::Create();
  ASSERT_TRUE(c.ok());
  std::atomic<int> phase{0};
  std::atomic<int> late_result{-1};
  std::thread late;
  {
    Guard g(*c);
    ASSERT_TRUE(c->Notify().ok());  // Nobody waits: nothing to wake.
  }
  late = std::thread([&] {
    Guard g(*c);
    phase = 1;
    late_result = *c->Wait(absl::Milliseconds(200)) ? 1 : 0;
  });
  late.join();
  EXPECT_EQ(late_result.load(), 0);
}

TEST(ConditionTest, WaitForReturnsThePredicate) {
  absl::StatusOr<Condition> c = Condition::Create();
  ASSERT_TRUE(c.ok());
  std::atomic<int>* s = SharedInts();
  Process setter([&] {
    ::usleep(50000);
    Guard g(*c);
    s[0] = 1;
    (void)c->NotifyAll();
  });
  ASSERT_TRUE(setter.Start().ok());
  {
    Guard g(*c);
    EXPECT_EQ(*c->WaitFor([&] { return s[0].load() == 1; }, absl::Seconds(20)), true);
    EXPECT_EQ(*c->WaitFor([] { return false; }, absl::Milliseconds(30)), false);
  }
  ASSERT_TRUE(setter.Join().ok());
  ::munmap(s, 4096);
}

TEST(ConditionTest, AKilledWaiterNeverMakesALiveOneMissANotify) {
  absl::StatusOr<Condition> c = Condition::Create();
  ASSERT_TRUE(c.ok());
  std::atomic<int>* s = SharedInts();
  pid_t dead = *Fork();
  if (dead == 0) {
    Guard g(*c);
    s[0].fetch_add(1);
    (void)c->Wait();
    _exit(0);
  }
  Process live([&] {
    Guard g(*c);
    s[0].fetch_add(1);
    absl::StatusOr<bool> w = c->Wait(absl::Seconds(20));
    Exit(w.ok() && *w ? 0 : 1);
  });
  ASSERT_TRUE(live.Start().ok());
  while (s[0].load() < 2) ::usleep(1000);
  ASSERT_TRUE(Kill(dead, SIGKILL).ok());
  ASSERT_TRUE(WaitPid(dead).ok());
  {
    Guard g(*c);
    ASSERT_TRUE(c->Notify(1).ok());
  }
  ASSERT_TRUE(live.Join().ok());
  EXPECT_EQ(live.exitcode(), 0);
  ::munmap(s, 4096);
}

TEST(ConditionTest, AHolderKilledWithTheLockIsReportedByWait) {
  absl::StatusOr<Condition> c = Condition::Create();
  ASSERT_TRUE(c.ok());
  std::atomic<int>* s = SharedInts();
  std::thread waiter;
  absl::Status wait_status;
  ASSERT_EQ(*c->Acquire(), true);
  waiter = std::thread([&] {
    // Another thread: takes the lock after the main thread's Wait lets go.
    ::usleep(20000);
    pid_t pid = *Fork();
    if (pid == 0) {
      (void)c->Acquire();
      s[0] = 1;
      for (;;) ::pause();
    }
    while (s[0].load() == 0) ::usleep(1000);
    (void)Kill(pid, SIGKILL);
    (void)WaitPid(pid);
  });
  absl::StatusOr<bool> w = c->Wait(absl::Milliseconds(300));
  waiter.join();
  EXPECT_TRUE(Is(w.status(), PyExc::kOwnerDiedError)) << w.status();
  EXPECT_TRUE(c->Release().ok());  // Held again, at depth 1.
  ::munmap(s, 4096);
}

}  // namespace
}  // namespace mp
