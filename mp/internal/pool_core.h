// Private: the Pool's handler, the untyped engine under mp::Pool (mp/pool.h
// holds the typed API; pool_job.h the jobs, pool_tasks.h the tasks,
// pool_wire.h the bytes, pool_worker.h the workers' loop).
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

#include <unistd.h>

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
#include "mp/internal/pool_job.h"
#include "mp/internal/pool_wire.h"

namespace mp::internal {

class PoolCore {
 public:
  // Starts `processes` workers (0: ProcessCpuCount()) and the handler
  // thread; see PoolOptions for the others.
  // Errors: ValueError (processes < 1, maxtasksperchild < 0), OSError,
  // RuntimeError (no thread).
  static absl::StatusOr<std::unique_ptr<PoolCore>> Start(int processes, std::function<void()> initializer,
                                                        int maxtasksperchild);
  ~PoolCore();  // Terminate()

  // Errors: ValueError "Pool not running" once closed or terminated.
  absl::Status CheckRunning();

  // Whether this is the process that started the pool: a forked child holds
  // a copy of it whose handler thread and workers are not its own.
  bool InCreator() const { return ::getpid() == creator_; }

  // Queues tasks. Errors: ValueError "Pool not running".
  absl::Status Submit(TaskRef task);
  absl::Status SubmitAll(std::vector<TaskRef> tasks);

  uint64_t NextJobId() { return next_job_id_.fetch_add(1, std::memory_order_relaxed); }
  const std::shared_ptr<Notifier>& notifier() const { return notifier_; }
  int processes() const { return processes_; }

  absl::Status Close();
  absl::Status Terminate();
  absl::Status Join();

  // Pids of the live workers (for tests and tools).
  std::vector<pid_t> WorkerPids();

 private:
  struct Worker;
  enum class State { kRun, kClose, kTerminate };

  PoolCore(int processes, std::function<void()> initializer, int maxtasksperchild);
  absl::Status StartWorker(size_t slot);
  void HandlerLoop();
  void Dispatch();
  void ReadResults(Worker& w);
  // Whether the next result of `w` may be read in place.
  bool MayGoInPlace(const Worker& w) const;
  // Handles what the parser has of `w`'s results (holding notifier_->mu);
  // returns its kNeed or kCorrupt event.
  ResultStreamParser::Event HandleResults(Worker& w);
  // The oldest task of `w` is answered: pops it.
  TaskRef Answered(Worker& w);
  void EndFrame(int64_t busy_ns, size_t records);
  void Unlend(const Job* job);
  void HandleExit(size_t slot);
  bool CanSteal() const;
  void Steal();
  void TerminateWorkers();
  void FailAll(const absl::Status& status);
  // A delivery to `job`, which `completed`: records what CompleteBatch must
  // do (notify the readers; run the callbacks of completed jobs).
  void Delivered(std::shared_ptr<Job> job, bool completed);
  void CompleteBatch();
  void Wake();

  const pid_t creator_ = ::getpid();
  const int processes_;
  const std::function<void()> initializer_;
  const int maxtasksperchild_;
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
  void* slots_ = nullptr;  // Shared memory: per-slot started-task counters.
  size_t slots_size_ = 0;
  int worker_counter_ = 0;

  // Handler thread only.
  std::vector<std::unique_ptr<Worker>> workers_;  // Indexed by slot.
  std::deque<TaskRef> pending_;
  size_t inflight_total_ = 0;
  double task_ns_ = 0;  // EWMA of a task's run time; 0 until measured.
  std::vector<std::shared_ptr<Job>> completed_;  // Scratch for callbacks.
  bool arrived_ = false;  // A streaming job got a chunk: wake its reader.
  std::mutex workers_mu_;  // Guards workers_ against WorkerPids().
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_POOL_CORE_H_
