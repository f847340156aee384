#include "mp/pool.h"

#include <memory>
#include <utility>

#include "mp/internal/pool_core.h"
#include "mp/internal/pool_wire.h"

namespace mp {

std::optional<RemoteException> GetRemoteException(const absl::Status& status) {
  std::optional<internal::RemoteExceptionParts> parts = internal::RemoteExceptionOf(status);
  if (!parts) return std::nullopt;
  return RemoteException{std::move(parts->type), std::move(parts->what)};
}

Pool::Pool(PoolOptions options) {
  absl::StatusOr<std::unique_ptr<internal::PoolCore>> core =
      internal::PoolCore::Start(options.processes, std::move(options.initializer), options.maxtasksperchild);
  if (core.ok()) {
    core_ = *std::move(core);
  } else {
    init_status_ = core.status();
  }
}

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(PoolOptions options) {
  auto pool = std::make_unique<Pool>(std::move(options));
  if (!pool->status().ok()) return pool->status();
  return pool;
}

Pool::Pool(Pool&&) noexcept = default;
Pool& Pool::operator=(Pool&&) noexcept = default;
Pool::~Pool() {
  if (!core_) return;
  if (!core_->InCreator()) {
    // A forked child's copy (one that called exit() where the Pool is a
    // global): neither the workers nor the handler thread are its own, so
    // it must neither signal the one nor wait for the other. Left as it is.
    new std::shared_ptr<internal::PoolCore>(std::move(core_));
    return;
  }
  // Terminated now, whoever else (an imap's feeder) still holds the core.
  (void)core_->Terminate();
}

absl::Status Pool::NotRunning() const {
  return init_status_.ok() ? PyError(PyExc::kValueError, "Pool not running") : init_status_;
}

absl::Status Pool::Submit(internal::TaskRef task) { return core_ ? core_->Submit(std::move(task)) : NotRunning(); }

internal::TaskSink Pool::Sink() const {
  std::weak_ptr<internal::PoolCore> core = core_;
  return [core](std::vector<internal::TaskRef> tasks) -> absl::Status {
    std::shared_ptr<internal::PoolCore> c = core.lock();
    if (!c) return PyError(PyExc::kValueError, "Pool not running");
    return c->SubmitAll(std::move(tasks));
  };
}

absl::Status Pool::SubmitAll(std::vector<internal::TaskRef> tasks) {
  return core_ ? core_->SubmitAll(std::move(tasks)) : NotRunning();
}

absl::Status Pool::FailOrNotRunning(internal::Job& job, absl::Status error) {
  if (absl::Status running = core_ ? core_->CheckRunning() : NotRunning(); !running.ok()) return running;
  job.Abort(std::move(error));
  return absl::OkStatus();
}

absl::Status Pool::Close() { return core_ ? core_->Close() : NotRunning(); }
absl::Status Pool::Terminate() { return core_ ? core_->Terminate() : NotRunning(); }
absl::Status Pool::Join() { return core_ ? core_->Join() : NotRunning(); }

std::vector<pid_t> Pool::WorkerPids() const { return core_ ? core_->WorkerPids() : std::vector<pid_t>(); }
int Pool::processes() const { return core_ ? core_->processes() : 0; }

// CPython's Pool._map_async: chunksize, extra = divmod(len, len(pool) * 4).
size_t Pool::DefaultChunksize(size_t n) const {
  size_t procs = static_cast<size_t>(processes() > 0 ? processes() : 1);
  size_t chunksize = n / (procs * 4);
  if (n % (procs * 4)) ++chunksize;
  return chunksize;
}

std::shared_ptr<internal::Notifier> Pool::Notifier() const {
  return core_ ? core_->notifier() : std::make_shared<internal::Notifier>();
}

uint64_t Pool::NextId() { return core_ ? core_->NextJobId() : 0; }

}  // namespace mp
