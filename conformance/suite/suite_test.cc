// The suite's pieces that need no runs: expectations files, the exit status
// policy, JUnit's escaping, scenario discovery and what is wrong with a
// program before it runs.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/suite/discovery.h"
#include "conformance/suite/expectations.h"
#include "conformance/suite/junit.h"
#include "conformance/suite/outcome.h"
#include "gtest/gtest.h"

namespace conformance::suite {
namespace {

const std::vector<std::string> kIds = {"fork", "pool", "queue"};

TEST(ExpectationsTest, ParsesResultsReasonsAndIntermittents) {
  absl::StatusOr<Expectations> e = ParseExpectations(R"(# known problems
[pool]
  expected: FAIL
  reason: Pool(n) runs every task on one worker
  bug: https://example.org/12

[queue]
  expected: [PASS, FAIL]
  reason: the reader is sometimes terminated early
)",
                                                     "x/expectations", kIds);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->size(), 2u);
  EXPECT_EQ(e->at("pool").results, std::set<Result>{Result::kFail});
  EXPECT_EQ(e->at("pool").bug, "https://example.org/12");
  EXPECT_EQ(e->at("pool").loc.ToString(), "x/expectations:2");
  EXPECT_TRUE(e->at("queue").intermittent());
}

TEST(ExpectationsTest, ErrorsNameTheFileAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"[nosuch]\n  expected: FAIL\n  reason: r\n", "x:1: error: unknown scenario 'nosuch' (scenarios: fork, pool, queue)"},
      {"[pool]\n  expected: BROKEN\n", "x:2: error: unknown result 'BROKEN'"},
      {"[pool]\n  expected: FAIL\n", "x:1: error: [pool] expects other than PASS without a `reason:`"},
      {"[pool]\n  reason: r\n", "x:1: error: [pool] says nothing `expected:`"},
      {"[pool]\n  expected: PASS\n[pool]\n  expected: PASS\n", "x:3: error: [pool] appears twice"},
      {"[pool]\n  colour: red\n", "x:2: error: unknown key 'colour'"},
      {"expected: FAIL\n", "x:1: error: expected `[SCENARIO]`"},
      {"[pool]\n  expected: PASS, FAIL\n", "x:2: error: several results go in brackets"},
  };
  for (const auto& [text, want] : cases) {
    absl::StatusOr<Expectations> e = ParseExpectations(text, "x", kIds);
    ASSERT_FALSE(e.ok()) << text;
    EXPECT_NE(e.status().message().find(want), absl::string_view::npos) << e.status().message() << "\nwant: " << want;
  }
}

Outcome Of(Result r, std::set<Result> expected = {Result::kPass}) {
  Outcome o;
  o.result = r;
  o.expected.results = std::move(expected);
  return o;
}

TEST(OutcomeTest, ExitStatusIsZeroOnlyWhenEveryExpectationIsMet) {
  EXPECT_EQ(ExitCode({Of(Result::kPass), Of(Result::kPass)}, {}), kExitOk);
  EXPECT_EQ(ExitCode({Of(Result::kPass), Of(Result::kFail)}, {}), kExitFail);
  EXPECT_EQ(ExitCode({Of(Result::kFail, {Result::kFail})}, {}), kExitOk);         // A known failure.
  EXPECT_EQ(ExitCode({Of(Result::kPass, {Result::kFail})}, {}), kExitFail);       // A stale expectation.
  EXPECT_EQ(ExitCode({Of(Result::kFail, {Result::kPass, Result::kFail})}, {}), kExitOk);  // Intermittent.
  EXPECT_EQ(ExitCode({Of(Result::kUnresolved)}, {}), kExitUnresolved);
  EXPECT_EQ(ExitCode({Of(Result::kUnsupported)}, {}), kExitUnresolved);
  EXPECT_EQ(ExitCode({Of(Result::kUnsupported)}, {.allow_unsupported = true}), kExitOk);
  EXPECT_EQ(ExitCode({Of(Result::kUnresolved), Of(Result::kFail)}, {}), kExitFail);  // FAIL wins.
  EXPECT_EQ(ExitCode({}, {}), kExitOk);
}

TEST(JUnitTest, TextIsAlwaysWellFormedXml) {
  EXPECT_EQ(XmlText("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(XmlText("\x1b[31mred\x01\n\t\r"), "\\x1b[31mred\\x01\n\t\r");
  EXPECT_EQ(XmlText("caf\xc3\xa9 \xff\xfe"), "caf\xc3\xa9 \\xff\\xfe");
  EXPECT_EQ(XmlText(std::string("nul\0byte", 8)), "nul\\x00byte");
}

TEST(JUnitTest, ExpectationsDecideFailureSkippedAndError) {
  std::vector<Outcome> outs = {Of(Result::kPass), Of(Result::kFail), Of(Result::kFail, {Result::kFail}),
                               Of(Result::kPass, {Result::kFail}), Of(Result::kUnresolved), Of(Result::kUnsupported)};
  outs[2].expected.reason = "known";
  outs[3].expected.reason = "known";
  for (size_t i = 0; i < outs.size(); ++i) outs[i].id = absl::StrCat("s", i);
  const std::string xml = JUnitXml("suite", outs);
  EXPECT_NE(xml.find("tests=\"6\" failures=\"2\" errors=\"1\" skipped=\"2\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<skipped message=\"expected FAIL: FAIL: known\"/>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("unexpected PASS (expected FAIL: known): update the expectations"), std::string::npos) << xml;
}

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
  }
  std::string Write(const std::string& name, const std::string& text, bool exec) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    ::chmod(p.c_str(), exec ? 0755 : 0644);
    return p;
  }
  std::string dir_;
};

TEST_F(FilesTest, ScenariosAreTheSpecFilesWithTheirFirstComment) {
  Write("b.spec", "# Scenario `b`: the second one.\nspec 3\n", false);
  Write("a.spec", "# Scenario `a`: the first one.\nspec 3\n", false);
  Write("notes.txt", "not a spec", false);
  absl::StatusOr<std::vector<ScenarioFile>> s = DiscoverScenarios(dir_);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].id, "a");
  EXPECT_EQ((*s)[0].description, "the first one.");
  EXPECT_EQ((*s)[1].id, "b");
  EXPECT_FALSE(DiscoverScenarios(dir_ + "/nosuch").ok());
}

TEST_F(FilesTest, WhatIsWrongWithAProgramIsSaid) {
  EXPECT_FALSE(CheckProgram(Write("ok", "#!/bin/sh\necho hi\n", true)).has_value());
  EXPECT_FALSE(CheckProgram(Write("envok", "#!/usr/bin/env sh\necho hi\n", true)).has_value());
  std::optional<ProgramProblem> p = CheckProgram(dir_ + "/missing");
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->missing);
  auto why = [&](const std::string& path) {
    std::optional<ProgramProblem> q = CheckProgram(path);
    EXPECT_TRUE(q.has_value() && !q->missing) << path;
    return q ? q->why : "";
  };
  EXPECT_NE(why(Write("noexec", "#!/bin/sh\n", false)).find("is not executable (chmod +x "), std::string::npos);
  EXPECT_NE(why(Write("empty", "", true)).find("is an empty file"), std::string::npos);
  EXPECT_NE(why(Write("badinterp", "#!/no/such/interpreter\n", true)).find("'s interpreter /no/such/interpreter does not exist"),
            std::string::npos);
  EXPECT_NE(why(Write("badenv", "#!/usr/bin/env -S no-such-python -u\n", true))
                .find("'s interpreter no-such-python (run by /usr/bin/env) is not on PATH"),
            std::string::npos);
  std::filesystem::create_directory(dir_ + "/adir");
  EXPECT_NE(why(dir_ + "/adir").find("is a directory, not a program"), std::string::npos);
  std::filesystem::create_symlink(dir_ + "/gone", dir_ + "/dangling");
  EXPECT_NE(why(dir_ + "/dangling").find("is a broken symbolic link (to " + dir_ + "/gone)"), std::string::npos);
}

}  // namespace
}  // namespace conformance::suite
