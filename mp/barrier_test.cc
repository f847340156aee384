#include "mp/barrier.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/os.h"
#include "mp/process.h"

namespace mp {
namespace {

std::atomic<int>* SharedInts() {
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) std::atomic<int>[16]();
}

TEST(BarrierTest, PartiesPassTogetherWithDistinctIndicesAndTheActionRunsOnce) {
  std::atomic<int>* s = SharedInts();
  absl::StatusOr<Barrier> b = Barrier::Create(3, [s] {
    s[0].fetch_add(1);
    return absl::OkStatus();
  });
  ASSERT_TRUE(b.ok());
  std::vector<Process> kids;
  for (int k = 0; k < 3; ++k) {
    kids.emplace_back([&] {
      for (int round = 0; round < 20; ++round) {
        absl::StatusOr<int> i = b->Wait();
        if (!i.ok()) Exit(1);
        s[1 + *i].fetch_add(1);
      }
    });
    ASSERT_TRUE(kids.back().Start().ok());
  }
  for (Process& p : kids) {
    ASSERT_TRUE(p.Join().ok());
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_EQ(s[0].load(), 20);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s[1 + i].load(), 20) << i;
  EXPECT_EQ(b->parties(), 3);
  EXPECT_FALSE(b->broken());
  ::munmap(s, 4096);
}

TEST(BarrierTest, ATimeoutBreaksItForEveryoneUntilReset) {
  absl::StatusOr<Barrier> b = Barrier::Create(2, nullptr, absl::Milliseconds(100));
  ASSERT_TRUE(b.ok());
  absl::Time start = absl::Now();
  absl::StatusOr<int> i = b->Wait();
  EXPECT_TRUE(Is(i.status(), PyExc::kBrokenBarrierError)) << i.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(95));
  EXPECT_TRUE(b->broken());
  EXPECT_TRUE(Is(b->Wait(absl::Seconds(5)).status(), PyExc::kBrokenBarrierError));
  b->Reset();
  EXPECT_FALSE(b->broken());
  EXPECT_EQ(b->n_waiting(), 0);
}

TEST(BarrierTest, AbortBreaksAWaiter) {
  absl::StatusOr<Barrier> b = Barrier::Create(2);
  ASSERT_TRUE(b.ok());
  Process p([&] { Exit(Is(b->Wait(absl::Seconds(20)).status(), PyExc::kBrokenBarrierError) ? 0 : 1); });
  ASSERT_TRUE(p.Start().ok());
  while (b->n_waiting() == 0) ::usleep(1000);
  b->Abort();
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(BarrierTest, AFailingActionBreaksItAndReachesItsCaller) {
  absl::StatusOr<Barrier> b =
      Barrier::Create(1, [] { return PyError(PyExc::kValueError, "the action failed"); });
  ASSERT_TRUE(b.ok());
  absl::StatusOr<int> i = b->Wait();
  EXPECT_TRUE(Is(i.status(), PyExc::kValueError)) << i.status();
  EXPECT_TRUE(b->broken());
}

TEST(BarrierTest, APartyKilledBetweenCyclesBreaksItInsteadOfHangingTheOthers) {
  absl::StatusOr<Barrier> b = Barrier::Create(3);
  ASSERT_TRUE(b.ok());
  std::atomic<int>* s = SharedInts();
  std::vector<Process> kids;
  for (int k = 0; k < 2; ++k) {
    kids.emplace_back([&] {
      if (!b->Wait().ok()) Exit(1);
      // The victim dies before this second cycle fills.
      absl::StatusOr<int> i = b->Wait();
      Exit(Is(i.status(), PyExc::kBrokenBarrierError) ? 0 : 2);
    });
    ASSERT_TRUE(kids.back().Start().ok());
  }
  pid_t victim = *Fork();
  if (victim == 0) {
    (void)b->Wait();
    s[0] = 1;
    for (;;) ::pause();
  }
  // The victim is a party (it passed the first cycle) and the others wait
  // in the second one.
  while (s[0].load() == 0 || b->n_waiting() < 2) ::usleep(1000);
  absl::Time start = absl::Now();
  ASSERT_TRUE(Kill(victim, SIGKILL).ok());
  for (Process& p : kids) {
    ASSERT_TRUE(p.Join(absl::Seconds(20)).ok());
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_TRUE(WaitPid(victim).ok());
  EXPECT_TRUE(b->broken());
  ::munmap(s, 4096);
}

TEST(BarrierTest, BadPartiesIsValueError) {
  EXPECT_TRUE(Is(Barrier::Create(0).status(), PyExc::kValueError));
}

}  // namespace
}  // namespace mp
