#include "conformance/runner/capture.h"

#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "conformance/runner/observation.h"
#include "gtest/gtest.h"
#include "mp/internal/fd.h"

namespace conformance::internal {
namespace {

using mp::internal::UniqueFd;

void Write(const UniqueFd& fd, const std::string& s) {
  ASSERT_EQ(::write(fd.get(), s.data(), s.size()), static_cast<ssize_t>(s.size()));
}

bool Untraced(pid_t) { return false; }

// Bytes queued before a mark are recorded before its time even when read
// after it; bytes written after it, after it. One writer's bytes across a
// mark come back in one read, and are split there.
TEST(CaptureTest, MarkOrdersUnreadBytesBeforeIt) {
  Observation obs;
  Capture cap(&obs, size_t{1} << 20);
  UniqueFd theirs[3];
  ASSERT_TRUE(cap.Open(theirs).ok());
  absl::Time start = absl::Now();
  Write(theirs[1], "a\n");
  Write(theirs[1], "b\n");
  absl::Duration mark = cap.Mark(start);
  absl::SleepFor(absl::Milliseconds(2));
  Write(theirs[1], "c\n");
  Write(theirs[2], "e\n");
  cap.ReceiveAll(start, Untraced);
  ASSERT_EQ(obs.writes.size(), 3u);
  EXPECT_EQ(obs.writes[0].data, "a\nb\n");
  EXPECT_LT(obs.writes[0].at, mark);
  EXPECT_EQ(obs.writes[1].data, "c\n");
  EXPECT_GT(obs.writes[1].at, mark);
  // stderr held nothing at the mark: its bytes are after it.
  EXPECT_EQ(obs.writes[2].stream, 2);
  EXPECT_GT(obs.writes[2].at, mark);
  for (const WriteRecord& w : obs.writes) EXPECT_EQ(w.pid, ::getpid());
  EXPECT_EQ(obs.stdout_bytes, "a\nb\nc\n");
  cap.Finish();
  EXPECT_EQ(obs.attribution_mismatch, "");
}

// Marks passed by earlier reads bound nothing; several marks split one read
// into as many records, each before its own mark.
TEST(CaptureTest, SeveralMarksAndReadsBetween) {
  Observation obs;
  Capture cap(&obs, size_t{1} << 20);
  UniqueFd theirs[3];
  ASSERT_TRUE(cap.Open(theirs).ok());
  absl::Time start = absl::Now();
  Write(theirs[1], "1\n");
  absl::Duration m1 = cap.Mark(start);
  cap.ReceiveAll(start, Untraced);  // Reads "1", passing m1.
  Write(theirs[1], "2\n");
  absl::Duration m2 = cap.Mark(start);
  Write(theirs[1], "3\n");
  absl::Duration m3 = cap.Mark(start);
  (void)cap.Mark(start);  // Nothing new queued: no mark.
  Write(theirs[1], "4\n");
  cap.ReceiveAll(start, Untraced);
  ASSERT_EQ(obs.writes.size(), 4u);
  EXPECT_LT(obs.writes[0].at, m1);
  EXPECT_LT(obs.writes[1].at, m2);
  EXPECT_GT(obs.writes[1].at, m1);
  EXPECT_LT(obs.writes[2].at, m3);
  EXPECT_GT(obs.writes[2].at, m2);
  EXPECT_GT(obs.writes[3].at, m3);
  EXPECT_EQ(obs.writes[3].data, "4\n");
}

}  // namespace
}  // namespace conformance::internal
