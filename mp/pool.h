// -----------------------------------------------------------------------------
// File: pool.h
// -----------------------------------------------------------------------------
//
// mp::Pool is Python's multiprocessing.Pool with the "fork" start method: a
// set of worker processes ("ForkPoolWorker-N", daemonic children of the
// pool's process) that run tasks submitted by the parent.
//
// A task crosses to a worker as (function, serialized arguments):
//   * the function must be a plain function or a capture-less lambda; its
//     address is valid in the workers because they are forks of this binary;
//   * arguments and results go through mp/serialize.h (cereal), so a user
//     type needs only a `serialize` member.
// A task may return a value, void, absl::Status or absl::StatusOr<T>; void
// and Status give mp::None (Python's None).
//
// Errors, as CPython's pool raises them, but as absl::Status:
//   * a task that throws: RemoteError naming the task and the exception
//     ("RemoteError: task #3 (apply_async of int (*)(int)) raised
//     std::runtime_error: boom");
//   * a task that returns an error status: that status (code and Python
//     exception kept), with " (in task #3 (...))" appended;
//   * a worker that dies mid-task (SIGKILL, abort): WorkerLostError naming
//     the worker, its pid and how it ended; the worker is replaced, its
//     not-yet-started tasks go to other workers, and Join never hangs
//     (CPython's pool hangs here);
//   * an argument or result that cannot be serialized: TypeError;
//   * Terminate() with tasks pending: those fail with ProcessError (CPython
//     leaves them pending forever).
//
// Deviation, for throughput: a worker that gets several tasks at once sends
// their results in batches (a frame at most every millisecond; an error at
// once), where CPython's sends each result as its task ends. A fast task's
// result can therefore wait behind the next task of the same batch if that
// one starts within the millisecond, so a short Get(timeout) on it may time
// out where CPython's would not.
//
// Thread-safety: all methods may be called from any thread of the process
// that created the pool. Callbacks run on the pool's handler thread, in the
// parent, as in CPython; keep them short.
//
// Example (the seed's pool program):
//
//   mp::Pool p(4);
//   for (int i = 0; i < 5; ++i) p.ApplyAsync(long_time_task, std::tuple(i));
//   p.Close();
//   p.Join();
//
//   absl::StatusOr<std::vector<int>> squares =
//       pool.Map([](int x) { return x * x; }, std::vector<int>{1, 2, 3});

#ifndef MP_POOL_H_
#define MP_POOL_H_

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mp/errors.h"
#include "mp/internal/pool_core.h"
#include "mp/serialize.h"

namespace mp {

// Python's None: what a task returning void or absl::Status gives.
struct None {
  template <class Archive>
  void serialize(Archive&) {}
  friend bool operator==(None, None) { return true; }
};

namespace internal {

template <typename R>
struct TaskValue {
  using type = R;
};
template <>
struct TaskValue<void> {
  using type = None;
};
template <>
struct TaskValue<absl::Status> {
  using type = None;
};
template <typename T>
struct TaskValue<absl::StatusOr<T>> {
  using type = T;
};

template <typename F>
constexpr bool kIsTaskFunction = (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>) ||
                                 (std::is_empty_v<F> && std::is_default_constructible_v<F>);

template <typename F>
uintptr_t FnBits(F f) {
  if constexpr (std::is_pointer_v<F>) {
    return reinterpret_cast<uintptr_t>(f);
  } else {
    return 0;
  }
}

template <typename F>
F FnFromBits(uintptr_t bits) {
  if constexpr (std::is_pointer_v<F>) {
    return reinterpret_cast<F>(bits);
  } else {
    return F{};
  }
}

template <typename F, typename... A>
using ApplyValue = typename TaskValue<std::invoke_result_t<F&, A&...>>::type;

template <typename F, typename A, bool kStar>
struct MapCall {
  using R = std::invoke_result_t<F&, A&>;
};
template <typename F, typename A>
struct MapCall<F, A, true> {
  using R = decltype(std::apply(std::declval<F&>(), std::declval<A&>()));
};
template <typename F, typename A, bool kStar>
using MapValue = typename TaskValue<typename MapCall<F, A, kStar>::R>::type;

// Arguments: raw bytes when all are arithmetic (the hot path of small
// tasks), else one cereal archive of the tuple.
template <typename... A>
constexpr bool kRawArgs = ((std::is_arithmetic_v<A> || std::is_enum_v<A>) && ...);

template <typename... A>
absl::Status EncodeArgs(const std::tuple<A...>& args, std::string* out) {
  if constexpr (kRawArgs<A...>) {
    std::apply([out](const auto&... a) { (out->append(reinterpret_cast<const char*>(&a), sizeof a), ...); }, args);
    return absl::OkStatus();
  } else {
    return SerializeTo(args, out);
  }
}

template <typename... A>
absl::StatusOr<std::tuple<A...>> DecodeArgs(absl::string_view bytes) {
  if constexpr (kRawArgs<A...>) {
    std::tuple<A...> t;
    if (bytes.size() != (0 + ... + sizeof(A))) {
      return PyError(PyExc::kUnpicklingError, absl::StrCat("task arguments: expected ", (0 + ... + sizeof(A)),
                                                           " bytes, got ", bytes.size()));
    }
    const char* p = bytes.data();
    std::apply([&p](auto&... a) { ((std::memcpy(&a, p, sizeof a), p += sizeof a), ...); }, t);
    return t;
  } else {
    return Deserialize<std::tuple<A...>>(bytes);
  }
}

// Chunks of plain numbers skip cereal: [u64 count][raw values], which is
// also the layout cereal's binary archive gives a std::vector of them.
template <typename T>
constexpr bool kRawItem = (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) || std::is_enum_v<T>;

template <typename T>
void AppendRawVector(const T* items, size_t n, std::string* out) {
  uint64_t count = n;
  out->append(reinterpret_cast<const char*>(&count), 8);
  out->append(reinterpret_cast<const char*>(items), n * sizeof(T));
}

// The number of values in a raw vector, checking the size.
template <typename T>
absl::StatusOr<size_t> RawVectorCount(absl::string_view bytes) {
  uint64_t count = 0;
  if (bytes.size() >= 8) std::memcpy(&count, bytes.data(), 8);
  if (bytes.size() < 8 || (bytes.size() - 8) / sizeof(T) != count || (bytes.size() - 8) % sizeof(T) != 0) {
    return PyError(PyExc::kUnpicklingError, absl::StrCat("bad chunk of ", bytes.size(), " bytes"));
  }
  return static_cast<size_t>(count);
}

// Calls `call` and stores its value in *into; an error status it returns
// is written to `out` and gives false. Exceptions propagate.
template <typename V, typename Call>
bool InvokeTask(Call&& call, V* into, TaskOutput& out) {
  using R = decltype(call());
  if constexpr (std::is_void_v<R>) {
    call();
  } else if constexpr (std::is_same_v<R, absl::Status>) {
    absl::Status s = call();
    if (!s.ok()) {
      out.Failed(s);
      return false;
    }
  } else if constexpr (!std::is_same_v<R, V>) {  // absl::StatusOr<V>
    R r = call();
    if (!r.ok()) {
      out.Failed(r.status());
      return false;
    }
    *into = *std::move(r);
  } else {
    *into = call();
  }
  return true;
}

template <typename V>
void EmitValue(const V& value, TaskOutput& out) {
  size_t start = out.BeginOk();
  absl::Status s = SerializeTo(value, out.buffer());
  if (!s.ok()) {
    out.Abandon(start);
    out.Failed(PyError(PyExc::kTypeError, absl::StrCat("error sending result: ", s.message())));
    return;
  }
  out.EndOk(start);
}

template <typename F, typename... A>
void ApplyTrampoline(uintptr_t fn, absl::string_view bytes, TaskOutput& out) {
  absl::StatusOr<std::tuple<A...>> args = DecodeArgs<A...>(bytes);
  if (!args.ok()) {
    out.Failed(args.status());
    return;
  }
  F f = FnFromBits<F>(fn);
  ApplyValue<F, A...> value{};
  try {
    if (!InvokeTask([&] { return std::apply(f, *args); }, &value, out)) return;
  } catch (...) {
    out.Raised(CurrentExceptionText());
    return;
  }
  EmitValue(value, out);
}

// Raw results of at least this size leave the worker from where they are
// computed (TaskOutput::AppendBulk) rather than through its output buffer.
inline constexpr size_t kMinBulkBytes = 4096;

// A map chunk of plain numbers: out[i] = f(in[i]). Byte copies in and out,
// as the values may be unaligned; the compiler turns them into plain loads
// and stores.
template <typename F, typename A, typename V>
void RunChunk(F f, const char* __restrict in, char* __restrict out, size_t n) {
  size_t i = 0;
  if constexpr (std::is_pointer_v<F>) {
    // A function pointer is an indirect call per item, which costs more
    // than a small item itself: four calls an iteration overlap better
    // (about 30% less time per item for x+1).
    for (; i + 4 <= n; i += 4) {
      A a[4];
      std::memcpy(a, in + i * sizeof(A), sizeof a);
      V v[4] = {f(a[0]), f(a[1]), f(a[2]), f(a[3])};
      std::memcpy(out + i * sizeof(V), v, sizeof v);
    }
  }
  for (; i < n; ++i) {
    A a;
    std::memcpy(&a, in + i * sizeof(A), sizeof(A));
    V v = f(a);
    std::memcpy(out + i * sizeof(V), &v, sizeof(V));
  }
}

template <typename F, typename A, bool kStar>
void MapTrampoline(uintptr_t fn, absl::string_view bytes, TaskOutput& out) {
  using V = MapValue<F, A, kStar>;
  F f = FnFromBits<F>(fn);
  if constexpr (kRawItem<A> && kRawItem<V> && !kStar) {
    absl::StatusOr<size_t> n = RawVectorCount<A>(bytes);
    if (!n.ok()) {
      out.Failed(n.status());
      return;
    }
    size_t start = out.BeginOk();
    uint64_t count = *n;
    out.buffer()->append(reinterpret_cast<const char*>(&count), 8);
    const char* in = bytes.data() + 8;
    size_t size = *n * sizeof(V);
    try {
      if constexpr (std::is_same_v<typename MapCall<F, A, kStar>::R, V>) {
        // Numbers in, numbers out, no status: one loop the compiler sees
        // whole (it inlines a lambda), results straight into the output.
        char* dst;
        if (size >= kMinBulkBytes) {
          dst = out.AppendBulk(size);
        } else {
          size_t base = out.buffer()->size();
          out.buffer()->resize(base + size);
          dst = out.buffer()->data() + base;
        }
        RunChunk<F, A, V>(f, in, dst, *n);
      } else {
        // The function returns a StatusOr: each status checked.
        std::string* buf = out.buffer();
        size_t base = buf->size();
        buf->resize(base + size);
        std::string error;
        TaskOutput error_out(&error);
        for (size_t i = 0; i < *n; ++i) {
          A item;
          std::memcpy(&item, in + i * sizeof(A), sizeof(A));
          V v{};
          if (!InvokeTask([&] { return f(item); }, &v, error_out)) {
            out.Abandon(start);
            buf->append(error);
            return;
          }
          std::memcpy(buf->data() + base + i * sizeof(V), &v, sizeof(V));
        }
      }
    } catch (...) {
      out.Abandon(start);
      out.Raised(CurrentExceptionText());
      return;
    }
    out.EndOk(start);
    return;
  }
  std::vector<V> values;
  try {
    if constexpr (kRawItem<A> && !kStar) {
      absl::StatusOr<size_t> n = RawVectorCount<A>(bytes);
      if (!n.ok()) {
        out.Failed(n.status());
        return;
      }
      values.resize(*n);
      const char* p = bytes.data() + 8;
      for (size_t i = 0; i < *n; ++i) {
        A item;
        std::memcpy(&item, p + i * sizeof(A), sizeof(A));
        if (!InvokeTask([&] { return f(item); }, &values[i], out)) return;
      }
    } else {
      absl::StatusOr<std::vector<A>> items = Deserialize<std::vector<A>>(bytes);
      if (!items.ok()) {
        out.Failed(items.status());
        return;
      }
      values.resize(items->size());
      for (size_t i = 0; i < items->size(); ++i) {
        A& item = (*items)[i];
        bool ok;
        if constexpr (kStar) {
          ok = InvokeTask([&] { return std::apply(f, item); }, &values[i], out);
        } else {
          ok = InvokeTask([&] { return f(item); }, &values[i], out);
        }
        if (!ok) return;
      }
    }
  } catch (...) {
    out.Raised(CurrentExceptionText());
    return;
  }
  if constexpr (kRawItem<V>) {
    size_t start = out.BeginOk();
    AppendRawVector(values.data(), values.size(), out.buffer());
    out.EndOk(start);
  } else {
    EmitValue(values, out);
  }
}

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
    if constexpr (kRawItem<V>) {
      return ChunkItems(chunk) * sizeof(V);
    } else {
      return 0;
    }
  }
  char* InPlaceTarget(size_t chunk, uint64_t count, uint64_t bytes) override {
    if constexpr (kRawItem<V>) {
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
    if constexpr (kRawItem<V>) {
      absl::StatusOr<size_t> count = RawVectorCount<V>(payload);
      if (!count.ok()) return count.status();
      if (*count != n) {
        return PyError(PyExc::kRuntimeError, absl::StrCat("chunk ", chunk, " has ", *count, " results, not ", n));
      }
      std::memcpy(this->value_.data() + lo, payload.data() + 8, n * sizeof(V));
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

// imap / imap_unordered: chunks are handed out as they arrive (unordered)
// or in order.
template <typename V>
class ImapJob : public Job {
 public:
  ImapJob(std::shared_ptr<Notifier> n, size_t chunks, uint64_t id, const std::type_info& t, const char* kind,
          bool ordered)
      : Job(std::move(n), chunks, id, t, kind), ordered_(ordered), slots_(ordered ? chunks : 0), total_(chunks) {}

  // Python: IMapIterator.next(timeout)
  absl::StatusOr<std::optional<V>> Next(absl::Time deadline) {
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
      if (consumed_ == total_) return std::optional<V>();
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
  bool streaming() const override { return true; }
  absl::Status OnChunk(size_t chunk, absl::string_view payload) override {
    Arrive(chunk, Deserialize<std::vector<V>>(payload));
    return absl::OkStatus();
  }
  void OnChunkError(size_t chunk, const absl::Status& status) override { Arrive(chunk, status); }

 private:
  void Arrive(size_t chunk, absl::StatusOr<std::vector<V>> v) {
    if (!ordered_) {
      arrived_.push_back(std::move(v));
      return;
    }
    slots_[chunk] = std::move(v);
    while (next_ < slots_.size() && slots_[next_]) {
      arrived_.push_back(*std::move(slots_[next_]));
      slots_[next_].reset();
      ++next_;
    }
  }

  bool ordered_;
  std::vector<std::optional<absl::StatusOr<std::vector<V>>>> slots_;
  size_t next_ = 0;
  std::deque<absl::StatusOr<std::vector<V>>> arrived_;
  std::vector<V> current_;
  size_t pos_ = 0;
  size_t consumed_ = 0;
  size_t total_;
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

inline absl::Time DeadlineAfter(absl::Duration timeout) {
  return timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
}

}  // namespace internal

// The result of ApplyAsync/MapAsync/StarmapAsync. Copies refer to the same
// result.
template <typename V>
class AsyncResult {
 public:
  // Waits for the result and returns it (a copy).
  // Python: AsyncResult.get(timeout)
  // Errors: TimeoutError (not ready within `timeout`), the task's error.
  absl::StatusOr<V> Get(absl::Duration timeout = absl::InfiniteDuration()) const {
    if (!job_->WaitUntil(internal::DeadlineAfter(timeout))) {
      return PyError(PyExc::kTimeoutError, absl::StrCat("result not ready after ", absl::FormatDuration(timeout)));
    }
    if (!job_->status().ok()) return internal::UnsharedCopy(job_->status());
    return job_->value();
  }

  // Waits until the result is ready or `timeout` passes; returns Ready().
  // Python: AsyncResult.wait(timeout)
  bool Wait(absl::Duration timeout = absl::InfiniteDuration()) const {
    return job_->WaitUntil(internal::DeadlineAfter(timeout));
  }

  // Python: AsyncResult.ready()
  bool Ready() const { return job_->ready(); }

  // Whether the task completed without error.
  // Python: AsyncResult.successful()
  // Errors: ValueError "<AsyncResult> not ready" before Ready().
  absl::StatusOr<bool> Successful() const {
    if (!job_->ready()) return PyError(PyExc::kValueError, "AsyncResult not ready");
    return job_->status().ok();
  }

 private:
  friend class Pool;
  explicit AsyncResult(std::shared_ptr<internal::ValueJob<V>> job) : job_(std::move(job)) {}
  std::shared_ptr<internal::ValueJob<V>> job_;
};

// What Imap and ImapUnordered return: Python's IMapIterator.
template <typename V>
class ImapIterator {
 public:
  // The next result; nullopt after the last one (Python's StopIteration).
  // Python: IMapIterator.next(timeout)
  // Errors: TimeoutError, the error of the task (chunk) at this position.
  absl::StatusOr<std::optional<V>> Next(absl::Duration timeout = absl::InfiniteDuration()) {
    return job_->Next(internal::DeadlineAfter(timeout));
  }

 private:
  friend class Pool;
  explicit ImapIterator(std::shared_ptr<internal::ImapJob<V>> job) : job_(std::move(job)) {}
  std::shared_ptr<internal::ImapJob<V>> job_;
};

struct PoolOptions {
  // Worker count; 0: CpuCount(). Python: processes=None.
  int processes = 0;
  // Runs once in each worker before its first task (may capture anything:
  // workers are forks). Python: initializer=f, initargs=(...)
  std::function<void()> initializer;
  // A worker exits after this many tasks and is replaced; 0: never.
  // Python: maxtasksperchild=None.
  int maxtasksperchild = 0;
};

class Pool {
 public:
  template <typename V>
  using Callback = std::type_identity_t<std::function<void(const V&)>>;
  using ErrorCallback = std::function<void(const absl::Status&)>;

  // Starts the workers. If that fails, status() says why and every method
  // returns that error.
  // Python: multiprocessing.Pool(processes, initializer, initargs, maxtasksperchild)
  explicit Pool(PoolOptions options = {});
  explicit Pool(int processes) : Pool(PoolOptions{.processes = processes}) {}
  // Errors: ValueError (processes < 1, maxtasksperchild < 0), OSError.
  static absl::StatusOr<std::unique_ptr<Pool>> Create(PoolOptions options = {});

  Pool(Pool&&) noexcept = default;
  Pool& operator=(Pool&&) noexcept = default;
  // Terminates the workers, as leaving Python's `with Pool() as p:` does.
  ~Pool();

  // OK if the workers started.
  const absl::Status& status() const { return init_status_; }

  // Python: Pool.apply_async(func, args, callback=..., error_callback=...)
  // Errors (through the result): ValueError "Pool not running" after
  //   Close/Terminate, TypeError, the task's errors (see the top).
  template <typename F, typename... A, typename V = internal::ApplyValue<F, A...>>
  AsyncResult<V> ApplyAsync(F f, std::tuple<A...> args = {}, Callback<V> callback = nullptr,
                            ErrorCallback error_callback = nullptr) {
    static_assert(internal::kIsTaskFunction<F>, "Pool tasks must be plain functions or capture-less lambdas");
    auto job = std::make_shared<internal::ValueJob<V>>(Notifier(), 1, NextId(), typeid(F), "apply_async",
                                                       std::move(callback), std::move(error_callback));
    internal::TaskRef t{job, 0, {}};
    internal::AppendTaskHeader(&t.record, &internal::ApplyTrampoline<F, A...>, internal::FnBits(f));
    size_t start = t.record.size();
    absl::Status s = internal::EncodeArgs(args, &t.record);
    if (s.ok()) PatchLength(&t.record, start);
    if (s.ok()) s = core_ ? core_->Submit(std::move(t)) : NotRunning();
    if (!s.ok()) job->Abort(s);
    return AsyncResult<V>(std::move(job));
  }

  // Python: Pool.apply(func, args)
  template <typename F, typename... A, typename V = internal::ApplyValue<F, A...>>
  absl::StatusOr<V> Apply(F f, std::tuple<A...> args = {}) {
    return ApplyAsync(f, std::move(args)).Get();
  }

  // Applies `f` to each item, in chunks of `chunksize` items (0: CPython's
  // default, len / (4 * processes) rounded up). The first failing chunk's
  // error is the result's, and, as in CPython 3.8+, a failed map is ready
  // only once every chunk has run (or failed).
  // Python: Pool.map_async(func, iterable, chunksize, callback, error_callback)
  template <typename F, typename A, typename V = internal::MapValue<F, A, false>>
  AsyncResult<std::vector<V>> MapAsync(F f, const std::vector<A>& items, size_t chunksize = 0,
                                       Callback<std::vector<V>> callback = nullptr,
                                       ErrorCallback error_callback = nullptr) {
    return MapImpl<F, A, V, false>(f, items, chunksize, std::move(callback), std::move(error_callback), "map");
  }
  // Items of plain numbers are lent to the pool, not copied, until Map
  // returns: don't change them from another thread meanwhile. For such
  // items, a lambda is faster than a function pointer (the workers' chunk
  // loop inlines it).
  // Python: Pool.map(func, iterable, chunksize)
  template <typename F, typename A, typename V = internal::MapValue<F, A, false>>
  absl::StatusOr<std::vector<V>> Map(F f, const std::vector<A>& items, size_t chunksize = 0) {
    // The items outlive the call, so plain numbers are lent, not copied.
    internal::Loan loan;
    AsyncResult<std::vector<V>> r = MapImpl<F, A, V, false>(f, items, chunksize, nullptr, nullptr, "map", &loan);
    return Take(std::move(r), &loan);
  }

  // As MapAsync/Map, with each item a tuple of arguments.
  // Python: Pool.starmap_async(...), Pool.starmap(...)
  template <typename F, typename A, typename V = internal::MapValue<F, A, true>>
  AsyncResult<std::vector<V>> StarmapAsync(F f, const std::vector<A>& items, size_t chunksize = 0,
                                           Callback<std::vector<V>> callback = nullptr,
                                           ErrorCallback error_callback = nullptr) {
    return MapImpl<F, A, V, true>(f, items, chunksize, std::move(callback), std::move(error_callback), "starmap");
  }
  template <typename F, typename A, typename V = internal::MapValue<F, A, true>>
  absl::StatusOr<std::vector<V>> Starmap(F f, const std::vector<A>& items, size_t chunksize = 0) {
    return Take(StarmapAsync(f, items, chunksize));
  }

  // Results in order (Imap) or as they complete (ImapUnordered).
  // Python: Pool.imap(func, iterable, chunksize=1), Pool.imap_unordered(...)
  template <typename F, typename A, typename V = internal::MapValue<F, A, false>>
  ImapIterator<V> Imap(F f, const std::vector<A>& items, size_t chunksize = 1) {
    return ImapImpl<F, A, V>(f, items, chunksize, true);
  }
  template <typename F, typename A, typename V = internal::MapValue<F, A, false>>
  ImapIterator<V> ImapUnordered(F f, const std::vector<A>& items, size_t chunksize = 1) {
    return ImapImpl<F, A, V>(f, items, chunksize, false);
  }

  // No more tasks; workers exit once the queued ones are done.
  // Python: Pool.close()
  absl::Status Close();
  // Stops the workers now (SIGTERM, then SIGKILL after 1 s); tasks not done
  // fail with ProcessError.
  // Python: Pool.terminate()
  absl::Status Terminate();
  // Waits for the workers to exit and reaps them.
  // Python: Pool.join()
  // Errors: ValueError "Pool is still running" before Close/Terminate.
  absl::Status Join();

  // Pids of the current workers.
  std::vector<pid_t> WorkerPids() const;
  int processes() const;

 private:
  template <typename F, typename A, typename V, bool kStar>
  AsyncResult<std::vector<V>> MapImpl(F f, const std::vector<A>& items, size_t chunksize,
                                      Callback<std::vector<V>> callback, ErrorCallback error_callback,
                                      const char* kind, const internal::Loan* loan = nullptr) {
    static_assert(internal::kIsTaskFunction<F>, "Pool tasks must be plain functions or capture-less lambdas");
    if (chunksize == 0) chunksize = std::max<size_t>(1, DefaultChunksize(items.size()));
    auto job = std::make_shared<internal::MapJob<V>>(Notifier(), items.size(), chunksize, NextId(), typeid(F), kind,
                                                     std::move(callback), std::move(error_callback));
    if (loan) job->set_lent();
    absl::Status s = SubmitChunks(job, items, chunksize, &internal::MapTrampoline<F, A, kStar>,
                                  internal::FnBits(f), loan);
    if (!s.ok()) job->Abort(s);
    return AsyncResult<std::vector<V>>(std::move(job));
  }

  template <typename F, typename A, typename V>
  ImapIterator<V> ImapImpl(F f, const std::vector<A>& items, size_t chunksize, bool ordered) {
    static_assert(internal::kIsTaskFunction<F>, "Pool tasks must be plain functions or capture-less lambdas");
    if (chunksize == 0) chunksize = 1;
    size_t chunks = (items.size() + chunksize - 1) / chunksize;
    auto job = std::make_shared<internal::ImapJob<V>>(Notifier(), chunks, NextId(), typeid(F),
                                                      ordered ? "imap" : "imap_unordered", ordered);
    absl::Status s = SubmitChunks(job, items, chunksize, &internal::MapTrampoline<F, A, false>,
                                  internal::FnBits(f));
    if (!s.ok()) job->Abort(s);
    return ImapIterator<V>(std::move(job));
  }

  // A chunk of plain numbers goes as [u64 count] in its record and the
  // values written from the items themselves: lent by a blocking caller
  // (`loan`), else from one copy shared by the chunks.
  template <typename A>
  absl::Status SubmitChunks(const std::shared_ptr<internal::Job>& job, const std::vector<A>& items,
                            size_t chunksize, internal::Trampoline trampoline, uintptr_t fn,
                            const internal::Loan* loan = nullptr) {
    if (!core_) return NotRunning();
    std::vector<internal::TaskRef> tasks;
    tasks.reserve((items.size() + chunksize - 1) / chunksize);
    std::shared_ptr<const void> keep;
    const A* base = items.data();
    if constexpr (internal::kRawItem<A>) {
      if (loan) {
        keep = loan->token();
      } else if (!items.empty()) {
        auto copy = std::make_shared<const std::vector<A>>(items);
        base = copy->data();
        keep = std::move(copy);
      }
    }
    std::vector<A> chunk;
    for (size_t lo = 0, i = 0; lo < items.size(); lo += chunksize, ++i) {
      size_t hi = std::min(items.size(), lo + chunksize);
      internal::TaskRef t{job, static_cast<uint32_t>(i), {}};
      internal::AppendTaskHeader(&t.record, trampoline, fn);
      size_t start = t.record.size();
      if constexpr (internal::kRawItem<A>) {
        uint64_t count = hi - lo;
        t.record.append(reinterpret_cast<const char*>(&count), 8);
        t.payload = reinterpret_cast<const char*>(base + lo);
        t.payload_size = (hi - lo) * sizeof(A);
        t.keep = keep;
        uint32_t len = static_cast<uint32_t>(8 + t.payload_size);
        std::memcpy(t.record.data() + start - 4, &len, 4);
      } else {
        chunk.assign(items.begin() + static_cast<ptrdiff_t>(lo), items.begin() + static_cast<ptrdiff_t>(hi));
        if (absl::Status s = SerializeTo(chunk, &t.record); !s.ok()) return s;
        PatchLength(&t.record, start);
      }
      tasks.push_back(std::move(t));
    }
    return core_->SubmitAll(std::move(tasks));
  }

  // With a `loan`, also waits until the pool holds no reference to the
  // lent items.
  template <typename V>
  static absl::StatusOr<V> Take(AsyncResult<V> r, internal::Loan* loan = nullptr) {
    r.job_->WaitUntil(absl::InfiniteFuture());
    if (loan) loan->Wait();
    if (!r.job_->status().ok()) return internal::UnsharedCopy(r.job_->status());
    return std::move(r.job_->value());
  }

  static void PatchLength(std::string* record, size_t args_start) {
    uint32_t len = static_cast<uint32_t>(record->size() - args_start);
    std::memcpy(record->data() + args_start - 4, &len, 4);
  }
  size_t DefaultChunksize(size_t n) const;
  // The error of a pool that failed to start, or was moved from.
  absl::Status NotRunning() const;
  std::shared_ptr<internal::Notifier> Notifier() const;
  uint64_t NextId();

  std::unique_ptr<internal::PoolCore> core_;
  absl::Status init_status_;
};

}  // namespace mp

#endif  // MP_POOL_H_
