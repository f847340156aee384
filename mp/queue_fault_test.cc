// Fault injection: producers and consumers are SIGKILLed at random points
// while they put and get, many times over, and the survivors must neither
// deadlock nor see a committed message corrupted, lost or duplicated. The
// round itself (and its defined outcome) is mp/testing/queue_kill_round.h,
// shared with //tools/faults:fault_suite.

#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "mp/testing/queue_kill_round.h"

namespace mp {
namespace {

constexpr int kIterations = 1000;  // Two SIGKILLs each.

TEST(QueueFaultTest, RandomKillsNeverDeadlockLoseOrDuplicate) {
  int lost_total = 0;
  absl::Time start = absl::Now();
  for (int iter = 0; iter < kIterations; ++iter) {
    testing::QueueKillRound r = testing::RunQueueKillRound(12345u + static_cast<uint32_t>(iter));
    ASSERT_EQ(r.failure, "") << "iteration " << iter;
    lost_total += r.lost_to_killed_consumer;
  }
  std::printf("%d iterations, %d consumer kills, %d messages got by a consumer killed before recording them, %s\n",
              kIterations, kIterations, lost_total, absl::FormatDuration(absl::Now() - start).c_str());
}

}  // namespace
}  // namespace mp
