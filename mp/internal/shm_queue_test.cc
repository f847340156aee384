// The mechanism's orderings that no test through mp::Queue can reach on
// purpose: they hold only between two reads a few instructions apart, so
// these tests run code in that gap through a hook compiled into a test-only
// build of shm_queue.cc (//mp/internal:shm_queue_with_test_hooks).
#include "mp/internal/shm_queue.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace mp::internal {

extern void (*g_test_between_get_snapshots)();

namespace {

ShmQueue* g_queue = nullptr;
int g_gap_runs = 0;

// A get that reads the ring's producer state before the overflow's could see
// an overflow item without the ring items put before it, and take it first.
// LoadForGet reads the overflow's first. In the gap between its two reads,
// this puts a small item (into the empty ring) and then one larger than the
// ring (straight into the overflow): the get must take the small one.
TEST(ShmQueueTest, GetNeverTakesAnOverflowItemBeforeRingItemsPutEarlier) {
  absl::StatusOr<ShmQueue> q = ShmQueue::Create(0, 1024);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_GT(q->overflow_capacity(), 0u) << "no overflow could be reserved";
  const std::string large(4096, 'L');
  ASSERT_GT(large.size(), q->capacity());
  g_queue = &*q;
  g_gap_runs = 0;
  g_test_between_get_snapshots = [] {
    if (g_gap_runs++ != 0) return;
    const std::string big(4096, 'L');
    EXPECT_TRUE(g_queue->Put("first", false, absl::InfinitePast()).ok());
    EXPECT_TRUE(g_queue->Put(big, false, absl::InfinitePast()).ok());
  };
  std::string got;
  auto take = [&got](absl::string_view bytes) {
    got = std::string(bytes);
    return absl::OkStatus();
  };
  absl::Status first = q->Get(take, false, absl::InfinitePast());
  g_test_between_get_snapshots = nullptr;
  ASSERT_EQ(g_gap_runs, 1) << "the hook never ran: the test proves nothing";
  ASSERT_TRUE(first.ok()) << first;
  EXPECT_TRUE(got == "first") << "took a " << got.size() << "-byte item (the overflow's) before the ring's";
  ASSERT_TRUE(q->Get(take, false, absl::InfinitePast()).ok());
  EXPECT_TRUE(got == large) << "then took a " << got.size() << "-byte item";
  EXPECT_EQ(q->Size(), 0);
}

}  // namespace
}  // namespace mp::internal
