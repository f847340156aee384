#include "mp/internal/task_sender.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "mp/internal/fd.h"

namespace mp::internal {
namespace {

std::string ReadAll(int fd) {
  std::string got;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  return got;
}

TEST(TaskSenderTest, PiecesArriveInOrderAcrossAFullPipe) {
  absl::StatusOr<PipeFds> p = MakePipe(O_NONBLOCK);
  ASSERT_TRUE(p.ok());
  ASSERT_GT(::fcntl(p->write.get(), F_SETPIPE_SZ, 4096), 0);
  std::string borrowed(200 * 1024, 'b');  // Spliced: large and borrowed.
  std::string small_borrowed = "s";
  TaskSender sender;
  sender.Append("head:");
  sender.AppendBorrowed(borrowed.data(), borrowed.size(), nullptr, nullptr);
  sender.Append(":mid:");
  sender.AppendBorrowed(small_borrowed.data(), small_borrowed.size(), nullptr, nullptr);
  sender.Append(":tail");
  std::string got;
  while (sender.Flush(p->write.get()) == TaskSender::Flushed::kPipeFull) got += ReadAll(p->read.get());
  EXPECT_TRUE(sender.empty());
  got += ReadAll(p->read.get());
  EXPECT_EQ(got, "head:" + borrowed + ":mid:s:tail");
}

TEST(TaskSenderTest, UnlendCopiesWhatIsStillQueued) {
  absl::StatusOr<PipeFds> p = MakePipe(O_NONBLOCK);
  ASSERT_TRUE(p.ok());
  ASSERT_GT(::fcntl(p->write.get(), F_SETPIPE_SZ, 4096), 0);
  auto items = std::make_unique<std::string>(100 * 1024, 'x');
  int lender = 0;  // Any address names the job.
  const Job* job = reinterpret_cast<const Job*>(&lender);
  TaskSender sender;
  sender.AppendBorrowed(items->data(), items->size(), job, nullptr);
  ASSERT_EQ(sender.Flush(p->write.get()), TaskSender::Flushed::kPipeFull);
  std::string got = ReadAll(p->read.get());
  sender.Unlend(job);
  items->assign(items->size(), 'y');  // The lender may change them now...
  items.reset();                      // ...or free them.
  while (sender.Flush(p->write.get()) == TaskSender::Flushed::kPipeFull) got += ReadAll(p->read.get());
  got += ReadAll(p->read.get());
  EXPECT_EQ(got, std::string(100 * 1024, 'x'));
}

TEST(TaskSenderTest, GoneReaderDropsTheQueue) {
  absl::StatusOr<PipeFds> p = MakePipe(O_NONBLOCK);
  ASSERT_TRUE(p.ok());
  p->read.reset();
  SigpipeGuard guard;  // As the pool's handler thread blocks SIGPIPE.
  TaskSender sender;
  sender.Append("lost");
  EXPECT_EQ(sender.Flush(p->write.get()), TaskSender::Flushed::kReaderGone);
  EXPECT_TRUE(sender.empty());
}

}  // namespace
}  // namespace mp::internal
