// Private: mp's resource tracker, as CPython's
// multiprocessing.resource_tracker: a process that unlinks the POSIX shared
// memory segments their creators did not unlink, once every process that
// could still unlink them has ended.
//
// It is started the first time a process of the program creates a
// SharedMemory: a pipe, and a process forked twice (so that it is nobody's
// child: no one has to reap it) that holds only the pipe's read end (and
// stderr). Every process holds the write end (forked children inherit it;
// it is close-on-exec), and writes "R name\n" when it creates a segment and
// "U name\n" when it unlinks one, each in one write of under PIPE_BUF bytes.
// When the last write end closes — every process that shared the tracker
// has exited, however it died — the tracker unlinks what is still
// registered, says so on stderr as CPython does, and exits.
//
// Between fork and its loop the tracker makes only system calls (the program
// may have threads: no malloc, no locks).
//
// Thread-safety: thread-safe.

#ifndef MP_INTERNAL_RESOURCE_TRACKER_H_
#define MP_INTERNAL_RESOURCE_TRACKER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mp::internal {

// Starts the tracker if this process has none yet (tests start it before
// their fd census).
// Errors: OSError (pipe, fork).
absl::Status EnsureResourceTracker();

// Registers / unregisters the segment `name` (with its leading '/').
// Errors: ValueError (name too long); OSError.
absl::Status RegisterSharedMemory(absl::string_view name);
void UnregisterSharedMemory(absl::string_view name);

// For tests: forget (and close) the tracker this process inherited, so that
// the next registration starts one of its own.
void DetachResourceTrackerForTesting();

}  // namespace mp::internal

#endif  // MP_INTERNAL_RESOURCE_TRACKER_H_
