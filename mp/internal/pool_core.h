// Private: the untyped engine under mp::Pool (mp/pool.h holds the typed API).
//
// Design, for throughput and for surviving worker death:
//   * Each worker has its own task pipe (parent -> worker) and result pipe
//     (worker -> parent). No lock is shared between processes, so a worker
//     killed at any instant can only lose its own pipes, never wedge the
//     others (CPython's shared queue + reader lock can be wedged that way).
//   * One handler thread in the parent does CPython's three handler
//     threads' work: it moves submitted tasks to the workers, reads results,
//     and maintains the pool (replacing dead workers). Submitting a task
//     appends to a vector under a mutex; the handler is woken (one eventfd
//     write) only when it sleeps.
//   * Tasks travel in batches: one frame per worker per handler round, one
//     result frame per worker per batch. Frames use CPython's connection
//     framing (4-byte big-endian length). A worker runs its tasks in order
//     and answers in order, so records need no task id.
//   * How many tasks a worker may hold is a window sized from the measured
//     task time: ~1 for long tasks (so, as in CPython, the next task goes to
//     whichever worker frees up first), up to kMaxWindow for tiny ones.
//   * A worker stuck on a long task does not keep the tasks queued behind
//     it: when another worker is idle and nothing is pending, the parent
//     revokes the stuck worker's unstarted tasks and hands them out again.
//     Worker and parent claim task indices with a compare-and-swap on a
//     shared counter, so each task runs at most once.
//   * A map chunk of plain numbers crosses without a copy in user space:
//     the parent writes its values from the items (TaskRef::payload; Map
//     lends the caller's vector, see Loan), the worker computes into a
//     reused arena and sends from there (TaskOutput::AppendBulk), and the
//     parent reads a large result straight into the result vector
//     (Job::InPlaceTarget). The bytes on the wire are the same as for any
//     task.
//   * Each worker counts the tasks it has started in a shared memory slot.
//     When it dies, the parent knows which task was running (that one gets
//     WorkerLostError), which results were lost, and which tasks it never
//     started (those are given to other workers).
//
// The parent's pipe ends are non-blocking, so the handler never blocks on a
// full pipe while a worker blocks writing results to it.
//
// Thread-safety: PoolCore's public methods are thread-safe.

#ifndef MP_INTERNAL_POOL_CORE_H_
#define MP_INTERNAL_POOL_CORE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mp::internal {

// What a task writes back: a record [u8 kind][u32 code][u32 len][bytes].
class TaskOutput {
 public:
  enum Kind : uint8_t { kOk = 0, kRaised = 1, kStatus = 2 };
  explicit TaskOutput(std::string* out) : out_(out) {}
  TaskOutput(const TaskOutput&) = delete;
  TaskOutput& operator=(const TaskOutput&) = delete;
  // Starts an OK record; the caller appends the value; then EndOk().
  size_t BeginOk();
  void EndOk(size_t start);
  // Discards a record begun with BeginOk (serializing the value failed).
  void Abandon(size_t start);
  // The task threw (`what` names the exception type and message), or
  // returned an error status.
  void Raised(absl::string_view what);
  void Failed(const absl::Status& status);
  std::string* buffer() { return out_; }

  // Appends `n` bytes for the caller to fill through the returned pointer
  // (aligned for any arithmetic type). They are neither zero-filled nor
  // copied into buffer(): they are sent from where they lie, spliced in at
  // this point. For a map chunk's raw results, hundreds of KB. Valid until
  // Clear().
  char* AppendBulk(size_t n);
  // All bytes, buffer() with the bulk spliced in, and their total size.
  void Pieces(std::vector<absl::string_view>* pieces) const;
  size_t size() const { return out_->size() + bulk_bytes_; }
  bool has_bulk() const { return !splices_.empty(); }
  // Whether a task failed since the last Clear().
  bool has_error() const { return has_error_; }
  // Keeps the first `keep` bytes of buffer() and drops all bulk.
  void Clear(size_t keep);

 private:
  void Header(Kind kind, uint32_t code, uint32_t len);
  // Bulk bytes spliced in before buffer()[at].
  struct Splice {
    size_t at;
    const char* data;
    size_t size;
  };
  struct Block {
    std::unique_ptr<char[]> data;
    size_t size;
  };
  std::string* out_;
  std::vector<Splice> splices_;
  size_t bulk_bytes_ = 0;
  bool has_error_ = false;
  std::vector<Block> blocks_;  // Bump-allocated, reused after Clear().
  size_t block_ = 0, block_used_ = 0;
};

// Runs one task in a worker: decodes `args`, calls the function (`fn` is a
// function pointer, or null for a capture-less lambda type), writes one
// record to `out`. Never throws.
using Trampoline = void (*)(uintptr_t fn, absl::string_view args, TaskOutput& out);

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

  // "task #12 (apply_async of int (*)(int))", for error messages.
  std::string Describe(size_t chunk) const;
  const std::shared_ptr<Notifier>& notifier() const { return notifier_; }

 protected:
  // Stores a chunk's value; returns an error if it does not decode.
  virtual absl::Status OnChunk(size_t chunk, absl::string_view payload) = 0;
  // A chunk failed; jobs that stream (imap) keep going.
  virtual void OnChunkError(size_t chunk, const absl::Status& status) { (void)chunk, (void)status; }
  // Streaming jobs (imap) complete only when all chunks arrive, but want
  // every chunk; others stop at the first error.
  virtual bool streaming() const { return false; }

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

// "std::runtime_error: boom", for the exception being handled (call only
// inside a catch block).
std::string CurrentExceptionText();

// Appends a task record's header and returns where the args length goes.
void AppendTaskHeader(std::string* record, Trampoline trampoline, uintptr_t fn);

struct PoolConfig {
  int processes = 0;
  std::function<void()> initializer;
  int maxtasksperchild = 0;
};

class PoolCore {
 public:
  // Starts the workers and the handler thread.
  // Errors: ValueError (processes < 1, maxtasksperchild < 0), OSError.
  static absl::StatusOr<std::unique_ptr<PoolCore>> Start(PoolConfig config);
  ~PoolCore();  // Terminate()

  // Queues tasks. Errors: ValueError "Pool not running".
  absl::Status Submit(TaskRef task);
  absl::Status SubmitAll(std::vector<TaskRef> tasks);

  uint64_t NextJobId() { return next_job_id_.fetch_add(1, std::memory_order_relaxed); }
  const std::shared_ptr<Notifier>& notifier() const { return notifier_; }
  int processes() const { return config_.processes; }

  absl::Status Close();
  absl::Status Terminate();
  absl::Status Join();

  // Pids of the live workers (for tests and tools).
  std::vector<pid_t> WorkerPids();

 private:
  struct Worker;
  enum class State { kRun, kClose, kTerminate };

  explicit PoolCore(PoolConfig config);
  absl::Status StartWorker(size_t slot);
  void HandlerLoop();
  void Dispatch();
  void FlushOut(Worker& w);
  void ReadResults(Worker& w);
  // Whether the next result of `w` may be read in place.
  bool MayGoInPlace(const Worker& w) const;
  // Parses the buffered result bytes; returns how many to read next, and
  // whether exactly that many (the header before a payload that may be read
  // in place).
  std::pair<size_t, bool> ParseResults(Worker& w);
  void FinishInPlace(Worker& w);
  void EndFrame(Worker& w);
  void Unlend(const Job* job);
  void HandleExit(size_t slot);
  bool CanSteal() const;
  void Steal();
  void TerminateWorkers();
  void FailAll(const absl::Status& status);
  void CompleteBatch();
  void Wake();

  PoolConfig config_;
  std::shared_ptr<Notifier> notifier_ = std::make_shared<Notifier>();
  std::atomic<uint64_t> next_job_id_{0};

  std::mutex mu_;  // Guards submitted_, state_, idle_, handler_.
  std::vector<TaskRef> submitted_;
  State state_ = State::kRun;
  bool idle_ = false;
  std::thread handler_;
  bool joined_ = false;
  std::mutex join_mu_;  // Serializes Join/Terminate.

  int wake_fd_ = -1;
  bool vmsplice_ok_ = true;  // Until vmsplice(2) fails for want of support.
  void* slots_ = nullptr;  // Shared memory: per-slot started-task counters.
  size_t slots_size_ = 0;
  int worker_counter_ = 0;

  // Handler thread only.
  std::vector<std::unique_ptr<Worker>> workers_;  // Indexed by slot.
  std::deque<TaskRef> pending_;
  size_t inflight_total_ = 0;
  double task_ns_ = 0;  // EWMA of a task's run time; 0 until measured.
  std::vector<std::shared_ptr<Job>> completed_;  // Scratch for callbacks.
  std::mutex workers_mu_;  // Guards workers_ against WorkerPids().
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_POOL_CORE_H_
