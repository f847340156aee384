// -----------------------------------------------------------------------------
// File: matrix.h
// -----------------------------------------------------------------------------
//
// Several implementations judged on the same scenarios, side by side: one
// row per scenario, one column per implementation, each cell the scenario's
// result there and how many of its runs passed ("FAIL 1/3"). The terminal
// summary (MatrixText) and the HTML report (html.h) show the same cells,
// from the same CellText, so the two cannot disagree.
//
// Thread-safety: values and pure functions.
//
// Example:
//
//   std::vector<suite::ImplOutcomes> all = {{"mp", dir_mp, outs_mp}, {"cpython", dir_py, outs_py}};
//   std::cout << suite::MatrixText(all);

#ifndef CONFORMANCE_SUITE_MATRIX_H_
#define CONFORMANCE_SUITE_MATRIX_H_

#include <string>
#include <vector>

#include "conformance/suite/outcome.h"

namespace conformance::suite {

// One implementation's column: its name as the user gave it (--impl=...),
// where its programs are, and its outcomes in the order they were run.
struct ImplOutcomes {
  std::string impl;
  std::string dir;
  std::vector<Outcome> outcomes;
};

// The scenarios of all columns, each once, in the order first run.
std::vector<std::string> MatrixRows(const std::vector<ImplOutcomes>& impls);

// The outcome of scenario `id` in `impl`, or nullptr (not run: interrupted).
const Outcome* FindOutcome(const ImplOutcomes& impl, const std::string& id);

// Runs that passed of those made, e.g. 2 of 3.
int PassedRuns(const Outcome& o);

// A cell: "PASS 3/3", "FAIL 0/3", "UNSUPPORTED" (no runs), with " *" when the
// implementation's expectations allow this result other than PASS (a known
// failure, which does not change the exit status), and " !" when the result
// is unexpected although it passed (a stale expectation).
std::string CellText(const Outcome& o);

// The matrix as aligned text, a header row of implementation names, then a
// legend of the markers. Cells not run read "-".
std::string MatrixText(const std::vector<ImplOutcomes>& impls);

}  // namespace conformance::suite

#endif  // CONFORMANCE_SUITE_MATRIX_H_
