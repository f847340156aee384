#include "conformance/checker/solver.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "conformance/checker/model.h"
#include "conformance/rules/registry.h"

namespace conformance::internal {
namespace {

using rules::Cand;
using rules::Model;
using rules::Outcome;
using rules::Slot;
using rules::World;

// "w2" < "w10": digit runs compare as numbers.
bool NaturalLess(absl::string_view a, absl::string_view b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      absl::string_view x = a.substr(i, i2 - i), y = b.substr(j, j2 - j);
      while (x.size() > 1 && x[0] == '0') x.remove_prefix(1);
      while (y.size() > 1 && y[0] == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

pid_t ParsePid(absl::string_view s) {
  long v = 0;
  for (char c : s) {
    v = v * 10 + (c - '0');
    if (v > std::numeric_limits<pid_t>::max()) return 0;
  }
  return static_cast<pid_t>(v);
}

// The size of a maximum matching of a bipartite graph (Hopcroft-Karp):
// `adj[u]` lists the right-hand vertices (< right) of left vertex u.
int MaxMatching(const std::vector<std::vector<int>>& adj, int right) {
  const int left = static_cast<int>(adj.size());
  constexpr int kFree = -1;
  std::vector<int> match_l(left, kFree), match_r(right, kFree), dist(left);
  auto bfs = [&] {
    std::vector<int> queue;
    bool found = false;
    for (int u = 0; u < left; ++u) {
      dist[u] = match_l[u] == kFree ? 0 : -1;
      if (dist[u] == 0) queue.push_back(u);
    }
    for (size_t i = 0; i < queue.size(); ++i) {
      const int u = queue[i];
      for (int v : adj[u]) {
        const int w = match_r[v];
        if (w == kFree) {
          found = true;
        } else if (dist[w] < 0) {
          dist[w] = dist[u] + 1;
          queue.push_back(w);
        }
      }
    }
    return found;
  };
  // An augmenting path from u along the BFS layers, without recursion.
  std::vector<size_t> next(left);
  auto dfs = [&](int root) {
    std::vector<int> path = {root};
    while (!path.empty()) {
      const int u = path.back();
      if (next[u] == adj[u].size()) {
        dist[u] = -1;  // Dead end for this phase.
        path.pop_back();
        continue;
      }
      const int v = adj[u][next[u]++];
      const int w = match_r[v];
      if (w == kFree) {
        // Flip the path: each left vertex on it takes the edge it went by.
        for (size_t i = path.size(); i-- > 0;) {
          const int x = path[i];
          const int y = adj[x][next[x] - 1];
          match_l[x] = y;
          match_r[y] = x;
        }
        return true;
      }
      if (dist[w] == dist[u] + 1) path.push_back(w);
    }
    return false;
  };
  int size = 0;
  while (bfs()) {
    std::fill(next.begin(), next.end(), 0);
    for (int u = 0; u < left; ++u) {
      if (match_l[u] == kFree && dfs(u)) ++size;
    }
  }
  return size;
}

int OkCount(const Model& m, int p) {
  int n = 0;
  for (const Cand& c : m.cands[p]) n += c.ok;
  return n;
}

// What both searches share: the World, which rules read what, and binding
// with an undo trail.
class Engine {
 public:
  explicit Engine(const Model& m) : m_(m), w_(m), stamp_(m.rules.size(), 0) {
    const size_t P = m.spec->lines.size();
    rules_of_label_.resize(P);
    rules_of_name_.resize(m.names.size());
    rules_of_var_.resize(m.vars.size());
    skip_.assign(m.rules.size(), 0);
    for (size_t r = 0; r < m.rules.size(); ++r) {
      const rules::BoundRule& b = m.rules[r];
      if (b.kind->needs_trace && !m.traced) skip_[r] = 1;  // Not checkable at all.
      // A cross rule (span) reads its kind's other rules' inputs too.
      for (size_t o = 0; o < m.rules.size(); ++o) {
        if (o != r && !(b.kind->cross && m.rules[o].kind == b.kind)) continue;
        for (int l : m.rules[o].labels) rules_of_label_[l].push_back(static_cast<int>(r));
        for (int n : m.rules[o].names) rules_of_name_[n].push_back(static_cast<int>(r));
        for (int v : m.rules[o].vars) rules_of_var_[v].push_back(static_cast<int>(r));
      }
    }
    for (size_t n = 0; n < m.names.size(); ++n) {
      if (m.fixed_pid[n] != 0) w_.Bind(static_cast<int>(n), m.fixed_pid[n], -1);
    }
  }

  World& world() { return w_; }
  bool Skipped(int r) const { return skip_[r]; }
  void Skip(int r) { skip_[r] = 1; }

 protected:
  enum UndoKind { kPattern, kName, kVar, kCover, kDecide };
  struct Undo {
    UndoKind kind;
    int a;
  };

  // Binds `name` to `pid` (or checks it). Returns false on a conflict.
  bool BindName(int name, pid_t pid, int line) {
    if (std::optional<pid_t> have = w_.Pid(name)) return *have == pid;
    w_.Bind(name, pid, line);
    trail_.push_back({kName, name});
    touched_names_.push_back(name);
    return true;
  }
  bool BindVar(int var, absl::string_view value, int line) {
    if (std::optional<absl::string_view> have = w_.Var(var)) return *have == value;
    w_.SetVar(var, value, line);
    trail_.push_back({kVar, var});
    touched_vars_.push_back(var);
    return true;
  }

  // Assigns candidate c to pattern p and binds what it binds; returns the
  // number of binding conflicts (a soft search keeps going past them).
  int AssignAndBind(int p, int c) {
    touched_names_.clear();
    touched_vars_.clear();
    const Cand& cand = m_.cands[p][c];
    w_.Assign(p, c);
    trail_.push_back({kPattern, p});
    int conflicts = 0;
    const std::vector<Slot>& slots = cand.documented ? m_.documented_slots[p] : m_.slots[p];
    const absl::string_view* caps = m_.cap_values.data() + cand.caps;
    for (size_t k = 0; k < slots.size(); ++k) {
      const bool ok = slots[k].kind == Segment::kPid ? BindName(slots[k].id, ParsePid(caps[k]), cand.line)
                                                     : BindVar(slots[k].id, caps[k], cand.line);
      conflicts += !ok;
    }
    if (m_.traced && m_.by[p] >= 0) conflicts += !BindName(m_.by[p], m_.lines[cand.line].pid, cand.line);
    return conflicts;
  }

  void UndoTo(size_t mark) {
    while (trail_.size() > mark) {
      const Undo u = trail_.back();
      trail_.pop_back();
      switch (u.kind) {
        case kPattern:
          w_.Unassign(u.a);
          break;
        case kDecide:
          ++undecided_;
          if (u.a >= 0 && must_[u.a]) ++uncovered_;
          break;
        case kName: w_.Unbind(u.a); break;
        case kVar: w_.UnsetVar(u.a); break;
        case kCover: ++cover_[u.a]; break;
      }
    }
  }

  // The rules whose inputs include pattern p or the names and variables
  // just bound; each once.
  template <typename F>
  void ForAffected(int p, F f) {
    ++epoch_;
    auto visit = [&](const std::vector<int>& rs) {
      for (int r : rs) {
        if (stamp_[r] == epoch_ || skip_[r]) continue;
        stamp_[r] = epoch_;
        f(r);
      }
    };
    visit(rules_of_label_[p]);
    for (int n : touched_names_) visit(rules_of_name_[n]);
    for (int v : touched_vars_) visit(rules_of_var_[v]);
    touched_names_.clear();
    touched_vars_.clear();
  }

  Outcome Check(int r) { return m_.rules[r].kind->check(m_.rules[r], w_, false).outcome; }

  const Model& m_;
  World w_;
  std::vector<Undo> trail_;
  std::vector<int> touched_names_, touched_vars_;
  std::vector<std::vector<int>> rules_of_label_, rules_of_name_, rules_of_var_;
  std::vector<char> skip_;
  std::vector<int> stamp_;
  int epoch_ = 0;
  // The exact search's bookkeeping of lines no block could absorb ("must"
  // lines): how many patterns are undecided, how many must lines untaken,
  // and per must line how many undecided patterns could take it.
  int undecided_ = 0;
  int uncovered_ = 0;
  std::vector<char> must_;
  std::vector<int> cover_;
};

// The exact search (see solver.h).
class Exact : public Engine {
 public:
  Exact(const Model& m, const SolveOptions& o) : Engine(m), opt_(o) {}

  Solution Run() {
    Solution sol;
    const absl::Time start = absl::Now();
    const int P = static_cast<int>(m_.spec->lines.size());
    undecided_ = P;
    // Rules the observation alone violates take no part.
    for (size_t r = 0; r < m_.rules.size(); ++r) {
      if (!skip_[r] && Check(static_cast<int>(r)) == Outcome::kViolated) {
        sol.unconditional.push_back(static_cast<int>(r));
        skip_[r] = 1;
      }
    }
    if (std::string why = Prepare(); !why.empty()) {
      sol.why = why;
      sol.elapsed = absl::Now() - start;
      return sol;
    }
    const std::vector<int> order = SearchOrder(m_);
    struct Frame {
      int next = 0;
      bool tried_absent = false;
      size_t mark = 0;
      bool chosen = false;
    };
    std::vector<Frame> frames(static_cast<size_t>(P) + 1);
    int depth = 0;
    frames[0].mark = trail_.size();
    for (;;) {
      if (depth == P) {
        if (Leaf()) {
          sol.outcome = Solution::kFound;
          for (int p = 0; p < P; ++p) sol.assignment.push_back(w_.CandIndexOf(p));
          break;
        }
        --depth;
        continue;
      }
      Frame& f = frames[depth];
      if (f.chosen) {
        UndoTo(f.mark);
        f.chosen = false;
      }
      const int p = order[depth];
      bool advanced = false;
      const std::vector<Cand>& cs = m_.cands[p];
      while (f.next < static_cast<int>(cs.size())) {
        const int c = f.next++;
        if (!cs[c].ok || w_.Taken(cs[c].line)) continue;
        if (++steps_ > opt_.max_steps || (steps_ % 1024 == 0 && absl::Now() - start > opt_.time_limit)) {
          sol.outcome = Solution::kBudget;
          sol.why = absl::StrCat("the search for an assignment of output lines to the spec's lines stopped after ",
                                 steps_, " steps and ", absl::FormatDuration(absl::Now() - start),
                                 " (its budget) without finding one or proving there is none");
          sol.steps = steps_;
          sol.elapsed = absl::Now() - start;
          return sol;
        }
        if (TryAssign(p, c)) {
          advanced = true;
          break;
        }
      }
      if (!advanced && m_.spec->lines[p].optional && !f.tried_absent) {
        f.tried_absent = true;
        advanced = TryAbsent(p);
      }
      if (advanced) {
        f.chosen = true;
        ++depth;
        frames[depth] = Frame{};
        frames[depth].mark = trail_.size();
        continue;
      }
      if (depth == 0) break;  // Exhausted: impossible.
      --depth;
    }
    sol.steps = steps_;
    sol.elapsed = absl::Now() - start;
    return sol;
  }

 private:
  // The lines no block could ever absorb must each be taken by a pattern.
  // Returns why no assignment can pass, if that is already clear.
  std::string Prepare() {
    const int P = static_cast<int>(m_.spec->lines.size());
    const int L = static_cast<int>(m_.lines.size());
    for (int p = 0; p < P; ++p) {
      if (!m_.spec->lines[p].optional && OkCount(m_, p) == 0) {
        return absl::StrCat("no output line can be '", m_.spec->lines[p].label, "'");
      }
    }
    // The widest window each block could have: from the earliest line its
    // `after` could be to the latest its `before` could be.
    std::vector<std::pair<int, int>> windows;
    for (const Block& b : m_.spec->blocks) {
      int first = L, last = -1;
      for (const Cand& c : m_.cands[m_.PatternId(b.after)]) {
        if (c.ok) first = std::min(first, c.line + 1);
      }
      const int before = m_.PatternId(b.before);
      last = m_.spec->lines[before].optional || m_.cands[before].empty() ? L : 0;
      for (const Cand& c : m_.cands[before]) {
        if (c.ok) last = std::max(last, c.line);
      }
      if (first < last) windows.push_back({first, last});
    }
    must_.assign(L, 0);
    int must = 0;
    for (int l = 0; l < L; ++l) {
      bool absorbable = false;
      for (const auto& [a, z] : windows) absorbable |= a <= l && l < z;
      if (!absorbable) {
        must_[l] = 1;
        ++must;
      }
    }
    if (must > P) {
      return absl::StrCat(must, " output lines lie outside every block, so each must be one of the spec's ", P,
                          " lines");
    }
    cover_.assign(L, 0);
    must_of_.assign(P, {});
    for (int p = 0; p < P; ++p) {
      for (const Cand& c : m_.cands[p]) {
        if (c.ok && must_[c.line]) {
          ++cover_[c.line];
          must_of_[p].push_back(c.line);
        }
      }
    }
    for (int l = 0; l < L; ++l) {
      if (must_[l] && cover_[l] == 0) {
        return absl::StrCat("output line #", l + 1, " matches no line of the spec and lies outside every block");
      }
    }
    // Every `line` that must be printed needs a line of its own, and every
    // must line a `line` of its own: two matchings (Hall's condition), so
    // that a pigeonhole is found at once rather than by search.
    std::vector<std::vector<int>> need;
    for (int p = 0; p < P; ++p) {
      if (m_.spec->lines[p].optional) continue;
      need.emplace_back();
      for (const Cand& c : m_.cands[p]) {
        if (c.ok) need.back().push_back(c.line);
      }
    }
    if (int matched = MaxMatching(need, L); matched < static_cast<int>(need.size())) {
      return absl::StrCat("the spec's ", need.size(), " required lines can be given at most ", matched,
                          " distinct output lines");
    }
    std::vector<std::vector<int>> takers(L);
    for (int p = 0; p < P; ++p) {
      for (int l : must_of_[p]) takers[l].push_back(p);
    }
    std::vector<std::vector<int>> must_adj;
    for (int l = 0; l < L; ++l) {
      if (must_[l]) must_adj.push_back(std::move(takers[l]));
    }
    if (int matched = MaxMatching(must_adj, P); matched < must) {
      return absl::StrCat(must, " output lines lie outside every block, but at most ", matched,
                          " of them can each be a different line of the spec");
    }
    uncovered_ = must;
    return "";
  }

  // Marks pattern p decided (taking `line`, or none): fails if a must line
  // is left that no undecided pattern could take, or more of them than
  // undecided patterns.
  bool Decide(int p, int line) {
    --undecided_;
    if (line >= 0 && must_[line]) --uncovered_;
    trail_.push_back({kDecide, line});
    bool ok = true;
    for (int l : must_of_[p]) {
      --cover_[l];
      trail_.push_back({kCover, l});
      if (!w_.Taken(l) && cover_[l] == 0) ok = false;
    }
    return ok && uncovered_ <= undecided_;
  }

  bool Rules(int p) {
    bool ok = true;
    ForAffected(p, [&](int r) {
      if (ok && Check(r) == Outcome::kViolated) ok = false;
    });
    return ok;
  }

  bool TryAssign(int p, int c) {
    const size_t mark = trail_.size();
    const bool ok = AssignAndBind(p, c) == 0 && Decide(p, m_.cands[p][c].line) && Rules(p);
    if (!ok) UndoTo(mark);
    return ok;
  }

  bool TryAbsent(int p) {
    const size_t mark = trail_.size();
    touched_names_.clear();
    touched_vars_.clear();
    w_.SetAbsent(p);
    trail_.push_back({kPattern, p});
    const bool ok = Decide(p, -1) && Rules(p);
    if (!ok) UndoTo(mark);
    return ok;
  }

  bool Leaf() {
    w_.SetFinal(true);
    std::vector<int> shown;
    bool ok = UnexpectedLines(m_, w_, 0, &shown) == 0;
    for (size_t r = 0; ok && r < m_.rules.size(); ++r) {
      if (!skip_[r] && Check(static_cast<int>(r)) == Outcome::kViolated) ok = false;
    }
    w_.SetFinal(false);
    return ok;
  }

  const SolveOptions& opt_;
  long steps_ = 0;
  std::vector<std::vector<int>> must_of_;  // Per pattern: the must lines it could take.
};

// The greedy assignment (see solver.h): conflicts and violated rules are
// counted, not fatal.
class Soft : public Engine {
 public:
  explicit Soft(const Model& m) : Engine(m), violated_(m.rules.size(), 0) {
    for (size_t r = 0; r < m.rules.size(); ++r) {
      if (!skip_[r] && Check(static_cast<int>(r)) == Outcome::kViolated) violated_[r] = 1;
    }
  }

  Assignment Run() {
    // A pattern matching a million lines (a catch-all) needs no more than
    // this many looked at to explain a failure.
    constexpr int kScan = 4096;
    for (int p : SearchOrder(m_)) {
      int best = -1, best_cost = std::numeric_limits<int>::max(), scanned = 0;
      bool any_free = false;
      const std::vector<Cand>& cs = m_.cands[p];
      for (int c = 0; c < static_cast<int>(cs.size()) && best_cost > 0; ++c) {
        if (w_.Taken(cs[c].line)) continue;
        any_free = true;
        if (++scanned > kScan) break;
        const size_t mark = trail_.size();
        int cost = AssignAndBind(p, c) + !cs[c].ok;
        ForAffected(p, [&](int r) { cost += !violated_[r] && Check(r) == Outcome::kViolated; });
        UndoTo(mark);
        if (cost < best_cost) {
          best = c;
          best_cost = cost;
        }
      }
      // Absent: a missing line, or (optional) the line it leaves over.
      const size_t mark = trail_.size();
      w_.SetAbsent(p);
      trail_.push_back({kPattern, p});
      touched_names_.clear();
      touched_vars_.clear();
      int absent_cost = (m_.spec->lines[p].optional ? 0 : 1) + any_free;
      ForAffected(p, [&](int r) { absent_cost += !violated_[r] && Check(r) == Outcome::kViolated; });
      if (best >= 0 && best_cost <= absent_cost) {
        UndoTo(mark);
        AssignAndBind(p, best);
      }
      ForAffected(p, [&](int r) {
        if (Check(r) == Outcome::kViolated) violated_[r] = 1;
      });
    }
    Assignment a;
    for (size_t p = 0; p < m_.spec->lines.size(); ++p) a.push_back(w_.CandIndexOf(static_cast<int>(p)));
    return a;
  }

 private:
  std::vector<char> violated_;
};

// Satisfies(): one complete assignment, checked.
class Verify : public Engine {
 public:
  explicit Verify(const Model& m) : Engine(m) {}

  bool Run(const Assignment& a) {
    for (size_t p = 0; p < a.size(); ++p) {
      if (a[p] < 0) {
        if (!m_.spec->lines[p].optional) return false;
        w_.SetAbsent(static_cast<int>(p));
        continue;
      }
      const Cand& c = m_.cands[p][a[p]];
      if (!c.ok || w_.Taken(c.line) || AssignAndBind(static_cast<int>(p), a[p]) != 0) return false;
    }
    w_.SetFinal(true);
    std::vector<int> shown;
    if (UnexpectedLines(m_, w_, 0, &shown) != 0) return false;
    for (size_t r = 0; r < m_.rules.size(); ++r) {
      if (!skip_[r] && Check(static_cast<int>(r)) == Outcome::kViolated) return false;
    }
    return true;
  }
};

}  // namespace

Assignment Greedy(const Model& m) { return Soft(m).Run(); }

bool Satisfies(const Model& m, const Assignment& a) { return Verify(m).Run(a); }

std::vector<int> SearchOrder(const Model& m) {
  std::vector<int> order(m.spec->lines.size());
  std::vector<int> ok(order.size());
  for (size_t p = 0; p < order.size(); ++p) {
    order[p] = static_cast<int>(p);
    ok[p] = OkCount(m, static_cast<int>(p));
  }
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    if (ok[a] != ok[b]) return ok[a] < ok[b];
    return NaturalLess(m.spec->lines[a].label, m.spec->lines[b].label);
  });
  return order;
}

Solution Solve(const Model& m, const SolveOptions& options) { return Exact(m, options).Run(); }

}  // namespace conformance::internal
