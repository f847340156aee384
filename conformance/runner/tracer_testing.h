// Private, for the tracer's tests: what they share. ObservedTest runs a test
// once per observer (instantiate it with INSTANTIATE_OBSERVED_TESTS in each
// test file); MustRun() and friends run a program under the observer of the
// test running now and read its Observation.

#ifndef CONFORMANCE_RUNNER_TRACER_TESTING_H_
#define CONFORMANCE_RUNNER_TRACER_TESTING_H_

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/tracer.h"
#include "gtest/gtest.h"

namespace conformance::testing {

// A file of the test's runfiles, by its path in the workspace.
std::string Runfile(const std::string& rel);
// testdata/tracer_helper: small programs, one per mode (its argv[1]).
std::string Helper();

// The observer of the ObservedTest running now (kAuto elsewhere).
Observer CurrentObserver();

// Runs each test once with each observer (the BPF observer is loaded before
// any test: bpf_test_environment.cc; where it cannot load, the bpf instance
// is skipped).
class ObservedTest : public ::testing::TestWithParam<Observer> {
 protected:
  void SetUp() override;
  void TearDown() override;
};

#define INSTANTIATE_OBSERVED_TESTS()                                                                        \
  INSTANTIATE_TEST_SUITE_P(Observers, ObservedTest,                                                       \
                           ::testing::Values(::conformance::Observer::kPtrace, ::conformance::Observer::kBpf), \
                           [](const ::testing::TestParamInfo<::conformance::Observer>& info) {            \
                             return info.param == ::conformance::Observer::kBpf ? "bpf" : "ptrace";       \
                           })

// Runs `req` with the current observer (its own `observer` is replaced);
// a failure to run fails the test and gives an empty Observation.
Observation MustRun(RunRequest req);
Observation MustRun(std::vector<std::string> argv, bool trace = true, absl::Duration timeout = absl::Seconds(60));

const ProcessRecord* Find(const Observation& o, pid_t pid);

// Lines of one stream, each with the pid that wrote it (the programs here
// write whole lines, one or more per system call).
std::vector<std::pair<pid_t, std::string>> Lines(const Observation& o, int stream = 1);

// The space-separated field `field` of `line`, as a pid (0 if none).
pid_t PidIn(const std::string& line, int field);

// A traced run observed completely: no mismatch, anomaly, cap or timeout,
// and every process ended.
void ExpectConsistent(const Observation& o);

}  // namespace conformance::testing

#endif  // CONFORMANCE_RUNNER_TRACER_TESTING_H_
