// Runs a scenario program under the tracer (conformance/runner/tracer.h) with
// the runner contract's settings (INTERPRETING.md): private network
// namespace, stdin /dev/null, stdout and stderr pipes or (Stdio::kPty) each
// its own pseudo-terminal. Without ptrace the tracer runs it untraced and
// the Observation says so.

#ifndef CONFORMANCE_CLI_OBSERVE_H_
#define CONFORMANCE_CLI_OBSERVE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/tracer.h"

namespace conformance {

struct ObserveRequest {
  std::vector<std::string> argv;
  std::string cwd;
  std::vector<std::string> env;
  absl::Duration timeout = absl::Seconds(60);
  bool trace = true;
  Observer observer = Observer::kAuto;
  // kPty: stdout and stderr are terminals, as in the seed's documented runs
  // (line-buffered stdio); tracer.h says what each observer sees then.
  Stdio stdio = Stdio::kPipe;
  const std::atomic<int>* cancel = nullptr;  // RunRequest::cancel.
  uint64_t perturb_seed = 0;                  // RunRequest::perturb_seed.
};

absl::StatusOr<Observation> Observe(const ObserveRequest& req);

}  // namespace conformance

#endif  // CONFORMANCE_CLI_OBSERVE_H_
