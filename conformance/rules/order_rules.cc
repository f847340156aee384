// Rules about the order of output lines: order, prefix, span. They need no
// process tree, so they are checked on transcripts too.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/rules/registry.h"

namespace conformance::rules {
namespace {

std::string Label(const World& w, int p) { return w.spec().lines[p].label; }

// Labels of `r` that are known to be absent, for "held vacuously" notes.
std::string AbsentNote(const BoundRule& r, const World& w) {
  std::string absent;
  for (int p : r.labels) {
    if (w.Decided(p) && w.LineOf(p) == nullptr) absl::StrAppend(&absent, absent.empty() ? "" : ", ", Label(w, p));
  }
  return absent.empty() ? "" : absl::StrCat("not printed, so not ordered: ", absent);
}

std::string ParseOrder(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  if (w.size() < 4 || w.size() % 2 != 0) return "expected `order LABEL < LABEL [< LABEL]...`";
  for (size_t k = 1; k < w.size(); k += 2) {
    if (!IsIdent(w, k)) return absl::StrCat("expected a line label, found '", w[k].text, "'");
    if (k + 1 < w.size() && !IsSym(w, k + 1, "<")) return absl::StrCat("expected '<', found '", w[k + 1].text, "'");
    rule->labels.push_back(w[k].text);
  }
  *pos = w.size();
  return "";
}

Result CheckOrder(const BoundRule& r, const World& w, bool explain) {
  bool pending = false;
  for (size_t k = 0; k + 1 < r.labels.size(); ++k) {
    const int a = r.labels[k], b = r.labels[k + 1];
    if (!w.Decided(a) || !w.Decided(b)) pending = true;
    const Line* la = w.LineOf(a);
    const Line* lb = w.LineOf(b);
    if (la != nullptr && lb != nullptr && la->seq >= lb->seq) {
      return Violated(explain, absl::StrCat("'", Label(w, b), "' came before '", Label(w, a), "'"), {lb->seq, la->seq});
    }
  }
  return pending ? Pending() : Held(explain, explain ? AbsentNote(r, w) : "");
}

std::string ParsePrefix(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  if (w.size() < 3) return "expected `prefix LABEL LABEL...`";
  for (size_t k = 1; k < w.size(); ++k) {
    if (!IsIdent(w, k)) return absl::StrCat("expected a line label, found '", w[k].text, "'");
    rule->labels.push_back(w[k].text);
  }
  *pos = w.size();
  return "";
}

Result CheckPrefix(const BoundRule& r, const World& w, bool explain) {
  bool pending = false;
  for (size_t k = 1; k < r.labels.size(); ++k) {
    const int a = r.labels[k - 1], b = r.labels[k];
    if (!w.Decided(a) || !w.Decided(b)) pending = true;
    const Line* la = w.LineOf(a);
    const Line* lb = w.LineOf(b);
    if (lb != nullptr && la == nullptr && w.Decided(a)) {
      return Violated(explain, absl::StrCat("'", Label(w, b), "' without '", Label(w, a), "' before it"), {lb->seq});
    }
    if (la != nullptr && lb != nullptr && la->seq >= lb->seq) {
      return Violated(explain, absl::StrCat("'", Label(w, b), "' came before '", Label(w, a), "'"), {lb->seq, la->seq});
    }
  }
  return pending ? Pending() : Held(explain);
}

std::string ParseSpan(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  if (w.size() != 7 || !IsWord(w, 1, "from") || !IsIdent(w, 2) || !IsWord(w, 3, "to") || !IsIdent(w, 4) ||
      !IsWord(w, 5, "on") || !IsIdent(w, 6)) {
    return "expected `span from LABEL to LABEL on NAME`";
  }
  rule->labels = {w[2].text, w[4].text};
  rule->names = {w[6].text};
  *pos = w.size();
  return "";
}

// A span's lines and its process, once all three are known.
struct Span {
  const Line* from = nullptr;
  const Line* to = nullptr;
  pid_t pid = 0;
  bool decided = false;  // Known for good: complete, or never will be.
};

Span SpanOf(const BoundRule& r, const World& w) {
  Span s;
  s.from = w.LineOf(r.labels[0]);
  s.to = w.LineOf(r.labels[1]);
  if (std::optional<pid_t> p = w.Pid(r.names[0])) s.pid = *p;
  s.decided = w.Decided(r.labels[0]) && w.Decided(r.labels[1]) && w.NameDecided(r.names[0]);
  return s;
}

Result CheckSpan(const BoundRule& r, const World& w, bool explain) {
  const Span me = SpanOf(r, w);
  bool pending = !me.decided;
  if (me.from != nullptr && me.to != nullptr && me.pid != 0) {
    for (const BoundRule& o : w.model().rules) {
      if (&o == &r || o.kind != r.kind) continue;
      const Span other = SpanOf(o, w);
      if (!other.decided) pending = true;
      if (other.from == nullptr || other.to == nullptr || other.pid != me.pid) continue;
      if (!(me.to->seq < other.from->seq || other.to->seq < me.from->seq)) {
        return Violated(explain,
                        absl::StrCat("overlaps `", o.rule->text, "` on the same process (pid ", me.pid,
                                     "): its tasks must run one after another"),
                        {other.from->seq, me.from->seq, other.to->seq, me.to->seq});
      }
    }
  }
  if (pending) return Pending();
  Result unbound;
  if ((me.from != nullptr && me.to != nullptr) && UnboundNames(r, w, explain, &unbound)) return unbound;
  return Held(explain, me.from == nullptr || me.to == nullptr ? "vacuously: a line of the span was not printed" : "");
}

}  // namespace

std::vector<Kind> OrderKinds() {
  return {
      {"order", Kind::kStatement, "order A < B [< C]...",
       "Each line came before the next. A line that was not printed (an optional one) is not ordered.", false,
       ParseOrder, CheckOrder},
      {"prefix", Kind::kStatement, "prefix A B C...",
       "The printed lines among A, B, C... are a prefix of that list, in that order (FIFO gets).", false,
       ParsePrefix, CheckPrefix},
      {"span", Kind::kStatement, "span from A to B on NAME",
       "Spans (from line A to line B) whose NAME is the same process do not overlap: a worker runs its tasks one "
       "after another.",
       false, ParseSpan, CheckSpan, /*cross=*/true},
  };
}

}  // namespace conformance::rules
