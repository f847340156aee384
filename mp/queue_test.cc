#include "mp/queue.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/os.h"
#include "mp/testing/sanitizers.h"

namespace mp {
namespace {

struct Item {
  int producer = 0;
  int seq = 0;
  std::string payload;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(producer, seq, payload);
  }
};

// Decoding blocks forever after telling `g_block_fd` it started: a Get of it
// is stuck inside the queue's lock, to be killed there.
int g_block_fd = -1;
struct BlocksInDecode {
  int v = 0;
  template <class Archive>
  void save(Archive& ar) const {
    ar(v);
  }
  template <class Archive>
  void load(Archive& ar) {
    ar(v);
    if (g_block_fd >= 0) {
      (void)!::write(g_block_fd, "x", 1);
      for (;;) ::pause();
    }
  }
};

struct ThrowsInDecode {
  int v = 0;
  template <class Archive>
  void save(Archive& ar) const {
    ar(v);
  }
  template <class Archive>
  void load(Archive&) {
    throw std::runtime_error("no");
  }
};

// Large enough to be decoded outside the queue's lock.
struct ThrowsInDecodeLarge {
  std::string big = std::string(100000, 'b');
  template <class Archive>
  void save(Archive& ar) const {
    ar(big);
  }
  template <class Archive>
  void load(Archive&) {
    throw std::runtime_error("no");
  }
};

// The resident size of this process's mapping of the queue's overflow (the
// one mapping of exactly that size), from /proc/self/smaps.
size_t OverflowResidentKb(uint64_t overflow_bytes) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_it = false;
  while (std::getline(smaps, line)) {
    size_t kb = 0;
    if (std::sscanf(line.c_str(), "Size: %zu kB", &kb) == 1) in_it = kb * 1024 == overflow_bytes;
    if (in_it && std::sscanf(line.c_str(), "Rss: %zu kB", &kb) == 1) return kb;
  }
  return ~size_t{0};
}

void ExpectExit0(pid_t pid) {
  absl::StatusOr<ExitStatus> st = WaitPid(pid);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->python_returncode(), 0);
}

TEST(QueueTest, PutGetIsFifo) {
  auto q = Queue<std::string>::Create();
  ASSERT_TRUE(q.ok()) << q.status();
  for (const char* s : {"A", "B", "", "C"}) ASSERT_TRUE(q->Put(s).ok());
  EXPECT_EQ(q->Qsize(), 4);
  EXPECT_FALSE(q->Empty());
  for (const char* s : {"A", "B", "", "C"}) EXPECT_EQ(*q->Get(), s);
  EXPECT_TRUE(q->Empty());
}

TEST(QueueTest, GetNowaitOnEmptyIsQueueEmpty) {
  auto q = Queue<int>::Create();
  ASSERT_TRUE(q.ok());
  absl::Status s = q->GetNowait().status();
  EXPECT_TRUE(Is(s, PyExc::kQueueEmpty)) << s;
  EXPECT_TRUE(Is(q->Get(false).status(), PyExc::kQueueEmpty));
}

TEST(QueueTest, GetTimeoutWaitsThenEmpty) {
  auto q = Queue<int>::Create();
  ASSERT_TRUE(q.ok());
  absl::Time start = absl::Now();
  EXPECT_TRUE(Is(q->Get(true, absl::Milliseconds(100)).status(), PyExc::kQueueEmpty));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(95));
  EXPECT_TRUE(Is(q->Get(true, absl::ZeroDuration()).status(), PyExc::kQueueEmpty));
}

TEST(QueueTest, MaxsizeMakesPutNowaitFull) {
  auto q = Queue<int>::Create(2);
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->PutNowait(1).ok());
  EXPECT_FALSE(q->Full());
  ASSERT_TRUE(q->Put(2).ok());
  EXPECT_TRUE(q->Full());
  EXPECT_TRUE(Is(q->PutNowait(3), PyExc::kQueueFull));
  absl::Time start = absl::Now();
  EXPECT_TRUE(Is(q->Put(3, true, absl::Milliseconds(100)), PyExc::kQueueFull));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(95));
  EXPECT_EQ(*q->Get(), 1);
  ASSERT_TRUE(q->PutNowait(3).ok());
  EXPECT_EQ(*q->Get(), 2);
  EXPECT_EQ(*q->Get(), 3);
}

// multiprocessing.Queue treats a negative timeout as 0 (SemLock.acquire
// clamps it; _poll(negative) polls once), so code that passes
// "deadline - now()" straight in keeps working.
TEST(QueueTest, NegativeTimeoutIsZeroAsInCPython) {
  auto q = Queue<int>::Create(1);
  ASSERT_TRUE(q.ok());
  absl::Time start = absl::Now();
  EXPECT_TRUE(Is(q->Get(true, absl::Milliseconds(-1)).status(), PyExc::kQueueEmpty));
  EXPECT_TRUE(q->Put(1, true, absl::Seconds(-1)).ok());
  EXPECT_TRUE(Is(q->Put(2, true, absl::Seconds(-1)), PyExc::kQueueFull));
  EXPECT_EQ(*q->Get(true, absl::Seconds(-5)), 1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << "no wait";
}

TEST(QueueTest, ClosedQueueRefusesPutAndGet) {
  auto q = Queue<int>::Create();
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(Is(q->JoinThread(), PyExc::kAssertionError));
  ASSERT_TRUE(q->Put(1).ok());
  q->Close();
  q->Close();
  EXPECT_EQ(q->Put(2).message(), "ValueError: Queue is closed");
  EXPECT_EQ(q->Get().status().message(), "ValueError: Queue is closed");
  EXPECT_TRUE(q->JoinThread().ok());
  q->CancelJoinThread();
}

// CPython's unbounded put() never blocks (its feeder thread buffers in
// memory), so "fill the queue, then start the consumers" works; here items
// past the shared ring overflow into memory the consumers can reach.
TEST(QueueTest, UnboundedPutNeverBlocksSoConsumersMayStartAfterTheProducer) {
  auto q = Queue<std::string>::Create(0, 4096);
  ASSERT_TRUE(q.ok());
  ASSERT_GT(q->overflow_capacity(), 0u);
  auto make = [](int i) { return std::string(1000 + i % 200, static_cast<char>('a' + i % 26)); };
  constexpr int kItems = 2000;  // 2 MB through a 4 KiB ring.
  absl::Time start = absl::Now();
  for (int i = 0; i < kItems; ++i) {
    absl::Status s = i % 2 ? q->PutNowait(make(i)) : q->Put(make(i), true, absl::Seconds(10));
    ASSERT_TRUE(s.ok()) << i << ": " << s;
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "puts waited for a consumer";
  EXPECT_EQ(q->Qsize(), kItems);
  EXPECT_FALSE(q->Full());
  pid_t consumer = *Fork();
  if (consumer == 0) {
    for (int i = 0; i < kItems; ++i) {
      absl::StatusOr<std::string> got = q->Get(true, absl::Seconds(30));
      if (!got.ok() || *got != make(i)) _exit(1);
    }
    _exit(q->Empty() ? 0 : 2);
  }
  ExpectExit0(consumer);
}

TEST(QueueTest, ItemLargerThanTheRingOverflowsInOrder) {
  auto q = Queue<std::string>::Create(0, 1024);
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->Put("before").ok());
  ASSERT_TRUE(q->PutNowait(std::string(100000, 'x')).ok());
  ASSERT_TRUE(q->Put("after").ok());
  EXPECT_EQ(*q->Get(), "before");
  EXPECT_EQ(q->Get()->size(), 100000u);
  EXPECT_EQ(*q->Get(), "after");
  EXPECT_TRUE(Is(Queue<int>::Create(0, 8).status(), PyExc::kValueError));
}

// Python: full() is qsize() >= maxsize; bytes never make a queue full.
TEST(QueueTest, BoundedQueueIsFullByItemCountOnly) {
  auto q = Queue<std::string>::Create(3, 256);
  ASSERT_TRUE(q.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q->PutNowait(std::string(200, 'b')).ok()) << i;
  EXPECT_TRUE(q->Full());
  EXPECT_TRUE(Is(q->PutNowait("one more"), PyExc::kQueueFull));
  ASSERT_TRUE(q->Get().ok());
  EXPECT_FALSE(q->Full());
  EXPECT_TRUE(q->PutNowait("fits now").ok());
}

// The overflow's pages go back to the kernel as they are consumed: once it
// drained, the mapping holds at most the page the next item would go to.
TEST(QueueTest, DrainedOverflowHoldsNoMemory) {
  auto q = Queue<std::string>::Create(0, 4096);
  ASSERT_TRUE(q.ok());
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(q->PutNowait(std::string(256 << 10, 'r')).ok());
  EXPECT_GE(OverflowResidentKb(q->overflow_capacity()), 8u << 10) << "16 MiB were put";
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(q->Get().ok());
  EXPECT_LE(OverflowResidentKb(q->overflow_capacity()), 4u);
}

TEST(QueueTest, WrapsAroundSmallBufferKeepingOrder) {
  auto q = Queue<std::string>::Create(0, 512);
  ASSERT_TRUE(q.ok());
  int next_put = 0, next_get = 0;
  auto make = [](int i) { return std::string(static_cast<size_t>(i * 37 % 150), static_cast<char>('a' + i % 26)); };
  while (next_get < 2000) {
    // Batches that sometimes fill the ring and overflow, sometimes not.
    for (int i = 0; i < 1 + next_put % 7; ++i) ASSERT_TRUE(q->PutNowait(make(next_put++)).ok());
    int take = 1 + next_get % 5;
    for (int i = 0; i < take && next_get < next_put; ++i) {
      absl::StatusOr<std::string> got = q->Get();
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(*got, make(next_get)) << next_get;
      ++next_get;
    }
  }
}

// An empty ring restarts at the next lap, so an item up to the capacity fits
// (1008 bytes: 8 of framing, 8 of string length)
// wherever the previous one ended (the producer then moves the consumers'
// head too).
TEST(QueueTest, EmptyRingTakesAnyItemUpToCapacity) {
  auto q = Queue<std::string>::Create(0, 1024);
  ASSERT_TRUE(q.ok());
  for (int i = 0; i < 40; ++i) {
    std::string item(static_cast<size_t>(1008 - (i * 97) % 1000), static_cast<char>('a' + i % 26));
    ASSERT_TRUE(q->PutNowait(item).ok()) << i;
    EXPECT_EQ(q->Qsize(), 1);
    ASSERT_EQ(*q->GetNowait(), item) << i;
    EXPECT_TRUE(q->Empty());
  }
}

// Producers and consumers copy at the same time (two locks): threads of one
// process, so that ThreadSanitizer checks the ordering of the ring's bytes
// against the published tail and head; items of many sizes wrap a small ring.
TEST(QueueTest, ThreadsPutAndGetConcurrentlyFifoPerProducer) {
  constexpr int kProducers = 2, kConsumers = 2, kEach = 3000;
  auto q = Queue<std::string>::Create(0, 8192);
  ASSERT_TRUE(q.ok());
  auto make = [](int p, int i) {
    std::string s = absl::StrCat(p, ":", i, ":");
    s.resize(s.size() + static_cast<size_t>(i * 131 % 3000), static_cast<char>('a' + (i + p) % 26));
    return s;
  };
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> got(kConsumers);
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kEach; ++i) ASSERT_TRUE(q->Put(make(p, i)).ok());
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < kEach * kProducers / kConsumers; ++i) {
        absl::StatusOr<std::string> item = q->Get(true, absl::Seconds(60));
        ASSERT_TRUE(item.ok()) << item.status();
        got[c].push_back(*std::move(item));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<int> count(kProducers * kEach, 0);
  for (const std::vector<std::string>& items : got) {
    std::vector<int> last(kProducers, -1);
    for (const std::string& item : items) {
      int p = item[0] - '0';
      int i = std::stoi(item.substr(2));
      ASSERT_GT(i, last[p]) << "out of order";
      last[p] = i;
      ASSERT_TRUE(item == make(p, i)) << "corrupt item " << p << ":" << i;
      ++count[p * kEach + i];
    }
  }
  for (int n : count) ASSERT_EQ(n, 1);
  EXPECT_TRUE(q->Empty());
}

// Items move between the ring and the overflow while a consumer takes them:
// PutNowait spills to the overflow as soon as the ring is full, every put
// follows while the overflow holds items, and the ring resumes once it
// drains. A consumer must still see one producer's items in order: in
// particular, it must not take an overflow item while an earlier ring item
// is committed but not yet in its view of the ring.
TEST(QueueTest, ItemsMovingBetweenRingAndOverflowStayInOrder) {
  constexpr int kItems = 20000;
  auto q = Queue<std::string>::Create(0, 1024);
  ASSERT_TRUE(q.ok());
  ASSERT_GT(q->overflow_capacity(), 0u);
  auto make = [](int i) {
    std::string s = absl::StrCat(i, ":");
    s.resize(s.size() + static_cast<size_t>(i * 389 % 500), 'o');
    return s;
  };
  // Bursts of items: the first few go to the ring, the rest overflow; then
  // the producer lets the consumer drain both, so that the ring takes items
  // again.
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i) {
      ASSERT_TRUE(q->PutNowait(make(i)).ok()) << i;
      if (i % 8 == 7) {
        while (!q->Empty()) std::this_thread::yield();
      }
    }
  });
  for (int i = 0; i < kItems; ++i) {
    absl::StatusOr<std::string> got = q->Get(true, absl::Seconds(60));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->substr(0, got->find(':')), absl::StrCat(i)) << "out of order";
    ASSERT_TRUE(*got == make(i)) << "corrupt item " << i;
  }
  producer.join();
  EXPECT_TRUE(q->Empty());
}

TEST(QueueTest, UndecodableItemIsConsumedWithUnpicklingError) {
  auto q = Queue<ThrowsInDecode>::Create();
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->Put(ThrowsInDecode{1}).ok());
  EXPECT_TRUE(Is(q->Get().status(), PyExc::kUnpicklingError));
  EXPECT_TRUE(q->Empty());
}

TEST(QueueTest, UndecodableLargeItemIsConsumedWithUnpicklingError) {
  auto q = Queue<ThrowsInDecodeLarge>::Create();
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->Put(ThrowsInDecodeLarge{}).ok());
  EXPECT_TRUE(Is(q->Get().status(), PyExc::kUnpicklingError));
  EXPECT_TRUE(q->Empty());
}

// Out of memory while taking a large item (RLIMIT_AS, in a child so the
// limit cannot hurt the test binary) is MemoryError, and the consumers' lock
// is released: the next put and get still work.
TEST(QueueTest, OutOfMemoryInGetIsMemoryErrorAndReleasesTheLock) {
  if (mp::testing::kSanitizerReservesAddressSpace) {
    GTEST_SKIP() << "sanitizers reserve terabytes of address space: RLIMIT_AS cannot be applied";
  }
  auto q = Queue<std::vector<std::string>>::Create(0, 64 << 20);
  ASSERT_TRUE(q.ok());
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!q->Put(std::vector<std::string>{std::string(40 << 20, 'm')}).ok()) _exit(3);
    if (!mp::testing::LimitAddressSpace(16 << 20)) _exit(3);
    absl::StatusOr<std::vector<std::string>> big = q->Get();
    if (big.ok()) _exit(4);
    if (!Is(big.status(), PyExc::kMemoryError)) {
      std::fprintf(stderr, "Get: %s\n", std::string(big.status().ToString()).c_str());
      _exit(5);
    }
    if (!q->Put(std::vector<std::string>{"small"}).ok()) _exit(6);
    absl::StatusOr<std::vector<std::string>> small = q->Get(true, absl::Seconds(10));
    if (!small.ok() || small->size() != 1 || (*small)[0] != "small") _exit(6);
    _exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "3: setup failed, 4: succeeded, 5: not MemoryError, 6: lock still held";
}

TEST(QueueTest, LargeItemsCrossProcesses) {
  auto q = Queue<std::string>::Create(0, 8 << 20);
  ASSERT_TRUE(q.ok());
  pid_t pid = *Fork();
  if (pid == 0) {
    for (int i = 0; i < 20; ++i) {
      if (!q->Put(std::string(size_t{1} << 20, static_cast<char>('a' + i))).ok()) _exit(1);
    }
    _exit(0);
  }
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::string> got = q->Get(true, absl::Seconds(30));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(*got, std::string(size_t{1} << 20, static_cast<char>('a' + i)));
  }
  ExpectExit0(pid);
}

// Vectors of numbers take the same one-copy path as strings.
TEST(QueueTest, NumericVectorsCrossProcesses) {
  auto q = Queue<std::vector<double>>::Create(0, 4 << 20);
  ASSERT_TRUE(q.ok());
  auto make = [](int i) {
    std::vector<double> v(static_cast<size_t>(i) * 3001 % 200000);
    for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<double>(k) * i + 0.25;
    return v;
  };
  pid_t pid = *Fork();
  if (pid == 0) {
    for (int i = 0; i < 50; ++i) {
      if (!q->Put(make(i)).ok()) _exit(1);
    }
    _exit(0);
  }
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<std::vector<double>> got = q->Get(true, absl::Seconds(30));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(*got == make(i)) << i;
  }
  ExpectExit0(pid);
}

TEST(QueueTest, BlockedGetWakesOnChildPut) {
  auto q = Queue<std::string>::Create();
  ASSERT_TRUE(q.ok());
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok());
  if (*pid == 0) {
    ::usleep(50000);
    _exit(q->Put("late").ok() ? 0 : 1);
  }
  EXPECT_EQ(*q->Get(), "late");
  ExpectExit0(*pid);
}

TEST(QueueTest, BlockedPutWakesOnChildGet) {
  auto q = Queue<int>::Create(1);
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->Put(1).ok());
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok());
  if (*pid == 0) {
    ::usleep(50000);
    _exit(*q->Get() == 1 ? 0 : 1);
  }
  ASSERT_TRUE(q->Put(2, true, absl::Seconds(30)).ok());
  ExpectExit0(*pid);
  EXPECT_EQ(*q->Get(), 2);
}

TEST(QueueTest, ManyProducersManyConsumersFifoPerProducer) {
  constexpr int kProducers = 3, kConsumers = 3, kEach = 2000;
  auto q = Queue<Item>::Create(100, 4096);
  auto results = Queue<std::vector<int>>::Create();
  ASSERT_TRUE(q.ok() && results.ok());
  std::vector<pid_t> pids;
  for (int p = 0; p < kProducers; ++p) {
    pid_t pid = *Fork();
    if (pid == 0) {
      for (int i = 0; i < kEach; ++i) {
        if (!q->Put(Item{p, i, std::string(static_cast<size_t>(i % 64), 'p')}).ok()) _exit(1);
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (int c = 0; c < kConsumers; ++c) {
    pid_t pid = *Fork();
    if (pid == 0) {
      std::vector<int> last(kProducers, -1), got;
      for (;;) {
        absl::StatusOr<Item> item = q->Get(true, absl::Seconds(2));
        if (!item.ok()) break;
        if (item->seq <= last[item->producer] || item->payload.size() != static_cast<size_t>(item->seq % 64)) _exit(2);
        last[item->producer] = item->seq;
        got.push_back(item->producer * kEach + item->seq);
      }
      _exit(results->Put(got).ok() ? 0 : 3);
    }
    pids.push_back(pid);
  }
  std::vector<int> seen(kProducers * kEach, 0);
  for (int c = 0; c < kConsumers; ++c) {
    absl::StatusOr<std::vector<int>> got = results->Get(true, absl::Seconds(60));
    ASSERT_TRUE(got.ok()) << got.status();
    for (int id : *got) ++seen[id];
  }
  for (pid_t pid : pids) ExpectExit0(pid);
  for (int id = 0; id < kProducers * kEach; ++id) ASSERT_EQ(seen[id], 1) << id;
}

TEST(QueueTest, ConsumerKilledInsideLockLosesNothing) {
  auto q = Queue<BlocksInDecode>::Create();
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->Put(BlocksInDecode{7}).ok());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok());
  if (*pid == 0) {
    g_block_fd = fds[1];
    (void)q->Get();
    _exit(1);
  }
  ::close(fds[1]);
  char c;
  ASSERT_EQ(::read(fds[0], &c, 1), 1);  // The child is decoding, holding the lock.
  ::close(fds[0]);
  ASSERT_TRUE(Kill(*pid, SIGKILL).ok());
  EXPECT_EQ(WaitPid(*pid)->python_returncode(), -SIGKILL);
  // The lock is recovered (EOWNERDEAD) and the item is still there, once.
  EXPECT_EQ(q->Qsize(), 1);
  absl::StatusOr<BlocksInDecode> got = q->Get(true, absl::Seconds(10));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->v, 7);
  EXPECT_TRUE(Is(q->GetNowait().status(), PyExc::kQueueEmpty));
  ASSERT_TRUE(q->Put(BlocksInDecode{8}).ok());
  EXPECT_EQ(q->Get()->v, 8);
}

TEST(QueueTest, WaiterKilledDoesNotBlockOthers) {
  auto q = Queue<int>::Create();
  ASSERT_TRUE(q.ok());
  pid_t dead = *Fork();
  if (dead == 0) {
    (void)q->Get();
    _exit(1);
  }
  pid_t live = *Fork();
  if (live == 0) _exit(*q->Get() == 5 ? 0 : 1);
  ::usleep(100000);  // Both are asleep in Get.
  ASSERT_TRUE(Kill(dead, SIGKILL).ok());
  EXPECT_EQ(WaitPid(dead)->python_returncode(), -SIGKILL);
  ASSERT_TRUE(q->Put(5).ok());
  ExpectExit0(live);
}

TEST(QueueTest, ItemsOutliveTheirProducer) {
  auto q = Queue<std::string>::Create();
  ASSERT_TRUE(q.ok());
  pid_t pid = *Fork();
  if (pid == 0) {
    for (int i = 0; i < 100; ++i) (void)q->Put(absl::StrCat("item", i));
    _exit(0);  // Returns at once: nothing is left to flush.
  }
  ExpectExit0(pid);
  EXPECT_EQ(q->Qsize(), 100);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(*q->Get(), absl::StrCat("item", i));
}

TEST(JoinableQueueTest, TaskDoneTooManyTimesIsValueError) {
  auto q = JoinableQueue<int>::Create();
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->TaskDone().message(), "ValueError: task_done() called too many times");
  ASSERT_TRUE(q->Put(1).ok());
  EXPECT_TRUE(q->TaskDone().ok());
  EXPECT_TRUE(Is(q->TaskDone(), PyExc::kValueError));
  EXPECT_TRUE(q->Join().ok());
}

TEST(JoinableQueueTest, JoinWaitsForEveryTaskDone) {
  auto q = JoinableQueue<int>::Create();
  ASSERT_TRUE(q.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q->Put(i).ok());
  EXPECT_TRUE(Is(q->Join(absl::Milliseconds(50)), PyExc::kTimeoutError));
  pid_t pid = *Fork();
  if (pid == 0) {
    for (int i = 0; i < 5; ++i) {
      if (!q->Get().ok()) _exit(1);
      ::usleep(10000);
      if (!q->TaskDone().ok()) _exit(2);
    }
    _exit(0);
  }
  EXPECT_TRUE(q->Join().ok());
  EXPECT_TRUE(q->Empty());
  ExpectExit0(pid);
}

TEST(SimpleQueueTest, PutGetEmptyClose) {
  auto q = SimpleQueue<std::string>::Create();
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->Empty());
  ASSERT_TRUE(q->Put("x").ok());
  EXPECT_FALSE(q->Empty());
  pid_t pid = *Fork();
  if (pid == 0) _exit(*q->Get() == "x" && q->Put("y").ok() ? 0 : 1);
  ExpectExit0(pid);
  EXPECT_EQ(*q->Get(), "y");
  q->Close();
  EXPECT_EQ(q->Put("z").message(), "OSError: handle is closed");
  EXPECT_EQ(q->Get().status().message(), "OSError: handle is closed");
}

}  // namespace
}  // namespace mp
