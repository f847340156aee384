// Rules about the order of output lines: order, prefix, span. They need no
// process tree, so they are checked on transcripts too.

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
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

// at-least K concurrent A..B C..D ...
std::string ParseConcurrent(const std::vector<Word>& w, size_t* pos, Rule* rule) {
  constexpr char kSyntax[] = "expected `at-least K concurrent A..B C..D...` with K >= 2 and at least K spans";
  if (w.size() < 6 || w[1].kind != Word::kNumber || !absl::SimpleAtoi(w[1].text, &rule->n) || rule->n < 2 ||
      !IsWord(w, 2, "concurrent") || (w.size() - 3) % 3 != 0) {
    return kSyntax;
  }
  for (size_t k = 3; k < w.size(); k += 3) {
    if (!IsIdent(w, k) || !IsSym(w, k + 1, "..") || !IsIdent(w, k + 2)) {
      return absl::StrCat("expected a span LABEL..LABEL, found '", w[k].text, "'");
    }
    rule->labels.push_back(w[k].text);
    rule->labels.push_back(w[k + 2].text);
  }
  if (static_cast<int>(rule->labels.size() / 2) < rule->n) return kSyntax;
  *pos = w.size();
  return "";
}

// The most spans open at once: span i is open from its first line to its
// last (in output order); a span with a line missing is never open.
Result CheckConcurrent(const BoundRule& r, const World& w, bool explain) {
  std::vector<std::pair<int, int>> events;  // (seq, +1 open / -1 close)
  for (size_t k = 0; k < r.labels.size(); k += 2) {
    if (!w.Decided(r.labels[k]) || !w.Decided(r.labels[k + 1])) return Pending();
    const Line* a = w.LineOf(r.labels[k]);
    const Line* b = w.LineOf(r.labels[k + 1]);
    if (a == nullptr || b == nullptr || a->seq > b->seq) continue;
    events.push_back({a->seq, +1});
    events.push_back({b->seq, -1});
  }
  std::sort(events.begin(), events.end(), [](const auto& x, const auto& y) {
    return x.first != y.first ? x.first < y.first : x.second > y.second;
  });
  int open = 0, most = 0;
  for (const auto& [seq, d] : events) most = std::max(most, open += d);
  if (most >= r.rule->n) return Held(explain, explain ? absl::StrCat(most, " at once") : "");
  return Violated(explain, absl::StrCat("at most ", most, most == 1 ? " span was" : " spans were",
                                        " open at once; at least ", r.rule->n, " expected"));
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
      {"at-least", Kind::kStatement, "at-least K concurrent A..B C..D...",
       "At some moment at least K of the spans were open: each span runs from its first line to its last, in output "
       "order (tasks ran in parallel).",
       false, ParseConcurrent, CheckConcurrent},
  };
}

}  // namespace conformance::rules
