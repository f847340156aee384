// -----------------------------------------------------------------------------
// File: flag_parse.h
// -----------------------------------------------------------------------------
//
// The command line's own flag parsing over Abseil flags, stricter than
// absl::ParseCommandLine: a flag given twice is refused unless it is a list
// (std::vector<std::string>: repeated, one value each, never empty), an
// unknown flag or one defined elsewhere (a library's) is refused, and every
// mode refuses the flags it does not use (OnlyFlags) instead of ignoring them.
//
// Thread-safety: sets the process's flags; call from main before threads.
//
// Example:
//
//   std::vector<std::string> program;
//   bool help = false;
//   absl::StatusOr<std::set<std::string>> given =
//       conformance::ParseFlags(argc, argv, "conformance_main", {{"perturb", "random"}}, &program, &help);

#ifndef CONFORMANCE_FLAG_PARSE_H_
#define CONFORMANCE_FLAG_PARSE_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace conformance {

// Parses argv into the flags defined in files whose name contains
// `defined_in`: --name=value, --name (a bool), --noname and --no-name (a bool
// false). A flag in `optional_values` may be given without a value, which is
// then the one mapped (--perturb alone: "random"). Stops at `--`, whose
// arguments go to *program; --help or -h sets *help. Returns the flags given,
// or why not (InvalidArgument, naming the flag).
absl::StatusOr<std::set<std::string>> ParseFlags(int argc, char** argv, absl::string_view defined_in,
                                                 const std::map<std::string, std::string>& optional_values,
                                                 std::vector<std::string>* program, bool* help);

// Refuses the flags of `given` that mode `mode` ("with --list") does not use.
absl::Status OnlyFlags(const std::set<std::string>& given, const std::set<std::string>& allowed, const char* mode);

}  // namespace conformance

#endif  // CONFORMANCE_FLAG_PARSE_H_
