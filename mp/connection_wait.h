// -----------------------------------------------------------------------------
// File: connection_wait.h
// -----------------------------------------------------------------------------
//
// mp::connection::Wait, as Python's multiprocessing.connection.wait: waits
// until any of several objects is ready — a Connection with a message (or
// EOF) to read, a process sentinel whose process has ended
// (Process::sentinel()), or any readable fd — and returns those that are.
//
// mp's Connections never read past the message asked for, so there is no
// user-space buffer to consult: readiness is the fd's (poll(2)).
//
// Thread-safety: thread-safe; the objects must stay open during the call.
//
// Example (a parent waiting for either a message or its child's end):
//
//   absl::StatusOr<int> sentinel = child.sentinel();
//   absl::StatusOr<std::vector<mp::connection::Waitable>> ready =
//       mp::connection::Wait({&conn, *sentinel}, absl::Seconds(5));
//   for (const auto& w : *ready) if (w.connection() == &conn) ...

#ifndef MP_CONNECTION_WAIT_H_
#define MP_CONNECTION_WAIT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "mp/connection.h"

namespace mp::connection {

// One object to wait on: a Connection (by address) or a raw fd (a sentinel).
class Waitable {
 public:
  Waitable(const Connection* conn) : conn_(conn), fd_(conn->fileno()) {}  // NOLINT: implicit, as Python's list.
  Waitable(int fd) : fd_(fd) {}                                           // NOLINT

  // The Connection, or nullptr for a raw fd.
  const Connection* connection() const { return conn_; }
  int fd() const { return fd_; }
  friend bool operator==(const Waitable& a, const Waitable& b) { return a.conn_ == b.conn_ && a.fd_ == b.fd_; }

 private:
  const Connection* conn_ = nullptr;
  int fd_ = -1;
};

// Waits until at least one of `objects` is ready or `timeout` passes
// (InfiniteDuration(): Python's None; zero: poll). Returns the ready ones, in
// the order given; empty on timeout. Retries on EINTR without extending the
// timeout.
// Python: multiprocessing.connection.wait(object_list, timeout=None)
// Errors: OSError "handle is closed" (a closed Connection or negative fd);
// OSError from poll(2).
absl::StatusOr<std::vector<Waitable>> Wait(absl::Span<const Waitable> objects,
                                           absl::Duration timeout = absl::InfiniteDuration());

}  // namespace mp::connection

#endif  // MP_CONNECTION_WAIT_H_
