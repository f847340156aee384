// -----------------------------------------------------------------------------
// File: model.h
// -----------------------------------------------------------------------------
//
// Private to the checker: turns a Spec and an Observation into the Model the
// rules and the search work on (conformance/rules/world.h).
//
// Each `line`'s pattern is compiled to an RE2 regular expression, so that
// matching takes time linear in the line whatever the pattern (`{text}`
// never backtracks): literals are quoted, `{pid N}` is `([0-9]+)`, `{int N}`
// is `(-?[0-9]+)`, `{num N}` is `(-?[0-9]+(?:\.[0-9]+)?)` and `{text}` is
// `.*`. RE2 resolves an ambiguous split as Perl would (leftmost, each
// placeholder as long as it can be). Matching is byte for byte (Latin-1),
// so any bytes a program prints can be matched. All patterns run over each
// line at once (RE2::Set); captures are read only for the patterns that
// matched.
//
// Thread-safety: pure functions.

#ifndef CONFORMANCE_CHECKER_MODEL_H_
#define CONFORMANCE_CHECKER_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "conformance/checker/lines.h"
#include "conformance/observation/observation.h"
#include "conformance/rules/world.h"
#include "conformance/spec/spec.h"

namespace conformance::internal {

// The RE2 syntax of a pattern, and its placeholders' slots in capture order
// (ids are left -1).
std::string PatternRegex(const std::vector<Segment>& segments, std::vector<rules::Slot>* slots);

// Builds the model of `obs` judged by `spec` (which must outlive it).
// `transcript` also lets lines match their errata's documented text.
// Errors: Internal if a pattern does not compile (a parser bug).
absl::StatusOr<std::unique_ptr<rules::Model>> BuildModel(const Spec& spec, const Observation& obs, bool transcript);

// The output lines no pattern took in `w` and no block absorbs: their
// count, and the first `max_shown` of them. A block absorbs the lines
// strictly between its `after` line and its `before` line (to the end of the
// output when that one is absent), written by its `by` process if it names
// one (none while that name is unbound).
int UnexpectedLines(const rules::Model& m, const rules::World& w, size_t max_shown, std::vector<int>* shown);

}  // namespace conformance::internal

#endif  // CONFORMANCE_CHECKER_MODEL_H_
