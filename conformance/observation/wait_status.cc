#include "conformance/observation/wait_status.h"

#include <signal.h>
#include <sys/wait.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace conformance {
namespace {

// The standard signals a spec may name (signal(7)); the real-time ones have
// no fixed name.
constexpr std::pair<const char*, int> kSignals[] = {
    {"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},       {"SIGQUIT", SIGQUIT}, {"SIGILL", SIGILL},
    {"SIGTRAP", SIGTRAP}, {"SIGABRT", SIGABRT},     {"SIGBUS", SIGBUS},   {"SIGFPE", SIGFPE},
    {"SIGKILL", SIGKILL}, {"SIGUSR1", SIGUSR1},     {"SIGSEGV", SIGSEGV}, {"SIGUSR2", SIGUSR2},
    {"SIGPIPE", SIGPIPE}, {"SIGALRM", SIGALRM},     {"SIGTERM", SIGTERM}, {"SIGSTKFLT", SIGSTKFLT},
    {"SIGCHLD", SIGCHLD}, {"SIGCONT", SIGCONT},     {"SIGSTOP", SIGSTOP}, {"SIGTSTP", SIGTSTP},
    {"SIGTTIN", SIGTTIN}, {"SIGTTOU", SIGTTOU},     {"SIGURG", SIGURG},   {"SIGXCPU", SIGXCPU},
    {"SIGXFSZ", SIGXFSZ}, {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF}, {"SIGWINCH", SIGWINCH},
    {"SIGIO", SIGIO},     {"SIGPWR", SIGPWR},       {"SIGSYS", SIGSYS},
};

}  // namespace

WaitStatus WaitStatus::FromRaw(int wstatus) {
  if (WIFSIGNALED(wstatus)) return WaitStatus(0, WTERMSIG(wstatus), WCOREDUMP(wstatus) != 0);
  return WaitStatus(WEXITSTATUS(wstatus), 0, false);
}

WaitStatus WaitStatus::Exited(int code) { return WaitStatus(code, 0, false); }
WaitStatus WaitStatus::Signaled(int signo) { return WaitStatus(0, signo, false); }
WaitStatus WaitStatus::FromReturncode(int rc) { return rc < 0 ? Signaled(-rc) : Exited(rc); }

std::string WaitStatus::ToString() const {
  if (exited()) return absl::StrCat("exited with ", code_);
  return absl::StrCat("killed by signal ", signo_, " (", SignalName(signo_), ")", core_ ? ", core dumped" : "");
}

std::string SignalName(int signo) {
  for (const auto& [name, no] : kSignals) {
    if (no == signo) return name;
  }
  return absl::StrCat("signal ", signo);
}

std::optional<int> SignalNumber(absl::string_view name) {
  for (const auto& [n, no] : kSignals) {
    if (name == n) return no;
  }
  return std::nullopt;
}

}  // namespace conformance
