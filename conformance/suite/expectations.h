// -----------------------------------------------------------------------------
// File: expectations.h
// -----------------------------------------------------------------------------
//
// What an implementation is expected to do, per scenario, in the manner of
// web-platform-tests' metadata: a file `expectations` in the implementation's
// directory. A scenario it does not name is expected to PASS.
//
//   # Our Pool ignores its size for now.
//   [pool]
//     expected: FAIL
//     reason: Pool(n) runs every task on one worker
//     bug: https://example.org/issues/12
//
//   [queue]
//     expected: [PASS, FAIL]
//     reason: the reader is sometimes terminated before its first get
//
// `expected` is PASS, FAIL, UNRESOLVED or UNSUPPORTED, or a list of them (an
// intermittent scenario: any of those results meets the expectation). Any
// expectation other than PASS needs a `reason`; `bug` is optional. A result
// that is not expected (a PASS included, so stale expectations get noticed)
// is reported as unexpected, and sets the exit status (outcome.h).
//
// Thread-safety: pure functions.
//
// Example:
//
//   absl::StatusOr<Expectations> e = ParseExpectations(text, "impl/expectations", {"fork", "pool"});
//   if (!e.ok()) std::cerr << e.status().message();  // "impl/expectations:3: error: ..."

#ifndef CONFORMANCE_SUITE_EXPECTATIONS_H_
#define CONFORMANCE_SUITE_EXPECTATIONS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "conformance/suite/outcome.h"

namespace conformance::suite {

using Expectations = std::map<std::string, Expectation>;  // By scenario id.

// Parses an expectations file; `scenarios` are the ids it may name.
// Errors: InvalidArgument "FILE:LINE: error: ..." (an unknown scenario, key or
// result, a section twice, a non-PASS expectation without a reason).
absl::StatusOr<Expectations> ParseExpectations(absl::string_view text, const std::string& filename,
                                               const std::vector<std::string>& scenarios);

}  // namespace conformance::suite

#endif  // CONFORMANCE_SUITE_EXPECTATIONS_H_
