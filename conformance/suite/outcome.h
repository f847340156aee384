// -----------------------------------------------------------------------------
// File: outcome.h
// -----------------------------------------------------------------------------
//
// What the suite concluded about one scenario: its result over all runs,
// what was expected of it (expectations.h), and the command line's exit
// status over all scenarios (INTERPRETING.md, "Exit status").
//
// Thread-safety: values and pure functions.
//
// Example:
//
//   std::vector<conformance::suite::Outcome> outs = ...;
//   return conformance::suite::ExitCode(outs, {.allow_unsupported = true});

#ifndef CONFORMANCE_SUITE_OUTCOME_H_
#define CONFORMANCE_SUITE_OUTCOME_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conformance/checker/checker.h"
#include "conformance/observation/observation.h"
#include "conformance/spec/spec.h"

namespace conformance::suite {

enum class Result { kPass, kFail, kUnresolved, kUnsupported };

// "PASS", "FAIL", "UNRESOLVED", "UNSUPPORTED".
const char* ResultName(Result r);

// What an implementation's expectations file says of a scenario.
struct Expectation {
  std::set<Result> results = {Result::kPass};  // Several: intermittent.
  std::string reason;                          // Why, for anything but PASS.
  std::string bug;                             // A link, if given.
  Loc loc;                                     // Where it is written ({} if nowhere).
  bool intermittent() const { return results.size() > 1; }
};

// One run of a scenario.
struct Run {
  Result result = Result::kPass;
  std::string summary;  // One line: why it failed, or "".
  uint64_t seed = 0;    // The perturbation seed, or 0.
};

struct Outcome {
  std::string id;  // The scenario.
  Result result = Result::kPass;
  std::vector<Run> runs;
  std::string summary;  // One line.
  std::string details;  // The report of the first failing run (or every outcome with --verbose).
  double seconds = 0;
  // The rules' outcomes in the run reported (the first failing one, else the last).
  int held = 0, violated = 0, not_checkable = 0;
  // The observation of that run and the checker's verdict on it, when asked
  // for (--timeline, --html: RunOptions::keep_observation).
  std::optional<Observation> observed;
  std::optional<Verdict> verdict;
  // The HTML section of each run charted (--html: html.h's RunReports).
  std::vector<std::string> run_reports;
  Expectation expected;

  int failed_runs() const;
  // The result is not one the expectations allow (an unexpected PASS too).
  bool unexpected() const { return !expected.results.count(result); }
};

// Exit statuses (INTERPRETING.md).
inline constexpr int kExitOk = 0;           // Every scenario met its expectation.
inline constexpr int kExitFail = 1;         // A FAIL, or a PASS, that was not expected.
inline constexpr int kExitUsage = 2;        // Bad flags, a bad spec or expectations file: nothing ran.
inline constexpr int kExitUnresolved = 3;   // An unexpected UNRESOLVED or UNSUPPORTED, and nothing failed.
inline constexpr int kExitInterrupted = 128;  // Plus the signal: 130 (SIGINT), 143 (SIGTERM).

struct ExitPolicy {
  // UNSUPPORTED scenarios (no program) do not make the exit status non-zero.
  bool allow_unsupported = false;
};

int ExitCode(const std::vector<Outcome>& outcomes, const ExitPolicy& policy);

}  // namespace conformance::suite

#endif  // CONFORMANCE_SUITE_OUTCOME_H_
