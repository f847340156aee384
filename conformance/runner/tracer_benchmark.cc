// Tracer overhead: the fork-and-print stress program (100 processes, 10k
// lines, one write(2) per line) run traced by the runner, and, as the
// baseline, the way a user runs it without the runner: posix_spawn with
// stdout and stderr on a pipe read to EOF, then waitpid. Both in the same
// binary and session; the ratio Traced/Pipe is the overhead, the goal at most
// 1.5x. Untraced is the runner with trace=false (its sockets, no ptrace; the
// opens still go to the runner, as seccomp user notifications). A CPython
// equivalent (os.fork + os.write) runs all three ways when python3 is found,
// and so does `python3 -c pass` (start-up: each of its ~31 opens stops once).
//
//   tools/bazel run -c opt //conformance/runner:tracer_benchmark --
//     --benchmark_repetitions=9 --benchmark_enable_random_interleaving=true
//     --benchmark_report_aggregates_only=true
// (one command line; interleaving spreads the machine's noise evenly)
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
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
  size_t writes = 0, bytes = 0;
  for (auto _ : state) {
    absl::StatusOr<conformance::Observation> obs = conformance::Run(req);
    if (!obs.ok() || obs->timed_out || !obs->processes[0].exit || !obs->processes[0].exit->success()) {
      state.SkipWithError(obs.ok() ? "the stress program failed" : std::string(obs.status().message()).c_str());
      return;
    }
    if (trace && (!obs->traced || !obs->attribution_mismatch.empty() || !obs->anomalies.empty())) {
      state.SkipWithError("tracing was incomplete");
      return;
    }
    writes = obs->writes.size();
    bytes = obs->stdout_bytes.size() + obs->stderr_bytes.size();
  }
  state.counters["records"] = static_cast<double>(writes);
  state.counters["bytes"] = static_cast<double>(bytes);
}

// What a user gets without the runner: the program's stdout and stderr on one
// pipe, read to EOF, and the program reaped.
void RunPiped(benchmark::State& state, const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char> buf(size_t{256} << 10);
  size_t bytes = 0;
  for (auto _ : state) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      state.SkipWithError("pipe2 failed");
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(p[1]);
    bytes = 0;
    ssize_t n;
    while ((n = ::read(p[0], buf.data(), buf.size())) != 0) {
      if (n > 0) bytes += static_cast<size_t>(n);
      if (n < 0 && errno != EINTR) break;
    }
    ::close(p[0]);
    int st = 0;
    if (rc != 0 || ::waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      state.SkipWithError("the stress program failed");
      return;
    }
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}

void BM_CppPipe(benchmark::State& state) { RunPiped(state, {g_stress}); }
void BM_CppUntraced(benchmark::State& state) { RunOnce(state, {g_stress}, false); }
void BM_CppTraced(benchmark::State& state) { RunOnce(state, {g_stress}, true); }
void BM_PythonPipe(benchmark::State& state) { RunPiped(state, {g_python, "-c", kPythonStress}); }
void BM_PythonUntraced(benchmark::State& state) { RunOnce(state, {g_python, "-c", kPythonStress}, false); }
void BM_PythonTraced(benchmark::State& state) { RunOnce(state, {g_python, "-c", kPythonStress}, true); }
void BM_PythonStartPipe(benchmark::State& state) { RunPiped(state, {g_python, "-c", "pass"}); }
void BM_PythonStartUntraced(benchmark::State& state) { RunOnce(state, {g_python, "-c", "pass"}, false); }
void BM_PythonStartTraced(benchmark::State& state) { RunOnce(state, {g_python, "-c", "pass"}, true); }

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
  auto add = [](const char* name, void (*fn)(benchmark::State&)) {
    benchmark::RegisterBenchmark(name, fn)->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  add("BM_CppPipe", BM_CppPipe);
  add("BM_CppUntraced", BM_CppUntraced);
  add("BM_CppTraced", BM_CppTraced);
  if (!g_python.empty()) {
    add("BM_PythonPipe", BM_PythonPipe);
    add("BM_PythonUntraced", BM_PythonUntraced);
    add("BM_PythonTraced", BM_PythonTraced);
    add("BM_PythonStartPipe", BM_PythonStartPipe);
    add("BM_PythonStartUntraced", BM_PythonStartUntraced);
    add("BM_PythonStartTraced", BM_PythonStartTraced);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
