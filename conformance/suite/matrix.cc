#include "conformance/suite/matrix.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "conformance/checker/lines.h"

namespace conformance::suite {

std::vector<std::string> MatrixRows(const std::vector<ImplOutcomes>& impls) {
  std::vector<std::string> rows;
  std::set<std::string> seen;
  for (const ImplOutcomes& impl : impls) {
    for (const Outcome& o : impl.outcomes) {
      if (seen.insert(o.id).second) rows.push_back(o.id);
    }
  }
  return rows;
}

const Outcome* FindOutcome(const ImplOutcomes& impl, const std::string& id) {
  for (const Outcome& o : impl.outcomes) {
    if (o.id == id) return &o;
  }
  return nullptr;
}

int PassedRuns(const Outcome& o) {
  return static_cast<int>(std::count_if(o.runs.begin(), o.runs.end(), [](const Run& r) { return r.result == Result::kPass; }));
}

std::string CellText(const Outcome& o) {
  std::string cell = ResultName(o.result);
  if (!o.runs.empty()) absl::StrAppend(&cell, " ", PassedRuns(o), "/", o.runs.size());
  if (!o.unexpected() && o.result != Result::kPass) absl::StrAppend(&cell, " *");
  if (o.unexpected() && o.result == Result::kPass) absl::StrAppend(&cell, " !");
  return cell;
}

std::string MatrixText(const std::vector<ImplOutcomes>& impls) {
  const std::vector<std::string> rows = MatrixRows(impls);
  std::vector<std::vector<std::string>> table;
  table.push_back({"scenario"});
  for (const ImplOutcomes& impl : impls) table[0].push_back(SafeText(impl.impl));
  bool known = false, stale = false;
  for (const std::string& id : rows) {
    table.push_back({id});
    for (const ImplOutcomes& impl : impls) {
      const Outcome* o = FindOutcome(impl, id);
      table.back().push_back(o == nullptr ? "-" : CellText(*o));
      if (o != nullptr) {
        known |= !o->unexpected() && o->result != Result::kPass;
        stale |= o->unexpected() && o->result == Result::kPass;
      }
    }
  }
  std::vector<size_t> width(table[0].size(), 0);
  for (const auto& row : table) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : table) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      absl::StrAppend(&line, c == 0 ? "" : "  ", row[c]);
      if (c + 1 < row.size()) line.append(width[c] - row[c].size(), ' ');
    }
    absl::StrAppend(&out, line, "\n");
  }
  if (known) absl::StrAppend(&out, "  * the implementation's expectations allow this result\n");
  if (stale) absl::StrAppend(&out, "  ! passed where the expectations say it fails (a stale expectation)\n");
  return out;
}

}  // namespace conformance::suite
