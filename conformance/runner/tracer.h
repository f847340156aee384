// -----------------------------------------------------------------------------
// File: tracer.h
// -----------------------------------------------------------------------------
//
// The conformance runner's eyes: Run() starts a program with its stdout and
// stderr captured by pipes, traces it and every process it creates with
// ptrace, and returns an Observation (observation.h): the process tree, how
// each process ended, and every write that reached the captures, attributed
// to the process (thread group) that made it, in the order it happened.
//
// How:
//   - PTRACE_SEIZE with fork/vfork/clone/exec/exit events, and a seccomp-BPF
//     filter installed before exec so that only the system calls that can put
//     bytes into a pipe stop (write, writev, pwrite*, sendfile, splice,
//     vmsplice, tee, copy_file_range, send*). io_uring_setup, io_setup and
//     clone3 fail with ENOSYS (glibc falls back to clone), and clone with
//     CLONE_UNTRACED fails with EPERM, so nothing bypasses the tracer.
//   - A write is matched to a capture by the pipe the fd refers to
//     (/proc/<tid>/fd/<n>), not by the fd number: a child whose fd 1 is a pipe
//     to its parent is not writing to the capture.
//   - Writes to the captures are serialized: while one is in the kernel, other
//     writers to a capture wait at their entry stop, so the recorded order is
//     the order the bytes entered the pipes. The recorded bytes are those the
//     kernel accepted (the syscall's return value).
//   - The runner is the child subreaper: when the root exits, every process
//     still alive is reported (killed_by_runner) and killed with SIGKILL, and
//     everything is reaped. A timeout does the same to the whole tree.
//   - The program runs in a private network namespace when the system allows
//     it (as root, or in a new user namespace), so it cannot reach the network
//     and DNS lookups fail fast.
//   - Without ptrace (EPERM in a locked-down container, or trace=false) the
//     program runs untraced: only the captured text is observed.
//
// Cost: every write to a capture stops its writer twice (seccomp entry, and
// syscall exit for the accepted byte count and the true order); writes to
// anything else stop it once; other system calls run at full speed. On the
// 2-vCPU development VM, fork_print_stress (100 processes, 10k one-line
// writes) takes ~20x its untraced wall time, CPython's equivalent ~6x; see
// tracer_benchmark.cc. Scenario programs write a few lines, so a run is
// dominated by process start-up.
//
// Thread-safety: Run() blocks SIGCHLD in the calling thread while it runs and
// waits for any child of the process (waitpid(-1)): call it from one thread at
// a time, in a process that has no other children to wait for (a runner or a
// test). x86-64 only: 32-bit and x32 system calls get ENOSYS in the tracee.
// Like any ptrace tracer, it keeps LeakSanitizer from working in the traced
// program, so traced programs get ASAN_OPTIONS=...:detect_leaks=0.
//
// Example:
//
//   conformance::RunRequest req;
//   req.argv = {"/usr/bin/python3", "fork.py"};
//   req.timeout = absl::Seconds(30);
//   absl::StatusOr<conformance::Observation> obs = conformance::Run(req);
//   if (obs.ok()) {
//     for (const conformance::WriteRecord& w : obs->writes) ...
//   }

#ifndef CONFORMANCE_RUNNER_TRACER_H_
#define CONFORMANCE_RUNNER_TRACER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "conformance/runner/observation.h"

namespace conformance {

struct RunRequest {
  // The program and its arguments. argv[0] without a '/' is searched in PATH
  // (the request's PATH when `env` is given).
  std::vector<std::string> argv;
  // The working directory; empty: the runner's.
  std::string cwd;
  // "NAME=value" entries; empty: inherit the runner's environment.
  std::vector<std::string> env;
  // After this, the whole tree is killed and `timed_out` set.
  absl::Duration timeout = absl::InfiniteDuration();
  // Run in a private network namespace when the system allows it.
  bool isolate_network = true;
  // Trace with ptrace; false: capture the text only.
  bool trace = true;
  // How long processes may outlive the root before the runner kills them (as
  // leaked). Zero: kill them as soon as the root has exited.
  absl::Duration leak_grace = absl::ZeroDuration();
  // Bounds against hostile programs. Past `max_processes` processes in all,
  // the runner kills the tree (process_limit_exceeded). Past
  // `max_output_bytes` on a stream, it keeps reading but drops the bytes
  // (output_truncated).
  size_t max_processes = 20000;
  size_t max_output_bytes = size_t{64} << 20;
};

// Runs `req.argv` to completion (or timeout) and returns what was observed.
// stdin is /dev/null; stdout and stderr are separate pipes the runner reads.
// Errors: ValueError (empty argv), FileNotFoundError/PermissionError/OSError
// when the program cannot be started (exec or chdir failed), OSError when the
// runner cannot create pipes or fork.
absl::StatusOr<Observation> Run(const RunRequest& req);

}  // namespace conformance

#endif  // CONFORMANCE_RUNNER_TRACER_H_
