// Private: what the conformance runner reads of other processes, from /proc
// and their memory (tracer.cc, reopen.cc).

#ifndef CONFORMANCE_RUNNER_PROC_H_
#define CONFORMANCE_RUNNER_PROC_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace conformance::internal {

// The contents of a small file (such as one of /proc), up to a little over
// 1 MiB; "" if it cannot be opened.
std::string ReadSmallFile(const std::string& path);

// The thread group of `tid`, from /proc; 0 if it is gone.
pid_t TgidOf(pid_t tid);

// How much of a new program's arguments an ExecRecord keeps (both
// observers): the first 4 KiB of the argument area.
inline constexpr size_t kMaxExecArgs = 4096;

// The arguments in `block` (each ended by a NUL, as in the argument area
// and /proc/<pid>/cmdline), at most its first kMaxExecArgs bytes: a last
// argument cut there is kept cut.
std::vector<std::string> SplitArgs(absl::string_view block);

// What an exec of `pid` (stopped at its PTRACE_EVENT_EXEC) runs: the
// executable's full path (/proc/<pid>/exe) and its arguments
// (/proc/<pid>/cmdline, as SplitArgs); "" and {} if it is gone.
std::string ExeOf(pid_t pid);
std::vector<std::string> ArgsOf(pid_t pid);

// The file an execve(2) (`nr` SYS_execve) or execveat(2) of `tid`, stopped
// at its entry with arguments `args` (six), asks to run, as the kernel names
// it in bprm->filename: the path as given, or for execveat with a directory
// fd and a relative path "/dev/fd/<fd>/<path>" ("/dev/fd/<fd>" with
// AT_EMPTY_PATH). "" if it cannot be read (or is longer than PATH_MAX).
std::string ExecPathOf(pid_t tid, uint64_t nr, const uint64_t* args);

// Reads [addr, addr+len) of `tid`'s memory into `out`. process_vm_readv
// first; PTRACE_PEEKDATA (allowed to the tracer even when the tracee made
// itself non-dumpable) when that is refused.
bool ReadMemory(pid_t tid, uint64_t addr, size_t len, std::string* out);

// The NUL-terminated path at `addr` in `tid`, if it is shorter than `max`
// bytes; "" otherwise. Reads at most up to the end of the page first, so that
// a short path at the end of the last mapped page is still read.
std::string ReadPath(pid_t tid, uint64_t addr, size_t max);

// Our children, from /proc (they include orphans reparented to us).
std::vector<pid_t> OwnChildren();

}  // namespace conformance::internal

#endif  // CONFORMANCE_RUNNER_PROC_H_
