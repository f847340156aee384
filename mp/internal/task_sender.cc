#include "mp/internal/task_sender.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/uio.h>
#include <time.h>

#include <atomic>
#include <utility>

namespace mp::internal {
namespace {

// Borrowed pieces at least this large are spliced.
constexpr size_t kMinSpliceBytes = 64 * 1024;
constexpr int kMaxIov = 64;

// Until vmsplice(2) fails for want of support (a seccomp filter, say).
std::atomic<bool> g_vmsplice_ok{true};

}  // namespace

bool TaskSender::Piece::spliced() const {
  return data && size >= kMinSpliceBytes && g_vmsplice_ok.load(std::memory_order_relaxed);
}

void TaskSender::Append(absl::string_view bytes) {
  if (out_.empty() || out_.back().data) out_.emplace_back();
  out_.back().own.append(bytes.data(), bytes.size());
}

void TaskSender::AppendBorrowed(const char* data, size_t size, const Job* job, std::shared_ptr<const void> keep) {
  out_.push_back(Piece{{}, data, size, job, std::move(keep)});
}

TaskSender::Flushed TaskSender::Flush(int fd) {
  while (!out_.empty()) {
    struct iovec iov[kMaxIov];
    int n = 0;
    // One spliced piece, or as many written ones as come before the next.
    const bool splice = out_.front().spliced();
    for (auto it = out_.begin(); it != out_.end() && n < kMaxIov; ++it, ++n) {
      if (it->spliced() != splice || (splice && n == 1)) break;
      absl::string_view v = it->view().substr(n == 0 ? out_off_ : 0);
      iov[n].iov_base = const_cast<char*>(v.data());
      iov[n].iov_len = v.size();
    }
    ssize_t r = splice ? ::vmsplice(fd, iov, 1, SPLICE_F_NONBLOCK) : ::writev(fd, iov, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Flushed::kPipeFull;
      if (splice && errno != EPIPE) {
        g_vmsplice_ok.store(false, std::memory_order_relaxed);  // Write instead.
        continue;
      }
      if (errno == EPIPE) {
        // The worker is gone; its sentinel will tell.
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        (void)::sigtimedwait(&set, nullptr, &zero);
      }
      out_.clear();
      out_off_ = 0;
      return Flushed::kReaderGone;
    }
    size_t left = static_cast<size_t>(r);
    while (left > 0) {
      size_t rest = out_.front().view().size() - out_off_;
      if (left < rest) {
        out_off_ += left;
        break;
      }
      left -= rest;
      out_.pop_front();
      out_off_ = 0;
    }
    while (!out_.empty() && out_.front().view().size() == out_off_) {
      out_.pop_front();
      out_off_ = 0;
    }
  }
  return Flushed::kAll;
}

void TaskSender::Unlend(const Job* job) {
  for (size_t i = 0; i < out_.size(); ++i) {
    Piece& piece = out_[i];
    if (piece.job != job) continue;
    size_t off = i == 0 ? out_off_ : 0;
    piece.own.assign(piece.data + off, piece.size - off);
    piece.data = nullptr;
    piece.size = 0;
    piece.job = nullptr;
    piece.keep.reset();
    if (i == 0) out_off_ = 0;
  }
}

}  // namespace mp::internal
