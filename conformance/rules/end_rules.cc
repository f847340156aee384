// Rules about how and when processes ended: exit, exited ... before,
// reported-parent, no-leftovers. They all need the process tree.

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "conformance/observation/wait_status.h"
#include "conformance/rules/registry.h"

namespace conformance::rules {
namespace {

const std::string& NameOf(const World& w, int n) { return w.model().names[n]; }

enum ExitForm { kCode = 0, kSignal = 1, kReturncode = 2 };

std::string ParseExit(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  if (w.size() != 4 || !IsIdent(w, 1)) {
    return "expected `exit NAME code N`, `exit NAME signal SIGNAME` or `exit NAME returncode VAR`";
  }
  rule->names = {w[1].text};
  if (IsWord(w, 2, "code")) {
    if (w[3].kind != Word::kNumber || !absl::SimpleAtoi(w[3].text, &rule->n) || rule->n < 0 || rule->n > 255) {
      return absl::StrCat("exit code must be an integer 0..255, not '", w[3].text, "'");
    }
    rule->variant = kCode;
  } else if (IsWord(w, 2, "signal")) {
    std::optional<int> no = SignalNumber(w[3].text);
    if (!no) return absl::StrCat("unknown signal '", w[3].text, "' (write e.g. SIGTERM)");
    rule->n = *no;
    rule->variant = kSignal;
  } else if (IsWord(w, 2, "returncode") && IsIdent(w, 3)) {
    rule->vars = {w[3].text};
    rule->variant = kReturncode;
  } else {
    return absl::StrCat("expected `code`, `signal` or `returncode` after `exit ", w[1].text, "`");
  }
  *pos = w.size();
  return "";
}

Result CheckExit(const BoundRule& r, const World& w, bool explain) {
  const int n = r.names[0];
  Result out;
  if (!NamesBound(r, w, explain, &out)) return out;
  WaitStatus want = WaitStatus::Exited(0);
  switch (r.rule->variant) {
    case kCode: want = WaitStatus::Exited(r.rule->n); break;
    case kSignal: want = WaitStatus::Signaled(r.rule->n); break;
    default: {
      if (!w.VarDecided(r.vars[0])) return Pending();
      std::optional<absl::string_view> v = w.Var(r.vars[0]);
      int rc = 0;
      if (!v) return NotCheckable(explain, absl::StrCat("no output line gave ", r.rule->vars[0]));
      if (!absl::SimpleAtoi(*v, &rc)) return Violated(explain, absl::StrCat(r.rule->vars[0], " = ", *v, " is no returncode"));
      want = WaitStatus::FromReturncode(rc);
    }
  }
  const pid_t pid = *w.Pid(n);
  const ProcessRecord* p = ProcessOf(w, n, explain, &out);
  if (p == nullptr) return out;
  if (!p->exit) {
    return Violated(explain, absl::StrCat(NameOf(w, n), " (pid ", pid, ") had not exited; the runner killed it"));
  }
  if (*p->exit != want) {
    return Violated(explain, absl::StrCat(NameOf(w, n), " (pid ", pid, ") ", p->exit->ToString(), "; expected ",
                                          want.ToString()));
  }
  return Held(explain);
}

std::string ParseExited(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  if (w.size() != 4 || !IsIdent(w, 1) || !IsWord(w, 2, "before") || !IsIdent(w, 3)) {
    return "expected `exited NAME before LABEL`";
  }
  rule->names = {w[1].text};
  rule->labels = {w[3].text};
  *pos = w.size();
  return "";
}

Result CheckExited(const BoundRule& r, const World& w, bool explain) {
  const int n = r.names[0], p = r.labels[0];
  if (!w.Decided(p)) return Pending();
  const Line* l = w.LineOf(p);
  if (l == nullptr) {
    if (w.spec().lines[p].optional) return Held(explain, "vacuously: the optional line was not printed");
    return NotCheckable(explain, absl::StrCat("its line '", w.spec().lines[p].label, "' is missing"));
  }
  Result out;
  if (!NamesBound(r, w, explain, &out)) return out;
  const ProcessRecord* proc = ProcessOf(w, n, explain, &out);
  if (proc == nullptr) return out;
  if (!proc->ended || *proc->ended > l->at) {
    return Violated(explain,
                    absl::StrCat("'", w.spec().lines[p].label, "' was written while ", NameOf(w, n), " (pid ",
                                 proc->pid, ") was still running"),
                    {l->seq});
  }
  return Held(explain);
}

std::string ParseReportedParent(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  if (w.size() != 4 || !IsIdent(w, 1) || !IsWord(w, 2, "of") || !IsIdent(w, 3)) {
    return "expected `reported-parent VAR of NAME`";
  }
  rule->vars = {w[1].text};
  rule->names = {w[3].text};
  *pos = w.size();
  return "";
}

Result CheckReportedParent(const BoundRule& r, const World& w, bool explain) {
  const int v = r.vars[0], n = r.names[0];
  if (!w.VarDecided(v)) return Pending();
  Result out;
  if (!NamesBound(r, w, explain, &out)) return out;
  std::optional<absl::string_view> value = w.Var(v);
  if (!value) return NotCheckable(explain, absl::StrCat("no output line gave ", r.rule->vars[0]));
  const ProcessRecord* c = ProcessOf(w, n, explain, &out);
  if (c == nullptr) return out;
  long reported = 0;
  (void)absl::SimpleAtoi(*value, &reported);
  if (reported == c->forked_by) return Held(explain);
  // getppid() names the reaper once the forker has exited: the process it
  // was reparented to, which is the runner (the child subreaper).
  const Line* l = w.VarLine(v);
  const std::vector<int> lines = l ? std::vector<int>{l->seq} : std::vector<int>{};
  const ProcessRecord* forker = w.model().Proc(c->forked_by);
  const bool forker_gone = forker != nullptr && forker->ended && l != nullptr && *forker->ended <= l->at;
  if (!forker_gone) {
    return Violated(explain,
                    absl::StrCat(NameOf(w, n), " (pid ", c->pid, ") reports parent ", reported, ", but pid ",
                                 c->forked_by, " forked it and was still running"),
                    lines);
  }
  const pid_t reaper = w.obs().reaper;
  if (reaper == 0) {
    return NotCheckable(explain, absl::StrCat("its forker, pid ", c->forked_by,
                                              ", had exited; the observation does not say who reaps orphans"));
  }
  if (reported == reaper) {
    return Held(explain, absl::StrCat("its forker, pid ", c->forked_by, ", had exited; pid ", reaper, " reaps it"));
  }
  return Violated(explain,
                  absl::StrCat(NameOf(w, n), " (pid ", c->pid, ") reports parent ", reported, ", but its forker, pid ",
                               c->forked_by, ", had exited and pid ", reaper, " (the runner) reaps it"),
                  lines);
}

std::string ParseNoLeftovers(const std::vector<Word>& w, size_t* pos, Rule*) {
  if (w.size() != 1) return "`no-leftovers` takes no arguments";
  *pos = w.size();
  return "";
}

Result CheckNoLeftovers(const BoundRule&, const World& w, bool explain) {
  // A leftover outlived the root's exit. A run whose timeout killed the root
  // had none: the runner killed the whole tree, which the timeout's own rule
  // reports (listing the root here too reported one fault under two rules).
  const std::vector<ProcessRecord>& procs = w.obs().processes;
  if (w.obs().timed_out && !procs.empty() && procs[0].killed_by_runner) {
    return NotCheckable(explain, "the run timed out before its root exited, so nothing outlived the root");
  }
  std::vector<pid_t> left;
  for (const ProcessRecord& p : w.obs().processes) {
    if (p.killed_by_runner) left.push_back(p.pid);
  }
  if (left.empty()) return Held(explain);
  if (!explain) return Violated(false, "");
  constexpr size_t kShown = 20;
  std::string pids = absl::StrJoin(left.begin(), left.begin() + std::min(left.size(), kShown), ", pid ");
  if (left.size() > kShown) absl::StrAppend(&pids, " and ", left.size() - kShown, " more");
  return Violated(true, absl::StrCat(left.size() == 1 ? "left behind, killed by the runner: pid "
                                                      : absl::StrCat(left.size(), " left behind, killed by the runner: pid "),
                                     pids));
}

}  // namespace

std::vector<Kind> EndKinds() {
  return {
      {"exit", Kind::kStatement, "exit NAME code N`, `exit NAME signal SIGNAME`, `exit NAME returncode VAR",
       "NAME exited with N, or was killed by SIGNAME, or ended as Python's returncode VAR says (N >= 0: exited "
       "with N; -N: killed by signal N).",
       true, ParseExit, CheckExit},
      {"exited", Kind::kStatement, "exited NAME before LABEL",
       "Line LABEL was written after NAME had exited (a join).", true, ParseExited, CheckExited},
      {"reported-parent", Kind::kStatement, "reported-parent VAR of NAME",
       "{int VAR} is NAME's forker; or the forker had already exited when the line was written, and VAR is the "
       "process NAME was reparented to (the runner, the child subreaper), as getppid() then says.",
       true, ParseReportedParent, CheckReportedParent},
      {"no-leftovers", Kind::kStatement, "no-leftovers",
       "No process was still alive 2 s after the root exited (the runner kills and lists them). Not checkable "
       "when the run's timeout killed the root: nothing outlived it.",
       true, ParseNoLeftovers, CheckNoLeftovers},
  };
}

}  // namespace conformance::rules
