// -----------------------------------------------------------------------------
// File: checker.h
// -----------------------------------------------------------------------------
//
// Judges an Observation (conformance/observation/observation.h) against a
// Spec (conformance/spec/spec.h).
//
// Output is reassembled into lines per writing process (lines.h). The run
// passes if some assignment of its output lines to the spec's `line`s
// satisfies every rule; the checker searches for one (solver.h), with the
// writers (`by`), the order rules and the names' bindings all constraining
// which output line is which `line`, so the verdict never depends on the
// order in which a spec declares things.
//
// Every rule of the spec gets an outcome: held, violated, or not checkable
// with the reason (a rule that needs the process tree, on an untraced run
// or a transcript). A name that no process binds makes the rules about it
// violated on a traced run; nothing is skipped silently.
//
// The verdict is PASS (an assignment where every rule held or was not
// checkable), FAIL (no such assignment exists; the outcomes shown are those
// of the best assignment found) or UNRESOLVED (the search's budget ran out
// before it could tell; the message says so).
//
// Thread-safety: pure functions.
//
// Example:
//
//   conformance::Verdict v = conformance::Check(spec, observation, {});
//   std::cout << conformance::FormatVerdict(v);

#ifndef CONFORMANCE_CHECKER_CHECKER_H_
#define CONFORMANCE_CHECKER_CHECKER_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "conformance/checker/lines.h"
#include "conformance/observation/observation.h"
#include "conformance/rules/registry.h"
#include "conformance/spec/spec.h"

namespace conformance {

// What became of one rule.
struct RuleOutcome {
  std::string rule;  // The rule's canonical text ("order start < child").
  Loc loc;           // Where the rule is written.
  rules::Outcome outcome = rules::Outcome::kHeld;
  std::string message;      // Why (violated, not checkable, held vacuously).
  std::vector<Line> lines;  // The output lines concerned (at most kMaxShownLines).
};

// A violated rule (an outcome with rules::Outcome::kViolated).
using Violation = RuleOutcome;

struct CheckOptions {
  // Also accept each line's documented text (errata): for transcripts.
  bool transcript = false;
  // The budget of the search for an assignment; past it, UNRESOLVED.
  long max_steps = 20'000'000;
  absl::Duration time_limit = absl::Seconds(20);
};

struct Verdict {
  enum Result { kPass, kFail, kUnresolved };
  Result result = kPass;
  bool pass() const { return result == kPass; }

  // Every rule of the spec, in the spec's order, then the binding rules
  // ("same name, same value: X", "process X is a process of this run")
  // that were violated.
  std::vector<RuleOutcome> outcomes;
  std::vector<Violation> violations;       // The violated outcomes.
  std::vector<std::string> not_checkable;  // "fork.spec:12: exit root code 0: why"
  int held = 0;
  std::string unresolved;       // Why the checker could not decide (kUnresolved).
  // Non-empty when the checker judged only part of the output (past
  // kMaxLines lines): such a verdict can FAIL but not PASS, so it is then
  // kUnresolved.
  std::string incomplete;
  std::string untraced_reason;  // Non-empty when text-only.
  std::vector<Line> lines;      // The output, as matched.
  std::map<std::string, long> pids;  // Bound process names.
  long search_steps = 0;
  absl::Duration search_time;
};

// At most this many lines are kept with one outcome (an unexpected-line
// outcome can concern a million lines).
inline constexpr size_t kMaxShownLines = 20;

Verdict Check(const Spec& spec, const Observation& obs, const CheckOptions& options);

// A readable report: each violation with its rule, spec location and the
// offending lines with their pids (at most `max_violations`, then how many
// more), the observed output (at most `max_lines` lines), and what could not
// be checked. `verbose` also lists every rule's outcome.
struct FormatOptions {
  size_t max_violations = 20;
  size_t max_lines = 100;
  bool verbose = false;
};
std::string FormatVerdict(const Verdict& v, const FormatOptions& options = {});

}  // namespace conformance

#endif  // CONFORMANCE_CHECKER_CHECKER_H_
