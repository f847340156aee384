// What the conformance runner observed of one run of a program: the process
// tree, how each process ended, and every byte that reached the captured
// stdout/stderr, attributed to the process that wrote it. The tracer
// (tracer.h) produces it; the checker judges it against a scenario's spec.
// A recorded transcript (--transcript) becomes an Observation with
// traced == false and one pseudo-process.

#ifndef CONFORMANCE_OBSERVATION_OBSERVATION_H_
#define CONFORMANCE_OBSERVATION_OBSERVATION_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "conformance/observation/wait_status.h"

namespace conformance {

// One successful execve (or execveat) of a process: what it ran, which is
// what identifies a process (argv[0] is whatever the caller chose). A failed
// exec leaves no record.
struct ExecRecord {
  // The file execve was asked to run, as the caller named it (after its own
  // PATH search): "/usr/bin/nslookup", or a relative "./prog" as given. For
  // execveat with a directory fd and a relative path, the kernel's name
  // "/dev/fd/<fd>/<path>" ("/dev/fd/<fd>" with AT_EMPTY_PATH). A script's
  // own path, not its interpreter's. Empty if the observer could not tell
  // (a path of PATH_MAX bytes or more).
  std::string path;
  // The executable that runs: the file itself, or for a #! script the
  // interpreter's (the ELF that the kernel finally loaded, symlinks
  // resolved: "/usr/bin/dash" for #!/bin/sh), its full path as
  // /proc/<pid>/exe names it. Observed by BPF, the file name alone ("dash")
  // when it is more than 40 directories deep.
  std::string binary;
  // The new program's arguments, argv[0] first, as the kernel laid them out
  // for it (for a script: the interpreter, its argument if any, the
  // script's path, then the script's own arguments). Only the first 4096
  // bytes of the argument area (each argument and its NUL): a last argument
  // cut there is kept cut, later ones are missing.
  std::vector<std::string> argv;
  absl::Duration at;  // When it happened, since the run began.
};

struct ProcessRecord {
  pid_t pid = 0;
  // The process that forked/cloned it; 0 for the root (the program the
  // runner started). A process reparented to the runner keeps its forker.
  pid_t forked_by = 0;
  // Each execve that succeeded, in order (the root's first exec included).
  std::vector<ExecRecord> execs;
  absl::Duration started;  // Since the run began.
  std::optional<absl::Duration> ended;
  // How it ended; nullopt if it had not ended when the run stopped (then the
  // runner killed it and `killed_by_runner` is true).
  std::optional<WaitStatus> exit;
  bool killed_by_runner = false;
};

// A contiguous run of bytes from one process, as the runner read it from a
// capture: one write(2), part of one (a large write is read in pieces, and
// may be interleaved with another writer's), or several consecutive writes of
// the same process (threads included) with no other writer's bytes between
// them on that stream. Never two processes' bytes.
struct WriteRecord {
  // The writing process (thread group), as the kernel named it; 0 if the
  // bytes came without credentials (an anomaly says so).
  pid_t pid = 0;
  int stream = 1;  // 1: the captured stdout, 2: the captured stderr.
  std::string data;
  // When it was written, as the runner knows it, since the run began: before
  // the `ended`, `execs[].at` or `started` of any exit, exec or fork that
  // happened after the write (ptrace: when the runner read it, or on a
  // terminal when it saw the write return; BPF: no later than the write's
  // return, nor than the next run's time).
  absl::Duration at;
};

struct Observation {
  // False when the run was not traced (no ptrace here, or a transcript):
  // only text can be checked then, and the report says so.
  bool traced = false;
  std::string untraced_reason;
  // What observed it: "bpf" or "ptrace" (tracer.h); empty when not traced.
  std::string observer;
  bool network_isolated = false;
  // What stdout and stderr were: "pipe" (pipes, or Unix sockets under
  // ptrace and untraced: isatty() false, stdio block-buffered) or "pty"
  // (each the slave of its own pseudo-terminal, bytes unchanged: isatty()
  // true, stdio line-buffered); empty for a transcript. Untraced with "pty",
  // every write has pid 0.
  std::string stdio;
  // The runner's pid: the child subreaper, to which a process whose parent
  // exited is reparented (what its getppid() then returns). 0 for a
  // transcript.
  pid_t reaper = 0;
  std::vector<ProcessRecord> processes;  // The root first, then by start.
  // Per stream, in the order the bytes were written. Between stdout and
  // stderr the order is only that of the runner's reads: a stdout run
  // recorded before a stderr run may have been written after it, unless an
  // event recorded between them (a fork, exec or exit) orders them.
  std::vector<WriteRecord> writes;
  // Everything that reached the captures, byte for byte.
  std::string stdout_bytes;
  std::string stderr_bytes;
  bool timed_out = false;
  // The runner was told to stop (the user interrupted it): it killed the tree.
  bool interrupted = false;
  absl::Duration timeout;  // The run's timeout, as it was asked for.
  absl::Duration wall;

  // What limited the observation. The checker reports these; a run with any
  // of them set cannot be trusted to be complete.
  //
  // A stream passed the runner's cap (64 MiB), or the records their cap (2^20
  // runs): later bytes were read and dropped, and `writes` stops there too.
  bool output_truncated = false;
  // The tree grew past the runner's process cap; the runner killed it all.
  bool process_limit_exceeded = false;
  // Empty when, for each stream, the attributed writes concatenated equal the
  // bytes read from the capture; otherwise what differs (first offset).
  // Observed by ptrace on sockets, the records and the bytes come from the
  // same reads, so this checks the runner's bookkeeping. Observed by BPF
  // (or by ptrace on terminals), the records come from the reports of each
  // write and the bytes from the pipe or pty master: a mismatch is bytes no
  // report accounts for (their run has pid 0), or reported bytes the capture
  // never got (e.g. a program that turned the terminal's output processing
  // back on, or under ptrace a writer killed within its write). (Recorded transcripts and
  // hand-made observations leave it empty.)
  std::string attribution_mismatch;
  // Anything else the runner could not observe as it should, one
  // human-readable line each (e.g. "seccomp unavailable: ...").
  std::vector<std::string> anomalies;

  // Schedule perturbation (RunRequest::perturb_seed): the seed, 0 if the run
  // was not perturbed, and what was done, one line each ("pid 12 stopped
  // 40 ms after fork: child first").
  uint64_t perturb_seed = 0;
  std::vector<std::string> perturbations;
};

}  // namespace conformance

#endif  // CONFORMANCE_OBSERVATION_OBSERVATION_H_
