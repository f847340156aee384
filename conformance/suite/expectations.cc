#include "conformance/suite/expectations.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace conformance::suite {
namespace {

bool ParseResult(absl::string_view s, Result* r) {
  for (Result x : {Result::kPass, Result::kFail, Result::kUnresolved, Result::kUnsupported}) {
    if (s == ResultName(x)) {
      *r = x;
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<Expectations> ParseExpectations(absl::string_view text, const std::string& filename,
                                               const std::vector<std::string>& scenarios) {
  Expectations out;
  Expectation* current = nullptr;
  std::string current_id;
  bool has_expected = false;
  int n = 0;
  auto err = [&](int line, absl::string_view msg) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ":", line, ": error: ", msg));
  };
  // A finished section needs `expected`, and a reason unless it is PASS.
  auto close = [&]() -> absl::Status {
    if (current == nullptr) return absl::OkStatus();
    if (!has_expected) return err(current->loc.line, absl::StrCat("[", current_id, "] says nothing `expected:`"));
    if (current->results != std::set<Result>{Result::kPass} && current->reason.empty()) {
      return err(current->loc.line, absl::StrCat("[", current_id, "] expects other than PASS without a `reason:`"));
    }
    return absl::OkStatus();
  };
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++n;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    if (line.front() == '[' && line.back() == ']') {
      if (absl::Status s = close(); !s.ok()) return s;
      current_id = std::string(line.substr(1, line.size() - 2));
      if (std::find(scenarios.begin(), scenarios.end(), current_id) == scenarios.end()) {
        return err(n, absl::StrCat("unknown scenario '", current_id, "' (scenarios: ", absl::StrJoin(scenarios, ", "), ")"));
      }
      if (out.count(current_id)) return err(n, absl::StrCat("[", current_id, "] appears twice"));
      current = &out[current_id];
      current->loc = {filename, n};
      has_expected = false;
      continue;
    }
    const size_t colon = line.find(':');
    if (current == nullptr || colon == absl::string_view::npos) {
      return err(n, "expected `[SCENARIO]`, then `expected: RESULT`, `reason: TEXT` and `bug: LINK` lines");
    }
    const absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, colon));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (key == "expected") {
      std::set<Result> results;
      const bool list = absl::ConsumePrefix(&value, "[") && absl::ConsumeSuffix(&value, "]");
      for (absl::string_view v : absl::StrSplit(value, ',')) {
        Result r;
        if (!ParseResult(absl::StripAsciiWhitespace(v), &r)) {
          return err(n, absl::StrCat("unknown result '", absl::StripAsciiWhitespace(v),
                                     "'; expected PASS, FAIL, UNRESOLVED or UNSUPPORTED, or a list [PASS, FAIL]"));
        }
        results.insert(r);
      }
      if (!list && results.size() > 1) return err(n, "several results go in brackets: [PASS, FAIL]");
      current->results = results;
      has_expected = true;
    } else if (key == "reason") {
      current->reason = std::string(value);
    } else if (key == "bug") {
      current->bug = std::string(value);
    } else {
      return err(n, absl::StrCat("unknown key '", key, "'; expected `expected`, `reason` or `bug`"));
    }
  }
  if (absl::Status s = close(); !s.ok()) return s;
  return out;
}

}  // namespace conformance::suite
