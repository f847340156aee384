// The conformance runner's command line (conformance/INTERPRETING.md):
//
//   conformance [--impl=mp|cpython|DIR] [--scenario=ID]... [--runs=N]
//               [--junit=FILE] [--timeline=FILE] [--timeout=SECONDS]
//   conformance --transcript=FILE --scenario=ID
//   conformance --spec=FILE [--runs=N] -- PROGRAM ARGS...
//
// Exit status 0 iff nothing FAILed; 2 for bad usage.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "conformance/checker/checker.h"
#include "conformance/cli/observe.h"
#include "conformance/runner/tracer.h"
#include "conformance/runner/timeline.h"
#include "conformance/spec/parse.h"

extern char** environ;

namespace conformance {
namespace {

const char* const kScenarios[] = {"fork", "process", "pool", "subprocess_call", "subprocess_communicate", "queue"};

constexpr char kUsage[] =
    "usage: conformance [--impl=NAME|DIR] [--scenario=ID]... [--runs=N] [--junit=FILE]\n"
    "                   [--timeline=FILE] [--timeout=SECONDS] [--observer=auto|bpf|ptrace] [--no-trace]\n"
    "                   [--verbose]\n"
    "       conformance --transcript=FILE --scenario=ID\n"
    "       conformance --spec=FILE [--runs=N] -- PROGRAM ARGS...\n";

struct Options {
  std::string impl = "mp";
  std::vector<std::string> scenarios;
  int runs = 1;
  std::string junit, timeline, transcript, spec;
  std::vector<std::string> program;
  double timeout_s = 60;
  bool trace = true;
  bool verbose = false;
  Observer observer = Observer::kAuto;
};

// How runs will be observed, for the report's header.
std::string ObserverLine(const Options& opt) {
  if (!opt.trace) return "nothing (--no-trace): text-only checks";
  if (opt.observer == Observer::kPtrace) return "ptrace (--observer=ptrace)";
  absl::Status bpf = LoadBpfObserver();
  if (bpf.ok()) return "BPF";
  if (opt.observer == Observer::kBpf) return absl::StrCat("BPF, which cannot load here: ", bpf.message());
  return absl::StrCat("ptrace (no BPF here: ", bpf.message(), ")");
}

enum class Result { kPass, kFail, kUnresolved, kUnsupported };
const char* Name(Result r) {
  switch (r) {
    case Result::kPass: return "PASS";
    case Result::kFail: return "FAIL";
    case Result::kUnresolved: return "UNRESOLVED";
    case Result::kUnsupported: return "UNSUPPORTED";
  }
  return "?";
}

struct Outcome {
  std::string id;
  Result result = Result::kPass;
  int runs = 0, failed = 0;
  std::string summary;  // One line.
  std::string details;  // The report of the first failing run, or notes.
  double seconds = 0;
  // The rules' outcomes in the run reported (the first failing one, else the last).
  int held = 0, violated = 0, not_checkable = 0;
  // For --timeline: the first failing run, else the last run.
  std::optional<Observation> observed;
};

int Usage(const std::string& why) {
  std::cerr << "conformance: " << why << "\n" << kUsage;
  return 2;
}

std::string UserDir() {
  if (const char* d = getenv("BUILD_WORKING_DIRECTORY"); d && *d) return d;
  return std::filesystem::current_path().string();
}

std::string UserPath(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  return (std::filesystem::path(UserDir()) / p).lexically_normal().string();
}

// The runfiles tree's workspace directory ("<runfiles>/mp").
std::string RunfilesRoot() {
  std::vector<std::string> roots;
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    if (const char* d = getenv(var); d && *d) roots.push_back(d);
  }
  std::error_code ec;
  std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  roots.push_back(exe + ".runfiles");
  for (const std::string& r : roots) {
    if (std::filesystem::exists(r + "/mp/conformance/scenarios", ec)) return r + "/mp";
  }
  return "";
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}


// Runs argv `runs` times and judges each run against spec.
Outcome RunAndCheck(const Spec& spec, const std::vector<std::string>& argv, const std::string& cwd,
                    const std::vector<std::string>& env, const Options& opt) {
  Outcome o;
  o.id = spec.scenario;
  const absl::Time start = absl::Now();
  std::string untraced;
  size_t not_checkable = 0;
  for (int i = 0; i < opt.runs; ++i) {
    std::string dir = cwd;
    if (dir.empty()) {
      char tmpl[] = "/tmp/conformance.XXXXXX";
      if (mkdtemp(tmpl) == nullptr) {
        o.result = Result::kUnresolved;
        o.summary = "cannot create a temporary directory";
        return o;
      }
      dir = tmpl;
    }
    std::vector<std::string> e = env;
    if (cwd.empty()) {
      e.push_back("HOME=" + dir);
      e.push_back("TMPDIR=" + dir);
    }
    absl::StatusOr<Observation> obs =
        Observe({argv, dir, e, absl::Milliseconds(static_cast<int64_t>(opt.timeout_s * 1000)), opt.trace, opt.observer});
    if (cwd.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
    ++o.runs;
    if (!obs.ok()) {
      o.result = Result::kUnresolved;
      o.summary = absl::StrCat("the runner could not run ", argv[0], ": ", std::string(obs.status().message()));
      o.seconds = absl::ToDoubleSeconds(absl::Now() - start);
      return o;
    }
    // A run the runner could not observe completely cannot PASS.
    std::string incomplete;
    if (obs->output_truncated) incomplete = "the output passed the runner's cap and was truncated";
    if (obs->process_limit_exceeded) incomplete = "the process tree passed the runner's process cap";
    if (!obs->attribution_mismatch.empty()) incomplete = "writes could not be attributed: " + obs->attribution_mismatch;
    Verdict v = Check(spec, *obs, {});
    if (v.result == Verdict::kUnresolved) {
      o.result = Result::kUnresolved;
      o.summary = absl::StrCat("run ", i + 1, ": ", v.unresolved);
      o.details = FormatVerdict(v);
      o.seconds = absl::ToDoubleSeconds(absl::Now() - start);
      return o;
    }
    if (!incomplete.empty() && v.pass()) {
      o.result = Result::kUnresolved;
      o.summary = absl::StrCat("run ", i + 1, ": ", incomplete);
      o.seconds = absl::ToDoubleSeconds(absl::Now() - start);
      return o;
    }
    // Kept only for --timeline: a copy can hold 2 x 64 MiB of a hostile program's output.
    if (o.failed == 0 && !opt.timeline.empty()) o.observed = *obs;
    untraced = v.untraced_reason;
    not_checkable = v.not_checkable.size();
    if (o.failed == 0) {
      o.held = v.held;
      o.violated = static_cast<int>(v.violations.size());
      o.not_checkable = static_cast<int>(v.not_checkable.size());
      if (opt.verbose) o.details = absl::StrCat("  run ", i + 1, " of ", opt.runs, ":\n", FormatVerdict(v, {.verbose = true}));
    }
    if (!v.pass()) {
      if (o.failed++ == 0) {
        o.details = absl::StrCat("  run ", i + 1, " of ", opt.runs, ":\n", FormatVerdict(v, {.verbose = opt.verbose}));
        if (!incomplete.empty()) absl::StrAppend(&o.details, "  incomplete observation: ", incomplete, "\n");
        if (obs->traced) {
          absl::StrAppend(&o.details, "  observed processes (pid, forked by, how it ended, execs):\n");
          for (const ProcessRecord& p : obs->processes) {
            absl::StrAppend(&o.details, "      ", p.pid, "  forked by ", p.forked_by, "  ",
                            p.exit ? p.exit->ToString() : "still running", p.killed_by_runner ? " (killed by the runner)" : "",
                            "  ", absl::StrJoin(p.execs, " ; ", [](std::string* out, const ExecRecord& e) {
                              absl::StrAppend(out, e.argv.empty() ? "" : e.argv[0]);
                            }), "\n");
          }
        }
        for (const std::string& a : obs->anomalies) absl::StrAppend(&o.details, "  runner anomaly: ", a, "\n");
        if (!obs->stderr_bytes.empty()) {
          absl::StrAppend(&o.details, "  stderr:\n      ",
                          absl::StrReplaceAll(obs->stderr_bytes.substr(0, 2000), {{"\n", "\n      "}}), "\n");
        }
      }
    }
  }
  o.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  o.result = o.failed ? Result::kFail : Result::kPass;
  o.summary = o.failed ? absl::StrCat(o.failed, " of ", o.runs, " runs failed")
                       : absl::StrCat(o.runs, o.runs == 1 ? " run, " : " runs, ", o.held, " rules held");
  if (!untraced.empty()) {
    absl::StrAppend(&o.summary, "; text only: ", untraced, " (", not_checkable, " rules not checkable)");
  }
  return o;
}

std::string XmlEscape(const std::string& s) {
  return absl::StrReplaceAll(s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

bool WriteJUnit(const std::string& path, const std::string& suite, const std::vector<Outcome>& outs) {
  int failures = 0, skipped = 0, errors = 0;
  double total = 0;
  for (const Outcome& o : outs) {
    failures += o.result == Result::kFail;
    skipped += o.result == Result::kUnsupported;
    errors += o.result == Result::kUnresolved;
    total += o.seconds;
  }
  std::string x = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"%s\" tests=\"%d\" "
      "failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
      XmlEscape(suite), outs.size(), failures, errors, skipped, total);
  for (const Outcome& o : outs) {
    absl::StrAppendFormat(&x, "    <testcase classname=\"%s\" name=\"%s\" time=\"%.3f\">", XmlEscape(suite),
                          XmlEscape(o.id), o.seconds);
    // Every rule has an outcome; the counts go with the test case.
    absl::StrAppendFormat(&x,
                          "\n      <properties>\n        <property name=\"runs\" value=\"%d\"/>\n"
                          "        <property name=\"runs_failed\" value=\"%d\"/>\n"
                          "        <property name=\"rules_held\" value=\"%d\"/>\n"
                          "        <property name=\"rules_violated\" value=\"%d\"/>\n"
                          "        <property name=\"rules_not_checkable\" value=\"%d\"/>\n      </properties>\n    ",
                          o.runs, o.failed, o.held, o.violated, o.not_checkable);
    if (o.result == Result::kFail) {
      absl::StrAppendFormat(&x, "\n      <failure message=\"%s\">%s</failure>\n    ", XmlEscape(o.summary),
                            XmlEscape(o.details));
    } else if (o.result == Result::kUnresolved) {
      absl::StrAppendFormat(&x, "\n      <error message=\"%s\"/>\n    ", XmlEscape(o.summary));
    } else if (o.result == Result::kUnsupported) {
      absl::StrAppendFormat(&x, "\n      <skipped message=\"%s\"/>\n    ", XmlEscape(o.summary));
    }
    x += "</testcase>\n";
  }
  x += "  </testsuite>\n</testsuites>\n";
  std::ofstream out(path);
  out << x;
  return static_cast<bool>(out);
}

void Print(const Outcome& o, size_t k, size_t n, bool verbose) {
  std::printf("[%zu/%zu] %-24s %-11s %s (%.1f s)\n", k, n, o.id.c_str(), Name(o.result), o.summary.c_str(), o.seconds);
  if (o.result != Result::kPass || verbose) std::printf("%s", o.details.c_str());
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag, std::string* out) {
      std::string prefix = absl::StrCat(flag, "=");
      if (!absl::StartsWith(a, prefix)) return false;
      *out = a.substr(prefix.size());
      return true;
    };
    std::string v;
    if (a == "--") {
      opt.program.assign(argv + i + 1, argv + argc);
      break;
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (value("--impl", &opt.impl) || value("--junit", &opt.junit) || value("--timeline", &opt.timeline) ||
               value("--transcript", &opt.transcript) || value("--spec", &opt.spec)) {
    } else if (value("--scenario", &v)) {
      opt.scenarios.push_back(v);
    } else if (value("--runs", &v)) {
      if (!absl::SimpleAtoi(v, &opt.runs) || opt.runs < 1) return Usage(absl::StrCat("--runs must be >= 1, not '", v, "'"));
    } else if (value("--timeout", &v)) {
      if (!absl::SimpleAtod(v, &opt.timeout_s) || opt.timeout_s <= 0) return Usage(absl::StrCat("bad --timeout '", v, "'"));
    } else if (value("--observer", &v)) {
      if (v == "auto") {
        opt.observer = Observer::kAuto;
      } else if (v == "bpf") {
        opt.observer = Observer::kBpf;
      } else if (v == "ptrace") {
        opt.observer = Observer::kPtrace;
      } else {
        return Usage(absl::StrCat("--observer must be auto, bpf or ptrace, not '", v, "'"));
      }
    } else if (a == "--no-trace") {
      opt.trace = false;
    } else if (a == "--verbose" || a == "-v") {
      opt.verbose = true;
    } else {
      return Usage(absl::StrCat("unknown argument '", a, "'"));
    }
  }
  const std::string rf = RunfilesRoot();
  std::vector<std::string> env = {"PATH=" + std::string(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"),
                                  "LANG=C.UTF-8"};

  // A user's own program against a user's spec.
  if (!opt.spec.empty()) {
    if (opt.program.empty()) return Usage("--spec needs `-- PROGRAM ARGS...`");
    std::string text;
    if (!ReadFile(UserPath(opt.spec), &text)) return Usage(absl::StrCat("cannot read spec ", UserPath(opt.spec)));
    absl::StatusOr<Spec> spec = ParseSpec(text, opt.spec);
    if (!spec.ok()) {
      std::cerr << spec.status().message() << "\n";
      return 2;
    }
    if (absl::StrContains(opt.program[0], "/")) opt.program[0] = UserPath(opt.program[0]);
    std::vector<std::string> user_env;
    for (char** e = environ; *e; ++e) user_env.push_back(*e);
    std::printf("conformance: observed by %s\n", ObserverLine(opt).c_str());
    Outcome o = RunAndCheck(*spec, opt.program, UserDir(), user_env, opt);
    Print(o, 1, 1, opt.verbose);
    if (!opt.junit.empty()) WriteJUnit(UserPath(opt.junit), "conformance.spec", {o});
    return o.result == Result::kFail ? 1 : 0;
  }

  if (rf.empty()) {
    std::cerr << "conformance: cannot find the runfiles (conformance/scenarios); run it with `tools/bazel run //conformance`\n";
    return 2;
  }
  auto load_spec = [&](const std::string& id, Spec* spec, std::string* error) {
    std::string text;
    const std::string rel = absl::StrCat("conformance/scenarios/", id, ".spec");
    if (!ReadFile(absl::StrCat(rf, "/", rel), &text)) {
      *error = absl::StrCat("unknown scenario '", id, "' (no ", rel, ")");
      return false;
    }
    absl::StatusOr<Spec> s = ParseSpec(text, rel);
    if (!s.ok()) {
      *error = std::string(s.status().message());
      return false;
    }
    *spec = *std::move(s);
    return true;
  };

  // A recorded transcript.
  if (!opt.transcript.empty()) {
    if (opt.scenarios.size() != 1) return Usage("--transcript needs exactly one --scenario");
    Spec spec;
    std::string error, text;
    if (!load_spec(opt.scenarios[0], &spec, &error)) return Usage(error);
    if (!ReadFile(UserPath(opt.transcript), &text)) return Usage(absl::StrCat("cannot read ", UserPath(opt.transcript)));
    Verdict v = Check(spec, ObservationFromTranscript(text), {.transcript = true});
    Outcome o;
    o.id = spec.scenario;
    o.runs = 1;
    o.result = v.pass() ? Result::kPass : v.result == Verdict::kUnresolved ? Result::kUnresolved : Result::kFail;
    o.summary = absl::StrCat("transcript ", opt.transcript, "; ", v.held, " rules held, ", v.not_checkable.size(),
                             " not checkable");
    o.held = v.held;
    o.violated = static_cast<int>(v.violations.size());
    o.not_checkable = static_cast<int>(v.not_checkable.size());
    o.details = FormatVerdict(v, {.verbose = opt.verbose});
    Print(o, 1, 1, opt.verbose);
    if (o.result == Result::kPass) std::printf("%s", o.details.c_str());
    if (!opt.junit.empty()) WriteJUnit(UserPath(opt.junit), "conformance.transcript", {o});
    return o.result == Result::kFail ? 1 : 0;
  }

  // An implementation directory.
  std::string dir;
  // A built-in implementation by name (conformance/impls/NAME), else a path.
  if (IsName(opt.impl) && std::filesystem::is_directory(absl::StrCat(rf, "/conformance/impls/", opt.impl))) {
    dir = absl::StrCat(rf, "/conformance/impls/", opt.impl);
  } else {
    dir = UserPath(opt.impl);
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return Usage(absl::StrCat("--impl: ", dir, " is not a directory"));
  if (opt.scenarios.empty()) opt.scenarios.assign(std::begin(kScenarios), std::end(kScenarios));
  std::printf("conformance: implementation %s (%s), %zu scenario(s), %d run(s) each\n", opt.impl.c_str(), dir.c_str(),
              opt.scenarios.size(), opt.runs);
  std::printf("conformance: observed by %s\n", ObserverLine(opt).c_str());
  std::vector<Outcome> outs;
  for (size_t k = 0; k < opt.scenarios.size(); ++k) {
    const std::string& id = opt.scenarios[k];
    Outcome o;
    o.id = id;
    Spec spec;
    std::string error;
    const std::string exe = absl::StrCat(dir, "/", id);
    if (!load_spec(id, &spec, &error)) {
      o.result = Result::kUnresolved;
      o.summary = error;
    } else if (access(exe.c_str(), X_OK) != 0 || std::filesystem::is_directory(exe, ec)) {
      o.result = Result::kUnsupported;
      o.summary = absl::StrCat("no executable '", id, "' in implementation ", opt.impl);
    } else {
      if (isatty(1)) {
        std::printf("[%zu/%zu] %-24s running...\r", k + 1, opt.scenarios.size(), id.c_str());
        std::fflush(stdout);
      }
      o = RunAndCheck(spec, {exe}, "", env, opt);
    }
    Print(o, k + 1, opt.scenarios.size(), opt.verbose);
    outs.push_back(o);
  }
  int counts[4] = {0, 0, 0, 0};
  for (const Outcome& o : outs) ++counts[static_cast<int>(o.result)];
  std::printf("conformance: %d PASS, %d FAIL, %d UNRESOLVED, %d UNSUPPORTED\n", counts[0], counts[1], counts[2], counts[3]);
  if (!opt.junit.empty() && !WriteJUnit(UserPath(opt.junit), absl::StrCat("conformance.", opt.impl), outs)) {
    std::cerr << "conformance: cannot write " << UserPath(opt.junit) << "\n";
  }
  for (const Outcome& o : outs) {
    if (opt.timeline.empty() || !o.observed) continue;
    std::string path = UserPath(opt.timeline);
    if (outs.size() > 1) {
      // One file per scenario: t.json -> t.fork.json.
      size_t dot = path.rfind('.');
      if (dot == std::string::npos || dot < path.rfind('/') + 1) dot = path.size();
      path = absl::StrCat(path.substr(0, dot), ".", o.id, path.substr(dot));
    }
    if (absl::Status s = WriteChromeTrace(*o.observed, path); !s.ok()) {
      std::cerr << "conformance: --timeline: " << s.message() << "\n";
    } else {
      std::printf("conformance: timeline of %s written to %s (open it in Perfetto or chrome://tracing)\n", o.id.c_str(),
                  path.c_str());
    }
  }
  return counts[1] ? 1 : 0;
}

}  // namespace
}  // namespace conformance

int main(int argc, char** argv) { return conformance::Main(argc, argv); }
