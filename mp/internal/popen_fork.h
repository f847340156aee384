// Private: how a Process child is started (the mechanism). process.h holds
// the policy (names, daemons, bookkeeping); this only forks and says what an
// internal::Child needs to wait for, reap and signal the child. It mirrors
// CPython's multiprocessing.popen_fork.Popen.
//
// Start-up cost: after fork(2) every writable page is copy-on-write, so the
// first write to a page, by the parent or the child, is a page fault, and the
// child also faults on every page of code it runs. On a VM a fault costs as
// much as several system calls; faults, not system calls, were most of
// Process start-up's cost over a raw fork. So the parent allocates before it
// forks (the caller emplaces the Child into memory it wrote before), and the
// child writes and runs as little as it can (see process.cc's Bootstrap).
//
// Thread-safety: ForkChild is thread-safe (with fork(2)'s usual caveats).

#ifndef MP_INTERNAL_POPEN_FORK_H_
#define MP_INTERNAL_POPEN_FORK_H_

#include <sys/types.h>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "mp/internal/fd.h"

namespace mp::internal {

// A forked child: what an internal::Child is made of.
struct Forked {
  pid_t pid = -1;
  // Readable once the child ended: a pipe whose write end only the child
  // held, where pidfd_open is missing; invalid otherwise (the Child then
  // opens a pidfd when asked for its sentinel).
  UniqueFd sentinel;
};

// Forks. The child runs `child_main` and _exits with what it returns; it
// never returns into the caller's stack. Flushes the standard streams first
// (internal/stdio.h), as CPython's popen_fork does. The caller adopts the
// child as Child(pid, Child::kLostAsProcess, sentinel).
// Errors: OSError from fork or pipe2.
absl::StatusOr<Forked> ForkChild(absl::FunctionRef<int()> child_main);

}  // namespace mp::internal

#endif  // MP_INTERNAL_POPEN_FORK_H_
