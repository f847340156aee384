#include "conformance/suite/html.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/checker/check_testing.h"
#include "conformance/checker/checker.h"
#include "conformance/suite/matrix.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace conformance::suite {
namespace {

using ::conformance::testing::Builder;
using ::conformance::testing::SpecOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A root that forks a child which execs; the child writes the line the spec
// gives to the root, and prints `second` before `first`.
constexpr char kSpec[] = R"(spec 3
scenario t
process root is root
line first by root "first"
line second by root "second"
order first < second
exit root code 0
)";

Observation ForkAndWrongWriter() {
  Builder b;
  b.Proc(100, 0, 0, 50).Exec("/usr/bin/python3", {"t.py"});
  b.Proc(101, 100, 5, 40).Exec("/bin/echo", {"hi"});
  b.W(100, 10, "second\n").W(101, 20, "first\n");
  return b.obs;
}

Outcome OutcomeOf(const std::string& id, Result r, int passed, int runs) {
  Outcome o;
  o.id = id;
  o.result = r;
  for (int i = 0; i < runs; ++i) o.runs.push_back({i < passed ? Result::kPass : Result::kFail, "", 0});
  return o;
}

// How often `needle` occurs in `hay`.
size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

TEST(HtmlText, EscapesMarkupAndBytes) {
  EXPECT_EQ(HtmlText("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
  EXPECT_EQ(HtmlText("a\x1b[31m\xff"), "a\\x1b[31m\\xff");
}

TEST(LaneChart, DrawsLanesForksExecsExitsAndLines) {
  const Observation obs = ForkAndWrongWriter();
  const Verdict v = Check(SpecOf(kSpec), obs, {});
  ASSERT_FALSE(v.pass());
  const std::string svg = LaneChart(obs, &v, {});
  EXPECT_THAT(svg, HasSubstr("<svg"));
  EXPECT_THAT(svg, HasSubstr(">root</text>"));
  EXPECT_THAT(svg, HasSubstr(">100</text>"));
  EXPECT_THAT(svg, HasSubstr(">101</text>"));
  EXPECT_THAT(svg, HasSubstr("fork: pid 100 -&gt; pid 101"));
  EXPECT_THAT(svg, HasSubstr("exec echo hi"));
  EXPECT_THAT(svg, HasSubstr("pid 100 exited with 0"));
  EXPECT_THAT(svg, HasSubstr("#1 second"));
  EXPECT_THAT(svg, HasSubstr("#2 first"));
}

TEST(LaneChart, HighlightsWhatEachViolatedRuleConcerns) {
  const Observation obs = ForkAndWrongWriter();
  const Verdict v = Check(SpecOf(kSpec), obs, {});
  const std::string svg = LaneChart(obs, &v, {});
  std::vector<std::string> rules;
  for (const Violation& r : v.violations) rules.push_back(r.rule);
  // The line with the wrong writer (by root, written by 101) and the broken order.
  EXPECT_THAT(rules, ::testing::Contains("line first by root"));
  EXPECT_THAT(svg, HasSubstr("<g class=\"row violated\" data-rule=\"line first by root"));
  const size_t first = svg.find("#2 first"), row = svg.rfind("<g class=\"row", first);
  EXPECT_THAT(svg.substr(row, first - row), HasSubstr("violated"));
  // Rules about lines are shown on their lines, not on the processes.
  EXPECT_THAT(svg, HasSubstr("<g class=\"lanehead\" data-pid=\"100\""));
  // A line no rule concerns is not highlighted.
  const size_t hi = svg.find("exec echo hi"), exec_row = svg.rfind("<g class=\"row", hi);
  EXPECT_THAT(svg.substr(exec_row, hi - exec_row), Not(HasSubstr("violated")));
}

TEST(LaneChart, HighlightsALeftoverByThePidInTheMessage) {
  Builder b;
  b.Proc(100, 0, 0, 50);
  b.Proc(101, 100, 5, 60, WaitStatus::Signaled(9));
  b.obs.processes.back().killed_by_runner = true;
  b.W(100, 10, "a\n");
  const Verdict v = Check(SpecOf("spec 3\nscenario t\nprocess root is root\nline a by root \"a\"\nno-leftovers\n"), b.obs, {});
  ASSERT_FALSE(v.pass());
  const std::string svg = LaneChart(b.obs, &v, {});
  EXPECT_THAT(svg, HasSubstr("<g class=\"lanehead violated\" data-pid=\"101\" data-rule=\"no-leftovers\""));
  EXPECT_THAT(svg, HasSubstr("<g class=\"lanehead\" data-pid=\"100\""));
}

TEST(LaneChart, EscapesWhateverTheProgramWrote) {
  Builder b;
  b.Proc(100, 0, 0, 50);
  b.W(100, 10, "<script>alert(1)</script>\x1b[2J\xfe\n");
  const std::string svg = LaneChart(b.obs, nullptr, {});
  EXPECT_THAT(svg, Not(HasSubstr("<script")));
  EXPECT_THAT(svg, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J\\xfe"));
}

TEST(LaneChart, StaysBoundedForTenThousandProcessesAndManyLines) {
  Builder b;
  b.Proc(1, 0, 0, 100000);
  for (int i = 0; i < 10000; ++i) b.Proc(2 + i, 1, 1 + i, 2 + i);
  for (int i = 0; i < 100000; ++i) b.W(2 + i % 10000, 0, absl::StrCat("line ", i, " ", std::string(200, 'x'), "\n"));
  HtmlOptions opt;
  const std::string svg = LaneChart(b.obs, nullptr, opt);
  EXPECT_LT(svg.size(), 200'000u);
  EXPECT_EQ(Count(svg, "<g class=\"lanehead"), opt.max_lanes + 1);  // And the shared lane.
  EXPECT_THAT(svg, HasSubstr(absl::StrCat("others</text><text x=\"")));
  EXPECT_THAT(svg, HasSubstr(absl::StrCat(10001 - opt.max_lanes, "</text></g>")));
  EXPECT_EQ(Count(svg, "<g class=\"row"), opt.max_events);
  EXPECT_THAT(svg, HasSubstr(absl::StrCat("... ", 10001 + 10000 + 100000 - opt.max_events, " events not shown ...")));
  EXPECT_THAT(svg, HasSubstr("not drawn"));
}

TEST(Matrix, TextAndHtmlShowTheSameCells) {
  ImplOutcomes a{"mp", "/impls/mp", {OutcomeOf("fork", Result::kPass, 3, 3), OutcomeOf("pool", Result::kFail, 1, 3)}};
  Outcome known = OutcomeOf("pool", Result::kFail, 0, 3);
  known.expected.results = {Result::kFail};
  Outcome unsupported = OutcomeOf("fork", Result::kUnsupported, 0, 0);
  ImplOutcomes b{"DIR<x>", "/d", {unsupported, known}};
  const std::string text = MatrixText({a, b});
  EXPECT_EQ(text,
            "scenario  mp        DIR<x>\n"
            "fork      PASS 3/3  UNSUPPORTED\n"
            "pool      FAIL 1/3  FAIL 0/3 *\n"
            "  * the implementation's expectations allow this result\n");
  const std::string html = HtmlReport({a, b}, {});
  EXPECT_THAT(html, HasSubstr("<table class=\"matrix\" id=\"matrix\">"));
  EXPECT_THAT(html, HasSubstr("<th title=\"/d\">DIR&lt;x&gt;</th>"));
  for (const char* cell : {"PASS 3/3", "FAIL 1/3", "UNSUPPORTED", "FAIL 0/3 *"}) {
    EXPECT_THAT(html, HasSubstr(absl::StrCat("\">", cell, "</a></td>"))) << cell;
  }
  // Each cell links to its details, which exist; passing ones are collapsed.
  EXPECT_THAT(html, HasSubstr("<td class=\"cell FAIL known\""));
  EXPECT_THAT(html, HasSubstr("<a href=\"#c1-pool\">"));
  EXPECT_THAT(html, HasSubstr("<details class=\"outcome FAIL\" id=\"c1-pool\" open>"));
  EXPECT_THAT(html, HasSubstr("<details class=\"outcome PASS\" id=\"c0-fork\">"));
  // Self-contained: nothing to fetch, nothing to run.
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, HasSubstr("default-src 'none'"));
}

TEST(Html, DetailsHoldTheChartAndTheViolationsWithTheirSpecLines) {
  const Observation obs = ForkAndWrongWriter();
  Outcome o = OutcomeOf("t", Result::kFail, 0, 1);
  o.verdict = Check(SpecOf(kSpec), obs, {});
  o.observed = obs;
  o.details = "  violated: <text report>\n";
  const std::string html = HtmlReport({{"mp", "/d", {o}}}, {});
  EXPECT_THAT(html, HasSubstr("<div class=\"chart\"><svg"));
  EXPECT_THAT(html, HasSubstr("<li class=\"violation\" data-rule=\"order first &lt; second\"><span class=\"rule\">"
                              "violated: order first &lt; second</span> (t.spec:6)"));
  // Numbered as the text report numbers lines (from 1).
  EXPECT_THAT(html, HasSubstr("#2 [pid 101] first\n"));
  EXPECT_THAT(html, HasSubstr("<pre>  violated: &lt;text report&gt;\n</pre>"));
}

TEST(RunReports, ChartsTheFirstRunsOfEachKindAndCountsTheRest) {
  const Observation obs = ForkAndWrongWriter();
  const Verdict failed = Check(SpecOf(kSpec), obs, {});
  const Verdict passed = Check(SpecOf("spec 3\nscenario t\nprocess root is root\nline a by root \"second\"\n"
                                      "line b \"first\"\n"),
                               obs, {});
  ASSERT_TRUE(passed.pass());
  RunReports reports;
  for (int i = 1; i <= 15; ++i) {
    const bool fail = i % 3 != 0;
    reports.Add(i, 15, fail ? Result::kFail : Result::kPass, obs, fail ? failed : passed);
  }
  const std::vector<std::string> sections = reports.Take();
  ASSERT_EQ(sections.size(), RunReports::kFailing + RunReports::kPassing + 1u);
  EXPECT_THAT(sections[0], HasSubstr("<details class=\"run FAIL\" open><summary>run 1 of 15: "));
  EXPECT_THAT(sections[0], HasSubstr("violated: line first by root and 1 more</summary>"));
  EXPECT_THAT(sections[0], HasSubstr("<li class=\"violation\""));
  EXPECT_THAT(sections[1], HasSubstr("<details class=\"run FAIL\"><summary>run 2 of 15"));
  EXPECT_THAT(sections[2], HasSubstr("<details class=\"run PASS\"><summary>run 3 of 15"));
  EXPECT_EQ(sections.back(), "<p class=\"meta\">8 more runs not charted (the first 5 failing and 2 passing ones are).</p>\n");
  EXPECT_TRUE(reports.Take().empty());  // Starts afresh.
  // In the page, the runs' sections replace the single chart.
  Outcome o = OutcomeOf("t", Result::kFail, 0, 1);
  o.run_reports = {"<details class=\"run FAIL\">RUN</details>\n"};
  EXPECT_THAT(HtmlReport({{"mp", "/d", {o}}}, {}), HasSubstr("RUN</details>"));
}

TEST(WriteHtmlReport, SaysWhyItCannotWrite) {
  absl::Status s = WriteHtmlReport("x", "/nonexistent/dir/r.html");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("/nonexistent/dir/r.html"));
}

}  // namespace
}  // namespace conformance::suite
