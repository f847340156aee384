#include "conformance/runner/tracer_testing.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace conformance::testing {
namespace {

Observer g_observer = Observer::kAuto;

}  // namespace

std::string Runfile(const std::string& rel) {
  const char* dir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(dir != nullptr ? dir : ".", "/mp/", rel);
}

std::string Helper() { return Runfile("conformance/runner/testdata/tracer_helper"); }

Observer CurrentObserver() { return g_observer; }

void ObservedTest::SetUp() {
  if (GetParam() == Observer::kBpf && !LoadBpfObserver().ok()) {
    GTEST_SKIP() << "no BPF observer here: " << LoadBpfObserver();
  }
  g_observer = GetParam();
}

void ObservedTest::TearDown() { g_observer = Observer::kAuto; }

Observation MustRun(RunRequest req) {
  req.observer = g_observer;
  absl::StatusOr<Observation> obs = conformance::Run(req);
  EXPECT_TRUE(obs.ok()) << obs.status();
  return obs.ok() ? *obs : Observation{};
}

Observation MustRun(std::vector<std::string> argv, bool trace, absl::Duration timeout) {
  RunRequest req;
  req.argv = std::move(argv);
  req.trace = trace;
  req.timeout = timeout;
  return MustRun(std::move(req));
}

const ProcessRecord* Find(const Observation& o, pid_t pid) {
  for (const ProcessRecord& p : o.processes) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

std::vector<std::pair<pid_t, std::string>> Lines(const Observation& o, int stream) {
  std::vector<std::pair<pid_t, std::string>> out;
  for (const WriteRecord& w : o.writes) {
    if (w.stream != stream) continue;
    EXPECT_TRUE(!w.data.empty() && w.data.back() == '\n') << w.data;
    for (absl::string_view line : absl::StrSplit(w.data, '\n', absl::SkipEmpty())) {
      out.push_back({w.pid, absl::StrCat(line, "\n")});
    }
  }
  return out;
}

pid_t PidIn(const std::string& line, int field) {
  std::vector<std::string> parts = absl::StrSplit(line, ' ');
  int v = 0;
  if (field < static_cast<int>(parts.size())) (void)absl::SimpleAtoi(parts[field], &v);
  return v;
}

void ExpectConsistent(const Observation& o) {
  EXPECT_TRUE(o.traced) << o.untraced_reason;
  EXPECT_EQ(o.attribution_mismatch, "");
  EXPECT_TRUE(o.anomalies.empty()) << o.anomalies.front();
  EXPECT_FALSE(o.output_truncated);
  EXPECT_FALSE(o.timed_out);
  for (const ProcessRecord& p : o.processes) {
    EXPECT_TRUE(p.ended.has_value()) << p.pid;
    EXPECT_TRUE(p.exit.has_value() || p.killed_by_runner) << p.pid;
  }
}

}  // namespace conformance::testing
