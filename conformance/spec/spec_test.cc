#include "conformance/spec/parse.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace conformance {
namespace {

std::string ReadRunfile(const std::string& path) {
  std::ifstream in(std::string(getenv("TEST_SRCDIR")) + "/mp/" + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SpecTest, ParsesEveryScenario) {
  for (const char* id : {"fork", "process", "pool", "subprocess_call", "subprocess_communicate", "queue"}) {
    const std::string path = std::string("conformance/scenarios/") + id + ".spec";
    std::string text = ReadRunfile(path);
    ASSERT_FALSE(text.empty()) << path;
    absl::StatusOr<Spec> spec = ParseSpec(text, path);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_EQ(spec->scenario, id);
  }
}

TEST(SpecTest, LoopsExpandIntoLabelsNamesAndPatterns) {
  absl::StatusOr<Spec> spec = ParseSpec(R"(spec 1
scenario s
process root is root
for i in 0..2 {
process w$i child of root
line run$i by w$i "Run task $i ({pid w$i})... $ cost"
}
order run0 < run2
)", "t.spec");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->lines.size(), 3u);
  EXPECT_EQ(spec->lines[2].label, "run2");
  EXPECT_EQ(spec->lines[2].by, "w2");
  EXPECT_EQ(spec->lines[2].source, "Run task 2 ({pid w2})... $ cost");
  EXPECT_EQ(spec->lines[2].loc.line, 6);
  // The rules in order, then the two every spec has.
  ASSERT_GE(spec->rules.size(), 3u);
  const Rule& order = spec->rules[spec->rules.size() - 3];
  EXPECT_EQ(order.kind, "order");
  EXPECT_EQ(order.text, "order run0 < run2");
  EXPECT_EQ(order.labels, (std::vector<std::string>{"run0", "run2"}));
  EXPECT_EQ(order.loc.ToString(), "t.spec:8");
  EXPECT_EQ(spec->rules[spec->rules.size() - 2].kind, "golden output");
  EXPECT_EQ(spec->rules.back().kind, "the run ends within its timeout");
}

TEST(SpecTest, PatternPlaceholders) {
  absl::StatusOr<std::vector<Segment>> segs = ParsePattern("Task {int n 0..4} runs {num secs 0..3.5} s {{x}} {text}", {"t", 1});
  ASSERT_TRUE(segs.ok()) << segs.status();
  ASSERT_EQ(segs->size(), 6u);
  EXPECT_EQ((*segs)[1].kind, Segment::kInt);
  EXPECT_EQ(*(*segs)[3].hi, 3.5);
  EXPECT_EQ((*segs)[4].text, " s {x} ");
  EXPECT_EQ((*segs)[5].kind, Segment::kText);
}

TEST(SpecTest, ErratumKeepsDocumentedText) {
  absl::StatusOr<Spec> spec = ParseSpec(R"(spec 1
scenario s
line a "Child process end."
erratum a documented "Process end." because "hand-edited docs"
)", "t.spec");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->lines[0].documented_source, "Process end.");
  EXPECT_EQ(spec->lines[0].erratum_because, "hand-edited docs");
}

struct Malformed {
  const char* name;
  const char* text;
  const char* error;  // Expected substring, starting with "t.spec:LINE: error:".
};

const Malformed kMalformed[] = {
    {"Empty", "", "t.spec:1: error: a spec starts with `spec 3`"},
    {"NoVersion", "spec\nscenario s\n", "t.spec:1: error: expected `spec VERSION`"},
    {"FutureVersion", "spec 4\nscenario s\n", "t.spec:1: error: unsupported spec version 4; this checker reads versions 1 to 3"},
    {"NoScenario", "spec 1\nline a \"x\"\n", "t.spec:2: error: expected `scenario ID`"},
    {"NoLines", "spec 1\nscenario s\n", "t.spec:2: error: the spec declares no `line`"},
    {"UnknownStatement", "spec 1\nscenario s\nlines a \"x\"\n", "t.spec:3: error: unknown statement 'lines'"},
    {"UnterminatedString", "spec 1\nscenario s\nline a \"x\n", "t.spec:3: error: unterminated string"},
    {"BadEscape", "spec 1\nscenario s\nline a \"\\n\"\n", "t.spec:3: error: unknown escape"},
    {"BadChar", "spec 1\nscenario s\nline a @ \"x\"\n", "t.spec:3: error: unexpected character '@'"},
    {"LineWithoutPattern", "spec 1\nscenario s\nline a\n", "t.spec:3: error: expected the line's \"PATTERN\""},
    {"TrailingAfterPattern", "spec 1\nscenario s\nline a \"x\" y\n", "t.spec:3: error: unexpected 'y' after the pattern"},
    {"DuplicateLabel", "spec 1\nscenario s\nline a \"x\"\nline a \"y\"\n", "t.spec:4: error: label 'a' is used twice"},
    {"UnknownLabelInOrder", "spec 1\nscenario s\nline a \"x\"\norder a < b\n", "t.spec:4: error: unknown line label 'b'"},
    {"OrderWithoutLess", "spec 1\nscenario s\nline a \"x\"\nline b \"y\"\norder a b\n", "t.spec:5: error: expected `order LABEL < LABEL"},
    {"UndeclaredPid", "spec 1\nscenario s\nline a \"({pid kid})\"\n", "t.spec:3: error: {pid kid} names an undeclared process"},
    {"UndeclaredBy", "spec 1\nscenario s\nline a by kid \"x\"\n", "t.spec:3: error: unknown process 'kid'"},
    {"BadPlaceholder", "spec 1\nscenario s\nline a \"{float x}\"\n", "t.spec:3: error: bad placeholder {float x}"},
    {"UnclosedBrace", "spec 1\nscenario s\nline a \"{int x\"\n", "t.spec:3: error: '{' without '}'"},
    {"StrayCloseBrace", "spec 1\nscenario s\nline a \"x}\"\n", "t.spec:3: error: single '}'"},
    {"BadRange", "spec 1\nscenario s\nline a \"{num x 3..1}\"\n", "t.spec:3: error: empty range '3..1'"},
    {"RangeNotNumbers", "spec 1\nscenario s\nline a \"{num x a..b}\"\n", "t.spec:3: error: bad range 'a..b'"},
    {"DuplicateProcess", "spec 1\nscenario s\nprocess p\nprocess p\nline a \"x\"\n", "t.spec:4: error: process 'p' is declared twice"},
    {"BadProcessAttr", "spec 1\nscenario s\nprocess p parent of q\nline a \"x\"\n", "t.spec:3: error: unexpected 'parent' in process declaration"},
    {"ExitBadCode", "spec 1\nscenario s\nprocess p\nline a \"x\"\nexit p code 300\n", "t.spec:5: error: exit code must be an integer 0..255"},
    {"ExitBadSignal", "spec 1\nscenario s\nprocess p\nline a \"x\"\nexit p signal SIGFOO\n", "t.spec:5: error: unknown signal 'SIGFOO'"},
    {"ExitUnknownVar", "spec 1\nscenario s\nprocess p\nline a \"x\"\nexit p returncode rc\n", "t.spec:5: error: 'rc' is not an {int rc} placeholder"},
    {"ErratumWithoutReason", "spec 1\nscenario s\nline a \"x\"\nerratum a documented \"y\"\n", "t.spec:4: error: an erratum must say why"},
    {"ErratumUnknownLine", "spec 1\nscenario s\nline a \"x\"\nerratum b because \"z\"\n", "t.spec:4: error: erratum for unknown line 'b'"},
    {"ErratumTwice", "spec 1\nscenario s\nline a \"x\"\nerratum a because \"z\"\nerratum a because \"w\"\n", "t.spec:5: error: line 'a' already has an erratum"},
    {"UnclosedLoop", "spec 1\nscenario s\nfor i in 0..2 {\nline a$i \"x\"\n", "t.spec:3: error: this loop's `{` is never closed"},
    {"BadLoopHeader", "spec 1\nscenario s\nfor i 0..2 {\n}\n", "t.spec:3: error: expected `for VAR in LO..HI {`"},
    {"EmptyLoopRange", "spec 1\nscenario s\nfor i in 3..1 {\n}\nline a \"x\"\n", "t.spec:3: error: bad loop range 3..1"},
    {"LoopVarOutsideLoop", "spec 1\nscenario s\nline a$i \"x\"\n", "t.spec:3: error: 'a$i' uses a loop variable outside any loop"},
    {"StrayBrace", "spec 1\nscenario s\nline a \"x\"\n}\n", "t.spec:4: error: unexpected '}'"},
    {"DuplicateInLoop", "spec 1\nscenario s\nfor i in 0..1 {\nline a \"x\"\n}\n", "t.spec:4: error: label 'a' is used twice"},
    {"ErrorInsideLoopBody", "spec 1\nscenario s\nline a \"x\"\nfor v in A B {\norder a < b$v\n}\n", "t.spec:5: error: unknown line label 'bA'"},
    {"BlockSyntax", "spec 1\nscenario s\nline a \"x\"\nblock b after a\n", "t.spec:4: error: expected `block LABEL [by NAME] after LABEL before LABEL [at-least N]`"},
    {"SpanSyntax", "spec 1\nscenario s\nline a \"x\"\nspan from a to a\n", "t.spec:4: error: expected `span from LABEL to LABEL on NAME`"},
    {"AtMostZero", "spec 1\nscenario s\nprocess p\nline a \"x\"\nat-most 0 distinct p\n", "t.spec:5: error: expected `at-most N distinct"},
    {"DistinctOne", "spec 1\nscenario s\nprocess p\nline a \"x\"\ndistinct p\n", "t.spec:5: error: expected `distinct NAME NAME...`"},
    {"NoLeftoversArgs", "spec 1\nscenario s\nline a \"x\"\nno-leftovers now\n", "t.spec:4: error: `no-leftovers` takes no arguments"},
    {"SecondScenario", "spec 1\nscenario s\nscenario t\nline a \"x\"\n", "t.spec:3: error: `scenario` may appear only once"},
    {"IntNamedLikeProcess", "spec 1\nscenario s\nprocess p\nline a \"{int p}\"\n", "t.spec:4: error: 'p' is a process name"},
    {"ReportedParentSyntax", "spec 1\nscenario s\nprocess p\nline a \"{int v}\"\nreported-parent v p\n", "t.spec:5: error: expected `reported-parent VAR of NAME`"},
    // Specs that no run could pass are errors, at the statement that makes them so.
    {"OrderedAfterItself", "spec 1\nscenario s\nline a \"x\"\norder a < a\n",
     "t.spec:4: error: `order a < a` orders 'a' after itself; no run can pass"},
    {"OrderCycle", "spec 1\nscenario s\nline a \"x\"\nline b \"y\"\nline c \"z\"\norder a < b < c\norder c < a\n",
     "t.spec:7: error: `order c < a` makes a cycle: 'a' already comes before 'c'; no run can pass"},
    {"OwnParent", "spec 1\nscenario s\nprocess k child of k\nline a \"x\"\n",
     "t.spec:3: error: `process k child of k` makes k its own ancestor"},
    {"ParentCycle", "spec 1\nscenario s\nprocess a child of b\nprocess b child of a\nline x \"x\"\n",
     "t.spec:4: error: `process b child of a` makes b its own ancestor"},
    {"ContradictoryExits", "spec 1\nscenario s\nprocess r is root\nline a \"x\"\nexit r code 0\nexit r code 1\n",
     "t.spec:6: error: `exit r code 1` contradicts `exit r code 0` (line 5); no run can pass"},
    {"ExitCodeAndSignal", "spec 1\nscenario s\nprocess r is root\nline a \"x\"\nexit r code 0\nexit r signal SIGTERM\n",
     "t.spec:6: error: `exit r signal SIGTERM` contradicts `exit r code 0`"},
    {"TwoRoots", "spec 1\nscenario s\nprocess a is root\nprocess b is root\nline x \"x\"\n",
     "t.spec:4: error: `process b is root`, but `process a is root` (line 3): a run has one root"},
    {"ExitedBeforeItsOwnLine", "spec 1\nscenario s\nprocess c\nline a by c \"x\"\nexited c before a\n",
     "t.spec:5: error: `exited c before a`, but c writes 'a' itself (line 4), so it cannot have exited before it"},
    {"BlockAtLeastZero", "spec 3\nscenario s\nline a \"x\"\nline b \"y\"\nblock c after a before b at-least 0\n",
     "t.spec:5: error: expected a number of lines >= 1 after `at-least`"},
    {"ConcurrentOne", "spec 3\nscenario s\nline a \"x\"\nline b \"y\"\nat-least 1 concurrent a..b\n",
     "t.spec:5: error: expected `at-least K concurrent A..B C..D...` with K >= 2"},
    {"ConcurrentNotASpan", "spec 3\nscenario s\nline a \"x\"\nline b \"y\"\nat-least 2 concurrent a to b a..b\n",
     "t.spec:5: error: expected a span LABEL..LABEL, found 'a'"},
    {"StdioOther", "spec 3\nscenario s\nstdio tty\nline a \"x\"\n", "t.spec:3: error: expected `stdio pty` or `stdio pipe`"},
    {"StdioTwice", "spec 3\nscenario s\nstdio pty\nstdio pipe\nline a \"x\"\n", "t.spec:4: error: `stdio` may appear only once"},
    {"ExecsWithoutProgram", "spec 3\nscenario s\nprocess p execs args\nline a \"x\"\n",
     "t.spec:3: error: expected `execs \"PROGRAM\" [args \"ARG\"...]`"},
    {"DescendantOfWhat", "spec 3\nscenario s\nprocess p descendant of\nline a \"x\"\n",
     "t.spec:3: error: expected a process name after `descendant of`"},
    // Bad bytes are quoted as escapes, long words shortened.
    {"ByteOrderMark", "\xEF\xBB\xBFspec 1\nscenario s\n", "t.spec:1: error: the file starts with a UTF-8 byte order mark"},
    {"ControlByte", "spec 1\nscenario s\n\x1b[31m\n", "t.spec:3: error: unexpected character '\\x1b'"},
    {"LoopVariableMisnamed", "spec 1\nscenario s\nfor i in 0..1 {\nline a$i_x \"x\"\n}\n",
     "t.spec:4: error: 'a$i_x' names no loop variable in scope (i)"},
};

class MalformedSpecTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedSpecTest, GivesFileLineError) {
  absl::StatusOr<Spec> spec = ParseSpec(GetParam().text, "t.spec");
  ASSERT_FALSE(spec.ok()) << "parsed: " << GetParam().text;
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(spec.status().message()).find(GetParam().error), std::string::npos)
      << "got: " << spec.status().message() << "\nwant: " << GetParam().error;
}

TEST(SpecTest, VersionThreeStatements) {
  absl::StatusOr<Spec> spec = ParseSpec(R"(spec 3
scenario s
stdio pty
process root is root
process ns child of root execs "nslookup" args "www.python.org"
process w descendant of root no-exec
line cmd by root "$ nslookup"
block answer by ns after cmd before code at-least 2
line code by root "Exit code: {int rc}"
at-least 2 concurrent cmd..code cmd..code
)", "t.spec");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->stdio, "pty");
  ASSERT_EQ(spec->blocks.size(), 1u);
  EXPECT_EQ(spec->blocks[0].by, "ns");
  EXPECT_EQ(spec->blocks[0].at_least, 2);
  std::vector<std::string> texts;
  for (const Rule& r : spec->rules) texts.push_back(r.text);
  EXPECT_NE(std::find(texts.begin(), texts.end(), "process ns execs \"nslookup\" args \"www.python.org\""), texts.end());
  EXPECT_NE(std::find(texts.begin(), texts.end(), "process w descendant of root"), texts.end());
  EXPECT_NE(std::find(texts.begin(), texts.end(), "process w no-exec"), texts.end());
  EXPECT_NE(std::find(texts.begin(), texts.end(), "block answer by ns after cmd before code at-least 2"), texts.end());
  EXPECT_NE(std::find(texts.begin(), texts.end(), "at-least 2 concurrent cmd..code cmd..code"), texts.end());
}

TEST(SpecTest, ANulByteIsQuotedAsAnEscape) {
  const std::string text = "spec 1\nscenario s\nline a \"x\"\n" + std::string(1, '\0') + "\n";
  absl::StatusOr<Spec> spec = ParseSpec(text, "t.spec");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), "t.spec:4: error: unexpected character '\\x00'");
}

TEST(SpecTest, AHugeWordIsShortenedInTheError) {
  const std::string text = "spec 1\nscenario s\n" + std::string(1 << 20, 'x') + "\n";
  absl::StatusOr<Spec> spec = ParseSpec(text, "t.spec");
  ASSERT_FALSE(spec.ok());
  EXPECT_LT(spec.status().message().size(), 400u) << spec.status().message().substr(0, 400);
  EXPECT_NE(spec.status().message().find("(1048576 bytes)"), absl::string_view::npos);
}

TEST(SpecTest, EveryVersionUpToTheCurrentOneIsRead) {
  for (int v = 1; v <= kSpecLanguageVersion; ++v) {
    absl::StatusOr<Spec> spec = ParseSpec(absl::StrCat("spec ", v, "\nscenario s\nline a \"x\"\n"), "t.spec");
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_EQ(spec->version, v);
  }
}

INSTANTIATE_TEST_SUITE_P(All, MalformedSpecTest, ::testing::ValuesIn(kMalformed),
                         [](const ::testing::TestParamInfo<Malformed>& i) { return i.param.name; });

}  // namespace
}  // namespace conformance
