#include "conformance/spec/spec.h"

#include <cctype>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "conformance/observation/wait_status.h"

namespace conformance {

std::string Loc::ToString() const { return absl::StrCat(file, ":", line); }

bool Rule::needs_trace() const {
  switch (kind) {
    case kOrder:
    case kPrefix:
    case kSpan:
    case kDistinct:
    case kAtMostDistinct:
      return false;
    default:
      return true;
  }
}

const LinePattern* Spec::FindLine(absl::string_view label) const {
  for (const LinePattern& l : lines) {
    if (l.label == label) return &l;
  }
  return nullptr;
}

namespace {

struct Token {
  enum Kind { kIdent, kString, kNumber, kSym, kNewline, kEnd };
  Kind kind;
  std::string text;
  int line;
};

absl::Status ErrorAt(const std::string& file, int line, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": error: ", msg));
}

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

absl::StatusOr<std::vector<Token>> Lex(absl::string_view s, const std::string& file) {
  std::vector<Token> out;
  int line = 1;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '\n') {
      out.push_back({Token::kNewline, "", line});
      ++line;
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '"') {
      std::string text;
      ++i;
      bool closed = false;
      while (i < s.size() && s[i] != '\n') {
        if (s[i] == '\\') {
          if (i + 1 >= s.size() || (s[i + 1] != '"' && s[i + 1] != '\\')) {
            return ErrorAt(file, line, "unknown escape in string; only \\\" and \\\\ are allowed");
          }
          text += s[i + 1];
          i += 2;
        } else if (s[i] == '"') {
          closed = true;
          ++i;
          break;
        } else {
          text += s[i++];
        }
      }
      if (!closed) return ErrorAt(file, line, "unterminated string (a string ends on its line)");
      out.push_back({Token::kString, text, line});
    } else if (IsDigit(c) || (c == '-' && i + 1 < s.size() && IsDigit(s[i + 1]))) {
      size_t j = i + 1;
      while (j < s.size() && IsDigit(s[j])) ++j;
      if (j + 1 < s.size() && s[j] == '.' && IsDigit(s[j + 1])) {
        ++j;
        while (j < s.size() && IsDigit(s[j])) ++j;
      }
      out.push_back({Token::kNumber, std::string(s.substr(i, j - i)), line});
      i = j;
    } else if (IsIdentStart(c)) {
      size_t j = i + 1;
      while (j < s.size() && IsIdentChar(s[j])) ++j;
      out.push_back({Token::kIdent, std::string(s.substr(i, j - i)), line});
      i = j;
    } else if (c == '.' && i + 1 < s.size() && s[i + 1] == '.') {
      out.push_back({Token::kSym, "..", line});
      i += 2;
    } else if (c == '<' || c == '{' || c == '}') {
      out.push_back({Token::kSym, std::string(1, c), line});
      ++i;
    } else {
      return ErrorAt(file, line, absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
  }
  out.push_back({Token::kNewline, "", line});
  out.push_back({Token::kEnd, "", line});
  return out;
}

// Replaces $var (not followed by an identifier character) with value.
std::string Substitute(const std::string& s, const std::string& var, const std::string& value) {
  std::string out;
  const std::string needle = "$" + var;
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, needle.size(), needle) == 0 &&
        (i + needle.size() >= s.size() ||
         !(std::isalnum(static_cast<unsigned char>(s[i + needle.size()])) || s[i + needle.size()] == '_'))) {
      out += value;
      i += needle.size();
    } else {
      out += s[i++];
    }
  }
  return out;
}

bool IsName(absl::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

class Parser {
 public:
  Parser(std::string file) : file_(std::move(file)) {}

  absl::StatusOr<Spec> Parse(std::vector<Token> toks) {
    spec_.loc = {file_, 1};
    // Header: `spec 1` then `scenario ID`.
    size_t p = 0;
    auto skip_nl = [&] {
      while (toks[p].kind == Token::kNewline) ++p;
    };
    skip_nl();
    if (toks[p].kind != Token::kIdent || toks[p].text != "spec") {
      return ErrorAt(file_, toks[p].line, "a spec starts with `spec 1` (the language version)");
    }
    if (toks[p + 1].kind != Token::kNumber || toks[p + 2].kind != Token::kNewline) {
      return ErrorAt(file_, toks[p].line, "expected `spec VERSION` alone on its line");
    }
    if (toks[p + 1].text != "1") {
      return ErrorAt(file_, toks[p].line,
                     absl::StrCat("unsupported spec version ", toks[p + 1].text, "; this checker reads version 1"));
    }
    spec_.version = 1;
    p += 3;
    skip_nl();
    if (toks[p].kind != Token::kIdent || toks[p].text != "scenario" || toks[p + 1].kind != Token::kIdent ||
        toks[p + 2].kind != Token::kNewline || !IsName(toks[p + 1].text)) {
      return ErrorAt(file_, toks[p].line, "expected `scenario ID` after the `spec` line");
    }
    spec_.scenario = toks[p + 1].text;
    spec_.loc = {file_, toks[p].line};
    p += 3;
    std::vector<Token> rest(toks.begin() + p, toks.end());
    if (absl::Status s = Statements(rest, 0); !s.ok()) return s;
    if (absl::Status s = Validate(); !s.ok()) return s;
    return std::move(spec_);
  }

 private:
  // Parses statements from toks (ending with kEnd).
  absl::Status Statements(const std::vector<Token>& toks, int depth) {
    size_t p = 0;
    while (toks[p].kind != Token::kEnd) {
      if (toks[p].kind == Token::kNewline) {
        ++p;
        continue;
      }
      size_t e = p;
      while (toks[e].kind != Token::kNewline && toks[e].kind != Token::kEnd) ++e;
      std::vector<Token> st(toks.begin() + p, toks.begin() + e);
      if (st[0].kind == Token::kIdent && st[0].text == "for") {
        // for VAR in LO..HI {  |  for VAR in A B C {
        if (depth >= 4) return ErrorAt(file_, st[0].line, "loops nest at most 4 deep");
        if (st.size() < 5 || st[1].kind != Token::kIdent || !IsName(st[1].text) || st[2].text != "in" ||
            st.back().text != "{" || st.back().kind != Token::kSym) {
          return ErrorAt(file_, st[0].line, "expected `for VAR in LO..HI {` or `for VAR in A B C {`");
        }
        std::vector<std::string> values;
        if (st.size() == 7 && st[3].kind == Token::kNumber && st[4].text == ".." && st[5].kind == Token::kNumber) {
          int lo = 0, hi = 0;
          if (!absl::SimpleAtoi(st[3].text, &lo) || !absl::SimpleAtoi(st[5].text, &hi)) {
            return ErrorAt(file_, st[0].line, "loop bounds must be integers");
          }
          if (lo > hi || hi - lo > 1000) {
            return ErrorAt(file_, st[0].line, absl::StrCat("bad loop range ", lo, "..", hi, " (need LO <= HI, at most 1000 values)"));
          }
          for (int v = lo; v <= hi; ++v) values.push_back(absl::StrCat(v));
        } else {
          for (size_t k = 3; k + 1 < st.size(); ++k) {
            if (st[k].kind != Token::kIdent && st[k].kind != Token::kNumber) {
              return ErrorAt(file_, st[k].line, absl::StrCat("loop values are words or numbers, not '", st[k].text, "'"));
            }
            values.push_back(st[k].text);
          }
          if (values.empty()) return ErrorAt(file_, st[0].line, "a loop needs at least one value");
        }
        // The body: tokens up to the matching `}`.
        size_t b = e + 1, level = 1;
        size_t q = b;
        for (; toks[q].kind != Token::kEnd; ++q) {
          if (toks[q].kind == Token::kSym && toks[q].text == "{") ++level;
          if (toks[q].kind == Token::kSym && toks[q].text == "}" && --level == 0) break;
        }
        if (toks[q].kind == Token::kEnd) return ErrorAt(file_, st[0].line, "this loop's `{` is never closed with `}`");
        if (toks[q + 1].kind != Token::kNewline && toks[q + 1].kind != Token::kEnd) {
          return ErrorAt(file_, toks[q].line, "`}` must be alone on its line");
        }
        for (const std::string& v : values) {
          std::vector<Token> body(toks.begin() + b, toks.begin() + q);
          for (Token& t : body) {
            if (t.kind == Token::kIdent || t.kind == Token::kString) t.text = Substitute(t.text, st[1].text, v);
          }
          body.push_back({Token::kNewline, "", toks[q].line});
          body.push_back({Token::kEnd, "", toks[q].line});
          if (absl::Status s = Statements(body, depth + 1); !s.ok()) return s;
        }
        p = q + 1;
        continue;
      }
      if (absl::Status s = Statement(st); !s.ok()) return s;
      p = e;
    }
    return absl::OkStatus();
  }

  static std::string Canonical(const std::vector<Token>& st) {
    std::vector<std::string> parts;
    for (const Token& t : st) parts.push_back(t.kind == Token::kString ? absl::StrCat("\"", t.text, "\"") : t.text);
    return absl::StrJoin(parts, " ");
  }

  absl::Status Statement(const std::vector<Token>& st) {
    const int line = st[0].line;
    Loc loc{file_, line};
    auto err = [&](absl::string_view msg) { return ErrorAt(file_, line, msg); };
    for (const Token& t : st) {
      if (t.kind == Token::kIdent && t.text.find('$') != std::string::npos) {
        return err(absl::StrCat("'", t.text, "' uses a loop variable outside its loop"));
      }
      if (t.kind == Token::kSym && (t.text == "{" || t.text == "}")) {
        return err(absl::StrCat("unexpected '", t.text, "' (braces only open and close a `for` loop)"));
      }
    }
    if (st[0].kind != Token::kIdent) return err(absl::StrCat("expected a statement, found '", st[0].text, "'"));
    const std::string& kw = st[0].text;
    auto ident = [&](size_t k) { return k < st.size() && st[k].kind == Token::kIdent && IsName(st[k].text); };
    auto word = [&](size_t k, const char* w) { return k < st.size() && st[k].kind == Token::kIdent && st[k].text == w; };
    Rule rule;
    rule.loc = loc;
    rule.text = Canonical(st);

    if (kw == "process") {
      if (!ident(1)) return err("expected `process NAME [is root] [child of NAME] [execs \"PROGRAM\"]`");
      const std::string name = st[1].text;
      if (declared_.count(name)) return err(absl::StrCat("process '", name, "' is declared twice (first at line ", declared_[name], ")"));
      declared_[name] = line;
      spec_.processes.push_back({name, loc});
      size_t k = 2;
      while (k < st.size()) {
        Rule r;
        r.loc = loc;
        if (word(k, "is") && word(k + 1, "root")) {
          r.kind = Rule::kIsRoot;
          r.args = {name};
          r.text = absl::StrCat("process ", name, " is root");
          k += 2;
        } else if (word(k, "child") && word(k + 1, "of") && ident(k + 2)) {
          r.kind = Rule::kChildOf;
          r.args = {name, st[k + 2].text};
          r.text = absl::StrCat("process ", name, " child of ", st[k + 2].text);
          names_used_.push_back({st[k + 2].text, line});
          k += 3;
        } else if (word(k, "execs") && k + 1 < st.size() && st[k + 1].kind == Token::kString && !st[k + 1].text.empty()) {
          r.kind = Rule::kExecs;
          r.args = {name, st[k + 1].text};
          r.text = absl::StrCat("process ", name, " execs \"", st[k + 1].text, "\"");
          k += 2;
        } else {
          return err(absl::StrCat("unexpected '", st[k].text, "' in process declaration; expected `is root`, `child of NAME` or `execs \"PROGRAM\"`"));
        }
        spec_.rules.push_back(r);
      }
      return absl::OkStatus();
    }
    if (kw == "line") {
      if (!ident(1)) return err("expected `line LABEL [optional] [by NAME] \"PATTERN\"`");
      LinePattern lp;
      lp.label = st[1].text;
      lp.loc = loc;
      size_t k = 2;
      if (word(k, "optional")) {
        lp.optional = true;
        ++k;
      }
      if (word(k, "by")) {
        if (!ident(k + 1)) return err("expected a process name after `by`");
        lp.by = st[k + 1].text;
        names_used_.push_back({lp.by, line});
        k += 2;
      }
      if (k >= st.size() || st[k].kind != Token::kString) return err("expected the line's \"PATTERN\" (a quoted string)");
      if (k + 1 != st.size()) return err(absl::StrCat("unexpected '", st[k + 1].text, "' after the pattern"));
      lp.source = st[k].text;
      absl::StatusOr<std::vector<Segment>> segs = ParsePattern(lp.source, loc);
      if (!segs.ok()) return segs.status();
      lp.segments = *std::move(segs);
      if (AddLabel(lp.label, line) > 0) return err(absl::StrCat("label '", lp.label, "' is used twice (first at line ", labels_[lp.label], ")"));
      spec_.lines.push_back(std::move(lp));
      return absl::OkStatus();
    }
    if (kw == "erratum") {
      // erratum LABEL [documented "TEXT"] because "WHY"
      if (!ident(1)) return err("expected `erratum LABEL [documented \"TEXT\"] because \"WHY\"`");
      size_t k = 2;
      std::string documented;
      bool has_doc = false;
      if (word(k, "documented")) {
        if (k + 1 >= st.size() || st[k + 1].kind != Token::kString) return err("expected \"TEXT\" after `documented`");
        documented = st[k + 1].text;
        has_doc = true;
        k += 2;
      }
      if (!word(k, "because") || k + 1 >= st.size() || st[k + 1].kind != Token::kString || st[k + 1].text.empty()) {
        return err("an erratum must say why: `because \"REASON\"`");
      }
      if (k + 2 != st.size()) return err(absl::StrCat("unexpected '", st[k + 2].text, "' after the reason"));
      LinePattern* lp = nullptr;
      for (LinePattern& l : spec_.lines) {
        if (l.label == st[1].text) lp = &l;
      }
      if (lp == nullptr) return err(absl::StrCat("erratum for unknown line '", st[1].text, "' (declare the line first)"));
      if (!lp->erratum_because.empty()) return err(absl::StrCat("line '", lp->label, "' already has an erratum"));
      lp->erratum_because = st[k + 1].text;
      if (has_doc) {
        absl::StatusOr<std::vector<Segment>> segs = ParsePattern(documented, loc);
        if (!segs.ok()) return segs.status();
        lp->documented_source = documented;
        lp->documented = *std::move(segs);
      }
      return absl::OkStatus();
    }
    if (kw == "block") {
      if (st.size() != 6 || !ident(1) || !word(2, "after") || !ident(3) || !word(4, "before") || !ident(5)) {
        return err("expected `block LABEL after LABEL before LABEL`");
      }
      if (AddLabel(st[1].text, line) > 0) return err(absl::StrCat("label '", st[1].text, "' is used twice"));
      spec_.blocks.push_back({st[1].text, st[3].text, st[5].text, loc});
      labels_used_.push_back({st[3].text, line});
      labels_used_.push_back({st[5].text, line});
      return absl::OkStatus();
    }
    if (kw == "order") {
      if (st.size() < 4 || st.size() % 2 != 0) return err("expected `order LABEL < LABEL [< LABEL]...`");
      for (size_t k = 1; k < st.size(); k += 2) {
        if (!ident(k)) return err(absl::StrCat("expected a line label, found '", st[k].text, "'"));
        if (k + 1 < st.size() && !(st[k + 1].kind == Token::kSym && st[k + 1].text == "<")) {
          return err(absl::StrCat("expected '<', found '", st[k + 1].text, "'"));
        }
        rule.args.push_back(st[k].text);
        labels_used_.push_back({st[k].text, line});
      }
      rule.kind = Rule::kOrder;
      spec_.rules.push_back(rule);
      return absl::OkStatus();
    }
    if (kw == "prefix") {
      if (st.size() < 3) return err("expected `prefix LABEL LABEL...`");
      for (size_t k = 1; k < st.size(); ++k) {
        if (!ident(k)) return err(absl::StrCat("expected a line label, found '", st[k].text, "'"));
        rule.args.push_back(st[k].text);
        labels_used_.push_back({st[k].text, line});
      }
      rule.kind = Rule::kPrefix;
      spec_.rules.push_back(rule);
      return absl::OkStatus();
    }
    if (kw == "span") {
      if (st.size() != 7 || !word(1, "from") || !ident(2) || !word(3, "to") || !ident(4) || !word(5, "on") || !ident(6)) {
        return err("expected `span from LABEL to LABEL on NAME`");
      }
      rule.kind = Rule::kSpan;
      rule.args = {st[2].text, st[4].text, st[6].text};
      labels_used_.push_back({st[2].text, line});
      labels_used_.push_back({st[4].text, line});
      names_used_.push_back({st[6].text, line});
      spec_.rules.push_back(rule);
      return absl::OkStatus();
    }
    if (kw == "distinct" || kw == "at-most") {
      size_t k = 1;
      if (kw == "at-most") {
        if (st.size() < 4 || st[1].kind != Token::kNumber || !absl::SimpleAtoi(st[1].text, &rule.n) || rule.n < 1 ||
            !word(2, "distinct")) {
          return err("expected `at-most N distinct NAME NAME...` with N >= 1");
        }
        k = 3;
        rule.kind = Rule::kAtMostDistinct;
      } else {
        if (st.size() < 3) return err("expected `distinct NAME NAME...` (at least two names)");
        rule.kind = Rule::kDistinct;
      }
      for (; k < st.size(); ++k) {
        if (!ident(k)) return err(absl::StrCat("expected a process name, found '", st[k].text, "'"));
        rule.args.push_back(st[k].text);
        names_used_.push_back({st[k].text, line});
      }
      spec_.rules.push_back(rule);
      return absl::OkStatus();
    }
    if (kw == "exit") {
      if (st.size() != 4 || !ident(1)) return err("expected `exit NAME code N`, `exit NAME signal SIGNAME` or `exit NAME returncode VAR`");
      rule.args = {st[1].text};
      names_used_.push_back({st[1].text, line});
      if (word(2, "code")) {
        if (st[3].kind != Token::kNumber || !absl::SimpleAtoi(st[3].text, &rule.n) || rule.n < 0 || rule.n > 255) {
          return err(absl::StrCat("exit code must be an integer 0..255, not '", st[3].text, "'"));
        }
        rule.kind = Rule::kExitCode;
      } else if (word(2, "signal")) {
        std::optional<int> no = SignalNumber(st[3].text);
        if (!no) return err(absl::StrCat("unknown signal '", st[3].text, "' (write e.g. SIGTERM)"));
        rule.n = *no;
        rule.kind = Rule::kExitSignal;
      } else if (word(2, "returncode") && ident(3)) {
        rule.kind = Rule::kExitReturncode;
        rule.args.push_back(st[3].text);
        vars_used_.push_back({st[3].text, line});
      } else {
        return err(absl::StrCat("expected `code`, `signal` or `returncode` after `exit ", st[1].text, "`"));
      }
      spec_.rules.push_back(rule);
      return absl::OkStatus();
    }
    if (kw == "exited") {
      if (st.size() != 4 || !ident(1) || !word(2, "before") || !ident(3)) return err("expected `exited NAME before LABEL`");
      rule.kind = Rule::kExitedBefore;
      rule.args = {st[1].text, st[3].text};
      names_used_.push_back({st[1].text, line});
      labels_used_.push_back({st[3].text, line});
      spec_.rules.push_back(rule);
      return absl::OkStatus();
    }
    if (kw == "reported-parent") {
      if (st.size() != 4 || !ident(1) || !word(2, "of") || !ident(3)) return err("expected `reported-parent VAR of NAME`");
      rule.kind = Rule::kReportedParent;
      rule.args = {st[1].text, st[3].text};
      vars_used_.push_back({st[1].text, line});
      names_used_.push_back({st[3].text, line});
      spec_.rules.push_back(rule);
      return absl::OkStatus();
    }
    if (kw == "no-leftovers") {
      if (st.size() != 1) return err("`no-leftovers` takes no arguments");
      rule.kind = Rule::kNoLeftovers;
      spec_.rules.push_back(rule);
      return absl::OkStatus();
    }
    if (kw == "spec" || kw == "scenario") return err(absl::StrCat("`", kw, "` may appear only once, at the top"));
    return err(absl::StrCat("unknown statement '", kw,
                            "'; expected process, line, erratum, block, order, prefix, span, distinct, at-most, exit, "
                            "exited, reported-parent, no-leftovers or for"));
  }

  int AddLabel(const std::string& label, int line) {
    if (labels_.count(label)) return labels_[label];
    labels_[label] = line;
    return 0;
  }

  absl::Status Validate() {
    for (const auto& [label, line] : labels_used_) {
      if (!labels_.count(label) || spec_.FindLine(label) == nullptr) {
        return ErrorAt(file_, line, absl::StrCat("unknown line label '", label, "'"));
      }
    }
    std::map<std::string, Segment::Kind> vars;
    for (const LinePattern& l : spec_.lines) {
      for (const std::vector<Segment>* segs : {&l.segments, &l.documented}) {
        for (const Segment& s : *segs) {
          if (s.kind == Segment::kPid) {
            if (!declared_.count(s.text)) {
              return ErrorAt(file_, l.loc.line, absl::StrCat("{pid ", s.text, "} names an undeclared process (add `process ", s.text, "`)"));
            }
          } else if (s.kind == Segment::kInt || s.kind == Segment::kNum) {
            if (declared_.count(s.text)) {
              return ErrorAt(file_, l.loc.line, absl::StrCat("'", s.text, "' is a process name; use {pid ", s.text, "}"));
            }
            vars[s.text] = s.kind;
          }
        }
      }
    }
    for (const auto& [name, line] : names_used_) {
      if (!declared_.count(name)) return ErrorAt(file_, line, absl::StrCat("unknown process '", name, "' (declare it with `process ", name, "`)"));
    }
    for (const auto& [var, line] : vars_used_) {
      auto it = vars.find(var);
      if (it == vars.end() || it->second != Segment::kInt) {
        return ErrorAt(file_, line, absl::StrCat("'", var, "' is not an {int ", var, "} placeholder of any line"));
      }
    }
    if (spec_.lines.empty()) return ErrorAt(file_, spec_.loc.line, "the spec declares no `line`");
    return absl::OkStatus();
  }

  std::string file_;
  Spec spec_;
  std::map<std::string, int> declared_;  // process name -> line
  std::map<std::string, int> labels_;
  std::vector<std::pair<std::string, int>> labels_used_, names_used_, vars_used_;
};

}  // namespace

absl::StatusOr<std::vector<Segment>> ParsePattern(absl::string_view p, const Loc& loc) {
  std::vector<Segment> out;
  std::string lit;
  auto err = [&](absl::string_view msg) {
    return absl::InvalidArgumentError(absl::StrCat(loc.ToString(), ": error: ", msg, " in pattern \"", std::string(p), "\""));
  };
  auto flush = [&] {
    if (!lit.empty()) out.push_back({Segment::kLiteral, lit, std::nullopt, std::nullopt});
    lit.clear();
  };
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '{' && i + 1 < p.size() && p[i + 1] == '{') {
      lit += '{';
      i += 2;
    } else if (p[i] == '}' && i + 1 < p.size() && p[i + 1] == '}') {
      lit += '}';
      i += 2;
    } else if (p[i] == '}') {
      return err("single '}' (write '}}' for a literal brace)");
    } else if (p[i] == '{') {
      size_t close = p.find('}', i);
      if (close == absl::string_view::npos) return err("'{' without '}'");
      std::vector<std::string> words;
      std::string inner(p.substr(i + 1, close - i - 1));
      for (absl::string_view w : absl::StrSplit(inner, ' ', absl::SkipEmpty())) words.emplace_back(w);
      Segment s;
      if (words.empty()) return err("empty placeholder {}");
      if (words[0] == "text" && words.size() == 1) {
        s.kind = Segment::kText;
      } else if (words[0] == "pid" && words.size() == 2 && IsName(words[1])) {
        s.kind = Segment::kPid;
        s.text = words[1];
      } else if ((words[0] == "int" || words[0] == "num") && (words.size() == 2 || words.size() == 3) && IsName(words[1])) {
        s.kind = words[0] == "int" ? Segment::kInt : Segment::kNum;
        s.text = words[1];
        if (words.size() == 3) {
          size_t dots = words[2].find("..");
          double lo = 0, hi = 0;
          if (dots == std::string::npos || !absl::SimpleAtod(words[2].substr(0, dots), &lo) ||
              !absl::SimpleAtod(words[2].substr(dots + 2), &hi)) {
            return err(absl::StrCat("bad range '", words[2], "' (write LO..HI)"));
          }
          if (lo > hi) return err(absl::StrCat("empty range '", words[2], "'"));
          s.lo = lo;
          s.hi = hi;
        }
      } else {
        return err(absl::StrCat("bad placeholder {", inner, "}; expected {pid NAME}, {int NAME [LO..HI]}, {num NAME [LO..HI]} or {text}"));
      }
      flush();
      out.push_back(std::move(s));
      i = close + 1;
    } else {
      lit += p[i++];
    }
  }
  flush();
  return out;
}

absl::StatusOr<Spec> ParseSpec(absl::string_view text, const std::string& filename) {
  absl::StatusOr<std::vector<Token>> toks = Lex(text, filename);
  if (!toks.ok()) return toks.status();
  return Parser(filename).Parse(*std::move(toks));
}

}  // namespace conformance
