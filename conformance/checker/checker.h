// -----------------------------------------------------------------------------
// File: checker.h
// -----------------------------------------------------------------------------
//
// Judges an Observation (conformance/observation/observation.h) against a Spec
// (conformance/spec/spec.h). Output is reassembled into lines per writing
// process (CPython tears lines across processes on a pipe), matched against
// the golden lines (placeholders, errata, foreign blocks), then every rule is
// checked. Rules that need the process tree are "not checkable" on an
// untraced run or a transcript, never failed.
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

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"
#include "conformance/spec/spec.h"

namespace conformance {

// One output line as one process wrote it.
struct Line {
  pid_t pid = 0;
  std::string text;   // Without the newline.
  int seq = 0;        // Order in which lines were completed, from 0.
  absl::Duration at;  // When its last piece was written.
  int pieces = 1;     // Writes it was assembled from.
  bool torn = false;  // Another process wrote between its pieces.
  bool no_newline = false;
};

// Reassembles stream (1 or 2) into lines, per writing pid, ordered by the
// write that completed each line. Untraced observations without writes use
// stdout_bytes/stderr_bytes with pid 0.
std::vector<Line> ReassembleLines(const Observation& obs, int stream = 1);

// A recorded transcript: untraced, one pseudo-process (pid 0).
Observation ObservationFromTranscript(absl::string_view text);

struct Violation {
  std::string rule;  // The rule's canonical text ("order start < child").
  Loc loc;           // Where the rule is written.
  std::string message;
  std::vector<Line> lines;  // The offending lines.
};

struct CheckOptions {
  // Also accept each line's documented text (errata): for transcripts.
  bool transcript = false;
};

struct Verdict {
  bool pass() const { return violations.empty(); }
  std::vector<Violation> violations;
  std::vector<std::string> not_checkable;  // "fork.spec:12: exit root code 0"
  std::string untraced_reason;             // Non-empty when text-only.
  std::vector<Line> lines;
  std::map<std::string, long> pids;  // Bound pid names.
};

Verdict Check(const Spec& spec, const Observation& obs, const CheckOptions& options);

// A readable report: each violation with its rule, spec location and the
// offending lines with their pids; then what could not be checked.
std::string FormatVerdict(const Verdict& v);

}  // namespace conformance

#endif  // CONFORMANCE_CHECKER_CHECKER_H_
