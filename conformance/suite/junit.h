// -----------------------------------------------------------------------------
// File: junit.h
// -----------------------------------------------------------------------------
//
// JUnit XML of a suite's outcomes, for CI. Each scenario is a test case:
// an unexpected FAIL (or an unexpected PASS: a stale expectation) is a
// <failure>, an unexpected UNRESOLVED an <error>, and what the expectations
// allow (a known FAIL, an UNSUPPORTED scenario) is <skipped> with the
// reason. Properties give the runs and the rules' outcome counts. Whatever
// a program printed, the file is well-formed XML: control bytes and invalid
// UTF-8 are written as escapes (`\x1b`).
//
// Thread-safety: pure functions.

#ifndef CONFORMANCE_SUITE_JUNIT_H_
#define CONFORMANCE_SUITE_JUNIT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "conformance/suite/outcome.h"

namespace conformance::suite {

// The XML text of `outcomes` as one test suite called `suite`.
std::string JUnitXml(const std::string& suite, const std::vector<Outcome>& outcomes);

// Several test suites in one file (one per implementation: --impl given
// several times), each a (name, outcomes) pair; the outcomes must outlive
// the call.
std::string JUnitXml(const std::vector<std::pair<std::string, const std::vector<Outcome>*>>& suites);

// `s` as XML character data or attribute text: &, <, >, " and ' as entities,
// bytes XML 1.0 cannot hold (control bytes but \t, \n, \r; invalid UTF-8)
// as `\xNN`.
std::string XmlText(absl::string_view s);

}  // namespace conformance::suite

#endif  // CONFORMANCE_SUITE_JUNIT_H_
