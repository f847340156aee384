// -----------------------------------------------------------------------------
// File: solver.h
// -----------------------------------------------------------------------------
//
// Private to the checker: which output line is which `line` of the spec.
//
// A run passes if SOME assignment of output lines to the spec's `line`s
// satisfies every rule: each output line taken by at most one `line` (or
// absorbed by a block), each `line` given at most one output line (exactly
// one unless optional), the names and variables its placeholders and `by`
// clauses bind consistent, and every rule held. Matching is therefore a
// constraint problem, and the writer (`by`), order and binding constraints
// all take part in it: three identical lines `hello from a child` go to the
// three `line`s whose `by` process wrote each one.
//
// Solve() searches for such an assignment, depth first and without
// recursion, one `line` at a time, most constrained first (fewest matching
// output lines; ties by label in natural order, so the result never depends
// on the order of declarations). After each step every rule whose inputs
// became known is checked, and the branch is cut as soon as one is
// violated (checks are monotone). It also cuts as soon as the output lines
// that no block could absorb outnumber the `line`s left, or one of them has
// no `line` left that could take it. Memory is linear in the spec plus the
// matches; time is exponential only in the worst case, and bounded by a
// step and time budget: when that runs out, the answer is kBudget, never a
// guess.
//
// Rules that are violated whatever the assignment (decided by the
// observation alone, such as `exit root code 0` when the root exited 1) do
// not take part: the search then finds the assignment that best explains
// the rest.
//
// Greedy() gives one assignment quickly, used first (a correct run almost
// always passes with it) and to explain a failure: each `line` in the same
// order takes the output line that violates the fewest rules so far.
//
// Thread-safety: pure functions.

#ifndef CONFORMANCE_CHECKER_SOLVER_H_
#define CONFORMANCE_CHECKER_SOLVER_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "conformance/rules/world.h"

namespace conformance::internal {

struct SolveOptions {
  long max_steps = 20'000'000;  // Output lines tried for a `line`, in all.
  absl::Duration time_limit = absl::Seconds(20);
};

// Per pattern: the index of its candidate (Model::cands[p]), or -1 (absent).
using Assignment = std::vector<int>;

struct Solution {
  enum Outcome {
    kFound,       // `assignment` satisfies every rule but `unconditional`.
    kImpossible,  // No assignment does.
    kBudget,      // The budget ran out first.
  };
  Outcome outcome = kImpossible;
  Assignment assignment;           // kFound only.
  std::vector<int> unconditional;  // Indices of Model::rules violated whatever the assignment.
  long steps = 0;
  absl::Duration elapsed;
  std::string why;  // kImpossible: a reason found before searching, if any; kBudget: what ran out.
};

Solution Solve(const rules::Model& m, const SolveOptions& options);

Assignment Greedy(const rules::Model& m);

// Whether the complete assignment `a` passes: each candidate's own checks,
// distinct lines, consistent bindings, every `line` that is not optional
// present, no unexpected line, no rule violated. What the search checks
// along the way, written out plainly, for tests that compare the search
// with brute force.
bool Satisfies(const rules::Model& m, const Assignment& a);

// The order in which both take the patterns (exposed for tests).
std::vector<int> SearchOrder(const rules::Model& m);

}  // namespace conformance::internal

#endif  // CONFORMANCE_CHECKER_SOLVER_H_
