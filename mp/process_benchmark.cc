// Process start+join against the raw system calls it wraps, in one binary so
// both see the same memory image (fork's cost grows with it).
//
//   tools/bazel run -c opt //mp:process_benchmark
//
// Besides the time, each reports the minor page faults per round trip, in
// the parent (self_faults) and in the child (child_faults): after fork(2)
// every page either side writes, and every 64 KiB window of code the child
// runs, is a fault, and on a VM a fault costs 10-20 us, so the fault counts
// say where start-up's cost goes on any machine, where the times only say
// how much it is on this one. (The counts move by one between runs: where
// ASLR puts the stack and the code decides whether two uses share a page.)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchmark/benchmark.h"
#include "mp/process.h"

namespace {

long MinorFaults(int who) {
  rusage ru;
  ::getrusage(who, &ru);
  return ru.ru_minflt;
}

// Reports the faults per iteration since `self0` and `children0`.
void ReportFaults(benchmark::State& state, long self0, long children0) {
  const double n = static_cast<double>(state.iterations());
  state.counters["self_faults"] = static_cast<double>(MinorFaults(RUSAGE_SELF) - self0) / n;
  state.counters["child_faults"] = static_cast<double>(MinorFaults(RUSAGE_CHILDREN) - children0) / n;
}

void BM_RawForkExitWaitpid(benchmark::State& state) {
  const long self0 = MinorFaults(RUSAGE_SELF), children0 = MinorFaults(RUSAGE_CHILDREN);
  for (auto _ : state) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    int wstatus;
    ::waitpid(pid, &wstatus, 0);
  }
  ReportFaults(state, self0, children0);
}
BENCHMARK(BM_RawForkExitWaitpid)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_ProcessStartJoin(benchmark::State& state) {
  const long self0 = MinorFaults(RUSAGE_SELF), children0 = MinorFaults(RUSAGE_CHILDREN);
  for (auto _ : state) {
    mp::Process p([] {});
    if (!p.Start().ok() || !p.Join().ok() || p.exitcode() != 0) {
      state.SkipWithError("Process failed");
      break;
    }
  }
  ReportFaults(state, self0, children0);
}
BENCHMARK(BM_ProcessStartJoin)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
