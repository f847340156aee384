// Private: the Pool's tasks, both ends of them: how the parent turns a call
// into task records (MakeApplyTask, MakeChunkTasks) and how a worker runs one
// (the trampolines: decode the arguments, call the function, write the
// result record). pool_wire.h defines the records.
//
// A task's function crosses as its address (a plain function) or as nothing
// at all (a capture-less lambda, rebuilt from its type): both are valid in
// the workers, which are forks of this binary. Arguments that are all plain
// numbers cross as their bytes; others as one serialized tuple. A map chunk
// of plain numbers is a flat array (serialize.h), computed in one loop.
//
// Thread-safety: the functions are reentrant.

#ifndef MP_INTERNAL_POOL_TASKS_H_
#define MP_INTERNAL_POOL_TASKS_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "mp/errors.h"
#include "mp/internal/exceptions.h"
#include "mp/internal/pool_job.h"
#include "mp/internal/pool_wire.h"
#include "mp/process.h"
#include "mp/serialize.h"

namespace mp {

struct None;  // Python's None (pool.h): what a task returning void or Status gives.

namespace internal {

inline absl::Status BadChunk(absl::string_view bytes) {
  return PyError(PyExc::kUnpicklingError, absl::StrCat("bad chunk of ", bytes.size(), " bytes"));
}

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
  } catch (const SystemExit&) {
    throw;  // Ends the worker, as sys.exit in a CPython pool task does.
  } catch (...) {
    out.Raised(CurrentException());
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
  if constexpr (kIsFlatElement<A> && kIsFlatElement<V> && !kStar) {
    std::optional<size_t> n = FlatArrayCount<A>(bytes);
    if (!n) {
      out.Failed(BadChunk(bytes));
      return;
    }
    size_t start = out.BeginOk();
    const size_t header_at = out.buffer()->size();
    out.buffer()->resize(header_at + kFlatArrayHeader);
    EncodeFlatArrayHeader(*n, out.buffer()->data() + header_at);
    const char* in = bytes.data() + kFlatArrayHeader;
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
    } catch (const SystemExit&) {
      throw;  // Ends the worker, as sys.exit in a CPython pool task does.
    } catch (...) {
      out.Abandon(start);
      out.Raised(CurrentException());
      return;
    }
    out.EndOk(start);
    return;
  }
  std::vector<V> values;
  try {
    if constexpr (kIsFlatElement<A> && !kStar) {
      std::optional<size_t> n = FlatArrayCount<A>(bytes);
      if (!n) {
        out.Failed(BadChunk(bytes));
        return;
      }
      values.resize(*n);
      const char* p = bytes.data() + kFlatArrayHeader;
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
  } catch (const SystemExit&) {
    throw;  // Ends the worker, as sys.exit in a CPython pool task does.
  } catch (...) {
    out.Raised(CurrentException());
    return;
  }
  EmitValue(values, out);
}

// The task of an apply: one record with the arguments in it.
template <typename F, typename... A>
absl::StatusOr<TaskRef> MakeApplyTask(std::shared_ptr<Job> job, F f, const std::tuple<A...>& args) {
  TaskRef t{std::move(job), 0, {}};
  TaskRecordWriter record(&t.record, &ApplyTrampoline<F, A...>, FnBits(f));
  if (absl::Status s = EncodeArgs(args, record.record()); !s.ok()) return s;
  record.Finish();
  return t;
}

// The tasks of a map: one per chunk of `chunksize` items. A chunk of plain
// numbers is a flat array whose header is in the record and whose values are
// written from the items themselves (`base`, kept alive by `keep`); other
// chunks are serialized into their records.
template <typename A>
absl::StatusOr<std::vector<TaskRef>> MakeChunkTasks(const std::shared_ptr<Job>& job, const A* base, size_t n,
                                                    size_t chunksize, Trampoline trampoline, uintptr_t fn,
                                                    const std::shared_ptr<const void>& keep) {
  std::vector<TaskRef> tasks;
  tasks.reserve((n + chunksize - 1) / chunksize);
  std::vector<A> chunk;
  for (size_t lo = 0, i = 0; lo < n; lo += chunksize, ++i) {
    const size_t hi = std::min(n, lo + chunksize);
    TaskRef t{job, static_cast<uint32_t>(i), {}};
    TaskRecordWriter record(&t.record, trampoline, fn);
    if constexpr (kIsFlatElement<A>) {
      const size_t at = t.record.size();
      t.record.resize(at + kFlatArrayHeader);
      EncodeFlatArrayHeader(hi - lo, t.record.data() + at);
      t.payload = reinterpret_cast<const char*>(base + lo);
      t.payload_size = (hi - lo) * sizeof(A);
      t.keep = keep;
      record.Finish(t.payload_size);
    } else {
      chunk.assign(base + lo, base + hi);
      if (absl::Status s = SerializeTo(chunk, record.record()); !s.ok()) return s;
      record.Finish();
    }
    tasks.push_back(std::move(t));
  }
  return tasks;
}

// Queues tasks in the pool: Pool's, for as long as the pool lives.
// Errors: ValueError "Pool not running".
using TaskSink = std::function<absl::Status(std::vector<TaskRef>)>;

// Feeds an imap from any input range, which it owns (an owning_view of an
// rvalue) or refers to (a ref_view of an lvalue, which must outlive it): it
// reads the range only when the reader asks for more (ImapJob::Next), on the
// reader's thread, a chunk of `chunksize` items per task.
template <typename F, typename R, typename V>
class RangeFeeder : public ImapFeeder {
 public:
  using A = std::ranges::range_value_t<R>;

  RangeFeeder(R range, uintptr_t fn, size_t chunksize, std::shared_ptr<ImapJob<V>> job, TaskSink sink)
      : range_(std::move(range)), it_(std::ranges::begin(range_)), fn_(fn), chunksize_(chunksize),
        job_(std::move(job)), sink_(std::move(sink)) {}
  RangeFeeder(const RangeFeeder&) = delete;  // it_ points into range_.
  RangeFeeder& operator=(const RangeFeeder&) = delete;

  absl::Status Feed(size_t max_chunks) override {
    std::vector<TaskRef> tasks;
    std::vector<size_t> indices;
    std::vector<A> chunk;
    bool ended = false;
    while (tasks.size() < max_chunks) {
      chunk.clear();
      for (; chunk.size() < chunksize_ && it_ != std::ranges::end(range_); ++it_) chunk.push_back(*it_);
      if (chunk.empty()) {
        ended = true;
        break;
      }
      const size_t index = job_->AddChunk();
      TaskRef t{job_, static_cast<uint32_t>(index), {}};
      TaskRecordWriter record(&t.record, &MapTrampoline<F, A, false>, fn_);
      if (absl::Status s = SerializeTo(chunk, record.record()); !s.ok()) {
        job_->FailChunk(index, s);  // That position's error, as CPython's imap reports it.
        continue;
      }
      record.Finish();
      tasks.push_back(std::move(t));
      indices.push_back(index);
    }
    absl::Status submitted = tasks.empty() ? absl::OkStatus() : sink_(std::move(tasks));
    if (!submitted.ok()) {
      // The pool stopped: the chunks that did not go fail with why, and
      // no more are read.
      for (size_t index : indices) job_->FailChunk(index, submitted);
      ended = true;
    }
    if (ended) job_->EndInput();
    return submitted;
  }

 private:
  R range_;
  std::ranges::iterator_t<R> it_;
  uintptr_t fn_;
  size_t chunksize_;
  std::shared_ptr<ImapJob<V>> job_;
  TaskSink sink_;
};

}  // namespace internal
}  // namespace mp

#endif  // MP_INTERNAL_POOL_TASKS_H_
