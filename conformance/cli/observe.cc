#include "conformance/cli/observe.h"

#include "conformance/runner/tracer.h"

namespace conformance {

absl::StatusOr<Observation> Observe(const ObserveRequest& req) {
  RunRequest run;
  run.argv = req.argv;
  run.cwd = req.cwd;
  run.env = req.env;
  run.timeout = req.timeout;
  run.isolate_network = true;
  run.trace = req.trace;
  run.observer = req.observer;
  run.stdio = req.stdio;
  run.cancel = req.cancel;
  run.perturb_seed = req.perturb_seed;
  // The seed's fork parent does not wait for its child: a process may
  // outlive the root briefly without being "left behind".
  run.leak_grace = absl::Seconds(2);
  return Run(run);
}

}  // namespace conformance
