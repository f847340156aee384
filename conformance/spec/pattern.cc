#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "conformance/spec/parse.h"
#include "conformance/spec/quote.h"

namespace conformance {
namespace {
std::string Quote(absl::string_view s) { return QuoteForError(s); }
}  // namespace

absl::StatusOr<std::vector<Segment>> ParsePattern(absl::string_view p, const Loc& loc) {
  std::vector<Segment> out;
  std::string lit;
  auto err = [&](absl::string_view msg) {
    return absl::InvalidArgumentError(absl::StrCat(loc.ToString(), ": error: ", msg, " in pattern \"", Quote(p), "\""));
  };
  auto flush = [&] {
    if (!lit.empty()) out.push_back({Segment::kLiteral, lit, std::nullopt, std::nullopt});
    lit.clear();
  };
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '{' && i + 1 < p.size() && p[i + 1] == '{') {
      lit += '{';
      i += 2;
    } else if (p[i] == '}' && i + 1 < p.size() && p[i + 1] == '}') {
      lit += '}';
      i += 2;
    } else if (p[i] == '}') {
      return err("single '}' (write '}}' for a literal brace)");
    } else if (p[i] == '{') {
      size_t close = p.find('}', i);
      if (close == absl::string_view::npos) return err("'{' without '}'");
      std::vector<std::string> words;
      std::string inner(p.substr(i + 1, close - i - 1));
      for (absl::string_view w : absl::StrSplit(inner, ' ', absl::SkipEmpty())) words.emplace_back(w);
      Segment s;
      if (words.empty()) return err("empty placeholder {}");
      if (words[0] == "text" && words.size() == 1) {
        s.kind = Segment::kText;
      } else if (words[0] == "pid" && words.size() == 2 && IsName(words[1])) {
        s.kind = Segment::kPid;
        s.text = words[1];
      } else if ((words[0] == "int" || words[0] == "num") && (words.size() == 2 || words.size() == 3) && IsName(words[1])) {
        s.kind = words[0] == "int" ? Segment::kInt : Segment::kNum;
        s.text = words[1];
        if (words.size() == 3) {
          size_t dots = words[2].find("..");
          double lo = 0, hi = 0;
          if (dots == std::string::npos || !absl::SimpleAtod(words[2].substr(0, dots), &lo) ||
              !absl::SimpleAtod(words[2].substr(dots + 2), &hi)) {
            return err(absl::StrCat("bad range '", Quote(words[2]), "' (write LO..HI)"));
          }
          if (lo > hi) return err(absl::StrCat("empty range '", Quote(words[2]), "'"));
          s.lo = lo;
          s.hi = hi;
        }
      } else {
        return err(absl::StrCat("bad placeholder {", Quote(inner),
                                "}; expected {pid NAME}, {int NAME [LO..HI]}, {num NAME [LO..HI]} or {text}"));
      }
      flush();
      out.push_back(std::move(s));
      i = close + 1;
    } else {
      lit += p[i++];
    }
  }
  flush();
  return out;
}

}  // namespace conformance
