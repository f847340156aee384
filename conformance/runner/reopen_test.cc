#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "conformance/runner/reopen.h"
#include "gtest/gtest.h"

namespace conformance::internal {
namespace {

TEST(ReopenTest, ParseFdPath) {
  auto parse = [](absl::string_view p) {
    std::optional<FdPath> f = ParseFdPath(p);
    return f ? absl::StrCat(f->proc, ":", f->fd) : std::string("-");
  };
  EXPECT_EQ(parse("/dev/stdin"), "self:0");
  EXPECT_EQ(parse("/dev/stdout"), "self:1");
  EXPECT_EQ(parse("/dev/stderr"), "self:2");
  EXPECT_EQ(parse("/dev/fd/12"), "self:12");
  EXPECT_EQ(parse("/proc/self/fd/1"), "self:1");
  EXPECT_EQ(parse("/proc/thread-self/fd/2"), "thread-self:2");
  EXPECT_EQ(parse("/proc/42/fd/1"), "42:1");
  EXPECT_EQ(parse("/proc/42/task/43/fd/1"), "42/task/43:1");
  EXPECT_EQ(parse("/proc/self/task/43/fd/1"), "self/task/43:1");
  for (const char* bad : {"/dev/stdout2", "/dev/fd/", "/dev/fd/1/", "/dev/fd/-1", "/dev/fd/+1", "/proc/self/fd",
                          "/proc/self/fdinfo/1", "/proc/x/fd/1", "/proc/thread-self/task/1/fd/1", "/proc/self/../self/fd/1",
                          "/dev//stdout", "dev/stdout", "/proc/1/task//fd/1", "/dev/fd/99999999999"}) {
    EXPECT_EQ(parse(bad), "-") << bad;
  }
}

}  // namespace
}  // namespace conformance::internal
