#include "mp/shared_memory.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"
#include "mp/internal/resource_tracker.h"
#include "mp/os.h"
#include "mp/process.h"

namespace mp {
namespace {

// The tracker's pipe is a lasting fd: open it before the first test's fd
// census.
class StartTracker : public ::testing::Environment {
  void SetUp() override { ASSERT_TRUE(internal::EnsureResourceTracker().ok()); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new StartTracker);

bool Exists(const std::string& name) {
  struct stat st;
  return ::stat(absl::StrCat("/dev/shm/", name).c_str(), &st) == 0;
}

TEST(SharedMemoryTest, AttachSeesTheCreatorsBytesAndUnlinkRemovesTheName) {
  absl::StatusOr<SharedMemory> shm = SharedMemory::Create(4096);
  ASSERT_TRUE(shm.ok()) << shm.status();
  EXPECT_EQ(shm->name().rfind("psm_", 0), 0u) << shm->name();
  EXPECT_EQ(shm->name().size(), 12u);
  EXPECT_EQ(shm->size(), 4096u);
  std::memcpy(shm->buf().data(), "hello", 5);
  Process p([name = shm->name()] {
    absl::StatusOr<SharedMemory> other = SharedMemory::Attach(name);
    if (!other.ok() || other->size() != 4096 || std::memcmp(other->buf().data(), "hello", 5) != 0) Exit(1);
    std::memcpy(other->buf().data(), "HELLO", 5);
  });
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(std::string(shm->buf().data(), 5), "HELLO");
  shm->Close();
  EXPECT_TRUE(shm->buf().empty());
  EXPECT_TRUE(Exists(shm->name()));
  EXPECT_TRUE(shm->Unlink().ok());
  EXPECT_FALSE(Exists(shm->name()));
  EXPECT_TRUE(Is(shm->Unlink(), PyExc::kFileNotFoundError));
}

TEST(SharedMemoryTest, ErrorsAreCPythons) {
  EXPECT_EQ(SharedMemory::Create(0).status().message(),
            "ValueError: 'size' must be a positive number different from zero");
  EXPECT_TRUE(Is(SharedMemory::Attach("psm_mp_test_missing").status(), PyExc::kFileNotFoundError));
  std::string name = absl::StrCat("mp_test_", ::getpid());
  absl::StatusOr<SharedMemory> a = SharedMemory::Create(10, name);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->name(), name);
  EXPECT_TRUE(Is(SharedMemory::Create(10, name).status(), PyExc::kFileExistsError));
  EXPECT_TRUE(a->Unlink().ok());
}

TEST(SharedMemoryTest, ACreatorKilledBeforeItUnlinksLeavesItToItsTracker) {
  absl::StatusOr<internal::PipeFds> pipe = internal::MakePipe();
  ASSERT_TRUE(pipe.ok());
  pid_t creator = *Fork();
  if (creator == 0) {
    // A program of its own: its own tracker, which outlives it.
    internal::DetachResourceTrackerForTesting();
    absl::StatusOr<SharedMemory> shm = SharedMemory::Create(100);
    if (!shm.ok()) _exit(1);
    std::string name = shm->name() + "\n";
    (void)!::write(pipe->write.get(), name.data(), name.size());
    for (;;) ::pause();
  }
  pipe->write.reset();
  char buf[64] = {};
  ASSERT_GT(::read(pipe->read.get(), buf, sizeof buf - 1), 0);
  std::string name(buf, std::strchr(buf, '\n'));
  EXPECT_TRUE(Exists(name));
  ASSERT_TRUE(Kill(creator, SIGKILL).ok());
  ASSERT_TRUE(WaitPid(creator).ok());
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Exists(name) && absl::Now() < deadline) ::usleep(1000);
  EXPECT_FALSE(Exists(name)) << name;
}

}  // namespace
}  // namespace mp
