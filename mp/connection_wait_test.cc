#include "mp/connection_wait.h"

#include <unistd.h>

#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mp/connection.h"
#include "mp/errors.h"
#include "mp/process.h"

namespace mp {
namespace {

using connection::Waitable;

TEST(ConnectionWaitTest, ReturnsTheConnectionsWithAMessage) {
  auto a = Pipe();
  auto b = Pipe();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(b->second.SendBytes("x").ok());
  absl::StatusOr<std::vector<Waitable>> ready = connection::Wait({&a->first, &b->first}, absl::Seconds(5));
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ((*ready)[0].connection(), &b->first);
}

TEST(ConnectionWaitTest, TimesOutEmptyAfterTheTimeout) {
  auto a = Pipe();
  ASSERT_TRUE(a.ok());
  absl::Time start = absl::Now();
  absl::StatusOr<std::vector<Waitable>> ready = connection::Wait({&a->first}, absl::Milliseconds(100));
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(ready->empty());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_TRUE(connection::Wait({&a->first}, absl::ZeroDuration())->empty());
}

TEST(ConnectionWaitTest, ASentinelIsReadyWhenItsProcessEnds) {
  auto a = Pipe();
  ASSERT_TRUE(a.ok());
  Process p([] { ::usleep(50000); });
  ASSERT_TRUE(p.Start().ok());
  int sentinel = *p.sentinel();
  absl::StatusOr<std::vector<Waitable>> ready = connection::Wait({&a->first, sentinel}, absl::Seconds(20));
  ASSERT_TRUE(ready.ok());
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ((*ready)[0].fd(), sentinel);
  EXPECT_EQ((*ready)[0].connection(), nullptr);
  ASSERT_TRUE(p.Join().ok());
}

TEST(ConnectionWaitTest, APeerThatClosedIsReady) {
  auto a = Pipe(false);
  ASSERT_TRUE(a.ok());
  a->second.Close();
  absl::StatusOr<std::vector<Waitable>> ready = connection::Wait({&a->first}, absl::Seconds(5));
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_TRUE(Is(a->first.RecvBytes().status(), PyExc::kEOFError));
}

TEST(ConnectionWaitTest, AClosedConnectionIsOSError) {
  auto a = Pipe();
  ASSERT_TRUE(a.ok());
  a->first.Close();
  EXPECT_EQ(connection::Wait({&a->first}).status().message(), "OSError: handle is closed");
}

}  // namespace
}  // namespace mp
