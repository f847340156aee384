// Rules about which process a name is: the clauses of `process NAME ...`
// (is root, child of, execs), and distinct / at-most.

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "conformance/rules/registry.h"

namespace conformance::rules {
namespace {

const std::string& NameOf(const World& w, int n) { return w.model().names[n]; }

// "pid 12 (from line #3)" or "pid 12 (the root)": where a binding came from.
std::string Where(const World& w, int n) {
  const Line* l = w.BoundBy(n);
  if (l == nullptr) return absl::StrCat("pid ", *w.Pid(n));
  return absl::StrCat("pid ", *w.Pid(n), " (from output line #", l->seq + 1, ")");
}

std::string ParseIsRoot(const std::vector<Word>&, size_t* pos, Rule* rule) {
  rule->text = absl::StrCat("process ", rule->names[0], " is root");
  *pos += 2;
  return "";
}

Result CheckIsRoot(const BoundRule& r, const World& w, bool explain) {
  Result out;
  if (!NamesBound(r, w, explain, &out)) return out;
  if (*w.Pid(r.names[0]) != w.model().root) {
    const Line* l = w.BoundBy(r.names[0]);
    return Violated(explain,
                    absl::StrCat(NameOf(w, r.names[0]), " is ", Where(w, r.names[0]), ", but the root is pid ",
                                 w.model().root),
                    l ? std::vector<int>{l->seq} : std::vector<int>{});
  }
  return Held(explain);
}

// `child of NAME`, `descendant of NAME`: the clause's two words, then a name.
std::string ParseRelation(const std::vector<Word>& w, size_t* pos, Rule* rule, const char* relation) {
  if (!IsIdent(w, *pos + 2)) return absl::StrCat("expected a process name after `", relation, "`");
  rule->names.push_back(w[*pos + 2].text);
  rule->text = absl::StrCat("process ", rule->names[0], " ", relation, " ", rule->names[1]);
  *pos += 3;
  return "";
}

std::string ParseChildOf(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  return ParseRelation(w, pos, rule, "child of");
}

Result CheckChildOf(const BoundRule& r, const World& w, bool explain) {
  const int c = r.names[0], p = r.names[1];
  Result out;
  if (!NamesBound(r, w, explain, &out)) return out;
  const ProcessRecord* child = ProcessOf(w, c, explain, &out);
  if (child == nullptr) return out;
  if (child->forked_by != *w.Pid(p)) {
    return Violated(explain, absl::StrCat(NameOf(w, c), " (", Where(w, c), ") was forked by pid ", child->forked_by,
                                          ", not by ", NameOf(w, p), " (", Where(w, p), ")"));
  }
  return Held(explain);
}

std::string Quoted(const std::string& s) { return absl::StrCat("\"", s, "\""); }

// execs "PROGRAM" [args ["ARG"]...]
std::string ParseExecs(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  size_t k = *pos + 1;
  if (k >= w.size() || w[k].kind != Word::kString || w[k].text.empty()) {
    return "expected `execs \"PROGRAM\" [args \"ARG\"...]` (a non-empty string)";
  }
  rule->str = w[k].text;
  rule->text = absl::StrCat("process ", rule->names[0], " execs ", Quoted(rule->str));
  ++k;
  if (IsWord(w, k, "args")) {
    rule->variant = 1;  // The arguments are checked too.
    absl::StrAppend(&rule->text, " args");
    for (++k; k < w.size() && w[k].kind == Word::kString; ++k) {
      rule->strs.push_back(w[k].text);
      absl::StrAppend(&rule->text, " ", Quoted(w[k].text));
    }
  }
  *pos = k;
  return "";
}

Result CheckExecs(const BoundRule& r, const World& w, bool explain) {
  const int n = r.names[0];
  Result out;
  if (!NamesBound(r, w, explain, &out)) return out;
  const ProcessRecord* p = ProcessOf(w, n, explain, &out);
  if (p == nullptr) return out;
  if (!Executed(*p, *r.rule)) {
    return Violated(explain, absl::StrCat(NameOf(w, n), " (", Where(w, n), ") ",
                                          p->execs.empty() ? "executed nothing"
                                                           : absl::StrCat("first executed ", ShowExec(p->execs[0]))));
  }
  return Held(explain);
}

std::string ParseDescendantOf(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  return ParseRelation(w, pos, rule, "descendant of");
}

Result CheckDescendantOf(const BoundRule& r, const World& w, bool explain) {
  const int c = r.names[0], a = r.names[1];
  Result out;
  if (!NamesBound(r, w, explain, &out)) return out;
  const ProcessRecord* p = ProcessOf(w, c, explain, &out);
  if (p == nullptr) return out;
  std::vector<pid_t> chain;  // Who forked whom, from the process up.
  for (size_t hops = 0; p != nullptr && p->forked_by != 0 && hops < w.model().procs.size(); ++hops) {
    if (p->forked_by == *w.Pid(a)) return Held(explain);
    chain.push_back(p->forked_by);
    p = w.model().Proc(p->forked_by);
  }
  return Violated(explain, absl::StrCat(NameOf(w, c), " (", Where(w, c), ") descends from ",
                                        chain.empty() ? "no process of this run" : absl::StrCat("pid ", absl::StrJoin(chain, ", pid ")),
                                        ", not from ", NameOf(w, a), " (", Where(w, a), ")"));
}

std::string ParseNoExec(const std::vector<Word>&, size_t* pos, Rule* rule) {
  rule->text = absl::StrCat("process ", rule->names[0], " no-exec");
  *pos += 1;
  return "";
}

Result CheckNoExec(const BoundRule& r, const World& w, bool explain) {
  const int n = r.names[0];
  Result out;
  if (!NamesBound(r, w, explain, &out)) return out;
  const ProcessRecord* p = ProcessOf(w, n, explain, &out);
  if (p == nullptr) return out;
  if (p->execs.empty()) return Held(explain);
  return Violated(explain, absl::StrCat(NameOf(w, n), " (", Where(w, n), ") executed ", ShowExec(p->execs[0]),
                                        ": it runs another program than the process that forked it"));
}

std::string ParseNames(const std::vector<Word>& w, size_t first, Rule* rule) {
  for (size_t k = first; k < w.size(); ++k) {
    if (!IsIdent(w, k)) return absl::StrCat("expected a process name, found '", w[k].text, "'");
    rule->names.push_back(w[k].text);
  }
  return "";
}

std::string ParseDistinct(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  if (w.size() < 3) return "expected `distinct NAME NAME...` (at least two names)";
  *pos = w.size();
  return ParseNames(w, 1, rule);
}

Result CheckDistinct(const BoundRule& r, const World& w, bool explain) {
  bool pending = false;
  for (size_t i = 0; i < r.names.size(); ++i) {
    if (!w.NameDecided(r.names[i])) pending = true;
    for (size_t j = 0; j < i; ++j) {
      std::optional<pid_t> a = w.Pid(r.names[j]), b = w.Pid(r.names[i]);
      if (a && b && *a == *b) {
        std::vector<int> lines;
        for (int n : {r.names[j], r.names[i]}) {
          if (const Line* l = w.BoundBy(n)) lines.push_back(l->seq);
        }
        return Violated(explain,
                        absl::StrCat(NameOf(w, r.names[j]), " and ", NameOf(w, r.names[i]), " are the same pid ", *a),
                        lines);
      }
    }
  }
  if (pending) return Pending();
  Result unbound;
  if (UnboundNames(r, w, explain, &unbound)) return unbound;
  return Held(explain);
}

std::string ParseAtMost(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  if (w.size() < 4 || w[1].kind != Word::kNumber || !absl::SimpleAtoi(w[1].text, &rule->n) || rule->n < 1 ||
      !IsWord(w, 2, "distinct")) {
    return "expected `at-most N distinct NAME NAME...` with N >= 1";
  }
  *pos = w.size();
  return ParseNames(w, 3, rule);
}

Result CheckAtMost(const BoundRule& r, const World& w, bool explain) {
  std::set<pid_t> seen;
  bool pending = false;
  for (int n : r.names) {
    if (!w.NameDecided(n)) pending = true;
    if (std::optional<pid_t> p = w.Pid(n)) seen.insert(*p);
  }
  if (static_cast<int>(seen.size()) > r.rule->n) {
    return Violated(explain, absl::StrCat(seen.size(), " distinct pids (", absl::StrJoin(seen, ", "), "); at most ",
                                          r.rule->n));
  }
  if (pending) return Pending();
  Result unbound;
  if (UnboundNames(r, w, explain, &unbound)) return unbound;
  return Held(explain);
}

}  // namespace

bool Executed(const ProcessRecord& p, const Rule& execs) {
  if (p.execs.empty()) return false;
  const ExecRecord& e = p.execs[0];
  // What the process asked to run; argv[0] only from observers that cannot
  // tell (it is the program's own say, so it can lie).
  absl::string_view path = !e.path.empty() ? absl::string_view(e.path) : e.argv.empty() ? "" : absl::string_view(e.argv[0]);
  if (size_t slash = path.rfind('/'); slash != absl::string_view::npos) path.remove_prefix(slash + 1);
  if (path != execs.str) return false;
  if (execs.variant == 1) {
    if (e.argv.empty() || e.argv.size() - 1 != execs.strs.size()) return false;
    for (size_t i = 0; i < execs.strs.size(); ++i) {
      if (e.argv[i + 1] != execs.strs[i]) return false;
    }
  }
  return true;
}

std::string ShowExec(const ExecRecord& e) {
  std::string out = e.path.empty() ? "(a program)" : e.path;
  if (!e.binary.empty() && e.binary != e.path) absl::StrAppend(&out, " (running ", e.binary, ")");
  absl::StrAppend(&out, " with argv [", absl::StrJoin(e.argv, ", ", [](std::string* o, const std::string& a) {
                    absl::StrAppend(o, "\"", a, "\"");
                  }), "]");
  return out;
}

std::vector<Kind> ProcessKinds() {
  return {
      {"is root", Kind::kClause, "process NAME is root",
       "NAME is the process the runner started. This binds NAME.", true, ParseIsRoot, CheckIsRoot},
      {"child of", Kind::kClause, "process NAME child of PARENT",
       "NAME was forked (or cloned) by the process bound to PARENT.", true, ParseChildOf, CheckChildOf},
      {"descendant of", Kind::kClause, "process NAME descendant of ANCESTOR",
       "NAME was forked by ANCESTOR's process, or by a process that descends from it (a pool worker forked by a "
       "forkserver).",
       true, ParseDescendantOf, CheckDescendantOf},
      {"execs", Kind::kClause, "process NAME execs \"PROGRAM\" [args \"ARG\"...]",
       "The first program NAME executed after its fork is PROGRAM: the file it asked execve to run is called "
       "PROGRAM (so no shell ran in between, and argv[0] does not count). With `args`, its arguments after argv[0] "
       "are exactly those. When no output line binds NAME, the one process of the run whose first program is "
       "PROGRAM is NAME (if several are, the one whose arguments are those).",
       true, ParseExecs, CheckExecs},
      {"no-exec", Kind::kClause, "process NAME no-exec",
       "NAME executed no program: it runs the program of the process that forked it (a fork child).", true,
       ParseNoExec, CheckNoExec},
      {"distinct", Kind::kStatement, "distinct N1 N2...", "The names are bound to different pids.", false,
       ParseDistinct, CheckDistinct},
      {"at-most", Kind::kStatement, "at-most K distinct N1 N2...",
       "The names are bound to at most K different pids (at most 4 workers).", false, ParseAtMost, CheckAtMost},
  };
}

}  // namespace conformance::rules
