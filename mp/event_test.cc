#include "mp/event.h"

#include <signal.h>
#include <unistd.h>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mp/os.h"
#include "mp/process.h"

namespace mp {
namespace {

TEST(EventTest, SetWakesWaitersInOtherProcesses) {
  absl::StatusOr<Event> go = Event::Create();
  absl::StatusOr<Event> back = Event::Create();
  ASSERT_TRUE(go.ok() && back.ok());
  EXPECT_FALSE(go->IsSet());
  std::vector<Process> kids;
  for (int k = 0; k < 3; ++k) {
    kids.emplace_back([&] {
      if (!go->Wait(absl::Seconds(20))) Exit(1);
      back->Set();
    });
    ASSERT_TRUE(kids.back().Start().ok());
  }
  ::usleep(50000);
  go->Set();
  EXPECT_TRUE(back->Wait(absl::Seconds(20)));
  for (Process& p : kids) {
    ASSERT_TRUE(p.Join().ok());
    EXPECT_EQ(p.exitcode(), 0);
  }
}

TEST(EventTest, WaitReturnsFalseAfterItsTimeoutAndClearResets) {
  absl::StatusOr<Event> e = Event::Create();
  ASSERT_TRUE(e.ok());
  absl::Time start = absl::Now();
  EXPECT_FALSE(e->Wait(absl::Milliseconds(100)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(95));
  EXPECT_FALSE(e->Wait(absl::ZeroDuration()));
  e->Set();
  EXPECT_TRUE(e->Wait(absl::ZeroDuration()));
  EXPECT_TRUE(e->IsSet());
  e->Clear();
  EXPECT_FALSE(e->IsSet());
}

TEST(EventTest, AKilledWaiterLeavesTheOthersToBeWoken) {
  absl::StatusOr<Event> e = Event::Create();
  ASSERT_TRUE(e.ok());
  pid_t victim = *Fork();
  if (victim == 0) {
    e->Wait();
    _exit(0);
  }
  Process other([&] { Exit(e->Wait(absl::Seconds(20)) ? 0 : 1); });
  ASSERT_TRUE(other.Start().ok());
  ::usleep(50000);
  ASSERT_TRUE(Kill(victim, SIGKILL).ok());
  ASSERT_TRUE(WaitPid(victim).ok());
  e->Set();
  ASSERT_TRUE(other.Join().ok());
  EXPECT_EQ(other.exitcode(), 0);
}

}  // namespace
}  // namespace mp
