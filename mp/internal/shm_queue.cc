#include "mp/internal/shm_queue.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/errors.h"

namespace mp::internal {

namespace {
constexpr uint64_t kWrap = UINT64_MAX;
constexpr uint64_t kHeader = 8;
// Busy-wait rounds before sleeping: waking a process on another CPU costs
// tens of microseconds, far more than a short put or get holds the lock.
constexpr int kSpinLock = 200;
constexpr int kSpinWait = 4000;
constexpr long kLockSliceNanos = 20 * 1000 * 1000;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

uint64_t Align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }
}  // namespace

struct State {
  uint64_t head;        // Byte offset (monotonic) of the oldest message.
  uint64_t tail;        // Byte offset (monotonic) just past the newest.
  int64_t count;        // Messages in the ring.
  int64_t unfinished;   // Puts not yet matched by TaskDone.
};

struct ShmControl {
  pthread_mutex_t mu;
  alignas(64) std::atomic<uint32_t> put_seq;  // Bumped after each put: wakes getters.
  std::atomic<uint32_t> get_seq;              // Bumped after each get: wakes putters.
  std::atomic<uint32_t> done_seq;             // Bumped when unfinished reaches 0.
  std::atomic<uint32_t> get_waiters;          // Sleepers (a dead one only costs a
  std::atomic<uint32_t> put_waiters;          // spare wake syscall).
  std::atomic<uint32_t> join_waiters;
  alignas(64) State state[2];
  std::atomic<uint32_t> cur;  // Which State is published: THE commit point.
  int64_t maxsize;
  uint64_t capacity;
};

namespace {

const State& Current(const ShmControl* c) { return c->state[c->cur.load(std::memory_order_acquire)]; }

// Writes `next` into the unpublished copy and publishes it in one store.
void Commit(ShmControl* c, const State& next) {
  uint32_t spare = c->cur.load(std::memory_order_relaxed) ^ 1;
  c->state[spare] = next;
  c->cur.store(spare, std::memory_order_release);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// Bumps `seq` and wakes its sleepers, if any.
void Notify(std::atomic<uint32_t>* seq, std::atomic<uint32_t>* waiters) {
  seq->fetch_add(1, std::memory_order_seq_cst);
  if (waiters->load(std::memory_order_seq_cst) != 0) FutexWakeAll(seq);
}

// Waits until `*seq` differs from `seen` or `deadline` passes (spurious
// returns are fine: callers re-check under the lock).
void WaitChange(std::atomic<uint32_t>* seq, std::atomic<uint32_t>* waiters, uint32_t seen, absl::Time deadline) {
  for (int i = 0; i < kSpinWait; ++i) {
    if (seq->load(std::memory_order_acquire) != seen) return;
    CpuRelax();
  }
  struct timespec ts;
  struct timespec* rel = nullptr;
  if (deadline != absl::InfiniteFuture()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    ts = absl::ToTimespec(left);
    rel = &ts;
  }
  waiters->fetch_add(1, std::memory_order_seq_cst);
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(seq), FUTEX_WAIT, seen, rel, nullptr, 0);
  waiters->fetch_sub(1, std::memory_order_seq_cst);
}

}  // namespace

absl::StatusOr<ShmQueue> ShmQueue::Create(int64_t maxsize, uint64_t capacity) {
  capacity = Align8(capacity);
  if (capacity < 64) return PyError(PyExc::kValueError, absl::StrCat("queue capacity ", capacity, " < 64 bytes"));
  size_t ctl_size = (sizeof(ShmControl) + 4095) & ~size_t{4095};
  size_t size = ctl_size + capacity;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return PyOSError(errno, absl::StrCat("mmap(", size, " bytes) for a queue"));
  ShmQueue q;
  q.mapped_ = size;
  q.ctl_ = new (p) ShmControl();
  q.ring_ = static_cast<char*>(p) + ctl_size;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  int r = pthread_mutex_init(&q.ctl_->mu, &attr);
  pthread_mutexattr_destroy(&attr);
  if (r != 0) return PyOSError(r, "pthread_mutex_init() for a queue");
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

void ShmQueue::Lock() const {
  // The previous owner died holding the lock: the published State is intact
  // by construction (see the header), so marking it consistent is all.
  for (int i = 0; i < kSpinLock; ++i) {
    int r = pthread_mutex_trylock(&ctl_->mu);
    if (r == 0) return;
    if (r == EOWNERDEAD) {
      pthread_mutex_consistent(&ctl_->mu);
      return;
    }
    CpuRelax();
  }
  // Sleep in slices, never for good: when a waiter that unlock() woke is
  // killed before it takes the lock, and a third process barges in first
  // (acquiring without the futex's WAITERS bit), the kernel's robust-futex
  // cleanup cannot pass that wakeup on, and the remaining waiters would sleep
  // forever. Each timeout re-arms the WAITERS bit, so they recover.
  for (;;) {
    struct timespec until;
    ::clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += kLockSliceNanos;
    if (until.tv_nsec >= 1000000000) {
      until.tv_nsec -= 1000000000;
      ++until.tv_sec;
    }
    int r = pthread_mutex_clocklock(&ctl_->mu, CLOCK_MONOTONIC, &until);
    if (r == 0) return;
    if (r == EOWNERDEAD) {
      pthread_mutex_consistent(&ctl_->mu);
      return;
    }
  }
}

void ShmQueue::Unlock() const { pthread_mutex_unlock(&ctl_->mu); }

int64_t ShmQueue::maxsize() const { return ctl_->maxsize; }
uint64_t ShmQueue::capacity() const { return ctl_->capacity; }

absl::Status ShmQueue::Put(absl::string_view bytes, bool block, absl::Time deadline) {
  const uint64_t cap = ctl_->capacity;
  const uint64_t need = kHeader + Align8(bytes.size());
  if (need > cap) {
    return PyError(PyExc::kValueError, absl::StrCat("item of ", bytes.size(), " bytes does not fit the queue's ",
                                                    cap, "-byte buffer"));
  }
  for (;;) {
    Lock();
    State s = Current(ctl_);
    bool room_for_count = ctl_->maxsize <= 0 || s.count < ctl_->maxsize;
    uint64_t pos = s.tail % cap;
    uint64_t to_end = cap - pos;
    if (s.count == 0 && need > to_end) {
      // Empty (so head == tail): restart at the next lap so any message up
      // to `cap` bytes fits.
      s.head = s.tail = s.tail + to_end;
      pos = 0;
      to_end = cap;
    }
    uint64_t total = need <= to_end ? need : to_end + need;
    if (room_for_count && total <= cap - (s.tail - s.head)) {
      if (need > to_end) {
        std::memcpy(ring_ + pos, &kWrap, kHeader);
        pos = 0;
      }
      uint64_t len = bytes.size();
      std::memcpy(ring_ + pos, &len, kHeader);
      if (!bytes.empty()) std::memcpy(ring_ + pos + kHeader, bytes.data(), bytes.size());
      s.tail += total;
      ++s.count;
      ++s.unfinished;
      Commit(ctl_, s);
      Unlock();
      Notify(&ctl_->put_seq, &ctl_->get_waiters);
      return absl::OkStatus();
    }
    uint32_t seen = ctl_->get_seq.load(std::memory_order_acquire);
    Unlock();
    if (!block || absl::Now() >= deadline) return PyError(PyExc::kQueueFull, "queue is full");
    WaitChange(&ctl_->get_seq, &ctl_->put_waiters, seen, deadline);
  }
}

absl::Status ShmQueue::Get(absl::FunctionRef<absl::Status(absl::string_view)> consume, bool block,
                           absl::Time deadline) {
  const uint64_t cap = ctl_->capacity;
  for (;;) {
    Lock();
    State s = Current(ctl_);
    if (s.count > 0) {
      uint64_t pos = s.head % cap;
      uint64_t len;
      std::memcpy(&len, ring_ + pos, kHeader);
      if (len == kWrap) {
        s.head += cap - pos;
        pos = 0;
        std::memcpy(&len, ring_, kHeader);
      }
      absl::Status result = consume(absl::string_view(ring_ + pos + kHeader, len));
      s.head += kHeader + Align8(len);
      --s.count;
      Commit(ctl_, s);
      Unlock();
      Notify(&ctl_->get_seq, &ctl_->put_waiters);
      return result;
    }
    uint32_t seen = ctl_->put_seq.load(std::memory_order_acquire);
    Unlock();
    if (!block || absl::Now() >= deadline) return PyError(PyExc::kQueueEmpty, "queue is empty");
    WaitChange(&ctl_->put_seq, &ctl_->get_waiters, seen, deadline);
  }
}

int64_t ShmQueue::Size() const {
  Lock();
  int64_t n = Current(ctl_).count;
  Unlock();
  return n;
}

int64_t ShmQueue::Unfinished() const {
  Lock();
  int64_t n = Current(ctl_).unfinished;
  Unlock();
  return n;
}

absl::Status ShmQueue::TaskDone() {
  Lock();
  State s = Current(ctl_);
  if (s.unfinished <= 0) {
    Unlock();
    return PyError(PyExc::kValueError, "task_done() called too many times");
  }
  --s.unfinished;
  Commit(ctl_, s);
  Unlock();
  if (s.unfinished == 0) Notify(&ctl_->done_seq, &ctl_->join_waiters);
  return absl::OkStatus();
}

bool ShmQueue::JoinUntil(absl::Time deadline) {
  for (;;) {
    Lock();
    int64_t unfinished = Current(ctl_).unfinished;
    uint32_t seen = ctl_->done_seq.load(std::memory_order_acquire);
    Unlock();
    if (unfinished == 0) return true;
    if (absl::Now() >= deadline) return false;
    WaitChange(&ctl_->done_seq, &ctl_->join_waiters, seen, deadline);
  }
}

}  // namespace mp::internal
