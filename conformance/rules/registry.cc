#include "conformance/rules/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace conformance::rules {

absl::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPending: return "pending";
    case Outcome::kHeld: return "held";
    case Outcome::kViolated: return "violated";
    case Outcome::kNotCheckable: return "not checkable";
  }
  return "?";
}

const std::vector<Kind>& AllKinds() {
  static const std::vector<Kind>* kinds = [] {
    auto* v = new std::vector<Kind>;
    for (std::vector<Kind> (*part)() : {LineKinds, OrderKinds, ProcessKinds, EndKinds}) {
      for (Kind& k : part()) v->push_back(k);
    }
    return v;
  }();
  return *kinds;
}

const Kind* FindKind(absl::string_view name) {
  for (const Kind& k : AllKinds()) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

const Kind* FindStatement(absl::string_view keyword) {
  for (const Kind& k : AllKinds()) {
    if (k.form == Kind::kStatement && keyword == k.name) return &k;
  }
  return nullptr;
}

const Kind* FindClause(const std::vector<Word>& words, size_t pos) {
  for (const Kind& k : AllKinds()) {
    if (k.form != Kind::kClause) continue;
    // A clause's name is its leading words ("child of", "is root").
    size_t i = pos;
    bool match = true;
    for (absl::string_view w : absl::StrSplit(k.name, ' ')) {
      if (i >= words.size() || words[i].kind != Word::kIdent || words[i].text != w) {
        match = false;
        break;
      }
      ++i;
    }
    if (match) return &k;
  }
  return nullptr;
}

std::string RuleTable() {
  std::string t = "| rule | written as | needs tracing | holds when |\n|---|---|---|---|\n";
  for (const Kind& k : AllKinds()) {
    const std::string written = k.form == Kind::kImplicit && absl::string_view(k.syntax).empty()
                                    ? "every spec"
                                    : absl::StrCat("`", k.syntax, "`");
    absl::StrAppend(&t, "| `", k.name, "` | ", written, k.form == Kind::kImplicit ? " (implicit)" : "", " | ",
                    k.needs_trace ? "yes" : "no", " | ", k.doc, " |\n");
  }
  return t;
}

Result Pending() { return {}; }

Result Held(bool explain, std::string why) {
  Result r;
  r.outcome = Outcome::kHeld;
  if (explain) r.message = std::move(why);
  return r;
}

Result Violated(bool explain, std::string why, std::vector<int> lines) {
  Result r;
  r.outcome = Outcome::kViolated;
  if (explain) {
    r.message = std::move(why);
    r.lines = std::move(lines);
  }
  return r;
}

Result NotCheckable(bool explain, std::string why) {
  Result r;
  r.outcome = Outcome::kNotCheckable;
  if (explain) r.message = std::move(why);
  return r;
}

bool IsIdent(const std::vector<Word>& w, size_t k) {
  return k < w.size() && w[k].kind == Word::kIdent && IsName(w[k].text);
}
bool IsWord(const std::vector<Word>& w, size_t k, const char* s) {
  return k < w.size() && w[k].kind == Word::kIdent && w[k].text == s;
}
bool IsSym(const std::vector<Word>& w, size_t k, const char* s) {
  return k < w.size() && w[k].kind == Word::kSym && w[k].text == s;
}

bool UnboundNames(const BoundRule& r, const World& w, bool explain, Result* out) {
  std::vector<std::string> why;
  for (int n : r.names) {
    if (!w.Pid(n)) why.push_back(explain ? w.Unbound(n) : "");
  }
  if (why.empty()) return false;
  if (!w.traced()) {
    *out = NotCheckable(explain, absl::StrCat(absl::StrJoin(why, "; "), " (text only: no process tree)"));
  } else {
    *out = Violated(explain, absl::StrJoin(why, "; "));
  }
  return true;
}

bool NamesBound(const BoundRule& r, const World& w, bool explain, Result* out) {
  for (int n : r.names) {
    if (!w.NameDecided(n)) {
      *out = Pending();
      return false;
    }
  }
  return !UnboundNames(r, w, explain, out);
}

const ProcessRecord* ProcessOf(const World& w, int name, bool explain, Result* out) {
  const ProcessRecord* p = w.model().Proc(*w.Pid(name));
  if (p == nullptr) *out = NotAProcess(w, name, explain);
  return p;
}

Result NotAProcess(const World& w, int name, bool explain) {
  return NotCheckable(explain, absl::StrCat(w.model().names[name], " is pid ", *w.Pid(name),
                                            ", which is not a process of this run"));
}

// --- Model and World. ---

namespace {
template <typename T>
int IndexOf(const std::vector<T>& v, absl::string_view x) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == x) return static_cast<int>(i);
  }
  return -1;
}
}  // namespace

int Model::NameId(absl::string_view name) const { return IndexOf(names, name); }
int Model::VarId(absl::string_view var) const { return IndexOf(vars, var); }
int Model::PatternId(absl::string_view label) const {
  for (size_t i = 0; i < spec->lines.size(); ++i) {
    if (spec->lines[i].label == label) return static_cast<int>(i);
  }
  return -1;
}
const ProcessRecord* Model::Proc(pid_t pid) const {
  auto it = procs.find(pid);
  return it == procs.end() ? nullptr : it->second;
}

World::World(const Model& m)
    : m_(&m),
      line_of_(m.spec->lines.size(), kPending),
      cand_of_(m.spec->lines.size(), -1),
      taken_(m.lines.size(), 0),
      pid_of_(m.names.size(), 0),
      name_line_(m.names.size(), -1),
      var_of_(m.vars.size()),
      var_line_(m.vars.size(), -1) {}

absl::Span<const absl::string_view> World::Captures(int pattern) const {
  const Cand* c = CandOf(pattern);
  if (c == nullptr) return {};
  return absl::MakeConstSpan(m_->cap_values).subspan(static_cast<size_t>(c->caps), SlotsOf(pattern).size());
}

const std::vector<Slot>& World::SlotsOf(int pattern) const {
  const Cand* c = CandOf(pattern);
  return c != nullptr && c->documented ? m_->documented_slots[pattern] : m_->slots[pattern];
}

std::string World::Unbound(int name) const {
  const std::string& n = m_->names[name];
  if (!m_->traced) return absl::StrCat("`", n, "` was never bound: no output line gave its pid");
  const std::string& prog = m_->execs_prog[name];
  if (!prog.empty()) {
    const std::vector<pid_t>& c = m_->execs_choices[name];
    if (c.empty()) return absl::StrCat("`", n, "` was never bound: no process of this run ran ", prog, " as its first program");
    return absl::StrCat("`", n, "` was never bound: ", c.size(), " processes ran ", prog, " (pid ",
                        absl::StrJoin(c, ", pid "), ") and no output line said which one it is");
  }
  return absl::StrCat("`", n, "` was never bound: no process matched (no output line gave its pid or was written by it)");
}

}  // namespace conformance::rules
