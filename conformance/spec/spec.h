// -----------------------------------------------------------------------------
// File: spec.h
// -----------------------------------------------------------------------------
//
// The conformance spec language (conformance/SPEC_LANGUAGE.md): a scenario's
// golden output with placeholders, its errata and its rules. ParseSpec turns
// the text into a flat Spec (loops expanded); every error is
// "FILE:LINE: error: what is wrong".
//
// Thread-safety: ParseSpec is reentrant; a Spec is a value.
//
// Example:
//
//   absl::StatusOr<conformance::Spec> spec =
//       conformance::ParseSpec(text, "conformance/scenarios/fork.spec");
//   if (!spec.ok()) std::cerr << spec.status().message();

#ifndef CONFORMANCE_SPEC_SPEC_H_
#define CONFORMANCE_SPEC_SPEC_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace conformance {

struct Loc {
  std::string file;
  int line = 0;
  std::string ToString() const;  // "fork.spec:12"
};

// One piece of a line pattern: literal text or a placeholder.
struct Segment {
  enum Kind { kLiteral, kPid, kInt, kNum, kText };
  Kind kind = kLiteral;
  std::string text;  // The literal, or the placeholder's name.
  std::optional<double> lo, hi;  // Inclusive range, for kInt and kNum.
};

struct LinePattern {
  std::string label;
  Loc loc;
  std::string source;             // The quoted pattern, as written.
  std::vector<Segment> segments;
  bool optional = false;
  std::string by;                 // Process name that must write it, or "".
  // Errata: the documented text, accepted instead of `segments` only when
  // checking a recorded transcript.
  std::string documented_source;
  std::vector<Segment> documented;
  std::string erratum_because;
};

// Lines that match no pattern are accepted when they lie between the lines
// labelled `after` and `before` (foreign output, e.g. nslookup's answer).
struct Block {
  std::string label, after, before;
  Loc loc;
};

struct Rule {
  enum Kind {
    kIsRoot,          // args: name
    kChildOf,         // args: name, parent
    kExecs,           // args: name, program
    kOrder,           // args: labels, each before the next
    kPrefix,          // args: labels; present ones form a prefix, in order
    kSpan,            // args: from, to, name; spans on one process are serial
    kDistinct,        // args: names
    kAtMostDistinct,  // n; args: names
    kExitCode,        // n; args: name
    kExitSignal,      // n (signal number); args: name
    kExitReturncode,  // args: name, variable
    kExitedBefore,    // args: name, label
    kReportedParent,  // args: variable, name
    kNoLeftovers,
  };
  Kind kind;
  Loc loc;
  std::string text;  // Canonical text, loop variables substituted.
  std::vector<std::string> args;
  int n = 0;
  // Needs the process tree (not checkable on a transcript or untraced run).
  bool needs_trace() const;
};

struct ProcessName {
  std::string name;
  Loc loc;
};

struct Spec {
  int version = 0;
  std::string scenario;
  Loc loc;  // The `scenario` line.
  std::vector<ProcessName> processes;
  std::vector<LinePattern> lines;
  std::vector<Block> blocks;
  std::vector<Rule> rules;

  const LinePattern* FindLine(absl::string_view label) const;
};

// Parses `text`; `filename` is used in error messages.
// Errors: InvalidArgument "FILE:LINE: error: ..." for malformed input.
absl::StatusOr<Spec> ParseSpec(absl::string_view text, const std::string& filename);

// Parses a quoted pattern's contents ("Run task {int n} ({pid w})...").
absl::StatusOr<std::vector<Segment>> ParsePattern(absl::string_view pattern, const Loc& loc);

}  // namespace conformance

#endif  // CONFORMANCE_SPEC_SPEC_H_
