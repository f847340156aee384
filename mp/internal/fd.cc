#include "mp/internal/fd.h"

#include <string>

#include "absl/strings/string_view.h"
#include "mp/errors.h"

namespace mp::internal {

absl::Status AsPyOSError(const absl::Status& status) {
  const int errnum = base::posix::ErrnoOf(status);
  if (errnum == 0) return status;
  // base's message is "context: strerror"; Python's names the context last.
  absl::string_view context = status.message();
  if (size_t colon = context.rfind(": "); colon != absl::string_view::npos) context = context.substr(0, colon);
  return PyOSError(errnum, context);
}

absl::StatusOr<PipeFds> MakePipe(int extra_flags) {
  absl::StatusOr<PipeFds> p = base::posix::MakePipe(extra_flags);
  if (!p.ok()) return AsPyOSError(p.status());
  return p;
}

absl::StatusOr<bool> PollReadable(int fd, absl::Time deadline) {
  absl::StatusOr<bool> r = base::posix::PollReadable(fd, deadline);
  if (!r.ok()) return AsPyOSError(r.status());
  return r;
}

absl::Status WriteFull(int fd, const void* data, size_t size) {
  return AsPyOSError(base::posix::WriteFull(fd, data, size));
}

absl::StatusOr<size_t> ReadFull(int fd, void* data, size_t size) {
  absl::StatusOr<size_t> n = base::posix::ReadFull(fd, data, size);
  if (!n.ok()) return AsPyOSError(n.status());
  return n;
}

}  // namespace mp::internal
