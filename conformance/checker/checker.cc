#include "conformance/checker/checker.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace conformance {

std::vector<Line> ReassembleLines(const Observation& obs, int stream) {
  std::vector<WriteRecord> writes;
  for (const WriteRecord& w : obs.writes) {
    if (w.stream == stream) writes.push_back(w);
  }
  if (obs.writes.empty()) {
    writes.push_back({0, stream, stream == 1 ? obs.stdout_bytes : obs.stderr_bytes, obs.wall});
  }
  struct Partial {
    std::string text;
    int pieces = 0;
    long others_at_start = 0;
    long own = 0;
  };
  std::map<pid_t, Partial> partial;
  std::vector<Line> out;
  long total = 0;
  for (const WriteRecord& w : writes) {
    Partial& p = partial[w.pid];
    absl::string_view data = w.data;
    while (!data.empty()) {
      if (p.pieces == 0) p.others_at_start = total - p.own;
      ++p.pieces;
      size_t nl = data.find('\n');
      if (nl == absl::string_view::npos) {
        p.text.append(data.data(), data.size());
        break;
      }
      p.text.append(data.data(), nl);
      Line l;
      l.pid = w.pid;
      l.text = std::move(p.text);
      l.seq = static_cast<int>(out.size());
      l.at = w.at;
      l.pieces = p.pieces;
      l.torn = (total - p.own) > p.others_at_start;
      out.push_back(std::move(l));
      p.text.clear();
      p.pieces = 0;
      data.remove_prefix(nl + 1);
    }
    ++total;
    ++p.own;
  }
  for (auto& [pid, p] : partial) {
    if (p.text.empty()) continue;
    Line l;
    l.pid = pid;
    l.text = p.text;
    l.seq = static_cast<int>(out.size());
    l.at = obs.wall;
    l.pieces = p.pieces;
    l.no_newline = true;
    out.push_back(std::move(l));
  }
  return out;
}

Observation ObservationFromTranscript(absl::string_view text) {
  Observation obs;
  obs.traced = false;
  obs.untraced_reason = "a recorded transcript";
  obs.stdout_bytes = std::string(text);
  ProcessRecord root;
  obs.processes.push_back(root);
  // One write per line keeps each line's position.
  size_t start = 0;
  int i = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == absl::string_view::npos ? text.size() : nl + 1;
    obs.writes.push_back({0, 1, std::string(text.substr(start, end - start)), absl::Microseconds(++i)});
    start = end;
  }
  return obs;
}

namespace {

struct Capture {
  const Segment* seg;
  std::string value;
};

bool MatchFrom(const std::vector<Segment>& segs, size_t si, absl::string_view text, size_t pos,
               std::vector<Capture>& caps) {
  if (si == segs.size()) return pos == text.size();
  const Segment& s = segs[si];
  if (s.kind == Segment::kLiteral) {
    if (text.substr(pos, s.text.size()) != s.text) return false;
    return MatchFrom(segs, si + 1, text, pos + s.text.size(), caps);
  }
  // The candidate ends of this placeholder, longest first.
  std::vector<size_t> ends;
  if (s.kind == Segment::kText) {
    for (size_t e = text.size() + 1; e-- > pos;) ends.push_back(e);
  } else {
    size_t e = pos;
    if (s.kind != Segment::kPid && e < text.size() && text[e] == '-') ++e;
    size_t digits_start = e;
    while (e < text.size() && std::isdigit(static_cast<unsigned char>(text[e]))) ++e;
    if (e == digits_start) return false;
    if (s.kind == Segment::kNum && e + 1 < text.size() && text[e] == '.' &&
        std::isdigit(static_cast<unsigned char>(text[e + 1]))) {
      size_t f = e + 1;
      while (f < text.size() && std::isdigit(static_cast<unsigned char>(text[f]))) ++f;
      ends.push_back(f);
    }
    ends.push_back(e);
  }
  for (size_t e : ends) {
    caps.push_back({&s, std::string(text.substr(pos, e - pos))});
    if (MatchFrom(segs, si + 1, text, e, caps)) return true;
    caps.pop_back();
  }
  return false;
}

struct Cand {
  int pattern;
  std::vector<Capture> caps;
};

class Judge {
 public:
  Judge(const Spec& spec, const Observation& obs, const CheckOptions& opt)
      : spec_(spec), obs_(obs), opt_(opt) {}

  Verdict Run() {
    v_.lines = ReassembleLines(obs_, 1);
    if (!obs_.traced) v_.untraced_reason = obs_.untraced_reason.empty() ? "not traced" : obs_.untraced_reason;
    for (const ProcessRecord& p : obs_.processes) procs_[p.pid] = &p;
    if (!obs_.traced) Untear();
    Match();
    Bind();
    Rules();
    return std::move(v_);
  }

 private:
  void Fail(const std::string& rule, const Loc& loc, std::string msg, std::vector<const Line*> lines) {
    Violation x{rule, loc, std::move(msg), {}};
    for (const Line* l : lines) {
      if (l) x.lines.push_back(*l);
    }
    v_.violations.push_back(std::move(x));
  }
  void NotCheckable(const Loc& loc, const std::string& rule) {
    v_.not_checkable.push_back(absl::StrCat(loc.ToString(), ": ", rule));
  }

  bool MatchesAny(absl::string_view text) const {
    for (const LinePattern& lp : spec_.lines) {
      std::vector<Capture> caps;
      if (MatchFrom(lp.segments, 0, text, 0, caps)) return true;
      caps.clear();
      if (opt_.transcript && !lp.documented.empty() && MatchFrom(lp.documented, 0, text, 0, caps)) return true;
    }
    return false;
  }

  // Splits text[pos..] into pieces that each match a line pattern.
  bool Split(absl::string_view text, size_t pos, std::vector<std::string>& pieces) const {
    if (pos == text.size()) return true;
    for (size_t end = pos + 1; end <= text.size(); ++end) {
      if (!MatchesAny(text.substr(pos, end - pos))) continue;
      pieces.emplace_back(text.substr(pos, end - pos));
      if (Split(text, end, pieces)) return true;
      pieces.pop_back();
    }
    return false;
  }

  // Without attribution, lines torn across processes ("A...B...\n\n") cannot
  // be reassembled per process. Heuristic: a line that matches no pattern but
  // is a concatenation of matching lines is split, and as many empty lines
  // after it (the orphaned newlines) are dropped.
  void Untear() {
    std::vector<Line>& lines = v_.lines;
    std::vector<Line> out;
    int drop_empty = 0;
    for (const Line& l : lines) {
      if (l.text.empty() && drop_empty > 0) {
        --drop_empty;
        continue;
      }
      std::vector<std::string> pieces;
      if (l.text.empty() || MatchesAny(l.text) || !Split(l.text, 0, pieces) || pieces.size() < 2) {
        out.push_back(l);
        continue;
      }
      for (std::string& p : pieces) {
        Line x = l;
        x.text = std::move(p);
        x.torn = true;
        out.push_back(std::move(x));
      }
      drop_empty += static_cast<int>(pieces.size()) - 1;
    }
    for (size_t i = 0; i < out.size(); ++i) out[i].seq = static_cast<int>(i);
    lines = std::move(out);
  }

  // Assigns each line to at most one pattern, searching for the assignment
  // with fewest unexpected lines, missing lines and inconsistent pids.
  void Match() {
    const auto& lines = v_.lines;
    cands_.resize(lines.size());
    for (size_t l = 0; l < lines.size(); ++l) {
      for (size_t p = 0; p < spec_.lines.size(); ++p) {
        const LinePattern& lp = spec_.lines[p];
        std::vector<Capture> caps;
        if (MatchFrom(lp.segments, 0, lines[l].text, 0, caps)) {
          cands_[l].push_back({static_cast<int>(p), caps});
        } else if (opt_.transcript && !lp.documented.empty()) {
          caps.clear();
          if (MatchFrom(lp.documented, 0, lines[l].text, 0, caps)) cands_[l].push_back({static_cast<int>(p), caps});
        }
      }
    }
    std::vector<int> assign(lines.size(), -1);
    std::vector<bool> used(spec_.lines.size(), false);
    best_score_ = -1;
    nodes_ = 0;
    Search(0, assign, used, 0);
    assign_ = best_;
    line_of_.assign(spec_.lines.size(), -1);
    for (size_t l = 0; l < assign_.size(); ++l) {
      if (assign_[l] >= 0) line_of_[cands_[l][assign_[l]].pattern] = static_cast<int>(l);
    }
  }

  int Score(const std::vector<int>& assign) {
    int score = 0;
    std::vector<int> line_of(spec_.lines.size(), -1);
    std::map<std::string, std::string> values;
    for (size_t l = 0; l < assign.size(); ++l) {
      if (assign[l] < 0) continue;
      const Cand& c = cands_[l][assign[l]];
      line_of[c.pattern] = static_cast<int>(l);
      for (const Capture& cap : c.caps) {
        if (cap.seg->kind == Segment::kText) continue;
        auto [it, fresh] = values.emplace(cap.seg->text, cap.value);
        if (!fresh && it->second != cap.value) ++score;
      }
    }
    for (size_t p = 0; p < spec_.lines.size(); ++p) {
      if (line_of[p] < 0 && !spec_.lines[p].optional) ++score;
    }
    for (size_t l = 0; l < assign.size(); ++l) {
      if (assign[l] < 0 && !Absorbed(static_cast<int>(l), line_of)) ++score;
    }
    return score;
  }

  const Block* Absorbed(int l, const std::vector<int>& line_of) const {
    for (const Block& b : spec_.blocks) {
      const LinePattern* after = spec_.FindLine(b.after);
      const LinePattern* before = spec_.FindLine(b.before);
      int a = line_of[after - spec_.lines.data()];
      int z = before ? line_of[before - spec_.lines.data()] : -1;
      if (a >= 0 && v_.lines[a].seq < v_.lines[l].seq && (z < 0 || v_.lines[l].seq < v_.lines[z].seq)) return &b;
    }
    return nullptr;
  }

  void Search(size_t l, std::vector<int>& assign, std::vector<bool>& used, int unmatched) {
    if (best_score_ == 0 || ++nodes_ > 200000) return;
    if (spec_.blocks.empty() && best_score_ >= 0 && unmatched >= best_score_) return;
    if (l == assign.size()) {
      int s = Score(assign);
      if (best_score_ < 0 || s < best_score_) {
        best_score_ = s;
        best_ = assign;
      }
      return;
    }
    for (size_t c = 0; c < cands_[l].size(); ++c) {
      int p = cands_[l][c].pattern;
      if (used[p]) continue;
      used[p] = true;
      assign[l] = static_cast<int>(c);
      Search(l + 1, assign, used, unmatched);
      used[p] = false;
      assign[l] = -1;
    }
    Search(l + 1, assign, used, unmatched + 1);
  }

  const Line* LineFor(const std::string& label) const {
    const LinePattern* p = spec_.FindLine(label);
    if (!p) return nullptr;
    int l = line_of_[p - spec_.lines.data()];
    return l < 0 ? nullptr : &v_.lines[l];
  }

  void Bind() {
    const auto& lines = v_.lines;
    for (size_t l = 0; l < lines.size(); ++l) {
      if (assign_[l] >= 0) continue;
      if (Absorbed(static_cast<int>(l), line_of_)) continue;
      Fail("golden output", spec_.loc, "unexpected line: matches no line of the spec", {&lines[l]});
    }
    for (size_t p = 0; p < spec_.lines.size(); ++p) {
      const LinePattern& lp = spec_.lines[p];
      if (line_of_[p] >= 0 || lp.optional) continue;
      Fail(absl::StrCat("line ", lp.label), lp.loc, absl::StrCat("missing line: \"", lp.source, "\""), {});
    }
    // Bind names in output order; a conflicting value is a violation.
    std::map<std::string, const Line*> bound_by;
    for (size_t l = 0; l < lines.size(); ++l) {
      if (assign_[l] < 0) continue;
      const Cand& c = cands_[l][assign_[l]];
      const LinePattern& lp = spec_.lines[c.pattern];
      for (const Capture& cap : c.caps) {
        const Segment& s = *cap.seg;
        if (s.kind == Segment::kText) continue;
        double d = 0;
        if (s.kind == Segment::kNum || s.kind == Segment::kInt) {
          (void)absl::SimpleAtod(cap.value, &d);
          if ((s.lo && d < *s.lo) || (s.hi && d > *s.hi)) {
            Fail(absl::StrCat("line ", lp.label), lp.loc,
                 absl::StrCat(s.text, " = ", cap.value, " is outside ", *s.lo, "..", *s.hi), {&lines[l]});
          }
        }
        auto it = values_.find(s.text);
        if (it == values_.end()) {
          values_[s.text] = cap.value;
          bound_by[s.text] = &lines[l];
        } else if (it->second != cap.value) {
          Fail(absl::StrCat("same name, same value: ", s.text), lp.loc,
               absl::StrCat(s.text, " is ", it->second, " in one line and ", cap.value, " in another"),
               {bound_by[s.text], &lines[l]});
        }
      }
    }
    for (const ProcessName& pn : spec_.processes) {
      auto it = values_.find(pn.name);
      if (it == values_.end()) continue;
      long pid = 0;
      (void)absl::SimpleAtoi(it->second, &pid);
      pids_[pn.name] = pid;
    }
    // Names bound by what a process executed.
    for (const Rule& r : spec_.rules) {
      if (r.kind != Rule::kExecs || !obs_.traced) continue;
      std::vector<pid_t> found;
      for (const ProcessRecord& p : obs_.processes) {
        for (const std::string& e : p.execs) {
          size_t slash = e.rfind('/');
          if ((slash == std::string::npos ? e : e.substr(slash + 1)) == r.args[1]) {
            found.push_back(p.pid);
            break;
          }
        }
      }
      auto bound = pids_.find(r.args[0]);
      if (bound != pids_.end()) {
        if (std::find(found.begin(), found.end(), bound->second) == found.end()) {
          Fail(r.text, r.loc, absl::StrCat(r.args[0], " is pid ", bound->second, ", which never executed ", r.args[1]), {});
        }
      } else if (found.size() == 1) {
        pids_[r.args[0]] = found[0];
      } else {
        Fail(r.text, r.loc,
             found.empty() ? absl::StrCat("no process of this run executed ", r.args[1])
                           : absl::StrCat(found.size(), " processes executed ", r.args[1], "; expected one"),
             {});
      }
    }
    if (obs_.traced) {
      for (const ProcessName& pn : spec_.processes) {
        auto it = pids_.find(pn.name);
        if (it != pids_.end() && !procs_.count(static_cast<pid_t>(it->second))) {
          Fail(absl::StrCat("process ", pn.name, " is a process of this run"), pn.loc,
               absl::StrCat(pn.name, " claims pid ", it->second, ", but no traced process has that pid"),
               {bound_by[pn.name]});
        }
      }
    }
    v_.pids = pids_;
  }

  const ProcessRecord* Proc(const std::string& name) const {
    auto it = pids_.find(name);
    if (it == pids_.end()) return nullptr;
    auto p = procs_.find(static_cast<pid_t>(it->second));
    return p == procs_.end() ? nullptr : p->second;
  }

  void Rules() {
    const bool traced = obs_.traced;
    if (obs_.timed_out) {
      Fail("the run ends within its timeout", spec_.loc, "the run timed out; the runner killed the process tree", {});
    }
    for (const LinePattern& lp : spec_.lines) {
      if (lp.by.empty()) continue;
      const std::string rule = absl::StrCat("line ", lp.label, " by ", lp.by);
      if (!traced) {
        NotCheckable(lp.loc, rule);
        continue;
      }
      const Line* l = LineFor(lp.label);
      auto it = pids_.find(lp.by);
      if (!l || it == pids_.end()) continue;
      if (l->pid != it->second) {
        Fail(rule, lp.loc, absl::StrCat("written by pid ", l->pid, ", but ", lp.by, " is pid ", it->second), {l});
      }
    }
    std::vector<const Rule*> spans;
    for (const Rule& r : spec_.rules) {
      if (r.needs_trace() && !traced) {
        NotCheckable(r.loc, r.text);
        continue;
      }
      switch (r.kind) {
        case Rule::kIsRoot: {
          auto it = pids_.find(r.args[0]);
          if (it != pids_.end() && !obs_.processes.empty() && it->second != obs_.processes[0].pid) {
            Fail(r.text, r.loc, absl::StrCat(r.args[0], " is pid ", it->second, ", but the root is pid ", obs_.processes[0].pid), {});
          }
          break;
        }
        case Rule::kChildOf: {
          const ProcessRecord* c = Proc(r.args[0]);
          auto parent = pids_.find(r.args[1]);
          if (c && parent != pids_.end() && c->forked_by != parent->second) {
            Fail(r.text, r.loc, absl::StrCat(r.args[0], " (pid ", c->pid, ") was forked by pid ", c->forked_by,
                                             ", not by ", r.args[1], " (pid ", parent->second, ")"), {});
          }
          break;
        }
        case Rule::kExecs:
          break;  // Checked while binding.
        case Rule::kOrder:
          for (size_t k = 0; k + 1 < r.args.size(); ++k) {
            const Line* a = LineFor(r.args[k]);
            const Line* b = LineFor(r.args[k + 1]);
            if (a && b && a->seq >= b->seq) {
              Fail(r.text, r.loc, absl::StrCat("'", r.args[k + 1], "' came before '", r.args[k], "'"), {b, a});
            }
          }
          break;
        case Rule::kPrefix:
          for (size_t k = 1; k < r.args.size(); ++k) {
            const Line* a = LineFor(r.args[k - 1]);
            const Line* b = LineFor(r.args[k]);
            if (b && !a) {
              Fail(r.text, r.loc, absl::StrCat("'", r.args[k], "' without '", r.args[k - 1], "' before it"), {b});
            } else if (a && b && a->seq >= b->seq) {
              Fail(r.text, r.loc, absl::StrCat("'", r.args[k], "' came before '", r.args[k - 1], "'"), {b, a});
            }
          }
          break;
        case Rule::kSpan: {
          const Line* a = LineFor(r.args[0]);
          const Line* b = LineFor(r.args[1]);
          auto who = pids_.find(r.args[2]);
          if (a && b && who != pids_.end()) {
            for (const Rule* o : spans) {
              const Line* c = LineFor(o->args[0]);
              const Line* d = LineFor(o->args[1]);
              auto other = pids_.find(o->args[2]);
              if (!c || !d || other == pids_.end() || other->second != who->second) continue;
              if (!(b->seq < c->seq || d->seq < a->seq)) {
                Fail(r.text, r.loc,
                     absl::StrCat("overlaps `", o->text, "` on the same process (pid ", who->second,
                                  "): its tasks must run one after another"),
                     {c, a, d, b});
              }
            }
            spans.push_back(&r);
          }
          break;
        }
        case Rule::kDistinct: {
          std::map<long, std::string> seen;
          for (const std::string& n : r.args) {
            auto it = pids_.find(n);
            if (it == pids_.end()) continue;
            auto [s, fresh] = seen.emplace(it->second, n);
            if (!fresh) Fail(r.text, r.loc, absl::StrCat(s->second, " and ", n, " are the same pid ", it->second), {});
          }
          break;
        }
        case Rule::kAtMostDistinct: {
          std::set<long> seen;
          for (const std::string& n : r.args) {
            auto it = pids_.find(n);
            if (it != pids_.end()) seen.insert(it->second);
          }
          if (static_cast<int>(seen.size()) > r.n) {
            std::vector<std::string> s;
            for (long p : seen) s.push_back(absl::StrCat(p));
            Fail(r.text, r.loc, absl::StrCat(seen.size(), " distinct pids (", absl::StrJoin(s, ", "), "); at most ", r.n), {});
          }
          break;
        }
        case Rule::kExitCode:
        case Rule::kExitSignal:
        case Rule::kExitReturncode: {
          const ProcessRecord* p = Proc(r.args[0]);
          if (!p) break;
          std::optional<WaitStatus> want;
          if (r.kind == Rule::kExitCode) want = WaitStatus::Exited(r.n);
          if (r.kind == Rule::kExitSignal) want = WaitStatus::Signaled(r.n);
          if (r.kind == Rule::kExitReturncode) {
            auto it = values_.find(r.args[1]);
            int rc = 0;
            if (it == values_.end() || !absl::SimpleAtoi(it->second, &rc)) break;
            want = WaitStatus::FromReturncode(rc);
          }
          if (!p->exit) {
            Fail(r.text, r.loc, absl::StrCat(r.args[0], " (pid ", p->pid, ") had not exited; the runner killed it"), {});
          } else if (!(*p->exit == *want)) {
            Fail(r.text, r.loc, absl::StrCat(r.args[0], " (pid ", p->pid, ") ", p->exit->ToString(), "; expected ",
                                             want->ToString()), {});
          }
          break;
        }
        case Rule::kExitedBefore: {
          const ProcessRecord* p = Proc(r.args[0]);
          const Line* l = LineFor(r.args[1]);
          if (!p || !l) break;
          if (!p->ended || *p->ended > l->at) {
            Fail(r.text, r.loc, absl::StrCat("'", r.args[1], "' was written while ", r.args[0], " (pid ", p->pid,
                                             ") was still running"), {l});
          }
          break;
        }
        case Rule::kReportedParent: {
          const ProcessRecord* c = Proc(r.args[1]);
          auto v = values_.find(r.args[0]);
          if (!c || v == values_.end()) break;
          long reported = 0;
          (void)absl::SimpleAtoi(v->second, &reported);
          if (reported == c->forked_by) break;
          auto f = procs_.find(c->forked_by);
          const Line* l = nullptr;
          for (const Line& x : v_.lines) {
            if (x.pid == c->pid && x.text.find(v->second) != std::string::npos) l = &x;
          }
          bool forker_gone = f != procs_.end() && f->second->ended && l && *f->second->ended <= l->at;
          if (!forker_gone) {
            Fail(r.text, r.loc, absl::StrCat(r.args[1], " (pid ", c->pid, ") reports parent ", reported, ", but pid ",
                                             c->forked_by, " forked it and was still running"), {l});
          }
          break;
        }
        case Rule::kNoLeftovers: {
          std::vector<std::string> left;
          for (const ProcessRecord& p : obs_.processes) {
            if (p.killed_by_runner) left.push_back(absl::StrCat(p.pid));
          }
          if (!left.empty()) {
            Fail(r.text, r.loc, absl::StrCat("left behind, killed by the runner: pid ", absl::StrJoin(left, ", pid ")), {});
          }
          break;
        }
      }
    }
  }

  const Spec& spec_;
  const Observation& obs_;
  const CheckOptions& opt_;
  Verdict v_;
  std::map<pid_t, const ProcessRecord*> procs_;
  std::vector<std::vector<Cand>> cands_;
  std::vector<int> assign_, best_, line_of_;
  int best_score_ = -1;
  long nodes_ = 0;
  std::map<std::string, std::string> values_;
  std::map<std::string, long> pids_;
};

// A hostile program's line can be the whole 64 MiB output cap: the report
// shows a line's start and its length, so it stays readable and small.
constexpr size_t kMaxShownLine = 300;

std::string ShowLine(const Line& l) {
  std::string text = l.text.size() <= kMaxShownLine
                         ? l.text
                         : absl::StrCat(l.text.substr(0, kMaxShownLine), "... (", l.text.size(), " bytes in all)");
  return absl::StrCat("      #", l.seq + 1, " [pid ", l.pid, "] ", text, l.torn ? "   (reassembled: torn by another process)" : "",
                      l.no_newline ? "   (no newline)" : "", "\n");
}

}  // namespace

Verdict Check(const Spec& spec, const Observation& obs, const CheckOptions& options) {
  return Judge(spec, obs, options).Run();
}

std::string FormatVerdict(const Verdict& v) {
  std::string out;
  for (const Violation& x : v.violations) {
    absl::StrAppend(&out, "  violated: ", x.rule, "  (", x.loc.ToString(), ")\n      ", x.message, "\n");
    for (const Line& l : x.lines) out += ShowLine(l);
  }
  if (!v.violations.empty()) {
    absl::StrAppend(&out, "  observed output (line, writing pid, text):\n");
    for (const Line& l : v.lines) out += ShowLine(l);
  }
  if (!v.untraced_reason.empty()) {
    absl::StrAppend(&out, "  text-only check (", v.untraced_reason, "); not checkable without tracing:\n");
    for (const std::string& s : v.not_checkable) absl::StrAppend(&out, "      ", s, "\n");
  }
  return out;
}

}  // namespace conformance
