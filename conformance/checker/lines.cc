#include "conformance/checker/lines.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "conformance/observation/utf8.h"

namespace conformance {

std::vector<Line> ReassembleLines(const Observation& obs, int stream, size_t max_lines, size_t* dropped) {
  size_t dropped_here = 0;
  std::vector<WriteRecord> untraced;
  if (obs.writes.empty()) {
    untraced.push_back({0, stream, stream == 1 ? obs.stdout_bytes : obs.stderr_bytes, obs.wall});
  }
  const std::vector<WriteRecord>& writes = obs.writes.empty() ? untraced : obs.writes;
  struct Partial {
    std::string text;
    int pieces = 0;
    long others_at_start = 0;
    long own = 0;
  };
  std::map<pid_t, Partial> partial;
  std::vector<Line> out;
  long total = 0;
  for (const WriteRecord& w : writes) {
    if (w.stream != stream) continue;
    Partial& p = partial[w.pid];
    absl::string_view data = w.data;
    while (!data.empty()) {
      if (p.pieces == 0) p.others_at_start = total - p.own;
      ++p.pieces;
      size_t nl = data.find('\n');
      if (nl == absl::string_view::npos) {
        p.text.append(data.data(), data.size());
        break;
      }
      p.text.append(data.data(), nl);
      if (out.size() >= max_lines) {
        ++dropped_here;
        p.text.clear();
        p.pieces = 0;
        data.remove_prefix(nl + 1);
        continue;
      }
      Line l;
      l.pid = w.pid;
      l.text = std::move(p.text);
      l.seq = static_cast<int>(out.size());
      l.at = w.at;
      l.pieces = p.pieces;
      l.torn = (total - p.own) > p.others_at_start;
      out.push_back(std::move(l));
      p.text.clear();
      p.pieces = 0;
      data.remove_prefix(nl + 1);
    }
    ++total;
    ++p.own;
  }
  for (auto& [pid, p] : partial) {
    if (p.text.empty()) continue;
    if (out.size() >= max_lines) {
      ++dropped_here;
      continue;
    }
    Line l;
    l.pid = pid;
    l.text = std::move(p.text);
    l.seq = static_cast<int>(out.size());
    l.at = obs.wall;
    l.pieces = p.pieces;
    l.no_newline = true;
    out.push_back(std::move(l));
  }
  if (dropped != nullptr) *dropped = dropped_here;
  return out;
}

Observation ObservationFromTranscript(absl::string_view text) {
  Observation obs;
  obs.traced = false;
  obs.untraced_reason = "a recorded transcript";
  obs.stdout_bytes = std::string(text);
  ProcessRecord root;
  obs.processes.push_back(root);
  // One write per line keeps each line's position.
  size_t start = 0;
  int i = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == absl::string_view::npos ? text.size() : nl + 1;
    obs.writes.push_back({0, 1, std::string(text.substr(start, end - start)), absl::Microseconds(++i)});
    start = end;
  }
  return obs;
}

std::string SafeText(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (size_t n = Utf8SequenceLength(text, i); n > 0) {
      out.append(text.data() + i, n);
      i += n;
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
      ++i;
    }
  }
  return out;
}

std::string ShowWriter(const Line& line) {
  return line.pid > 0 ? absl::StrCat("[pid ", line.pid, "]") : "[pid ?]";
}

std::string ShowText(absl::string_view text, size_t max) {
  std::string out;
  const absl::string_view shown = text.substr(0, max);
  for (size_t i = 0; i < shown.size();) {
    const unsigned char c = static_cast<unsigned char>(shown[i]);
    if (c == '\\') {
      out += "\\\\";
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (size_t n = Utf8SequenceLength(shown, i); n > 0) {
      out.append(shown.data() + i, n);
      i += n;
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
      ++i;
    }
  }
  if (text.size() > max) absl::StrAppend(&out, "... (", text.size(), " bytes in all)");
  return out;
}

}  // namespace conformance
