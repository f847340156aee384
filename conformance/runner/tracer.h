// -----------------------------------------------------------------------------
// File: tracer.h
// -----------------------------------------------------------------------------
//
// The conformance runner's eyes: Run() starts a program with its stdout and
// stderr captured by Unix stream sockets, traces it and every process it
// creates with ptrace, and returns an Observation (observation.h): the
// process tree, how each process ended, and every run of bytes that reached
// the captures, attributed to the process (thread group) that wrote it, in
// the order it was written.
//
// How:
//   - Each capture is a socketpair whose runner end has SO_PASSCRED: every
//     read returns the bytes of exactly one writer with an SCM_CREDENTIALS
//     message naming it (the kernel never glues data from different writers
//     into one read then), in the order the writes happened. Attribution is
//     the kernel's, so writes do not stop the writer. The captures are
//     drained at every event the Observation records (fork, exec, exit),
//     before recording it, so writes are ordered against those events.
//   - PTRACE_SEIZE with fork/vfork/clone/exec/exit events gives the tree, and
//     a seccomp-BPF filter installed before exec stops open(2) and friends
//     only: opening /dev/stdout, /dev/stderr, /dev/fd/N or /proc/.../fd/N
//     fails with ENXIO on a socket where it works on a pipe, so when such a
//     path names a capture the call becomes a dup of that fd. io_uring_setup,
//     io_setup and clone3 fail with ENOSYS (glibc falls back to clone), and
//     clone with CLONE_UNTRACED fails with EPERM, so no process escapes the
//     tracer.
//   - The runner is the child subreaper: when the root exits, every process
//     still alive is reported (killed_by_runner) and killed with SIGKILL, and
//     everything is reaped. A timeout does the same to the whole tree.
//   - The program runs in a private network namespace when the system allows
//     it (as root, or in a new user namespace), so it cannot reach the network
//     and DNS lookups fail fast.
//   - Without ptrace (EPERM in a locked-down container, or trace=false) the
//     program runs untraced: the tree is unknown, but writes still carry the
//     writer's pid. Its filter then sends the opens to the runner as seccomp
//     user notifications, which reopen a capture by SECCOMP_IOCTL_NOTIF_ADDFD;
//     where that is refused too, reopening /dev/stdout fails with ENXIO.
//
// Cost: writes run at full speed; each open(2), fork, exec and exit stops
// once (a few microseconds of the runner's time each). Measured on the 2-vCPU
// development VM (tracer_benchmark, load ~3-4), against the program with its
// output on a pipe and no runner: fork_print_stress (100 processes, 10k
// one-line writes) 26.8 ms against 12.2 (2.2x; the old per-write stops:
// ~30x); the sockets alone account for ~1.6x (a write(2) to a Unix socket
// costs ~0.8 us against a pipe's ~0.2, and the runner untraced takes 19.4
// ms), the fork/exit stops for the rest. CPython's equivalent: 55.0 ms
// against 39.0 (1.4x); `python3 -c pass`: 9.3 ms against 7.9, its 31 opens
// stopping for ~0.3 ms. Scenario programs write a few lines, so a run is
// dominated by process start-up. A pipe with BPF raw tracepoints naming the
// writers measured 1.34x on the same program (tools/spikes/bpf_capture: a
// spike, not used here; it needs root and leaves other write paths open).
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
// stdin is /dev/null; stdout and stderr are separate Unix stream sockets the
// runner reads (S_ISSOCK, not pipes).
// Errors: ValueError (empty argv), FileNotFoundError/PermissionError/OSError
// when the program cannot be started (exec or chdir failed), OSError when the
// runner cannot create pipes or fork.
absl::StatusOr<Observation> Run(const RunRequest& req);

}  // namespace conformance

#endif  // CONFORMANCE_RUNNER_TRACER_H_
