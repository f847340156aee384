// The rules every spec has by its `line`s: each line present and in range,
// written by its `by` process, no output line left over, the run within its
// timeout. The parser makes them (Kind::kImplicit).

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "conformance/rules/registry.h"

namespace conformance::rules {
namespace {

std::string Range(const Segment& s) {
  return absl::StrCat(s.lo ? absl::StrCat(*s.lo) : "", "..", s.hi ? absl::StrCat(*s.hi) : "");
}

Result CheckLine(const BoundRule& r, const World& w, bool explain) {
  const int p = r.labels[0];
  const LinePattern& lp = w.spec().lines[p];
  if (!w.Decided(p)) return Pending();
  const Line* l = w.LineOf(p);
  if (l == nullptr) {
    if (lp.optional) return Held(explain, "optional, and not printed");
    return Violated(explain, absl::StrCat("missing line: \"", lp.source, "\""));
  }
  const std::vector<Slot>& slots = w.SlotsOf(p);
  absl::Span<const absl::string_view> caps = w.Captures(p);
  for (size_t k = 0; k < slots.size(); ++k) {
    const Segment& s = *slots[k].segment;
    if (s.kind != Segment::kInt && s.kind != Segment::kNum) continue;
    double d = 0;
    if (!absl::SimpleAtod(caps[k], &d) || (s.lo && d < *s.lo) || (s.hi && d > *s.hi)) {
      return Violated(explain, absl::StrCat(s.text, " = ", caps[k], " is outside ", Range(s)), {l->seq});
    }
  }
  return Held(explain);
}

Result CheckBy(const BoundRule& r, const World& w, bool explain) {
  const int p = r.labels[0], n = r.names[0];
  if (!w.Decided(p)) return Pending();
  const Line* l = w.LineOf(p);
  if (l == nullptr) {
    if (w.spec().lines[p].optional) return Held(explain, "vacuously: the optional line was not printed");
    return NotCheckable(explain, absl::StrCat("its line '", w.spec().lines[p].label, "' is missing"));
  }
  if (l->pid == 0) return Violated(explain, "its writer is unknown (the observation could not attribute it)", {l->seq});
  Result out;
  if (!NamesBound(r, w, explain, &out)) return out;
  if (l->pid != *w.Pid(n)) {
    return Violated(explain, absl::StrCat("written by pid ", l->pid, ", but ", w.model().names[n], " is pid ", *w.Pid(n)),
                    {l->seq});
  }
  return Held(explain);
}

Result CheckGolden(const BoundRule&, const World& w, bool explain) {
  if (!w.final()) return Pending();
  if (w.unexpected_count() == 0) return Held(explain);
  const int n = w.unexpected_count();
  return Violated(explain,
                  n == 1 ? std::string("unexpected line: matches no line of the spec, and no block takes it")
                         : absl::StrCat(n, " unexpected lines: they match no line of the spec, and no block takes them"),
                  w.Unexpected());
}

// A block: the lines it takes are its writer's (`by`), and there are at
// least `at-least` of them. Lines taken by `line`s are not the block's.
Result CheckBlock(const BoundRule& r, const World& w, bool explain) {
  const int after = r.labels[0], before = r.labels[1];
  if (!w.Decided(after) || !w.Decided(before)) return Pending();
  // Untraced, writers are unknown: any writer's lines count.
  const bool by = !r.names.empty() && w.traced();
  if (by && !w.NameDecided(r.names[0])) return Pending();
  Result unbound;
  if (by && UnboundNames(r, w, explain, &unbound)) return unbound;
  const int n = r.rule->n;
  const Line* a = w.LineOf(after);
  if (a == nullptr) {
    return n > 0 ? Violated(explain, absl::StrCat("its line '", w.spec().lines[after].label, "' is missing, so it holds no lines"))
                 : Held(explain, "vacuously: its first line is missing");
  }
  const Line* z = w.LineOf(before);
  const int end = z != nullptr ? z->seq : static_cast<int>(w.model().lines.size());
  const pid_t writer = by ? *w.Pid(r.names[0]) : 0;
  int count = 0;
  for (int l = a->seq + 1; l < end && count < n; ++l) {
    if (!w.Taken(l) && (writer == 0 || w.model().lines[l].pid == writer)) ++count;
  }
  // Lines are only ever taken as the search goes on, so too few stays too few.
  if (count < n) {
    return Violated(explain, absl::StrCat("it holds ", count, count == 1 ? " line" : " lines",
                                          writer ? absl::StrCat(" written by ", w.model().names[r.names[0]], " (pid ", writer, ")") : "",
                                          "; at least ", n, " expected"));
  }
  return w.final() ? Held(explain) : Pending();
}

Result CheckTimeout(const BoundRule&, const World& w, bool explain) {
  if (!w.obs().timed_out) return Held(explain);
  return Violated(explain, absl::StrCat("the run timed out (its timeout: ", absl::FormatDuration(w.obs().timeout),
                                        "); the runner killed the process tree"));
}

}  // namespace

std::vector<Kind> LineKinds() {
  return {
      {"line", Kind::kImplicit, "line LABEL [optional] [by NAME] \"PATTERN\"",
       "One output line matches PATTERN, and the values it captures are in their ranges; an `optional` line may "
       "also be absent. Each output line matches at most one `line`.",
       false, nullptr, CheckLine},
      {"by", Kind::kImplicit, "line LABEL by NAME \"PATTERN\"",
       "The line was written by the process bound to NAME. Writing it binds NAME when nothing else has.", true,
       nullptr, CheckBy},
      {"golden output", Kind::kImplicit, "",
       "Every output line is taken by a `line`, or lies inside a `block`.", false, nullptr, CheckGolden},
      {"block", Kind::kImplicit, "block LABEL [by NAME] after A before B [at-least N]",
       "Output lines that no `line` takes, strictly between line A and line B (or the end of the output when B is "
       "absent), are accepted: written by NAME's process, if given, and at least N of them, if given.",
       false, nullptr, CheckBlock},
      {"the run ends within its timeout", Kind::kImplicit, "",
       "The program ended before the runner's timeout (--timeout).", false, nullptr, CheckTimeout},
  };
}

}  // namespace conformance::rules
