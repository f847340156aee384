// -----------------------------------------------------------------------------
// File: timeline.h
// -----------------------------------------------------------------------------
//
// Writes an Observation as Chrome trace-event JSON, for a person to look at a
// run in Perfetto (ui.perfetto.dev) or chrome://tracing: one track per process
// (pid = tid = the process's pid) holding its lifetime as a complete ("X")
// event, and instant ("i") events for fork (on the forking process's track),
// exec, exit, and every write to the captures (the text in args).
//
// Thread-safety: a pure function of its arguments.
//
// Example:
//
//   absl::Status s = conformance::WriteChromeTrace(*obs, "/tmp/run.json");

#ifndef CONFORMANCE_RUNNER_TIMELINE_H_
#define CONFORMANCE_RUNNER_TIMELINE_H_

#include <string>

#include "absl/status/status.h"
#include "conformance/observation/observation.h"

namespace conformance {

// The trace-event JSON document for `obs`.
std::string ChromeTraceJson(const Observation& obs);

// Writes ChromeTraceJson(obs) to `path`, replacing it.
// Errors: an errno error (NotFound for a missing directory, ...).
absl::Status WriteChromeTrace(const Observation& obs, const std::string& path);

}  // namespace conformance

#endif  // CONFORMANCE_RUNNER_TIMELINE_H_
