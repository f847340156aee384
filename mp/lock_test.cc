#include "mp/lock.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/os.h"
#include "mp/process.h"

namespace mp {
namespace {

// A page of shared memory for counters the children report through.
template <typename T>
T* SharedScratch() {
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) T();
}

// Forks a child that takes `lock`, says so, and sleeps until killed;
// returns its pid once it holds the lock.
template <typename L>
pid_t ChildHoldingLock(L& lock, int depth = 1) {
  auto* held = SharedScratch<std::atomic<int>>();
  pid_t pid = *Fork();
  if (pid == 0) {
    for (int i = 0; i < depth; ++i) (void)lock.Acquire();
    held->store(1);
    for (;;) ::pause();
  }
  while (held->load() == 0) ::usleep(1000);
  ::munmap(held, 4096);
  return pid;
}

TEST(LockTest, ExcludesOtherProcesses) {
  absl::StatusOr<Lock> lock = Lock::Create();
  ASSERT_TRUE(lock.ok()) << lock.status();
  auto* counter = SharedScratch<int>();
  std::vector<pid_t> kids;
  for (int k = 0; k < 4; ++k) {
    pid_t pid = *Fork();
    if (pid == 0) {
      for (int i = 0; i < 2000; ++i) {
        Guard g(*lock);
        int v = *counter;  // A torn read-modify-write without the lock.
        if (i % 64 == 0) ::sched_yield();
        *counter = v + 1;
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) EXPECT_EQ(WaitPid(pid)->python_returncode(), 0);
  EXPECT_EQ(*counter, 8000);
  ::munmap(counter, 4096);
}

TEST(LockTest, KilledHolderIsReportedToTheNextAcquirer) {
  absl::StatusOr<Lock> lock = Lock::Create();
  ASSERT_TRUE(lock.ok());
  pid_t holder = ChildHoldingLock(*lock);
  EXPECT_EQ(lock->holder_pid(), holder);
  EXPECT_EQ(*lock->Acquire(false), false);
  ASSERT_TRUE(Kill(holder, SIGKILL).ok());
  ASSERT_TRUE(WaitPid(holder).ok());
  absl::StatusOr<bool> got = lock->Acquire(true, absl::Seconds(10));
  ASSERT_TRUE(Is(got.status(), PyExc::kOwnerDiedError)) << got.status();
  EXPECT_NE(got.status().message().find(absl::StrCat("pid ", holder, ", died holding")), absl::string_view::npos)
      << got.status();
  // The caller holds it now.
  EXPECT_EQ(lock->holder_pid(), ::getpid());
  EXPECT_EQ(lock->owner_deaths(), 1u);
  EXPECT_TRUE(lock->Release().ok());
  // Reported once: the next acquirer sees an ordinary lock.
  EXPECT_EQ(*lock->Acquire(), true);
  EXPECT_TRUE(lock->Release().ok());
  EXPECT_EQ(lock->owner_deaths(), 1u);
}

TEST(LockTest, KilledHolderWakesAWaiterThatIsAlreadyAsleep) {
  absl::StatusOr<Lock> lock = Lock::Create();
  ASSERT_TRUE(lock.ok());
  pid_t holder = ChildHoldingLock(*lock);
  std::thread killer([holder] {
    ::usleep(100000);
    (void)Kill(holder, SIGKILL);
  });
  absl::Time start = absl::Now();
  absl::StatusOr<bool> got = lock->Acquire(true, absl::Seconds(20));
  killer.join();
  EXPECT_TRUE(Is(got.status(), PyExc::kOwnerDiedError)) << got.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(lock->Release().ok());
  ASSERT_TRUE(WaitPid(holder).ok());
}

TEST(LockTest, NonBlockingAndTimedAcquireOfAHeldLockFail) {
  absl::StatusOr<Lock> lock = Lock::Create();
  ASSERT_TRUE(lock.ok());
  EXPECT_EQ(*lock->Acquire(), true);
  // Taking it again from the same thread waits, as CPython's does.
  EXPECT_EQ(*lock->Acquire(false), false);
  absl::Time start = absl::Now();
  EXPECT_EQ(*lock->Acquire(true, absl::Milliseconds(100)), false);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(95));
  // A negative timeout counts as zero.
  EXPECT_EQ(*lock->Acquire(true, absl::Seconds(-1)), false);
  EXPECT_TRUE(lock->Release().ok());
}

TEST(LockTest, ReleasingAnUnlockedLockIsValueError) {
  absl::StatusOr<Lock> lock = Lock::Create();
  ASSERT_TRUE(lock.ok());
  absl::Status s = lock->Release();
  EXPECT_TRUE(Is(s, PyExc::kValueError)) << s;
  EXPECT_EQ(s.message(), "ValueError: semaphore or lock released too many times");
}

TEST(LockTest, ReleaseByAnotherProcessIsRefusedAndKeepsTheLockHeld) {
  absl::StatusOr<Lock> lock = Lock::Create();
  ASSERT_TRUE(lock.ok());
  ASSERT_EQ(*lock->Acquire(), true);
  Process p([&] { Exit(Is(lock->Release(), PyExc::kValueError) ? 7 : 1); });
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 7);
  EXPECT_EQ(lock->holder_pid(), ::getpid());
  EXPECT_TRUE(lock->Release().ok());
}

TEST(RLockTest, HolderMayTakeItAgainAndReleasesAsOften) {
  absl::StatusOr<RLock> lock = RLock::Create();
  ASSERT_TRUE(lock.ok());
  EXPECT_EQ(*lock->Acquire(), true);
  EXPECT_EQ(*lock->Acquire(false), true);
  EXPECT_TRUE(lock->Release().ok());
  // Still held once: another process cannot take it.
  Process p([&] { Exit(*lock->Acquire(false) ? 1 : 5); });
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 5);
  EXPECT_TRUE(lock->Release().ok());
  EXPECT_TRUE(Is(lock->Release(), PyExc::kAssertionError));
}

TEST(RLockTest, ReleaseByANonOwnerIsCPythonsAssertionError) {
  absl::StatusOr<RLock> lock = RLock::Create();
  ASSERT_TRUE(lock.ok());
  absl::Status s = lock->Release();
  EXPECT_TRUE(Is(s, PyExc::kAssertionError)) << s;
  EXPECT_EQ(s.message(), "AssertionError: attempt to release recursive lock not owned by thread");
  ASSERT_EQ(*lock->Acquire(), true);
  std::thread other([&] { s = lock->Release(); });
  other.join();
  EXPECT_TRUE(Is(s, PyExc::kAssertionError)) << s;
  EXPECT_TRUE(lock->Release().ok());
}

TEST(RLockTest, KilledHolderAtDepthThreeLeavesItToTheNextAtDepthOne) {
  absl::StatusOr<RLock> lock = RLock::Create();
  ASSERT_TRUE(lock.ok());
  pid_t holder = ChildHoldingLock(*lock, 3);
  ASSERT_TRUE(Kill(holder, SIGKILL).ok());
  ASSERT_TRUE(WaitPid(holder).ok());
  absl::StatusOr<bool> got = lock->Acquire();
  EXPECT_TRUE(Is(got.status(), PyExc::kOwnerDiedError)) << got.status();
  EXPECT_TRUE(lock->Release().ok());
  EXPECT_TRUE(Is(lock->Release(), PyExc::kAssertionError));
}

TEST(GuardTest, HoldsForTheScopeAndCarriesTheOwnerDiedStatus) {
  absl::StatusOr<Lock> lock = Lock::Create();
  ASSERT_TRUE(lock.ok());
  {
    Guard g(*lock);
    EXPECT_TRUE(g.held());
    EXPECT_TRUE(g.status().ok());
    EXPECT_EQ(*lock->Acquire(false), false);
  }
  EXPECT_EQ(lock->holder_pid(), 0);
  pid_t holder = ChildHoldingLock(*lock);
  {
    Guard timed(*lock, absl::Milliseconds(50));
    EXPECT_FALSE(timed.held());
  }
  ASSERT_TRUE(Kill(holder, SIGKILL).ok());
  ASSERT_TRUE(WaitPid(holder).ok());
  {
    Guard g(*lock);
    EXPECT_TRUE(g.held());
    EXPECT_TRUE(Is(g.status(), PyExc::kOwnerDiedError));
  }
  EXPECT_EQ(lock->holder_pid(), 0);
}

}  // namespace
}  // namespace mp
