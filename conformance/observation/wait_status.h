// -----------------------------------------------------------------------------
// File: wait_status.h
// -----------------------------------------------------------------------------
//
// How a process ended, as wait(2) reports it, decoded by the judge itself.
// The judge shares no code with what it judges: mp has its own ExitStatus,
// and a bug in its decoding must not be able to cancel out here.
//
// Thread-safety: a value type.
//
// Example:
//
//   conformance::WaitStatus s = conformance::WaitStatus::FromRaw(wstatus);
//   if (s.returncode() != 0) std::cerr << s.ToString();  // "killed by signal 15 (SIGTERM)"

#ifndef CONFORMANCE_OBSERVATION_WAIT_STATUS_H_
#define CONFORMANCE_OBSERVATION_WAIT_STATUS_H_

#include <optional>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"

namespace conformance {

class WaitStatus {
 public:
  // A status word as waitpid(2) fills it in (or the kernel's exit_code).
  static WaitStatus FromRaw(int wstatus);
  static WaitStatus Exited(int code);
  static WaitStatus Signaled(int signo);
  // Python's returncode convention: n >= 0 exited with n, -N killed by N.
  static WaitStatus FromReturncode(int rc);

  bool exited() const { return signo_ == 0; }
  int code() const { return code_; }      // When exited().
  int signal() const { return signo_; }   // When killed by a signal, else 0.
  bool core_dumped() const { return core_; }
  int returncode() const { return signo_ ? -signo_ : code_; }

  // "exited with 3", "killed by signal 9 (SIGKILL)".
  std::string ToString() const;

  // Equal when they end the same way (a core dump is not a different end).
  friend bool operator==(const WaitStatus& a, const WaitStatus& b) {
    return a.code_ == b.code_ && a.signo_ == b.signo_;
  }
  friend bool operator!=(const WaitStatus& a, const WaitStatus& b) { return !(a == b); }
  friend std::ostream& operator<<(std::ostream& os, const WaitStatus& s) { return os << s.ToString(); }

 private:
  WaitStatus(int code, int signo, bool core) : code_(code), signo_(signo), core_(core) {}
  int code_ = 0;
  int signo_ = 0;
  bool core_ = false;
};

// "SIGTERM" for 15; "signal 99" for a number without a name here.
std::string SignalName(int signo);

// 15 for "SIGTERM"; nullopt for a name this table does not hold.
std::optional<int> SignalNumber(absl::string_view name);

}  // namespace conformance

#endif  // CONFORMANCE_OBSERVATION_WAIT_STATUS_H_
