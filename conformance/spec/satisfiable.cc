#include "conformance/spec/satisfiable.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace conformance {

absl::Status CheckSatisfiable(const Spec& spec) {
  std::map<std::string, std::set<std::string>> before;  // order: label -> labels after it
  std::map<std::string, std::string> parent;            // child of
  std::map<std::string, const Rule*> exit_of;           // exit with a fixed end
  const Rule* root = nullptr;
  // Does `to` follow `from` in the order graph (or equal it)?
  auto reaches = [&](const std::string& from, const std::string& to) {
    std::vector<std::string> stack = {from};
    std::set<std::string> seen;
    while (!stack.empty()) {
      std::string x = stack.back();
      stack.pop_back();
      if (x == to) return true;
      if (!seen.insert(x).second) continue;
      for (const std::string& y : before[x]) stack.push_back(y);
    }
    return false;
  };
  for (const Rule& r : spec.rules) {
    auto err = [&](absl::string_view msg) {
      return absl::InvalidArgumentError(absl::StrCat(r.loc.ToString(), ": error: ", msg));
    };
    if (r.kind == "order") {
      for (size_t k = 0; k + 1 < r.labels.size(); ++k) {
        const std::string &a = r.labels[k], &b = r.labels[k + 1];
        if (reaches(b, a)) {
          if (a == b) return err(absl::StrCat("`", r.text, "` orders '", a, "' after itself; no run can pass"));
          return err(absl::StrCat("`", r.text, "` makes a cycle: '", b, "' already comes before '", a,
                                  "'; no run can pass"));
        }
        before[a].insert(b);
      }
    } else if (r.kind == "child of") {
      const std::string &c = r.names[0], &p = r.names[1];
      for (std::string x = p;; x = parent[x]) {
        if (x == c) {
          return err(absl::StrCat("`", r.text, "` makes ", c, " its own ancestor; no run can pass"));
        }
        if (!parent.count(x)) break;
      }
      parent[c] = p;
    } else if (r.kind == "exit" && r.vars.empty()) {
      auto [it, fresh] = exit_of.emplace(r.names[0], &r);
      if (!fresh && (it->second->variant != r.variant || it->second->n != r.n)) {
        return err(absl::StrCat("`", r.text, "` contradicts `", it->second->text, "` (line ", it->second->loc.line,
                                "); no run can pass"));
      }
    } else if (r.kind == "is root") {
      if (root != nullptr) {
        return err(absl::StrCat("`", r.text, "`, but `", root->text, "` (line ", root->loc.line,
                                "): a run has one root; give it one name"));
      }
      root = &r;
    } else if (r.kind == "exited") {
      const LinePattern* l = spec.FindLine(r.labels[0]);
      if (l != nullptr && l->by == r.names[0]) {
        return err(absl::StrCat("`", r.text, "`, but ", r.names[0], " writes '", l->label,
                                "' itself (line ", l->loc.line, "), so it cannot have exited before it; no run can pass"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace conformance
