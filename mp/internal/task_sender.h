// Private: the parent's end of one Pool worker's task pipe. Framed task
// records queue up as pieces, bytes of its own or a map chunk's values
// borrowed from the caller's items, and go into the (non-blocking) pipe as it
// takes them: written with writev(2), or, for large borrowed values,
// vmsplice(2)d, so that the pipe refers to the caller's pages instead of
// copying them (the worker's read(2) copies from there).
//
// Splicing is safe only because the values are numbers (any bytes are a
// valid, if wrong, value) that stay unchanged until a live task is read: a
// lent item's until its map completes, and by then (a failed map too:
// Job::DeliverError) every task still to be read is revoked; a copy's while
// a TaskRef holds it.
//
// Thread-safety: not thread-safe (the pool's handler thread owns it).

#ifndef MP_INTERNAL_TASK_SENDER_H_
#define MP_INTERNAL_TASK_SENDER_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace mp::internal {

class Job;

class TaskSender {
 public:
  // Queues a copy of `bytes`.
  void Append(absl::string_view bytes);
  // Queues `size` bytes at `data`, part of `job`'s items, kept alive by
  // `keep` (or by the job's lender, see Unlend).
  void AppendBorrowed(const char* data, size_t size, const Job* job, std::shared_ptr<const void> keep);
  bool empty() const { return out_.empty(); }

  enum class Flushed { kAll, kPipeFull, kReaderGone };
  // Writes what the non-blocking `fd` takes. When the reader is gone the
  // queue is dropped (and the SIGPIPE the caller's thread has blocked is
  // consumed).
  Flushed Flush(int fd);

  // `job`'s lender takes its items back: copies what is still queued of
  // them.
  void Unlend(const Job* job);

 private:
  struct Piece {
    std::string own;
    const char* data = nullptr;  // Borrowed when set.
    size_t size = 0;
    const Job* job = nullptr;
    std::shared_ptr<const void> keep;
    absl::string_view view() const { return data ? absl::string_view(data, size) : absl::string_view(own); }
    bool spliced() const;
  };
  std::deque<Piece> out_;
  size_t out_off_ = 0;  // Bytes of out_.front() already written.
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_TASK_SENDER_H_
