#include "mp/internal/shm_queue.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/shm_sync.h"

namespace mp::internal {

namespace {
constexpr uint64_t kWrap = UINT64_MAX;
constexpr uint64_t kHeader = 8;
constexpr int kSpinWait = 4000;

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

// Field indices. Byte offsets and counts are monotonic, never wrapped.
enum ProducerField { kTail, kPuts, kProducerFields };
enum ConsumerField { kHead, kGets, kDone, kConsumerFields };

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
  Published<kProducerFields> producers;  // tail, puts: under put_mu.
  Published<kConsumerFields> consumers;  // head, gets, done: under get_mu.
  alignas(64) int64_t maxsize;
  uint64_t capacity;
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
  q.ring_ = static_cast<char*>(p) + ctl_size;
  if (absl::Status s = InitRobustMutex(&q.ctl_->put_mu, false, "a queue"); !s.ok()) return s;
  if (absl::Status s = InitRobustMutex(&q.ctl_->get_mu, false, "a queue"); !s.ok()) return s;
  q.ctl_->maxsize = maxsize;
  q.ctl_->capacity = capacity;
  return q;
}

ShmQueue& ShmQueue::operator=(ShmQueue&& other) noexcept {
  if (this != &other) {
    this->~ShmQueue();
    ctl_ = std::exchange(other.ctl_, nullptr);
    ring_ = std::exchange(other.ring_, nullptr);
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

ShmQueue::~ShmQueue() {
  // Other processes may still use the queue: only this mapping goes. The
  // memory (and any unread message) is freed when the last mapping does.
  if (ctl_ != nullptr) ::munmap(ctl_, mapped_);
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
uint64_t ShmQueue::capacity() const { return ctl_->capacity; }

absl::Status ShmQueue::Put(absl::string_view bytes, bool block, absl::Time deadline) {
  return PutWith(
      bytes.size(), [&](char* dst) { if (!bytes.empty()) std::memcpy(dst, bytes.data(), bytes.size()); }, block,
      deadline);
}

absl::Status ShmQueue::PutWith(size_t size, absl::FunctionRef<void(char* dst)> fill, bool block,
                               absl::Time deadline) {
  const uint64_t cap = ctl_->capacity;
  const uint64_t need = kHeader + Align8(size);
  if (need > cap) {
    return PyError(PyExc::kValueError,
                   absl::StrCat("item of ", size, " bytes does not fit the queue's ", cap, "-byte buffer"));
  }
  for (;;) {
    uint32_t seen = ctl_->get_seq.load(std::memory_order_acquire);
    Lock(&ctl_->put_mu);
    uint64_t p[kProducerFields], c[kConsumerFields];
    ctl_->producers.Load(p);
    ctl_->consumers.Snapshot(c);
    // gets <= puts always, and puts cannot move while we hold put_mu.
    bool empty = c[kGets] == p[kPuts];
    uint64_t pos = p[kTail] % cap;
    uint64_t to_end = cap - pos;
    if (empty && (need > to_end || c[kHead] != p[kTail])) {
      // Restart an empty ring at the next lap so any message up to `cap`
      // bytes fits: first a wrap marker and the tail (a producer commit;
      // alone it is a valid state, which consumers skip like any wrap),
      // then the head, as a consumer commit under get_mu. Between the two
      // the head lags over nothing but padding; the next empty put repeats
      // the second step.
      if (need > to_end) {
        std::memcpy(ring_ + pos, &kWrap, kHeader);
        p[kTail] += to_end;
        ctl_->producers.Commit(p);
        pos = 0;
        to_end = cap;
      }
      Lock(&ctl_->get_mu);
      ctl_->consumers.Load(c);
      if (c[kGets] == p[kPuts] && c[kHead] != p[kTail]) {
        c[kHead] = p[kTail];
        ctl_->consumers.Commit(c);
      }
      Unlock(&ctl_->get_mu);
    }
    bool room_for_count = ctl_->maxsize <= 0 || static_cast<int64_t>(p[kPuts] - c[kGets]) < ctl_->maxsize;
    uint64_t total = need <= to_end ? need : to_end + need;
    if (room_for_count && total <= cap - (p[kTail] - c[kHead])) {
      if (need > to_end) {
        std::memcpy(ring_ + pos, &kWrap, kHeader);
        pos = 0;
      }
      uint64_t len = size;
      std::memcpy(ring_ + pos, &len, kHeader);
      fill(ring_ + pos + kHeader);
      p[kTail] += total;
      ++p[kPuts];
      ctl_->producers.Commit(p);
      Unlock(&ctl_->put_mu);
      Notify(&ctl_->put_seq, &ctl_->get_waiters);
      return absl::OkStatus();
    }
    Unlock(&ctl_->put_mu);
    if (!block || absl::Now() >= deadline) return PyError(PyExc::kQueueFull, "queue is full");
    WaitChange(&ctl_->get_seq, &ctl_->put_waiters, seen, deadline);
  }
}

absl::Status ShmQueue::Get(absl::FunctionRef<absl::Status(absl::string_view)> consume, bool block,
                           absl::Time deadline) {
  const uint64_t cap = ctl_->capacity;
  for (;;) {
    uint32_t seen = ctl_->put_seq.load(std::memory_order_acquire);
    Lock(&ctl_->get_mu);
    uint64_t c[kConsumerFields], p[kProducerFields];
    ctl_->consumers.Load(c);
    ctl_->producers.Snapshot(p);
    if (p[kPuts] > c[kGets]) {
      uint64_t pos = c[kHead] % cap;
      uint64_t len;
      std::memcpy(&len, ring_ + pos, kHeader);
      if (len == kWrap) {
        c[kHead] += cap - pos;
        pos = 0;
        std::memcpy(&len, ring_, kHeader);
      }
      absl::Status result = consume(absl::string_view(ring_ + pos + kHeader, len));
      c[kHead] += kHeader + Align8(len);
      ++c[kGets];
      ctl_->consumers.Commit(c);
      Unlock(&ctl_->get_mu);
      Notify(&ctl_->get_seq, &ctl_->put_waiters);
      return result;
    }
    Unlock(&ctl_->get_mu);
    if (!block || absl::Now() >= deadline) return PyError(PyExc::kQueueEmpty, "queue is empty");
    WaitChange(&ctl_->put_seq, &ctl_->get_waiters, seen, deadline);
  }
}

// Counts are read holding get_mu, so gets and done cannot move meanwhile and
// the answer is exact at the moment puts is read.
int64_t ShmQueue::Size() const {
  uint64_t c[kConsumerFields], p[kProducerFields];
  Lock(&ctl_->get_mu);
  ctl_->consumers.Load(c);
  ctl_->producers.Snapshot(p);
  Unlock(&ctl_->get_mu);
  return static_cast<int64_t>(p[kPuts] - c[kGets]);
}

int64_t ShmQueue::Unfinished() const {
  uint64_t c[kConsumerFields], p[kProducerFields];
  Lock(&ctl_->get_mu);
  ctl_->consumers.Load(c);
  ctl_->producers.Snapshot(p);
  Unlock(&ctl_->get_mu);
  return static_cast<int64_t>(p[kPuts] - c[kDone]);
}

absl::Status ShmQueue::TaskDone() {
  uint64_t c[kConsumerFields], p[kProducerFields];
  Lock(&ctl_->get_mu);
  ctl_->consumers.Load(c);
  ctl_->producers.Snapshot(p);
  if (c[kDone] >= p[kPuts]) {
    Unlock(&ctl_->get_mu);
    return PyError(PyExc::kValueError, "task_done() called too many times");
  }
  ++c[kDone];
  ctl_->consumers.Commit(c);
  Unlock(&ctl_->get_mu);
  // A put racing with this only makes the wake spurious: joiners re-check.
  if (c[kDone] == p[kPuts]) Notify(&ctl_->done_seq, &ctl_->join_waiters);
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
