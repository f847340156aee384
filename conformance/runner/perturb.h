// Private: schedule perturbation, the runner's half (RunRequest::perturb_seed
// in tracer.h; INTERPRETING.md, "Schedule perturbation", for what a program
// may assume). Each point is made by the mechanism that is precise there:
//
//   - Stops, at the points *after* something (bpf/perturb.bpf.h): after a
//     fork (the parent: child first; or the child before it runs: parent
//     first), after a write to a capture, after a call that can block
//     returns. The kernel stops the process with SIGSTOP as the system call
//     returns, before it runs any more of its own code, and reports the stop
//     with its longest delay; the Perturber continues it with SIGCONT. A
//     stop stops every thread of the process.
//   - Waits, at the points *before* something, which a signal cannot make (a
//     signal acts when the call returns): a seccomp filter
//     (BuildPerturbFilter) sends write(2) and writev(2) to fd 1 or 2, and
//     exit_group(2), to the runner as user notifications, and the Perturber
//     lets the call go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE) at once or after
//     a delay. Only the calling thread waits; the process's other threads
//     run on, so a line can be delayed behind work its own process started
//     (a Queue's feeder thread).
//   - Placement: a share of the runs have every process on one CPU
//     (sched_setaffinity before exec, inherited).
//
// A stop or a wait (a hold) ends at its delay, or earlier, once the other
// processes of the run have shown progress: 1 to 3 steps (drawn with the
// decision), each a write to a capture or an exit; "child first", the
// child's first step; "parent first", the parent's steps only. So whatever
// the machine's speed, the held process's next step comes after the
// others' (the race a hold is for is decided the other way), and a hold
// that the others wait for costs its delay at most. The kernel stops only
// while no hold is on; the runner's waits may overlap a fork's hold, which
// waits for one process (the child, or the parent), in any process but that
// one, and while some process of the run is not held. So no hold waits for
// a process that is held itself (a race of two delays), and there is none in
// a process that is alone. The holds end early when nothing else can move:
// every other process has exited, or only waits for a child (wait4, waitid,
// or sigsuspend as shells do), seen twice 5 ms apart.
//
// Every decision is a hash of the seed, the process's identity (its place in
// the tree: the root, its n-th child, ...) and the process's count of points
// so far: a run with the same seed makes the same decisions for a process
// that reaches the same points in the same order, whatever the kernel does
// with the others. The shared budgets (per run) are the exception.
//
// Nothing stays stopped: every stop is reported before it is made, and its
// continuation is due at a known time; at the run's end Release(all) continues
// and answers everything left (SIGKILL ends stopped and waiting processes
// alike).

#ifndef CONFORMANCE_RUNNER_PERTURB_H_
#define CONFORMANCE_RUNNER_PERTURB_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "base/posix/fd.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/bpf_observer.h"
#include "conformance/runner/tracer.h"

namespace conformance::internal {

// splitmix64's finaliser, as perturb.bpf.h's Mix.
uint64_t Mix(uint64_t z);

// The seccomp filter of a perturbed run, installed on top of the observed
// program's own (BuildFilter): user notifications for write(2) and writev(2)
// to fd 1 or 2 and for exit_group(2); everything else is allowed.
std::vector<sock_filter> BuildPerturbFilter();

class Perturber {
 public:
  // `obs` gets the seed and a line per perturbation made; `bpf` (the run's
  // observer) hears of the waits, for the processes' budgets; `listener` is
  // where the waits' notifications come from (once the program sent it).
  Perturber(uint64_t seed, const PerturbOptions& options, Observation* obs, BpfObserver* bpf,
            const base::posix::UniqueFd* listener);

  // The kernel's half (BpfObserver::Begin).
  BpfPerturbConfig KernelConfig() const;
  // The CPU every process of the run runs on, or -1 (any).
  int cpu() const { return cpu_; }
  // The root's pid, once it is started.
  void OnRoot(pid_t pid);
  // What the BPF observer reported: a process started (its identity), a
  // process stopped (when to continue it).
  void OnFork(pid_t child, pid_t parent, uint32_t index, uint64_t ident);
  void OnStop(const BpfRecord& r);
  // Process `tgid` showed progress (it wrote to a capture, or exited): the
  // other processes' holds end.
  void OnProgress(pid_t tgid, bool exited);
  // Takes one notification from the listener and lets the call go on now or
  // later (closes the listener when it is broken).
  void OnNotification(base::posix::UniqueFd* listener);
  // When the next hold is due to end; InfiniteFuture if none.
  absl::Time NextDue() const;
  // Ends the holds whose time has come; with `all`, every one (the run is
  // over, or being killed).
  void Release(absl::Time now, bool all = false);

 private:
  struct Proc {
    std::string name;  // "root", "root.2", "root.2.1": its place in the tree.
    uint64_t ident = 0;
    uint32_t points = 0;    // Wait points reached.
    int waits = 0;          // Waits made.
    uint32_t delay_ms = 0;  // Its stops' and waits' longest delays, in all.
    uint32_t stops = 0;     // The kernel's stops of it, seen.
  };
  // A hold: a stopped process, or a call that waits.
  struct Pending {
    pid_t held = 0;   // The thread group held.
    pid_t until = 0;  // Whose steps end it (0: any other process's).
    int steps = 1;    // Steps left before it ends.
    absl::Time since, due;
    base::posix::UniqueFd pidfd;  // A stop: the process to continue.
    uint64_t notification = 0;    // A wait: the call to let go on.
    size_t line = 0;              // Its line in the Observation's perturbations.
  };
  // Whether every process of the run that is not held has each of its
  // threads blocked in wait4(2), waitid(2) or rt_sigsuspend(2)
  // (/proc/TID/syscall).
  bool OnlyWaiting() const;
  // Ends the holds that `ends` picks, noting why on their lines.
  void End(absl::FunctionRef<bool(const Pending&)> ends, absl::Time now, const std::string& why);
  // Tells the kernel which holds are on (BpfObserver::SetHolds).
  void SyncHolds();
  // How long the decision drawn as `hash` delays (milliseconds), as the
  // kernel draws it (perturb.bpf.h's Decide).
  uint32_t DelayMs(uint64_t hash) const;
  Proc& ProcOf(pid_t tgid);
  void Log(std::string line);

  const uint64_t seed_;
  const PerturbOptions options_;
  Observation* obs_;
  BpfObserver* bpf_;
  const base::posix::UniqueFd* listener_;
  int cpu_ = -1;
  absl::flat_hash_map<pid_t, Proc> procs_;  // By thread group.
  absl::flat_hash_set<pid_t> alive_;
  std::vector<Pending> pending_;
  uint32_t stops_ended_ = 0;  // The kernel's stops ended (or never seen alive).
  int waits_ = 0;
  absl::Duration waited_;
  int waiting_seen_ = 0;  // Consecutive looks that found the others only waiting.
};

}  // namespace conformance::internal

#endif  // CONFORMANCE_RUNNER_PERTURB_H_
