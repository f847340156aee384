#include "conformance/suite/run.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "conformance/checker/checker.h"
#include "conformance/checker/lines.h"
#include "conformance/cli/observe.h"
#include "conformance/rules/registry.h"

namespace conformance::suite {
namespace {

std::string Hex(uint64_t x) { return absl::StrCat("0x", absl::Hex(x)); }

// Why a run cannot be trusted to be complete, or "".
// Every reason, not the first: a run can pass the output cap and lose the
// attribution of writes near it (a slow runner under TSan does).
std::string Incomplete(const Observation& obs) {
  std::vector<std::string> why;
  if (obs.output_truncated) why.push_back("the output passed the runner's cap and was truncated");
  if (obs.process_limit_exceeded) why.push_back("the process tree passed the runner's process cap");
  if (!obs.attribution_mismatch.empty()) why.push_back("writes could not be attributed: " + obs.attribution_mismatch);
  return absl::StrJoin(why, "; ");
}

// A program whose stdout is block-buffered writes many lines at once: on a
// pipe, the usual cause of a child repeating its parent's lines or of lines
// lost at a kill.
std::string BufferingHint(const Observation& obs) {
  if (obs.stdio != "pipe") return "";
  std::map<pid_t, int> most;
  for (const WriteRecord& w : obs.writes) {
    if (w.stream != 1) continue;
    const int lines = static_cast<int>(std::count(w.data.begin(), w.data.end(), '\n'));
    if (lines >= 2) most[w.pid] = std::max(most[w.pid], lines);
  }
  if (most.empty()) return "";
  const auto& [pid, lines] = *std::max_element(most.begin(), most.end(),
                                               [](const auto& a, const auto& b) { return a.second < b.second; });
  return absl::StrCat("  likely cause: stdout was a pipe, where Python (and C stdio) buffer output in blocks: pid ", pid,
                      " wrote ", lines,
                      " lines in one write. A buffer copied by fork is printed twice, one lost at a kill never; the "
                      "seed's outputs were documented from a terminal (--stdio=pty).\n");
}

}  // namespace

uint64_t RunSeed(uint64_t seed, int k) {
  if (k == 1) return seed;
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(k);  // splitmix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return z == 0 ? 1 : z;
}

std::string ObservationReport(const Observation& obs, bool verbose) {
  std::string out;
  constexpr size_t kShownProcesses = 40, kShownStderr = 40;
  if (obs.traced) {
    absl::StrAppend(&out, "  observed processes (pid, forked by, how it ended, what it ran):\n");
    const size_t n = verbose ? obs.processes.size() : std::min(obs.processes.size(), kShownProcesses);
    for (size_t i = 0; i < n; ++i) {
      const ProcessRecord& p = obs.processes[i];
      absl::StrAppend(&out, "      ", p.pid, "  forked by ", p.forked_by == 0 ? "the runner" : absl::StrCat(p.forked_by),
                      "  ", p.exit ? p.exit->ToString() : "still running",
                      p.killed_by_runner ? " (killed by the runner)" : "");
      for (const ExecRecord& e : p.execs) absl::StrAppend(&out, "\n          ran ", ShowText(rules::ShowExec(e), 400));
      out += "\n";
    }
    if (n < obs.processes.size()) absl::StrAppend(&out, "      ... and ", obs.processes.size() - n, " more processes\n");
  }
  for (const std::string& a : obs.anomalies) absl::StrAppend(&out, "  runner anomaly: ", ShowText(a, 400), "\n");
  if (!obs.stderr_bytes.empty()) {
    absl::StrAppend(&out, "  stderr:\n");
    std::vector<absl::string_view> lines = absl::StrSplit(obs.stderr_bytes, '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    const size_t n = verbose ? lines.size() : std::min(lines.size(), kShownStderr);
    for (size_t i = 0; i < n; ++i) absl::StrAppend(&out, "      ", ShowText(lines[i]), "\n");
    if (n < lines.size()) absl::StrAppend(&out, "      ... and ", lines.size() - n, " more lines\n");
  }
  return out;
}

Outcome RunScenario(const Spec& spec, const std::vector<std::string>& argv, const std::string& cwd,
                    const std::vector<std::string>& env, const RunOptions& opt) {
  Outcome o;
  o.id = spec.scenario;
  const absl::Time start = absl::Now();
  auto finish = [&](Result r, std::string summary) {
    o.result = r;
    o.summary = std::move(summary);
    o.seconds = absl::ToDoubleSeconds(absl::Now() - start);
    return o;
  };
  std::string untraced;
  for (int i = 1; i <= opt.runs; ++i) {
    if (opt.interrupted != nullptr && opt.interrupted->load() != 0) {
      return finish(Result::kUnresolved, absl::StrCat("interrupted before run ", i, " of ", opt.runs));
    }
    if (opt.on_run) opt.on_run(i);
    std::string dir = cwd;
    std::vector<std::string> e = env;
    if (cwd.empty()) {
      // In the user's TMPDIR, as any program's temporary files.
      const char* tmp = getenv("TMPDIR");
      std::string tmpl = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/conformance.XXXXXX");
      if (mkdtemp(tmpl.data()) == nullptr) {
        return finish(Result::kUnresolved, absl::StrCat("cannot create a temporary directory ", tmpl));
      }
      dir = tmpl;
      e.push_back("HOME=" + dir);
      e.push_back("TMPDIR=" + dir);
    }
    ObserveRequest req;
    req.argv = argv;
    req.cwd = dir;
    req.env = e;
    req.timeout = opt.timeout;
    req.trace = opt.trace;
    req.observer = opt.observer;
    req.stdio = opt.stdio;
    req.cancel = opt.interrupted;
    const uint64_t seed = opt.perturb ? RunSeed(opt.perturb_seed, i) : 0;
    req.perturb_seed = seed;
    absl::StatusOr<Observation> obs = Observe(req);
    if (cwd.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
    if (!obs.ok()) {
      o.runs.push_back({Result::kUnresolved, std::string(obs.status().message()), seed});
      return finish(Result::kUnresolved,
                    absl::StrCat("the runner could not run ", argv[0], ": ", ShowText(obs.status().message(), 400)));
    }
    if (obs->interrupted) {
      o.runs.push_back({Result::kUnresolved, "interrupted", seed});
      return finish(Result::kUnresolved, absl::StrCat("interrupted during run ", i, " of ", opt.runs,
                                                     "; the runner killed the program"));
    }
    const std::string incomplete = Incomplete(*obs);
    Verdict v = Check(spec, *obs, {});
    if (opt.on_judged) {
      const bool unresolved = v.result == Verdict::kUnresolved || (!incomplete.empty() && v.pass());
      opt.on_judged(i, unresolved ? Result::kUnresolved : v.pass() ? Result::kPass : Result::kFail, *obs, v);
    }
    if (v.result == Verdict::kUnresolved || (!incomplete.empty() && v.pass())) {
      const std::string why = v.result == Verdict::kUnresolved ? v.unresolved : incomplete;
      o.runs.push_back({Result::kUnresolved, why, seed});
      o.details = absl::StrCat("  run ", i, " of ", opt.runs, ":\n  unresolved: ", why, "\n",
                               FormatVerdict(v, {.verbose = opt.verbose}), ObservationReport(*obs, opt.verbose));
      if (opt.keep_observation) {
        o.observed = *std::move(obs);
        o.verdict = std::move(v);
      }
      return finish(Result::kUnresolved, absl::StrCat("run ", i, ": ", why));
    }
    untraced = v.untraced_reason;
    const bool failed = !v.pass();
    o.runs.push_back({failed ? Result::kFail : Result::kPass, failed ? v.violations[0].rule : "", seed});
    // Report the first failing run, else the last.
    if (failed ? o.failed_runs() == 1 : o.failed_runs() == 0) {
      o.held = v.held;
      o.violated = static_cast<int>(v.violations.size());
      o.not_checkable = static_cast<int>(v.not_checkable.size());
      o.details = absl::StrCat("  run ", i, " of ", opt.runs,
                               seed ? absl::StrCat(" (perturbation seed ", Hex(seed), "; replay: --perturb=", Hex(seed),
                                                   " --runs=1 makes the same decisions, though the kernel may still "
                                                   "schedule the processes differently)")
                                    : "",
                               ":\n");
      for (const std::string& p : obs->perturbations) absl::StrAppend(&o.details, "  perturbed: ", p, "\n");
      // Facts first: what limited the observation, a timeout, a crash.
      if (!incomplete.empty()) absl::StrAppend(&o.details, "  incomplete observation: ", incomplete, "\n");
      if (obs->timed_out) {
        absl::StrAppend(&o.details, "  timed out after ", absl::FormatDuration(obs->timeout), "\n");
      }
      if (!obs->processes.empty() && obs->processes[0].exit && !obs->processes[0].exit->exited()) {
        absl::StrAppend(&o.details, "  the program was ", obs->processes[0].exit->ToString(), "\n");
      }
      if (failed) absl::StrAppend(&o.details, BufferingHint(*obs));
      absl::StrAppend(&o.details, FormatVerdict(v, {.verbose = opt.verbose}));
      if (failed || opt.verbose) absl::StrAppend(&o.details, ObservationReport(*obs, opt.verbose));
      // A copy can hold 2 x 64 MiB of a hostile program's output: only when asked.
      if (opt.keep_observation) {
        o.observed = *std::move(obs);
        o.verdict = std::move(v);
      }
    }
  }
  const int failed = o.failed_runs();
  const int total = static_cast<int>(o.runs.size());
  std::string summary = failed ? absl::StrCat(failed, " of ", total, " runs failed")
                               : absl::StrCat(total, total == 1 ? " run, " : " runs, ", o.held, " rules held");
  if (opt.perturb) {
    // Flake statistics: how many perturbed runs passed, and how to replay a failure.
    summary = absl::StrCat("PASS ", total - failed, "/", total, " perturbed runs");
    if (failed) {
      std::vector<std::string> seeds;
      for (const Run& r : o.runs) {
        if (r.result == Result::kFail && seeds.size() < 5) seeds.push_back(Hex(r.seed));
      }
      absl::StrAppend(&summary, "; failing seeds: ", absl::StrJoin(seeds, ", "), failed > 5 ? ", ..." : "");
    } else {
      absl::StrAppend(&summary, ", ", o.held, " rules held");
    }
  }
  if (!untraced.empty()) absl::StrAppend(&summary, "; text only: ", untraced, " (", o.not_checkable, " rules not checkable)");
  return finish(failed ? Result::kFail : Result::kPass, summary);
}

}  // namespace conformance::suite
