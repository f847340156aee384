// Private: how reported writes become the Observation's writes, when the
// captures themselves name no writer (pipes and terminals). The BPF observer
// (bpf_observer.h) reports each write(2) at its return, in the order the
// returns reached the ring buffer; the ptrace observer of a terminal
// (ptrace_writes.h) at its syscall-exit stop, in the order it handles them.
// Either way two processes writing at once may have put their bytes into
// the capture in the other order. The capture's bytes are what a reader
// saw, so they decide: Reconcile() walks them and names, for each run of
// bytes, the reported write it came from.

#ifndef CONFORMANCE_RUNNER_RECONCILE_H_
#define CONFORMANCE_RUNNER_RECONCILE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"

namespace conformance::internal {

// One system call's bytes as the kernel reported them, on one stream.
struct ReportedWrite {
  pid_t pid = 0;
  std::string data;
  // Ranges of `data` (offset, length) whose bytes the kernel could not copy
  // (sendfile, splice, tee, unreadable memory): they match any bytes.
  std::vector<std::pair<size_t, size_t>> blind;
  // When the system call returned, since the run began (or a little later).
  absl::Duration returned;
  // Where it sorts among its stream's reports, when their order is not the
  // order they were reported in (ptrace: the order the writers were let
  // go into their writes); 0 for all: the order reported (BPF's ring).
  uint64_t order = 0;
};

struct Reconciled {
  // `captured`, cut into runs each from one reported write (pid 0: bytes no
  // reported write accounts for), in pipe order. A run's `at` is no later
  // than its write's `returned`, nor than the `at` of any later run: so it is
  // before every event reported after the write, and runs moved earlier than
  // the ring's order stay before what they came before in the pipe.
  std::vector<WriteRecord> writes;
  // Empty when every captured byte was attributed and every reported byte
  // was found; otherwise what differs.
  std::string mismatch;
};

// Attributes `captured` (everything read from `stream`'s capture, possibly
// cut short by the runner's cap: `truncated`) to `reported` (that stream's
// writes, in an order close to the capture's: writes are searched for only
// among the next few thousand after the oldest one not yet found). A write
// of at most PIPE_BUF bytes is atomic on a pipe, so it is found whole; a
// larger one may be split by other writers' bytes. (On a terminal every write is atomic, as n_tty holds the
// tty's write lock for the whole call, unless a signal makes it return
// early: a special case.)
Reconciled Reconcile(int stream, std::vector<ReportedWrite> reported, const std::string& captured, bool truncated);

// The writes one run's observer reports, per stream, as they come, up to the
// runner's cap; then reconciled with the captured bytes.
class WriteReports {
 public:
  explicit WriteReports(size_t max_output_bytes) : max_output_bytes_(max_output_bytes) {}

  // Whether writes to `stream` (1, 2) are still wanted: false once the
  // reported bytes passed the cap (the capture drops the bytes past it too).
  bool Wanted(int stream) const { return bytes_[stream] < max_output_bytes_; }

  // A piece of one write system call of thread `tid` of process `pid` to
  // `stream`, returned at `t` (not before any earlier report's): `data`, or
  // `blind` bytes that could not be copied (then `data` is ignored).
  // `continues`: a later piece of the same call as that thread's last report.
  // `order`: ReportedWrite::order. Returns Wanted(stream) after it.
  bool Add(int stream, pid_t pid, pid_t tid, bool continues, absl::string_view data, size_t blind,
           absl::Duration t, uint64_t order = 0);

  // Attributes the captured bytes (obs->stdout_bytes, stderr_bytes) to the
  // reports (sorted by `order`, stably): sets obs->writes, both streams
  // merged by time, and obs->attribution_mismatch. Uses the reports up.
  void ReconcileInto(Observation* obs);

 private:
  size_t max_output_bytes_;
  std::vector<ReportedWrite> reported_[3];
  size_t bytes_[3] = {0, 0, 0};
  // For each thread, the write its next continuing piece belongs to
  // (stream, index in reported_).
  absl::flat_hash_map<pid_t, std::pair<int, size_t>> writing_;
};

}  // namespace conformance::internal

#endif  // CONFORMANCE_RUNNER_RECONCILE_H_
