#include "mp/internal/pool_job.h"

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/internal/exceptions.h"

namespace mp::internal {

Job::Job(std::shared_ptr<Notifier> notifier, size_t chunks, uint64_t id, const std::type_info& fn_type,
         const char* kind)
    : notifier_(std::move(notifier)), remaining_(chunks), id_(id), fn_type_(fn_type), kind_(kind) {
  if (chunks == 0) ready_.store(true, std::memory_order_release);
}

bool Job::Deliver(size_t chunk, absl::string_view payload) {
  if (ready()) return false;
  if (status_.ok()) {  // A failed job drops its later results.
    absl::Status s = OnChunk(chunk, payload);
    if (!s.ok()) return DeliverError(chunk, s);
  }
  if (--remaining_ > 0) return false;
  ready_.store(true, std::memory_order_release);
  return true;
}

bool Job::DeliverInPlace(size_t chunk) {
  (void)chunk;
  if (ready()) return false;
  if (--remaining_ > 0) return false;
  ready_.store(true, std::memory_order_release);
  return true;
}

// As CPython's MapResult (3.8+): the first error is the job's, and a failed
// job is ready only once every chunk has reported ("only consider the result
// ready once all jobs are done"), so Map returns when none of its tasks is
// still running or waiting to run, and never lends its items past that.
bool Job::DeliverError(size_t chunk, absl::Status status) {
  if (ready()) return false;
  if (streaming()) {
    OnChunkError(chunk, status);
  } else if (status_.ok()) {
    status_ = std::move(status);
  }
  if (--remaining_ > 0) return false;
  ready_.store(true, std::memory_order_release);
  return true;
}

Loan::Loan() : state_(std::make_shared<State>()) {
  // Not null, so that copies test true.
  token_ = std::shared_ptr<const void>(state_.get(), [state = state_](const void*) {
    std::lock_guard<std::mutex> lock(state->mu);
    state->returned = true;
    state->cv.notify_all();
  });
}

void Loan::Wait() {
  token_.reset();
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait(lock, [this] { return state_->returned; });
}

void Job::Abort(absl::Status status) {
  bool done = false;
  {
    // Nothing of the job runs: it fails at once (a streaming job, chunk by
    // chunk).
    std::lock_guard<std::mutex> lock(notifier_->mu);
    if (!streaming() && !ready()) status_ = status;
    for (size_t chunk = 0; !ready(); ++chunk) done = DeliverError(chunk, status);
  }
  notifier_->cv.notify_all();
  if (done) RunCallbacks();
}

bool Job::WaitUntil(absl::Time deadline) {
  if (ready()) return true;
  std::unique_lock<std::mutex> lock(notifier_->mu);
  while (!ready()) {
    if (deadline == absl::InfiniteFuture()) {
      notifier_->cv.wait(lock);
    } else {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      notifier_->cv.wait_for(lock, absl::ToChronoNanoseconds(left));
    }
  }
  return true;
}

std::string Job::Describe(size_t chunk) const {
  std::string what = absl::StrCat("task #", id_);
  if (std::string(kind_) != "apply_async") absl::StrAppend(&what, " chunk ", chunk);
  return absl::StrCat(what, " (", kind_, " of ", TypeName(fn_type_), ")");
}

}  // namespace mp::internal
