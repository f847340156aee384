#include "mp/internal/pool_core.h"

#include <cxxabi.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "mp/connection.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"
#include "mp/internal/framing.h"
#include "mp/process.h"

namespace mp::internal {
namespace {

// A task batch should keep a worker busy about this long: long enough to
// amortize the round trip, short enough that long tasks still go to
// whichever worker frees up first.
constexpr double kTargetBatchNs = 2e6;
constexpr size_t kMaxWindow = 4096;
// Frames stay small so a worker starts on a big chunk while the next is
// still in the pipe, and the parent gets each big result as soon as it is
// done.
constexpr size_t kMaxFrameBytes = 64 * 1024;
constexpr size_t kSlotStride = 64;       // One cache line per worker slot.
constexpr size_t kMinInPlaceBytes = 32 * 1024;
constexpr size_t kMinSpliceBytes = 64 * 1024;

template <typename T>
void Put(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
T Get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

int64_t NowNs(clockid_t clock = CLOCK_MONOTONIC) {
  struct timespec ts;
  ::clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::string Demangle(const char* mangled) {
  int status = 0;
  char* out = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = status == 0 && out ? out : mangled;
  std::free(out);
  return s;
}

// A growable byte buffer without std::string's zero-fill on resize: frames
// of a map chunk are hundreds of KB.
class ByteBuf {
 public:
  const char* begin() const { return data_.get() + head_; }
  size_t size() const { return tail_ - head_; }
  void Consume(size_t n) {
    head_ += n;
    if (head_ == tail_) head_ = tail_ = 0;
  }
  // Makes room for at least `n` more bytes at the end; returns where.
  char* Reserve(size_t n) {
    if (cap_ - tail_ >= n) return data_.get() + tail_;
    size_t live = size();
    if (head_ > 0 && cap_ - live >= n && live <= cap_ / 2) {
      std::memmove(data_.get(), begin(), live);
    } else {
      size_t cap = std::max({cap_ * 2, live + n, size_t{64 * 1024}});
      std::unique_ptr<char[]> d(new char[cap]);
      if (live) std::memcpy(d.get(), begin(), live);
      data_ = std::move(d);
      cap_ = cap;
    }
    head_ = 0;
    tail_ = live;
    return data_.get() + tail_;
  }
  void Commit(size_t n) { tail_ += n; }

 private:
  std::unique_ptr<char[]> data_;
  size_t head_ = 0, tail_ = 0, cap_ = 0;
};

std::atomic<uint64_t>* SlotCounter(void* slots, size_t slot) {
  return reinterpret_cast<std::atomic<uint64_t>*>(static_cast<char*>(slots) + slot * kSlotStride);
}

// Reads one frame into *buf (replacing what it held) and points *frame at
// it. The buffer is reused and not zero-filled: a map chunk's frame is
// hundreds of KB. Returns false at EOF, on a read error or a bad header.
bool RecvFrame(int fd, ByteBuf* buf, absl::string_view* frame) {
  absl::StatusOr<FrameHeader> header =
      ReadFrameHeader([fd](char* data, size_t size) { return ReadFull(fd, data, size); });
  if (!header.ok()) return false;
  const size_t len = static_cast<size_t>(header->body_size);
  buf->Consume(buf->size());
  char* p = buf->Reserve(len);
  absl::StatusOr<size_t> n = ReadFull(fd, p, len);
  if (!n.ok() || *n < len) return false;
  buf->Commit(len);
  *frame = absl::string_view(buf->begin(), len);
  return true;
}

// The worker's main loop: CPython's multiprocessing.pool.worker. Frames
// arrive and leave in CPython's connection framing; a frame carries a batch
// of task records, an empty frame means "exit".
void WorkerMain(int task_r, int result_w, std::atomic<uint64_t>* started, int maxtasks,
                const std::function<void()>& initializer) {
  // The handler thread that may have forked us blocks SIGPIPE; tasks should
  // see the default disposition.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_UNBLOCK, &pipe_set, nullptr);
  UniqueFd tasks(task_r);
  Connection results = Connection::FromFd(result_w, /*readable=*/false, /*writable=*/true);
  if (initializer) initializer();

  // A result frame: [i64 busy nanoseconds][records], the records' bulk
  // (raw map results) spliced in by `output`.
  std::string out;
  out.reserve(64 * 1024);
  out.resize(8);
  TaskOutput output(&out);
  std::vector<absl::string_view> pieces;
  ByteBuf in;
  uint64_t n_started = 0;
  uint64_t next_index = 0;
  int64_t busy_start = 0;
  auto flush = [&]() -> bool {
    if (output.size() == 8) return true;
    int64_t busy = NowNs() - busy_start;
    std::memcpy(out.data(), &busy, 8);
    bool ok;
    if (output.has_bulk()) {
      output.Pieces(&pieces);
      ok = results.SendBytesV(pieces).ok();
    } else {
      ok = results.SendBytes(out).ok();
    }
    output.Clear(8);
    busy_start = NowNs();
    return ok;
  };
  absl::string_view frame;
  for (;;) {
    if (!RecvFrame(tasks.get(), &in, &frame) || frame.empty()) break;  // EOF (the parent is gone) or "exit".
    busy_start = NowNs();
    int64_t last_flush = NowNs(CLOCK_MONOTONIC_COARSE);
    const char* p = frame.data();
    const char* end = p + frame.size();
    while (p + 20 <= end) {
      auto trampoline = reinterpret_cast<Trampoline>(Get<uintptr_t>(p));
      uintptr_t fn = Get<uintptr_t>(p + 8);
      uint32_t alen = Get<uint32_t>(p + 16);
      absl::string_view args(p + 20, alen);
      p += 20 + alen;
      // Claim task `index`; the parent may have revoked it (see Steal()).
      uint64_t index = next_index++;
      uint64_t expected = index;
      if (!started->compare_exchange_strong(expected, index + 1, std::memory_order_acq_rel)) continue;
      ++n_started;
      trampoline(fn, args, output);
      if (maxtasks > 0 && n_started >= static_cast<uint64_t>(maxtasks)) {
        flush();
        return;
      }
      // Batch results, but never sit on them: a slow task after fast ones
      // must not delay the fast ones' results. An error goes at once: an
      // imap's reader or an error callback may be waiting for it.
      int64_t now = NowNs(CLOCK_MONOTONIC_COARSE);
      if (now - last_flush >= 1000000 || output.size() >= kMaxFrameBytes || output.has_error()) {
        if (!flush()) return;
        last_flush = now;
      }
    }
    // The bulk refers to nothing in `in`, but flushing before the next
    // frame keeps results prompt.
    if (!flush()) return;
  }
  flush();
}

}  // namespace

// ---------------------------------------------------------------------------
// TaskOutput

void TaskOutput::Header(Kind kind, uint32_t code, uint32_t len) {
  out_->push_back(static_cast<char>(kind));
  Put(out_, code);
  Put(out_, len);
}

size_t TaskOutput::BeginOk() {
  size_t start = out_->size();
  Header(kOk, 0, 0);
  return start;
}

void TaskOutput::EndOk(size_t start) {
  size_t bulk = 0;
  for (auto it = splices_.rbegin(); it != splices_.rend() && it->at > start; ++it) bulk += it->size;
  uint32_t len = static_cast<uint32_t>(out_->size() - start - 9 + bulk);
  std::memcpy(out_->data() + start + 5, &len, 4);
}

void TaskOutput::Abandon(size_t start) {
  out_->resize(start);
  while (!splices_.empty() && splices_.back().at > start) {
    bulk_bytes_ -= splices_.back().size;
    splices_.pop_back();
  }
}

char* TaskOutput::AppendBulk(size_t n) {
  size_t rounded = (n + 15) / 16 * 16;
  while (block_ < blocks_.size() && blocks_[block_].size - block_used_ < rounded) {
    ++block_;
    block_used_ = 0;
  }
  if (block_ == blocks_.size()) {
    size_t size = std::max({rounded, size_t{64 * 1024}, blocks_.empty() ? 0 : 2 * blocks_.back().size});
    // new char[] is aligned for any arithmetic type, and leaves the bytes
    // as they are.
    blocks_.push_back(Block{std::unique_ptr<char[]>(new char[size]), size});
  }
  char* p = blocks_[block_].data.get() + block_used_;
  block_used_ += rounded;
  splices_.push_back(Splice{out_->size(), p, n});
  bulk_bytes_ += n;
  return p;
}

void TaskOutput::Pieces(std::vector<absl::string_view>* pieces) const {
  pieces->clear();
  size_t at = 0;
  for (const Splice& s : splices_) {
    pieces->push_back(absl::string_view(out_->data() + at, s.at - at));
    pieces->push_back(absl::string_view(s.data, s.size));
    at = s.at;
  }
  pieces->push_back(absl::string_view(out_->data() + at, out_->size() - at));
}

void TaskOutput::Clear(size_t keep) {
  out_->resize(keep);
  splices_.clear();
  bulk_bytes_ = 0;
  has_error_ = false;
  block_ = block_used_ = 0;
}

void TaskOutput::Raised(absl::string_view what) {
  has_error_ = true;
  Header(kRaised, 0, static_cast<uint32_t>(what.size()));
  out_->append(what.data(), what.size());
}

void TaskOutput::Failed(const absl::Status& status) {
  has_error_ = true;
  std::string name = PythonException(status);
  uint32_t len = static_cast<uint32_t>(name.size() + 1 + status.message().size());
  Header(kStatus, static_cast<uint32_t>(status.code()), len);
  out_->append(name);
  out_->push_back('\0');
  out_->append(status.message().data(), status.message().size());
}

std::string CurrentExceptionText() {
  try {
    throw;
  } catch (const std::exception& e) {
    return absl::StrCat(Demangle(typeid(e).name()), ": ", e.what());
  } catch (...) {
    std::type_info* t = abi::__cxa_current_exception_type();
    return absl::StrCat(t ? Demangle(t->name()) : std::string("unknown exception"),
                        " (not derived from std::exception)");
  }
}

void AppendTaskHeader(std::string* record, Trampoline trampoline, uintptr_t fn) {
  Put(record, reinterpret_cast<uintptr_t>(trampoline));
  Put(record, fn);
  Put(record, uint32_t{0});
}

// ---------------------------------------------------------------------------
// Job

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
  return absl::StrCat(what, " (", kind_, " of ", Demangle(fn_type_.name()), ")");
}

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
  // Framed tasks not yet written: our bytes, or a task's payload written
  // from the caller's items (`job` says whose, for Unlend()).
  struct Piece {
    std::string own;
    const char* data = nullptr;  // Not ours when set.
    size_t size = 0;
    const Job* job = nullptr;
    std::shared_ptr<const void> keep;
    absl::string_view view() const { return data ? absl::string_view(data, size) : absl::string_view(own); }
    // Large payloads of plain numbers are vmsplice(2)d: the pipe refers to
    // the pages instead of copying them, and the worker's read(2) copies
    // from there. Safe only because these are numbers (any bytes are a
    // valid, if wrong, value) that stay unchanged until a live task is
    // read: a lent item's until its map completes, and by then (a failed
    // map too: Job::DeliverError) every task still to be read is revoked;
    // a copy's while a TaskRef holds it.
    bool spliced() const { return data && size >= kMinSpliceBytes; }
  };
  std::deque<Piece> out;
  size_t out_off = 0;  // Bytes of out.front() already written.
  void AppendOut(absl::string_view bytes) {
    if (out.empty() || out.back().data) out.emplace_back();
    out.back().own.append(bytes.data(), bytes.size());
  }
  ByteBuf in;  // Result bytes not yet processed.
  // Where ParseResults is in the result stream.
  bool in_frame = false;
  uint64_t frame_left = 0;  // Bytes of the current frame not yet parsed.
  int64_t frame_busy = 0;
  size_t frame_count = 0;
  char* direct = nullptr;  // Where the rest of an in-place payload goes...
  size_t direct_left = 0;  // ...and how much of it is still to come.
  std::deque<TaskRef> inflight;
  uint64_t sent = 0;
  uint64_t acked = 0;
  uint64_t last_started = 0;  // For Steal(): the counter when last looked at.
  bool stuck = false;         // Tasks were stolen from it; none until it answers.
  bool exit_sent = false;
  bool eof = false;
};

PoolCore::PoolCore(PoolConfig config) : config_(std::move(config)) {}

absl::StatusOr<std::unique_ptr<PoolCore>> PoolCore::Start(PoolConfig config) {
  if (config.processes == 0) config.processes = CpuCount();
  if (config.processes < 1) return PyError(PyExc::kValueError, "Number of processes must be at least 1");
  if (config.maxtasksperchild < 0) {
    return PyError(PyExc::kValueError, "maxtasksperchild must be a positive int or None");
  }
  std::unique_ptr<PoolCore> core(new PoolCore(std::move(config)));
  core->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (core->wake_fd_ < 0) return PyOSError(errno, "eventfd()");
  size_t n = static_cast<size_t>(core->config_.processes);
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
  int task_r = tasks->read.get(), result_w = results->write.get(), maxtasks = config_.maxtasksperchild;
  const std::function<void()>* init = &config_.initializer;
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
      if (config_.maxtasksperchild > 0) {
        room = std::min<size_t>(room, static_cast<size_t>(config_.maxtasksperchild) - w.sent);
      }
      if (room == 0) continue;
      size_t share = std::min(room, std::max<size_t>(1, (pending_.size() + n - 1) / n));
      size_t count = 0, bytes = 0;
      for (auto it = pending_.begin(); count < share && it != pending_.end(); ++it, ++count) {
        if (count > 0 && bytes + it->size() > kMaxFrameBytes) break;
        bytes += it->size();
      }
      char header[kMaxFrameHeader];
      w.AppendOut(absl::string_view(header, EncodeFrameHeader(bytes, header)));
      for (size_t k = 0; k < count; ++k) {
        TaskRef& t = pending_.front();
        t.index = w.sent++;
        w.AppendOut(t.record);
        if (t.payload_size > 0) {
          w.out.push_back(Worker::Piece{{}, t.payload, t.payload_size, t.job.get(), t.keep});
        }
        w.inflight.push_back(std::move(t));
        pending_.pop_front();
      }
      inflight_total_ += count;
      progress = true;
    }
  }
}

void PoolCore::FlushOut(Worker& w) {
  while (!w.out.empty()) {
    struct iovec iov[64];
    int n = 0;
    // One spliced piece, or as many written ones as come before the next.
    bool splice = vmsplice_ok_ && w.out.front().spliced();
    for (auto it = w.out.begin(); it != w.out.end() && n < 64; ++it, ++n) {
      if ((vmsplice_ok_ && it->spliced()) != splice || (splice && n == 1)) break;
      absl::string_view v = it->view().substr(n == 0 ? w.out_off : 0);
      iov[n].iov_base = const_cast<char*>(v.data());
      iov[n].iov_len = v.size();
    }
    ssize_t r = splice ? ::vmsplice(w.task_w.get(), iov, 1, SPLICE_F_NONBLOCK) : ::writev(w.task_w.get(), iov, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      if (splice && errno != EPIPE) {
        vmsplice_ok_ = false;  // A seccomp filter, say: write instead.
        continue;
      }
      if (errno == EPIPE) {
        // The worker is gone; its sentinel will tell. Consume the SIGPIPE
        // this thread has blocked.
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        (void)::sigtimedwait(&set, nullptr, &zero);
      }
      w.out.clear();
      w.out_off = 0;
      return;
    }
    size_t left = static_cast<size_t>(r);
    while (left > 0) {
      size_t rest = w.out.front().view().size() - w.out_off;
      if (left < rest) {
        w.out_off += left;
        break;
      }
      left -= rest;
      w.out.pop_front();
      w.out_off = 0;
    }
    while (!w.out.empty() && w.out.front().view().size() == w.out_off) {
      w.out.pop_front();
      w.out_off = 0;
    }
  }
}

void PoolCore::ReadResults(Worker& w) {
  while (!w.eof) {
    auto [need, exact] = ParseResults(w);
    char* dst;
    size_t ask;
    if (w.direct_left > 0) {
      dst = w.direct;
      ask = w.direct_left;
    } else {
      ask = exact ? need : std::max<size_t>(need, 64 * 1024);
      dst = w.in.Reserve(ask);
    }
    ssize_t r = ::read(w.result_r.get(), dst, ask);
    if (r > 0) {
      if (w.direct_left == 0) {
        w.in.Commit(static_cast<size_t>(r));
        continue;
      }
      w.direct += r;
      w.direct_left -= static_cast<size_t>(r);
      if (w.direct_left == 0) {
        {
          std::lock_guard<std::mutex> lock(notifier_->mu);
          FinishInPlace(w);
        }
        CompleteBatch();
      }
      continue;
    }
    if (r == 0) {
      w.eof = true;
    } else if (errno != EINTR) {
      return;  // EAGAIN: all read for now.
    }
  }
}

// A result frame is [i64 busy][records]; a record [u8 kind][u32 code]
// [u32 len][payload] answers the oldest task in flight. An OK record of a
// map of plain numbers carries [u64 count][values]: those go straight into
// the result vector (w.direct) instead of through w.in, so the parent reads
// just up to them first.
std::pair<size_t, bool> PoolCore::ParseResults(Worker& w) {
  std::pair<size_t, bool> next;
  {
    std::lock_guard<std::mutex> lock(notifier_->mu);
    for (;;) {
      if (w.direct_left > 0) {
        next = {w.direct_left, true};
        break;
      }
      const bool may_go_in_place = MayGoInPlace(w);
      // Drops what has arrived of the current frame; true when more of it is
      // still to come (`next` then asks for it).
      auto skip_frame_rest = [&] {
        size_t skip = static_cast<size_t>(std::min<uint64_t>(w.frame_left, w.in.size()));
        w.in.Consume(skip);
        w.frame_left -= skip;
        if (w.frame_left == 0) return false;
        next = {static_cast<size_t>(w.frame_left), false};
        return true;
      };
      if (!w.in_frame) {
        FrameHeader h = DecodeFrameHeader(absl::string_view(w.in.begin(), w.in.size()));
        if (h.state == FrameHeader::State::kBad) {
          // A worker never sends this: its stream is lost. Killing it makes
          // its tasks fail as lost, as for any dead worker.
          (void)w.process.Kill();
          w.eof = true;
          next = {0, false};
          break;
        }
        const size_t header = h.header_size;
        if (h.state == FrameHeader::State::kNeedMore || w.in.size() < header + 8) {
          next = {header + 8 + (may_go_in_place ? 17 : 0) - w.in.size(), may_go_in_place};
          break;
        }
        const uint64_t len = h.body_size;
        w.in_frame = true;
        w.frame_left = len >= 8 ? len - 8 : 0;
        w.frame_busy = len >= 8 ? Get<int64_t>(w.in.begin() + header) : 0;
        w.frame_count = 0;
        w.in.Consume(header + std::min<uint64_t>(len, 8));
        continue;
      }
      if (w.frame_left == 0) {
        EndFrame(w);
        continue;
      }
      if (w.frame_left < 9 || w.in.size() < 9) {
        if (w.frame_left >= 9) {
          next = {9 + (may_go_in_place ? 8 : 0) - w.in.size(), may_go_in_place};
          break;
        }
        // Not a record: skip it (a worker never sends this).
        if (skip_frame_rest()) break;
        continue;
      }
      auto kind = static_cast<TaskOutput::Kind>(*w.in.begin());
      uint32_t code = Get<uint32_t>(w.in.begin() + 1);
      uint64_t rlen = Get<uint32_t>(w.in.begin() + 5);
      if (9 + rlen > w.frame_left || w.inflight.empty()) {
        // A record overrunning its frame, or answering no task: skip the
        // frame's rest (a worker never sends this).
        if (skip_frame_rest()) break;
        continue;
      }
      TaskRef& front = w.inflight.front();
      if (kind == TaskOutput::kOk && rlen >= 8 && may_go_in_place) {
        if (w.in.size() < 17) {
          next = {17 - w.in.size(), true};
          break;
        }
        char* dst = front.job->InPlaceTarget(front.chunk, Get<uint64_t>(w.in.begin() + 9), rlen - 8);
        if (dst) {
          w.in.Consume(17);
          w.frame_left -= 9 + rlen;
          size_t bytes = static_cast<size_t>(rlen - 8);
          size_t have = std::min(w.in.size(), bytes);
          if (have > 0) std::memcpy(dst, w.in.begin(), have);
          w.in.Consume(have);
          w.direct = dst + have;
          w.direct_left = bytes - have;
          if (w.direct_left == 0) FinishInPlace(w);
          continue;
        }
      }
      if (w.in.size() < 9 + rlen) {
        next = {static_cast<size_t>(9 + rlen - w.in.size()), false};
        break;
      }
      absl::string_view payload(w.in.begin() + 9, static_cast<size_t>(rlen));
      TaskRef t = std::move(front);
      w.inflight.pop_front();
      ++w.acked;
      w.stuck = false;
      --inflight_total_;
      ++w.frame_count;
      w.frame_left -= 9 + rlen;
      bool done;
      if (kind == TaskOutput::kOk) {
        done = t.job->Deliver(t.chunk, payload);
      } else if (kind == TaskOutput::kRaised) {
        done = t.job->DeliverError(
            t.chunk, PyError(PyExc::kRemoteError, absl::StrCat(t.job->Describe(t.chunk), " raised ", payload)));
      } else {
        size_t nul = payload.find('\0');
        absl::string_view name = payload.substr(0, nul);
        absl::string_view msg = nul == absl::string_view::npos ? "" : payload.substr(nul + 1);
        done = t.job->DeliverError(
            t.chunk, PyErrorFromParts(static_cast<absl::StatusCode>(code), name,
                                      absl::StrCat(msg, " (in ", t.job->Describe(t.chunk), ")")));
      }
      w.in.Consume(static_cast<size_t>(9 + rlen));
      if (done) completed_.push_back(std::move(t.job));
    }
  }
  CompleteBatch();
  return next;
}

// Smaller payloads are cheaper to copy out of w.in than to read on their own
// (two reads instead of one).
bool PoolCore::MayGoInPlace(const Worker& w) const {
  if (w.inflight.empty()) return false;
  const TaskRef& t = w.inflight.front();
  return t.job->InPlaceSize(t.chunk) >= kMinInPlaceBytes && !t.job->ready();
}

// The in-place payload of the oldest task in flight has all arrived.
void PoolCore::FinishInPlace(Worker& w) {
  TaskRef t = std::move(w.inflight.front());
  w.inflight.pop_front();
  ++w.acked;
  w.stuck = false;
  --inflight_total_;
  ++w.frame_count;
  w.direct = nullptr;
  if (t.job->DeliverInPlace(t.chunk)) completed_.push_back(std::move(t.job));
}

void PoolCore::EndFrame(Worker& w) {
  w.in_frame = false;
  if (w.frame_count == 0) return;
  double per_task = static_cast<double>(w.frame_busy) / static_cast<double>(w.frame_count);
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
    for (size_t i = 0; i < wp->out.size(); ++i) {
      Worker::Piece& piece = wp->out[i];
      if (piece.job != job) continue;
      size_t off = i == 0 ? wp->out_off : 0;
      piece.own.assign(piece.data + off, piece.size - off);
      piece.data = nullptr;
      piece.size = 0;
      piece.job = nullptr;
      piece.keep.reset();
      if (i == 0) wp->out_off = 0;
    }
  }
}

void PoolCore::CompleteBatch() {
  if (completed_.empty()) return;
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
      if (t.job->DeliverError(t.chunk, PyError(PyExc::kWorkerLostError, msg))) {
        completed_.push_back(std::move(t.job));
      }
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
  if (config_.maxtasksperchild > 0 || !pending_.empty()) return false;
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
      if (w && !w->out.empty()) FlushOut(*w);
    }
    if (state == State::kClose && pending_.empty() && inflight_total_ == 0) {
      bool any = false;
      for (auto& w : workers_) {
        if (!w) continue;
        any = true;
        if (!w->exit_sent) {
          w->exit_sent = true;
          char header[kMaxFrameHeader];
          w->AppendOut(absl::string_view(header, EncodeFrameHeader(0, header)));
          FlushOut(*w);
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
      if (!w->out.empty()) events |= POLLOUT;
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
        FlushOut(*w);
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
      if (t.job->DeliverError(t.chunk, PyErrorFromParts(status.code(), PythonException(status),
                                                        absl::StrCat(status.message(), ": ",
                                                                     t.job->Describe(t.chunk))))) {
        completed_.push_back(std::move(t.job));
      }
    }
    pending_.clear();
  }
  CompleteBatch();
}

}  // namespace mp::internal
