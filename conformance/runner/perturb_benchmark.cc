// Schedule perturbation (perturb.h), measured; BENCHMARKS.md, "Schedule
// perturbation", has the figures and how they were taken.
//
//   --mode=cost (default): per scenario, the wall time of a run of the mp and
//     cpython implementations unperturbed and with --perturb's defaults,
//     interleaved (each repetition runs every pair back to back, each with
//     a fresh seed), as medians over --reps and the median of the per-pair
//     ratios. Runs as the suite runs them (a fresh directory, the spec's
//     stdio, leftovers' grace), judged by the checker: a run that fails is
//     counted, not hidden.
//   --mode=catch: how often perturbation catches each control of
//     expected-fail/*/PERTURB (its run FAILs) and how often the built-in
//     implementations still PASS, per variant of PerturbOptions (the
//     defaults, and each mechanism alone): the tuning table.
//
//   tools/bazel run -c opt //conformance/runner:perturb_benchmark -- --mode=cost --reps=15
//   tools/bazel run -c opt //conformance/runner:perturb_benchmark -- --mode=catch --runs=40
//
// Flags: --reps=N, --runs=N, --variant=NAME (catch: one variant only),
// --only=IMPL/SCENARIO (one target). Root and BPF needed, as for --perturb.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "conformance/checker/checker.h"
#include "conformance/runner/tracer.h"
#include "conformance/spec/parse.h"

namespace conformance {
namespace {

std::string g_root;  // The runfiles' workspace directory.

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Judged {
  bool ran = false, passed = false;
  std::set<std::string> violated;
  double seconds = 0;
};

// One run of `program` for `spec`, as the suite makes it (suite/run.cc).
Judged RunOnce(const Spec& spec, const std::string& program, uint64_t seed, const PerturbOptions& options) {
  Judged j;
  char tmpl[] = "/tmp/perturb_benchmark.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return j;
  RunRequest req;
  req.argv = {program};
  req.cwd = tmpl;
  req.env = {absl::StrCat("PATH=", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"), "LANG=C.UTF-8",
             absl::StrCat("HOME=", tmpl), absl::StrCat("TMPDIR=", tmpl)};
  req.timeout = absl::Seconds(60);
  req.observer = Observer::kBpf;
  req.stdio = spec.stdio == "pty" ? Stdio::kPty : Stdio::kPipe;
  req.leak_grace = absl::Seconds(2);
  req.perturb_seed = seed;
  req.perturb = options;
  const absl::Time t0 = absl::Now();
  absl::StatusOr<Observation> obs = Run(req);
  j.seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  if (!obs.ok()) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), obs.status().ToString().c_str());
    return j;
  }
  Verdict v = Check(spec, *obs, {});
  j.ran = true;
  j.passed = v.pass() && obs->attribution_mismatch.empty();
  for (const Violation& x : v.violations) j.violated.insert(x.rule);
  return j;
}

uint64_t NewSeed() {
  static std::mt19937_64 rng(std::random_device{}());
  uint64_t s = 0;
  while (s == 0) s = rng();
  return s;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

Spec LoadSpec(const std::string& id) {
  const std::string path = absl::StrCat(g_root, "/conformance/scenarios/", id, ".spec");
  absl::StatusOr<Spec> s = ParseSpec(Read(path), path);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    std::exit(2);
  }
  return *s;
}

const std::vector<std::string> kScenarios = {"fork", "pool", "process", "queue", "subprocess_call",
                                             "subprocess_communicate"};

int Cost(int reps, const std::string& only) {
  const std::vector<std::string> impls = {"mp", "cpython"};
  struct Cell {
    std::vector<double> plain, perturbed, ratio;
    int plain_failed = 0, perturbed_failed = 0;
  };
  std::map<std::pair<std::string, std::string>, Cell> cells;
  std::map<std::string, Spec> specs;
  for (const std::string& s : kScenarios) specs.emplace(s, LoadSpec(s));
  for (int rep = 1; rep <= reps; ++rep) {
    std::fprintf(stderr, "repetition %d of %d\n", rep, reps);
    for (const std::string& s : kScenarios) {
      for (const std::string& impl : impls) {
        if (!only.empty() && only != impl + "/" + s) continue;
        const std::string program = absl::StrCat(g_root, "/conformance/impls/", impl, "/", s);
        Cell& c = cells[{s, impl}];
        Judged a = RunOnce(specs.at(s), program, 0, {});
        Judged b = RunOnce(specs.at(s), program, NewSeed(), {});
        if (!a.ran || !b.ran) return 1;
        c.plain.push_back(a.seconds);
        c.perturbed.push_back(b.seconds);
        c.ratio.push_back(b.seconds / a.seconds);
        c.plain_failed += !a.passed;
        c.perturbed_failed += !b.passed;
      }
    }
  }
  std::printf("| scenario | impl | unperturbed (s) | --perturb (s) | ratio | extra (ms) | failed runs |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const auto& [key, c] : cells) {
    std::printf("| %s | %s | %.3f | %.3f | %.2f | %.0f | %d, %d |\n", key.first.c_str(), key.second.c_str(),
                Median(c.plain), Median(c.perturbed), Median(c.ratio), 1000 * (Median(c.perturbed) - Median(c.plain)),
                c.plain_failed, c.perturbed_failed);
  }
  return 0;
}

// The variants of the tuning table: the defaults and each mechanism alone.
std::vector<std::pair<std::string, PerturbOptions>> Variants() {
  std::vector<std::pair<std::string, PerturbOptions>> v;
  PerturbOptions d;
  v.push_back({"default", d});
  PerturbOptions stops = d;
  stops.before_write = stops.before_exit = 0;
  v.push_back({"stops-only", stops});
  PerturbOptions waits = d;
  waits.fork = waits.after_write = waits.after_wake = 0;
  v.push_back({"waits-only", waits});
  PerturbOptions fork_only = d;
  fork_only.after_write = fork_only.after_wake = fork_only.before_write = fork_only.before_exit = 0;
  v.push_back({"fork-only", fork_only});
  PerturbOptions cpu_only = d;
  cpu_only.fork = cpu_only.after_write = cpu_only.after_wake = cpu_only.before_write = cpu_only.before_exit = 0;
  cpu_only.one_cpu = 1;
  v.push_back({"one-cpu-only", cpu_only});
  PerturbOptions never_one = d;
  never_one.one_cpu = 0;
  v.push_back({"default-never-one-cpu", never_one});
  PerturbOptions always_one = d;
  always_one.one_cpu = 1;
  v.push_back({"default-always-one-cpu", always_one});
  PerturbOptions short_only = d;
  short_only.long_share = 0;
  v.push_back({"short-delays-only", short_only});
  return v;
}

struct CatchTarget {
  std::string label, program, scenario;
  bool control;
};

std::vector<CatchTarget> CatchTargets() {
  std::vector<CatchTarget> t;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(g_root + "/conformance/expected-fail", ec)) {
    if (!std::filesystem::exists(e.path() / "PERTURB", ec)) continue;
    for (const auto& f : std::filesystem::directory_iterator(e.path(), ec)) {
      const std::string name = f.path().filename().string();
      if (name != "EXPECTED" && name != "PERTURB") {
        t.push_back({"control " + e.path().filename().string(), f.path().string(), name, true});
      }
    }
  }
  std::sort(t.begin(), t.end(), [](const CatchTarget& a, const CatchTarget& b) { return a.label < b.label; });
  for (const char* impl : {"mp", "cpython", "cpython-spawn", "cpython-forkserver"}) {
    for (const std::string& s : kScenarios) {
      t.push_back({absl::StrCat(impl, "/", s), absl::StrCat(g_root, "/conformance/impls/", impl, "/", s), s, false});
    }
  }
  return t;
}

int Catch(int runs, const std::string& variant, const std::string& only) {
  std::map<std::string, Spec> specs;
  for (const std::string& s : kScenarios) specs.emplace(s, LoadSpec(s));
  std::printf("| variant | target | %s | rules violated (runs) |\n", "FAIL (control) / PASS (implementation)");
  std::printf("|---|---|---|---|\n");
  for (const auto& [name, options] : Variants()) {
    if (!variant.empty() && variant != name) continue;
    for (const CatchTarget& t : CatchTargets()) {
      if (!only.empty() && !absl::StrContains(t.label, only)) continue;
      int good = 0;
      std::map<std::string, int> rules;
      for (int i = 0; i < runs; ++i) {
        Judged j = RunOnce(specs.at(t.scenario), t.program, NewSeed(), options);
        if (!j.ran) return 1;
        good += t.control ? !j.passed : j.passed;
        for (const std::string& r : j.violated) ++rules[r];
      }
      std::vector<std::string> shown;
      for (const auto& [r, n] : rules) shown.push_back(absl::StrCat(r, " (", n, ")"));
      std::printf("| %s | %s | %d/%d | %s |\n", name.c_str(), t.label.c_str(), good, runs,
                  absl::StrJoin(shown, "; ").c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace conformance

int main(int argc, char** argv) {
  std::string mode = "cost", variant, only;
  int reps = 11, runs = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) { return a.substr(std::strlen(flag)); };
    if (absl::StartsWith(a, "--mode=")) {
      mode = value("--mode=");
    } else if (absl::StartsWith(a, "--reps=") && absl::SimpleAtoi(value("--reps="), &reps)) {
    } else if (absl::StartsWith(a, "--runs=") && absl::SimpleAtoi(value("--runs="), &runs)) {
    } else if (absl::StartsWith(a, "--variant=")) {
      variant = value("--variant=");
    } else if (absl::StartsWith(a, "--only=")) {
      only = value("--only=");
    } else {
      std::fprintf(stderr, "perturb_benchmark: unknown flag or bad value: %s\n", a.c_str());
      return 2;
    }
  }
  if (mode != "cost" && mode != "catch") {
    std::fprintf(stderr, "perturb_benchmark: --mode must be cost or catch, not '%s'\n", mode.c_str());
    return 2;
  }
  if (reps < 1 || runs < 1) {
    std::fprintf(stderr, "perturb_benchmark: --reps and --runs must be at least 1\n");
    return 2;
  }
  std::error_code ec;
  conformance::g_root = std::filesystem::read_symlink("/proc/self/exe", ec).string() + ".runfiles/mp";
  if (const char* d = getenv("RUNFILES_DIR"); d && *d) conformance::g_root = absl::StrCat(d, "/mp");
  if (absl::Status s = conformance::LoadBpfObserver(); !s.ok()) {
    std::fprintf(stderr, "perturbation needs the BPF observer: %s\n", s.ToString().c_str());
    return 2;
  }
  return mode == "catch" ? conformance::Catch(runs, variant, only) : conformance::Cost(reps, only);
}
