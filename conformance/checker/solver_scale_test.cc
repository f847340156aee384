// The checker at any output size (issue 14, defect 2): a million lines, the
// line cap, a 150,000-line transcript. Judged without recursion, in time
// linear in the output, with reports of bounded size. Separate from
// solver_test because building millions of lines takes a while under the
// sanitizers.

#include <string>
#include <vector>

#include "conformance/checker/check_testing.h"
#include "conformance/checker/checker.h"
#include "gtest/gtest.h"

namespace conformance {
namespace {

using testing::Builder;
using testing::Rules;
using testing::Scenario;
using testing::SpecOf;

TEST(ScaleTest, AMillionLinesInABlockPassAndOutsideOneFailWithABoundedReport) {
  Builder b;
  b.Proc(1, 0, 0, 10).Proc(2, 1, 1, 5).Exec("yes");
  b.W(1, 1, "begin\n");
  std::string y;
  for (int i = 0; i < 1000000; ++i) y += "y\n";
  b.W(2, 2, y).W(1, 3, "end\n");
  Spec with_block = SpecOf(
      "spec 2\nscenario big\nprocess root is root\nline begin by root \"begin\"\nblock ys after begin before "
      "end\nline end by root \"end\"\n");
  Verdict v = Check(with_block, b.obs, {});
  EXPECT_TRUE(v.pass()) << FormatVerdict(v).substr(0, 2000);
  EXPECT_EQ(v.lines.size(), 1000002u);

  Spec without = SpecOf("spec 2\nscenario big\nline begin \"begin\"\nline end \"end\"\n");
  v = Check(without, b.obs, {});
  EXPECT_EQ(Rules(v), std::vector<std::string>{"golden output"});
  ASSERT_EQ(v.violations.size(), 1u);
  EXPECT_NE(v.violations[0].message.find("1000000 unexpected lines"), std::string::npos) << v.violations[0].message;
  EXPECT_EQ(v.violations[0].lines.size(), kMaxShownLines);
  const std::string report = FormatVerdict(v);
  EXPECT_LT(report.size(), 20000u);
  EXPECT_NE(report.find("... and 999902 more lines"), std::string::npos) << report.substr(report.size() - 500);
}

TEST(ScaleTest, PastTheLineCapAVerdictCannotPass) {
  Builder b;
  b.Proc(1, 0, 0, 10).W(1, 1, std::string(kMaxLines + 5, '\n'));
  Verdict v = Check(
      SpecOf("spec 2\nscenario t\nline e \"\"\nline end optional \"END\"\nblock rest after e before end\n"), b.obs, {});
  EXPECT_EQ(v.result, Verdict::kUnresolved) << FormatVerdict(v);
  EXPECT_NE(v.unresolved.find("the output has 2097157 lines; the checker judged the first 2097152"), std::string::npos)
      << v.unresolved;
  // A failure is still a failure.
  v = Check(SpecOf("spec 2\nscenario t\nline x \"x\"\n"), b.obs, {});
  EXPECT_EQ(v.result, Verdict::kFail);
  EXPECT_NE(FormatVerdict(v).find("incomplete judgement"), std::string::npos);
}

TEST(ScaleTest, AHundredFiftyThousandLineTranscriptIsJudged) {
  std::string text;
  for (int i = 0; i < 150000; ++i) text += "Put A to queue..\n";
  Verdict v = Check(Scenario("queue"), ObservationFromTranscript(text), {.transcript = true});
  EXPECT_EQ(v.result, Verdict::kFail);
  EXPECT_NE(FormatVerdict(v).find("golden output"), std::string::npos);
}

}  // namespace
}  // namespace conformance
