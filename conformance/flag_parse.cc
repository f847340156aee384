#include "conformance/flag_parse.h"

#include <algorithm>

#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace conformance {

absl::StatusOr<std::set<std::string>> ParseFlags(int argc, char** argv, absl::string_view defined_in,
                                                 const std::map<std::string, std::string>& optional_values,
                                                 std::vector<std::string>* program, bool* help) {
  std::set<std::string> given;
  std::map<std::string, std::vector<std::string>> lists;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      program->assign(argv + i + 1, argv + argc);
      break;
    }
    if (a == "--help" || a == "-h") {
      *help = true;
      continue;
    }
    if (!absl::StartsWith(a, "--") || a.size() == 2) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", a, "' (a program goes after --)"));
    }
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    const bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    std::replace(name.begin(), name.end(), '-', '_');
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && !has_value && absl::StartsWith(name, "no")) {
      std::string positive = name.substr(absl::StartsWith(name, "no_") ? 3 : 2);
      if (absl::CommandLineFlag* f = absl::FindCommandLineFlag(positive); f != nullptr && f->IsOfType<bool>()) {
        flag = f;
        name = positive;
        value = "false";
      }
    } else if (flag != nullptr && flag->IsOfType<bool>() && !has_value) {
      value = "true";
    } else if (optional_values.count(name) && !has_value) {
      value = optional_values.at(name);
    }
    if (flag == nullptr || !absl::StrContains(flag->Filename(), defined_in)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", a, "'"));
    }
    if (!flag->IsOfType<bool>() && !has_value && !optional_values.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value: --", name, "=VALUE"));
    }
    if (flag->IsOfType<std::vector<std::string>>()) {
      if (value.empty()) return absl::InvalidArgumentError(absl::StrCat("--", name, "= is empty"));
      lists[name].push_back(value);
      given.insert(name);
      continue;
    }
    if (given.count(name)) return absl::InvalidArgumentError(absl::StrCat("--", name, " is given twice"));
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("bad --", name, "='", value, "': ", error));
    }
    given.insert(name);
  }
  for (const auto& [name, values] : lists) {
    std::string error;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (!flag->ParseFrom(absl::StrJoin(values, ","), &error)) {
      return absl::InvalidArgumentError(absl::StrCat("bad --", name, ": ", error));
    }
    for (const std::string& v : values) {
      if (absl::StrContains(v, ",")) return absl::InvalidArgumentError(absl::StrCat("--", name, "='", v, "': one value per flag"));
    }
  }
  return given;
}

absl::Status OnlyFlags(const std::set<std::string>& given, const std::set<std::string>& allowed, const char* mode) {
  for (const std::string& f : given) {
    if (!allowed.count(f)) return absl::InvalidArgumentError(absl::StrCat("--", f, " has no meaning ", mode));
  }
  return absl::OkStatus();
}

}  // namespace conformance
