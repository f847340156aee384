#include "conformance/runner/timeline.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/posix/fd.h"
#include "conformance/observation/utf8.h"

namespace conformance {
namespace {

// A JSON string literal. Bytes that are not UTF-8 (as the checker and the
// reports judge it: observation/utf8.h) become \u00XX (their Latin-1
// reading), so any output a program wrote still makes valid JSON.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = Utf8SequenceLength(s, i);
    if (len > 0) {
      out.append(s, i, len);
      i += len;
      continue;
    }
    ++i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c >= 0x7F) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

int64_t Us(absl::Duration d) { return absl::ToInt64Microseconds(d); }

std::string ProcessName(const ProcessRecord& p) {
  std::string name = absl::StrCat("pid ", p.pid);
  if (!p.execs.empty() && !p.execs.back().argv.empty()) absl::StrAppend(&name, " ", p.execs.back().argv[0]);
  return name;
}

// A short label for a write: its first line, clipped.
std::string WriteLabel(const WriteRecord& w) {
  std::string text = w.data.substr(0, w.data.find('\n'));
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return absl::StrCat(w.stream == 1 ? "stdout: " : "stderr: ", text);
}

}  // namespace

std::string ChromeTraceJson(const Observation& obs) {
  std::string out = "{\"displayTimeUnit\":\"ms\",\"otherData\":{";
  absl::StrAppend(&out, "\"traced\":", obs.traced ? "true" : "false", ",\"untraced_reason\":",
                  Quote(obs.untraced_reason), ",\"timed_out\":", obs.timed_out ? "true" : "false",
                  ",\"network_isolated\":", obs.network_isolated ? "true" : "false",
                  ",\"wall_us\":", Us(obs.wall), "},\n\"traceEvents\":[");
  bool first = true;
  auto event = [&](const std::string& body) {
    absl::StrAppend(&out, first ? "\n" : ",\n", "{", body, "}");
    first = false;
  };
  auto instant = [&](pid_t pid, absl::Duration at, const std::string& name, const std::string& args) {
    event(absl::StrCat("\"ph\":\"i\",\"s\":\"t\",\"pid\":", pid, ",\"tid\":", pid, ",\"ts\":", Us(at),
                       ",\"name\":", Quote(name), ",\"args\":{", args, "}"));
  };
  for (size_t i = 0; i < obs.processes.size(); ++i) {
    const ProcessRecord& p = obs.processes[i];
    event(absl::StrCat("\"ph\":\"M\",\"pid\":", p.pid, ",\"tid\":", p.pid,
                       ",\"name\":\"process_name\",\"args\":{\"name\":", Quote(ProcessName(p)), "}"));
    // Tracks in the order of the Observation: the root on top.
    event(absl::StrCat("\"ph\":\"M\",\"pid\":", p.pid, ",\"tid\":", p.pid,
                       ",\"name\":\"process_sort_index\",\"args\":{\"sort_index\":", i, "}"));
    absl::Duration end = p.ended.value_or(obs.wall);
    std::string exit = p.exit ? p.exit->ToString() : "still running";
    event(absl::StrCat("\"ph\":\"X\",\"pid\":", p.pid, ",\"tid\":", p.pid, ",\"ts\":", Us(p.started),
                       ",\"dur\":", Us(end - p.started), ",\"name\":", Quote(ProcessName(p)),
                       ",\"args\":{\"forked_by\":", p.forked_by, ",\"exit\":", Quote(exit),
                       ",\"killed_by_runner\":", p.killed_by_runner ? "true" : "false", "}"));
    if (p.forked_by != 0) {
      instant(p.forked_by, p.started, absl::StrCat("fork ", p.pid), absl::StrCat("\"child\":", p.pid));
    }
    for (const ExecRecord& e : p.execs) {
      const std::string argv0 = e.argv.empty() ? "" : e.argv[0];
      instant(p.pid, e.at, absl::StrCat("exec ", argv0), absl::StrCat("\"argv0\":", Quote(argv0)));
    }
    if (p.ended) {
      std::string name = p.killed_by_runner ? absl::StrCat("killed by runner (", exit, ")") : exit;
      instant(p.pid, *p.ended, absl::StrCat("exit: ", name), absl::StrCat("\"status\":", Quote(exit)));
    }
  }
  for (const WriteRecord& w : obs.writes) {
    instant(w.pid, w.at, WriteLabel(w),
            absl::StrCat("\"stream\":", w.stream == 1 ? "\"stdout\"" : "\"stderr\"", ",\"text\":", Quote(w.data)));
  }
  out += "\n]}\n";
  return out;
}

absl::Status WriteChromeTrace(const Observation& obs, const std::string& path) {
  base::posix::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return base::posix::ErrnoError(errno, absl::StrCat("open ", path));
  std::string json = ChromeTraceJson(obs);
  return base::posix::WriteFull(fd.get(), json.data(), json.size());
}

}  // namespace conformance
