// Private: the Pool's jobs, what the parent keeps of each submitted call
// until its results are in: one apply (ValueJob), one map over chunks
// (MapJob) or one imap (ImapJob), the tasks that carry them to the workers
// (TaskRef), and the Loan of a blocking Map's items.
//
// The handler thread delivers results under the pool's Notifier lock; the
// callers wait on its condition variable.
//
// Thread-safety: as each class says.

#ifndef MP_INTERNAL_POOL_JOB_H_
#define MP_INTERNAL_POOL_JOB_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mp/errors.h"
#include "mp/serialize.h"

namespace mp::internal {

// Wakes threads waiting on jobs of one pool.
struct Notifier {
  std::mutex mu;
  std::condition_variable cv;
};

// One submitted call (apply) or one map/imap over chunks.
class Job {
 public:
  Job(std::shared_ptr<Notifier> notifier, size_t chunks, uint64_t id, const std::type_info& fn_type,
      const char* kind);
  virtual ~Job() = default;

  // The handler thread calls these under notifier->mu. Each returns true
  // when the job just became complete.
  bool Deliver(size_t chunk, absl::string_view payload);
  bool DeliverError(size_t chunk, absl::Status status);

  // The handler thread calls this after releasing the lock, once, for a job
  // that became complete.
  virtual void RunCallbacks() {}

  // Jobs whose results are raw values (a map of plain numbers) may have a
  // chunk's values read straight into place. InPlaceSize: how many bytes of
  // values chunk `chunk` has, 0 if it cannot go in place. InPlaceTarget:
  // where the `bytes` bytes of chunk `chunk` (a raw vector of `count`
  // values) go, or null to take them through Deliver. The handler thread
  // calls these under notifier->mu and fills the target later, outside it;
  // then DeliverInPlace.
  virtual size_t InPlaceSize(size_t chunk) const {
    (void)chunk;
    return 0;
  }
  virtual char* InPlaceTarget(size_t chunk, uint64_t count, uint64_t bytes) {
    (void)chunk, (void)count, (void)bytes;
    return nullptr;
  }
  bool DeliverInPlace(size_t chunk);

  // The job's items are lent by a caller who waits until the pool holds no
  // reference to them (see Loan): once the job completes, the pool copies
  // what of them it still needs.
  void set_lent() { lent_ = true; }
  bool lent() const { return lent_; }

  // Fails the job from outside the handler (e.g. its arguments did not
  // serialize): delivers, wakes waiters, runs the error callback.
  void Abort(absl::Status status);

  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Waits until ready or `deadline`; returns ready().
  bool WaitUntil(absl::Time deadline);
  // Valid once ready().
  const absl::Status& status() const { return status_; }

  // Streaming jobs (imap) complete only when all chunks arrive, but want
  // every chunk, and their reader each one as it arrives; others stop at
  // the first error.
  virtual bool streaming() const { return false; }

  // "task #12 (apply_async of int (*)(int))", for error messages.
  std::string Describe(size_t chunk) const;
  const std::shared_ptr<Notifier>& notifier() const { return notifier_; }

 protected:
  // Stores a chunk's value; returns an error if it does not decode.
  virtual absl::Status OnChunk(size_t chunk, absl::string_view payload) = 0;
  // A chunk failed; jobs that stream (imap) keep going.
  virtual void OnChunkError(size_t chunk, const absl::Status& status) { (void)chunk, (void)status; }

  std::shared_ptr<Notifier> notifier_;
  size_t remaining_;
  absl::Status status_;
  std::atomic<bool> ready_{false};
  uint64_t id_;
  const std::type_info& fn_type_;
  const char* kind_;
  bool lent_ = false;
};

// Items lent to the pool for one blocking call (Pool::Map): its tasks refer
// to the caller's items through copies of token() instead of copying them,
// and the call returns only after Wait(), when no copy is left.
class Loan {
 public:
  Loan();
  ~Loan() { Wait(); }
  Loan(const Loan&) = delete;
  Loan& operator=(const Loan&) = delete;
  const std::shared_ptr<const void>& token() const { return token_; }
  void Wait();

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool returned = false;
  };
  std::shared_ptr<State> state_;
  std::shared_ptr<const void> token_;
};

// A task ready to go to a worker.
struct TaskRef {
  std::shared_ptr<Job> job;
  uint32_t chunk = 0;
  uint64_t index = 0;  // Position in its worker's task stream.
  std::string record;  // [u64 trampoline][u64 fn][u32 len][args]
  // The last `payload_size` bytes of the args when they are not in `record`
  // but in the caller's items (a map chunk of plain numbers), written from
  // there; `keep` keeps them alive.
  const char* payload = nullptr;
  size_t payload_size = 0;
  std::shared_ptr<const void> keep;
  size_t size() const { return record.size() + payload_size; }
};

// A job whose result is one value of type V (apply, map).
template <typename V>
class ValueJob : public Job {
 public:
  using Callback = std::function<void(const V&)>;
  using ErrorCallback = std::function<void(const absl::Status&)>;
  ValueJob(std::shared_ptr<Notifier> n, size_t chunks, uint64_t id, const std::type_info& t, const char* kind,
           Callback cb, ErrorCallback ecb)
      : Job(std::move(n), chunks, id, t, kind), callback_(std::move(cb)), error_callback_(std::move(ecb)) {}
  // Valid once ready() and status().ok().
  V& value() { return value_; }
  void RunCallbacks() override {
    if (status_.ok()) {
      if (callback_) callback_(value_);
    } else if (error_callback_) {
      error_callback_(status_);
    }
  }

 protected:
  absl::Status OnChunk(size_t, absl::string_view payload) override {
    absl::StatusOr<V> v = Deserialize<V>(payload);
    if (!v.ok()) return v.status();
    value_ = *std::move(v);
    return absl::OkStatus();
  }
  V value_{};
  Callback callback_;
  ErrorCallback error_callback_;
};

template <typename V>
class MapJob : public ValueJob<std::vector<V>> {
 public:
  MapJob(std::shared_ptr<Notifier> n, size_t total, size_t chunksize, uint64_t id, const std::type_info& t,
         const char* kind, typename ValueJob<std::vector<V>>::Callback cb,
         typename ValueJob<std::vector<V>>::ErrorCallback ecb)
      : ValueJob<std::vector<V>>(std::move(n), chunksize ? (total + chunksize - 1) / chunksize : 0, id, t, kind,
                                 std::move(cb), std::move(ecb)),
        chunksize_(chunksize) {
    this->value_.resize(total);
  }

 protected:
  size_t InPlaceSize(size_t chunk) const override {
    if constexpr (kIsFlatElement<V>) {
      return ChunkItems(chunk) * sizeof(V);
    } else {
      return 0;
    }
  }
  char* InPlaceTarget(size_t chunk, uint64_t count, uint64_t bytes) override {
    if constexpr (kIsFlatElement<V>) {
      size_t n = ChunkItems(chunk);
      if (count != n || bytes != n * sizeof(V)) return nullptr;  // Deliver will say what is wrong.
      return reinterpret_cast<char*>(this->value_.data() + chunk * chunksize_);
    } else {
      (void)chunk, (void)count, (void)bytes;
      return nullptr;
    }
  }
  absl::Status OnChunk(size_t chunk, absl::string_view payload) override {
    size_t lo = chunk * chunksize_;
    size_t n = std::min(chunksize_, this->value_.size() - lo);
    if constexpr (kIsFlatElement<V>) {
      std::optional<size_t> count = FlatArrayCount<V>(payload);
      if (!count) return PyError(PyExc::kUnpicklingError, absl::StrCat("bad chunk of ", payload.size(), " bytes"));
      if (*count != n) {
        return PyError(PyExc::kRuntimeError, absl::StrCat("chunk ", chunk, " has ", *count, " results, not ", n));
      }
      if (n != 0) std::memcpy(this->value_.data() + lo, payload.data() + kFlatArrayHeader, n * sizeof(V));
      return absl::OkStatus();
    }
    absl::StatusOr<std::vector<V>> v = Deserialize<std::vector<V>>(payload);
    if (!v.ok()) return v.status();
    if (v->size() != n) {
      return PyError(PyExc::kRuntimeError, absl::StrCat("chunk ", chunk, " has ", v->size(), " results, not ", n));
    }
    std::move(v->begin(), v->end(), this->value_.begin() + static_cast<ptrdiff_t>(lo));
    return absl::OkStatus();
  }

 private:
  size_t ChunkItems(size_t chunk) const { return std::min(chunksize_, this->value_.size() - chunk * chunksize_); }
  size_t chunksize_;
};

// What feeds an imap's input to the pool, chunk by chunk, as the reader
// makes room (see ImapJob::Next).
class ImapFeeder {
 public:
  virtual ~ImapFeeder() = default;
  // Adds and submits up to `max_chunks` chunks (ImapJob::AddChunk), and
  // calls ImapJob::EndInput once the input is exhausted.
  // Errors: ValueError "Pool not running" (the chunks it added then fail with
  // it, and the input ends).
  virtual absl::Status Feed(size_t max_chunks) = 0;
};

// imap / imap_unordered over an input read lazily: chunks are added as the
// reader consumes results, at most `window` ahead of it, and handed out as
// they arrive (unordered) or in order. Until the input ends, the job counts
// one chunk more than it has (the input itself), so it is not ready while
// chunks may still come.
template <typename V>
class ImapJob : public Job {
 public:
  ImapJob(std::shared_ptr<Notifier> n, uint64_t id, const std::type_info& t, const char* kind, bool ordered)
      : Job(std::move(n), 1, id, t, kind), ordered_(ordered) {}

  // Registers the next chunk; returns its index. Takes the lock.
  size_t AddChunk() {
    std::lock_guard<std::mutex> lock(notifier_->mu);
    ++remaining_;
    if (ordered_) slots_.emplace_back();
    return total_++;
  }
  // No chunk will be added after the ones registered. Takes the lock.
  void EndInput() {
    bool done;
    {
      std::lock_guard<std::mutex> lock(notifier_->mu);
      input_done_ = true;
      done = DeliverError(total_, absl::OkStatus());  // The input's own count.
    }
    notifier_->cv.notify_all();
    (void)done;
  }
  // Fails a chunk that was registered but never ran. Takes the lock.
  void FailChunk(size_t chunk, const absl::Status& status) {
    {
      std::lock_guard<std::mutex> lock(notifier_->mu);
      (void)DeliverError(chunk, status);
    }
    notifier_->cv.notify_all();
  }

  bool streaming() const override { return true; }

  // The next result; nullopt after the last. Before waiting, asks `feeder`
  // for more chunks while fewer than `window` are ahead of the reader.
  // Python: IMapIterator.next(timeout)
  absl::StatusOr<std::optional<V>> Next(absl::Time deadline, ImapFeeder* feeder, size_t window) {
    std::unique_lock<std::mutex> lock(notifier_->mu);
    for (;;) {
      if (pos_ < current_.size()) return std::optional<V>(std::move(current_[pos_++]));
      if (!arrived_.empty()) {
        absl::StatusOr<std::vector<V>> chunk = std::move(arrived_.front());
        arrived_.pop_front();
        ++consumed_;
        if (!chunk.ok()) return chunk.status();
        current_ = *std::move(chunk);
        pos_ = 0;
        continue;
      }
      if (input_done_ && consumed_ == total_) return std::optional<V>();
      if (!input_done_ && feeder != nullptr && total_ - consumed_ < window) {
        const size_t room = window - (total_ - consumed_);
        lock.unlock();
        absl::Status fed = feeder->Feed(room);
        lock.lock();
        if (!fed.ok()) return fed;
        continue;
      }
      if (deadline == absl::InfiniteFuture()) {
        notifier_->cv.wait(lock);
      } else {
        absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) return PyError(PyExc::kTimeoutError, "no result within the timeout");
        notifier_->cv.wait_for(lock, absl::ToChronoNanoseconds(left));
      }
    }
  }

 protected:
  absl::Status OnChunk(size_t chunk, absl::string_view payload) override {
    Arrive(chunk, Deserialize<std::vector<V>>(payload));
    return absl::OkStatus();
  }
  void OnChunkError(size_t chunk, const absl::Status& status) override {
    if (chunk < total_) Arrive(chunk, status);  // Not the input's own count.
  }

 private:
  void Arrive(size_t chunk, absl::StatusOr<std::vector<V>> v) {
    if (!ordered_) {
      arrived_.push_back(std::move(v));
      return;
    }
    // slots_[i] is chunk next_ + i: only the chunks not yet in order.
    slots_[chunk - next_] = std::move(v);
    while (!slots_.empty() && slots_.front()) {
      arrived_.push_back(*std::move(slots_.front()));
      slots_.pop_front();
      ++next_;
    }
  }

  const bool ordered_;
  std::deque<std::optional<absl::StatusOr<std::vector<V>>>> slots_;
  size_t next_ = 0;
  std::deque<absl::StatusOr<std::vector<V>>> arrived_;
  std::vector<V> current_;
  size_t pos_ = 0;
  size_t consumed_ = 0;  // Chunks the reader has taken.
  size_t total_ = 0;     // Chunks registered.
  bool input_done_ = false;
};

// A copy of an error status that shares no storage with it. Copies of a
// Status share a reference-counted rep, and the count lives in Debian's
// libabsl_status, which TSan does not instrument: when the handler thread
// drops the last reference to a job after the caller's last read of its
// error, TSan cannot see that the read came first. A copy made while the
// caller holds the job is ordered before that by the job's shared_ptr.
inline absl::Status UnsharedCopy(const absl::Status& status) {
  if (status.ok()) return status;
  absl::Status copy(status.code(), status.message());
  status.ForEachPayload([&copy](absl::string_view url, const absl::Cord& payload) {
    copy.SetPayload(url, absl::Cord(std::string(payload)));
  });
  return copy;
}

}  // namespace mp::internal

#endif  // MP_INTERNAL_POOL_JOB_H_
