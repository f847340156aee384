// -----------------------------------------------------------------------------
// File: registry.h
// -----------------------------------------------------------------------------
//
// Every rule kind of the spec language in one table: its syntax, whether it
// needs the process tree (tracing), how its statement parses, how it is
// checked, and its documentation. The parser (conformance/spec/parse.h)
// hands each rule statement and each `process` clause to its entry; the
// checker (conformance/checker/checker.h) checks every rule through its
// entry; SPEC_LANGUAGE.md's rule table is tested against this one.
//
// A check sees a World (world.h): one assignment of output lines to the
// spec's `line`s, maybe partial. It answers kPending while something it
// reads is still unknown, so the search can reject a partial assignment as
// soon as any rule is violated. On a final World it never answers kPending.
// Checks must be monotone: once kViolated on a partial assignment, kViolated
// on every completion of it.
//
// Thread-safety: the table is immutable.
//
// Example:
//
//   for (const conformance::rules::Kind& k : conformance::rules::AllKinds()) {
//     std::cout << k.syntax << ": " << k.doc << "\n";
//   }

#ifndef CONFORMANCE_RULES_REGISTRY_H_
#define CONFORMANCE_RULES_REGISTRY_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "conformance/rules/world.h"
#include "conformance/spec/spec.h"

namespace conformance::rules {

enum class Outcome { kPending, kHeld, kViolated, kNotCheckable };

// "held", "violated", "not checkable", "pending".
absl::string_view OutcomeName(Outcome o);

struct Result {
  Outcome outcome = Outcome::kPending;
  // Only when a check is asked to explain: why it was violated (or held
  // vacuously, or could not be checked), and the output lines concerned
  // (indices into Model::lines).
  std::string message;
  std::vector<int> lines;
};

struct Kind {
  // How a spec writes it.
  enum Form {
    kStatement,  // A statement of its own, starting with `name`: `order a < b`.
    kClause,     // A clause of `process NAME ...`, starting with `name`'s words.
    kImplicit,   // Made by the parser from a `line` (or for every spec).
  };
  const char* name;    // The keyword, the clause's words, or the implicit rule's name.
  Form form;
  const char* syntax;  // As SPEC_LANGUAGE.md shows it.
  const char* doc;     // When it holds, in one paragraph.
  bool needs_trace;    // Not checkable on an untraced run or a transcript.
  // Parses words[*pos...] into `rule` (whose `names` holds the process for a
  // clause) and advances *pos past what it read. A statement's entry must
  // read every word. Returns "" or what is wrong (the parser adds FILE:LINE).
  std::string (*parse)(const std::vector<Word>& words, size_t* pos, Rule* rule);
  // The rule's outcome in `w`. When `explain` is false the result carries
  // no message or lines (the search calls this in its inner loop).
  Result (*check)(const BoundRule& rule, const World& w, bool explain);
  // The check also reads the inputs of the other rules of its kind (span).
  bool cross = false;
};

// Every kind, in the order SPEC_LANGUAGE.md documents them.
const std::vector<Kind>& AllKinds();

// The kind called `name`, or nullptr.
const Kind* FindKind(absl::string_view name);

// The statement kind whose keyword is `keyword`, or nullptr.
const Kind* FindStatement(absl::string_view keyword);

// The clause kind that starts at words[pos], or nullptr.
const Kind* FindClause(const std::vector<Word>& words, size_t pos);

// The rule table of SPEC_LANGUAGE.md, in Markdown, made from the registry
// (registry_test checks that the document has it).
std::string RuleTable();

// --- For the entries' implementations (rules/*.cc). ---

// Each file of rules/ defines one of these; AllKinds() concatenates them.
std::vector<Kind> LineKinds();     // line, by, golden output, timeout
std::vector<Kind> OrderKinds();    // order, prefix, span
std::vector<Kind> ProcessKinds();  // is root, child of, execs, distinct, at-most
std::vector<Kind> EndKinds();      // exit, exited, reported-parent, no-leftovers

Result Pending();
Result Held(bool explain, std::string why = "");
Result Violated(bool explain, std::string why, std::vector<int> lines = {});
Result NotCheckable(bool explain, std::string why);

// Word helpers for parsers.
bool IsIdent(const std::vector<Word>& w, size_t k);               // A name.
bool IsWord(const std::vector<Word>& w, size_t k, const char* s);  // That keyword.
bool IsSym(const std::vector<Word>& w, size_t k, const char* s);

// Whether `p`'s first exec matches the `execs` rule `execs`: the file it
// asked to run is called PROGRAM (argv[0] when the observer could not tell),
// and its arguments are the rule's, if it gives them. The `execs` clause's
// check and its binding both use it.
bool Executed(const ProcessRecord& p, const Rule& execs);

// "/usr/bin/nslookup with argv ["nslookup", "www.python.org"]".
std::string ShowExec(const ExecRecord& e);

// For a check that reads the rule's process names: false, with *out set,
// while one of them is pending (kPending) or once one stays unbound
// (UnboundNames below); true when all are bound.
bool NamesBound(const BoundRule& r, const World& w, bool explain, Result* out);

// The process record of the bound `name`, or nullptr with *out set when its
// pid is no process of the run (NotAProcess below).
const ProcessRecord* ProcessOf(const World& w, int name, bool explain, Result* out);

// For a rule that needs `name`'s process record when `name` is bound to a
// pid that is no process of the run: not checkable (the binding itself is
// the violation, "process NAME is a process of this run").
Result NotAProcess(const World& w, int name, bool explain);

// A final World's outcome for a rule that reads process names of which some
// are unbound: violated (traced) or not checkable (untraced). Returns false
// when all are bound.
bool UnboundNames(const BoundRule& r, const World& w, bool explain, Result* out);

}  // namespace conformance::rules

#endif  // CONFORMANCE_RULES_REGISTRY_H_
