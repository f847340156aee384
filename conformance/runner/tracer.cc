#include "conformance/runner/tracer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "conformance/runner/bpf_observer.h"
#include "conformance/runner/capture.h"
#include "conformance/runner/child_setup.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/proc.h"
#include "conformance/runner/reconcile.h"
#include "conformance/runner/reopen.h"
#include "base/posix/fd.h"

namespace conformance {
namespace {

using internal::BpfObserver;
using internal::BpfRecord;
using internal::Capture;
using internal::ChildReports;
using internal::Reopen;
using base::posix::UniqueFd;

// How long killed processes may take to die before the runner gives up.
constexpr absl::Duration kReapLimit = absl::Seconds(10);
// How long the captures may stay open after every process is gone.
constexpr absl::Duration kDrainLimit = absl::Seconds(1);

absl::Duration MonotonicNow() {
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
      : req_(req), obs_(obs), capture_(obs, req.max_output_bytes) {}

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
  // Observed by BPF, once everything is read: the writes, from the pipes'
  // bytes and the writes the kernel reported.
  void Reconcile();
  // Learns about `tid` (first stop, or a fork event naming it).
  void Discover(pid_t tid, pid_t forker_tgid, bool is_fork_event);
  void HandleStatus(pid_t tid, int status);
  void HandleStop(pid_t tid, int status);
  void HandleSeccomp(pid_t tid);
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
  size_t process_count_ = 0;

  Capture capture_;
  // Untraced: the seccomp user-notification listener of the program's
  // filter, once the child has sent it.
  UniqueFd listener_;
  // What the child reports before exec.
  ChildReports reports_;

  // Observed by BPF (else null).
  BpfObserver* bpf_ = nullptr;
  bool consuming_ = false;  // In BpfObserver::Consume.
  absl::Duration mono_start_;
  absl::Duration last_record_;  // The time of the last record: each one later.
  // Per stream, the writes the kernel reported, in ring order; and for each
  // thread, the write its next continuing piece belongs to (stream, index).
  std::vector<internal::ReportedWrite> reported_[3];
  size_t reported_bytes_[3] = {0, 0, 0};
  absl::flat_hash_map<pid_t, std::pair<int, size_t>> writing_;
};

ProcessRecord* Tracer::AddProcess(pid_t tgid, pid_t forked_by, absl::Duration started) {
  ProcessRecord rec;
  rec.pid = tgid;
  rec.forked_by = forked_by;
  rec.started = started;
  size_t index = obs_->processes.size();
  procs_[tgid] = index;
  exiting_.erase(tgid);  // A reused pid.
  obs_->processes.push_back(rec);
  if (++process_count_ > req_.max_processes && !obs_->process_limit_exceeded) {
    obs_->process_limit_exceeded = true;
    obs_->anomalies.push_back(
        absl::StrCat("more than ", req_.max_processes, " processes: the runner killed the tree"));
    KillAll();
  }
  if (killing_ && !obs_->processes[index].killed_by_runner) {
    ::kill(tgid, SIGKILL);
    obs_->processes[index].killed_by_runner = true;
  }
  return &obs_->processes[index];
}

void Tracer::Discover(pid_t tid, pid_t forker_tgid, bool is_fork_event) {
  auto it = threads_.find(tid);
  if (it != threads_.end()) {
    // The child stopped before its parent's event named it.
    ProcessRecord* p = Proc(it->second);
    if (forker_tgid != 0 && p != nullptr && p->pid == tid && p->forked_by == 0 && tid != root_) {
      p->forked_by = forker_tgid;
    }
    if (forker_tgid != 0) unclaimed_.erase(tid);
    return;
  }
  if (forker_tgid != 0 && unclaimed_.erase(tid)) {
    // It stopped, ran and ended before its parent's event was read (waitpid
    // reports them in any order): the same thread or process, not a new one.
    if (ProcessRecord* p = Proc(tid); p != nullptr && p->forked_by == 0 && tid != root_) p->forked_by = forker_tgid;
    return;
  }
  pid_t tgid = is_fork_event ? tid : internal::TgidOf(tid);
  if (tgid == 0) tgid = tid;
  threads_[tid] = tgid;
  // Seen before its parent's event: that event may come after its end.
  if (forker_tgid == 0 && tid != root_) unclaimed_.insert(tid);
  if (tgid != tid) return;  // A thread of a known process.
  ProcessRecord* existing = Proc(tgid);
  if (existing != nullptr && !existing->ended) return;
  AddProcess(tgid, forker_tgid, Since());
}

// A seccomp stop is an open(2)-family call: one that reopens a capture becomes a dup of it (reopen.h).
void Tracer::HandleSeccomp(pid_t tid) {
  struct __ptrace_syscall_info info;
  if (::ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(info), &info) > 0 && info.op == PTRACE_SYSCALL_INFO_SECCOMP) {
    std::optional<Reopen> r = internal::ReopenOf(tid, KnownTgid(tid), info.seccomp.nr,
                                                 reinterpret_cast<const uint64_t*>(info.seccomp.args), capture_);
    struct user_regs_struct regs;
    if (r && ::ptrace(PTRACE_GETREGS, tid, nullptr, &regs) == 0) {
      regs.orig_rax = SYS_fcntl;
      regs.rdi = static_cast<uint64_t>(r->fd);
      regs.rsi = r->cloexec ? F_DUPFD_CLOEXEC : F_DUPFD;
      regs.rdx = 0;
      if (::ptrace(PTRACE_SETREGS, tid, nullptr, &regs) != 0) {
        obs_->anomalies.push_back(
            absl::StrCat("could not redirect pid ", tid, "'s open(\"", r->path, "\"): ", ::strerror(errno)));
      }
    }
  }
  ::ptrace(PTRACE_CONT, tid, nullptr, nullptr);
}

void Tracer::HandleStop(pid_t tid, int status) {
  int sig = WSTOPSIG(status);
  int event = status >> 16;
  if (!threads_.contains(tid)) Discover(tid, 0, false);
  switch (event) {
    case PTRACE_EVENT_SECCOMP:
      HandleSeccomp(tid);
      return;
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE: {
      unsigned long child = 0;
      if (::ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child) == 0 && child != 0) {
        ReceiveCaptures();
        pid_t kid = static_cast<pid_t>(child);
        pid_t by = threads_[tid];
        Discover(kid, by, /*is_fork_event=*/event != PTRACE_EVENT_CLONE);
      }
      ::ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      return;
    }
    case PTRACE_EVENT_EXEC: {
      unsigned long former = 0;
      ::ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &former);
      if (former != 0 && static_cast<pid_t>(former) != tid) {
        // A non-leader thread exec'd: it now has the leader's id.
        threads_.erase(static_cast<pid_t>(former));
      }
      pid_t tgid = threads_[tid];
      if (ProcessRecord* p = Proc(tgid)) {
        ReceiveCaptures();
        p->execs.push_back({"", "", {internal::Argv0Of(tgid)}, Since()});
      }
      ::ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      return;
    }
    case PTRACE_EVENT_EXIT:
      // Every write of this thread has returned, so its bytes are in the
      // captures: take them now, while its pid cannot be anyone else's.
      ReceiveCaptures();
      // The leader on its way out: a kill from now on did not end it.
      if (threads_.contains(tid) && threads_[tid] == tid) exiting_.insert(tid);
      ::ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      return;
    case PTRACE_EVENT_STOP:
      if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
        // A group stop: stay stopped, as without a tracer, until SIGCONT.
        ::ptrace(PTRACE_LISTEN, tid, nullptr, nullptr);
      } else {
        ::ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      }
      return;
    default:
      // A signal on its way: deliver it.
      ::ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(static_cast<uintptr_t>(sig)));
      return;
  }
}

void Tracer::HandleStatus(pid_t tid, int status) {
  if (bpf_ != nullptr) {
    if (WIFEXITED(status) || WIFSIGNALED(status)) HandleReaped(tid, status);
    return;
  }
  if (WIFSTOPPED(status)) {
    HandleStop(tid, status);
    return;
  }
  if (!WIFEXITED(status) && !WIFSIGNALED(status)) return;
  // A thread or process is gone.
  pid_t tgid = tid;
  auto it = threads_.find(tid);
  if (it != threads_.end()) {
    tgid = it->second;
    threads_.erase(it);
  }
  if (tgid != tid) return;  // A thread; its group lives on.
  ProcessRecord* p = Proc(tgid);
  // Ended already: a tracee that died (reaped by us as its tracer) and whose
  // parent died too; reparented to us, we reap its zombie a second time.
  if (p != nullptr && p->ended) return;
  // Its last writes before its end (it may not have stopped at its exit:
  // untraced, or killed by SIGKILL).
  ReceiveCaptures();
  if (p == nullptr) p = AddProcess(tgid, 0, Since());  // Reparented to us, never traced.
  p->ended = Since();
  p->exit = WaitStatus::FromRaw(status);
  if (tgid == root_) OnRootEnded();
}

void Tracer::KillAll() {
  if (bpf_ != nullptr) {
    bpf_->Kill();
    // Who has ended already: their pids may be someone else's by now.
    ReceiveCaptures();
  }
  if (!killing_) killed_at_ = absl::Now();
  killing_ = true;
  for (ProcessRecord& p : obs_->processes) {
    if (p.ended || p.killed_by_runner) continue;
    ::kill(p.pid, SIGKILL);
    p.killed_by_runner = !exiting_.contains(p.pid);
  }
  // Orphans we did not trace (untraced runs) were reparented to us.
  for (pid_t kid : internal::OwnChildren()) {
    ProcessRecord* p = Proc(kid);
    if (p != nullptr && p->ended) continue;  // A zombie we reap next.
    if (bpf_ != nullptr) {
      // Known to BPF, if not yet to us: its fork record is still in the ring.
      ::kill(kid, SIGKILL);
      continue;
    }
    if (p == nullptr) p = AddProcess(kid, 0, Since());  // Killed there.
    if (!p->killed_by_runner) {
      ::kill(kid, SIGKILL);
      p->killed_by_runner = true;
    }
  }
}

void Tracer::ReceiveCaptures() {
  capture_.ReceiveAll(start_, [this](pid_t pid) { return traced_ && !procs_.contains(pid); });
  if (bpf_ != nullptr && !consuming_) {
    consuming_ = true;
    bpf_->Consume([this](const BpfRecord& r) { OnRecord(r); });
    consuming_ = false;
  }
}

void Tracer::OnRecord(const BpfRecord& r) {
  absl::Duration t = std::max(last_record_ + absl::Nanoseconds(1),
                              absl::Nanoseconds(static_cast<int64_t>(r.ts_ns)) - mono_start_);
  last_record_ = t;
  switch (r.kind) {
    case BpfRecord::kFork:
      AddProcess(r.pid, static_cast<pid_t>(r.arg), t);
      return;
    case BpfRecord::kExec:
      if (ProcessRecord* p = Proc(r.pid)) {
        p->execs.push_back({"", "", {std::string(r.data)}, t});
      }
      return;
    case BpfRecord::kExit:
      if (ProcessRecord* p = Proc(r.pid); p != nullptr && !p->ended) {
        p->ended = t;
        p->exit = WaitStatus::FromRaw(static_cast<int>(r.arg));
        // Killed while it was exiting on its own: the runner did not end it.
        if (p->killed_by_runner && *p->exit != WaitStatus::Signaled(SIGKILL)) p->killed_by_runner = false;
      }
      return;
    case BpfRecord::kWrite:
    case BpfRecord::kBlind: {
      int s = r.stream();
      if (s != 1 && s != 2) return;
      // Past the cap the capture drops the bytes; the reports go too.
      size_t len = r.kind == BpfRecord::kBlind ? r.blind_len : r.data.size();
      if (reported_bytes_[s] >= req_.max_output_bytes) return;
      if ((reported_bytes_[s] += len) >= req_.max_output_bytes) bpf_->Mute(s);
      std::vector<internal::ReportedWrite>& writes = reported_[s];
      auto open = writing_.find(r.tid);
      internal::ReportedWrite* w;
      if (r.continues() && open != writing_.end() && open->second.first == s) {
        w = &writes[open->second.second];
        w->returned = t;
      } else {
        writes.emplace_back();
        w = &writes.back();
        w->pid = r.pid;
        w->returned = t;
        writing_[r.tid] = {s, writes.size() - 1};
      }
      if (r.kind == BpfRecord::kBlind) {
        w->blind.push_back({w->data.size(), r.blind_len});
        w->data.append(r.blind_len, '\0');
      } else {
        w->data.append(r.data);
      }
      return;
    }
  }
}

void Tracer::HandleReaped(pid_t pid, int status) {
  ReceiveCaptures();  // Its exit record came before its zombie.
  ProcessRecord* p = Proc(pid);
  WaitStatus exit = WaitStatus::FromRaw(status);
  if (p == nullptr) {
    p = AddProcess(pid, 0, Since());
    obs_->anomalies.push_back(absl::StrCat("pid ", pid, " was reaped by the runner but never reported by BPF"));
  }
  if (!p->ended) {
    p->ended = Since();
    p->exit = exit;
    obs_->anomalies.push_back(absl::StrCat("pid ", pid, " ended without an exit record from BPF"));
  } else if (p->exit != exit) {
    obs_->anomalies.push_back(absl::StrCat("pid ", pid, ": BPF reported exit status ", p->exit->returncode(),
                                           ", wait() ", exit.returncode()));
    p->exit = exit;
  }
  if (pid == root_) OnRootEnded();
}

void Tracer::Reconcile() {
  obs_->writes.clear();
  const std::string* captured[3] = {nullptr, &obs_->stdout_bytes, &obs_->stderr_bytes};
  size_t stdout_runs = 0;
  for (int s = 1; s <= 2; ++s) {
    internal::Reconciled r = internal::Reconcile(s, std::move(reported_[s]), *captured[s], obs_->output_truncated);
    if (!r.mismatch.empty()) {
      absl::StrAppend(&obs_->attribution_mismatch, obs_->attribution_mismatch.empty() ? "" : "; ", r.mismatch);
    }
    obs_->writes.insert(obs_->writes.end(), std::make_move_iterator(r.writes.begin()),
                        std::make_move_iterator(r.writes.end()));
    reported_[s] = {};
    if (s == 1) stdout_runs = obs_->writes.size();
  }
  // One order for both streams, by time (each stream's runs are in order).
  std::inplace_merge(obs_->writes.begin(), obs_->writes.begin() + static_cast<std::ptrdiff_t>(stdout_runs),
                     obs_->writes.end(), [](const WriteRecord& a, const WriteRecord& b) { return a.at < b.at; });
}

absl::Status Tracer::Run() {
  if (req_.argv.empty()) return absl::InvalidArgumentError("RunRequest.argv is empty");

  // Everything the child needs, prepared before fork.
  std::string path = internal::ResolveProgram(req_.argv[0], req_.env);
  std::vector<char*> argv;
  for (const std::string& a : req_.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env = internal::TraceeEnvironment(req_.env);
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // The observer: BPF where it can load (unless ptrace is asked for), else
  // ptrace.
  if (req_.trace && req_.observer != Observer::kPtrace) {
    absl::StatusOr<BpfObserver*> bpf = BpfObserver::Get();
    if (bpf.ok()) {
      bpf_ = *bpf;
    } else if (req_.observer == Observer::kBpf) {
      return bpf.status();
    }
  }
  std::vector<sock_filter> filter = internal::BuildFilter(/*for_ptrace=*/bpf_ == nullptr);
  sock_fprog prog = {static_cast<unsigned short>(filter.size()), filter.data()};

  UniqueFd theirs[3];
  absl::Status made = capture_.Open(theirs, /*pipes=*/bpf_ != nullptr);
  if (!made.ok()) return made;
  absl::StatusOr<base::posix::PipeFds> go = base::posix::MakePipe();
  if (!go.ok()) return go.status();
  UniqueFd report_w;
  absl::Status reporting = reports_.Open(&report_w);
  if (!reporting.ok()) return reporting;
  std::vector<sock_filter> notify_filter = internal::BuildNotifyFilter();
  sock_fprog notify_prog = {static_cast<unsigned short>(notify_filter.size()), notify_filter.data()};
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) return base::posix::ErrnoError(errno, "open /dev/null");

  // SIGCHLD, read from a signalfd, wakes the loop for every child and tracee
  // event; the loop also wakes for output and for its deadlines.
  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::pthread_sigmask(SIG_BLOCK, &chld, &old_mask);
  UniqueFd sigfd(::signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC));
  int was_subreaper = 0;
  ::prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  auto restore = [&] {
    if (!was_subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    if (!sigismember(&old_mask, SIGCHLD)) {
      struct timespec zero = {0, 0};
      while (::sigtimedwait(&chld, nullptr, &zero) > 0) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  };

  internal::ChildSetup setup = {path.c_str(),
                                argv.data(),
                                envp.data(),
                                req_.cwd.empty() ? nullptr : req_.cwd.c_str(),
                                devnull.get(),
                                theirs[1].get(),
                                theirs[2].get(),
                                go->read.get(),
                                report_w.get(),
                                req_.isolate_network,
                                &prog,
                                &notify_prog,
                                ::getuid(),
                                ::getgid()};
  if (bpf_ != nullptr) {
    absl::Status began = bpf_->Begin(capture_.Id(1).dev, capture_.Id(1).ino, capture_.Id(2).dev, capture_.Id(2).ino,
                                    static_cast<uint32_t>(std::min<size_t>(req_.max_processes, UINT32_MAX)));
    if (!began.ok()) {
      restore();
      return began;
    }
  }
  std::fflush(nullptr);
  start_ = absl::Now();
  mono_start_ = MonotonicNow();
  pid_t pid;
  if (bpf_ != nullptr) {
    // BPF tracks the root from its birth on (ArmSpawn), so nothing needs to
    // happen between fork and exec: the go byte goes first, and vfork spares
    // copying the runner's address space for every run.
    char go_byte = 'T';
    (void)!::write(go->write.get(), &go_byte, 1);
    absl::Status armed = bpf_->ArmSpawn();
    if (!armed.ok()) {
      bpf_->End();
      restore();
      return armed;
    }
    pid = internal::VforkChild(setup);
  } else {
    pid = ::fork();
  }
  if (pid < 0) {
    int e = errno;
    if (bpf_ != nullptr) bpf_->End();
    restore();
    return base::posix::ErrnoError(e, "fork()");
  }
  if (pid == 0) internal::ChildMain(setup);
  root_ = pid;
  theirs[1].reset();
  theirs[2].reset();
  go->read.reset();
  report_w.reset();
  devnull.reset();

  AddProcess(pid, 0, Since());
  threads_[pid] = pid;
  if (bpf_ != nullptr) {
    if (!bpf_->Spawned()) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      bpf_->End();
      restore();
      return absl::InternalError("BPF observer: the program's start was not seen");
    }
    obs_->observer = "bpf";
  } else if (req_.trace) {
    long opts = PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
                PTRACE_O_TRACEEXIT | PTRACE_O_TRACESECCOMP | PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL;
    if (::ptrace(PTRACE_SEIZE, pid, nullptr, reinterpret_cast<void*>(opts)) == 0) {
      traced_ = true;
    } else {
      obs_->untraced_reason = absl::StrCat("ptrace(PTRACE_SEIZE) failed: ", ::strerror(errno));
    }
  } else {
    obs_->untraced_reason = "tracing was not requested (trace=false)";
  }
  if (traced_) obs_->observer = "ptrace";
  obs_->traced = traced_ || bpf_ != nullptr;
  // 'T': install `filter` (observed by ptrace or BPF); 'U': the notify filter.
  char go_byte = obs_->traced ? 'T' : 'U';
  if (bpf_ == nullptr) (void)!::write(go->write.get(), &go_byte, 1);
  go->write.reset();

  absl::Time deadline = req_.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : start_ + req_.timeout;
  for (;;) {
    bool no_children = false;
    // Bounded, so that a flood of events cannot keep the deadlines unchecked.
    for (int events = 0; events < 1000;) {
      int status = 0;
      pid_t w = ::waitpid(-1, &status, WNOHANG | __WALL);
      if (w > 0) {
        HandleStatus(w, status);
        ++events;
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      no_children = w < 0;
      break;
    }
    if (no_children) break;
    absl::Time now = absl::Now();
    if (!killing_ && now >= deadline) {
      obs_->timed_out = true;
      KillAll();
    }
    if (!killing_ && kill_at_ && now >= *kill_at_) KillAll();
    if (killing_) {
      if (now - killed_at_ > kReapLimit) {
        obs_->anomalies.push_back("processes did not die within 10s of SIGKILL; the runner gave up on them");
        break;
      }
      KillAll();  // Orphans reparented since.
    }
    absl::Time wake = killing_ ? now + absl::Milliseconds(20) : std::min(deadline, kill_at_.value_or(deadline));
    int timeout_ms = 1000;  // A safety net: SIGCHLD may be taken by another thread.
    if (wake != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(
          std::clamp<int64_t>(absl::ToInt64Milliseconds(wake - now + absl::Microseconds(999)), 0, 1000));
    }
    struct pollfd fds[6] = {{sigfd.get(), POLLIN, 0},
                            {capture_.PollFd(1), POLLIN, 0},
                            {capture_.PollFd(2), POLLIN, 0},
                            {reports_.PollFd(), POLLIN, 0},
                            {listener_.valid() ? listener_.get() : -1, POLLIN, 0},
                            {bpf_ != nullptr ? bpf_->PollFd() : -1, POLLIN, 0}};
    int r = ::poll(fds, 6, timeout_ms);
    if (r > 0) {
      if (fds[5].revents) ReceiveCaptures();
      if (fds[0].revents) {
        // One read: poll is level-triggered, so anything left wakes us again.
        struct signalfd_siginfo si[16];
        (void)!::read(sigfd.get(), si, sizeof(si));
      }
      if (fds[1].revents || fds[2].revents) ReceiveCaptures();
      if (fds[3].revents) reports_.Read(&listener_);
      if (fds[4].revents & POLLIN) {
        internal::AnswerNotification(&listener_, capture_, [this](pid_t tid) { return KnownTgid(tid); });
      } else if (fds[4].revents) {
        listener_.reset();  // POLLHUP: no process of the program is left.
      }
    }
  }
  obs_->wall = Since();
  for (ProcessRecord& p : obs_->processes) {
    if (!p.ended && p.killed_by_runner) p.ended = obs_->wall;
  }

  // Every writer is gone: drain to EOF (bounded: an escaped process could
  // hold a capture open).
  absl::Time drain_until = absl::Now() + kDrainLimit;
  while (capture_.AnyOpen() && absl::Now() < drain_until) {
    struct pollfd fds[2] = {{capture_.PollFd(1), POLLIN, 0}, {capture_.PollFd(2), POLLIN, 0}};
    ::poll(fds, 2, 50);
    ReceiveCaptures();
  }
  if (capture_.AnyOpen()) obs_->anomalies.push_back("a capture stayed open after every process was gone");
  if (bpf_ != nullptr) {
    ReceiveCaptures();
    if (uint64_t lost = bpf_->Lost(); lost != 0) {
      obs_->anomalies.push_back(absl::StrCat("the BPF ring buffer overflowed: ", lost, " records lost"));
    }
    bpf_->End();
    Reconcile();
  }
  restore();

  // What the child reported before exec.
  reports_.Read(&listener_);
  listener_.reset();
  reports_.Close();
  obs_->network_isolated = reports_.network_isolated();
  if (reports_.seccomp_errno() != 0) {
    obs_->anomalies.push_back(absl::StrCat("seccomp unavailable (", ::strerror(reports_.seccomp_errno()),
                                           "): clone3 and io_uring were not blocked, and reopening /dev/stdout failed"));
  }
  if (reports_.chdir_errno() != 0) return base::posix::ErrnoError(reports_.chdir_errno(), absl::StrCat("chdir ", req_.cwd));
  if (reports_.exec_errno() != 0) return base::posix::ErrnoError(reports_.exec_errno(), absl::StrCat("exec ", path));
  capture_.Finish();
  // The root first, then by start.
  std::stable_sort(obs_->processes.begin() + 1, obs_->processes.end(),
                   [](const ProcessRecord& a, const ProcessRecord& b) { return a.started < b.started; });
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadBpfObserver() { return internal::BpfObserver::Get().status(); }

absl::StatusOr<Observation> Run(const RunRequest& req) {
  Observation obs;
  obs.timeout = req.timeout;
  Tracer tracer(req, &obs);
  absl::Status s = tracer.Run();
  if (!s.ok()) return s;
  return obs;
}

}  // namespace conformance
