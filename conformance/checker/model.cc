#include "conformance/checker/model.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "conformance/rules/registry.h"
#include "re2/re2.h"
#include "re2/set.h"

namespace conformance::internal {
namespace {

using rules::BoundRule;
using rules::Cand;
using rules::Model;
using rules::Slot;

RE2::Options Options() {
  RE2::Options o;
  o.set_encoding(RE2::Options::EncodingLatin1);  // Byte for byte: any output matches literally.
  o.set_dot_nl(true);
  o.set_log_errors(false);
  o.set_max_mem(64 << 20);
  return o;
}

// Every distinct regular expression of the spec, compiled once, and a set
// that finds which of them match a line in one pass.
class Matcher {
 public:
  absl::Status Add(const std::string& regex, int* id) {
    auto [it, fresh] = ids_.emplace(regex, static_cast<int>(res_.size()));
    *id = it->second;
    if (!fresh) return absl::OkStatus();
    res_.push_back(std::make_unique<RE2>(regex, Options()));
    if (!res_.back()->ok()) return absl::InternalError(absl::StrCat("pattern /", regex, "/: ", res_.back()->error()));
    return absl::OkStatus();
  }

  void Compile() {
    set_ = std::make_unique<RE2::Set>(Options(), RE2::ANCHOR_BOTH);
    for (const auto& re : res_) {
      if (set_->Add(re->pattern(), nullptr) < 0) {
        set_.reset();
        return;
      }
    }
    if (!set_->Compile()) set_.reset();
  }

  // The ids of the expressions matching all of `text`, ascending.
  void Match(absl::string_view text, std::vector<int>* ids) const {
    ids->clear();
    re2::StringPiece sp(text.data(), text.size());
    RE2::Set::ErrorInfo error;
    if (set_ != nullptr && set_->Match(sp, ids, &error)) {
      std::sort(ids->begin(), ids->end());
      return;
    }
    ids->clear();
    if (set_ != nullptr && error.kind == RE2::Set::kNoError) return;  // Matched nothing.
    // No set (too large to compile) or its DFA ran out of memory: one by one.
    for (size_t i = 0; i < res_.size(); ++i) {
      if (RE2::FullMatch(sp, *res_[i])) ids->push_back(static_cast<int>(i));
    }
  }

  // The capture groups of expression `id` on `text` (which it matches).
  void Captures(int id, absl::string_view text, std::vector<absl::string_view>* out) const {
    const RE2& re = *res_[id];
    const int n = re.NumberOfCapturingGroups();
    std::vector<re2::StringPiece> groups(static_cast<size_t>(n) + 1);
    re2::StringPiece sp(text.data(), text.size());
    out->clear();
    if (!re.Match(sp, 0, sp.size(), RE2::ANCHOR_BOTH, groups.data(), n + 1)) return;
    for (int g = 1; g <= n; ++g) out->emplace_back(groups[g].data(), groups[g].size());
  }

  bool Any(absl::string_view text) const {
    std::vector<int> ids;
    Match(text, &ids);
    return !ids.empty();
  }

 private:
  std::map<std::string, int> ids_;
  std::vector<std::unique_ptr<RE2>> res_;
  std::unique_ptr<RE2::Set> set_;
};

// Without attribution, lines torn across processes ("A...B...\n\n") cannot
// be reassembled per process. A line that matches no pattern but is a
// concatenation of lines that each match one is split, and as many empty
// lines after it (the orphaned newlines) are dropped. Lines longer than
// kMaxSplit are left alone: splitting tries every cut, quadratic in length.
void Untear(const Matcher& matcher, std::vector<Line>* lines) {
  constexpr size_t kMaxSplit = 4096;
  std::vector<Line> out;
  int drop_empty = 0;
  for (Line& l : *lines) {
    if (l.text.empty() && drop_empty > 0) {
      --drop_empty;
      continue;
    }
    std::vector<std::string> pieces;
    if (!l.text.empty() && l.text.size() <= kMaxSplit && !matcher.Any(l.text)) {
      // from[j]: where a piece ending at j starts, on some split of text[0, j).
      const absl::string_view t = l.text;
      std::vector<int> from(t.size() + 1, -1);
      from[0] = 0;
      for (size_t i = 0; i < t.size(); ++i) {
        if (from[i] < 0) continue;
        for (size_t j = i + 1; j <= t.size(); ++j) {
          if (from[j] < 0 && matcher.Any(t.substr(i, j - i))) from[j] = static_cast<int>(i);
        }
      }
      if (from[t.size()] >= 0) {
        for (size_t j = t.size(); j > 0; j = static_cast<size_t>(from[j])) {
          pieces.emplace_back(t.substr(static_cast<size_t>(from[j]), j - static_cast<size_t>(from[j])));
        }
        std::reverse(pieces.begin(), pieces.end());
      }
    }
    if (pieces.size() < 2) {
      out.push_back(std::move(l));
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
  *lines = std::move(out);
}

// The candidate checks that need no other line (Cand::ok).
bool CandidateOk(const Model& m, int pattern, const Line& line, const std::vector<Slot>& slots,
                 const absl::string_view* caps) {
  for (size_t k = 0; k < slots.size(); ++k) {
    const Segment& s = *slots[k].segment;
    if (s.kind == Segment::kPid) {
      long pid = 0;
      if (!absl::SimpleAtoi(caps[k], &pid) || pid <= 0) return false;
      if (m.traced && m.Proc(static_cast<pid_t>(pid)) == nullptr) return false;
      if (pid_t fixed = m.fixed_pid[slots[k].id]; fixed != 0 && fixed != pid) return false;
    } else {
      double d = 0;
      if (!absl::SimpleAtod(caps[k], &d) || (s.lo && d < *s.lo) || (s.hi && d > *s.hi)) return false;
    }
  }
  if (m.traced && m.by[pattern] >= 0) {
    if (line.pid == 0) return false;
    if (pid_t fixed = m.fixed_pid[m.by[pattern]]; fixed != 0 && fixed != line.pid) return false;
  }
  return true;
}

}  // namespace

std::string PatternRegex(const std::vector<Segment>& segments, std::vector<Slot>* slots) {
  std::string re;
  slots->clear();
  for (const Segment& s : segments) {
    switch (s.kind) {
      case Segment::kLiteral: re += RE2::QuoteMeta(s.text); break;
      case Segment::kText: re += ".*"; break;
      case Segment::kPid: re += "([0-9]+)"; break;
      case Segment::kInt: re += "(-?[0-9]+)"; break;
      case Segment::kNum: re += "(-?[0-9]+(?:\\.[0-9]+)?)"; break;
    }
    if (s.kind == Segment::kPid || s.kind == Segment::kInt || s.kind == Segment::kNum) {
      slots->push_back({s.kind, -1, &s});
    }
  }
  return re;
}

absl::StatusOr<std::unique_ptr<Model>> BuildModel(const Spec& spec, const Observation& obs, bool transcript) {
  auto m = std::make_unique<Model>();
  m->spec = &spec;
  m->obs = &obs;
  m->traced = obs.traced;
  m->transcript = transcript;
  if (obs.traced && !obs.processes.empty()) m->root = obs.processes[0].pid;
  for (const ProcessRecord& p : obs.processes) m->procs[p.pid] = &p;

  // Names and variables, numbered.
  for (const ProcessName& p : spec.processes) m->names.push_back(p.name);
  std::set<std::string> vars;
  for (const LinePattern& l : spec.lines) {
    for (const std::vector<Segment>* segs : {&l.segments, &l.documented}) {
      for (const Segment& s : *segs) {
        if (s.kind == Segment::kInt || s.kind == Segment::kNum) vars.insert(s.text);
      }
    }
  }
  m->vars.assign(vars.begin(), vars.end());

  // Rules, with their inputs numbered; names the observation alone binds.
  const size_t names = m->names.size();
  m->fixed_pid.assign(names, 0);
  m->execs_prog.assign(names, "");
  m->execs_choices.assign(names, {});
  for (const Rule& r : spec.rules) {
    BoundRule b;
    b.rule = &r;
    b.kind = rules::FindKind(r.kind);
    if (b.kind == nullptr) return absl::InternalError(absl::StrCat("no registry entry for rule kind '", r.kind, "'"));
    for (const std::string& l : r.labels) b.labels.push_back(m->PatternId(l));
    for (const std::string& n : r.names) b.names.push_back(m->NameId(n));
    for (const std::string& v : r.vars) b.vars.push_back(m->VarId(v));
    m->rules.push_back(std::move(b));
  }
  for (const BoundRule& b : m->rules) {
    if (b.rule->kind == "execs") {
      const int n = b.names[0];
      m->execs_prog[n] = b.rule->str;
      // Bound by the program; its arguments are the rule's to check, unless
      // they are needed to tell several runs of the program apart.
      Rule program_only = *b.rule;
      program_only.variant = 0;
      std::vector<pid_t> exact;
      for (const ProcessRecord& p : obs.processes) {
        if (!rules::Executed(p, program_only)) continue;
        m->execs_choices[n].push_back(p.pid);
        if (rules::Executed(p, *b.rule)) exact.push_back(p.pid);
      }
      if (m->execs_choices[n].size() > 1 && exact.size() == 1) m->execs_choices[n] = exact;
      if (obs.traced && m->execs_choices[n].size() == 1) m->fixed_pid[n] = m->execs_choices[n][0];
    }
  }
  for (const BoundRule& b : m->rules) {
    if (b.rule->kind == "is root" && obs.traced) m->fixed_pid[b.names[0]] = m->root;
  }

  // Patterns: slots, `by`, and the regular expressions.
  Matcher matcher;
  const size_t patterns = spec.lines.size();
  m->slots.resize(patterns);
  m->documented_slots.resize(patterns);
  m->by.assign(patterns, -1);
  std::vector<int> re_of(patterns, -1), doc_re_of(patterns, -1);
  for (size_t p = 0; p < patterns; ++p) {
    const LinePattern& lp = spec.lines[p];
    if (!lp.by.empty()) m->by[p] = m->NameId(lp.by);
    for (bool doc : {false, true}) {
      if (doc && (!transcript || lp.documented.empty())) continue;
      std::vector<Slot>& slots = doc ? m->documented_slots[p] : m->slots[p];
      const std::string re = PatternRegex(doc ? lp.documented : lp.segments, &slots);
      for (Slot& s : slots) s.id = s.kind == Segment::kPid ? m->NameId(s.segment->text) : m->VarId(s.segment->text);
      if (absl::Status st = matcher.Add(re, doc ? &doc_re_of[p] : &re_of[p]); !st.ok()) return st;
    }
  }
  matcher.Compile();
  // Which (pattern, documented?) pairs each expression serves.
  std::map<int, std::vector<std::pair<int, bool>>> by_re;
  for (size_t p = 0; p < patterns; ++p) {
    by_re[re_of[p]].push_back({static_cast<int>(p), false});
    if (doc_re_of[p] >= 0) by_re[doc_re_of[p]].push_back({static_cast<int>(p), true});
  }

  m->lines = ReassembleLines(obs, 1, kMaxLines, &m->lines_dropped);
  if (!obs.traced) Untear(matcher, &m->lines);

  // Candidates, in output order. A line that matches both a pattern's text
  // and its documented text is that pattern's once, as its text.
  m->cands.resize(patterns);
  std::vector<int> ids;
  std::vector<absl::string_view> caps;
  for (size_t l = 0; l < m->lines.size(); ++l) {
    const Line& line = m->lines[l];
    matcher.Match(line.text, &ids);
    for (int id : ids) {
      matcher.Captures(id, line.text, &caps);
      const int offset = static_cast<int>(m->cap_values.size());
      m->cap_values.insert(m->cap_values.end(), caps.begin(), caps.end());
      for (const auto& [p, doc] : by_re[id]) {
        std::vector<Cand>& cs = m->cands[p];
        if (!cs.empty() && cs.back().line == static_cast<int>(l)) continue;  // Its text matched already.
        if (doc && re_of[p] != id && std::binary_search(ids.begin(), ids.end(), re_of[p])) continue;
        Cand c;
        c.line = static_cast<int>(l);
        c.documented = doc;
        c.caps = offset;
        c.ok = CandidateOk(*m, p, line, doc ? m->documented_slots[p] : m->slots[p], m->cap_values.data() + offset);
        cs.push_back(c);
      }
    }
  }
  return m;
}

int UnexpectedLines(const Model& m, const rules::World& w, size_t max_shown, std::vector<int>* shown) {
  // Windows [first, second) of absorbed lines, with their writer (0: any).
  struct Window {
    int first, second;
    pid_t writer;
  };
  std::vector<Window> windows;
  for (const Block& b : m.spec->blocks) {
    const int a = w.LineIndexOf(m.PatternId(b.after));
    if (a < 0) continue;
    const int z = w.LineIndexOf(m.PatternId(b.before));
    pid_t writer = 0;
    if (!b.by.empty() && m.traced) {  // Untraced, writers are unknown.
      std::optional<pid_t> p = w.Pid(m.NameId(b.by));
      if (!p) continue;  // An unbound writer absorbs nothing.
      writer = *p;
    }
    if (a + 1 < (z < 0 ? static_cast<int>(m.lines.size()) : z)) {
      windows.push_back({a + 1, z < 0 ? static_cast<int>(m.lines.size()) : z, writer});
    }
  }
  std::sort(windows.begin(), windows.end(), [](const Window& x, const Window& y) { return x.first < y.first; });
  int count = 0;
  shown->clear();
  size_t lo = 0;  // Windows before lo end at or before the current line.
  for (int l = 0; l < static_cast<int>(m.lines.size()); ++l) {
    if (w.Taken(l)) continue;
    while (lo < windows.size() && windows[lo].second <= l && windows[lo].first <= l) ++lo;
    bool absorbed = false;
    for (size_t k = lo; k < windows.size() && windows[k].first <= l && !absorbed; ++k) {
      absorbed = l < windows[k].second && (windows[k].writer == 0 || windows[k].writer == m.lines[l].pid);
    }
    if (absorbed) continue;
    ++count;
    if (shown->size() < max_shown) shown->push_back(l);
  }
  return count;
}

}  // namespace conformance::internal
