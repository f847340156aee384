// -----------------------------------------------------------------------------
// File: lines.h
// -----------------------------------------------------------------------------
//
// Output lines as the checker sees them: the captured stdout of a run,
// reassembled into lines per writing process (CPython on a pipe writes
// `Run task 0 (17088)...` and `\n` separately, so two workers' lines
// interleave), or a recorded transcript's lines.
//
// Thread-safety: pure functions.
//
// Example:
//
//   std::vector<conformance::Line> lines = conformance::ReassembleLines(obs);
//   for (const conformance::Line& l : lines) std::cout << l.pid << " " << l.text;

#ifndef CONFORMANCE_CHECKER_LINES_H_
#define CONFORMANCE_CHECKER_LINES_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"

namespace conformance {

// One output line as one process wrote it.
struct Line {
  pid_t pid = 0;
  std::string text;   // Without the newline.
  int seq = 0;        // Order in which lines were completed, from 0.
  absl::Duration at;  // When its last piece was written.
  int pieces = 1;     // Writes it was assembled from.
  bool torn = false;  // Another process wrote between its pieces.
  bool no_newline = false;
};

// At most this many output lines are judged (about 150 MB of them): a
// program printing more (64 MiB of empty lines is 64 million) makes the
// judgement incomplete, like an observation past the runner's caps.
inline constexpr size_t kMaxLines = size_t{1} << 21;

// Reassembles stream (1 or 2) into lines, per writing pid, ordered by the
// write that completed each line. Untraced observations without writes use
// stdout_bytes/stderr_bytes with pid 0. Past `max_lines` lines, lines are
// counted in *dropped (if given) and not kept.
std::vector<Line> ReassembleLines(const Observation& obs, int stream = 1, size_t max_lines = kMaxLines,
                                  size_t* dropped = nullptr);

// A recorded transcript: untraced, one pseudo-process (pid 0).
Observation ObservationFromTranscript(absl::string_view text);

// A message for a terminal or a log: bytes that are not printable (control
// bytes but \n and \t, invalid UTF-8) as `\xNN`; everything else, backslashes
// included, as it is (unlike ShowText, for text that may hold escapes already).
std::string SafeText(absl::string_view text);

// Who wrote the line, as a report shows it: "[pid N]", or "[pid ?]" where
// no writer is known (a run not traced, a recorded transcript), rather than
// the 0 the line holds then.
std::string ShowWriter(const Line& line);

// The line as a report shows it: at most `max` bytes (then "... (N bytes in
// all)"), with control bytes, a trailing `\r` and invalid UTF-8 escaped
// (`\r`, `\x1b`, `\xff`), so that it is safe on a terminal and in XML.
std::string ShowText(absl::string_view text, size_t max = 300);

}  // namespace conformance

#endif  // CONFORMANCE_CHECKER_LINES_H_
