// -----------------------------------------------------------------------------
// File: world.h
// -----------------------------------------------------------------------------
//
// What a rule's check sees (registry.h): the run (Model: the observation, its
// output lines, the spec with every label, process name and variable given a
// number), and one assignment of output lines to the spec's `line`s with the
// process names and variables it binds (World).
//
// The checker's search (conformance/checker/solver.h) builds assignments one
// `line` at a time, so a check may see a partial one: what it reads may be
// *pending*. Once World::final() is true, nothing is pending: a `line` with
// no output line is absent, and a name that nothing bound stays unbound (a
// rule about it is then violated, or not checkable on an untraced run).
//
// Thread-safety: a Model is immutable once built; a World belongs to one
// search.

#ifndef CONFORMANCE_RULES_WORLD_H_
#define CONFORMANCE_RULES_WORLD_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "conformance/checker/lines.h"
#include "conformance/observation/observation.h"
#include "conformance/spec/spec.h"

namespace conformance::rules {

struct Kind;

// A rule of the spec with its inputs numbered (Model's tables).
struct BoundRule {
  const Rule* rule = nullptr;
  const Kind* kind = nullptr;
  std::vector<int> labels, names, vars;  // As Rule's, numbered.
};

// One placeholder of a pattern, in the order of its capture groups.
struct Slot {
  Segment::Kind kind = Segment::kInt;  // kPid, kInt or kNum.
  int id = -1;                         // A name (kPid) or a variable.
  const Segment* segment = nullptr;
};

// A pattern's match of one output line.
struct Cand {
  int line = 0;
  bool documented = false;  // It matched the documented text (an erratum's).
  int caps = 0;             // Its placeholders' values: Model::cap_values[caps...].
  // It passes the checks that need no other line: values in their ranges,
  // pids that are processes of the run, a writer the observation fixes.
  bool ok = true;
};

struct Model {
  const Spec* spec = nullptr;
  const Observation* obs = nullptr;
  bool traced = false;
  bool transcript = false;
  pid_t root = 0;  // The process the runner started; 0 when not traced.
  std::vector<Line> lines;
  size_t lines_dropped = 0;  // Output lines past kMaxLines, not judged.
  std::vector<std::string> names, vars;  // Numbered: a name's id is its index.
  // Per pattern (spec->lines), its placeholders for the text as written and
  // for the documented text (errata, transcripts only).
  std::vector<std::vector<Slot>> slots, documented_slots;
  std::vector<int> by;  // Per pattern: the `by` name's id, or -1.
  // Per pattern, the lines it matches, in output order.
  std::vector<std::vector<Cand>> cands;
  std::vector<absl::string_view> cap_values;  // Views into `lines`.
  std::vector<BoundRule> rules;
  absl::flat_hash_map<pid_t, const ProcessRecord*> procs;
  // Per name, when the observation decides it without any output line:
  // `is root` gives the root; `execs` the one process that executed the
  // program (several: none, and `execs_choices` holds them).
  std::vector<pid_t> fixed_pid;
  std::vector<std::string> execs_prog;  // Per name: its `execs` program, or "".
  std::vector<std::vector<pid_t>> execs_choices;

  int NameId(absl::string_view name) const;
  int VarId(absl::string_view var) const;
  int PatternId(absl::string_view label) const;
  const ProcessRecord* Proc(pid_t pid) const;
};

// One (maybe partial) assignment of output lines to patterns.
class World {
 public:
  static constexpr int kPending = -1;
  static constexpr int kAbsent = -2;

  explicit World(const Model& m);

  const Model& model() const { return *m_; }
  const Spec& spec() const { return *m_->spec; }
  const Observation& obs() const { return *m_->obs; }
  bool traced() const { return m_->traced; }
  bool final() const { return final_; }

  // The output line assigned to `pattern`; nullptr while pending or absent.
  const Line* LineOf(int pattern) const {
    return line_of_[pattern] >= 0 ? &m_->lines[line_of_[pattern]] : nullptr;
  }
  // Assigned, or known to stay absent.
  bool Decided(int pattern) const { return final_ || line_of_[pattern] != kPending; }
  int LineIndexOf(int pattern) const { return line_of_[pattern]; }
  // The index of the candidate assigned to `pattern`, or -1.
  int CandIndexOf(int pattern) const { return line_of_[pattern] >= 0 ? cand_of_[pattern] : -1; }
  // Per pattern: its line's index, kPending or kAbsent.
  const std::vector<int>& line_of() const { return line_of_; }
  // Whether a pattern took output line `line`.
  bool Taken(int line) const { return taken_[line] != 0; }
  const std::vector<char>& taken() const { return taken_; }
  // The candidate (Model::cands[pattern]) assigned, or nullptr.
  const Cand* CandOf(int pattern) const {
    return line_of_[pattern] >= 0 ? &m_->cands[pattern][cand_of_[pattern]] : nullptr;
  }
  // The values of `pattern`'s placeholders in its line, in the order of
  // SlotsOf(pattern) (the documented text's slots when the line matched
  // that); empty while pending or absent.
  absl::Span<const absl::string_view> Captures(int pattern) const;
  const std::vector<Slot>& SlotsOf(int pattern) const;

  // The pid bound to `name`, if any.
  std::optional<pid_t> Pid(int name) const {
    return pid_of_[name] != 0 ? std::optional<pid_t>(pid_of_[name]) : std::nullopt;
  }
  bool NameDecided(int name) const { return final_ || pid_of_[name] != 0; }
  // Why `name` is unbound (for a final World): "`reader` was never bound: ...".
  std::string Unbound(int name) const;
  // The line whose placeholder bound `name` or the `line ... by` that did;
  // nullptr if the observation alone bound it.
  const Line* BoundBy(int name) const { return name_line_[name] >= 0 ? &m_->lines[name_line_[name]] : nullptr; }

  // The value of `var` and the line it was read from.
  std::optional<absl::string_view> Var(int var) const {
    return var_line_[var] >= 0 ? std::optional<absl::string_view>(var_of_[var]) : std::nullopt;
  }
  const Line* VarLine(int var) const { return var_line_[var] >= 0 ? &m_->lines[var_line_[var]] : nullptr; }
  bool VarDecided(int var) const { return final_ || var_line_[var] >= 0; }

  // Output lines that no pattern took and no block absorbs (final only).
  const std::vector<int>& Unexpected() const { return unexpected_; }
  int unexpected_count() const { return unexpected_count_; }

  // --- For the search (conformance/checker/solver.cc). ---
  void Assign(int pattern, int cand) {
    cand_of_[pattern] = cand;
    line_of_[pattern] = m_->cands[pattern][cand].line;
    taken_[line_of_[pattern]] = 1;
  }
  void SetAbsent(int pattern) { line_of_[pattern] = kAbsent; }
  void Unassign(int pattern) {
    if (line_of_[pattern] >= 0) taken_[line_of_[pattern]] = 0;
    line_of_[pattern] = kPending;
  }
  void Bind(int name, pid_t pid, int line) {
    pid_of_[name] = pid;
    name_line_[name] = line;
  }
  void Unbind(int name) {
    pid_of_[name] = 0;
    name_line_[name] = -1;
  }
  void SetVar(int var, absl::string_view value, int line) {
    var_of_[var] = value;
    var_line_[var] = line;
  }
  void UnsetVar(int var) { var_line_[var] = -1; }
  void SetFinal(bool f) { final_ = f; }
  void SetUnexpected(std::vector<int> shown, int count) {
    unexpected_ = std::move(shown);
    unexpected_count_ = count;
  }

 private:
  const Model* m_;
  bool final_ = false;
  std::vector<int> line_of_, cand_of_;
  std::vector<char> taken_;  // Per output line.
  std::vector<pid_t> pid_of_;
  std::vector<int> name_line_;
  std::vector<absl::string_view> var_of_;
  std::vector<int> var_line_;
  std::vector<int> unexpected_;
  int unexpected_count_ = 0;
};

}  // namespace conformance::rules

#endif  // CONFORMANCE_RULES_WORLD_H_
