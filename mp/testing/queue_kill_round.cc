#include "mp/testing/queue_kill_round.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "mp/errors.h"
#include "mp/os.h"
#include "mp/queue.h"

namespace mp::testing {
namespace {

constexpr int kProducers = 2;
constexpr int kConsumers = 2;
constexpr int kEach = 300;

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
  std::atomic<int> committed[kProducers];        // Puts that returned OK.
  std::atomic<int> received[kProducers][kEach];  // Gets that returned each message.
  std::atomic<int> violations;                   // Corrupt or out-of-order messages.
  std::atomic<int> stop;                         // Consumers: drain and exit.
};

[[noreturn]] void Consume(Queue<Msg>& q, Shared* sh) {
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

std::string Round(Shared* sh, std::mt19937& rng, int* lost_out) {
  new (sh) Shared();
  // A small ring and maxsize, so puts also wait for room, wrap and overflow.
  auto q = Queue<Msg>::Create(16, 2048);
  if (!q.ok()) return absl::StrCat("Queue::Create: ", q.status().ToString());
  std::vector<pid_t> producers, consumers;
  for (int p = 0; p < kProducers; ++p) {
    absl::StatusOr<pid_t> pid = Fork();
    if (!pid.ok()) return absl::StrCat("fork: ", pid.status().ToString());
    if (*pid == 0) {
      for (int i = 0; i < kEach; ++i) {
        Msg m{p, i, PayloadOf(p, i)};
        if (i % 3 == 0) {
          // A put that must not wait goes to the overflow when the ring is
          // full, so both of the queue's rings see kills.
          absl::Status s;
          while (Is(s = q->PutNowait(m), PyExc::kQueueFull)) ::usleep(100);
          if (!s.ok()) _exit(1);
        } else if (!q->Put(m, true, absl::Seconds(20)).ok()) {
          _exit(1);
        }
        sh->committed[p].store(i + 1);
      }
      _exit(0);
    }
    producers.push_back(*pid);
  }
  for (int c = 0; c < kConsumers; ++c) {
    absl::StatusOr<pid_t> pid = Fork();
    if (!pid.ok()) return absl::StrCat("fork: ", pid.status().ToString());
    if (*pid == 0) Consume(*q, sh);
    consumers.push_back(*pid);
  }
  ::usleep(static_cast<useconds_t>(rng() % 3000));
  int victim_p = static_cast<int>(rng() % kProducers);
  int victim_c = static_cast<int>(rng() % kConsumers);
  (void)Kill(producers[victim_p], SIGKILL);
  if (rng() % 4 != 0) ::usleep(static_cast<useconds_t>(rng() % 500));
  (void)Kill(consumers[victim_c], SIGKILL);
  std::string failure;
  // Survivors must finish: a deadlock shows as a timeout here.
  for (int p = 0; p < kProducers; ++p) {
    absl::StatusOr<std::optional<ExitStatus>> st = WaitPidFor(producers[p], absl::Seconds(30));
    if (!st.ok() || !st->has_value()) {
      failure = absl::StrCat("producer ", p, " hung (victims p", victim_p, " c", victim_c, ")",
                             Diagnose(producers), Diagnose(consumers));
      break;
    }
    if (p != victim_p && (*st)->python_returncode() != 0) {
      failure = absl::StrCat("surviving producer ", p, " ended with ", (*st)->ToString());
    }
  }
  sh->stop.store(1);
  for (int c = 0; c < kConsumers && failure.empty(); ++c) {
    absl::StatusOr<std::optional<ExitStatus>> st = WaitPidFor(consumers[c], absl::Seconds(30));
    if (!st.ok() || !st->has_value()) {
      failure = absl::StrCat("consumer ", c, " hung", Diagnose(producers), Diagnose(consumers));
    }
  }
  if (!failure.empty()) {
    for (pid_t pid : producers) (void)Kill(pid, SIGKILL);
    for (pid_t pid : consumers) (void)Kill(pid, SIGKILL);
    for (pid_t pid : producers) (void)WaitPid(pid);
    for (pid_t pid : consumers) (void)WaitPid(pid);
    return failure;
  }
  // Whatever is left is read here, through a queue whose lock a victim may
  // have died holding.
  for (;;) {
    absl::StatusOr<Msg> m = q->GetNowait();
    if (!m.ok()) {
      if (!Is(m.status(), PyExc::kQueueEmpty)) return absl::StrCat("drain: ", m.status().ToString());
      break;
    }
    if (m->payload != PayloadOf(m->producer, m->seq)) return "drain: corrupt message";
    sh->received[m->producer][m->seq].fetch_add(1);
  }
  if (sh->violations.load() != 0) return absl::StrCat(sh->violations.load(), " corrupt or reordered messages");
  int lost = 0;
  for (int p = 0; p < kProducers; ++p) {
    int committed = sh->committed[p].load();
    if (p != victim_p && committed != kEach) return absl::StrCat("surviving producer committed ", committed);
    for (int i = 0; i < kEach; ++i) {
      int n = sh->received[p][i].load();
      if (n > 1) return absl::StrCat("duplicate of ", p, ":", i);
      // The victim's in-flight put may have committed before it could
      // record so: at most that one message past `committed`.
      if (i > committed && n != 0) return absl::StrCat("uncommitted ", p, ":", i, " arrived");
      if (i < committed && n == 0) ++lost;
    }
  }
  // A killed consumer may die between Get's commit and recording the
  // message: at most one unrecorded message per killed consumer.
  if (lost > 1) return absl::StrCat(lost, " committed messages lost");
  *lost_out = lost;
  return "";
}

}  // namespace

QueueKillRound RunQueueKillRound(uint32_t seed) {
  QueueKillRound r;
  void* mem = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    r.failure = "mmap failed";
    return r;
  }
  std::mt19937 rng(seed);
  r.failure = Round(static_cast<Shared*>(mem), rng, &r.lost_to_killed_consumer);
  ::munmap(mem, sizeof(Shared));
  return r;
}

}  // namespace mp::testing
