// -----------------------------------------------------------------------------
// File: spec.h
// -----------------------------------------------------------------------------
//
// A parsed spec (conformance/SPEC_LANGUAGE.md): a scenario's golden output
// with placeholders, its errata, its foreign-output blocks and its rules, with
// loops expanded. conformance/spec/parse.h makes one from text.
//
// Thread-safety: values.
//
// Example:
//
//   const conformance::LinePattern* l = spec.FindLine("start");
//   if (l != nullptr && l->optional) ...

#ifndef CONFORMANCE_SPEC_SPEC_H_
#define CONFORMANCE_SPEC_SPEC_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace conformance {

// The language version this parser writes about; it reads every version
// from 1 up to it (SPEC_LANGUAGE.md, "Changelog").
inline constexpr int kSpecLanguageVersion = 3;

struct Loc {
  std::string file;
  int line = 0;
  std::string ToString() const;  // "fork.spec:12"
};

// One piece of a line pattern: literal text or a placeholder.
struct Segment {
  enum Kind { kLiteral, kPid, kInt, kNum, kText };
  Kind kind = kLiteral;
  std::string text;  // The literal, or the placeholder's name.
  std::optional<double> lo, hi;  // Inclusive range, for kInt and kNum.
};

struct LinePattern {
  std::string label;
  Loc loc;
  std::string source;             // The quoted pattern, as written.
  std::vector<Segment> segments;
  bool optional = false;
  std::string by;                 // Process name that must write it, or "".
  // Errata: the documented text, accepted instead of `segments` only when
  // checking a recorded transcript.
  std::string documented_source;
  std::vector<Segment> documented;
  std::string erratum_because;
};

// Lines that no `line` takes are accepted when they lie between the lines
// labelled `after` and `before` (foreign output, e.g. nslookup's answer),
// and, with `by`, were written by that process.
struct Block {
  std::string label, after, before;
  std::string by;    // Process name, or "" (any writer).
  int at_least = 0;  // The block holds at least this many lines.
  Loc loc;
};

// A word of a statement, as the lexer saw it.
struct Word {
  enum Kind { kIdent, kString, kNumber, kSym };
  Kind kind = kIdent;
  std::string text;
};

// One rule, as its registry entry (conformance/rules/registry.h) parsed it.
// Its inputs are sorted by what they name, so that the checker can tell
// when each becomes known.
struct Rule {
  std::string kind;  // The registry entry's name: "order", "exit", "child of", ...
  Loc loc;
  std::string text;                 // Canonical text, loop variables substituted.
  std::vector<std::string> labels;  // Line labels it reads.
  std::vector<std::string> names;   // Process names it reads.
  std::vector<std::string> vars;    // {int} variables it reads.
  std::string str;                  // A string argument (execs "PROG").
  std::vector<std::string> strs;    // More of them (execs ... args "A" "B").
  int n = 0;                        // A number argument (exit code, signal, K).
  int variant = 0;                  // Which form of the statement (entry-specific).
};

struct ProcessName {
  std::string name;
  Loc loc;
};

struct Spec {
  int version = 0;
  std::string scenario;
  // How the scenario's output was documented: "pty" (a terminal) or "pipe";
  // "" if the spec does not say. Runs use it unless told otherwise.
  std::string stdio;
  Loc loc;  // The `scenario` line.
  std::vector<ProcessName> processes;
  std::vector<LinePattern> lines;
  std::vector<Block> blocks;
  std::vector<Rule> rules;

  const LinePattern* FindLine(absl::string_view label) const;
};

// True for a process name, label or variable: a letter or `_`, then letters,
// digits, `_` and `-`.
bool IsName(absl::string_view s);

}  // namespace conformance

#endif  // CONFORMANCE_SPEC_SPEC_H_
