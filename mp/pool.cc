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
  // PoolCore's destructor terminates the workers and joins the handler. In a
  // forked child (say, one that called exit() where the Pool is a global)
  // neither is its own: it must not signal its parent's workers, nor wait
  // for a thread it does not have. That copy is left as it is.
  if (core_ && !core_->InCreator()) (void)core_.release();
}

absl::Status Pool::NotRunning() const {
  return init_status_.ok() ? PyError(PyExc::kValueError, "Pool not running") : init_status_;
}

absl::Status Pool::Submit(internal::TaskRef task) { return core_ ? core_->Submit(std::move(task)) : NotRunning(); }

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
