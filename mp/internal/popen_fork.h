// Private: how a Process child is started (the mechanism). process.h holds
// the policy (names, daemons, bookkeeping); this only forks and hands the
// child over to an internal::Child, which waits for it, reaps it and signals
// it. It mirrors CPython's multiprocessing.popen_fork.Popen.
//
// Thread-safety: ForkChild is thread-safe (with fork(2)'s usual caveats).

#ifndef MP_INTERNAL_POPEN_FORK_H_
#define MP_INTERNAL_POPEN_FORK_H_

#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "mp/internal/child.h"

namespace mp::internal {

// Forks. The child runs `child_main` and _exits with what it returns; it
// never returns into the caller's stack. Flushes stdio first. The Child
// reports a child reaped behind its back as Child::kLostAsProcess.
// Errors: OSError from fork or pipe2.
absl::StatusOr<std::unique_ptr<Child>> ForkChild(absl::FunctionRef<int()> child_main);

}  // namespace mp::internal

#endif  // MP_INTERNAL_POPEN_FORK_H_
