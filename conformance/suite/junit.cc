#include "conformance/suite/junit.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "conformance/observation/utf8.h"

namespace conformance::suite {

std::string XmlText(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '&': out += "&amp;"; ++i; continue;
      case '<': out += "&lt;"; ++i; continue;
      case '>': out += "&gt;"; ++i; continue;
      case '"': out += "&quot;"; ++i; continue;
      case '\'': out += "&apos;"; ++i; continue;
      case '\t':
      case '\n':
      case '\r': out += static_cast<char>(c); ++i; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (size_t n = Utf8SequenceLength(s, i); n > 0) {
      out.append(s.data() + i, n);
      i += n;
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
      ++i;
    }
  }
  return out;
}

namespace {

std::string Expected(const Expectation& e) {
  std::string s;
  for (Result r : e.results) absl::StrAppend(&s, s.empty() ? "" : " or ", ResultName(r));
  if (!e.reason.empty()) absl::StrAppend(&s, ": ", e.reason);
  if (!e.bug.empty()) absl::StrAppend(&s, " (", e.bug, ")");
  return s;
}

// Each perturbed run's seed, and whether it failed.
std::string Seeds(const Outcome& o) {
  std::string s;
  for (size_t i = 0; i < o.runs.size(); ++i) {
    if (o.runs[i].seed == 0) continue;
    absl::StrAppendFormat(&s, "        <property name=\"run%d_seed\" value=\"0x%x %s\"/>\n", i + 1, o.runs[i].seed,
                          ResultName(o.runs[i].result));
  }
  return s;
}

// One <testsuite> element.
std::string TestSuite(const std::string& suite, const std::vector<Outcome>& outs) {
  int failures = 0, errors = 0, skipped = 0;
  double total = 0;
  std::string cases;
  for (const Outcome& o : outs) {
    total += o.seconds;
    absl::StrAppendFormat(&cases, "    <testcase classname=\"%s\" name=\"%s\" time=\"%.3f\">\n", XmlText(suite),
                          XmlText(o.id), o.seconds);
    absl::StrAppendFormat(&cases,
                          "      <properties>\n"
                          "        <property name=\"result\" value=\"%s\"/>\n"
                          "        <property name=\"expected\" value=\"%s\"/>\n"
                          "        <property name=\"runs\" value=\"%d\"/>\n"
                          "        <property name=\"runs_failed\" value=\"%d\"/>\n"
                          "        <property name=\"rules_held\" value=\"%d\"/>\n"
                          "        <property name=\"rules_violated\" value=\"%d\"/>\n"
                          "        <property name=\"rules_not_checkable\" value=\"%d\"/>\n"
                          "%s"
                          "      </properties>\n",
                          ResultName(o.result), XmlText(Expected(o.expected)), static_cast<int>(o.runs.size()),
                          o.failed_runs(), o.held, o.violated, o.not_checkable, Seeds(o));
    const std::string summary = XmlText(o.summary);
    if (!o.unexpected()) {
      if (o.result != Result::kPass) {
        ++skipped;
        absl::StrAppendFormat(&cases, "      <skipped message=\"expected %s: %s\"/>\n", ResultName(o.result),
                              XmlText(Expected(o.expected)));
      }
    } else if (o.result == Result::kPass) {
      ++failures;
      absl::StrAppendFormat(&cases, "      <failure message=\"unexpected PASS (expected %s): update the expectations\"/>\n",
                            XmlText(Expected(o.expected)));
    } else if (o.result == Result::kFail) {
      ++failures;
      absl::StrAppendFormat(&cases, "      <failure message=\"%s\">%s</failure>\n", summary, XmlText(o.details));
    } else if (o.result == Result::kUnsupported) {
      ++skipped;
      absl::StrAppendFormat(&cases, "      <skipped message=\"%s\"/>\n", summary);
    } else {
      ++errors;
      absl::StrAppendFormat(&cases, "      <error message=\"%s\">%s</error>\n", summary, XmlText(o.details));
    }
    cases += "    </testcase>\n";
  }
  return absl::StrFormat(
      "  <testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n%s"
      "  </testsuite>\n",
      XmlText(suite), outs.size(), failures, errors, skipped, total, cases);
}

}  // namespace

std::string JUnitXml(const std::vector<std::pair<std::string, const std::vector<Outcome>*>>& suites) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n";
  for (const auto& [suite, outs] : suites) out += TestSuite(suite, *outs);
  return out + "</testsuites>\n";
}

std::string JUnitXml(const std::string& suite, const std::vector<Outcome>& outs) { return JUnitXml({{suite, &outs}}); }

}  // namespace conformance::suite
