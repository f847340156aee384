// mp::Pool against raw forked workers on pipes, in one binary.
//
//   tools/bazel run -c opt //mp:pool_benchmark -- --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//
// Figures (all with 4 workers, as CPython's Pool(4)):
//   * ApplyAsync: 100k trivial tasks (x+1) submitted, then every result
//     collected. Raw baseline: forked workers, one pipe message per task each
//     way (one write(2) per task and per result), a writer and a reader thread.
//   * Map: 1M ints, CPython's default chunksize (62500), x+1 by a function
//     pointer (BM_PoolMap, as CPython's map of a def) and by a lambda
//     (BM_PoolMapLambda). Raw baseline: the same chunks as one pipe message
//     each way.
//   * Pss: the proportional set size (/proc/<pid>/smaps_rollup "Pss:") summed
//     over the 4 workers ("workers_kb"), and over the workers plus this
//     process ("total_kb"); raw: 4 forked children blocked in read(2).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "benchmark/benchmark.h"
#include "mp/pool.h"

namespace {

constexpr int kWorkers = 4;
constexpr int kTasks = 100000;
constexpr int kItems = 1000000;

int64_t AddOne(int64_t x) { return x + 1; }
int AddOneInt(int x) { return x + 1; }

// ---------------------------------------------------------------------------
// Raw baseline: forked workers, a task pipe and a result pipe each.

struct RawWorker {
  pid_t pid;
  int task_w;
  int result_r;
};

void WriteAll(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t r = ::write(fd, c, n);
    if (r <= 0) return;
    c += r;
    n -= static_cast<size_t>(r);
  }
}

bool ReadAll(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = ::read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Messages are [u32 length][payload]. A "task" worker answers each int64
// with int64+1, one message each; a "chunk" worker answers each chunk of
// ints with the chunk +1, as one message.
void RawWorkerMain(int task_r, int result_w, bool chunks) {
  std::vector<char> buf(1 << 16);
  size_t have = 0;
  std::vector<int> chunk;
  for (;;) {
    if (chunks) {
      uint32_t len;
      if (!ReadAll(task_r, &len, 4)) ::_exit(0);
      chunk.resize(len / sizeof(int));
      if (!ReadAll(task_r, chunk.data(), len)) ::_exit(0);
      for (int& x : chunk) x = AddOneInt(x);
      WriteAll(result_w, &len, 4);
      WriteAll(result_w, chunk.data(), len);
      continue;
    }
    ssize_t r = ::read(task_r, buf.data() + have, buf.size() - have);
    if (r <= 0) ::_exit(0);
    have += static_cast<size_t>(r);
    size_t off = 0;
    while (have - off >= 12) {
      int64_t x;
      std::memcpy(&x, buf.data() + off + 4, 8);
      off += 12;
      char out[12];
      uint32_t len = 8;
      int64_t y = AddOne(x);
      std::memcpy(out, &len, 4);
      std::memcpy(out + 4, &y, 8);
      WriteAll(result_w, out, 12);  // One message per task.
    }
    std::memmove(buf.data(), buf.data() + off, have - off);
    have -= off;
  }
}

std::vector<RawWorker> StartRaw(bool chunks) {
  std::vector<RawWorker> ws;
  for (int i = 0; i < kWorkers; ++i) {
    int t[2], r[2];
    if (::pipe2(t, O_CLOEXEC) != 0 || ::pipe2(r, O_CLOEXEC) != 0) std::abort();
    (void)::fcntl(t[1], F_SETPIPE_SZ, 1 << 20);
    (void)::fcntl(r[1], F_SETPIPE_SZ, 1 << 20);
    pid_t pid = ::fork();
    if (pid == 0) {
      for (const RawWorker& w : ws) {
        ::close(w.task_w);
        ::close(w.result_r);
      }
      ::close(t[1]);
      ::close(r[0]);
      RawWorkerMain(t[0], r[1], chunks);
    }
    ::close(t[0]);
    ::close(r[1]);
    ws.push_back({pid, t[1], r[0]});
  }
  return ws;
}

void StopRaw(std::vector<RawWorker>& ws) {
  for (RawWorker& w : ws) {
    ::close(w.task_w);
    ::close(w.result_r);
    int st;
    ::waitpid(w.pid, &st, 0);
  }
  ws.clear();
}

void BM_RawApplyOnePipeMessagePerTask(benchmark::State& state) {
  std::vector<RawWorker> ws = StartRaw(false);
  for (auto _ : state) {
    std::thread writer([&] {
      for (int64_t i = 0; i < kTasks; ++i) {
        char msg[12];
        uint32_t len = 8;
        std::memcpy(msg, &len, 4);
        std::memcpy(msg + 4, &i, 8);
        WriteAll(ws[static_cast<size_t>(i) % kWorkers].task_w, msg, 12);  // One message per task.
      }
    });
    std::vector<std::vector<char>> bufs(kWorkers, std::vector<char>(1 << 16));
    std::vector<size_t> have(kWorkers, 0);
    int64_t sum = 0;
    int got = 0;
    std::vector<pollfd> fds;
    for (const RawWorker& w : ws) fds.push_back({w.result_r, POLLIN, 0});
    while (got < kTasks) {
      ::poll(fds.data(), fds.size(), -1);
      for (size_t k = 0; k < ws.size(); ++k) {
        if (!fds[k].revents) continue;
        ssize_t r = ::read(ws[k].result_r, bufs[k].data() + have[k], bufs[k].size() - have[k]);
        if (r <= 0) continue;
        have[k] += static_cast<size_t>(r);
        size_t off = 0;
        while (have[k] - off >= 12) {
          int64_t y;
          std::memcpy(&y, bufs[k].data() + off + 4, 8);
          sum += y;
          off += 12;
          ++got;
        }
        std::memmove(bufs[k].data(), bufs[k].data() + off, have[k] - off);
        have[k] -= off;
      }
    }
    writer.join();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kTasks);
  StopRaw(ws);
}
BENCHMARK(BM_RawApplyOnePipeMessagePerTask)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_PoolApplyAsync(benchmark::State& state) {
  mp::Pool pool(kWorkers);
  std::vector<mp::AsyncResult<int64_t>> results;
  results.reserve(kTasks);
  for (auto _ : state) {
    results.clear();
    for (int64_t i = 0; i < kTasks; ++i) results.push_back(*pool.ApplyAsync(AddOne, std::tuple(i)));
    int64_t sum = 0;
    for (auto& r : results) sum += *r.Get();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kTasks);
}
BENCHMARK(BM_PoolApplyAsync)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_RawMapChunked(benchmark::State& state) {
  std::vector<RawWorker> ws = StartRaw(true);
  std::vector<int> items(kItems);
  std::iota(items.begin(), items.end(), 0);
  const size_t chunksize = (kItems + kWorkers * 4 - 1) / (kWorkers * 4);
  std::vector<int> out(kItems);
  for (auto _ : state) {
    std::thread writer([&] {
      for (size_t lo = 0, c = 0; lo < items.size(); lo += chunksize, ++c) {
        uint32_t len = static_cast<uint32_t>(std::min(chunksize, items.size() - lo) * sizeof(int));
        WriteAll(ws[c % kWorkers].task_w, &len, 4);
        WriteAll(ws[c % kWorkers].task_w, items.data() + lo, len);
      }
    });
    // Chunks come back in order per worker.
    for (size_t lo = 0, c = 0; lo < items.size(); lo += chunksize, ++c) {
      uint32_t len;
      ReadAll(ws[c % kWorkers].result_r, &len, 4);
      ReadAll(ws[c % kWorkers].result_r, out.data() + lo, len);
    }
    writer.join();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * kItems);
  StopRaw(ws);
}
BENCHMARK(BM_RawMapChunked)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_PoolMap(benchmark::State& state) {
  mp::Pool pool(kWorkers);
  std::vector<int> items(kItems);
  std::iota(items.begin(), items.end(), 0);
  for (auto _ : state) {
    absl::StatusOr<std::vector<int>> out = pool.Map(AddOneInt, items);
    if (!out.ok() || out->size() != items.size()) {
      state.SkipWithError("map failed");
      break;
    }
    benchmark::DoNotOptimize(out->data());
  }
  state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_PoolMap)->UseRealTime()->Unit(benchmark::kMillisecond);

// BM_PoolMap with a capture-less lambda: the workers' chunk loop inlines it,
// as the raw baseline's loop inlines AddOneInt, where a function pointer
// costs an indirect call per item.
void BM_PoolMapLambda(benchmark::State& state) {
  mp::Pool pool(kWorkers);
  std::vector<int> items(kItems);
  std::iota(items.begin(), items.end(), 0);
  for (auto _ : state) {
    absl::StatusOr<std::vector<int>> out = pool.Map([](int x) { return AddOneInt(x); }, items);
    if (!out.ok() || out->size() != items.size()) {
      state.SkipWithError("map failed");
      break;
    }
    benchmark::DoNotOptimize(out->data());
  }
  state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_PoolMapLambda)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// Memory.

int64_t PssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Pss:", 0) == 0) return std::stoll(line.substr(4));
  }
  return -1;
}

void ReportPss(benchmark::State& state, const std::vector<pid_t>& pids) {
  int64_t workers = 0;
  for (pid_t pid : pids) workers += PssKb(pid);
  state.counters["workers_kb"] = static_cast<double>(workers);
  state.counters["total_kb"] = static_cast<double>(workers + PssKb(::getpid()));
}

void BM_RawForkedChildrenPss(benchmark::State& state) {
  std::vector<RawWorker> ws = StartRaw(false);
  for (auto _ : state) {
  }
  std::vector<pid_t> pids;
  for (const RawWorker& w : ws) pids.push_back(w.pid);
  ReportPss(state, pids);
  StopRaw(ws);
}
BENCHMARK(BM_RawForkedChildrenPss)->Iterations(1);

void BM_PoolPss(benchmark::State& state) {
  mp::Pool pool(kWorkers);
  // Every worker has run tasks, so its buffers are touched.
  std::vector<int> items(1000);
  (void)pool.Map(AddOneInt, items, 1);
  for (auto _ : state) {
  }
  ReportPss(state, pool.WorkerPids());
}
BENCHMARK(BM_PoolPss)->Iterations(1);

}  // namespace
