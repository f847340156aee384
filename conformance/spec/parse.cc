#include "conformance/spec/parse.h"

#include <cctype>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "conformance/rules/registry.h"
#include "conformance/spec/quote.h"
#include "conformance/spec/satisfiable.h"

namespace conformance {
namespace {

struct Token {
  enum Kind { kIdent, kString, kNumber, kSym, kNewline, kEnd };
  Kind kind;
  std::string text;
  int line;
};

}  // namespace

std::string QuoteForError(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 60; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    }
  }
  if (s.size() > 60) absl::StrAppend(&out, "... (", s.size(), " bytes)");
  return out;
}

namespace {

std::string Quote(absl::string_view s) { return QuoteForError(s); }

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
  if (s.substr(0, 3) == "\xEF\xBB\xBF") {
    return ErrorAt(file, 1, "the file starts with a UTF-8 byte order mark (BOM); save it without one");
  }
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
      return ErrorAt(file, line, absl::StrCat("unexpected character '", Quote(s.substr(i, 1)), "'"));
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

// The words of the registry's clause kinds, for an error message.
std::string ClauseList() {
  std::vector<std::string> v;
  for (const rules::Kind& k : rules::AllKinds()) {
    if (k.form == rules::Kind::kClause) v.push_back(absl::StrCat("`", absl::StrReplaceAll(k.syntax, {{"process NAME ", ""}}), "`"));
  }
  return absl::StrJoin(v, ", ");
}

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  absl::StatusOr<Spec> Parse(const std::vector<Token>& toks) {
    spec_.loc = {file_, 1};
    // Header: `spec N` then `scenario ID`.
    size_t p = 0;
    auto skip_nl = [&] {
      while (toks[p].kind == Token::kNewline) ++p;
    };
    skip_nl();
    if (toks[p].kind != Token::kIdent || toks[p].text != "spec") {
      return ErrorAt(file_, toks[p].line, absl::StrCat("a spec starts with `spec ", kSpecLanguageVersion, "` (the language version)"));
    }
    if (toks[p + 1].kind != Token::kNumber || toks[p + 2].kind != Token::kNewline) {
      return ErrorAt(file_, toks[p].line, "expected `spec VERSION` alone on its line");
    }
    int version = 0;
    if (!absl::SimpleAtoi(toks[p + 1].text, &version) || version < 1 || version > kSpecLanguageVersion) {
      return ErrorAt(file_, toks[p].line,
                     absl::StrCat("unsupported spec version ", Quote(toks[p + 1].text), "; this checker reads versions 1 to ",
                                  kSpecLanguageVersion));
    }
    spec_.version = version;
    p += 3;
    skip_nl();
    if (toks[p].kind != Token::kIdent || toks[p].text != "scenario" || toks[p + 1].kind != Token::kIdent ||
        toks[p + 2].kind != Token::kNewline || !IsName(toks[p + 1].text)) {
      return ErrorAt(file_, toks[p].line, "expected `scenario ID` after the `spec` line");
    }
    spec_.scenario = toks[p + 1].text;
    spec_.loc = {file_, toks[p].line};
    p += 3;
    std::vector<Token> rest(toks.begin() + static_cast<long>(p), toks.end());
    if (absl::Status s = Statements(rest, {}); !s.ok()) return s;
    // Every spec's implicit rules about the whole output.
    for (const char* kind : {"golden output", "the run ends within its timeout"}) {
      Rule r;
      r.kind = kind;
      r.text = kind;
      r.loc = spec_.loc;
      spec_.rules.push_back(std::move(r));
    }
    if (absl::Status s = Validate(); !s.ok()) return s;
    return std::move(spec_);
  }

 private:
  // Parses statements from toks (ending with kEnd); `vars` are the loop
  // variables in scope.
  absl::Status Statements(const std::vector<Token>& toks, const std::vector<std::string>& vars) {
    size_t p = 0;
    while (toks[p].kind != Token::kEnd) {
      if (toks[p].kind == Token::kNewline) {
        ++p;
        continue;
      }
      size_t e = p;
      while (toks[e].kind != Token::kNewline && toks[e].kind != Token::kEnd) ++e;
      std::vector<Token> st(toks.begin() + static_cast<long>(p), toks.begin() + static_cast<long>(e));
      if (st[0].kind == Token::kIdent && st[0].text == "for") {
        absl::StatusOr<size_t> next = Loop(toks, p, e, vars);
        if (!next.ok()) return next.status();
        p = *next;
        continue;
      }
      if (absl::Status s = Statement(st, vars); !s.ok()) return s;
      p = e;
    }
    return absl::OkStatus();
  }

  // for VAR in LO..HI {  |  for VAR in A B C {   ... body ...   }
  // Returns the position after the closing brace.
  absl::StatusOr<size_t> Loop(const std::vector<Token>& toks, size_t p, size_t e, std::vector<std::string> vars) {
    std::vector<Token> st(toks.begin() + static_cast<long>(p), toks.begin() + static_cast<long>(e));
    if (vars.size() >= 4) return ErrorAt(file_, st[0].line, "loops nest at most 4 deep");
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
        return ErrorAt(file_, st[0].line,
                       absl::StrCat("bad loop range ", lo, "..", hi, " (need LO <= HI, at most 1000 values)"));
      }
      for (int v = lo; v <= hi; ++v) values.push_back(absl::StrCat(v));
    } else {
      for (size_t k = 3; k + 1 < st.size(); ++k) {
        if (st[k].kind != Token::kIdent && st[k].kind != Token::kNumber) {
          return ErrorAt(file_, st[k].line, absl::StrCat("loop values are words or numbers, not '", Quote(st[k].text), "'"));
        }
        values.push_back(st[k].text);
      }
      if (values.empty()) return ErrorAt(file_, st[0].line, "a loop needs at least one value");
    }
    // The body: tokens up to the matching `}`.
    size_t b = e + 1, level = 1, q = b;
    for (; toks[q].kind != Token::kEnd; ++q) {
      if (toks[q].kind == Token::kSym && toks[q].text == "{") ++level;
      if (toks[q].kind == Token::kSym && toks[q].text == "}" && --level == 0) break;
    }
    if (toks[q].kind == Token::kEnd) return ErrorAt(file_, st[0].line, "this loop's `{` is never closed with `}`");
    if (toks[q + 1].kind != Token::kNewline && toks[q + 1].kind != Token::kEnd) {
      return ErrorAt(file_, toks[q].line, "`}` must be alone on its line");
    }
    vars.push_back(st[1].text);
    for (const std::string& v : values) {
      std::vector<Token> body(toks.begin() + static_cast<long>(b), toks.begin() + static_cast<long>(q));
      for (Token& t : body) {
        if (t.kind == Token::kIdent || t.kind == Token::kString) t.text = Substitute(t.text, st[1].text, v);
      }
      body.push_back({Token::kNewline, "", toks[q].line});
      body.push_back({Token::kEnd, "", toks[q].line});
      if (absl::Status s = Statements(body, vars); !s.ok()) return s;
    }
    return q + 1;
  }

  // The statement as the report names it: words joined by spaces, but a
  // span's `..` joins its labels (`run0..took0`).
  static std::string Canonical(const std::vector<Token>& st) {
    std::string out;
    for (size_t i = 0; i < st.size(); ++i) {
      auto dots = [&](size_t k) { return st[k].kind == Token::kSym && st[k].text == ".."; };
      const bool glue = dots(i) || (i > 0 && dots(i - 1));
      if (i > 0 && !glue) out += ' ';
      absl::StrAppend(&out, st[i].kind == Token::kString ? absl::StrCat("\"", st[i].text, "\"") : st[i].text);
    }
    return out;
  }

  // Records what a rule reads, for Validate.
  void Uses(const Rule& r, int line) {
    for (const std::string& l : r.labels) labels_used_.push_back({l, line});
    for (const std::string& n : r.names) names_used_.push_back({n, line});
    for (const std::string& v : r.vars) vars_used_.push_back({v, line});
  }

  absl::Status Statement(const std::vector<Token>& st, const std::vector<std::string>& vars) {
    const int line = st[0].line;
    Loc loc{file_, line};
    auto err = [&](absl::string_view msg) { return ErrorAt(file_, line, msg); };
    for (const Token& t : st) {
      if (t.kind == Token::kIdent && t.text.find('$') != std::string::npos) {
        if (vars.empty()) return err(absl::StrCat("'", Quote(t.text), "' uses a loop variable outside any loop"));
        return err(absl::StrCat("'", Quote(t.text), "' names no loop variable in scope (", absl::StrJoin(vars, ", "),
                                "); a variable's name ends at the first character that is not a letter, digit or _"));
      }
      if (t.kind == Token::kSym && (t.text == "{" || t.text == "}")) {
        return err(absl::StrCat("unexpected '", t.text, "' (braces only open and close a `for` loop)"));
      }
    }
    if (st[0].kind != Token::kIdent) return err(absl::StrCat("expected a statement, found '", Quote(st[0].text), "'"));
    std::vector<Word> words;
    for (const Token& t : st) {
      words.push_back({t.kind == Token::kString   ? Word::kString
                       : t.kind == Token::kNumber ? Word::kNumber
                       : t.kind == Token::kSym    ? Word::kSym
                                                  : Word::kIdent,
                       t.text});
    }
    const std::string& kw = st[0].text;
    if (kw == "process") return Process(words, loc);
    if (kw == "line") return LineStatement(words, loc);
    if (kw == "erratum") return Erratum(words, loc);
    if (kw == "block") return BlockStatement(words, loc);
    if (kw == "stdio") return Stdio(words, loc);
    if (kw == "spec" || kw == "scenario") return err(absl::StrCat("`", kw, "` may appear only once, at the top"));
    const rules::Kind* kind = rules::FindStatement(kw);
    if (kind == nullptr) {
      std::vector<std::string> known = {"stdio", "process", "line", "erratum", "block"};
      for (const rules::Kind& k : rules::AllKinds()) {
        if (k.form == rules::Kind::kStatement) known.push_back(k.name);
      }
      known.push_back("for");
      return err(absl::StrCat("unknown statement '", Quote(kw), "'; expected ", absl::StrJoin(known, ", ")));
    }
    Rule rule;
    rule.kind = kind->name;
    rule.loc = loc;
    rule.text = Canonical(st);
    size_t pos = 0;
    if (std::string e = kind->parse(words, &pos, &rule); !e.empty()) return err(e);
    Uses(rule, line);
    spec_.rules.push_back(std::move(rule));
    return absl::OkStatus();
  }

  // process NAME [CLAUSE]...
  absl::Status Process(const std::vector<Word>& w, const Loc& loc) {
    auto err = [&](absl::string_view msg) { return ErrorAt(file_, loc.line, msg); };
    if (!rules::IsIdent(w, 1)) return err(absl::StrCat("expected `process NAME [", ClauseList(), "]...`"));
    const std::string name = w[1].text;
    if (declared_.count(name)) {
      return err(absl::StrCat("process '", name, "' is declared twice (first at line ", declared_[name], ")"));
    }
    declared_[name] = loc.line;
    spec_.processes.push_back({name, loc});
    size_t k = 2;
    while (k < w.size()) {
      const rules::Kind* kind = rules::FindClause(w, k);
      if (kind == nullptr) {
        return err(absl::StrCat("unexpected '", Quote(w[k].text), "' in process declaration; expected ", ClauseList()));
      }
      Rule r;
      r.kind = kind->name;
      r.loc = loc;
      r.names = {name};
      if (std::string e = kind->parse(w, &k, &r); !e.empty()) return err(e);
      Uses(r, loc.line);
      spec_.rules.push_back(std::move(r));
    }
    return absl::OkStatus();
  }

  // line LABEL [optional] [by NAME] "PATTERN"
  absl::Status LineStatement(const std::vector<Word>& w, const Loc& loc) {
    auto err = [&](absl::string_view msg) { return ErrorAt(file_, loc.line, msg); };
    if (!rules::IsIdent(w, 1)) return err("expected `line LABEL [optional] [by NAME] \"PATTERN\"`");
    LinePattern lp;
    lp.label = w[1].text;
    lp.loc = loc;
    size_t k = 2;
    if (rules::IsWord(w, k, "optional")) {
      lp.optional = true;
      ++k;
    }
    if (rules::IsWord(w, k, "by")) {
      if (!rules::IsIdent(w, k + 1)) return err("expected a process name after `by`");
      lp.by = w[k + 1].text;
      k += 2;
    }
    if (k >= w.size() || w[k].kind != Word::kString) return err("expected the line's \"PATTERN\" (a quoted string)");
    if (k + 1 != w.size()) return err(absl::StrCat("unexpected '", Quote(w[k + 1].text), "' after the pattern"));
    lp.source = w[k].text;
    absl::StatusOr<std::vector<Segment>> segs = ParsePattern(lp.source, loc);
    if (!segs.ok()) return segs.status();
    lp.segments = *std::move(segs);
    if (int first = AddLabel(lp.label, loc.line); first > 0) {
      return err(absl::StrCat("label '", lp.label, "' is used twice (first at line ", first, ")"));
    }
    // The line's own rules: present (and in range), and its writer.
    Rule present;
    present.kind = "line";
    present.loc = loc;
    present.text = absl::StrCat("line ", lp.label);
    present.labels = {lp.label};
    spec_.rules.push_back(present);
    if (!lp.by.empty()) {
      Rule by = present;
      by.kind = "by";
      by.text = absl::StrCat("line ", lp.label, " by ", lp.by);
      by.names = {lp.by};
      Uses(by, loc.line);
      spec_.rules.push_back(std::move(by));
    }
    spec_.lines.push_back(std::move(lp));
    return absl::OkStatus();
  }

  // erratum LABEL [documented "TEXT"] because "WHY"
  absl::Status Erratum(const std::vector<Word>& w, const Loc& loc) {
    auto err = [&](absl::string_view msg) { return ErrorAt(file_, loc.line, msg); };
    if (!rules::IsIdent(w, 1)) return err("expected `erratum LABEL [documented \"TEXT\"] because \"WHY\"`");
    size_t k = 2;
    std::string documented;
    bool has_doc = false;
    if (rules::IsWord(w, k, "documented")) {
      if (k + 1 >= w.size() || w[k + 1].kind != Word::kString) return err("expected \"TEXT\" after `documented`");
      documented = w[k + 1].text;
      has_doc = true;
      k += 2;
    }
    if (!rules::IsWord(w, k, "because") || k + 1 >= w.size() || w[k + 1].kind != Word::kString || w[k + 1].text.empty()) {
      return err("an erratum must say why: `because \"REASON\"`");
    }
    if (k + 2 != w.size()) return err(absl::StrCat("unexpected '", Quote(w[k + 2].text), "' after the reason"));
    LinePattern* lp = nullptr;
    for (LinePattern& l : spec_.lines) {
      if (l.label == w[1].text) lp = &l;
    }
    if (lp == nullptr) return err(absl::StrCat("erratum for unknown line '", w[1].text, "' (declare the line first)"));
    if (!lp->erratum_because.empty()) return err(absl::StrCat("line '", lp->label, "' already has an erratum"));
    lp->erratum_because = w[k + 1].text;
    if (has_doc) {
      absl::StatusOr<std::vector<Segment>> segs = ParsePattern(documented, loc);
      if (!segs.ok()) return segs.status();
      lp->documented_source = documented;
      lp->documented = *std::move(segs);
    }
    return absl::OkStatus();
  }

  // block LABEL [by NAME] after LABEL before LABEL [at-least N]
  absl::Status BlockStatement(const std::vector<Word>& w, const Loc& loc) {
    auto err = [&](absl::string_view msg) { return ErrorAt(file_, loc.line, msg); };
    constexpr char kSyntax[] = "expected `block LABEL [by NAME] after LABEL before LABEL [at-least N]`";
    Block b;
    b.loc = loc;
    size_t k = 2;
    if (!rules::IsIdent(w, 1)) return err(kSyntax);
    b.label = w[1].text;
    if (rules::IsWord(w, k, "by")) {
      if (!rules::IsIdent(w, k + 1)) return err(kSyntax);
      b.by = w[k + 1].text;
      k += 2;
    }
    if (!rules::IsWord(w, k, "after") || !rules::IsIdent(w, k + 1) || !rules::IsWord(w, k + 2, "before") ||
        !rules::IsIdent(w, k + 3)) {
      return err(kSyntax);
    }
    b.after = w[k + 1].text;
    b.before = w[k + 3].text;
    k += 4;
    if (rules::IsWord(w, k, "at-least")) {
      if (k + 1 >= w.size() || w[k + 1].kind != Word::kNumber || !absl::SimpleAtoi(w[k + 1].text, &b.at_least) ||
          b.at_least < 1) {
        return err("expected a number of lines >= 1 after `at-least`");
      }
      k += 2;
    }
    if (k != w.size()) return err(absl::StrCat("unexpected '", Quote(w[k].text), "'; ", kSyntax));
    if (AddLabel(b.label, loc.line) > 0) return err(absl::StrCat("label '", b.label, "' is used twice"));
    // The block's own rule: its lines' writer and how many there are.
    Rule r;
    r.kind = "block";
    r.loc = loc;
    r.text = absl::StrCat("block ", b.label, b.by.empty() ? "" : absl::StrCat(" by ", b.by), " after ", b.after,
                          " before ", b.before, b.at_least > 0 ? absl::StrCat(" at-least ", b.at_least) : "");
    r.labels = {b.after, b.before};
    if (!b.by.empty()) r.names = {b.by};
    r.n = b.at_least;
    r.str = b.label;
    Uses(r, loc.line);
    spec_.rules.push_back(std::move(r));
    spec_.blocks.push_back(std::move(b));
    return absl::OkStatus();
  }

  // stdio pty|pipe: how the scenario's output was documented.
  absl::Status Stdio(const std::vector<Word>& w, const Loc& loc) {
    if (w.size() != 2 || !(rules::IsWord(w, 1, "pty") || rules::IsWord(w, 1, "pipe"))) {
      return ErrorAt(file_, loc.line, "expected `stdio pty` or `stdio pipe`");
    }
    if (!spec_.stdio.empty()) return ErrorAt(file_, loc.line, "`stdio` may appear only once");
    spec_.stdio = w[1].text;
    return absl::OkStatus();
  }

  // The line of the label's first use, or 0 (and records it).
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
              return ErrorAt(file_, l.loc.line,
                             absl::StrCat("{pid ", s.text, "} names an undeclared process (add `process ", s.text, "`)"));
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
      if (!declared_.count(name)) {
        return ErrorAt(file_, line, absl::StrCat("unknown process '", name, "' (declare it with `process ", name, "`)"));
      }
    }
    for (const auto& [var, line] : vars_used_) {
      auto it = vars.find(var);
      if (it == vars.end() || it->second != Segment::kInt) {
        return ErrorAt(file_, line, absl::StrCat("'", var, "' is not an {int ", var, "} placeholder of any line"));
      }
    }
    if (spec_.lines.empty()) return ErrorAt(file_, spec_.loc.line, "the spec declares no `line`");
    return CheckSatisfiable(spec_);
  }

  std::string file_;
  Spec spec_;
  std::map<std::string, int> declared_;  // process name -> line
  std::map<std::string, int> labels_;
  std::vector<std::pair<std::string, int>> labels_used_, names_used_, vars_used_;
};

}  // namespace

absl::StatusOr<Spec> ParseSpec(absl::string_view text, const std::string& filename) {
  absl::StatusOr<std::vector<Token>> toks = Lex(text, filename);
  if (!toks.ok()) return toks.status();
  return Parser(filename).Parse(*toks);
}

}  // namespace conformance
