#include "conformance/suite/discovery.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace conformance::suite {
namespace {

std::string FirstLine(const std::string& path, size_t max) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::getline(in, line);
  return line.substr(0, max);
}

// Whether `prog` names an executable file, directly or on PATH.
bool OnPath(const std::string& prog) {
  if (absl::StrContains(prog, "/")) return ::access(prog.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':', absl::SkipEmpty())) {
    if (::access(absl::StrCat(dir, "/", prog).c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<ScenarioFile>> DiscoverScenarios(const std::string& dir) {
  std::error_code ec;
  std::vector<ScenarioFile> out;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".spec") continue;
    ScenarioFile f;
    f.id = e.path().stem().string();
    f.path = e.path().string();
    std::ifstream in(f.path);
    for (std::string line; std::getline(in, line);) {
      if (!absl::StartsWith(line, "#")) break;
      absl::string_view d = absl::StripAsciiWhitespace(absl::string_view(line).substr(1));
      absl::ConsumePrefix(&d, absl::StrCat("Scenario `", f.id, "`: "));
      f.description = std::string(d);
      break;
    }
    out.push_back(std::move(f));
  }
  if (ec) return absl::NotFoundError(absl::StrCat("cannot read the scenarios in ", dir, ": ", ec.message()));
  std::sort(out.begin(), out.end(), [](const ScenarioFile& a, const ScenarioFile& b) { return a.id < b.id; });
  return out;
}

std::optional<ProgramProblem> CheckProgram(const std::string& path) {
  struct stat l, st;
  if (::lstat(path.c_str(), &l) != 0) return ProgramProblem{true, absl::StrCat("no program ", path)};
  if (::stat(path.c_str(), &st) != 0) {
    std::error_code ec;
    return ProgramProblem{false, absl::StrCat(path, " is a broken symbolic link (to ",
                                              std::filesystem::read_symlink(path, ec).string(), ")")};
  }
  if (S_ISDIR(st.st_mode)) return ProgramProblem{false, absl::StrCat(path, " is a directory, not a program")};
  if (!S_ISREG(st.st_mode)) return ProgramProblem{false, absl::StrCat(path, " is not a regular file")};
  if (::access(path.c_str(), X_OK) != 0) {
    return ProgramProblem{false, absl::StrCat(path, " is not executable (chmod +x ", path, ")")};
  }
  if (st.st_size == 0) return ProgramProblem{false, absl::StrCat(path, " is an empty file")};
  const std::string first = FirstLine(path, 256);
  if (absl::StartsWith(first, "#!")) {
    std::vector<std::string> words = absl::StrSplit(absl::StripAsciiWhitespace(first.substr(2)), ' ', absl::SkipEmpty());
    if (words.empty()) return ProgramProblem{false, absl::StrCat(path, " starts with #! but names no interpreter")};
    if (!OnPath(words[0])) {
      return ProgramProblem{false, absl::StrCat(path, "'s interpreter ", words[0], " does not exist")};
    }
    // `#!/usr/bin/env [-S] prog`: env runs prog from PATH.
    if (absl::EndsWith(words[0], "/env")) {
      size_t k = 1;
      while (k < words.size() && absl::StartsWith(words[k], "-")) ++k;
      if (k < words.size() && !OnPath(words[k])) {
        return ProgramProblem{false, absl::StrCat(path, "'s interpreter ", words[k], " (run by ", words[0],
                                                  ") is not on PATH")};
      }
    }
  }
  return std::nullopt;
}

}  // namespace conformance::suite
