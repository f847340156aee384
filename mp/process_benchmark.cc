// Process start+join against the raw system calls it wraps, in one binary so
// both see the same memory image (fork's cost grows with it).
//
//   tools/bazel run -c opt //mp:process_benchmark
#include <sys/wait.h>
#include <unistd.h>

#include "benchmark/benchmark.h"
#include "mp/process.h"

namespace {

void BM_RawForkExitWaitpid(benchmark::State& state) {
  for (auto _ : state) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    int wstatus;
    ::waitpid(pid, &wstatus, 0);
  }
}
BENCHMARK(BM_RawForkExitWaitpid)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_ProcessStartJoin(benchmark::State& state) {
  for (auto _ : state) {
    mp::Process p([] {});
    if (!p.Start().ok() || !p.Join().ok() || p.exitcode() != 0) {
      state.SkipWithError("Process failed");
      break;
    }
  }
}
BENCHMARK(BM_ProcessStartJoin)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
