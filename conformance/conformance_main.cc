// The conformance suite's command line (conformance/INTERPRETING.md). Flags
// are Abseil flags; `conformance --help` lists them with the exit statuses.
//
//   conformance [--impl=NAME|DIR]... [--scenario=ID]... [--runs=N] [options]
//   conformance --spec=FILE [options] -- PROGRAM ARGS...
//   conformance --transcript=FILE (--scenario=ID | --spec=FILE)
//
// Several --impl give a matrix of results (suite/matrix.h); --html=FILE
// writes the HTML report (suite/html.h) in every mode but --list.
//   conformance --list [--impl=NAME|DIR]
//
// Every flag a mode does not use is refused with a message, never ignored.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "conformance/checker/checker.h"
#include "conformance/checker/lines.h"
#include "conformance/flag_parse.h"
#include "conformance/runner/timeline.h"
#include "conformance/runner/tracer.h"
#include "conformance/spec/parse.h"
#include "conformance/suite/discovery.h"
#include "conformance/suite/expectations.h"
#include "conformance/suite/html.h"
#include "conformance/suite/junit.h"
#include "conformance/suite/matrix.h"
#include "conformance/suite/outcome.h"
#include "conformance/suite/run.h"

ABSL_FLAG(std::vector<std::string>, impl, {}, "The implementation: a built-in NAME (mp, cpython, ...) or a DIR with one program per scenario; repeat it to compare several (a matrix). Default: mp.");
ABSL_FLAG(std::vector<std::string>, scenario, {}, "A scenario to run (repeatable); default: all (see --list).");
ABSL_FLAG(int, runs, 1, "Runs of each scenario; a scenario FAILs if any run fails.");
ABSL_FLAG(std::string, junit, "", "Write JUnit XML to FILE.");
ABSL_FLAG(std::string, timeline, "", "Write each scenario's timeline (Chrome trace JSON) to FILE (FILE.ID.json when several; FILE.IMPL.ID.json with several --impl).");
ABSL_FLAG(std::string, html, "", "Write a self-contained HTML report to FILE: the matrix, and per scenario a lane chart of each run (the first few of each result).");
ABSL_FLAG(std::string, timeout, "60", "Seconds a run may take (a positive number), or none.");
ABSL_FLAG(std::string, observer, "auto", "auto (BPF where it loads, else ptrace), bpf or ptrace.");
ABSL_FLAG(bool, trace, true, "Observe the processes (--no-trace: text-only checks).");
ABSL_FLAG(std::string, stdio, "", "pty or pipe: what the programs' stdout and stderr are. Default: what each spec says (stdio ...), else pipe.");
ABSL_FLAG(bool, verbose, false, "Report every rule's outcome and everything observed, also for runs that PASS.");
ABSL_FLAG(std::string, spec, "", "Judge -- PROGRAM ARGS... (or --transcript) against this spec FILE.");
ABSL_FLAG(std::string, transcript, "", "Judge a recorded transcript FILE (text only) against --scenario or --spec.");
ABSL_FLAG(std::string, perturb, "", "Perturb each run's schedule (--perturb: a random seed; --perturb=SEED: from SEED, to replay a run). Needs the BPF observer.");
ABSL_FLAG(bool, list, false, "List the scenarios (with --impl: and which have a program).");
ABSL_FLAG(std::string, allow, "", "unsupported: scenarios without a program do not make the exit status non-zero.");

extern char** environ;

namespace conformance {
namespace {

using suite::Outcome;
using suite::Result;

constexpr char kUsage[] =
    "usage: conformance [--impl=NAME|DIR]... [--scenario=ID]... [--runs=N] [options]\n"
    "       conformance --spec=FILE [options] -- PROGRAM ARGS...\n"
    "       conformance --transcript=FILE (--scenario=ID | --spec=FILE) [--junit=FILE] [--html=FILE] [--verbose]\n"
    "       conformance --list [--impl=NAME|DIR]\n";

constexpr char kExitStatuses[] =
    "exit status:\n"
    "  (with several --impl: the worst over every implementation's scenarios)\n"
    "  0    every scenario met its expectation (PASS, or what DIR/expectations allows)\n"
    "  1    a scenario FAILed, or PASSed where the expectations say it fails\n"
    "  2    bad usage: flags, a spec or an expectations file; nothing was run\n"
    "  3    a scenario was UNRESOLVED, or UNSUPPORTED without --allow=unsupported\n"
    "  130  interrupted (SIGINT), 143 (SIGTERM): the summary and JUnit so far are written\n";

// The signal that interrupted the suite, or 0.
std::atomic<int> g_interrupted{0};

extern "C" void OnInterrupt(int sig) { g_interrupted.store(sig); }

int Usage(const std::string& why) {
  std::cerr << "conformance: " << SafeText(why.substr(0, 2000)) << "\n" << kUsage << "(--help for the flags)\n";
  return suite::kExitUsage;
}

void Help() {
  std::cout << kUsage << "\nflags:\n";
  std::map<std::string, const absl::CommandLineFlag*> ours;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::StrContains(flag->Filename(), "conformance_main")) ours[std::string(name)] = flag;
  }
  for (const auto& [name, flag] : ours) {
    std::cout << "  --" << name << (flag->IsOfType<bool>() ? "" : "=...") << "\n      " << flag->Help()
              << (flag->IsOfType<bool>() || flag->DefaultValue().empty() ? "" : absl::StrCat(" (default: ", flag->DefaultValue(), ")"))
              << "\n";
  }
  std::cout << "\n" << kExitStatuses;
}

std::string UserDir() {
  if (const char* d = getenv("BUILD_WORKING_DIRECTORY"); d && *d) return d;
  return std::filesystem::current_path().string();
}

std::string UserPath(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  return (std::filesystem::path(UserDir()) / p).lexically_normal().string();
}

// The runfiles tree's workspace directory ("<runfiles>/mp"), or "".
std::string RunfilesRoot() {
  std::vector<std::string> roots;
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    if (const char* d = getenv(var); d && *d) roots.push_back(d);
  }
  std::error_code ec;
  roots.push_back(std::filesystem::read_symlink("/proc/self/exe", ec).string() + ".runfiles");
  for (const std::string& r : roots) {
    if (std::filesystem::exists(r + "/mp/conformance/scenarios", ec)) return r + "/mp";
  }
  return "";
}

// The file's contents, or why not (its errno's words). At most `limit`
// bytes: a larger file (or an endless one, /dev/zero) is a usage error that
// says so, rather than the runner running out of memory.
absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what, size_t limit) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path, ": it is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path, ": ", std::strerror(errno)));
  std::string text;
  char buf[64 * 1024];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    if (text.size() + static_cast<size_t>(in.gcount()) > limit) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path, ": larger than ",
                                                     limit >> 20, " MiB (is it the right file?)"));
    }
    text.append(buf, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path, ": read error"));
  return text;
}

// Specs and expectations are hand-written text; a transcript is a run's
// output, which the checker bounds at 2^21 lines.
constexpr size_t kMaxSpecBytes = size_t{16} << 20;
constexpr size_t kMaxTranscriptBytes = size_t{1} << 30;

// How runs will be observed, for the report's header.
std::string ObserverLine(bool trace, Observer observer) {
  if (!trace) return "nothing (--no-trace): text-only checks";
  if (observer == Observer::kPtrace) return "ptrace (--observer=ptrace)";
  absl::Status bpf = LoadBpfObserver();
  if (bpf.ok()) return "BPF";
  if (observer == Observer::kBpf) return absl::StrCat("BPF, which cannot load here: ", bpf.message());
  return absl::StrCat("ptrace (no BPF here: ", bpf.message(), ")");
}

// Prints a scenario's line (and its report, unless it passed quietly),
// naming it `label` (the scenario, or IMPL/ID with several --impl).
void Print(const Outcome& o, size_t k, size_t n, bool verbose, const std::string& label) {
  std::string expect;
  if (o.unexpected() && o.expected.results != std::set<Result>{Result::kPass}) expect = "  (unexpected)";
  if (!o.unexpected() && o.result != Result::kPass) expect = "  (expected)";
  std::printf("%s[%zu/%zu] %-24s %-11s %s (%.1f s)%s\n", isatty(1) ? "\r\033[K" : "", k, n, SafeText(label).c_str(),
              suite::ResultName(o.result), SafeText(o.summary.substr(0, 600)).c_str(), o.seconds, expect.c_str());
  if (o.result != Result::kPass || verbose) std::printf("%s", o.details.c_str());
  std::fflush(stdout);
}

// What to write at the end (or at an interruption), besides the text.
struct Outputs {
  std::string junit, timeline, html;
  std::vector<std::string> header;  // The HTML report's, under its title.
};

// Writes what was asked for at the end (or at an interruption). The exit
// status is the worst over all implementations' scenarios.
int Finish(const std::vector<suite::ImplOutcomes>& all, const std::string& suite_name, const Outputs& to,
           const suite::ExitPolicy& policy) {
  std::vector<suite::Outcome> flat;  // ExitCode's input, without the observations.
  for (const suite::ImplOutcomes& impl : all) {
    for (const Outcome& o : impl.outcomes) {
      flat.push_back({.id = o.id, .result = o.result, .expected = o.expected});
    }
  }
  int code = suite::ExitCode(flat, policy);
  if (!to.junit.empty()) {
    std::vector<std::pair<std::string, const std::vector<Outcome>*>> suites;
    for (const suite::ImplOutcomes& impl : all) {
      suites.emplace_back(all.size() == 1 ? suite_name : absl::StrCat(suite_name, ".", impl.impl), &impl.outcomes);
    }
    std::ofstream out(to.junit);
    out << suite::JUnitXml(suites);
    if (!out) {
      std::cerr << "conformance: cannot write the JUnit file " << to.junit << "\n";
      code = std::max(code, suite::kExitUnresolved);
    }
  }
  for (const suite::ImplOutcomes& impl : all) {
    for (const Outcome& o : impl.outcomes) {
      if (to.timeline.empty() || !o.observed) continue;
      std::string path = to.timeline;
      if (all.size() > 1 || impl.outcomes.size() > 1) {  // One file per scenario: t.json -> t.fork.json.
        size_t dot = path.rfind('.');
        if (dot == std::string::npos || dot < path.rfind('/') + 1) dot = path.size();
        const std::string name = std::filesystem::path(impl.dir).filename().string();
        path = absl::StrCat(path.substr(0, dot), all.size() > 1 ? "." + name : "", ".", o.id, path.substr(dot));
      }
      if (absl::Status s = WriteChromeTrace(*o.observed, path); !s.ok()) {
        std::cerr << "conformance: --timeline: " << s.message() << "\n";
        code = std::max(code, suite::kExitUnresolved);
      } else {
        std::printf("conformance: timeline of %s written to %s (open it in Perfetto or chrome://tracing)\n", o.id.c_str(),
                    path.c_str());
      }
    }
  }
  if (!to.html.empty()) {
    suite::HtmlOptions opt;
    opt.header = to.header;
    if (absl::Status s = suite::WriteHtmlReport(suite::HtmlReport(all, opt), to.html); !s.ok()) {
      std::cerr << "conformance: --html: " << s.message() << "\n";
      code = std::max(code, suite::kExitUnresolved);
    } else {
      std::printf("conformance: HTML report written to %s\n", to.html.c_str());
    }
  }
  if (int sig = g_interrupted.load(); sig != 0) return suite::kExitInterrupted + sig;
  return code;
}

// Checks up front that an output file can be written (so a typo fails
// before an hour of runs, not after).
absl::Status Writable(const std::string& path, const char* flag) {
  if (path.empty()) return absl::OkStatus();
  std::ofstream out(path, std::ios::app);
  if (!out) return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

// A single column: the modes that judge one program.
std::vector<suite::ImplOutcomes> One(const std::string& name, Outcome o) {
  std::vector<suite::ImplOutcomes> all(1);
  all[0].impl = name;
  all[0].outcomes.push_back(std::move(o));
  return all;
}

int Main(int argc, char** argv) {
  std::vector<std::string> program;
  bool help = false;
  absl::StatusOr<std::set<std::string>> given = ParseFlags(argc, argv, "conformance_main", {{"perturb", "random"}}, &program, &help);
  if (!given.ok()) return Usage(std::string(given.status().message()));
  if (help) {
    Help();
    return 0;
  }
  const std::set<std::string>& flags = *given;

  // Values every mode checks the same way.
  absl::Duration timeout = absl::InfiniteDuration();
  if (const std::string t = absl::GetFlag(FLAGS_timeout); t != "none") {
    double s = 0;
    if (!absl::SimpleAtod(t, &s) || !std::isfinite(s) || s <= 0 || s > 1e6) {
      return Usage(absl::StrCat("--timeout must be a positive number of seconds (at most 1000000) or none, not '", t, "'"));
    }
    timeout = absl::Seconds(s);
  }
  if (absl::GetFlag(FLAGS_runs) < 1) return Usage(absl::StrCat("--runs must be at least 1, not ", absl::GetFlag(FLAGS_runs)));
  Observer observer = Observer::kAuto;
  if (const std::string o = absl::GetFlag(FLAGS_observer); o == "bpf") {
    observer = Observer::kBpf;
  } else if (o == "ptrace") {
    observer = Observer::kPtrace;
  } else if (o != "auto") {
    return Usage(absl::StrCat("--observer must be auto, bpf or ptrace, not '", o, "'"));
  }
  const std::string stdio = absl::GetFlag(FLAGS_stdio);
  if (!stdio.empty() && stdio != "pty" && stdio != "pipe") {
    return Usage(absl::StrCat("--stdio must be pty or pipe, not '", stdio, "'"));
  }
  const std::string allow = absl::GetFlag(FLAGS_allow);
  if (flags.count("allow") && allow != "unsupported") return Usage(absl::StrCat("--allow must be unsupported, not '", allow, "'"));
  if (!absl::GetFlag(FLAGS_trace) && flags.count("observer")) return Usage("--observer has no meaning with --no-trace");
  uint64_t perturb_seed = 0;
  if (const std::string p = absl::GetFlag(FLAGS_perturb); flags.count("perturb")) {
    if (p == "random") {
      std::ifstream urandom("/dev/urandom", std::ios::binary);
      urandom.read(reinterpret_cast<char*>(&perturb_seed), sizeof(perturb_seed));
      if (perturb_seed == 0) perturb_seed = 1;
    } else if (!(absl::StartsWith(p, "0x") ? absl::SimpleHexAtoi(p.substr(2), &perturb_seed) : absl::SimpleAtoi(p, &perturb_seed)) ||
               perturb_seed == 0) {
      return Usage(absl::StrCat("--perturb=SEED takes a non-zero number (decimal or 0x hex), not '", p, "'"));
    }
    if (!absl::GetFlag(FLAGS_trace)) return Usage("--perturb needs the processes observed; it has no meaning with --no-trace");
    if (observer == Observer::kPtrace) {
      return Usage("--perturb needs the BPF observer (the kernel stops the processes at the perturbation points); "
                   "--observer=ptrace cannot perturb");
    }
    observer = Observer::kBpf;
  }
  for (const auto& [flag, value] : std::vector<std::pair<const char*, std::string>>{
           {"spec", absl::GetFlag(FLAGS_spec)}, {"transcript", absl::GetFlag(FLAGS_transcript)},
           {"junit", absl::GetFlag(FLAGS_junit)}, {"timeline", absl::GetFlag(FLAGS_timeline)},
           {"html", absl::GetFlag(FLAGS_html)}}) {
    if (flags.count(flag) && value.empty()) return Usage(absl::StrCat("--", flag, "= is empty"));
  }
  Outputs to;
  to.junit = flags.count("junit") ? UserPath(absl::GetFlag(FLAGS_junit)) : "";
  to.timeline = flags.count("timeline") ? UserPath(absl::GetFlag(FLAGS_timeline)) : "";
  to.html = flags.count("html") ? UserPath(absl::GetFlag(FLAGS_html)) : "";
  if (absl::Status s = Writable(to.junit, "junit"); !s.ok()) return Usage(std::string(s.message()));
  if (absl::Status s = Writable(to.html, "html"); !s.ok()) return Usage(std::string(s.message()));

  struct sigaction sa = {};
  sa.sa_handler = OnInterrupt;  // No SA_RESTART: a blocking wait returns.
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  suite::RunOptions run;
  run.runs = absl::GetFlag(FLAGS_runs);
  run.timeout = timeout;
  run.trace = absl::GetFlag(FLAGS_trace);
  run.observer = observer;
  run.verbose = absl::GetFlag(FLAGS_verbose);
  run.keep_observation = !to.timeline.empty();
  // --html: each run's chart is drawn as it is judged, no observation kept.
  suite::RunReports run_reports;
  if (!to.html.empty()) {
    run.on_judged = [&](int k, Result r, const Observation& obs, const Verdict& v) { run_reports.Add(k, run.runs, r, obs, v); };
  }
  run.interrupted = &g_interrupted;
  run.perturb = perturb_seed != 0;
  run.perturb_seed = perturb_seed;
  auto stdio_for = [&](const Spec& spec) {
    const std::string s = !stdio.empty() ? stdio : spec.stdio;
    return s == "pty" ? Stdio::kPty : Stdio::kPipe;
  };
  const std::string rf = RunfilesRoot();
  const std::string scenarios_dir = rf.empty() ? "" : rf + "/conformance/scenarios";
  std::vector<suite::ScenarioFile> scenarios;
  if (!rf.empty()) {
    absl::StatusOr<std::vector<suite::ScenarioFile>> s = suite::DiscoverScenarios(scenarios_dir);
    if (s.ok()) scenarios = *std::move(s);
  }
  std::vector<std::string> ids;
  for (const suite::ScenarioFile& s : scenarios) ids.push_back(s.id);
  auto parse_spec = [&](const std::string& path, const std::string& shown) -> absl::StatusOr<Spec> {
    absl::StatusOr<std::string> text = ReadFile(path, "the spec", kMaxSpecBytes);
    if (!text.ok()) return text.status();
    return ParseSpec(*text, shown);
  };
  auto need_runfiles = [&]() -> int {
    std::cerr << "conformance: cannot find the runfiles (conformance/scenarios); run it with "
                 "`tools/bazel run //conformance`\n";
    return suite::kExitUsage;
  };
  // The implementation's directory: a built-in NAME, else a path.
  auto impl_dir = [&](const std::string& impl) -> absl::StatusOr<std::string> {
    if (IsName(impl) && !rf.empty() && std::filesystem::is_directory(absl::StrCat(rf, "/conformance/impls/", impl))) {
      return absl::StrCat(rf, "/conformance/impls/", impl);
    }
    const std::string dir = UserPath(impl);
    if (!std::filesystem::is_directory(dir)) {
      return absl::InvalidArgumentError(absl::StrCat("--impl: ", dir, " is not a directory (nor a built-in: ",
                                                     "mp, cpython, cpython-u, cpython-spawn, cpython-forkserver)"));
    }
    return dir;
  };

  // --list: the scenarios, with a description each.
  if (absl::GetFlag(FLAGS_list)) {
    if (absl::Status s = OnlyFlags(flags, {"list", "impl"}, "with --list"); !s.ok()) return Usage(std::string(s.message()));
    if (rf.empty()) return need_runfiles();
    std::string dir;
    if (flags.count("impl")) {
      if (absl::GetFlag(FLAGS_impl).size() != 1) return Usage("--list takes one --impl");
      absl::StatusOr<std::string> d = impl_dir(absl::GetFlag(FLAGS_impl)[0]);
      if (!d.ok()) return Usage(std::string(d.status().message()));
      dir = *d;
    }
    for (const suite::ScenarioFile& s : scenarios) {
      std::string has;
      if (!dir.empty()) {
        std::optional<suite::ProgramProblem> p = suite::CheckProgram(dir + "/" + s.id);
        has = !p ? "  [has a program]" : p->missing ? "  [no program]" : absl::StrCat("  [", p->why, "]");
      }
      std::printf("%-24s %s%s\n", s.id.c_str(), s.description.c_str(), has.c_str());
    }
    return 0;
  }

  // A recorded transcript against a scenario's spec or the user's own.
  if (flags.count("transcript")) {
    if (absl::Status s = OnlyFlags(flags, {"transcript", "scenario", "spec", "junit", "html", "verbose"},
                                   "with --transcript (it runs nothing)");
        !s.ok()) {
      return Usage(std::string(s.message()));
    }
    if (!program.empty()) return Usage("-- PROGRAM has no meaning with --transcript (it runs nothing)");
    const std::vector<std::string> chosen = absl::GetFlag(FLAGS_scenario);
    if ((flags.count("spec") ? 1 : 0) + chosen.size() != 1) {
      return Usage("--transcript needs exactly one --scenario=ID, or --spec=FILE");
    }
    absl::StatusOr<Spec> spec = absl::InvalidArgumentError("");
    if (flags.count("spec")) {
      spec = parse_spec(UserPath(absl::GetFlag(FLAGS_spec)), absl::GetFlag(FLAGS_spec));
    } else {
      if (rf.empty()) return need_runfiles();
      if (std::find(ids.begin(), ids.end(), chosen[0]) == ids.end()) {
        return Usage(absl::StrCat("unknown scenario '", chosen[0], "' (scenarios: ", absl::StrJoin(ids, ", "), ")"));
      }
      spec = parse_spec(absl::StrCat(scenarios_dir, "/", chosen[0], ".spec"),
                        absl::StrCat("conformance/scenarios/", chosen[0], ".spec"));
    }
    if (!spec.ok()) return Usage(std::string(spec.status().message()));
    absl::StatusOr<std::string> text =
        ReadFile(UserPath(absl::GetFlag(FLAGS_transcript)), "the transcript", kMaxTranscriptBytes);
    if (!text.ok()) return Usage(std::string(text.status().message()));
    Observation obs = ObservationFromTranscript(*text);
    Verdict v = Check(*spec, obs, {.transcript = true});
    Outcome o;
    o.id = spec->scenario;
    o.runs.push_back({});
    o.result = v.pass() ? Result::kPass : v.result == Verdict::kUnresolved ? Result::kUnresolved : Result::kFail;
    o.runs.back().result = o.result;
    o.summary = absl::StrCat("transcript ", absl::GetFlag(FLAGS_transcript), "; ", v.held, " rules held, ",
                             v.not_checkable.size(), " not checkable");
    o.held = v.held;
    o.violated = static_cast<int>(v.violations.size());
    o.not_checkable = static_cast<int>(v.not_checkable.size());
    o.details = FormatVerdict(v, {.verbose = absl::GetFlag(FLAGS_verbose)});
    Print(o, 1, 1, true, o.id);
    if (!to.html.empty()) {
      o.observed = std::move(obs);
      o.verdict = std::move(v);
    }
    to.header = {absl::StrCat("transcript ", absl::GetFlag(FLAGS_transcript), " (text only: no process tree)")};
    return Finish(One("transcript", std::move(o)), "conformance.transcript", to, {});
  }

  // A user's own program against a user's spec.
  if (flags.count("spec")) {
    if (absl::Status s = OnlyFlags(flags, {"spec", "runs", "junit", "timeline", "html", "timeout", "observer", "trace",
                                           "stdio", "verbose", "perturb"},
                                   "with --spec (it judges one program; --impl, --scenario and --allow are for suites)");
        !s.ok()) {
      return Usage(std::string(s.message()));
    }
    if (program.empty()) return Usage("--spec needs -- PROGRAM ARGS...");
    absl::StatusOr<Spec> spec = parse_spec(UserPath(absl::GetFlag(FLAGS_spec)), absl::GetFlag(FLAGS_spec));
    if (!spec.ok()) return Usage(std::string(spec.status().message()));
    if (absl::StrContains(program[0], "/")) {
      program[0] = UserPath(program[0]);
      if (std::optional<suite::ProgramProblem> p = suite::CheckProgram(program[0])) {
        Outcome o;
        o.id = spec->scenario;
        o.result = Result::kUnresolved;
        o.summary = absl::StrCat("cannot run the program: ", p->why);
        Print(o, 1, 1, false, o.id);
        return Finish(One(program[0], std::move(o)), "conformance.spec", to, {});
      }
    }
    std::vector<std::string> user_env;
    for (char** e = environ; *e; ++e) user_env.push_back(*e);
    run.stdio = stdio_for(*spec);
    to.header = {absl::StrCat("observed by ", ObserverLine(run.trace, observer), "; ", run.runs, " run(s)")};
    std::printf("conformance: observed by %s; stdio: %s%s\n", ObserverLine(run.trace, observer).c_str(),
                run.stdio == Stdio::kPty ? "pty" : "pipe",
                run.perturb ? absl::StrCat("; perturbed, seed 0x", absl::Hex(perturb_seed)).c_str() : "");
    if (isatty(1)) {
      run.on_run = [&](int k) {
        std::printf("\r\033[K[1/1] %s %d/%d", spec->scenario.c_str(), k, run.runs);
        std::fflush(stdout);
      };
    }
    Outcome o = suite::RunScenario(*spec, program, UserDir(), user_env, run);
    o.run_reports = run_reports.Take();
    Print(o, 1, 1, run.verbose, o.id);
    return Finish(One(program[0], std::move(o)), "conformance.spec", to, {});
  }

  // One implementation directory or several, side by side.
  if (!program.empty()) return Usage("-- PROGRAM needs --spec=FILE (an implementation brings its own programs)");
  if (rf.empty()) return need_runfiles();
  std::vector<std::string> impls = absl::GetFlag(FLAGS_impl);
  if (impls.empty()) impls = {"mp"};
  std::vector<std::string> chosen = absl::GetFlag(FLAGS_scenario);
  for (auto it = chosen.begin(); it != chosen.end(); ++it) {
    if (std::find(ids.begin(), ids.end(), *it) == ids.end()) {
      return Usage(absl::StrCat("unknown scenario '", *it, "' (scenarios: ", absl::StrJoin(ids, ", "), ")"));
    }
    // Twice would run it twice and write its timeline file over itself.
    if (std::find(chosen.begin(), it, *it) != it) return Usage(absl::StrCat("--scenario=", *it, " is given twice"));
  }
  if (chosen.empty()) chosen = ids;
  // Every directory and expectations file is checked before anything runs.
  std::vector<suite::ImplOutcomes> all;
  std::vector<suite::Expectations> expectations;
  for (const std::string& impl : impls) {
    for (const suite::ImplOutcomes& a : all) {
      if (a.impl == impl) return Usage(absl::StrCat("--impl=", impl, " is given twice"));
    }
    absl::StatusOr<std::string> dir = impl_dir(impl);
    if (!dir.ok()) return Usage(std::string(dir.status().message()));
    all.push_back({impl, *dir, {}});
    expectations.emplace_back();
    if (std::filesystem::exists(*dir + "/expectations")) {
      absl::StatusOr<std::string> text = ReadFile(*dir + "/expectations", "the expectations", kMaxSpecBytes);
      if (!text.ok()) return Usage(std::string(text.status().message()));
      absl::StatusOr<suite::Expectations> e = suite::ParseExpectations(*text, *dir + "/expectations", ids);
      if (!e.ok()) return Usage(std::string(e.status().message()));
      expectations.back() = *std::move(e);
    }
  }
  for (const suite::ImplOutcomes& a : all) {
    std::printf("conformance: implementation %s (%s), %zu scenario(s), %d run(s) each\n", a.impl.c_str(), a.dir.c_str(),
                chosen.size(), run.runs);
  }
  std::printf("conformance: observed by %s\n", ObserverLine(run.trace, observer).c_str());
  to.header = {absl::StrCat("observed by ", ObserverLine(run.trace, observer), "; ", run.runs, " run(s) of each scenario")};
  if (run.perturb) {
    std::printf("conformance: perturbed schedules, seed 0x%llx (runs after the first derive theirs from it)\n",
                static_cast<unsigned long long>(perturb_seed));
    to.header.push_back(absl::StrCat("perturbed schedules, seed 0x", absl::Hex(perturb_seed)));
  }
  const std::vector<std::string> env = {"PATH=" + std::string(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"),
                                        "LANG=C.UTF-8"};
  const size_t n = chosen.size() * all.size();
  size_t k = 0;
  for (size_t i = 0; i < all.size() && g_interrupted.load() == 0; ++i) {
    suite::ImplOutcomes& impl = all[i];
    for (const std::string& id : chosen) {
      if (g_interrupted.load() != 0) break;
      ++k;
      Outcome o;
      o.id = id;
      absl::StatusOr<Spec> spec =
          parse_spec(absl::StrCat(scenarios_dir, "/", id, ".spec"), absl::StrCat("conformance/scenarios/", id, ".spec"));
      const std::string exe = absl::StrCat(impl.dir, "/", id);
      if (!spec.ok()) {
        o.result = Result::kUnresolved;
        o.summary = std::string(spec.status().message());
      } else if (std::optional<suite::ProgramProblem> p = suite::CheckProgram(exe)) {
        o.result = p->missing ? Result::kUnsupported : Result::kUnresolved;
        o.summary = p->missing ? absl::StrCat("no program '", id, "' in implementation ", impl.impl) : p->why;
      } else {
        run.stdio = stdio_for(*spec);
        if (isatty(1)) {
          run.on_run = [&](int r) {
            std::printf("\r\033[K[%zu/%zu] %-24s %d/%d", k, n, id.c_str(), r, run.runs);
            std::fflush(stdout);
          };
        }
        o = suite::RunScenario(*spec, {exe}, "", env, run);
        o.run_reports = run_reports.Take();
      }
      if (auto it = expectations[i].find(id); it != expectations[i].end()) o.expected = it->second;
      Print(o, k, n, run.verbose, all.size() > 1 ? absl::StrCat(impl.impl, "/", id) : id);
      impl.outcomes.push_back(std::move(o));
    }
  }
  for (const suite::ImplOutcomes& impl : all) {
    int counts[4] = {0, 0, 0, 0};
    int unexpected = 0;
    for (const Outcome& o : impl.outcomes) {
      ++counts[static_cast<int>(o.result)];
      unexpected += o.unexpected();
    }
    std::printf("conformance: %s%d PASS, %d FAIL, %d UNRESOLVED, %d UNSUPPORTED; %d unexpected%s\n",
                all.size() > 1 ? absl::StrCat(impl.impl, ": ").c_str() : "", counts[0], counts[1], counts[2], counts[3],
                unexpected,
                g_interrupted.load() != 0
                    ? absl::StrCat("; interrupted after ", impl.outcomes.size(), " of ", chosen.size(), " scenarios").c_str()
                    : "");
  }
  if (all.size() > 1) std::printf("\n%s\n", suite::MatrixText(all).c_str());
  return Finish(all, all.size() == 1 ? absl::StrCat("conformance.", impls[0]) : "conformance", to,
                {.allow_unsupported = allow == "unsupported"});
}

}  // namespace
}  // namespace conformance

int main(int argc, char** argv) { return conformance::Main(argc, argv); }
