#include "conformance/runner/reconcile.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace conformance::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

ReportedWrite W(pid_t pid, std::string data, int returned_ms) {
  ReportedWrite w;
  w.pid = pid;
  w.data = std::move(data);
  w.returned = absl::Milliseconds(returned_ms);
  return w;
}

// "pid:data" per run, for compact expectations.
std::vector<std::string> Runs(const Reconciled& r) {
  std::vector<std::string> out;
  for (const WriteRecord& w : r.writes) out.push_back(std::to_string(w.pid) + ":" + w.data);
  return out;
}

TEST(ReconcileTest, RingOrderThatMatchesThePipeIsKept) {
  Reconciled r = Reconcile(1, {W(10, "a\n", 1), W(11, "b\n", 2), W(10, "c\n", 3)}, "a\nb\nc\n", false);
  EXPECT_THAT(Runs(r), ::testing::ElementsAre("10:a\n", "11:b\n", "10:c\n"));
  EXPECT_THAT(r.mismatch, IsEmpty());
  EXPECT_EQ(r.writes[0].stream, 1);
  EXPECT_EQ(r.writes[2].at, absl::Milliseconds(3));
}

TEST(ReconcileTest, ConcurrentWritesFollowThePipesOrder) {
  // 11's write entered the pipe first but returned second.
  Reconciled r = Reconcile(2, {W(10, "x1\n", 5), W(11, "y2\n", 6)}, "y2\nx1\n", false);
  EXPECT_THAT(Runs(r), ::testing::ElementsAre("11:y2\n", "10:x1\n"));
  EXPECT_THAT(r.mismatch, IsEmpty());
  // Moved ahead of 10's write, so no later than its time.
  EXPECT_EQ(r.writes[0].at, absl::Milliseconds(5));
  EXPECT_EQ(r.writes[1].at, absl::Milliseconds(5));
  EXPECT_EQ(r.writes[0].stream, 2);
}

TEST(ReconcileTest, IdenticalWritesKeepTheRingOrder) {
  Reconciled r = Reconcile(1, {W(10, "x\n", 1), W(11, "x\n", 2)}, "x\nx\n", false);
  EXPECT_THAT(Runs(r), ::testing::ElementsAre("10:x\n", "11:x\n"));
}

TEST(ReconcileTest, ALargeWriteMayBeCutByAnother) {
  std::string big(5000, 'a');
  std::string pipe = std::string(3000, 'a') + "b" + std::string(2000, 'a');
  Reconciled r = Reconcile(1, {W(10, big, 1), W(11, "b", 2)}, pipe, false);
  EXPECT_THAT(Runs(r), ::testing::ElementsAre("10:" + std::string(3000, 'a'), "11:b", "10:" + std::string(2000, 'a')));
  EXPECT_THAT(r.mismatch, IsEmpty());
}

TEST(ReconcileTest, AnAtomicWriteIsNeverCut) {
  // "ab" (at most PIPE_BUF) cannot have been cut by "X": the pipe disagrees
  // with the kernel's report.
  Reconciled r = Reconcile(1, {W(10, "ab", 1), W(11, "X", 2)}, "aXb", false);
  EXPECT_THAT(r.mismatch, HasSubstr("stdout: byte 0 of 3 is in no write the kernel reported"));
  ASSERT_EQ(r.writes.size(), 1u);
  EXPECT_EQ(r.writes[0].pid, 0);  // Nothing lost: the bytes are kept, unattributed.
  EXPECT_EQ(r.writes[0].data, "aXb");
}

TEST(ReconcileTest, BlindBytesAreThePipes) {
  ReportedWrite spliced = W(12, std::string(4, '\0'), 1);
  spliced.blind = {{0, 4}};
  Reconciled r = Reconcile(1, {W(10, "a\n", 1), spliced}, "a\nzzzz", false);
  EXPECT_THAT(Runs(r), ::testing::ElementsAre("10:a\n", "12:zzzz"));
  EXPECT_THAT(r.mismatch, IsEmpty());
}

TEST(ReconcileTest, APartlyBlindWriteMatchesOnItsKnownBytes) {
  ReportedWrite w = W(10, std::string("ab\0\0ef", 6), 1);
  w.blind = {{2, 2}};
  Reconciled r = Reconcile(1, {W(11, "abXXef", 1), w}, "abcdefabXXef", false);
  EXPECT_THAT(Runs(r), ::testing::ElementsAre("10:abcdef", "11:abXXef"));
}

TEST(ReconcileTest, BytesNoWriteReportedAreKeptAsPidZero) {
  Reconciled r = Reconcile(1, {W(10, "ab", 1)}, "abc", false);
  EXPECT_THAT(Runs(r), ::testing::ElementsAre("10:ab", "0:c"));
  EXPECT_THAT(r.mismatch, HasSubstr("byte 2 of 3"));
}

TEST(ReconcileTest, ReportedBytesMissingFromThePipeAreAMismatch) {
  Reconciled r = Reconcile(2, {W(10, "abc", 1), W(11, "zz", 2)}, "abc", false);
  EXPECT_THAT(Runs(r), ::testing::ElementsAre("10:abc"));
  EXPECT_EQ(r.mismatch, "stderr: 1 reported writes (2 bytes) never reached the capture");
}

TEST(ReconcileTest, ACapMayEndTheCaptureInsideAWrite) {
  Reconciled r = Reconcile(1, {W(10, "abcdef", 1), W(11, "gh", 2)}, "abc", true);
  EXPECT_THAT(Runs(r), ::testing::ElementsAre("10:abc"));
  EXPECT_THAT(r.mismatch, IsEmpty());
}

TEST(ReconcileTest, NothingWrittenNothingReported) {
  Reconciled r = Reconcile(1, {}, "", false);
  EXPECT_THAT(r.writes, IsEmpty());
  EXPECT_THAT(r.mismatch, IsEmpty());
}

}  // namespace
}  // namespace conformance::internal
