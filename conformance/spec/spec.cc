#include "conformance/spec/spec.h"

#include <cctype>

#include "absl/strings/str_cat.h"

namespace conformance {

std::string Loc::ToString() const { return absl::StrCat(file, ":", line); }

const LinePattern* Spec::FindLine(absl::string_view label) const {
  for (const LinePattern& l : lines) {
    if (l.label == label) return &l;
  }
  return nullptr;
}

bool IsName(absl::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

}  // namespace conformance
