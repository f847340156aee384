// The seed's multiprocessing.Pool program, with mp. Prints what the seed's
// code prints. Each print is flushed, so that lines from the workers and the
// parent reach a shared pipe whole and in the order they happened.
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <tuple>

#include "mp/os.h"
#include "mp/pool.h"

namespace {

double Now() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// random.random(): CPython reseeds its generator in each forked worker, so
// every worker gets its own sequence; seed per process from the OS as well.
double Random() {
  static std::mt19937_64 gen(std::random_device{}());
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

void long_time_task(int name) {
  std::printf("Run task %d (%d)...\n", name, mp::GetPid());
  std::fflush(stdout);
  double start = Now();
  double secs = Random() * 3;
  struct timespec ts = {static_cast<time_t>(secs), static_cast<long>((secs - static_cast<time_t>(secs)) * 1e9)};
  while (::nanosleep(&ts, &ts) != 0) {
  }
  double end = Now();
  std::printf("Task %d runs %0.2f seconds.\n", name, end - start);
  std::fflush(stdout);
}

}  // namespace

int main() {
  std::printf("Parent process %d.\n", mp::GetPid());
  std::fflush(stdout);
  mp::Pool p(4);
  if (!p.status().ok()) {
    std::fprintf(stderr, "%s\n", std::string(p.status().message()).c_str());
    return 1;
  }
  for (int i = 0; i < 5; ++i) (void)p.ApplyAsync(long_time_task, std::tuple(i));
  std::printf("Waiting for all subprocesses done...\n");
  std::fflush(stdout);
  if (!p.Close().ok() || !p.Join().ok()) return 1;
  std::printf("All subprocesses done.\n");
  return 0;
}
