// Private: mp's view of the shared POSIX plumbing (base/posix/fd.h), with
// Python's errors.
//
// The fd types and the async-signal-safe helpers are base's own. The calls
// that can fail are wrapped, so that they fail as CPython does: OSError (or
// the subclass the errno selects) with "[Errno N] strerror: context".

#ifndef MP_INTERNAL_FD_H_
#define MP_INTERNAL_FD_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/posix/fd.h"

namespace mp::internal {

using base::posix::PipeFds;
using base::posix::SigpipeGuard;
using base::posix::UniqueFd;
namespace signal_safe = base::posix::signal_safe;

// base::posix::MakePipe. Errors: OSError (EMFILE, ENFILE).
absl::StatusOr<PipeFds> MakePipe(int extra_flags = 0);

// base::posix::PollReadable. Errors: OSError from poll(2).
absl::StatusOr<bool> PollReadable(int fd, absl::Time deadline);

// base::posix::WriteFull. Errors: BrokenPipeError (EPIPE), OSError.
absl::Status WriteFull(int fd, const void* data, size_t size);

// base::posix::ReadFull. Errors: OSError.
absl::StatusOr<size_t> ReadFull(int fd, void* data, size_t size);

// An error of base::posix as Python's OSError (its errno selects the
// subclass); other statuses are returned as they are.
absl::Status AsPyOSError(const absl::Status& status);

}  // namespace mp::internal

#endif  // MP_INTERNAL_FD_H_
