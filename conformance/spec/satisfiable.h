// -----------------------------------------------------------------------------
// File: satisfiable.h
// -----------------------------------------------------------------------------
//
// Specs that no run could pass are errors, at the statement that makes them
// so (SPEC_LANGUAGE.md, "Specs that no run could pass"): an order cycle
// (`order a < a` too), a process that is its own ancestor, two different
// ends for one process, two roots, `exited X before L` where X writes L.
//
// Thread-safety: a pure function.

#ifndef CONFORMANCE_SPEC_SATISFIABLE_H_
#define CONFORMANCE_SPEC_SATISFIABLE_H_

#include "absl/status/status.h"
#include "conformance/spec/spec.h"

namespace conformance {

// Errors: InvalidArgument "FILE:LINE: error: ...; no run can pass".
absl::Status CheckSatisfiable(const Spec& spec);

}  // namespace conformance

#endif  // CONFORMANCE_SPEC_SATISFIABLE_H_
