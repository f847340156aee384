#include "mp/internal/pool_core.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"
#include "mp/internal/framing.h"
#include "mp/internal/pool_worker.h"
#include "mp/internal/task_sender.h"
#include "mp/process.h"

namespace mp::internal {
namespace {

// A task batch should keep a worker busy about this long: long enough to
// amortize the round trip, short enough that long tasks still go to
// whichever worker frees up first.
constexpr double kTargetBatchNs = 2e6;
constexpr size_t kMaxWindow = 4096;
// Task frames stay small so a worker starts on a big chunk while the next is
// still in the pipe (the worker keeps its result frames small likewise).
constexpr size_t kMaxFrameBytes = 64 * 1024;
constexpr size_t kSlotStride = 64;       // One cache line per worker slot.
constexpr size_t kMinInPlaceBytes = 32 * 1024;

std::atomic<uint64_t>* SlotCounter(void* slots, size_t slot) {
  return reinterpret_cast<std::atomic<uint64_t>*>(static_cast<char*>(slots) + slot * kSlotStride);
}

}  // namespace

// ---------------------------------------------------------------------------
// PoolCore

struct PoolCore::Worker {
  explicit Worker(Process p) : process(std::move(p)) {}
  Process process;
  pid_t pid = -1;
  size_t slot = 0;
  UniqueFd task_w;    // Non-blocking.
  UniqueFd result_r;  // Non-blocking.
  int sentinel = -1;  // Owned by `process`.
  TaskSender tasks;  // Framed tasks not yet written.
  ResultStreamParser results;
  std::deque<TaskRef> inflight;
  uint64_t sent = 0;
  uint64_t acked = 0;
  uint64_t last_started = 0;  // For Steal(): the counter when last looked at.
  bool stuck = false;         // Tasks were stolen from it; none until it answers.
  bool exit_sent = false;
  bool eof = false;
};

PoolCore::PoolCore(int processes, std::function<void()> initializer, int maxtasksperchild)
    : processes_(processes), initializer_(std::move(initializer)), maxtasksperchild_(maxtasksperchild) {}

absl::StatusOr<std::unique_ptr<PoolCore>> PoolCore::Start(int processes, std::function<void()> initializer,
                                                         int maxtasksperchild) {
  if (processes == 0) processes = ProcessCpuCount();
  if (processes < 1) return PyError(PyExc::kValueError, "Number of processes must be at least 1");
  if (maxtasksperchild < 0) return PyError(PyExc::kValueError, "maxtasksperchild must be a positive int or None");
  std::unique_ptr<PoolCore> core(new PoolCore(processes, std::move(initializer), maxtasksperchild));
  core->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (core->wake_fd_ < 0) return PyOSError(errno, "eventfd()");
  size_t n = static_cast<size_t>(core->processes_);
  core->slots_size_ = (n * kSlotStride + 4095) / 4096 * 4096;
  void* slots = ::mmap(nullptr, core->slots_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (slots == MAP_FAILED) return PyOSError(errno, "mmap()");
  core->slots_ = slots;
  core->workers_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (absl::Status s = core->StartWorker(i); !s.ok()) {
      core->TerminateWorkers();
      return s;
    }
  }
  // std::thread throws when no thread can be made (EAGAIN: thread limit, or
  // no address space for its stack); CPython raises RuntimeError.
  try {
    core->handler_ = std::thread([c = core.get()] { c->HandlerLoop(); });
  } catch (const std::system_error& e) {
    core->TerminateWorkers();
    return PyError(PyExc::kRuntimeError, absl::StrCat("can't start new thread: ", e.code().message()));
  }
  return core;
}

absl::Status PoolCore::StartWorker(size_t slot) {
  absl::StatusOr<PipeFds> tasks = MakePipe();
  if (!tasks.ok()) return tasks.status();
  absl::StatusOr<PipeFds> results = MakePipe();
  if (!results.ok()) return results.status();
  // Bigger pipes mean fewer wakeups for map chunks; the default still works.
  (void)::fcntl(tasks->write.get(), F_SETPIPE_SZ, 1 << 20);
  (void)::fcntl(results->write.get(), F_SETPIPE_SZ, 1 << 20);

  // The worker keeps only its own two ends.
  std::vector<int> to_close = {wake_fd_, tasks->write.get(), results->read.get()};
  for (const auto& w : workers_) {
    if (!w) continue;
    to_close.insert(to_close.end(), {w->task_w.get(), w->result_r.get(), w->sentinel});
  }
  std::atomic<uint64_t>* counter = SlotCounter(slots_, slot);
  counter->store(0, std::memory_order_relaxed);
  int task_r = tasks->read.get(), result_w = results->write.get(), maxtasks = maxtasksperchild_;
  const std::function<void()>* init = &initializer_;
  Process p(
      [to_close, task_r, result_w, counter, maxtasks, init] {
        for (int fd : to_close) ::close(fd);
        WorkerMain(task_r, result_w, counter, maxtasks, *init);
      },
      ProcessOptions{.daemon = true});
  // CPython: w.name = w.name.replace('Process', 'PoolWorker'), with the
  // context's prefix: "ForkPoolWorker-N".
  p.set_name(absl::StrReplaceAll(p.name(), {{"Process", "ForkPoolWorker"}}));
  if (absl::Status s = p.Start(); !s.ok()) return s;
  auto w = std::make_unique<Worker>(p);
  w->pid = *p.pid();
  w->slot = slot;
  w->sentinel = *p.sentinel();
  w->task_w = std::move(tasks->write);
  w->result_r = std::move(results->read);
  (void)::fcntl(w->task_w.get(), F_SETFL, O_NONBLOCK);
  (void)::fcntl(w->result_r.get(), F_SETFL, O_NONBLOCK);
  std::lock_guard<std::mutex> lock(workers_mu_);
  workers_[slot] = std::move(w);
  return absl::OkStatus();
}

PoolCore::~PoolCore() {
  (void)Terminate();
  if (handler_.joinable()) handler_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (slots_) ::munmap(slots_, slots_size_);
}

void PoolCore::Wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

absl::Status PoolCore::CheckRunning() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kRun) return PyError(PyExc::kValueError, "Pool not running");
  return absl::OkStatus();
}

absl::Status PoolCore::Submit(TaskRef task) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kRun) return PyError(PyExc::kValueError, "Pool not running");
    submitted_.push_back(std::move(task));
    wake = std::exchange(idle_, false);
  }
  if (wake) Wake();
  return absl::OkStatus();
}

absl::Status PoolCore::SubmitAll(std::vector<TaskRef> tasks) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kRun) return PyError(PyExc::kValueError, "Pool not running");
    for (TaskRef& t : tasks) submitted_.push_back(std::move(t));
    wake = std::exchange(idle_, false);
  }
  if (wake) Wake();
  return absl::OkStatus();
}

absl::Status PoolCore::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::kRun) state_ = State::kClose;
  }
  Wake();
  return absl::OkStatus();
}

absl::Status PoolCore::Terminate() {
  std::lock_guard<std::mutex> join_lock(join_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = State::kTerminate;
  }
  Wake();
  if (handler_.joinable()) handler_.join();
  return absl::OkStatus();
}

absl::Status PoolCore::Join() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::kRun) return PyError(PyExc::kValueError, "Pool is still running");
  }
  std::lock_guard<std::mutex> join_lock(join_mu_);
  if (handler_.joinable()) handler_.join();
  return absl::OkStatus();
}

std::vector<pid_t> PoolCore::WorkerPids() {
  std::lock_guard<std::mutex> lock(workers_mu_);
  std::vector<pid_t> pids;
  for (const auto& w : workers_) {
    if (w) pids.push_back(w->pid);
  }
  return pids;
}

void PoolCore::Dispatch() {
  if (pending_.empty()) return;
  size_t window = 1;
  if (task_ns_ > 0) {
    window = static_cast<size_t>(std::clamp(kTargetBatchNs / task_ns_, 1.0, static_cast<double>(kMaxWindow)));
  }
  size_t n = workers_.size();
  bool progress = true;
  while (!pending_.empty() && progress) {
    progress = false;
    for (auto& wp : workers_) {
      if (pending_.empty()) break;
      // A worker whose tasks were stolen is busy with a long one; an idle
      // one is fair game again.
      if (!wp || wp->exit_sent || wp->eof || (wp->stuck && !wp->inflight.empty())) continue;
      Worker& w = *wp;
      size_t room = window > w.inflight.size() ? window - w.inflight.size() : 0;
      if (maxtasksperchild_ > 0) {
        room = std::min<size_t>(room, static_cast<size_t>(maxtasksperchild_) - w.sent);
      }
      if (room == 0) continue;
      size_t share = std::min(room, std::max<size_t>(1, (pending_.size() + n - 1) / n));
      size_t count = 0, bytes = 0;
      for (auto it = pending_.begin(); count < share && it != pending_.end(); ++it, ++count) {
        if (count > 0 && bytes + it->size() > kMaxFrameBytes) break;
        bytes += it->size();
      }
      char header[kMaxFrameHeader];
      w.tasks.Append(absl::string_view(header, EncodeFrameHeader(bytes, header)));
      for (size_t k = 0; k < count; ++k) {
        TaskRef& t = pending_.front();
        t.index = w.sent++;
        w.tasks.Append(t.record);
        if (t.payload_size > 0) {
          w.tasks.AppendBorrowed(t.payload, t.payload_size, t.job.get(), t.keep);
        }
        w.inflight.push_back(std::move(t));
        pending_.pop_front();
      }
      inflight_total_ += count;
      progress = true;
    }
  }
}

void PoolCore::ReadResults(Worker& w) {
  while (!w.eof) {
    ResultStreamParser::Event need;
    {
      std::lock_guard<std::mutex> lock(notifier_->mu);
      need = HandleResults(w);
    }
    CompleteBatch();
    if (need.kind == ResultStreamParser::Event::kCorrupt) {
      // A worker never sends this: its stream is lost. Killing it makes its
      // tasks fail as lost, as for any dead worker.
      (void)w.process.Kill();
      w.eof = true;
      return;
    }
    ssize_t r = ::read(w.result_r.get(), need.dst, need.size);
    if (r > 0) {
      w.results.Received(static_cast<size_t>(r));
    } else if (r == 0) {
      w.eof = true;
    } else if (errno != EINTR) {
      return;  // EAGAIN: all read for now.
    }
  }
}

ResultStreamParser::Event PoolCore::HandleResults(Worker& w) {
  using Event = ResultStreamParser::Event;
  for (;;) {
    Event e = w.results.Next(MayGoInPlace(w));
    switch (e.kind) {
      case Event::kNeed:
      case Event::kCorrupt:
        return e;
      case Event::kFrameEnd:
        EndFrame(e.busy_ns, e.records);
        break;
      case Event::kInPlace: {
        TaskRef& front = w.inflight.front();
        // The handler fills the target later, outside the lock (see Job).
        char* dst = front.job->InPlaceTarget(front.chunk, e.count, e.bytes);
        if (dst) {
          w.results.ReadInPlace(dst);
        } else {
          w.results.Decline();  // Deliver will say what is wrong.
        }
        break;
      }
      case Event::kInPlaceDone: {
        TaskRef t = Answered(w);
        const bool done = t.job->DeliverInPlace(t.chunk);
        Delivered(std::move(t.job), done);
        break;
      }
      case Event::kRecord: {
        if (w.inflight.empty()) break;  // Answers no task: a worker never sends this.
        TaskRef t = Answered(w);
        bool done;
        if (e.result == ResultKind::kOk) {
          done = t.job->Deliver(t.chunk, e.payload);
        } else {
          done = t.job->DeliverError(t.chunk, DecodeTaskError(e.result, e.code, e.payload, t.job->Describe(t.chunk)));
        }
        Delivered(std::move(t.job), done);
        break;
      }
    }
  }
}

TaskRef PoolCore::Answered(Worker& w) {
  TaskRef t = std::move(w.inflight.front());
  w.inflight.pop_front();
  ++w.acked;
  w.stuck = false;
  --inflight_total_;
  return t;
}

// Smaller payloads are cheaper to copy out of the parser's buffer than to
// read on their own (two reads instead of one).
bool PoolCore::MayGoInPlace(const Worker& w) const {
  if (w.inflight.empty()) return false;
  const TaskRef& t = w.inflight.front();
  return t.job->InPlaceSize(t.chunk) >= kMinInPlaceBytes && !t.job->ready();
}

void PoolCore::EndFrame(int64_t busy_ns, size_t records) {
  if (records == 0) return;
  double per_task = static_cast<double>(busy_ns) / static_cast<double>(records);
  task_ns_ = task_ns_ == 0 ? per_task : 0.7 * task_ns_ + 0.3 * per_task;
  if (task_ns_ <= 0) task_ns_ = 1;
}

// A lent job completed, and its caller waits for the pool to let go of its
// items: copy the bytes the pool may still write (queued in a frame, or for
// a task that may be sent again) into the pool's own storage.
void PoolCore::Unlend(const Job* job) {
  auto own = [job](TaskRef& t) {
    if (t.job.get() != job || t.payload_size == 0) return;
    auto copy = std::make_shared<std::string>(t.payload, t.payload_size);
    t.payload = copy->data();
    t.keep = std::move(copy);
  };
  for (TaskRef& t : pending_) own(t);
  for (auto& wp : workers_) {
    if (!wp) continue;
    for (TaskRef& t : wp->inflight) own(t);
    wp->tasks.Unlend(job);
  }
}

void PoolCore::Delivered(std::shared_ptr<Job> job, bool completed) {
  if (job->streaming()) arrived_ = true;  // Its reader takes each chunk.
  if (completed) completed_.push_back(std::move(job));
}

void PoolCore::CompleteBatch() {
  if (completed_.empty() && !std::exchange(arrived_, false)) return;
  arrived_ = false;
  notifier_->cv.notify_all();
  for (auto& job : completed_) {
    if (job->lent()) Unlend(job.get());
    job->RunCallbacks();
  }
  completed_.clear();
}

void PoolCore::HandleExit(size_t slot) {
  Worker& w = *workers_[slot];
  ReadResults(w);
  (void)w.process.Join();
  ExitStatus how = w.process.exit_status().value_or(ExitStatus::Exited(255));
  uint64_t started = SlotCounter(slots_, slot)->load(std::memory_order_relaxed);
  // Of the tasks the worker claimed (index < started; revoked ones are no
  // longer in `inflight`), the last was running and the others' results
  // died with it; the rest never started and go to other workers.
  std::deque<TaskRef> requeue;
  uint64_t running = 0;
  bool any_running = false;
  for (const TaskRef& t : w.inflight) {
    if (t.index < started) {
      running = t.index;
      any_running = true;
    }
  }
  {
    std::lock_guard<std::mutex> lock(notifier_->mu);
    for (TaskRef& t : w.inflight) {
      if (t.index >= started) {
        requeue.push_back(std::move(t));
        continue;
      }
      std::string msg = absl::StrCat(w.process.name(), " (pid ", w.pid, ") ", how.ToString(),
                                     any_running && t.index == running ? " while running "
                                                                       : " before sending the result of ",
                                     t.job->Describe(t.chunk));
      const bool done = t.job->DeliverError(t.chunk, PyError(PyExc::kWorkerLostError, msg));
      Delivered(std::move(t.job), done);
    }
  }
  // Requeued before the callbacks, so that Unlend() sees these tasks.
  inflight_total_ -= w.inflight.size();
  for (auto it = requeue.rbegin(); it != requeue.rend(); ++it) pending_.push_front(std::move(*it));
  CompleteBatch();
  (void)w.process.Close();
  {
    std::lock_guard<std::mutex> lock(workers_mu_);
    workers_[slot].reset();
  }
  // CPython's _maintain_pool: replace while running, or while closing with
  // work left.
  State state;
  {
    std::lock_guard<std::mutex> lock(mu_);
    state = state_;
  }
  bool work_left = !pending_.empty() || inflight_total_ > 0;
  if (state == State::kRun || (state == State::kClose && work_left)) {
    if (absl::Status s = StartWorker(slot); !s.ok()) {
      bool any = std::any_of(workers_.begin(), workers_.end(), [](const auto& x) { return x != nullptr; });
      if (!any) FailAll(s);
    }
  }
}

bool PoolCore::CanSteal() const {
  if (maxtasksperchild_ > 0 || !pending_.empty()) return false;
  bool idle = false, queued = false;
  for (const auto& w : workers_) {
    if (!w || w->exit_sent || w->eof) continue;
    if (w->inflight.empty()) idle = true;
    if (w->inflight.size() > 1) queued = true;
  }
  return idle && queued;
}

// Revokes the unstarted tasks of workers that made no progress since the
// last look, and queues them for the others.
void PoolCore::Steal() {
  std::vector<TaskRef> stolen;
  for (auto& wp : workers_) {
    if (!wp || wp->inflight.size() <= 1) continue;
    Worker& w = *wp;
    std::atomic<uint64_t>* counter = SlotCounter(slots_, w.slot);
    uint64_t s = counter->load(std::memory_order_acquire);
    bool stuck = s == w.last_started;
    w.last_started = s;
    if (!stuck) continue;
    while (s < w.sent && !counter->compare_exchange_weak(s, w.sent, std::memory_order_acq_rel)) {
    }
    if (s >= w.sent) continue;
    // Tasks [s, sent) are ours again; they are the tail of `inflight`.
    while (!w.inflight.empty() && w.inflight.back().index >= s) {
      stolen.push_back(std::move(w.inflight.back()));
      w.inflight.pop_back();
      --inflight_total_;
    }
    w.last_started = w.sent;
    w.stuck = true;
  }
  for (auto it = stolen.rbegin(); it != stolen.rend(); ++it) pending_.push_back(std::move(*it));
}

void PoolCore::HandlerLoop() {
  // Writing to a dead worker's pipe must give EPIPE, not kill the program.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

  std::vector<struct pollfd> fds;
  std::vector<size_t> slot_of;  // For fds[i], i >= 1: the worker slot.
  for (;;) {
    State state;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (TaskRef& t : submitted_) pending_.push_back(std::move(t));
      submitted_.clear();
      state = state_;
    }
    if (state == State::kTerminate) {
      TerminateWorkers();
      FailAll(PyError(PyExc::kProcessError, "the pool was terminated before the task completed"));
      return;
    }
    Dispatch();
    for (auto& w : workers_) {
      if (w && !w->tasks.empty()) (void)w->tasks.Flush(w->task_w.get());
    }
    if (state == State::kClose && pending_.empty() && inflight_total_ == 0) {
      bool any = false;
      for (auto& w : workers_) {
        if (!w) continue;
        any = true;
        if (!w->exit_sent) {
          w->exit_sent = true;
          char header[kMaxFrameHeader];
          w->tasks.Append(absl::string_view(header, EncodeFrameHeader(0, header)));
          (void)w->tasks.Flush(w->task_w.get());
        }
      }
      if (!any) return;
    }

    fds.clear();
    slot_of.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    slot_of.push_back(0);
    for (size_t i = 0; i < workers_.size(); ++i) {
      Worker* w = workers_[i].get();
      if (!w) continue;
      short events = w->eof ? 0 : POLLIN;
      if (!w->tasks.empty()) events |= POLLOUT;
      if (events) {
        fds.push_back({w->result_r.get(), static_cast<short>(events & POLLIN), 0});
        slot_of.push_back(i);
        if (events & POLLOUT) {
          fds.push_back({w->task_w.get(), POLLOUT, 0});
          slot_of.push_back(i);
        }
      }
      fds.push_back({w->sentinel, POLLIN, 0});
      slot_of.push_back(i);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!submitted_.empty() || state_ != state) continue;
      idle_ = true;
    }
    // While a worker idles and another holds queued tasks, look every few
    // milliseconds whether the busy one is stuck on a long task.
    bool steal = CanSteal();
    int r = ::poll(fds.data(), fds.size(), steal ? 5 : -1);
    if (steal) Steal();
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle_ = false;
    }
    if (r < 0) continue;  // EINTR
    if (fds[0].revents) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
    }
    std::vector<size_t> exited;
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      Worker* w = workers_[slot_of[i]].get();
      if (!w) continue;
      if (fds[i].fd == w->sentinel) {
        exited.push_back(slot_of[i]);
      } else if (fds[i].fd == w->result_r.get()) {
        ReadResults(*w);
      } else if (fds[i].fd == w->task_w.get()) {
        (void)w->tasks.Flush(w->task_w.get());
      }
    }
    for (size_t slot : exited) HandleExit(slot);
  }
}

void PoolCore::TerminateWorkers() {
  for (auto& w : workers_) {
    if (w) (void)w->process.Terminate();
  }
  absl::Time deadline = absl::Now() + absl::Seconds(1);
  for (auto& w : workers_) {
    if (!w) continue;
    (void)w->process.JoinUntil(deadline);
    if (!w->process.exit_status()) {
      (void)w->process.Kill();
      (void)w->process.Join();
    }
    inflight_total_ -= w->inflight.size();
    for (TaskRef& t : w->inflight) pending_.push_back(std::move(t));
    w->inflight.clear();
    (void)w->process.Close();
  }
  std::lock_guard<std::mutex> lock(workers_mu_);
  for (auto& w : workers_) w.reset();
}

void PoolCore::FailAll(const absl::Status& status) {
  {
    std::lock_guard<std::mutex> lock(notifier_->mu);
    for (TaskRef& t : pending_) {
      const bool done = t.job->DeliverError(
          t.chunk, PyErrorFromParts(status.code(), PythonException(status),
                                    absl::StrCat(status.message(), ": ", t.job->Describe(t.chunk))));
      Delivered(std::move(t.job), done);
    }
    pending_.clear();
  }
  CompleteBatch();
}

}  // namespace mp::internal
