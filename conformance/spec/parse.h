// -----------------------------------------------------------------------------
// File: parse.h
// -----------------------------------------------------------------------------
//
// The spec language's parser (conformance/SPEC_LANGUAGE.md). ParseSpec turns
// text into a flat Spec (spec.h; loops expanded); every error is
// "FILE:LINE: error: what is wrong". A spec that no run could ever pass is an
// error too: an order cycle (`order a < a` included), a process that is its
// own ancestor, two different exits for one process, two roots, a process
// that must have exited before a line it writes itself.
//
// The rules' syntax, checks and documentation live in one registry
// (conformance/rules/registry.h). This parser handles the statements that
// are not rules (`spec`, `scenario`, `process`, `line`, `erratum`, `block`,
// `for`) and hands each rule statement, and each clause of a `process`
// declaration, to its registry entry.
//
// Thread-safety: reentrant.
//
// Example:
//
//   absl::StatusOr<conformance::Spec> spec =
//       conformance::ParseSpec(text, "conformance/scenarios/fork.spec");
//   if (!spec.ok()) std::cerr << spec.status().message();

#ifndef CONFORMANCE_SPEC_PARSE_H_
#define CONFORMANCE_SPEC_PARSE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "conformance/spec/spec.h"

namespace conformance {

// Parses `text`; `filename` is used in error messages.
// Errors: InvalidArgument "FILE:LINE: error: ..." for malformed input and for
// a spec that no run could pass.
absl::StatusOr<Spec> ParseSpec(absl::string_view text, const std::string& filename);

// Parses a quoted pattern's contents ("Run task {int n} ({pid w})...").
// Errors: InvalidArgument "LOC: error: ... in pattern \"...\"".
absl::StatusOr<std::vector<Segment>> ParsePattern(absl::string_view pattern, const Loc& loc);

}  // namespace conformance

#endif  // CONFORMANCE_SPEC_PARSE_H_
