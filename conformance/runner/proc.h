// Private: what the conformance runner reads of other processes, from /proc
// and their memory (tracer.cc, reopen.cc).

#ifndef CONFORMANCE_RUNNER_PROC_H_
#define CONFORMANCE_RUNNER_PROC_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace conformance::internal {

// The contents of a small file (such as one of /proc), up to a little over
// 1 MiB; "" if it cannot be opened.
std::string ReadSmallFile(const std::string& path);

// The thread group of `tid`, from /proc; 0 if it is gone.
pid_t TgidOf(pid_t tid);

// The argv[0] of `pid`, from /proc; "" if it is gone.
std::string Argv0Of(pid_t pid);

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
