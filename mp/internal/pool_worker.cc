#include "mp/internal/pool_worker.h"

#include <signal.h>
#include <time.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "mp/connection.h"
#include "mp/internal/fd.h"
#include "mp/internal/framing.h"
#include "mp/internal/pool_wire.h"

namespace mp::internal {
namespace {

// Results are sent at least this often while tasks run (CLOCK_MONOTONIC_COARSE
// nanoseconds), and a result frame is sent once it holds this much.
constexpr int64_t kFlushNs = 1000000;
constexpr size_t kMaxResultFrame = 64 * 1024;

int64_t NowNs(clockid_t clock = CLOCK_MONOTONIC) {
  struct timespec ts;
  ::clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Reads one frame into *buf (replacing what it held) and points *frame at
// it. The buffer is reused and not zero-filled: a map chunk's frame is
// hundreds of KB. Returns false at EOF, on a read error or a bad header.
bool RecvFrame(int fd, ByteBuf* buf, absl::string_view* frame) {
  absl::StatusOr<FrameHeader> header =
      ReadFrameHeader([fd](char* data, size_t size) { return ReadFull(fd, data, size); });
  if (!header.ok() || header->state != FrameHeader::State::kComplete) return false;
  const size_t len = static_cast<size_t>(header->body_size);
  buf->Consume(buf->size());
  char* p = buf->Reserve(len);
  absl::StatusOr<size_t> n = ReadFull(fd, p, len);
  if (!n.ok() || *n < len) return false;
  buf->Commit(len);
  *frame = absl::string_view(buf->begin(), len);
  return true;
}

}  // namespace

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
  out.resize(kResultFrameHeader);
  TaskOutput output(&out);
  std::vector<absl::string_view> pieces;
  ByteBuf in;
  uint64_t n_started = 0;
  uint64_t next_index = 0;
  int64_t busy_start = 0;
  auto flush = [&]() -> bool {
    if (output.size() == kResultFrameHeader) return true;
    int64_t busy = NowNs() - busy_start;
    std::memcpy(out.data(), &busy, sizeof busy);
    bool ok;
    if (output.has_bulk()) {
      output.Pieces(&pieces);
      ok = results.SendBytesV(pieces).ok();
    } else {
      ok = results.SendBytes(out).ok();
    }
    output.Clear(kResultFrameHeader);
    busy_start = NowNs();
    return ok;
  };
  absl::string_view frame;
  for (;;) {
    if (!RecvFrame(tasks.get(), &in, &frame) || frame.empty()) break;  // EOF (the parent is gone) or "exit".
    busy_start = NowNs();
    int64_t last_flush = NowNs(CLOCK_MONOTONIC_COARSE);
    TaskRecordView task;
    while (NextTaskRecord(&frame, &task)) {
      // Claim task `index`; the parent may have revoked it (see Steal()).
      uint64_t index = next_index++;
      uint64_t expected = index;
      if (!started->compare_exchange_strong(expected, index + 1, std::memory_order_acq_rel)) continue;
      ++n_started;
      task.trampoline(task.fn, task.args, output);
      if (maxtasks > 0 && n_started >= static_cast<uint64_t>(maxtasks)) {
        flush();
        return;
      }
      // Batch results, but never sit on them: a slow task after fast ones
      // must not delay the fast ones' results. An error goes at once: an
      // imap's reader or an error callback may be waiting for it.
      int64_t now = NowNs(CLOCK_MONOTONIC_COARSE);
      if (now - last_flush >= kFlushNs || output.size() >= kMaxResultFrame || output.has_error()) {
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

}  // namespace mp::internal
