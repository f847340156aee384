// -----------------------------------------------------------------------------
// File: exit_status.h
// -----------------------------------------------------------------------------
//
// ExitStatus is how a process ended: it exited with a code, or a signal killed
// it. It is a value type and it is data, not an error: a child that exits 1
// has not made the parent's call fail.
//
// Python folds both cases into one integer, `returncode`/`exitcode`: n for an
// exit with n, -N for death by signal N. python_returncode() gives that
// integer.
//
// Thread-safety: a value type; const methods are safe to call concurrently.
//
// Example:
//
//   absl::StatusOr<mp::ExitStatus> st = mp::WaitPid(pid);
//   if (st.ok() && st->signaled()) {
//     std::cerr << st->ToString();  // "killed by signal 15 (SIGTERM)"
//   }

#ifndef MP_EXIT_STATUS_H_
#define MP_EXIT_STATUS_H_

#include <ostream>
#include <string>

namespace mp {

class ExitStatus {
 public:
  // The process called exit(code) or _exit(code); code is 0..255.
  static constexpr ExitStatus Exited(int code) { return ExitStatus(code, 0, false); }
  // Signal `signo` killed the process.
  static constexpr ExitStatus Signaled(int signo, bool core_dumped = false) {
    return ExitStatus(0, signo, core_dumped);
  }
  // Decodes a status from waitpid(2). `wstatus` must describe a terminated
  // process (WIFEXITED or WIFSIGNALED), not a stopped one.
  static ExitStatus FromWaitStatus(int wstatus);
  // The inverse of python_returncode(): n >= 0 exited, n < 0 signaled.
  static constexpr ExitStatus FromPythonReturncode(int rc) {
    return rc >= 0 ? Exited(rc) : Signaled(-rc);
  }

  constexpr bool exited() const { return signo_ == 0; }
  constexpr bool signaled() const { return signo_ != 0; }
  // The exit code; 0 when signaled().
  constexpr int code() const { return code_; }
  // The killing signal; 0 when exited().
  constexpr int signal() const { return signo_; }
  constexpr bool core_dumped() const { return core_dumped_; }
  // Exited with 0.
  constexpr bool success() const { return exited() && code_ == 0; }

  // Python's integer: the code, or -N for signal N.
  // Python: subprocess.Popen.returncode, multiprocessing.Process.exitcode
  constexpr int python_returncode() const { return signaled() ? -signo_ : code_; }

  // "exited with 1", "killed by signal 15 (SIGTERM)", or
  // "killed by signal 6 (SIGABRT), core dumped".
  std::string ToString() const;

  friend constexpr bool operator==(const ExitStatus&, const ExitStatus&) = default;
  friend std::ostream& operator<<(std::ostream& os, const ExitStatus& s) {
    return os << s.ToString();
  }

 private:
  constexpr ExitStatus(int code, int signo, bool core) : code_(code), signo_(signo), core_dumped_(core) {}
  int code_;
  int signo_;
  bool core_dumped_;
};

// "SIGTERM" for 15; "SIG42" for a signal without a name (e.g. real-time).
std::string SignalName(int signo);

}  // namespace mp

#endif  // MP_EXIT_STATUS_H_
