// Test support for the checker's tests: observations built by hand, the
// scenario specs from the runfiles, and the violated rules of a verdict.

#ifndef CONFORMANCE_CHECKER_CHECK_TESTING_H_
#define CONFORMANCE_CHECKER_CHECK_TESTING_H_

#include <sys/types.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "conformance/checker/checker.h"
#include "conformance/observation/observation.h"
#include "conformance/spec/parse.h"
#include "gtest/gtest.h"

namespace conformance::testing {

inline std::string ReadRunfile(const std::string& path) {
  std::ifstream in(std::string(std::getenv("TEST_SRCDIR")) + "/mp/" + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scenario's spec (conformance/scenarios/ID.spec).
inline Spec Scenario(const std::string& id) {
  const std::string path = "conformance/scenarios/" + id + ".spec";
  absl::StatusOr<Spec> spec = ParseSpec(ReadRunfile(path), path);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : Spec{};
}

// A spec from text; fails the test if it does not parse.
inline Spec SpecOf(const std::string& text) {
  absl::StatusOr<Spec> spec = ParseSpec(text, "t.spec");
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : Spec{};
}

// The violated rules, sorted (the report lists them in the spec's order).
inline std::vector<std::string> Rules(const Verdict& v) {
  std::vector<std::string> out;
  for (const Violation& x : v.violations) out.push_back(x.rule);
  std::sort(out.begin(), out.end());
  return out;
}

// A traced observation built step by step, times in milliseconds. The first
// process is the root.
struct Builder {
  Observation obs;
  int clock = 0;
  // Orphans are reparented to pid 999 (the runner).
  Builder() {
    obs.traced = true;
    obs.reaper = 999;
  }
  Builder& Proc(pid_t pid, pid_t by, int start, int end, WaitStatus st = WaitStatus::Exited(0)) {
    ProcessRecord p;
    p.pid = pid;
    p.forked_by = by;
    p.started = absl::Milliseconds(start);
    p.ended = absl::Milliseconds(end);
    p.exit = st;
    obs.processes.push_back(p);
    return *this;
  }
  // An exec of `path` with `args` after argv[0] (its file name).
  Builder& Exec(const std::string& path, std::vector<std::string> args = {}) {
    std::vector<std::string> argv = {path.substr(path.rfind('/') + 1)};
    argv.insert(argv.end(), args.begin(), args.end());
    obs.processes.back().execs.push_back({path, path, std::move(argv), absl::Milliseconds(clock)});
    return *this;
  }
  // A write to stdout; `at` 0 means one step after the previous write.
  Builder& W(pid_t pid, int at, const std::string& data) {
    if (at == 0) at = ++clock;
    clock = std::max(clock, at);
    obs.writes.push_back({pid, 1, data, absl::Milliseconds(at)});
    obs.stdout_bytes += data;
    return *this;
  }
};

}  // namespace conformance::testing

#endif  // CONFORMANCE_CHECKER_CHECK_TESTING_H_
