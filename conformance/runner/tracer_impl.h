// Private: the event loop of one Run() (tracer.h), shared by tracer.cc (the
// run itself: starting the program, the loop, the kills), tracer_ptrace.cc
// (what ptrace stops report) and tracer_bpf.cc (what the BPF observer
// reports). One Tracer per Run(); not thread-safe.

#ifndef CONFORMANCE_RUNNER_TRACER_IMPL_H_
#define CONFORMANCE_RUNNER_TRACER_IMPL_H_

#include <sys/types.h>
#include <time.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/posix/fd.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/bpf_observer.h"
#include "conformance/runner/capture.h"
#include "conformance/runner/child_setup.h"
#include "conformance/runner/perturb.h"
#include "conformance/runner/ptrace_writes.h"
#include "conformance/runner/reconcile.h"
#include "conformance/runner/tracer.h"

namespace conformance::internal {

inline absl::Duration MonotonicNow() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::DurationFromTimespec(ts);
}

// The event loop of one Run(): the process tree, from ptrace or from the BPF
// observer (bpf_observer.h), and when to read the captures (capture.h),
// answer the opens (reopen.h) and kill what is left.
class Tracer {
 public:
  Tracer(const RunRequest& req, Observation* obs)
      : req_(req), obs_(obs), capture_(obs, req.max_output_bytes), writes_(req.max_output_bytes) {}

  absl::Status Run();

 private:
  // Since the run began. Observed by BPF, on the clock of the BPF records.
  absl::Duration Since() const { return bpf_ != nullptr ? MonotonicNow() - mono_start_ : absl::Now() - start_; }

  ProcessRecord* Proc(pid_t tgid) {
    auto it = procs_.find(tgid);
    return it == procs_.end() ? nullptr : &obs_->processes[it->second];
  }
  // Records a process seen for the first time.
  ProcessRecord* AddProcess(pid_t tgid, pid_t forked_by, absl::Duration started);
  // What the BPF observer reported, in ring order.
  void OnRecord(const BpfRecord& r);
  // The root has ended: what is left gets `leak_grace` before the kill.
  void OnRootEnded() {
    if (root_ended_) return;
    root_ended_ = true;
    if (!kill_at_) kill_at_ = absl::Now() + req_.leak_grace;
  }
  // Observed by BPF: a child of the runner ended (the root, or an orphan).
  void HandleReaped(pid_t pid, int status);
  // Learns about `tid` (first stop, or a fork event naming it).
  void Discover(pid_t tid, pid_t forker_tgid, bool is_fork_event);
  void HandleStatus(pid_t tid, int status);
  void HandleStop(pid_t tid, int status);
  void HandleSeccomp(pid_t tid);
  // A syscall-exit stop: the end of a write to a terminal (ptrace_writes.h).
  void HandleSyscallExit(pid_t tid);
  // The thread group of `tid` as the tracer knows it; `tid` if unknown.
  pid_t KnownTgid(pid_t tid) const {
    auto it = threads_.find(tid);
    return it != threads_.end() ? it->second : tid;
  }
  // Kills every process of the run still alive, and from now on every new
  // one, with SIGKILL, marking them killed_by_runner.
  void KillAll();
  // Reads everything the captures hold now, without blocking, into writes.
  // Called at every event the Observation records, before recording it: so
  // a process's writes (all returned before it reached its exit stop) come
  // before its end, and nothing caused by an event comes before it.
  void ReceiveCaptures();

  const RunRequest& req_;
  Observation* obs_;
  absl::Time start_;
  bool traced_ = false;
  pid_t root_ = 0;
  bool root_ended_ = false;
  std::optional<absl::Time> kill_at_;  // When to kill what is left.
  bool killing_ = false;
  absl::Time killed_at_;

  absl::flat_hash_map<pid_t, size_t> procs_;  // tgid -> index in processes.
  absl::flat_hash_map<pid_t, pid_t> threads_;  // tid -> tgid.
  absl::flat_hash_set<pid_t> exiting_;  // Leaders past their exit event.
  // Threads and processes seen at their first stop whose parent's fork or
  // clone event has not been read yet.
  absl::flat_hash_set<pid_t> unclaimed_;
  // Per thread, the file its execve or execveat in flight asks to run (kept
  // from its seccomp stop to its exec event; a failed exec leaves it to be
  // replaced by the next, or dropped when the thread ends).
  absl::flat_hash_map<pid_t, std::string> exec_paths_;
  size_t process_count_ = 0;

  Capture capture_;
  // Untraced: the seccomp user-notification listener of the program's
  // filter, once the child has sent it.
  base::posix::UniqueFd listener_;
  // What the child reports before exec.
  ChildReports reports_;

  // Observed by BPF (else null).
  BpfObserver* bpf_ = nullptr;
  bool consuming_ = false;  // In BpfObserver::Consume.
  absl::Duration mono_start_;
  absl::Duration last_record_;  // The time of the last record: each one later.
  // The writes BPF (or ptrace, at a terminal) reported, reconciled with
  // the captured bytes once everything is read.
  WriteReports writes_;
  // Observed by ptrace with terminal captures: the writes in flight.
  PtraceWrites ptrace_writes_;
  // A perturbed run's stops and waits (perturb.h); null unless perturbed.
  // Its notifications come on `listener_`.
  std::unique_ptr<Perturber> perturber_;
};

}  // namespace conformance::internal

#endif  // CONFORMANCE_RUNNER_TRACER_IMPL_H_
