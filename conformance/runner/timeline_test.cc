#include "conformance/runner/timeline.h"

#include <stdio.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/tracer.h"
#include "gtest/gtest.h"

namespace conformance {
namespace {


std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

// Parses `path` with Python's json module and prints one line per event:
// "ph pid name", so the test checks what a trace viewer would read.
std::string ParseWithPython(const std::string& path) {
  std::string cmd = absl::StrCat(
      "python3 -c 'import json,sys\n"
      "d = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"
      "for e in d[\"traceEvents\"]:\n"
      "  print(e[\"ph\"], e[\"pid\"], e[\"name\"], e.get(\"args\", {}).get(\"text\", \"\").encode().hex())\n"
      "' ",
      path, " 2>&1");
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return absl::StrCat("python3 failed: ", out);
  return out;
}

std::string Hex(const std::string& s) {
  std::string out;
  for (unsigned char c : s) absl::StrAppend(&out, absl::Hex(c, absl::kZeroPad2));
  return out;
}

TEST(TimelineTest, HandMadeObservationParsesWithEveryEvent) {
  Observation o;
  o.traced = true;
  o.wall = absl::Milliseconds(30);
  ProcessRecord root;
  root.pid = 100;
  root.execs = {{"/bin/prog", "/bin/prog", {"/bin/prog"}, absl::Microseconds(5)}};
  root.started = absl::ZeroDuration();
  root.ended = absl::Milliseconds(20);
  root.exit = WaitStatus::Exited(0);
  ProcessRecord kid;
  kid.pid = 101;
  kid.forked_by = 100;
  kid.started = absl::Milliseconds(1);
  kid.ended = absl::Milliseconds(25);
  kid.exit = WaitStatus::Signaled(9);
  kid.killed_by_runner = true;
  o.processes = {root, kid};
  // Quotes, control characters, UTF-8 and a byte that is not UTF-8.
  std::string text = "say \"hi\"\\ \x01 caf\xc3\xa9 \xff\n";
  o.writes = {{100, 1, "start\n", absl::Milliseconds(2)}, {101, 2, text, absl::Milliseconds(3)}};
  std::string path = TmpPath("hand.json");
  ASSERT_TRUE(WriteChromeTrace(o, path).ok());
  std::string events = ParseWithPython(path);
  EXPECT_NE(events.find("M 100 process_name"), std::string::npos) << events;
  EXPECT_NE(events.find("X 100 pid 100 /bin/prog"), std::string::npos) << events;
  EXPECT_NE(events.find("X 101 pid 101"), std::string::npos) << events;
  EXPECT_NE(events.find("i 100 fork 101"), std::string::npos) << events;
  EXPECT_NE(events.find("i 100 exec /bin/prog"), std::string::npos) << events;
  EXPECT_NE(events.find("i 100 exit: exited with 0"), std::string::npos) << events;
  EXPECT_NE(events.find("i 101 exit: killed by runner (killed by signal 9 (SIGKILL))"), std::string::npos)
      << events;
  EXPECT_NE(events.find("i 100 stdout: start " + Hex("start\n")), std::string::npos) << events;
  // The text comes back as written, the bad byte as U+00FF.
  std::string back = "say \"hi\"\\ \x01 caf\xc3\xa9 \xc3\xbf\n";
  EXPECT_NE(events.find(Hex(back)), std::string::npos) << events;
}

// Bytes that only look like UTF-8 (a surrogate, an overlong '/', a lead
// byte past U+10FFFF) are not text: written raw they made the file invalid
// UTF-8, which a JSON reader refuses. They come back byte by byte, as U+00XX.
TEST(TimelineTest, SurrogatesAndOverlongFormsAreEscapedByteByByte) {
  Observation o;
  o.traced = true;
  ProcessRecord root;
  root.pid = 100;
  root.exit = WaitStatus::Exited(0);
  o.processes = {root};
  o.writes = {{100, 1, "\xed\xa0\x80|\xc0\xaf|\xf8\x88\x80\x80\x80\n", absl::Milliseconds(1)}};
  std::string path = TmpPath("not_utf8.json");
  ASSERT_TRUE(WriteChromeTrace(o, path).ok());
  std::string events = ParseWithPython(path);
  std::string back = "\xc3\xad\xc2\xa0\xc2\x80|\xc3\x80\xc2\xaf|\xc3\xb8\xc2\x88\xc2\x80\xc2\x80\xc2\x80\n";
  EXPECT_NE(events.find(Hex(back)), std::string::npos) << events;
}

TEST(TimelineTest, TracedRunParses) {
  RunRequest req;
  const char* dir = std::getenv("TEST_SRCDIR");
  req.argv = {absl::StrCat(dir != nullptr ? dir : ".", "/mp/conformance/runner/testdata/tracer_helper"), "exec"};
  req.timeout = absl::Seconds(60);
  absl::StatusOr<Observation> o = conformance::Run(req);
  ASSERT_TRUE(o.ok()) << o.status();
  std::string path = TmpPath("run.json");
  ASSERT_TRUE(WriteChromeTrace(*o, path).ok());
  std::string events = ParseWithPython(path);
  int x = 0, writes = 0;
  for (size_t at = 0; (at = events.find("X ", at)) != std::string::npos; ++at) ++x;
  for (size_t at = 0; (at = events.find(" stdout: ", at)) != std::string::npos; ++at) ++writes;
  EXPECT_EQ(x, 3) << events;
  EXPECT_EQ(writes, static_cast<int>(o->writes.size()) - 1) << events;  // One write is to stderr.
}

TEST(TimelineTest, UnwritablePathIsAnError) {
  EXPECT_EQ(WriteChromeTrace(Observation{}, "/nonexistent/dir/x.json").code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace conformance
