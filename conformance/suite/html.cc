#include "conformance/suite/html.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/posix/fd.h"
#include "conformance/checker/lines.h"
#include "conformance/suite/junit.h"

namespace conformance::suite {
namespace {

// Geometry of a chart, in pixels.
constexpr int kTimeWidth = 100;   // The time column on the left, then the labels, then the lanes.
constexpr size_t kLabelChars = 80;  // Of a label shown (all of it in its tooltip).
constexpr int kLaneWidth = 58;
constexpr int kHeadHeight = 40;  // Lane headers.
constexpr int kRowHeight = 18;
constexpr int kCharWidth = 7;    // Of the 12px monospace labels, roughly.
constexpr size_t kMaxHighlightedRows = 100;  // Past max_events.

// No script, no fetch: everything the page shows is in the file.
constexpr char kStyle[] = R"css(
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:1.5em}
.meta{color:#555;margin:.2em 0}
table.matrix{border-collapse:collapse}
.matrix th,.matrix td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
.matrix td a{color:inherit;text-decoration:none;display:block}
.badge.PASS,td.PASS{background:#d4f4d4}.badge.FAIL,td.FAIL{background:#f8c8c8}.badge.UNRESOLVED,td.UNRESOLVED{background:#f8e4b0}
.badge.UNSUPPORTED,td.UNSUPPORTED{background:#e4e4e4}
td.known{background-image:repeating-linear-gradient(45deg,transparent 0 6px,rgba(255,255,255,.55) 6px 9px)}
details.outcome{border:1px solid #ccc;border-left-width:8px;border-radius:4px;margin:.6em 0;padding:.3em .6em;background:#fff}
details.outcome.PASS{border-left-color:#5b5}details.outcome.FAIL{border-left-color:#d44}
details.outcome.UNRESOLVED{border-left-color:#d90}details.outcome.UNSUPPORTED{border-left-color:#999}
details.outcome>summary{cursor:pointer;font-weight:600}
details.run{margin:.4em 0 .4em 1em}details.run>summary{cursor:pointer}
.badge{padding:0 .4em;border-radius:3px;font-family:monospace}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:12px}
.chart{overflow-x:auto;border:1px solid #eee;margin:.5em 0}
svg text{font:12px monospace;fill:#222}
svg .lanehead rect{fill:#eef;stroke:#99b}
svg .lanehead.violated rect{fill:#f66;stroke:#b00}
svg .lane{stroke:#99b;stroke-width:2}
svg .lane.others{stroke-dasharray:4 3}
svg .hl{fill:#fdd}
svg .row.violated text.label{fill:#a00;font-weight:bold}
svg .fork{stroke:#36c;fill:#36c}
svg .exec{fill:#c80}
svg .out{fill:#2a2}
svg .row.violated .out{fill:#e00;stroke:#700;stroke-width:2}
svg .exit{fill:#555}
svg .gap text{fill:#888;font-style:italic}
svg .t{fill:#888}
ul.violations li{margin:.3em 0}
.rule{font-family:monospace;color:#a00;font-weight:600}
)css";

std::string Ms(absl::Duration d) { return absl::StrFormat("+%.3f ms", absl::ToDoubleMilliseconds(d)); }

std::string Clip(absl::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max;  // Not in the middle of a UTF-8 sequence.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return absl::StrCat(s.substr(0, n), "...");
}

// One row of a chart. Small, pointing into the observation: a run can have
// a million events, of which a few hundred are drawn and get a label.
struct Event {
  enum Kind { kFork, kExec, kLine, kExit };  // Their order at equal times.
  absl::Duration at;
  Kind kind = kLine;
  pid_t pid = 0;    // The lane: the process (the forker for a fork).
  pid_t child = 0;  // A fork's child.
  const ProcessRecord* process = nullptr;  // Exec, exit.
  const ExecRecord* exec = nullptr;
  const Line* line = nullptr;
  const std::vector<std::string>* rules = nullptr;  // Violated rules it concerns, or null.
};

struct Lanes {
  std::vector<pid_t> pids;         // Lanes of their own, left to right.
  std::map<pid_t, size_t> column;  // pid -> index in pids.
  size_t others = 0;               // Processes on the shared lane.
  size_t Column(pid_t pid) const {
    auto it = column.find(pid);
    return it == column.end() ? pids.size() : it->second;
  }
  size_t Count() const { return pids.size() + (others ? 1 : 0); }
};

// Pids a violation's message names ("left behind, killed by the runner: pid 12, pid 13").
std::vector<pid_t> PidsIn(absl::string_view message) {
  std::vector<pid_t> pids;
  for (size_t at = message.find("pid "); at != absl::string_view::npos; at = message.find("pid ", at + 4)) {
    size_t end = at + 4;
    while (end < message.size() && absl::ascii_isdigit(message[end])) ++end;
    int pid = 0;
    if (end > at + 4 && absl::SimpleAtoi(message.substr(at + 4, end - at - 4), &pid)) pids.push_back(pid);
  }
  return pids;
}

// "exec echo hi": the program's file name and its arguments.
std::string ExecLabel(const ExecRecord& e) {
  std::string name = !e.path.empty() ? e.path : !e.argv.empty() ? e.argv[0] : "?";
  std::string out = absl::StrCat("exec ", name.substr(name.rfind('/') + 1));
  for (size_t i = 1; i < e.argv.size(); ++i) absl::StrAppend(&out, " ", e.argv[i]);
  return out;
}

std::string ExitLabel(const ProcessRecord& p) {
  std::string s = p.exit ? p.exit->ToString() : "still running";
  return p.killed_by_runner ? absl::StrCat("killed by the runner (", s, ")") : s;
}

// The text beside a drawn event.
std::string Label(const Event& e, size_t max_text) {
  switch (e.kind) {
    case Event::kFork: return absl::StrCat("fork: pid ", e.pid, " -> pid ", e.child);
    case Event::kExec: return Clip(ExecLabel(*e.exec), max_text);
    case Event::kLine: return absl::StrCat("#", e.line->seq + 1, " ", Clip(e.line->text, max_text));
    case Event::kExit: return absl::StrCat("pid ", e.pid, " ", ExitLabel(*e.process));
  }
  return "";
}

}  // namespace

std::string HtmlText(absl::string_view s) { return XmlText(s); }

std::string LaneChart(const Observation& obs, const Verdict* v, const HtmlOptions& opt) {
  // Who is who: spec names by pid, and what each violation concerns.
  std::map<pid_t, std::vector<std::string>> names;
  std::map<int, std::vector<std::string>> line_rules;  // Line seq -> rules.
  std::map<pid_t, std::vector<std::string>> pid_rules;
  std::set<pid_t> writers;  // Of the lines violations concern.
  if (v != nullptr) {
    for (const auto& [name, pid] : v->pids) names[static_cast<pid_t>(pid)].push_back(name);
    for (const Violation& r : v->violations) {
      for (const Line& l : r.lines) {
        line_rules[l.seq].push_back(r.rule);
        writers.insert(l.pid);
      }
      // A rule about lines is shown on its lines; one about processes (exit,
      // exited, process, no-leftovers) on the processes it names, or whose
      // pids its message gives.
      if (!r.lines.empty()) continue;
      std::set<pid_t> pids;
      for (absl::string_view word : absl::StrSplit(r.rule, absl::ByAnyChar(" <>."), absl::SkipEmpty())) {
        if (auto it = v->pids.find(std::string(word)); it != v->pids.end()) pids.insert(static_cast<pid_t>(it->second));
      }
      for (pid_t p : PidsIn(r.message)) pids.insert(p);
      for (pid_t p : pids) pid_rules[p].push_back(r.rule);
    }
  }
  std::vector<Line> reassembled;
  if (v == nullptr) reassembled = ReassembleLines(obs);
  const std::vector<Line>& lines = v != nullptr ? v->lines : reassembled;

  // The lanes: the root, named and violated processes first, then the others
  // in the order they started, up to max_lanes; all processes keep their order.
  std::vector<pid_t> all;
  std::set<pid_t> known;
  for (const ProcessRecord& p : obs.processes) {
    if (known.insert(p.pid).second) all.push_back(p.pid);
  }
  for (const Line& l : lines) {  // A writer the tree does not hold (a transcript's pid 0).
    if (known.insert(l.pid).second) all.push_back(l.pid);
  }
  std::set<pid_t> chosen;
  auto choose = [&](pid_t pid) {
    if (chosen.size() < opt.max_lanes && known.count(pid)) chosen.insert(pid);
  };
  if (!all.empty()) choose(all[0]);
  for (const auto& [pid, unused] : names) choose(pid);
  for (const auto& [pid, unused] : pid_rules) choose(pid);
  for (pid_t pid : writers) choose(pid);
  for (pid_t pid : all) choose(pid);
  Lanes lanes;
  for (pid_t pid : all) {
    if (chosen.count(pid)) {
      lanes.column[pid] = lanes.pids.size();
      lanes.pids.push_back(pid);
    } else {
      ++lanes.others;
    }
  }

  // The events, in time order (forks before execs before lines before exits
  // at equal times: the order in which they can happen).
  std::vector<Event> events;
  events.reserve(obs.processes.size() * 2 + lines.size());
  for (const ProcessRecord& p : obs.processes) {
    if (p.forked_by != 0) events.push_back({p.started, Event::kFork, p.forked_by, p.pid, &p});
    for (const ExecRecord& e : p.execs) events.push_back({e.at, Event::kExec, p.pid, 0, &p, &e});
    if (p.ended) {
      events.push_back({*p.ended, Event::kExit, p.pid, 0, &p});
      if (auto it = pid_rules.find(p.pid); it != pid_rules.end()) events.back().rules = &it->second;
    }
  }
  for (const Line& l : lines) {
    events.push_back({l.at, Event::kLine, l.pid, 0, nullptr, nullptr, &l});
    if (auto it = line_rules.find(l.seq); it != line_rules.end()) events.back().rules = &it->second;
  }
  // Not stable_sort: its buffer would double the memory of a million lines.
  // Ties keep the observation's order (the objects' addresses in its vectors).
  auto object = [](const Event& e) -> const void* {
    return e.line != nullptr ? static_cast<const void*>(e.line)
           : e.exec != nullptr ? static_cast<const void*>(e.exec) : static_cast<const void*>(e.process);
  };
  std::sort(events.begin(), events.end(), [&](const Event& a, const Event& b) {
    if (a.at != b.at) return a.at < b.at;
    if (a.kind != b.kind) return a.kind < b.kind;
    return std::less<const void*>()(object(a), object(b));
  });

  // Which rows are drawn: the first max_events, then highlighted ones; a gap
  // row stands for each stretch left out.
  struct Row {
    const Event* e = nullptr;  // Null: a gap of `skipped` events.
    size_t skipped = 0;
    std::string label;
  };
  std::vector<Row> rows;
  size_t highlighted = 0, left_out = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const bool keep = i < opt.max_events || (events[i].rules != nullptr && highlighted++ < kMaxHighlightedRows);
    if (keep) {
      rows.push_back({&events[i], 0, Label(events[i], opt.max_text)});
    } else {
      ++left_out;
      if (rows.empty() || rows.back().e != nullptr) rows.push_back({});
      ++rows.back().skipped;
    }
  }

  const size_t ncols = std::max<size_t>(lanes.Count(), 1);
  // Labels before the lanes, so that the text stays in view however many
  // lanes there are.
  const int label_x = kTimeWidth;
  size_t widest = 32;
  for (const Row& r : rows) {
    if (r.e != nullptr) widest = std::max(widest, r.label.size() + (r.e->rules == nullptr ? 0 : (*r.e->rules)[0].size() + 14));
  }
  const int lanes_x = label_x + static_cast<int>(std::min(widest, kLabelChars)) * kCharWidth + 16;
  const int width = lanes_x + static_cast<int>(ncols) * kLaneWidth + 10;
  const int height = kHeadHeight + 8 + static_cast<int>(rows.size()) * kRowHeight + 8;
  auto lane_x = [&](pid_t pid) { return lanes_x + static_cast<int>(lanes.Column(pid)) * kLaneWidth + kLaneWidth / 2; };
  auto row_y = [&](size_t i) { return kHeadHeight + 8 + static_cast<int>(i) * kRowHeight + kRowHeight / 2; };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"lanes\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "role=\"img\" aria-label=\"lane chart: %d processes, %d events\">\n",
      width, height, width, height, static_cast<int>(all.size()), static_cast<int>(events.size()));

  // Lanes: a line from a process's first row to its last (to the bottom if
  // it was still running), under the marks.
  std::map<size_t, std::pair<size_t, size_t>> extent;  // Column -> first, last row.
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].e == nullptr) continue;
    for (pid_t pid : {rows[i].e->pid, rows[i].e->kind == Event::kFork ? rows[i].e->child : rows[i].e->pid}) {
      auto [it, fresh] = extent.try_emplace(lanes.Column(pid), i, i);
      if (!fresh) it->second.second = i;
    }
  }
  for (const ProcessRecord& p : obs.processes) {
    if (!p.ended) {
      if (auto it = extent.find(lanes.Column(p.pid)); it != extent.end()) it->second.second = rows.size() - 1;
    }
  }
  for (const auto& [col, span] : extent) {
    const int x = lanes_x + static_cast<int>(col) * kLaneWidth + kLaneWidth / 2;
    absl::StrAppendFormat(&svg, "<line class=\"lane%s\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
                          col == lanes.pids.size() ? " others" : "", x, row_y(span.first), x, row_y(span.second));
  }

  // Lane headers: spec name(s) and pid.
  auto head = [&](size_t col, const std::string& top, const std::string& bottom, const std::string& title,
                  const std::vector<std::string>& rules, const std::string& attrs) {
    const int x = lanes_x + static_cast<int>(col) * kLaneWidth;
    absl::StrAppendFormat(&svg, "<g class=\"lanehead%s\"%s%s><title>%s</title>", rules.empty() ? "" : " violated", attrs,
                          rules.empty() ? "" : absl::StrCat(" data-rule=\"", HtmlText(absl::StrJoin(rules, "; ")), "\""),
                          HtmlText(title));
    absl::StrAppendFormat(&svg, "<rect x=\"%d\" y=\"2\" width=\"%d\" height=\"%d\" rx=\"3\"/>", x + 2, kLaneWidth - 4,
                          kHeadHeight - 4);
    absl::StrAppendFormat(&svg, "<text x=\"%d\" y=\"18\" text-anchor=\"middle\">%s</text>", x + kLaneWidth / 2,
                          HtmlText(Clip(top, 6)));
    absl::StrAppendFormat(&svg, "<text x=\"%d\" y=\"33\" text-anchor=\"middle\">%s</text></g>\n", x + kLaneWidth / 2,
                          HtmlText(bottom));
  };
  for (size_t col = 0; col < lanes.pids.size(); ++col) {
    const pid_t pid = lanes.pids[col];
    const std::string name = names.count(pid) ? absl::StrJoin(names[pid], "/") : obs.traced ? "" : "output";
    std::vector<std::string> rules = pid_rules.count(pid) ? pid_rules[pid] : std::vector<std::string>{};
    std::string title = absl::StrCat(name.empty() ? "" : name + ": ", "pid ", pid);
    for (const std::string& r : rules) absl::StrAppend(&title, "\nviolated: ", r);
    head(col, name.empty() ? "-" : name, absl::StrCat(pid), title, rules, absl::StrCat(" data-pid=\"", pid, "\""));
  }
  if (lanes.others) {
    head(lanes.pids.size(), "others", absl::StrCat(lanes.others),
         absl::StrCat(lanes.others, " other processes share this lane"), {}, " data-others=\"1\"");
  }

  // The rows.
  for (size_t i = 0; i < rows.size(); ++i) {
    const int y = row_y(i), top = y - kRowHeight / 2;
    if (rows[i].e == nullptr) {
      absl::StrAppendFormat(&svg, "<g class=\"gap\"><text x=\"%d\" y=\"%d\">... %d events not shown ...</text></g>\n",
                            label_x, y + 4, static_cast<int>(rows[i].skipped));
      continue;
    }
    const Event& e = *rows[i].e;
    const bool violated = e.rules != nullptr;
    const std::string rules = violated ? absl::StrJoin(*e.rules, "; ") : "";
    absl::StrAppend(&svg, "<g class=\"row", violated ? " violated" : "", "\"",
                    violated ? absl::StrCat(" data-rule=\"", HtmlText(rules), "\"") : "", ">");
    if (violated) {
      absl::StrAppendFormat(&svg, "<rect class=\"hl\" x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\"/>", top, width, kRowHeight);
    }
    absl::StrAppendFormat(&svg, "<text class=\"t\" x=\"4\" y=\"%d\">%s</text>", y + 4, Ms(e.at));
    const int x = lane_x(e.pid);
    switch (e.kind) {
      case Event::kFork: {
        const int cx = lane_x(e.child), dir = cx >= x ? 1 : -1;
        absl::StrAppendFormat(&svg, "<g class=\"fork\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke-width=\"1.5\"/>"
                              "<polygon points=\"%d,%d %d,%d %d,%d\"/></g>",
                              x, y, cx - 6 * dir, y, cx, y, cx - 7 * dir, y - 4, cx - 7 * dir, y + 4);
        break;
      }
      case Event::kExec:
        absl::StrAppendFormat(&svg, "<polygon class=\"exec\" points=\"%d,%d %d,%d %d,%d %d,%d\"/>", x, y - 6, x + 6, y, x,
                              y + 6, x - 6, y);
        break;
      case Event::kLine:
        absl::StrAppendFormat(&svg, "<circle class=\"out\" cx=\"%d\" cy=\"%d\" r=\"5\"/>", x, y);
        break;
      case Event::kExit:
        absl::StrAppendFormat(&svg, "<rect class=\"exit\" x=\"%d\" y=\"%d\" width=\"10\" height=\"10\"/>", x - 5, y - 5);
        break;
    }
    std::string label = ShowText(rows[i].label, opt.max_text + 40);
    if (violated) absl::StrAppend(&label, "  \xe2\x9a\xa0 violated: ", Clip(rules, 300));
    absl::StrAppendFormat(&svg, "<text class=\"label\" x=\"%d\" y=\"%d\"><title>%s</title>%s</text></g>\n", label_x, y + 4,
                          HtmlText(label), HtmlText(Clip(label, kLabelChars)));
  }
  absl::StrAppend(&svg, "</svg>\n");
  if (left_out > 0 || lanes.others > 0) {
    absl::StrAppend(&svg, "<p class=\"meta\">Bounded: ", events.size(), " events, ", left_out, " not drawn; ", all.size(),
                    " processes, ", lanes.others, " of them on the shared lane.</p>\n");
  }
  return svg;
}

namespace {

// A cell's anchor: implementation column and scenario.
std::string Anchor(size_t impl, const std::string& id) { return absl::StrCat("c", impl, "-", id); }

// The violations of the reported run, as the text report lists them: rule,
// spec file:line, why, and the lines concerned with their pids.
std::string Violations(const Verdict& v) {
  if (v.violations.empty()) return "";
  std::string out = "<h4>Violations</h4>\n<ul class=\"violations\">\n";
  constexpr size_t kShown = 20;
  for (size_t i = 0; i < v.violations.size() && i < kShown; ++i) {
    const Violation& r = v.violations[i];
    absl::StrAppend(&out, "<li class=\"violation\" data-rule=\"", HtmlText(r.rule), "\"><span class=\"rule\">violated: ",
                    HtmlText(r.rule), "</span> (", HtmlText(r.loc.ToString()), ")");
    if (!r.message.empty()) absl::StrAppend(&out, "<br>", HtmlText(ShowText(r.message, 600)));
    if (!r.lines.empty()) {
      absl::StrAppend(&out, "<pre>");
      for (const Line& l : r.lines) {
        absl::StrAppend(&out, "#", l.seq + 1, " ", ShowWriter(l), " ", HtmlText(ShowText(l.text)), "\n");
      }
      absl::StrAppend(&out, "</pre>");
    }
    absl::StrAppend(&out, "</li>\n");
  }
  if (v.violations.size() > kShown) absl::StrAppend(&out, "<li>... and ", v.violations.size() - kShown, " more</li>\n");
  return out + "</ul>\n";
}

std::string Details(size_t col, const ImplOutcomes& impl, const Outcome& o, const HtmlOptions& opt) {
  const char* result = ResultName(o.result);
  std::string out = absl::StrCat("<details class=\"outcome ", result, "\" id=\"", HtmlText(Anchor(col, o.id)), "\"",
                                 o.result == Result::kPass ? "" : " open", ">\n<summary><span class=\"badge ", result,
                                 "\">", HtmlText(CellText(o)), "</span> ", HtmlText(o.id), " &mdash; ", HtmlText(impl.impl),
                                 ": ", HtmlText(ShowText(o.summary, 600)), "</summary>\n");
  if (o.expected.results != std::set<Result>{Result::kPass}) {
    absl::StrAppend(&out, "<p class=\"meta\">The expectations allow this scenario to ",
                    o.expected.results.count(Result::kFail) ? "FAIL" : "be UNSUPPORTED", ": ",
                    HtmlText(ShowText(o.expected.reason, 400)), "</p>\n");
  }
  if (!o.runs.empty()) {
    absl::StrAppend(&out, "<p class=\"meta\">Runs: ");
    for (size_t i = 0; i < o.runs.size() && i < 50; ++i) {
      const Run& r = o.runs[i];
      absl::StrAppend(&out, i ? ", " : "", i + 1, " <span class=\"badge ", ResultName(r.result), "\">",
                      ResultName(r.result), "</span>", r.summary.empty() ? "" : " (" + HtmlText(Clip(r.summary, 80)) + ")");
    }
    absl::StrAppend(&out, o.runs.size() > 50 ? ", ..." : "", "</p>\n");
  }
  if (!o.run_reports.empty()) {
    for (const std::string& r : o.run_reports) absl::StrAppend(&out, r);
  } else if (o.observed) {
    absl::StrAppend(&out, "<p class=\"meta\">The chart and the report below are of ",
                    o.failed_runs() ? "the first failing run" : "the last run", ".</p>\n<div class=\"chart\">",
                    LaneChart(*o.observed, o.verdict ? &*o.verdict : nullptr, opt), "</div>\n");
    if (o.verdict) absl::StrAppend(&out, Violations(*o.verdict));
  }
  if (!o.details.empty()) absl::StrAppend(&out, "<h4>Text report</h4>\n<pre>", HtmlText(o.details), "</pre>\n");
  return out + "</details>\n";
}

}  // namespace

void RunReports::Add(int run, int runs, Result result, const Observation& obs, const Verdict& v) {
  const bool failing = result != Result::kPass;
  if (failing ? failing_ >= kFailing : passing_ >= kPassing) {
    ++left_out_;
    return;
  }
  const bool open = failing && failing_ == 0;
  ++(failing ? failing_ : passing_);
  const char* name = ResultName(result);
  std::string why = !v.violations.empty() ? absl::StrCat("violated: ", v.violations[0].rule)
                    : result == Result::kUnresolved ? (v.unresolved.empty() ? v.incomplete : v.unresolved)
                                                    : "";
  if (v.violations.size() > 1) absl::StrAppend(&why, " and ", v.violations.size() - 1, " more");
  sections_.push_back(absl::StrCat("<details class=\"run ", name, "\"", open ? " open" : "", "><summary>run ", run, " of ",
                                   runs, ": <span class=\"badge ", name, "\">", name, "</span> ",
                                   HtmlText(ShowText(why, 300)), "</summary>\n<div class=\"chart\">",
                                   LaneChart(obs, &v, options_), "</div>\n", Violations(v), "</details>\n"));
}

std::vector<std::string> RunReports::Take() {
  std::vector<std::string> out = std::move(sections_);
  if (left_out_ > 0) {
    out.push_back(absl::StrCat("<p class=\"meta\">", left_out_, " more runs not charted (the first ", kFailing,
                               " failing and ", kPassing, " passing ones are).</p>\n"));
  }
  *this = RunReports(std::move(options_));
  return out;
}

std::string HtmlReport(const std::vector<ImplOutcomes>& impls, const HtmlOptions& opt) {
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
      "<title>",
      HtmlText(opt.title), "</title>\n<style>", kStyle, "</style></head>\n<body>\n<h1>", HtmlText(opt.title), "</h1>\n");
  for (const std::string& h : opt.header) absl::StrAppend(&out, "<p class=\"meta\">", HtmlText(h), "</p>\n");

  // The matrix, as MatrixText prints it.
  absl::StrAppend(&out, "<table class=\"matrix\" id=\"matrix\">\n<thead><tr><th>scenario</th>");
  for (const ImplOutcomes& impl : impls) {
    absl::StrAppend(&out, "<th title=\"", HtmlText(impl.dir), "\">", HtmlText(impl.impl), "</th>");
  }
  absl::StrAppend(&out, "</tr></thead>\n<tbody>\n");
  for (const std::string& id : MatrixRows(impls)) {
    absl::StrAppend(&out, "<tr><th>", HtmlText(id), "</th>");
    for (size_t c = 0; c < impls.size(); ++c) {
      const Outcome* o = FindOutcome(impls[c], id);
      if (o == nullptr) {
        absl::StrAppend(&out, "<td class=\"cell\">-</td>");
        continue;
      }
      const bool known = !o->unexpected() && o->result != Result::kPass;
      absl::StrAppend(&out, "<td class=\"cell ", ResultName(o->result), known ? " known" : "", "\" title=\"",
                      HtmlText(ShowText(o->summary, 300)), "\"><a href=\"#", HtmlText(Anchor(c, id)), "\">", HtmlText(CellText(*o)),
                      "</a></td>");
    }
    absl::StrAppend(&out, "</tr>\n");
  }
  absl::StrAppend(&out, "</tbody></table>\n<p class=\"meta\">k/N: runs passed of those made. * the implementation's "
                        "expectations allow this result (hatched); ! passed where the expectations say it fails.</p>\n");

  for (size_t c = 0; c < impls.size(); ++c) {
    absl::StrAppend(&out, "<h2>", HtmlText(impls[c].impl), "</h2>\n<p class=\"meta\">", HtmlText(impls[c].dir), "</p>\n");
    for (const Outcome& o : impls[c].outcomes) absl::StrAppend(&out, Details(c, impls[c], o, opt));
  }
  return out + "</body></html>\n";
}

absl::Status WriteHtmlReport(const std::string& html, const std::string& path) {
  base::posix::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return base::posix::ErrnoError(errno, absl::StrCat("open ", path));
  return base::posix::WriteFull(fd.get(), html.data(), html.size());
}

}  // namespace conformance::suite
