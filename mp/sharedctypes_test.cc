#include "mp/sharedctypes.h"

#include <signal.h>
#include <unistd.h>

#include <vector>

#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/lock.h"
#include "mp/os.h"
#include "mp/process.h"

namespace mp {
namespace {

// The documentation's Value/Array example.
TEST(SharedctypesTest, ChildWritesAreSeenByTheParent) {
  absl::StatusOr<Value<double>> num = Value<double>::Create(0.0);
  absl::StatusOr<Array<int>> arr = Array<int>::Create({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  ASSERT_TRUE(num.ok() && arr.ok());
  Process p([&] {
    (void)num->Set(3.1415927);
    for (size_t i = 0; i < arr->size(); ++i) (void)arr->Set(i, -*arr->Get(i));
  });
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(*num->Get(), 3.1415927);
  EXPECT_EQ(*arr->GetAll(), (std::vector<int>{0, -1, -2, -3, -4, -5, -6, -7, -8, -9}));
}

TEST(SharedctypesTest, IncrementsUnderGetLockAreNotLost) {
  absl::StatusOr<Value<int>> counter = Value<int>::Create(0);
  ASSERT_TRUE(counter.ok());
  std::vector<Process> kids;
  for (int k = 0; k < 4; ++k) {
    kids.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        Guard g(counter->get_lock());
        int v = *counter->get_obj();
        if (i % 64 == 0) ::sched_yield();
        *counter->get_obj() = v + 1;
      }
    });
    ASSERT_TRUE(kids.back().Start().ok());
  }
  for (Process& p : kids) ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(*counter->Get(), 8000);
}

TEST(SharedctypesTest, ValueSharesAGivenLock) {
  absl::StatusOr<Lock> lock = Lock::Create();
  ASSERT_TRUE(lock.ok());
  absl::StatusOr<Value<int, Lock>> v = Value<int, Lock>::Create(5, *lock);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->get_lock() == *lock);
  ASSERT_EQ(*lock->Acquire(), true);
  EXPECT_EQ(*v->Acquire(false), false);
  EXPECT_TRUE(lock->Release().ok());
  EXPECT_EQ(*v->Get(), 5);
}

TEST(SharedctypesTest, AccessAfterAKilledHolderIsOwnerDiedOnce) {
  absl::StatusOr<Value<int>> v = Value<int>::Create(1);
  ASSERT_TRUE(v.ok());
  pid_t pid = *Fork();
  if (pid == 0) {
    (void)v->Acquire();
    *v->get_obj() = 2;
    for (;;) ::pause();
  }
  while (*v->get_obj() != 2) ::usleep(1000);
  ASSERT_TRUE(Kill(pid, SIGKILL).ok());
  ASSERT_TRUE(WaitPid(pid).ok());
  EXPECT_TRUE(Is(v->Get().status(), PyExc::kOwnerDiedError));
  EXPECT_EQ(*v->Get(), 2);
}

TEST(SharedctypesTest, IndexPastTheEndIsIndexError) {
  absl::StatusOr<Array<char>> a = Array<char>::Create(3);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(Is(a->Get(3).status(), PyExc::kIndexError));
  EXPECT_TRUE(Is(a->Set(3, 'x'), PyExc::kIndexError));
  EXPECT_EQ(*a->Get(2), '\0');
}

TEST(SharedctypesTest, RawFormsHaveNoLock) {
  absl::StatusOr<RawValue<long>> v = RawValue<long>::Create(7);
  absl::StatusOr<RawArray<double>> a = RawArray<double>::Create({1.5, 2.5});
  ASSERT_TRUE(v.ok() && a.ok());
  Process p([&] {
    v->value() = 8;
    (*a)[1] = 3.5;
  });
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(v->value(), 8);
  EXPECT_EQ((*a)[1], 3.5);
  EXPECT_EQ(a->size(), 2u);
  EXPECT_TRUE(RawArray<int>::Create(0).ok());
}

}  // namespace
}  // namespace mp
