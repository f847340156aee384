// Private: the conformance runner's BPF observer (bpf/observe.bpf.c). While a
// run is observed, raw tracepoints report every fork, exec and exit of the
// run's processes, and every write to the two capture pipes with its writer
// and its bytes, into one ring buffer the runner reads. Needs root (CAP_BPF
// and CAP_PERFMON) and the kernel's BTF; tracer.h says when it is used.

#ifndef CONFORMANCE_RUNNER_BPF_OBSERVER_H_
#define CONFORMANCE_RUNNER_BPF_OBSERVER_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct bpf_object;
struct bpf_link;
struct ring_buffer;

namespace conformance::internal {

// One record of the ring, as observe.bpf.c wrote it.
struct BpfRecord {
  enum Kind : uint32_t { kWrite = 1, kBlind = 2, kFork = 3, kExec = 4, kExit = 5, kStop = 6 };
  // kStop: where the process was stopped (perturb.bpf.h), in `arg`'s low byte.
  enum Point : uint32_t { kChildFirst = 1, kParentFirst = 2, kAfterWrite = 3, kAfterWake = 4 };
  uint64_t ts_ns;  // CLOCK_MONOTONIC.
  Kind kind;
  pid_t pid;  // The thread group: the writer, the new process, the one exec'ing or exiting.
  pid_t tid;
  // kWrite, kBlind: the stream (1, 2) and kContinues; kFork: the parent;
  // kExit: the wait status; kStop: the Point, the stream of a write (bits
  // 8..15), the system call that returned (bits 16..31).
  uint32_t arg;
  // kBlind: how many bytes were written that could not be copied (sendfile,
  // splice, tee, or memory the kernel could not read).
  uint32_t blind_len;
  // kFork: the child's index among its parent's forks (from 1) and its
  // identity (perturb.bpf.h); kStop: milliseconds, and the child of a fork
  // (kChildFirst).
  uint32_t index = 0;
  uint64_t ident = 0;
  uint32_t stop_ms = 0;
  pid_t other = 0;
  std::string_view data;  // kWrite: bytes written; kExec: the arguments (first 4 KiB, NUL-separated).
  // kExec: the file execve was asked to run (the kernel's bprm->filename),
  // and the full path of the executable that runs (its file name alone when
  // deeper than 40 directories or longer than 4 KiB).
  std::string_view exec_path, exec_binary;

  static constexpr uint32_t kContinues = 0x100;  // A later piece of the same system call.
  int stream() const { return static_cast<int>(arg & 0xff); }
  bool continues() const { return (arg & kContinues) != 0; }
};

// The kernel's half of a perturbed run: observe.bpf.c's struct perturb_cfg
// (perturb.bpf.h says what each is). Probabilities are per 65536.
struct BpfPerturbConfig {
  uint64_t seed = 0;  // 0: not perturbing.
  uint32_t p_fork = 0, p_child_first = 0, p_write = 0, p_wake = 0, p_long = 0;
  uint32_t short_max = 0, long_min = 0, long_max = 0;  // Milliseconds.
  uint32_t max_stops_proc = 0, max_stops_run = 0, max_ms_run = 0;
  uint32_t stops_used = 0, ms_used = 0;  // The kernel's counters.
  uint32_t max_ms_proc = 0;              // Stops and waits (SetWaited) together.
  uint32_t stops_made = 0, live = 0;     // The kernel's counters.
};

class BpfObserver {
 public:
  // This process's observer, loaded, verified and attached on first use
  // (tens of milliseconds) and kept for the life of the process. Between
  // runs its programs find no process of theirs and return at once (but the
  // system-call exit tracepoint stays enabled on the machine). Not
  // thread-safe: one run at a time (as tracer.h's Run()).
  // Errors: an errno error (base::posix::ErrnoError) saying why BPF cannot
  // observe here (not root, no kernel BTF, a verifier refusal).
  static absl::StatusOr<BpfObserver*> Get();

  // Starts observing writes to the pipes (stdout, then stderr) named by
  // st_dev and st_ino (fstat of either end).
  // From the run's `max_forks`-th fork on, the kernel kills the run (Kill()).
  // A non-zero `perturb.seed` perturbs the run (perturb.bpf.h).
  // Errors: an errno error.
  absl::Status Begin(dev_t out_dev, ino_t out_ino, dev_t err_dev, ino_t err_ino, uint32_t max_forks,
                     const BpfPerturbConfig& perturb = {});
  // Makes the next fork (or vfork) of the calling thread the run's root,
  // tracked from birth: so the root can be started with vfork, and exec at
  // once, with nothing of it unobserved.
  // Errors: an errno error.
  absl::Status ArmSpawn();
  // Whether that fork happened (the root is tracked); disarms either way.
  bool Spawned();
  // The fd to poll for records (readable when the ring has some to read).
  int PollFd() const;
  // Hands every record the ring holds now to `sink`, in ring order; `data`
  // is valid during the call only.
  void Consume(absl::FunctionRef<void(const BpfRecord&)> sink);
  // From now on, every process of the run gets SIGKILL at its next return
  // from a system call, new ones as they leave fork: so a tree that forks
  // faster than the runner can kill it still dies. (One spinning in user
  // space needs a kill(2) as well.)
  void Kill();
  // Stops reporting writes to `stream` (1 or 2): past the runner's cap, they
  // would only fill the ring.
  void Mute(int stream);
  // A perturbed run: process `tgid` has waited `ms` in all at the runner's
  // points, which its budget of stops takes into account.
  void SetWaited(pid_t tgid, uint32_t ms);
  // A perturbed run: how many of the kernel's stops the runner has ended,
  // and how many calls it holds now. No stop is made while one is on.
  void SetHolds(uint32_t stops_ended, uint32_t waits_held);
  // Records the ring had no room for since Begin().
  uint64_t Lost() const;
  // Forgets the run (its records, pipes and processes).
  void End();

 private:
  BpfObserver() = default;
  static int OnRecord(void* ctx, void* data, size_t size);
  // One word of observe.bpf.c's controls (each its own, so that the kernel's
  // updates are never overwritten by a stale copy of the others).
  bool SetControl(uint32_t index, uint32_t value);
  uint32_t GetControl(uint32_t index) const;

  bpf_object* obj_ = nullptr;
  ring_buffer* ring_ = nullptr;
  bpf_link* links_[4] = {};
  int targets_fd_ = -1, tracked_fd_ = -1, lost_fd_ = -1, controls_fd_ = -1, perturb_fd_ = -1, waited_fd_ = -1;
  absl::FunctionRef<void(const BpfRecord&)>* sink_ = nullptr;
};

}  // namespace conformance::internal

#endif  // CONFORMANCE_RUNNER_BPF_OBSERVER_H_
