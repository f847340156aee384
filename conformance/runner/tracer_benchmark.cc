// Tracer overhead: the fork-and-print stress program (100 processes, 10k
// lines, one write(2) per line) run by the runner untraced and traced, in the
// same binary and session. The ratio Traced/Untraced is the overhead; the goal
// is at most 1.5x. A CPython equivalent (os.fork + os.write) runs both ways
// too when python3 is found.
//
//   tools/bazel run -c opt //conformance/runner:tracer_benchmark --
//     --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// (one command line)
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "conformance/runner/tracer.h"

namespace {

std::string g_stress;   // The C++ stress program.
std::string g_python;   // python3, or "" if absent.

constexpr char kPythonStress[] = R"(
import os, sys
procs, lines = 100, 10000
for i in range(procs):
    if os.fork() == 0:
        for k in range(lines // procs):
            os.write(1, b"process %d line %d\n" % (i, k))
        os._exit(0)
for i in range(procs):
    os.wait()
)";

void RunOnce(benchmark::State& state, const std::vector<std::string>& argv, bool trace) {
  conformance::RunRequest req;
  req.argv = argv;
  req.trace = trace;
  req.isolate_network = false;  // Measure the tracing, not namespace setup.
  req.timeout = absl::Seconds(120);
  size_t writes = 0;
  for (auto _ : state) {
    absl::StatusOr<conformance::Observation> obs = conformance::Run(req);
    if (!obs.ok() || obs->timed_out || !obs->processes[0].exit || !obs->processes[0].exit->success()) {
      state.SkipWithError(obs.ok() ? "the stress program failed" : std::string(obs.status().message()).c_str());
      return;
    }
    if (trace && (!obs->traced || !obs->attribution_mismatch.empty())) {
      state.SkipWithError("tracing was incomplete");
      return;
    }
    writes = obs->writes.size();
  }
  state.counters["writes"] = static_cast<double>(writes);
}

void BM_CppUntraced(benchmark::State& state) { RunOnce(state, {g_stress}, false); }
void BM_CppTraced(benchmark::State& state) { RunOnce(state, {g_stress}, true); }
void BM_PythonUntraced(benchmark::State& state) { RunOnce(state, {g_python, "-c", kPythonStress}, false); }
void BM_PythonTraced(benchmark::State& state) { RunOnce(state, {g_python, "-c", kPythonStress}, true); }

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  g_stress = argc > 1 ? argv[1]
                      : absl::StrCat(argv[0], ".runfiles/mp/conformance/runner/testdata/fork_print_stress");
  if (::access(g_stress.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "stress program not found: %s (pass its path)\n", g_stress.c_str());
    return 2;
  }
  for (const char* p : {"/usr/bin/python3", "/usr/local/bin/python3"}) {
    if (::access(p, X_OK) == 0) {
      g_python = p;
      break;
    }
  }
  benchmark::RegisterBenchmark("BM_CppUntraced", BM_CppUntraced)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_CppTraced", BM_CppTraced)->UseRealTime()->Unit(benchmark::kMillisecond);
  if (!g_python.empty()) {
    benchmark::RegisterBenchmark("BM_PythonUntraced", BM_PythonUntraced)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("BM_PythonTraced", BM_PythonTraced)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
