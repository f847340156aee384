// -----------------------------------------------------------------------------
// File: tracer.h
// -----------------------------------------------------------------------------
//
// The conformance runner's eyes: Run() starts a program with its stdout and
// stderr captured, observes it and every process it creates, and returns an
// Observation (observation.h): the process tree, how each process ended, and
// every run of bytes that reached the captures, attributed to the process
// (thread group) that wrote it, in the order it was written.
//
// Two observers; RunRequest::observer picks one (by default BPF where it
// loads, else ptrace):
//
//   - BPF (bpf_observer.h; as root, on a kernel with BTF). The captures are
//     plain pipes, as a user's shell would give. Raw tracepoints report, into
//     one ring buffer, every fork, exec and exit of the run's processes and
//     every write to a capture with its writer and bytes (write, writev,
//     pwritev2 and vmsplice copied; sendfile, splice, tee and
//     copy_file_range by count). The ring's order is consistent with
//     happens-before; where concurrent writers' bytes entered a pipe in
//     another order, the pipe's order wins (reconcile.h), and bytes no report
//     accounts for are an attribution mismatch. Nothing stops: the program
//     runs at full speed. The root is started with vfork and tracked from
//     birth. Its seccomp filter only makes io_uring_setup, io_setup and
//     32-bit or x32 system calls fail with ENOSYS (their writes would not be
//     seen). Kills are also made by the kernel: once the runner kills (or
//     the run passes max_processes), every process of the run gets SIGKILL
//     at its next system-call return, so no fork bomb outruns it. While the
//     runner's process lives, the sys_exit tracepoint runs for every system
//     call on the machine (returning at once unless it is a write by a
//     process of a run).
//   - ptrace (elsewhere, or Observer::kPtrace). Each capture is a socketpair
//     whose runner end has SO_PASSCRED: every read returns the bytes of
//     exactly one writer with an SCM_CREDENTIALS message naming it (the
//     kernel never glues data from different writers into one read then), in
//     the order the writes happened, so writes do not stop the writer. The
//     captures are drained at every event the Observation records (fork,
//     exec, exit), before recording it, so writes are ordered against those
//     events. PTRACE_SEIZE with fork/vfork/clone/exec/exit events gives the
//     tree, and a seccomp-BPF filter installed before exec stops execve and
//     execveat (to read the path), and open(2) and friends: opening
//     /dev/stdout, /dev/stderr, /dev/fd/N or /proc/.../fd/N fails with ENXIO
//     on a socket where it works on a pipe, so when such a path names a
//     capture the call becomes a dup of that fd.
//     io_uring_setup, io_setup and clone3 fail with ENOSYS (glibc falls back
//     to clone), and clone with CLONE_UNTRACED with EPERM, so no process
//     escapes the tracer.
//
// Terminal mode (RunRequest::stdio = Stdio::kPty), as the seed's documented
// runs had (CPython's stdout is then line-buffered, not block-buffered):
// stdout and stderr are each the slave of its own pseudo-terminal (two, so
// the streams stay apart), with output processing (OPOST) and echo off, so
// the bytes reach the master unchanged (no \n -> \r\n), and a 24x80
// window. isatty(1) and isatty(2) are true; stdin stays /dev/null. The
// runner reads the masters; a master read gives EIO once no process holds
// the slave (after every byte written before), taken as EOF. Reopening the
// slave (/dev/stdout, /proc/self/fd/1, /dev/pts/N) opens it as usual.
//   - BPF: the write hooks key the captures by the written file's inode,
//     which is the slave's however it was opened, so nothing changes. A
//     write to a tty is whole (n_tty holds the tty's write lock for the
//     whole call, unless a signal makes it return early), a special case of
//     the pipes' reconciliation.
//   - ptrace: a tty carries no credentials, so the write family (write,
//     writev, pwritev2, vmsplice, sendfile, splice, tee, copy_file_range)
//     stops at seccomp entry; one whose fd is a capture stops again at its
//     return, where its bytes are read from the writer's memory and
//     reported, then reconciled with the masters' bytes as BPF's are
//     (ptrace_writes.h). Two stops per write to a capture: the C++ stress
//     test takes ~4x what it does on ptrace's sockets, CPython's ~2x.
//   - Untraced: text only; every read is a write of pid 0 (no attribution).
// The ptys are nobody's controlling terminal: a real terminal would be the
// session's, but then the root's exit would send SIGHUP to its children
// (the seed's fork child among them), and job control could stop a
// process; the seed's programs only need isatty(). The child gives up the
// runner's controlling terminal, if it has one, before exec (TIOCNOTTY; it
// is not a session leader, so this hangs nothing up): in either mode the
// program has none, and opening /dev/tty fails with ENXIO. A process of the
// program that calls setsid() and opens the slave without O_NOCTTY makes it
// its controlling terminal, as with any terminal.
//
// Either way:
//   - The runner is the child subreaper: when the root exits, every process
//     still alive is reported (killed_by_runner) and killed with SIGKILL, and
//     everything is reaped. A timeout does the same to the whole tree. An
//     orphan's getppid() is the runner's pid (Observation::reaper).
//   - Each successful exec is recorded by what ran (ExecRecord): the path
//     execve was asked to run (BPF: bprm->filename; ptrace: read at the
//     seccomp stop of execve or execveat, named as the kernel names it), the
//     executable that runs (BPF: mm->exe_file's path, walked in the kernel
//     as d_path would; ptrace: /proc/pid/exe), and the first 4 KiB of the
//     arguments (the argument area; /proc/pid/cmdline at the exec event).
//   - The program runs in a private network namespace when the system allows
//     it (as root, or in a new user namespace), so it cannot reach the network
//     and DNS lookups fail fast.
//   - Without either (trace=false, or ptrace refused in a locked-down
//     container without BPF) the program runs untraced: the tree is unknown,
//     but writes still carry the writer's pid (the socket captures; not in
//     terminal mode, where all is pid 0). Its
//     filter then sends the opens to the runner as seccomp user
//     notifications, which reopen a capture by SECCOMP_IOCTL_NOTIF_ADDFD;
//     where that is refused too, reopening /dev/stdout fails with ENXIO.
//
// Cost, measured on the 2-vCPU development VM (tracer_benchmark, medians,
// against the program with its output on a pipe and no runner; see
// BENCHMARKS.md for the figures and their noise): fork_print_stress (100
// processes, 10k one-line writes) takes about 1.3x observed by BPF, about 2x
// by ptrace (whose socket captures alone cost ~1.6x: a write(2) to a Unix
// socket costs ~0.8 us against a pipe's ~0.2). Loading the BPF observer takes
// ~50 ms once per process. With terminal captures, BPF costs what it does on
// pipes, and ptrace ~4-5x the pipe (a stop at each write's entry and exit).
// Scenario programs write a few lines, so a run is dominated by process
// start-up.
//
// Thread-safety: Run() blocks SIGCHLD in the calling thread while it runs and
// waits for any child of the process (waitpid(-1)): call it from one thread at
// a time, in a process that has no other children to wait for (a runner or a
// test). x86-64 only: 32-bit and x32 system calls get ENOSYS in the tracee.
// Like any ptrace tracer, it keeps LeakSanitizer from working in the traced
// program, so traced programs get ASAN_OPTIONS=...:detect_leaks=0 (under
// either observer, so that a program sees the same environment).
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

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"

namespace conformance {

// What observes a traced run (tracer.h's banner says how each works).
enum class Observer {
  kAuto,    // BPF where it loads (root, kernel BTF), else ptrace.
  kBpf,     // BPF, or Run() fails saying why it cannot load.
  kPtrace,  // ptrace and Unix-socket captures.
};

// What the program's stdout and stderr are (tracer.h's banner says how each
// is observed).
enum class Stdio {
  kPipe,  // Two pipes (BPF) or two Unix stream sockets (ptrace, untraced).
  kPty,   // Each the slave side of its own pseudo-terminal: isatty() is true.
};

// How a perturbed run (RunRequest::perturb_seed) is perturbed. The points
// and what a program may assume about them are in INTERPRETING.md,
// "Schedule perturbation"; perturb.h says how each is made. The defaults are
// the suite's, tuned on the perturbation controls and the built-in
// implementations (BENCHMARKS.md, "Schedule perturbation"); tests and the
// tuning benchmark change them. Each probability is per point reached.
struct PerturbOptions {
  // A fork stops one side for a while: the parent ("child first", with
  // probability `child_first`) or the child, before it runs ("parent first").
  double fork = 1.0;
  double child_first = 0.8;
  double after_write = 0.1;   // A process stops after its write to a capture.
  double after_wake = 0.05;   // A process stops as a call that can block returns.
  double before_write = 0.8;  // A thread waits before its write(2) or writev(2) to fd 1 or 2.
  double before_exit = 0.9;   // A process waits before exit_group(2).
  // How long at most (a hold ends earlier when another process writes or
  // exits): a share `long_share` of the delays in [long_min, long_max], the
  // others in (0, short_max], whole milliseconds.
  double long_share = 0.9;
  absl::Duration short_max = absl::Milliseconds(5);
  absl::Duration long_min = absl::Milliseconds(50);
  absl::Duration long_max = absl::Milliseconds(300);
  // Bounds: stops per process, and waits per process (each), and their
  // delays in all; stops and waits per run (each), and their delays (each).
  // A process's delays stay well within the leftovers' grace (2 s) that a
  // child outliving its parent has.
  int max_per_process = 3;
  absl::Duration max_delay_per_process = absl::Milliseconds(800);
  int max_per_run = 40;
  absl::Duration max_delay_per_run = absl::Seconds(3);
  // The share of runs whose processes all run on one CPU (one of those the
  // runner may use, chosen from the seed).
  double one_cpu = 0.3;
};

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
  // Observe the tree and the writers; false: capture the text only.
  bool trace = true;
  Observer observer = Observer::kAuto;
  Stdio stdio = Stdio::kPipe;
  // When set (non-zero), the run stops: the tree is killed, as at a timeout,
  // and `interrupted` is set. Read between waits; a signal handler that sets
  // it (without SA_RESTART) wakes the wait at once.
  const std::atomic<int>* cancel = nullptr;
  // How long processes may outlive the root before the runner kills them (as
  // leaked). Zero: kill them as soon as the root has exited.
  absl::Duration leak_grace = absl::ZeroDuration();
  // Bounds against hostile programs. Past `max_processes` processes in all,
  // the runner kills the tree (process_limit_exceeded). Past
  // `max_output_bytes` on a stream, it keeps reading but drops the bytes
  // (output_truncated).
  size_t max_processes = 20000;
  size_t max_output_bytes = size_t{64} << 20;
  // Non-zero: perturb the schedule of the run's processes, with decisions
  // drawn from this seed (INTERPRETING.md, "Schedule perturbation"), as
  // `perturb` says. Needs the BPF observer: Observer::kAuto then means BPF,
  // and ptrace or trace=false are refused.
  uint64_t perturb_seed = 0;
  PerturbOptions perturb;
};

// Runs `req.argv` to completion (or timeout) and returns what was observed.
// stdin is /dev/null; stdout and stderr are separate pipes (observed by BPF)
// or Unix stream sockets (otherwise) the runner reads, or with Stdio::kPty
// two pseudo-terminals.
// Errors: InvalidArgument (empty argv); an errno error (NotFound,
// PermissionDenied, ...; base::posix::ErrnoOf gives the errno) when the
// program cannot be started (exec or chdir failed), when the runner cannot
// create pipes or ptys or fork, or when Observer::kBpf was asked for and BPF cannot
// observe here (the message says why).
absl::StatusOr<Observation> Run(const RunRequest& req);

// Loads the BPF observer now, as Run() does on first use, and says whether it
// can observe here (and why not). It stays loaded, as a few fds, for the
// life of the process.
// Errors: an errno error (not root, no kernel BTF, a verifier refusal).
absl::Status LoadBpfObserver();

}  // namespace conformance

#endif  // CONFORMANCE_RUNNER_TRACER_H_
