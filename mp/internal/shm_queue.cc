#include "mp/internal/shm_queue.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/shm_sync.h"

namespace mp::internal {

#ifdef MP_SHM_QUEUE_TEST_HOOKS
// Test-only (//mp/internal:shm_queue_test builds this file with the macro):
// run between a get's snapshots of the overflow's and the ring's producer
// states, where the order of the two reads decides FIFO (LoadForGet).
void (*g_test_between_get_snapshots)() = nullptr;
#define MP_BETWEEN_GET_SNAPSHOTS() \
  if (g_test_between_get_snapshots != nullptr) g_test_between_get_snapshots()
#else
#define MP_BETWEEN_GET_SNAPSHOTS()
#endif

namespace {
constexpr uint64_t kWrap = UINT64_MAX;
constexpr uint64_t kHeader = 8;
constexpr int kSpinWait = 4000;
// A put that finds the ring full waits this long for a consumer to make
// room before it overflows: longer than a slow consumer takes for one large
// item (a 1 MiB item takes ~70 ms under ThreadSanitizer), so that a consumer
// that keeps going keeps all traffic in the ring, and short enough that a
// put never waits noticeably for consumers that are not there.
constexpr absl::Duration kSpillAfter = absl::Milliseconds(100);

uint64_t Align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }
}  // namespace

// One side's published state: `gen` selects which of the two copies is
// current; its owner writes the other copy, then bumps `gen` (THE commit
// point). Fields are atomics because the other side reads them while the
// owner may be writing the spare copy; the generation check tells such a
// read apart.
template <int kFields>
struct Published {
  alignas(64) std::atomic<uint64_t> gen{0};
  std::atomic<uint64_t> copy[2][kFields] = {};

  // The owner's view (holding its side's mutex).
  void Load(uint64_t (&out)[kFields]) const {
    uint64_t g = gen.load(std::memory_order_acquire);
    for (int i = 0; i < kFields; ++i) out[i] = copy[g & 1][i].load(std::memory_order_relaxed);
  }
  // The other side's view: a consistent snapshot of some published state.
  void Snapshot(uint64_t (&out)[kFields]) const {
    for (;;) {
      uint64_t g = gen.load(std::memory_order_acquire);
      // Acquire: reading a field that a later commit wrote makes that
      // commit's earlier `gen` store visible to the check below.
      for (int i = 0; i < kFields; ++i) out[i] = copy[g & 1][i].load(std::memory_order_acquire);
      if (gen.load(std::memory_order_relaxed) == g) return;
    }
  }
  void Commit(const uint64_t (&next)[kFields]) {
    uint64_t g = gen.load(std::memory_order_relaxed);
    // Release: orders the previous commit's `gen` store before these
    // writes, so a reader that sees any of them also sees `gen` moved (and
    // retries). No fences: ThreadSanitizer cannot model them. On x86 these
    // are plain moves.
    for (int i = 0; i < kFields; ++i) copy[(g + 1) & 1][i].store(next[i], std::memory_order_release);
    gen.store(g + 1, std::memory_order_release);
  }
};

// Field indices. Byte offsets and counts are monotonic, never wrapped. Each
// lane (0: the ring, 1: the overflow) publishes its own two states: a tail
// and a put count (the producers'), a head and a get count (the consumers').
// The consumers' third word is, in the ring's state, the count of TaskDone
// calls and, in the overflow's, `released`, the offset below which its pages
// went back to the kernel.
//
// One state per lane and side, each within one cache line: a put or a get
// touches only its lane's, so the overflow costs the ring's traffic nothing
// (one state holding both lanes spanned two lines, and each put and get
// missed on both: -25% small items per second).
enum ProducerField { kTail, kPuts };
enum ConsumerField { kHead, kGets, kDone = 2, kReleased = 2 };
constexpr int kProducerFields = ShmQueue::kProducerFields;
constexpr int kConsumerFields = ShmQueue::kConsumerFields;
static_assert(kPuts + 1 == kProducerFields && kDone + 1 == kConsumerFields);
static_assert(sizeof(Published<kProducerFields>) == 64 && sizeof(Published<kConsumerFields>) == 64);

struct ShmControl {
  pthread_mutex_t put_mu;
  alignas(64) pthread_mutex_t get_mu;
  // Each on its own cache line: spinning getters read put_seq while putters
  // write it, and the other words must not share that traffic.
  alignas(64) std::atomic<uint32_t> put_seq;  // Bumped after each put: wakes getters.
  alignas(64) std::atomic<uint32_t> get_seq;  // Bumped after each get: wakes putters.
  alignas(64) std::atomic<uint32_t> done_seq;  // Bumped when unfinished reaches 0.
  // Sleepers (a dead one only costs a spare wake syscall).
  alignas(64) std::atomic<uint32_t> get_waiters;
  alignas(64) std::atomic<uint32_t> put_waiters;
  std::atomic<uint32_t> join_waiters;
  Published<kProducerFields> producers[2];  // Per lane: tail, puts; under put_mu.
  Published<kConsumerFields> consumers[2];  // Per lane: head, gets, done/released; under get_mu.
  alignas(64) int64_t maxsize;
  uint64_t capacity[2];  // Of the ring and of the overflow (0: none).
};

namespace {

// Bumps `seq` and wakes its sleepers, if any.
void Notify(std::atomic<uint32_t>* seq, std::atomic<uint32_t>* waiters) {
  seq->fetch_add(1, std::memory_order_seq_cst);
  if (waiters->load(std::memory_order_seq_cst) != 0) FutexWake(seq, INT_MAX);
}

// Waits until `*seq` differs from `seen` or `deadline` passes (spurious
// returns are fine: callers re-check). `seen` must be read BEFORE the state
// the caller found wanting, so that a commit after that read changes it.
void WaitChange(std::atomic<uint32_t>* seq, std::atomic<uint32_t>* waiters, uint32_t seen, absl::Time deadline) {
  for (int i = 0; i < kSpinWait; ++i) {
    if (seq->load(std::memory_order_acquire) != seen) return;
    CpuRelax(i);
  }
  if (absl::Now() >= deadline) return;
  waiters->fetch_add(1, std::memory_order_seq_cst);
  FutexWait(seq, seen, deadline);
  waiters->fetch_sub(1, std::memory_order_seq_cst);
}

}  // namespace

namespace {

// How much address space the overflow may reserve: the machine's memory
// (RAM and swap), at most 1 TiB, and no more than a quarter of what
// RLIMIT_AS leaves (`ulimit -v`). Only pages that are written cost memory.
uint64_t OverflowBudget() {
  struct sysinfo si;
  uint64_t budget = uint64_t{1} << 40;
  if (::sysinfo(&si) == 0) {
    budget = std::min<uint64_t>(budget, (uint64_t{si.totalram} + si.totalswap) * si.mem_unit);
  }
  struct rlimit as;
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    uint64_t used = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      unsigned long pages = 0;
      if (std::fscanf(f, "%lu", &pages) == 1) used = uint64_t{pages} * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
      std::fclose(f);
    }
    budget = std::min<uint64_t>(budget, as.rlim_cur > used ? (as.rlim_cur - used) / 4 : 0);
  }
  return budget & ~(ShmQueue::kOverflowPage - 1);
}

}  // namespace

absl::StatusOr<ShmQueue> ShmQueue::Create(int64_t maxsize, uint64_t capacity) {
  capacity = Align8(capacity);
  if (capacity < 64) return PyError(PyExc::kValueError, absl::StrCat("queue capacity ", capacity, " < 64 bytes"));
  size_t ctl_size = (sizeof(ShmControl) + 4095) & ~size_t{4095};
  size_t size = ctl_size + capacity;
  absl::StatusOr<void*> mapped = MapSharedAnonymous(size, "a queue");
  if (!mapped.ok()) return mapped.status();
  void* p = *mapped;
  ShmQueue q;
  q.mapped_ = size;
  q.ctl_ = new (p) ShmControl();
  q.lane_[0] = static_cast<char*>(p) + ctl_size;
  if (absl::Status s = InitRobustMutex(&q.ctl_->put_mu, false, "a queue"); !s.ok()) return s;
  if (absl::Status s = InitRobustMutex(&q.ctl_->get_mu, false, "a queue"); !s.ok()) return s;
  q.ctl_->maxsize = maxsize;
  q.ctl_->capacity[0] = capacity;
  // The overflow: as large a reservation as the address space allows (a
  // limited one may give less, or none: then the ring is all there is).
  for (uint64_t want = OverflowBudget(); want >= kOverflowPage * 16; want = (want / 2) & ~(kOverflowPage - 1)) {
    void* o = ::mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (o == MAP_FAILED) continue;
    q.lane_[1] = static_cast<char*>(o);
    q.ctl_->capacity[1] = want;
    break;
  }
  return q;
}

ShmQueue& ShmQueue::operator=(ShmQueue&& other) noexcept {
  if (this != &other) {
    this->~ShmQueue();
    ctl_ = std::exchange(other.ctl_, nullptr);
    lane_[0] = std::exchange(other.lane_[0], nullptr);
    lane_[1] = std::exchange(other.lane_[1], nullptr);
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

ShmQueue::~ShmQueue() {
  // Other processes may still use the queue: only this mapping goes. The
  // memory (and any unread message) is freed when the last mapping does.
  if (ctl_ != nullptr) {
    if (lane_[1] != nullptr) ::munmap(lane_[1], ctl_->capacity[1]);
    ::munmap(ctl_, mapped_);
  }
  ctl_ = nullptr;
}

void ShmQueue::Lock(pthread_mutex_t* mu) const {
  // The previous owner died holding the lock: the published State is intact
  // by construction (see the header), so marking it consistent (which
  // LockRobustMutex does) is all.
  (void)LockRobustMutex(mu, /*block=*/true, absl::InfiniteFuture());
}

void ShmQueue::Unlock(pthread_mutex_t* mu) const { pthread_mutex_unlock(mu); }

int64_t ShmQueue::maxsize() const { return ctl_->maxsize; }
uint64_t ShmQueue::capacity() const { return ctl_->capacity[0]; }
uint64_t ShmQueue::overflow_capacity() const { return ctl_->capacity[1]; }

absl::Status ShmQueue::Put(absl::string_view bytes, bool block, absl::Time deadline) {
  return PutWith(
      bytes.size(), [&](char* dst) { if (!bytes.empty()) std::memcpy(dst, bytes.data(), bytes.size()); }, block,
      deadline);
}

// Both lanes' states, for a put (holding put_mu): the producers' own, and a
// snapshot of the consumers'. Stale consumer states are conservative: fewer
// gets (a fuller queue, a non-empty overflow), less free space.
void ShmQueue::LoadForPut(uint64_t (&p)[2][kProducerFields], uint64_t (&c)[2][kConsumerFields]) const {
  ctl_->producers[0].Load(p[0]);
  ctl_->producers[1].Load(p[1]);
  ctl_->consumers[1].Snapshot(c[1]);
  ctl_->consumers[0].Snapshot(c[0]);
}

// Both lanes' states, for a get (holding get_mu): the consumers' own, and a
// snapshot of the producers', the overflow's FIRST. The two snapshots are not
// one atomic read, and FIFO needs none: every ring put before an overflow put
// was committed before it (both under put_mu), so a consumer that sees an
// overflow item and then reads the ring's state sees those ring items too,
// and takes them first. (shm_queue_test puts between the two reads.)
void ShmQueue::LoadForGet(uint64_t (&c)[2][kConsumerFields], uint64_t (&p)[2][kProducerFields]) const {
  ctl_->consumers[0].Load(c[0]);
  ctl_->consumers[1].Load(c[1]);
  ctl_->producers[1].Snapshot(p[1]);
  MP_BETWEEN_GET_SNAPSHOTS();
  ctl_->producers[0].Snapshot(p[0]);
}

// Writes a message of `size` bytes of payload into lane `l` if it fits
// (holding put_mu); true if it did. `free_end` is where the lane's free space
// ends (head + capacity; the overflow: released + capacity).
bool ShmQueue::TryAppend(int l, uint64_t (&p)[kProducerFields], uint64_t free_end, size_t size,
                         absl::FunctionRef<void(char* dst)> fill) {
  const uint64_t cap = ctl_->capacity[l];
  const uint64_t need = kHeader + Align8(size);
  uint64_t pos = p[kTail] % cap;
  const uint64_t to_end = cap - pos;
  const uint64_t total = need <= to_end ? need : to_end + need;
  if (need > cap || total > free_end - p[kTail]) return false;
  char* base = lane_[l];
  if (need > to_end) {
    std::memcpy(base + pos, &kWrap, kHeader);
    pos = 0;
  }
  uint64_t len = size;
  std::memcpy(base + pos, &len, kHeader);
  fill(base + pos + kHeader);
  p[kTail] += total;
  ++p[kPuts];
  ctl_->producers[l].Commit(p);
  return true;
}

absl::Status ShmQueue::PutWith(size_t size, absl::FunctionRef<void(char* dst)> fill, bool block,
                               absl::Time deadline) {
  const uint64_t ring = ctl_->capacity[0];
  const uint64_t need = kHeader + Align8(size);
  if (need > ring && need > ctl_->capacity[1]) {
    return PyError(PyExc::kValueError,
                   absl::StrCat("item of ", size, " bytes does not fit the queue's ", ring, "-byte buffer"));
  }
  // The overflow takes what the ring cannot: at once for an item larger than
  // the ring or a put that must not wait; else once no consumer made room
  // for kSpillAfter (a consumer that keeps up keeps all traffic in the ring).
  bool may_spill = need > ring || !block;
  absl::Time spill_at = absl::InfiniteFuture();
  for (;;) {
    uint32_t seen = ctl_->get_seq.load(std::memory_order_acquire);
    Lock(&ctl_->put_mu);
    uint64_t p[2][kProducerFields], c[2][kConsumerFields];
    LoadForPut(p, c);
    // gets <= puts always, and puts cannot move while we hold put_mu.
    const int64_t queued = static_cast<int64_t>(p[0][kPuts] + p[1][kPuts] - c[0][kGets] - c[1][kGets]);
    const bool room_for_count = ctl_->maxsize <= 0 || queued < ctl_->maxsize;
    // FIFO: while the overflow holds items, every put goes there too.
    const bool overflow_empty = c[1][kGets] == p[1][kPuts];
    if (room_for_count && overflow_empty && need <= ring) {
      uint64_t pos = p[0][kTail] % ring;
      if (c[0][kGets] == p[0][kPuts] && (need > ring - pos || c[0][kHead] != p[0][kTail])) {
        // Restart an empty ring at the next lap so any message up to the
        // ring's size fits: first a wrap marker and the tail (a producer
        // commit; alone it is a valid state, which consumers skip like any
        // wrap), then the head, as a consumer commit under get_mu. Between
        // the two the head lags over nothing but padding; the next empty put
        // repeats the second step.
        if (need > ring - pos) {
          std::memcpy(lane_[0] + pos, &kWrap, kHeader);
          p[0][kTail] += ring - pos;
          ctl_->producers[0].Commit(p[0]);
        }
        Lock(&ctl_->get_mu);
        ctl_->consumers[0].Load(c[0]);
        if (c[0][kGets] == p[0][kPuts] && c[0][kHead] != p[0][kTail]) {
          c[0][kHead] = p[0][kTail];
          ctl_->consumers[0].Commit(c[0]);
        }
        Unlock(&ctl_->get_mu);
      }
      if (TryAppend(0, p[0], c[0][kHead] + ring, size, fill)) {
        Unlock(&ctl_->put_mu);
        Notify(&ctl_->put_seq, &ctl_->get_waiters);
        return absl::OkStatus();
      }
    }
    if (room_for_count && (may_spill || !overflow_empty) && ctl_->capacity[1] > 0 &&
        TryAppend(1, p[1], c[1][kReleased] + ctl_->capacity[1], size, fill)) {
      Unlock(&ctl_->put_mu);
      Notify(&ctl_->put_seq, &ctl_->get_waiters);
      return absl::OkStatus();
    }
    Unlock(&ctl_->put_mu);
    absl::Time now = absl::Now();
    absl::Time wake = deadline;
    if (room_for_count && !may_spill && ctl_->capacity[1] > 0) {
      if (spill_at == absl::InfiniteFuture()) spill_at = now + kSpillAfter;
      if (now >= spill_at) {
        may_spill = true;
        continue;
      }
      wake = std::min(wake, spill_at);
    } else if (!block || now >= deadline) {
      return PyError(PyExc::kQueueFull, "queue is full");
    }
    WaitChange(&ctl_->get_seq, &ctl_->put_waiters, seen, wake);
  }
}

absl::Status ShmQueue::Get(absl::FunctionRef<absl::Status(absl::string_view)> consume, bool block,
                           absl::Time deadline) {
  for (;;) {
    uint32_t seen = ctl_->put_seq.load(std::memory_order_acquire);
    Lock(&ctl_->get_mu);
    uint64_t c[2][kConsumerFields], p[2][kProducerFields];
    LoadForGet(c, p);
    // The ring's items all came before the overflow's (a producer uses the
    // ring only while the overflow is empty), so the ring goes first.
    const int l = p[0][kPuts] > c[0][kGets] ? 0 : p[1][kPuts] > c[1][kGets] ? 1 : -1;
    if (l >= 0) {
      uint64_t(&mine)[kConsumerFields] = c[l];
      const uint64_t cap = ctl_->capacity[l];
      uint64_t pos = mine[kHead] % cap;
      uint64_t len;
      std::memcpy(&len, lane_[l] + pos, kHeader);
      if (len == kWrap) {
        mine[kHead] += cap - pos;
        pos = 0;
        std::memcpy(&len, lane_[l], kHeader);
      }
      absl::Status result = consume(absl::string_view(lane_[l] + pos + kHeader, len));
      mine[kHead] += kHeader + Align8(len);
      ++mine[kGets];
      ctl_->consumers[l].Commit(mine);
      if (l == 1) ReleaseOverflow(mine, /*drained=*/mine[kGets] == p[1][kPuts]);
      Unlock(&ctl_->get_mu);
      Notify(&ctl_->get_seq, &ctl_->put_waiters);
      return result;
    }
    Unlock(&ctl_->get_mu);
    if (!block || absl::Now() >= deadline) return PyError(PyExc::kQueueEmpty, "queue is empty");
    WaitChange(&ctl_->put_seq, &ctl_->get_waiters, seen, deadline);
  }
}

// Gives the overflow's consumed pages back to the kernel (holding get_mu, after
// the get's commit; `c` is the overflow's consumer state): in steps of
// kReleaseStep, and all of them once the overflow is drained, so an overflow
// that emptied holds no memory. Producers write only below `released` +
// capacity, so the pages punched here are no one's until `released` moves
// past them, committed after the punch; a consumer killed in between leaves
// them to the next one.
void ShmQueue::ReleaseOverflow(uint64_t (&c)[kConsumerFields], bool drained) {
  const uint64_t cap = ctl_->capacity[1];
  const uint64_t upto = c[kHead] & ~(kOverflowPage - 1);
  if (upto <= c[kReleased] || (!drained && upto - c[kReleased] < kReleaseStep)) return;
  for (uint64_t from = c[kReleased]; from < upto;) {
    const uint64_t pos = from % cap;
    const uint64_t n = std::min(upto - from, cap - pos);
    ::madvise(lane_[1] + pos, n, MADV_REMOVE);
    from += n;
  }
  c[kReleased] = upto;
  ctl_->consumers[1].Commit(c);
}

// Counts are read holding get_mu, so gets and done cannot move meanwhile;
// puts are read one lane after the other, and the sum is the count of puts
// at some moment between the two reads (it grows by one at a time).
int64_t ShmQueue::Size() const {
  uint64_t c[2][kConsumerFields], p[2][kProducerFields];
  Lock(&ctl_->get_mu);
  LoadForGet(c, p);
  Unlock(&ctl_->get_mu);
  return static_cast<int64_t>(p[0][kPuts] + p[1][kPuts] - c[0][kGets] - c[1][kGets]);
}

int64_t ShmQueue::Unfinished() const {
  uint64_t c[2][kConsumerFields], p[2][kProducerFields];
  Lock(&ctl_->get_mu);
  LoadForGet(c, p);
  Unlock(&ctl_->get_mu);
  return static_cast<int64_t>(p[0][kPuts] + p[1][kPuts] - c[0][kDone]);
}

absl::Status ShmQueue::TaskDone() {
  uint64_t c[2][kConsumerFields], p[2][kProducerFields];
  Lock(&ctl_->get_mu);
  LoadForGet(c, p);
  const uint64_t puts = p[0][kPuts] + p[1][kPuts];
  if (c[0][kDone] >= puts) {
    Unlock(&ctl_->get_mu);
    return PyError(PyExc::kValueError, "task_done() called too many times");
  }
  ++c[0][kDone];
  ctl_->consumers[0].Commit(c[0]);
  Unlock(&ctl_->get_mu);
  // A put racing with this only makes the wake spurious: joiners re-check.
  if (c[0][kDone] == puts) Notify(&ctl_->done_seq, &ctl_->join_waiters);
  return absl::OkStatus();
}

bool ShmQueue::JoinUntil(absl::Time deadline) {
  for (;;) {
    uint32_t seen = ctl_->done_seq.load(std::memory_order_acquire);
    if (Unfinished() == 0) return true;
    if (absl::Now() >= deadline) return false;
    WaitChange(&ctl_->done_seq, &ctl_->join_waiters, seen, deadline);
  }
}

}  // namespace mp::internal
