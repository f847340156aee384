#include "tools/faults/sync_cases.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mp/barrier.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"
#include "mp/internal/resource_tracker.h"
#include "mp/lock.h"
#include "mp/os.h"
#include "mp/shared_memory.h"

namespace mp::faults {
namespace {

template <typename T>
T* MapShared() {
  void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) T();
}

// Waits for `pid` (our child) until `deadline`; kills it if it is late.
// Returns its exit code, or -1000 if it hung.
int JoinOrKill(pid_t pid, absl::Time deadline) {
  absl::StatusOr<std::optional<ExitStatus>> st = WaitPidUntil(pid, deadline);
  if (st.ok() && st->has_value()) return (*st)->python_returncode();
  (void)Kill(pid, SIGKILL);
  (void)WaitPid(pid);
  return -1000;
}

}  // namespace

// ---------------------------------------------------------------------------
// lock_holder_kills: three processes take a Lock (odd trials: an RLock, taken
// twice) 2000 times each, around a critical section that counts who is in it;
// one of them is SIGKILLed at a random moment (0-4 ms in).
// DEFINED OUTCOME: no survivor hangs (all finish within 30 s); the critical
// section is never entered by two at once, once the next holder has repaired
// the count a dead holder left; a victim that died holding the lock (it had
// marked itself the holder) is reported exactly once, to whichever process
// takes the lock next, naming its pid; a victim that died outside the lock
// is never reported; nobody else's death is reported.
struct LockShared {
  std::atomic<int> in_section{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> reports{0};
  std::atomic<int> wrong_pid{0};
  std::atomic<pid_t> marked_holder{0};
};

template <typename L>
std::string LockRound(L& lock, int depth, uint32_t seed) {
  LockShared* s = MapShared<LockShared>();
  std::vector<pid_t> kids;
  for (int k = 0; k < 3; ++k) {
    absl::StatusOr<pid_t> pid = Fork();
    if (!pid.ok()) return pid.status().ToString();
    if (*pid == 0) {
      std::mt19937 rng(seed + k);
      for (int i = 0; i < 2000; ++i) {
        for (int d = 0; d < depth; ++d) {
          absl::StatusOr<bool> got = lock.Acquire();
          if (Is(got.status(), PyExc::kOwnerDiedError)) {
            s->reports.fetch_add(1);
            pid_t dead = s->marked_holder.load();
            if (dead != 0 && !absl::StrContains(got.status().message(), absl::StrCat("pid ", dead, ","))) {
              s->wrong_pid.fetch_add(1);
            }
            s->in_section.store(0);  // The repair: the dead holder's count.
          } else if (!got.ok() || !*got) {
            _exit(3);
          }
        }
        s->marked_holder.store(::getpid());
        if (s->in_section.fetch_add(1) != 0) s->overlaps.fetch_add(1);
        if (rng() % 8 == 0) ::sched_yield();
        s->in_section.fetch_sub(1);
        s->marked_holder.store(0);
        for (int d = 0; d < depth; ++d) {
          if (!lock.Release().ok()) _exit(4);
        }
      }
      _exit(0);
    }
    kids.push_back(*pid);
  }
  std::mt19937 rng(seed);
  ::usleep(rng() % 4000);
  pid_t victim = kids[rng() % 3];
  (void)Kill(victim, SIGKILL);
  (void)WaitPid(victim);
  bool died_holding = s->marked_holder.load() == victim;
  std::string why;
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (pid_t pid : kids) {
    if (pid == victim) continue;
    int code = JoinOrKill(pid, deadline);
    if (code == -1000) why = "a survivor hung waiting for the lock";
    if (why.empty() && code != 0) why = absl::StrCat("a survivor exited ", code);
  }
  // The victim may have died holding it after the survivors were done: then
  // this acquire is the one told.
  absl::StatusOr<bool> last = lock.Acquire(true, absl::Seconds(10));
  if (Is(last.status(), PyExc::kOwnerDiedError)) {
    s->reports.fetch_add(1);
  } else if (!last.ok() || !*last) {
    if (why.empty()) why = "the lock could not be taken after the round";
  }
  for (int d = 1; d < depth; ++d) (void)lock.Acquire();
  for (int d = 0; d < depth; ++d) (void)lock.Release();
  if (why.empty() && s->overlaps.load() != 0) why = absl::StrCat(s->overlaps.load(), " overlapping critical sections");
  if (why.empty() && s->wrong_pid.load() != 0) why = "a report named the wrong pid";
  if (why.empty() && died_holding && s->reports.load() != 1) {
    why = absl::StrCat("the victim died holding the lock; reported ", s->reports.load(), " times");
  }
  // Killed in the few instructions between taking the mutex and marking
  // itself (or unmarking and releasing), it held the lock unmarked: 0 or 1.
  if (why.empty() && !died_holding && s->reports.load() > 1) {
    why = absl::StrCat("one death reported ", s->reports.load(), " times");
  }
  ::munmap(s, sizeof(LockShared));
  return why;
}

std::string LockHolderKills(int trial) {
  uint32_t seed = 0x10c40000u + static_cast<uint32_t>(trial);
  if (trial % 2 == 0) {
    absl::StatusOr<Lock> lock = Lock::Create();
    if (!lock.ok()) return lock.status().ToString();
    return LockRound(*lock, 1, seed);
  }
  absl::StatusOr<RLock> lock = RLock::Create();
  if (!lock.ok()) return lock.status().ToString();
  return LockRound(*lock, 2, seed);
}

// ---------------------------------------------------------------------------
// barrier_party_kills: four processes pass a Barrier(4) in a loop; once all
// have passed it once (so each is a party), one is SIGKILLed at a random
// moment (0-5 ms later), between cycles or while waiting.
// DEFINED OUTCOME: every survivor's Wait returns BrokenBarrierError within
// 5 s of the kill (none hangs, none passes a cycle without the victim: all
// survivors passed the same number of cycles).
struct BarrierShared {
  std::atomic<int> passed_first{0};
  std::atomic<int> cycles[4] = {};
};

std::string BarrierPartyKills(int trial) {
  absl::StatusOr<Barrier> b = Barrier::Create(4);
  if (!b.ok()) return b.status().ToString();
  BarrierShared* s = MapShared<BarrierShared>();
  std::vector<pid_t> kids;
  for (int k = 0; k < 4; ++k) {
    absl::StatusOr<pid_t> pid = Fork();
    if (!pid.ok()) return pid.status().ToString();
    if (*pid == 0) {
      for (int c = 0;; ++c) {
        absl::StatusOr<int> i = b->Wait();
        if (Is(i.status(), PyExc::kBrokenBarrierError)) _exit(0);
        if (!i.ok()) _exit(3);
        if (c == 0) s->passed_first.fetch_add(1);
        s->cycles[k].store(c + 1);
      }
    }
    kids.push_back(*pid);
  }
  while (s->passed_first.load() < 4) ::usleep(100);
  std::mt19937 rng(0xba770000u + static_cast<uint32_t>(trial));
  ::usleep(rng() % 5000);
  int v = static_cast<int>(rng() % 4);
  (void)Kill(kids[v], SIGKILL);
  absl::Time killed = absl::Now();
  (void)WaitPid(kids[v]);
  std::string why;
  int cycles = -1;
  for (int k = 0; k < 4; ++k) {
    if (k == v) continue;
    int code = JoinOrKill(kids[k], killed + absl::Seconds(5));
    if (code == -1000) why = "a survivor was still waiting 5 s after the kill";
    if (why.empty() && code != 0) why = absl::StrCat("a survivor exited ", code);
    if (cycles < 0) cycles = s->cycles[k].load();
    if (why.empty() && s->cycles[k].load() != cycles) why = "survivors passed different numbers of cycles";
  }
  if (why.empty() && !b->broken()) why = "the barrier is not broken";
  ::munmap(s, sizeof(BarrierShared));
  return why;
}

// ---------------------------------------------------------------------------
// shm_creator_kills: a process (a program of its own: its own resource
// tracker) creates a SharedMemory, forks a child that attaches to it, and
// writes into it until it is SIGKILLed, at a random moment (0-2 ms), without
// ever unlinking.
// DEFINED OUTCOME: while the attached child runs, the segment is still there
// with the creator's bytes; once that child is killed too, the tracker
// unlinks it within 10 s: no /dev/shm entry is left.
namespace {
bool ShmExists(const std::string& name) {
  struct stat st;
  return ::stat(absl::StrCat("/dev/shm/", name).c_str(), &st) == 0;
}
}  // namespace

std::string ShmCreatorKills(int trial) {
  absl::StatusOr<internal::PipeFds> report = internal::MakePipe();
  if (!report.ok()) return report.status().ToString();
  absl::StatusOr<pid_t> creator = Fork();
  if (!creator.ok()) return creator.status().ToString();
  if (*creator == 0) {
    report->read.reset();
    internal::DetachResourceTrackerForTesting();
    absl::StatusOr<SharedMemory> shm = SharedMemory::Create(4096);
    if (!shm.ok()) _exit(3);
    std::memcpy(shm->buf().data(), "creator", 7);
    std::string name = shm->name();
    absl::StatusOr<pid_t> child = Fork();
    if (!child.ok()) _exit(4);
    if (*child == 0) {
      absl::StatusOr<SharedMemory> mine = SharedMemory::Attach(name);
      for (;;) ::pause();
    }
    std::string msg = absl::StrCat(name, " ", *child, "\n");
    (void)internal::WriteFull(report->write.get(), msg.data(), msg.size());
    for (uint64_t i = 0;; ++i) shm->buf()[8 + i % 4000] = static_cast<char>(i);
  }
  report->write.reset();
  char buf[128] = {};
  ssize_t n = ::read(report->read.get(), buf, sizeof buf - 1);
  if (n <= 0) {
    (void)Kill(*creator, SIGKILL);
    (void)WaitPid(*creator);
    return "the creator reported nothing";
  }
  std::string name;
  int child = 0;
  {
    char* space = std::strchr(buf, ' ');
    if (space == nullptr) return "bad report";
    name.assign(buf, space);
    child = std::atoi(space + 1);
  }
  std::mt19937 rng(0x5e3f0000u + static_cast<uint32_t>(trial));
  ::usleep(rng() % 2000);
  (void)Kill(*creator, SIGKILL);
  (void)WaitPid(*creator);
  std::string why;
  if (!ShmExists(name)) why = "the segment went while a process of its program still ran";
  if (why.empty()) {
    absl::StatusOr<SharedMemory> look = SharedMemory::Attach(name);
    if (!look.ok() || std::memcmp(look->buf().data(), "creator", 7) != 0) why = "the creator's bytes are gone";
  }
  (void)Kill(child, SIGKILL);  // Not ours to reap: it was the creator's.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (ShmExists(name) && absl::Now() < deadline) ::usleep(1000);
  if (ShmExists(name)) {
    ::unlink(absl::StrCat("/dev/shm/", name).c_str());
    if (why.empty()) why = "the tracker did not unlink the segment within 10 s";
  }
  return why;
}

}  // namespace mp::faults
