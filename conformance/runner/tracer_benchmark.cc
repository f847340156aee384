// Tracer overhead: the fork-and-print stress program (100 processes, 10k
// lines, one write(2) per line) run observed by the runner, and, as the
// baseline, the way a user runs it without the runner: posix_spawn with
// stdout and stderr on a pipe read to EOF, then waitpid. All in the same
// binary and session; the ratio Bpf/Pipe is the overhead of the default
// observer, the goal at most 1.5x; Ptrace/Pipe that of the fallback (ptrace
// and sockets). Untraced is the runner with trace=false (its sockets, no
// ptrace; the opens still go to the runner, as seccomp user notifications).
// A CPython equivalent (os.fork + os.write) runs every way when python3 is
// found, and so does `python3 -c pass` (start-up: under ptrace each of its
// ~31 opens stops once). Each runner benchmark has a Pty twin: the same run
// with terminal captures (Stdio::kPty), where ptrace stops at every write
// (ptrace_writes.h). The BPF observer is loaded once, before the
// benchmarks (its load time is printed), as the conformance runner loads it
// once per process.
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
#include <cstdio>
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

enum class Mode { kUntraced, kPtrace, kBpf };

void RunOnce(benchmark::State& state, const std::vector<std::string>& argv, Mode mode,
             conformance::Stdio stdio = conformance::Stdio::kPipe) {
  conformance::RunRequest req;
  req.argv = argv;
  req.stdio = stdio;
  req.trace = mode != Mode::kUntraced;
  req.observer = mode == Mode::kBpf ? conformance::Observer::kBpf : conformance::Observer::kPtrace;
  bool trace = req.trace;
  req.isolate_network = false;  // Measure the tracing, not namespace setup.
  req.timeout = absl::Seconds(120);
  size_t writes = 0, bytes = 0;
  for (auto _ : state) {
    absl::StatusOr<conformance::Observation> obs = conformance::Run(req);
    if (!obs.ok() || obs->timed_out || !obs->processes[0].exit || *obs->processes[0].exit != conformance::WaitStatus::Exited(0)) {
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

std::vector<std::string> Stress() { return {g_stress}; }
std::vector<std::string> PythonStress() { return {g_python, "-c", kPythonStress}; }
std::vector<std::string> PythonStart() { return {g_python, "-c", "pass"}; }

// Name, program, and whether it is CPython.
struct Program {
  const char* name;
  std::vector<std::string> (*argv)();
  bool python;
};
constexpr Program kPrograms[] = {{"Cpp", Stress, false}, {"Python", PythonStress, true}, {"PythonStart", PythonStart, true}};

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
  absl::Time t0 = absl::Now();
  absl::Status bpf = conformance::LoadBpfObserver();
  if (bpf.ok()) {
    std::fprintf(stderr, "BPF observer loaded in %.1f ms\n", absl::ToDoubleMilliseconds(absl::Now() - t0));
  } else {
    std::fprintf(stderr, "no BPF observer (the Bpf benchmarks will say why): %s\n", bpf.ToString().c_str());
  }
  for (const Program& p : kPrograms) {
    if (p.python && g_python.empty()) continue;
    auto add = [&](const char* how, auto fn) {
      benchmark::RegisterBenchmark(absl::StrCat("BM_", p.name, how).c_str(), fn)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    };
    auto argv = p.argv;
    add("Pipe", [argv](benchmark::State& state) { RunPiped(state, argv()); });
    add("Untraced", [argv](benchmark::State& state) { RunOnce(state, argv(), Mode::kUntraced); });
    add("Ptrace", [argv](benchmark::State& state) { RunOnce(state, argv(), Mode::kPtrace); });
    add("Bpf", [argv](benchmark::State& state) { RunOnce(state, argv(), Mode::kBpf); });
    // The same with terminal captures (Stdio::kPty).
    constexpr conformance::Stdio kPty = conformance::Stdio::kPty;
    add("PtyUntraced", [argv](benchmark::State& state) { RunOnce(state, argv(), Mode::kUntraced, kPty); });
    add("PtyPtrace", [argv](benchmark::State& state) { RunOnce(state, argv(), Mode::kPtrace, kPty); });
    add("PtyBpf", [argv](benchmark::State& state) { RunOnce(state, argv(), Mode::kBpf, kPty); });
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
