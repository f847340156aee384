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
//   * a task that throws: the Python exception its C++ type stands for, as
//     CPython re-raises the task's own exception in the parent ("ValueError:
//     bad input (std::invalid_argument raised in task #3 (apply_async of int
//     (*)(int)))"). The mapping (internal/exceptions.h): std::bad_alloc ->
//     MemoryError; std::system_error -> OSError (its errno's subclass:
//     FileNotFoundError, ...); std::invalid_argument, domain_error,
//     length_error -> ValueError; std::out_of_range -> IndexError;
//     std::overflow_error, range_error -> OverflowError;
//     std::underflow_error -> ArithmeticError; std::bad_cast, bad_typeid,
//     bad_variant_access, bad_optional_access, bad_function_call ->
//     TypeError; other std::runtime_errors -> RuntimeError; anything else ->
//     Exception. Classes derived from these map as their base. Where CPython
//     attaches the remote traceback (RemoteTraceback) as the cause, mp
//     attaches the C++ type's name and what(): GetRemoteException();
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
//   for (int i = 0; i < 5; ++i) (void)p.ApplyAsync(long_time_task, std::tuple(i));
//   p.Close();
//   p.Join();
//
//   absl::StatusOr<std::vector<int>> squares =
//       pool.Map([](int x) { return x * x; }, std::vector<int>{1, 2, 3});

#ifndef MP_POOL_H_
#define MP_POOL_H_

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mp/errors.h"
#include "mp/internal/pool_job.h"
#include "mp/internal/pool_tasks.h"

namespace mp {

namespace internal {
class PoolCore;
}  // namespace internal

// Python's None: what a task returning void or absl::Status gives.
struct None {
  template <class Archive>
  void serialize(Archive&) {}
  friend bool operator==(None, None) { return true; }
};

// What a task threw, for the error it became (see the top): CPython carries
// the remote traceback's text in a RemoteTraceback, mp the exception's C++
// type ("std::invalid_argument") and what().
struct RemoteException {
  std::string type;
  std::string what;
};
// nullopt for an error that no thrown exception became.
std::optional<RemoteException> GetRemoteException(const absl::Status& status);

// The result of ApplyAsync/MapAsync/StarmapAsync. Copies refer to the same
// result.
template <typename V>
class AsyncResult {
 public:
  // Waits for the result and returns it (a copy).
  // Python: AsyncResult.get(timeout)
  // Errors: TimeoutError (not ready within `timeout`), the task's error.
  absl::StatusOr<V> Get(absl::Duration timeout = absl::InfiniteDuration()) const {
    if (!job_->WaitUntil(absl::Now() + timeout)) {
      return PyError(PyExc::kTimeoutError, absl::StrCat("result not ready after ", absl::FormatDuration(timeout)));
    }
    if (!job_->status().ok()) return internal::UnsharedCopy(job_->status());
    return job_->value();
  }

  // Waits until the result is ready or `timeout` passes; returns Ready().
  // Python: AsyncResult.wait(timeout)
  bool Wait(absl::Duration timeout = absl::InfiniteDuration()) const { return job_->WaitUntil(absl::Now() + timeout); }

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

// What Imap and ImapUnordered return: Python's IMapIterator. Copies refer to
// the same iteration. Also an input range of absl::StatusOr<V>, one per
// result (an error in its place, and iteration goes on, as Python's next()
// raises and may be called again):
//
//   absl::StatusOr<mp::ImapIterator<int>> it = pool.Imap(f, std::views::iota(0, 1000000));
//   for (const absl::StatusOr<int>& v : *it) ...
//
// (Keep the StatusOr in a variable: a range-for over `*pool.Imap(...)` would
// outlive the temporary, before C++23.)
template <typename V>
class ImapIterator {
 public:
  // The next result; nullopt after the last one (Python's StopIteration).
  // Python: IMapIterator.next(timeout)
  // Errors: TimeoutError, the error of the task (chunk) at this position
  // (ValueError "Pool not running" for input the pool stopped taking).
  absl::StatusOr<std::optional<V>> Next(absl::Duration timeout = absl::InfiniteDuration()) {
    return job_->Next(absl::Now() + timeout, feeder_.get(), window_);
  }

  class iterator {
   public:
    using value_type = absl::StatusOr<V>;
    using difference_type = std::ptrdiff_t;
    const value_type& operator*() const { return current_; }
    const value_type* operator->() const { return &current_; }
    iterator& operator++() {
      Advance();
      return *this;
    }
    void operator++(int) { Advance(); }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.done_; }

   private:
    friend class ImapIterator;
    explicit iterator(ImapIterator* parent) : parent_(parent) { Advance(); }
    void Advance() {
      absl::StatusOr<std::optional<V>> next = parent_->Next();
      if (next.ok() && !next->has_value()) {
        done_ = true;
      } else if (next.ok()) {
        current_ = **std::move(next);
      } else {
        current_ = next.status();
      }
    }
    ImapIterator* parent_;
    value_type current_ = absl::UnknownError("no result yet");
    bool done_ = false;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  friend class Pool;
  ImapIterator(std::shared_ptr<internal::ImapJob<V>> job, std::shared_ptr<internal::ImapFeeder> feeder, size_t window)
      : job_(std::move(job)), feeder_(std::move(feeder)), window_(window) {}
  std::shared_ptr<internal::ImapJob<V>> job_;
  std::shared_ptr<internal::ImapFeeder> feeder_;
  size_t window_;
};

struct PoolOptions {
  // Worker count; 0: ProcessCpuCount(), the CPUs this process may run on,
  // as CPython 3.13. Python: processes=None.
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

  Pool(Pool&&) noexcept;
  Pool& operator=(Pool&&) noexcept;
  // Terminates the workers, as leaving Python's `with Pool() as p:` does.
  ~Pool();

  // OK if the workers started.
  const absl::Status& status() const { return init_status_; }

  // Python: Pool.apply_async(func, args, callback=..., error_callback=...)
  // Errors: ValueError "Pool not running" after Close/Terminate, at the call
  //   (no callback runs), as CPython raises it; through the result (and the
  //   error callback): TypeError, the task's errors (see the top).
  template <typename F, typename... A, typename V = internal::ApplyValue<F, A...>>
  absl::StatusOr<AsyncResult<V>> ApplyAsync(F f, std::tuple<A...> args = {}, Callback<V> callback = nullptr,
                                            ErrorCallback error_callback = nullptr);

  // Python: Pool.apply(func, args)
  template <typename F, typename... A, typename V = internal::ApplyValue<F, A...>>
  absl::StatusOr<V> Apply(F f, std::tuple<A...> args = {}) {
    absl::StatusOr<AsyncResult<V>> r = ApplyAsync(f, std::move(args));
    if (!r.ok()) return r.status();
    return r->Get();
  }

  // Applies `f` to each item, in chunks of `chunksize` items (0: CPython's
  // default, len / (4 * processes) rounded up). The first failing chunk's
  // error is the result's, and, as in CPython 3.8+, a failed map is ready
  // only once every chunk has run (or failed).
  // Python: Pool.map_async(func, iterable, chunksize, callback, error_callback)
  // Errors: as ApplyAsync.
  template <typename F, typename A, typename V = internal::MapValue<F, A, false>>
  absl::StatusOr<AsyncResult<std::vector<V>>> MapAsync(F f, const std::vector<A>& items, size_t chunksize = 0,
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
    internal::Loan loan;
    return Take(MapImpl<F, A, V, false>(f, items, chunksize, nullptr, nullptr, "map", &loan), &loan);
  }

  // As MapAsync/Map, with each item a tuple of arguments.
  // Python: Pool.starmap_async(...), Pool.starmap(...)
  template <typename F, typename A, typename V = internal::MapValue<F, A, true>>
  absl::StatusOr<AsyncResult<std::vector<V>>> StarmapAsync(F f, const std::vector<A>& items, size_t chunksize = 0,
                                                           Callback<std::vector<V>> callback = nullptr,
                                                           ErrorCallback error_callback = nullptr) {
    return MapImpl<F, A, V, true>(f, items, chunksize, std::move(callback), std::move(error_callback), "starmap");
  }
  template <typename F, typename A, typename V = internal::MapValue<F, A, true>>
  absl::StatusOr<std::vector<V>> Starmap(F f, const std::vector<A>& items, size_t chunksize = 0) {
    return Take(StarmapAsync(f, items, chunksize));
  }

  // Results in order (Imap) or as they complete (ImapUnordered), over any
  // input range (a container, a view, a generator: a range that ends or
  // not). The input is read lazily, `chunksize` items a task, on the
  // reader's thread: the pool works at most 2 * processes() chunks ahead of
  // the reader, so neither the input nor the results pile up in memory
  // (CPython's imap reads all its input as fast as the pool takes it). An
  // lvalue range is read where it is, so it must outlive the iterator; an
  // rvalue one is moved in.
  // Python: Pool.imap(func, iterable, chunksize=1), Pool.imap_unordered(...)
  // Errors: as ApplyAsync; an item that does not serialize fails its chunk.
  template <typename F, std::ranges::input_range R, typename A = std::ranges::range_value_t<R>,
            typename V = internal::MapValue<F, A, false>>
  absl::StatusOr<ImapIterator<V>> Imap(F f, R&& items, size_t chunksize = 1) {
    return ImapImpl<F, R, V>(f, std::forward<R>(items), chunksize, true);
  }
  template <typename F, std::ranges::input_range R, typename A = std::ranges::range_value_t<R>,
            typename V = internal::MapValue<F, A, false>>
  absl::StatusOr<ImapIterator<V>> ImapUnordered(F f, R&& items, size_t chunksize = 1) {
    return ImapImpl<F, R, V>(f, std::forward<R>(items), chunksize, false);
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
  absl::StatusOr<AsyncResult<std::vector<V>>> MapImpl(F f, const std::vector<A>& items, size_t chunksize,
                                                      Callback<std::vector<V>> callback,
                                                      ErrorCallback error_callback, const char* kind,
                                                      const internal::Loan* loan = nullptr);
  template <typename F, typename R, typename V>
  absl::StatusOr<ImapIterator<V>> ImapImpl(F f, R&& items, size_t chunksize, bool ordered);
  // Queues the chunks of a map over `items`. Plain numbers are written from
  // the items themselves: lent by a blocking caller (`loan`), else from one
  // copy shared by the chunks. Returns the error to report at the call (the
  // pool is not running); others fail `job`.
  template <typename A>
  absl::Status SubmitChunks(const std::shared_ptr<internal::Job>& job, const std::vector<A>& items,
                            size_t chunksize, internal::Trampoline trampoline, uintptr_t fn,
                            const internal::Loan* loan = nullptr);
  // With a `loan`, also waits until the pool holds no reference to the
  // lent items.
  template <typename V>
  static absl::StatusOr<V> Take(absl::StatusOr<AsyncResult<V>> r, internal::Loan* loan = nullptr);

  // Queue tasks. Errors: ValueError "Pool not running" (or why it did not
  // start), the error to report at the call.
  absl::Status Submit(internal::TaskRef task);
  absl::Status SubmitAll(std::vector<internal::TaskRef> tasks);
  // Submits to this pool's core for as long as it lives (for an imap,
  // which may outlive the Pool object).
  internal::TaskSink Sink() const;
  // A task that could not be made fails its job, unless the pool is not
  // running: that is reported at the call, as CPython checks it first.
  absl::Status FailOrNotRunning(internal::Job& job, absl::Status error);
  size_t DefaultChunksize(size_t n) const;
  // The error of a pool that failed to start, or was moved from.
  absl::Status NotRunning() const;
  std::shared_ptr<internal::Notifier> Notifier() const;
  uint64_t NextId();

  std::shared_ptr<internal::PoolCore> core_;
  absl::Status init_status_;
};

// Implementation details follow.

template <typename F, typename... A, typename V>
absl::StatusOr<AsyncResult<V>> Pool::ApplyAsync(F f, std::tuple<A...> args, Callback<V> callback,
                                                ErrorCallback error_callback) {
  static_assert(internal::kIsTaskFunction<F>, "Pool tasks must be plain functions or capture-less lambdas");
  auto job = std::make_shared<internal::ValueJob<V>>(Notifier(), 1, NextId(), typeid(F), "apply_async",
                                                     std::move(callback), std::move(error_callback));
  absl::StatusOr<internal::TaskRef> task = internal::MakeApplyTask(job, f, args);
  absl::Status s = task.ok() ? Submit(*std::move(task)) : FailOrNotRunning(*job, task.status());
  if (!s.ok()) return s;
  return AsyncResult<V>(std::move(job));
}

template <typename F, typename A, typename V, bool kStar>
absl::StatusOr<AsyncResult<std::vector<V>>> Pool::MapImpl(F f, const std::vector<A>& items, size_t chunksize,
                                                          Callback<std::vector<V>> callback,
                                                          ErrorCallback error_callback, const char* kind,
                                                          const internal::Loan* loan) {
  static_assert(internal::kIsTaskFunction<F>, "Pool tasks must be plain functions or capture-less lambdas");
  if (chunksize == 0) chunksize = std::max<size_t>(1, DefaultChunksize(items.size()));
  auto job = std::make_shared<internal::MapJob<V>>(Notifier(), items.size(), chunksize, NextId(), typeid(F), kind,
                                                   std::move(callback), std::move(error_callback));
  if (loan) job->set_lent();
  absl::Status s =
      SubmitChunks(job, items, chunksize, &internal::MapTrampoline<F, A, kStar>, internal::FnBits(f), loan);
  if (!s.ok()) return s;
  return AsyncResult<std::vector<V>>(std::move(job));
}

template <typename F, typename R, typename V>
absl::StatusOr<ImapIterator<V>> Pool::ImapImpl(F f, R&& items, size_t chunksize, bool ordered) {
  static_assert(internal::kIsTaskFunction<F>, "Pool tasks must be plain functions or capture-less lambdas");
  if (chunksize == 0) chunksize = 1;
  auto job = std::make_shared<internal::ImapJob<V>>(Notifier(), NextId(), typeid(F),
                                                    ordered ? "imap" : "imap_unordered", ordered);
  using View = std::views::all_t<R>;
  auto feeder = std::make_shared<internal::RangeFeeder<F, View, V>>(std::views::all(std::forward<R>(items)),
                                                                     internal::FnBits(f), chunksize, job, Sink());
  // The first chunks go now, so the workers start at once, and a pool that
  // is not running fails the call.
  const size_t window = 2 * static_cast<size_t>(std::max(processes(), 1));
  if (absl::Status s = feeder->Feed(window); !s.ok()) return s;
  return ImapIterator<V>(std::move(job), std::move(feeder), window);
}

template <typename A>
absl::Status Pool::SubmitChunks(const std::shared_ptr<internal::Job>& job, const std::vector<A>& items,
                                size_t chunksize, internal::Trampoline trampoline, uintptr_t fn,
                                const internal::Loan* loan) {
  std::shared_ptr<const void> keep;
  const A* base = items.data();
  if constexpr (internal::kIsFlatElement<A>) {
    if (loan) {
      keep = loan->token();
    } else if (!items.empty()) {
      auto copy = std::make_shared<const std::vector<A>>(items);
      base = copy->data();
      keep = std::move(copy);
    }
  }
  absl::StatusOr<std::vector<internal::TaskRef>> tasks =
      internal::MakeChunkTasks(job, base, items.size(), chunksize, trampoline, fn, keep);
  if (!tasks.ok()) return FailOrNotRunning(*job, tasks.status());
  return SubmitAll(*std::move(tasks));
}

template <typename V>
absl::StatusOr<V> Pool::Take(absl::StatusOr<AsyncResult<V>> r, internal::Loan* loan) {
  if (!r.ok()) return r.status();
  r->job_->WaitUntil(absl::InfiniteFuture());
  if (loan) loan->Wait();
  if (!r->job_->status().ok()) return internal::UnsharedCopy(r->job_->status());
  return std::move(r->job_->value());
}

}  // namespace mp

#endif  // MP_POOL_H_
