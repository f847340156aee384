// -----------------------------------------------------------------------------
// File: discovery.h
// -----------------------------------------------------------------------------
//
// Scenarios are data: the suite finds them as conformance/scenarios/*.spec,
// never from a list in code, and an implementation's program for each as the
// executable of that name in its directory.
//
// Thread-safety: pure functions (they read the file system).
//
// Example:
//
//   absl::StatusOr<std::vector<ScenarioFile>> s = DiscoverScenarios(dir);
//   for (const ScenarioFile& f : *s) std::cout << f.id << "  " << f.description << "\n";

#ifndef CONFORMANCE_SUITE_DISCOVERY_H_
#define CONFORMANCE_SUITE_DISCOVERY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace conformance::suite {

struct ScenarioFile {
  std::string id;           // The file name without .spec.
  std::string path;         // The spec file.
  std::string description;  // Its first comment, without "Scenario `id`: ".
};

// The *.spec files of `dir`, sorted by id.
// Errors: NotFound if `dir` cannot be read.
absl::StatusOr<std::vector<ScenarioFile>> DiscoverScenarios(const std::string& dir);

// What is wrong with `path` as a program to run, or nullopt if nothing is
// (as far as can be told before running it).
struct ProgramProblem {
  bool missing = false;  // No file at all: the scenario is UNSUPPORTED.
  std::string why;       // "not executable (chmod +x ...)", "its interpreter ... does not exist", ...
};
std::optional<ProgramProblem> CheckProgram(const std::string& path);

}  // namespace conformance::suite

#endif  // CONFORMANCE_SUITE_DISCOVERY_H_
