#include "mp/semaphore.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/lock.h"
#include "mp/os.h"

namespace mp {
namespace {

TEST(SemaphoreTest, AdmitsAtMostItsValueAtOnce) {
  absl::StatusOr<Semaphore> sem = Semaphore::Create(2);
  ASSERT_TRUE(sem.ok());
  auto* inside = static_cast<std::atomic<int>*>(
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  new (inside) std::atomic<int>[2]();
  std::vector<pid_t> kids;
  for (int k = 0; k < 5; ++k) {
    pid_t pid = *Fork();
    if (pid == 0) {
      for (int i = 0; i < 200; ++i) {
        Guard g(*sem);
        int now = inside[0].fetch_add(1) + 1;
        int max = inside[1].load();
        while (now > max && !inside[1].compare_exchange_weak(max, now)) {
        }
        ::usleep(50);
        inside[0].fetch_sub(1);
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) EXPECT_EQ(WaitPid(pid)->python_returncode(), 0);
  EXPECT_EQ(inside[1].load(), 2);
  EXPECT_EQ(sem->GetValue(), 2);
  ::munmap(inside, 4096);
}

TEST(SemaphoreTest, AcquireTimesOutAtZeroAndAnyProcessMayRelease) {
  absl::StatusOr<Semaphore> sem = Semaphore::Create(0);
  ASSERT_TRUE(sem.ok());
  EXPECT_EQ(*sem->Acquire(false), false);
  absl::Time start = absl::Now();
  EXPECT_EQ(*sem->Acquire(true, absl::Milliseconds(100)), false);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(95));
  pid_t pid = *Fork();
  if (pid == 0) {
    ::usleep(50000);
    _exit(sem->Release().ok() ? 0 : 1);
  }
  EXPECT_EQ(*sem->Acquire(true, absl::Seconds(10)), true);
  EXPECT_EQ(WaitPid(pid)->python_returncode(), 0);
  // Unbounded: releasing above the initial value is fine.
  EXPECT_TRUE(sem->Release().ok());
  EXPECT_TRUE(sem->Release().ok());
  EXPECT_EQ(sem->GetValue(), 2);
}

TEST(SemaphoreTest, NegativeInitialValueIsValueError) {
  EXPECT_TRUE(Is(Semaphore::Create(-1).status(), PyExc::kValueError));
}

TEST(BoundedSemaphoreTest, OverReleaseIsValueError) {
  absl::StatusOr<BoundedSemaphore> sem = BoundedSemaphore::Create(2);
  ASSERT_TRUE(sem.ok());
  absl::Status s = sem->Release();
  EXPECT_TRUE(Is(s, PyExc::kValueError)) << s;
  EXPECT_EQ(s.message(), "ValueError: semaphore or lock released too many times");
  EXPECT_EQ(*sem->Acquire(), true);
  EXPECT_TRUE(sem->Release().ok());
  EXPECT_EQ(sem->GetValue(), 2);
}

TEST(SemaphoreTest, AUnitTakenByAKilledProcessIsNotReturnedButTheCounterStaysWhole) {
  absl::StatusOr<Semaphore> sem = Semaphore::Create(1);
  ASSERT_TRUE(sem.ok());
  pid_t pid = *Fork();
  if (pid == 0) {
    (void)sem->Acquire();
    for (;;) ::pause();
  }
  while (sem->GetValue() != 0) ::usleep(1000);
  ASSERT_TRUE(Kill(pid, SIGKILL).ok());
  ASSERT_TRUE(WaitPid(pid).ok());
  // As in CPython: a semaphore has no owner, so its unit is gone.
  EXPECT_EQ(*sem->Acquire(true, absl::Milliseconds(50)), false);
  EXPECT_TRUE(sem->Release().ok());
  EXPECT_EQ(*sem->Acquire(false), true);
}

TEST(SemaphoreTest, AWokenWaiterKilledBeforeTakingTheUnitStrandsNobody) {
  absl::StatusOr<Semaphore> sem = Semaphore::Create(0);
  ASSERT_TRUE(sem.ok());
  std::vector<pid_t> waiters;
  auto* got = static_cast<std::atomic<int>*>(
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  for (int k = 0; k < 3; ++k) {
    pid_t pid = *Fork();
    if (pid == 0) {
      if (*sem->Acquire(true, absl::Seconds(20))) got->fetch_add(1);
      _exit(0);
    }
    waiters.push_back(pid);
  }
  ::usleep(100000);
  ASSERT_TRUE(Kill(waiters[0], SIGKILL).ok());
  ASSERT_TRUE(WaitPid(waiters[0]).ok());
  ASSERT_TRUE(sem->Release().ok());
  ASSERT_TRUE(sem->Release().ok());
  for (size_t k = 1; k < waiters.size(); ++k) EXPECT_EQ(WaitPid(waiters[k])->python_returncode(), 0);
  EXPECT_EQ(got->load(), 2);
  ::munmap(got, 4096);
}

}  // namespace
}  // namespace mp
