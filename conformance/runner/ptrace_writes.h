// Private: how the ptrace observer names the writer of each write to a
// terminal capture.
//
// A Unix socket names each writer (capture.h); a pseudo-terminal carries no
// credentials, and nothing on the master side says who wrote. So in terminal
// mode the tracee stops at every write-family system call (kWriteSyscalls,
// seccomp SECCOMP_RET_TRACE): at that stop the tracer looks at the fd (a
// stat of /proc/<tid>/fd/<n>: the same inode as a capture's slave, however
// it was opened or duplicated); a write to a capture is resumed with
// PTRACE_SYSCALL, and at its syscall-exit stop the bytes it wrote (its
// result says how many) are read from the tracee's memory and reported
// (reconcile.h's WriteReports), as its thread group's. Any other write is
// resumed at once. The master's bytes are the truth, as the pipes' are for
// BPF: the reports are reconciled with them at the end, in the order the
// writes were let go at their entry stops. Not in the order their exit
// stops were handled: waitpid(2) finds the newest tracees first, so an old
// one's exit stop can wait behind thousands of others' writes, while a
// write let go runs at once (its place in the capture is off by at most
// the number of writes in flight, one per thread).
//
// Options weighed (and not taken): stopping every system call
// (PTRACE_SYSCALL throughout) costs far more; a seccomp user notification
// that performs the write in the runner would serialise every writer and
// emulate blocking, O_NONBLOCK and signals; a filter that stops fds 1 and 2
// only would miss a dup'd or reopened capture.

#ifndef CONFORMANCE_RUNNER_PTRACE_WRITES_H_
#define CONFORMANCE_RUNNER_PTRACE_WRITES_H_

#include <sys/types.h>

#include <array>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "conformance/runner/capture.h"
#include "conformance/runner/reconcile.h"

namespace conformance::internal {

// The write-family calls of one run's tracees, between their seccomp stop
// and their syscall-exit stop.
class PtraceWrites {
 public:
  // Whether `nr` is one of kWriteSyscalls (child_setup.h).
  static bool IsWrite(uint64_t nr);

  // `tid` is stopped at the seccomp stop of write-family call `nr` with
  // `args` (six). Returns whether it writes to a capture whose writes
  // `reports` still wants: then the tracer resumes it with PTRACE_SYSCALL,
  // and calls Returned() at its syscall-exit stop.
  bool Entered(pid_t tid, uint64_t nr, const uint64_t* args, const Capture& capture, const WriteReports& reports);

  // `tid` is at the syscall-exit stop of the call Entered() took, whose
  // result is `ret`: reports the bytes it wrote, as `pid`'s, at `t`. Bytes
  // that never were in its memory (sendfile, splice) or that cannot be read
  // are reported by count (blind). Does nothing for a tid with no such call.
  void Returned(pid_t tid, pid_t pid, int64_t ret, absl::Duration t, WriteReports* reports);

  // `tid` ended within a call (killed: its bytes, if any, stay unreported).
  void Forget(pid_t tid) { calls_.erase(tid); }

 private:
  struct Call {
    int stream;
    uint64_t nr;
    std::array<uint64_t, 6> args;
    uint64_t order;  // When it was let go, among the calls of the run.
  };
  absl::flat_hash_map<pid_t, Call> calls_;
  uint64_t let_go_ = 0;
};

}  // namespace conformance::internal

#endif  // CONFORMANCE_RUNNER_PTRACE_WRITES_H_
