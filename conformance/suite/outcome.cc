#include "conformance/suite/outcome.h"

namespace conformance::suite {

const char* ResultName(Result r) {
  switch (r) {
    case Result::kPass: return "PASS";
    case Result::kFail: return "FAIL";
    case Result::kUnresolved: return "UNRESOLVED";
    case Result::kUnsupported: return "UNSUPPORTED";
  }
  return "?";
}

int Outcome::failed_runs() const {
  int n = 0;
  for (const Run& r : runs) n += r.result == Result::kFail;
  return n;
}

int ExitCode(const std::vector<Outcome>& outcomes, const ExitPolicy& policy) {
  bool fail = false, unresolved = false;
  for (const Outcome& o : outcomes) {
    if (!o.unexpected()) continue;
    switch (o.result) {
      case Result::kPass:
      case Result::kFail: fail = true; break;
      case Result::kUnsupported: unresolved |= !policy.allow_unsupported; break;
      case Result::kUnresolved: unresolved = true; break;
    }
  }
  if (fail) return kExitFail;
  if (unresolved) return kExitUnresolved;
  return kExitOk;
}

}  // namespace conformance::suite
