// Fault injection: producers and consumers are SIGKILLed at random points
// while they put and get, many times over, and the survivors must neither
// deadlock nor see a committed message corrupted, lost or duplicated.

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/os.h"
#include "mp/queue.h"

namespace mp {
namespace {

constexpr int kProducers = 2;
constexpr int kConsumers = 2;
constexpr int kEach = 300;
constexpr int kIterations = 500;  // Two kills each: 1000 kills.

struct Msg {
  int producer = 0;
  int seq = 0;
  std::string payload;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(producer, seq, payload);
  }
};

std::string ReadProc(pid_t pid, const char* what) {
  std::string path = absl::StrCat("/proc/", pid, "/", what), out;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[512];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    out.assign(buf, n);
    std::fclose(f);
  }
  return out;
}

// Where the processes of a hung round are stuck, for the failure message.
std::string Diagnose(const std::vector<pid_t>& pids) {
  std::string out;
  for (pid_t pid : pids) {
    absl::StrAppend(&out, "\n  pid ", pid, " wchan=", ReadProc(pid, "wchan"), " syscall=", ReadProc(pid, "syscall"));
  }
  return out;
}

std::string PayloadOf(int producer, int seq) {
  return std::string(static_cast<size_t>((seq * 37 + producer * 11) % 300),
                     static_cast<char>('a' + (producer * 7 + seq) % 26));
}

// What the processes of one round record, in shared memory.
struct Shared {
  std::atomic<int> committed[kProducers];         // Puts that returned OK.
  std::atomic<int> received[kProducers][kEach];   // Gets that returned each message.
  std::atomic<int> violations;                    // Corrupt or out-of-order messages.
  std::atomic<int> stop;                          // Consumers: drain and exit.
};

void Consume(Queue<Msg>& q, Shared* sh) {
  int last[kProducers];
  for (int& l : last) l = -1;
  for (;;) {
    absl::StatusOr<Msg> m = q.Get(true, absl::Milliseconds(5));
    if (!m.ok()) {
      if (!Is(m.status(), PyExc::kQueueEmpty)) sh->violations.fetch_add(1);
      if (sh->stop.load()) _exit(0);
      continue;
    }
    if (m->producer < 0 || m->producer >= kProducers || m->seq < 0 || m->seq >= kEach ||
        m->payload != PayloadOf(m->producer, m->seq) || m->seq <= last[m->producer]) {
      sh->violations.fetch_add(1);
      continue;
    }
    last[m->producer] = m->seq;
    sh->received[m->producer][m->seq].fetch_add(1);
  }
}

TEST(QueueFaultTest, RandomKillsNeverDeadlockLoseOrDuplicate) {
  void* mem = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  Shared* sh = static_cast<Shared*>(mem);
  std::mt19937 rng(12345);
  int lost_total = 0, consumer_kills = 0;
  absl::Time start = absl::Now();
  for (int iter = 0; iter < kIterations; ++iter) {
    new (sh) Shared();
    // A small buffer and maxsize, so puts also wait for room and wrap.
    auto q = Queue<Msg>::Create(16, 2048);
    ASSERT_TRUE(q.ok()) << q.status();
    std::vector<pid_t> producers, consumers;
    for (int p = 0; p < kProducers; ++p) {
      pid_t pid = *Fork();
      if (pid == 0) {
        for (int i = 0; i < kEach; ++i) {
          if (!q->Put(Msg{p, i, PayloadOf(p, i)}, true, absl::Seconds(20)).ok()) _exit(1);
          sh->committed[p].store(i + 1);
        }
        _exit(0);
      }
      producers.push_back(pid);
    }
    for (int c = 0; c < kConsumers; ++c) {
      pid_t pid = *Fork();
      if (pid == 0) Consume(*q, sh);
      consumers.push_back(pid);
    }
    ::usleep(static_cast<useconds_t>(rng() % 3000));
    int victim_p = static_cast<int>(rng() % kProducers);
    int victim_c = static_cast<int>(rng() % kConsumers);
    ASSERT_TRUE(Kill(producers[victim_p], SIGKILL).ok());
    if (rng() % 4 != 0) ::usleep(static_cast<useconds_t>(rng() % 500));
    ASSERT_TRUE(Kill(consumers[victim_c], SIGKILL).ok());
    ++consumer_kills;
    // Survivors must finish: a deadlock shows as a timeout here.
    for (int p = 0; p < kProducers; ++p) {
      absl::StatusOr<std::optional<ExitStatus>> st = WaitPidFor(producers[p], absl::Seconds(30));
      ASSERT_TRUE(st.ok() && st->has_value()) << "producer " << p << " hung in iteration " << iter << " victims p" << victim_p << " c" << victim_c
          << Diagnose(producers) << Diagnose(consumers);
      if (p != victim_p) {
        EXPECT_EQ((*st)->python_returncode(), 0);
      }
    }
    sh->stop.store(1);
    for (int c = 0; c < kConsumers; ++c) {
      absl::StatusOr<std::optional<ExitStatus>> st = WaitPidFor(consumers[c], absl::Seconds(30));
      ASSERT_TRUE(st.ok() && st->has_value()) << "consumer " << c << " hung in iteration " << iter << Diagnose(producers) << Diagnose(consumers);
    }
    // Whatever is left is read here, through a queue whose lock a victim may
    // have died holding.
    for (;;) {
      absl::StatusOr<Msg> m = q->GetNowait();
      if (!m.ok()) {
        ASSERT_TRUE(Is(m.status(), PyExc::kQueueEmpty)) << m.status();
        break;
      }
      ASSERT_EQ(m->payload, PayloadOf(m->producer, m->seq));
      sh->received[m->producer][m->seq].fetch_add(1);
    }
    ASSERT_EQ(sh->violations.load(), 0) << "iteration " << iter;
    int lost = 0;
    for (int p = 0; p < kProducers; ++p) {
      int committed = sh->committed[p].load();
      if (p != victim_p) {
        ASSERT_EQ(committed, kEach);
      }
      for (int i = 0; i < kEach; ++i) {
        int n = sh->received[p][i].load();
        ASSERT_LE(n, 1) << "duplicate of " << p << ":" << i << " in iteration " << iter;
        // The victim's in-flight put may have committed before it could
        // record so: at most that one message past `committed`.
        if (i > committed) {
          ASSERT_EQ(n, 0) << "uncommitted " << p << ":" << i << " arrived";
        }
        if (i < committed && n == 0) ++lost;
      }
    }
    // A killed consumer may die between Get's commit and recording the
    // message: at most one unrecorded message per killed consumer.
    ASSERT_LE(lost, 1) << "iteration " << iter;
    lost_total += lost;
  }
  ::munmap(mem, sizeof(Shared));
  std::printf("%d iterations, %d consumer kills, %d messages got by a consumer killed before recording them, %s\n",
              kIterations, consumer_kills, lost_total, absl::FormatDuration(absl::Now() - start).c_str());
}

}  // namespace
}  // namespace mp
