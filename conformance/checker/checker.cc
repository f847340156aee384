#include "conformance/checker/checker.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "conformance/checker/model.h"
#include "conformance/checker/solver.h"

namespace conformance {
namespace {

using internal::Assignment;
using rules::Model;
using rules::Outcome;
using rules::World;

RuleOutcome Make(const Model& m, std::string rule, Loc loc, Outcome o, std::string message,
                 const std::vector<int>& lines) {
  RuleOutcome r{std::move(rule), std::move(loc), o, std::move(message), {}};
  for (size_t i = 0; i < lines.size() && i < kMaxShownLines; ++i) r.lines.push_back(m.lines[lines[i]]);
  return r;
}

// The outcome of every rule under one assignment, with the reasons.
std::vector<RuleOutcome> Evaluate(const Model& m, const Assignment& a, std::map<std::string, long>* pids) {
  World w(m);
  const size_t P = m.spec->lines.size();
  std::vector<int> in_order;
  for (size_t p = 0; p < P; ++p) {
    if (a[p] < 0) {
      w.SetAbsent(static_cast<int>(p));
      continue;
    }
    w.Assign(static_cast<int>(p), a[p]);
    in_order.push_back(static_cast<int>(p));
  }
  std::sort(in_order.begin(), in_order.end(), [&](int x, int y) { return w.LineIndexOf(x) < w.LineIndexOf(y); });

  // Names and variables bind in output order: the first line that gives a
  // value binds it, a later different value is a violation.
  std::vector<RuleOutcome> binding;
  auto conflict = [&](const std::string& what, const std::string& was, int was_line, const std::string& now,
                      int now_line, const Loc& loc) {
    std::vector<int> lines = {now_line};
    if (was_line >= 0) lines.insert(lines.begin(), was_line);
    binding.push_back(Make(m, absl::StrCat("same name, same value: ", what), loc, Outcome::kViolated,
                           absl::StrCat(what, " is ", was, was_line >= 0 ? absl::StrCat(" in line #", was_line + 1) : "",
                                        " and ", now, " in line #", now_line + 1),
                           lines));
  };
  for (int p : in_order) {
    const int line = w.LineIndexOf(p);
    const std::vector<rules::Slot>& slots = w.SlotsOf(p);
    absl::Span<const absl::string_view> caps = w.Captures(p);
    for (size_t k = 0; k < slots.size(); ++k) {
      const int id = slots[k].id;
      if (slots[k].kind == Segment::kPid) {
        long v = 0;
        (void)absl::SimpleAtoi(caps[k], &v);
        if (!w.Pid(id)) {
          w.Bind(id, static_cast<pid_t>(v), line);
        } else if (*w.Pid(id) != v) {
          const Line* was = w.BoundBy(id);
          conflict(m.names[id], absl::StrCat(*w.Pid(id)), was ? was->seq : -1, std::string(caps[k]), line,
                   m.spec->lines[p].loc);
        }
      } else if (!w.Var(id)) {
        w.SetVar(id, caps[k], line);
      } else if (*w.Var(id) != caps[k]) {
        conflict(m.vars[id], std::string(*w.Var(id)), w.VarLine(id)->seq, std::string(caps[k]), line,
                 m.spec->lines[p].loc);
      }
    }
    if (m.traced && m.by[p] >= 0 && !w.Pid(m.by[p])) w.Bind(m.by[p], m.lines[line].pid, line);
  }
  for (size_t n = 0; n < m.names.size(); ++n) {
    if (!w.Pid(static_cast<int>(n)) && m.fixed_pid[n] != 0) w.Bind(static_cast<int>(n), m.fixed_pid[n], -1);
  }
  if (m.traced) {
    for (size_t n = 0; n < m.names.size(); ++n) {
      std::optional<pid_t> pid = w.Pid(static_cast<int>(n));
      if (!pid || m.Proc(*pid) != nullptr) continue;
      const Line* l = w.BoundBy(static_cast<int>(n));
      binding.push_back(Make(m, absl::StrCat("process ", m.names[n], " is a process of this run"),
                             m.spec->processes[n].loc, Outcome::kViolated,
                             absl::StrCat(m.names[n], " claims pid ", *pid, ", but no process of this run has that pid"),
                             l ? std::vector<int>{l->seq} : std::vector<int>{}));
    }
  }
  for (size_t n = 0; n < m.names.size(); ++n) {
    if (std::optional<pid_t> pid = w.Pid(static_cast<int>(n))) (*pids)[m.names[n]] = *pid;
  }

  w.SetFinal(true);
  std::vector<int> shown;
  int count = internal::UnexpectedLines(m, w, kMaxShownLines, &shown);
  w.SetUnexpected(std::move(shown), count);

  std::vector<RuleOutcome> out;
  const std::string untraced = m.obs->untraced_reason.empty() ? "not traced" : m.obs->untraced_reason;
  for (const rules::BoundRule& r : m.rules) {
    if (r.kind->needs_trace && !m.traced) {
      out.push_back(Make(m, r.rule->text, r.rule->loc, Outcome::kNotCheckable,
                         absl::StrCat("needs the process tree; this run is text only (", untraced, ")"), {}));
      continue;
    }
    rules::Result res = r.kind->check(r, w, true);
    if (res.outcome == Outcome::kPending) {  // A check's bug: never on a final World.
      res.outcome = Outcome::kNotCheckable;
      res.message = "internal error: the check could not decide on a complete assignment";
    }
    out.push_back(Make(m, r.rule->text, r.rule->loc, res.outcome, std::move(res.message), res.lines));
  }
  for (RuleOutcome& b : binding) out.push_back(std::move(b));
  return out;
}

bool AnyViolated(const std::vector<RuleOutcome>& outcomes) {
  for (const RuleOutcome& o : outcomes) {
    if (o.outcome == Outcome::kViolated) return true;
  }
  return false;
}

}  // namespace

Verdict Check(const Spec& spec, const Observation& obs, const CheckOptions& options) {
  Verdict v;
  if (!obs.traced) v.untraced_reason = obs.untraced_reason.empty() ? "not traced" : obs.untraced_reason;
  absl::StatusOr<std::unique_ptr<Model>> built = internal::BuildModel(spec, obs, options.transcript);
  if (!built.ok()) {
    v.result = Verdict::kUnresolved;
    v.unresolved = absl::StrCat("the checker could not compile the spec: ", built.status().message());
    return v;
  }
  Model& m = **built;

  // A greedy assignment first: a correct run almost always passes with it.
  Assignment a = internal::Greedy(m);
  std::map<std::string, long> pids;
  v.outcomes = Evaluate(m, a, &pids);
  if (AnyViolated(v.outcomes)) {
    internal::Solution s = internal::Solve(m, {.max_steps = options.max_steps, .time_limit = options.time_limit});
    v.search_steps = s.steps;
    v.search_time = s.elapsed;
    if (s.outcome == internal::Solution::kFound) {
      std::map<std::string, long> found_pids;
      std::vector<RuleOutcome> found = Evaluate(m, s.assignment, &found_pids);
      // The exact search's assignment explains best what is left: only the
      // rules the observation alone violates (if any) fail there.
      v.outcomes = std::move(found);
      pids = std::move(found_pids);
      if (AnyViolated(v.outcomes) && s.unconditional.empty()) {
        v.result = Verdict::kUnresolved;
        v.unresolved = "internal error: the search's assignment violates a rule it checked";
      }
    } else if (s.outcome == internal::Solution::kBudget && s.unconditional.empty()) {
      v.result = Verdict::kUnresolved;
      v.unresolved = s.why;
    }
  }
  if (v.result != Verdict::kUnresolved) v.result = AnyViolated(v.outcomes) ? Verdict::kFail : Verdict::kPass;
  if (m.lines_dropped > 0) {
    v.incomplete = absl::StrCat("the output has ", m.lines.size() + m.lines_dropped, " lines; the checker judged the first ",
                                m.lines.size());
    if (v.result == Verdict::kPass) {
      v.result = Verdict::kUnresolved;
      v.unresolved = v.incomplete;
    }
  }
  for (const RuleOutcome& o : v.outcomes) {
    if (o.outcome == Outcome::kViolated) v.violations.push_back(o);
    if (o.outcome == Outcome::kHeld) ++v.held;
    if (o.outcome == Outcome::kNotCheckable) {
      v.not_checkable.push_back(absl::StrCat(o.loc.ToString(), ": ", o.rule, ": ", o.message));
    }
  }
  v.pids = std::move(pids);
  v.lines = std::move(m.lines);  // The model is done with.
  return v;
}

namespace {

std::string ShowLine(const Line& l) {
  return absl::StrCat("      #", l.seq + 1, " ", ShowWriter(l), " ", ShowText(l.text),
                      l.torn ? "   (reassembled: torn by another process)" : "", l.no_newline ? "   (no newline)" : "",
                      "\n");
}

void AppendOutcome(std::string* out, const char* what, const RuleOutcome& o) {
  absl::StrAppend(out, "  ", what, ": ", o.rule, "  (", o.loc.ToString(), ")\n");
  if (!o.message.empty()) absl::StrAppend(out, "      ", ShowText(o.message, 2000), "\n");
  for (const Line& l : o.lines) *out += ShowLine(l);
}

}  // namespace

std::string FormatVerdict(const Verdict& v, const FormatOptions& opt) {
  std::string out;
  if (v.result == Verdict::kUnresolved) absl::StrAppend(&out, "  unresolved: ", v.unresolved, "\n");
  if (!v.incomplete.empty() && v.result != Verdict::kUnresolved) {
    absl::StrAppend(&out, "  incomplete judgement: ", v.incomplete, "\n");
  }
  for (size_t i = 0; i < v.violations.size() && i < opt.max_violations; ++i) {
    AppendOutcome(&out, "violated", v.violations[i]);
  }
  if (v.violations.size() > opt.max_violations) {
    absl::StrAppend(&out, "  ... and ", v.violations.size() - opt.max_violations, " more violations\n");
  }
  if (!v.violations.empty() || v.result == Verdict::kUnresolved || opt.verbose) {
    absl::StrAppend(&out, "  observed output (line, writing pid, text):\n");
    const size_t n = opt.verbose ? v.lines.size() : std::min(v.lines.size(), opt.max_lines);
    for (size_t i = 0; i < n; ++i) out += ShowLine(v.lines[i]);
    if (n < v.lines.size()) absl::StrAppend(&out, "      ... and ", v.lines.size() - n, " more lines\n");
  }
  if (opt.verbose) {
    for (const RuleOutcome& o : v.outcomes) {
      if (o.outcome == rules::Outcome::kHeld) AppendOutcome(&out, "held", o);
    }
  }
  if (!v.not_checkable.empty()) {
    absl::StrAppend(&out, "  not checkable",
                    v.untraced_reason.empty() ? "" : absl::StrCat(" (text-only check: ", v.untraced_reason, ")"), ":\n");
    for (const std::string& s : v.not_checkable) absl::StrAppend(&out, "      ", s, "\n");
  }
  absl::StrAppend(&out, "  rules: ", v.held, " held, ", v.violations.size(), " violated, ", v.not_checkable.size(),
                  " not checkable\n");
  return out;
}

}  // namespace conformance
