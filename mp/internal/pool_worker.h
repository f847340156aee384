// Private: a Pool worker's main loop, CPython's multiprocessing.pool.worker.
//
// The worker reads task frames from its task pipe, runs each task record
// (pool_tasks.h) in order, and writes result frames to its result pipe
// (pool_wire.h), batching the results of fast tasks. Before each task it
// claims the task's index in its shared counter, so that the parent can take
// back the tasks it has not started (see PoolCore::Steal) and, if it dies,
// knows which task was running.
//
// Thread-safety: runs in the worker process, on its only thread.

#ifndef MP_INTERNAL_POOL_WORKER_H_
#define MP_INTERNAL_POOL_WORKER_H_

#include <atomic>
#include <cstdint>
#include <functional>

namespace mp::internal {

// Runs until the parent sends "exit" or goes away, or `maxtasks` (> 0) tasks
// have run. Owns (and closes) `task_r` and `result_w`.
void WorkerMain(int task_r, int result_w, std::atomic<uint64_t>* started, int maxtasks,
                const std::function<void()>& initializer);

}  // namespace mp::internal

#endif  // MP_INTERNAL_POOL_WORKER_H_
