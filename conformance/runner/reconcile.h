// Private: how the BPF observer's writes (bpf_observer.h) become the
// Observation's writes. The kernel reports each write(2) at its return, in
// the order the returns reached the ring buffer; two processes writing at
// once may have put their bytes into the pipe in the other order. The pipe's
// bytes are what a reader saw, so they decide: Reconcile() walks them and
// names, for each run of bytes, the reported write it came from.

#ifndef CONFORMANCE_RUNNER_RECONCILE_H_
#define CONFORMANCE_RUNNER_RECONCILE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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
  // When the system call returned, since the run began. Reported writes are
  // given in ring order, so these do not decrease.
  absl::Duration returned;
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

// Attributes `captured` (everything read from `stream`'s pipe, possibly cut
// short by the runner's cap: `truncated`) to `reported` (that stream's writes
// in ring order). A write of at most PIPE_BUF bytes is atomic on a pipe, so
// it is found whole; a larger one may be split by other writers' bytes.
Reconciled Reconcile(int stream, std::vector<ReportedWrite> reported, const std::string& captured, bool truncated);

}  // namespace conformance::internal

#endif  // CONFORMANCE_RUNNER_RECONCILE_H_
