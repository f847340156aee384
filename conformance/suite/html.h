// -----------------------------------------------------------------------------
// File: html.h
// -----------------------------------------------------------------------------
//
// The suite's results as one self-contained HTML file (--html=FILE): no
// server, no network, no script, no external font or image; inline CSS and
// inline SVG only, and a Content-Security-Policy that forbids loading
// anything, so that a report opened from a mail or a CI artifact cannot
// reach out.
//
// The page holds the matrix of matrix.h (one row per scenario, one column
// per implementation; each cell coloured by its result and linked to its
// details), then per cell the details: every run's result, per run a lane
// chart and its violations with the spec's file:line and the lines concerned
// (RunReports; or, without them, of the run the text report details), and
// the text report itself. Passing cells and runs are collapsed (<details>).
//
// The lane chart is drawn from the Observation (the same one the timeline
// JSON is written from) and the checker's Verdict: one vertical lane per
// process, headed by its spec name(s) and pid, time going down; one row per
// event in time order: a fork (an arrow from parent to child), an exec (the
// program's name), an exit (its code or signal), an output line (a dot on its
// writer's lane and its text). What a violated rule concerns is highlighted
// (class "violated", the rule in data-rule): its lines' rows, and the lanes of
// the processes it names or whose pids its message gives (a leftover).
//
// Bounded whatever the run did: at most `max_lanes` processes get a lane of
// their own (the root, the named ones and those a violation concerns first),
// the others share one "other processes" lane; at most `max_events` rows are
// drawn (the first ones, then highlighted ones), with a row saying how many
// were left out; texts are clipped. Everything a program wrote is escaped
// (ShowText, then HTML entities), whatever its bytes.
//
// Thread-safety: pure functions.
//
// Example:
//
//   std::vector<suite::ImplOutcomes> all = ...;  // with RunOptions::keep_observation
//   absl::Status s = suite::WriteHtmlReport(suite::HtmlReport(all, {}), "/tmp/r.html");

#ifndef CONFORMANCE_SUITE_HTML_H_
#define CONFORMANCE_SUITE_HTML_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "conformance/checker/checker.h"
#include "conformance/observation/observation.h"
#include "conformance/suite/matrix.h"

namespace conformance::suite {

struct HtmlOptions {
  std::string title = "conformance report";
  // Lines shown under the title (the observer, the runs, ...).
  std::vector<std::string> header;
  // Processes with a lane of their own; the others share one.
  size_t max_lanes = 24;
  // Rows (events) of one chart; past them, only highlighted rows.
  size_t max_events = 300;
  // Bytes of an output line's text shown on a chart.
  size_t max_text = 100;
};

// `s` as HTML text or attribute value: control bytes and invalid UTF-8 as
// `\xNN` (XmlText), and & < > " ' as entities.
std::string HtmlText(absl::string_view s);

// The lane chart (an <svg> element) of one run. `verdict` may be null (no
// highlighting, lines reassembled from `obs`).
std::string LaneChart(const Observation& obs, const Verdict* verdict, const HtmlOptions& options);

// The sections of one scenario's runs, for its details (Outcome::run_reports),
// made as each run is judged (RunOptions::on_judged) so that no observation
// need be kept. Bounded: the first `kFailing` failing or unresolved runs and
// the first `kPassing` passing ones get a chart (the first failing one shown
// open, the others collapsed); the others are only counted.
class RunReports {
 public:
  static constexpr int kFailing = 5;
  static constexpr int kPassing = 2;
  explicit RunReports(HtmlOptions options = {}) : options_(std::move(options)) {}
  void Add(int run, int runs, Result result, const Observation& obs, const Verdict& verdict);
  // The sections so far, and a line for the runs left out; starts afresh.
  std::vector<std::string> Take();

 private:
  HtmlOptions options_;
  std::vector<std::string> sections_;
  int failing_ = 0, passing_ = 0, left_out_ = 0;
};

// The whole page.
std::string HtmlReport(const std::vector<ImplOutcomes>& impls, const HtmlOptions& options);

// Writes `html` to `path`, replacing it.
// Errors: an errno error (NotFound for a missing directory, ...).
absl::Status WriteHtmlReport(const std::string& html, const std::string& path);

}  // namespace conformance::suite

#endif  // CONFORMANCE_SUITE_HTML_H_
