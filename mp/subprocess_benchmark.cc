// subprocess::Run against the raw system calls it wraps, in one binary so
// both see the same memory image and the same machine load.
//
//   tools/bazel run -c opt //mp:subprocess_benchmark -- --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//
// CPython's equivalents: tools/bench/cpython/subprocess_{true,echo}.py.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "benchmark/benchmark.h"
#include "mp/subprocess.h"

extern char** environ;

namespace {

namespace sp = mp::subprocess;

// Wall time on a shared, loaded machine mostly measures the scheduler. The
// CPU time of the parent plus its children per iteration is steadier: it is
// reported as the counter "cpu_all_us".
class CpuAll {
 public:
  CpuAll() : start_(Now()) {}
  void Report(benchmark::State& state) const {
    state.counters["cpu_all_us"] = benchmark::Counter(
        Now() - start_, benchmark::Counter::kAvgIterations);
  }

 private:
  static double Now() {
    double us = 0;
    for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
      struct rusage ru;
      ::getrusage(who, &ru);
      us += ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 +
            ru.ru_stime.tv_usec;
    }
    return us;
  }
  double start_;
};

void BM_RawVforkExecWaitpid_True(benchmark::State& state) {
  CpuAll cpu;
  char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
  for (auto _ : state) {
    pid_t pid = ::vfork();
    if (pid == 0) {
      ::execve("/bin/true", argv, environ);
      ::_exit(127);
    }
    int wstatus;
    ::waitpid(pid, &wstatus, 0);
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) state.SkipWithError("true failed");
  }
  cpu.Report(state);
}
BENCHMARK(BM_RawVforkExecWaitpid_True)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Run_True(benchmark::State& state) {
  CpuAll cpu;
  for (auto _ : state) {
    absl::StatusOr<sp::CompletedProcess> r = sp::Run({"/bin/true"});
    if (!r.ok() || r->returncode != 0) {
      state.SkipWithError("Run failed");
      break;
    }
  }
  cpu.Report(state);
}
BENCHMARK(BM_Run_True)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_RawPosixSpawnPipeRead_Echo(benchmark::State& state) {
  CpuAll cpu;
  char* argv[] = {const_cast<char*>("/bin/echo"), const_cast<char*>("hi"), nullptr};
  for (auto _ : state) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) state.SkipWithError("pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    pid_t pid;
    int err = posix_spawn(&pid, "/bin/echo", &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    if (err != 0) state.SkipWithError("posix_spawn");
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int wstatus;
    ::waitpid(pid, &wstatus, 0);
    if (out != "hi\n") state.SkipWithError("bad output");
  }
  cpu.Report(state);
}
BENCHMARK(BM_RawPosixSpawnPipeRead_Echo)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Run_EchoCaptured(benchmark::State& state) {
  CpuAll cpu;
  for (auto _ : state) {
    sp::RunOptions o;
    o.popen.std_out = sp::kPipe;
    absl::StatusOr<sp::CompletedProcess> r = sp::Run({"/bin/echo", "hi"}, std::move(o));
    if (!r.ok() || r->std_out != "hi\n") {
      state.SkipWithError("Run failed");
      break;
    }
  }
  cpu.Report(state);
}
BENCHMARK(BM_Run_EchoCaptured)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
