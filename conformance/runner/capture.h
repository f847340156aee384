// Private: the conformance runner's captures of a program's stdout and
// stderr, and how what they read becomes the Observation's writes
// (tracer.h says why Unix sockets with SO_PASSCRED). Observed by BPF, the
// captures are plain pipes instead, and in terminal mode pseudo-terminals:
// they keep the bytes, and the observer names the writers (reconcile.h).

#ifndef CONFORMANCE_RUNNER_CAPTURE_H_
#define CONFORMANCE_RUNNER_CAPTURE_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"
#include "base/posix/fd.h"

namespace conformance::internal {

// What a run's captures are (tracer.h says which observer uses which).
enum class CaptureKind {
  kSockets,  // Unix stream sockets with SO_PASSCRED: they name each writer.
  kPipes,    // Pipes: bytes only (the BPF observer names the writers).
  kPtys,     // Pseudo-terminals: bytes only (an observer names the writers).
};

// A capture's end, as stat() of /proc/<pid>/fd/<n> names it.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
};

// The two captures (stream 1: stdout, 2: stderr) of one run, recording into
// an Observation: its writes, stdout_bytes and stderr_bytes, and
// output_truncated, anomalies and attribution_mismatch.
class Capture {
 public:
  // Past `max_output_bytes` on a stream, reads on but drops the bytes.
  Capture(Observation* obs, size_t max_output_bytes);

  // Creates both captures; `theirs[1]` and `theirs[2]` become the program's
  // ends. Sockets record the writes as they read them; pipes and ptys keep
  // the bytes only (writes stays empty: an observer's reports name the
  // writers, reconcile.h), unless RecordAnonymousWrites() is called.
  // A pty capture: the slave is the program's end, with output processing
  // (OPOST) and echo off, so bytes pass unchanged, and a 80x24 window; it is
  // nobody's controlling terminal. The master is read; once no process holds
  // the slave, a read gives EIO, taken as EOF.
  // Errors: an errno error (base::posix::ErrnoError).
  absl::Status Open(base::posix::UniqueFd theirs[3], CaptureKind kind);
  // From now on, pipe and pty reads are recorded as writes of pid 0: for an
  // untraced run (text only), where no observer names the writers.
  void RecordAnonymousWrites() { anonymous_writes_ = kind_ != CaptureKind::kSockets; }

  // The program's end of `stream`.
  const FileId& Id(int stream) const { return ids_[stream]; }

  // The runner's end of `stream`, to poll, while it is open (until EOF or a
  // read error); -1 after.
  int PollFd(int stream) const { return open_[stream] ? cap_[stream].get() : -1; }
  bool AnyOpen() const { return open_[1] || open_[2]; }

  // Which capture `st` (a stat of some fd) is the program's end of: 1, 2,
  // or 0 (neither).
  int StreamOf(const struct stat& st) const;
  bool Holds(const struct stat& st) const { return StreamOf(st) != 0; }

  // Reads everything the captures hold now, without blocking, into writes
  // (each at its time since `start`). `untraced_writer(pid)`: whether a
  // writer is one the runner should have known (an anomaly).
  void ReceiveAll(absl::Time start, absl::FunctionRef<bool(pid_t)> untraced_writer);

  // Reports what went wrong in the bookkeeping, once every read is done
  // (sockets only: with pipes, reconcile.h checks the attribution).
  void Finish();

 private:
  void Receive(int stream, absl::Time start, absl::FunctionRef<bool(pid_t)> untraced_writer);
  // Reads a pipe or pty capture (bytes only, or pid-0 writes).
  void ReadBytes(int stream, absl::Time start);
  // Appends what fits under the cap to the stream's bytes; false if nothing did.
  bool Keep(int stream, const char* data, size_t len);
  // Appends `len` bytes read from `stream`, written by `pid`, to the
  // Observation (up to the caps); `continues`: to the last record. Returns
  // whether anything was recorded.
  bool Record(int stream, std::optional<pid_t> pid, const char* data, size_t len, bool continues, absl::Time start);

  Observation* obs_;
  size_t max_output_bytes_;
  // The runner's ends of the captures (index 1: stdout, 2: stderr), and the
  // program's ends as /proc/<pid>/fd shows them.
  base::posix::UniqueFd cap_[3];
  bool open_[3] = {false, false, false};
  FileId ids_[3];
  CaptureKind kind_ = CaptureKind::kSockets;
  bool anonymous_writes_ = false;
  std::string* captured_[3] = {nullptr, nullptr, nullptr};
  std::vector<char> buf_;
  // Writers that were not traced processes, and bytes without credentials.
  absl::flat_hash_set<pid_t> unknown_writers_;
  size_t anonymous_bytes_ = 0;
};

}  // namespace conformance::internal

#endif  // CONFORMANCE_RUNNER_CAPTURE_H_
