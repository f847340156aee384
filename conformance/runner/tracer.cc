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
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/posix/fd.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/bpf_observer.h"
#include "conformance/runner/capture.h"
#include "conformance/runner/child_setup.h"
#include "conformance/runner/proc.h"
#include "conformance/runner/reopen.h"
#include "conformance/runner/tracer_impl.h"

namespace conformance::internal {
namespace {

using base::posix::UniqueFd;

// How long killed processes may take to die before the runner gives up.
constexpr absl::Duration kReapLimit = absl::Seconds(10);
// How long the captures may stay open after every process is gone.
constexpr absl::Duration kDrainLimit = absl::Seconds(1);

}  // namespace

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

absl::Status Tracer::Run() {
  if (req_.argv.empty()) return absl::InvalidArgumentError("RunRequest.argv is empty");
  // Only the BPF observer can stop a process at the points (as a system call
  // returns) and say so at once; ptrace would have to stop at every system
  // call to find them.
  const bool perturb = req_.perturb_seed != 0;
  if (perturb && !req_.trace) {
    return absl::InvalidArgumentError("schedule perturbation needs the processes observed; it cannot run untraced");
  }
  if (perturb && req_.observer == Observer::kPtrace) {
    return absl::InvalidArgumentError(
        "schedule perturbation needs the BPF observer (the kernel stops the processes at the perturbation points); "
        "the ptrace observer cannot perturb");
  }

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
    } else if (req_.observer == Observer::kBpf || perturb) {
      return bpf.status();
    }
  }
  cpu_set_t cpus;
  std::vector<sock_filter> perturb_filter;
  sock_fprog perturb_prog = {};
  if (perturb) {
    perturber_ = std::make_unique<Perturber>(req_.perturb_seed, req_.perturb, obs_, bpf_, &listener_);
    perturb_filter = BuildPerturbFilter();
    perturb_prog = {static_cast<unsigned short>(perturb_filter.size()), perturb_filter.data()};
    CPU_ZERO(&cpus);
    if (perturber_->cpu() >= 0) CPU_SET(perturber_->cpu(), &cpus);
  }
  bool pty = req_.stdio == Stdio::kPty;
  std::vector<sock_filter> filter = internal::BuildFilter(/*for_ptrace=*/bpf_ == nullptr,
                                                          /*trace_writes=*/bpf_ == nullptr && pty);
  sock_fprog prog = {static_cast<unsigned short>(filter.size()), filter.data()};

  UniqueFd theirs[3];
  absl::Status made = capture_.Open(theirs, pty                ? CaptureKind::kPtys
                                            : bpf_ != nullptr ? CaptureKind::kPipes
                                                              : CaptureKind::kSockets);
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
                                ::getgid(),
                                perturb ? &perturb_prog : nullptr,
                                perturb && perturber_->cpu() >= 0 ? &cpus : nullptr};
  if (bpf_ != nullptr) {
    absl::Status began = bpf_->Begin(capture_.Id(1).dev, capture_.Id(1).ino, capture_.Id(2).dev, capture_.Id(2).ino,
                                    static_cast<uint32_t>(std::min<size_t>(req_.max_processes, UINT32_MAX)),
                                    perturber_ ? perturber_->KernelConfig() : BpfPerturbConfig{});
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
  if (perturber_) perturber_->OnRoot(pid);
  // The child subreaper: what an orphan's getppid() returns.
  obs_->reaper = ::getpid();
  obs_->stdio = pty ? "pty" : "pipe";
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
  // Untraced, a pty names no writer: text only.
  if (!obs_->traced) capture_.RecordAnonymousWrites();
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
    // The user interrupted the runner: stop the program now (a signal to the
    // runner wakes the poll below, as no handler restarts it).
    if (!killing_ && req_.cancel != nullptr && req_.cancel->load() != 0) {
      obs_->interrupted = true;
      KillAll();
    }
    if (killing_) {
      if (now - killed_at_ > kReapLimit) {
        obs_->anomalies.push_back("processes did not die within 10s of SIGKILL; the runner gave up on them");
        break;
      }
      KillAll();  // Orphans reparented since.
    }
    if (perturber_) {
      // Killed, nothing need wait any more (SIGKILL ends stops and waits).
      perturber_->Release(now, /*all=*/killing_);
    }
    absl::Time wake = killing_ ? now + absl::Milliseconds(20) : std::min(deadline, kill_at_.value_or(deadline));
    if (perturber_) wake = std::min(wake, perturber_->NextDue());
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
      if ((fds[4].revents & POLLIN) && perturber_) {
        // Every fork before the call is read first: the caller's identity.
        ReceiveCaptures();
        perturber_->OnNotification(&listener_);
      } else if (fds[4].revents & POLLIN) {
        internal::AnswerNotification(&listener_, capture_, [this](pid_t tid) { return KnownTgid(tid); });
      } else if (fds[4].revents) {
        listener_.reset();  // POLLHUP: no process of the program is left.
      }
    }
  }
  obs_->wall = Since();
  // Nothing is left to continue, unless the runner gave up on a process.
  if (perturber_) perturber_->Release(absl::Now(), /*all=*/true);
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
    writes_.ReconcileInto(obs_);
  } else if (traced_ && pty) {
    writes_.ReconcileInto(obs_);
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

}  // namespace conformance::internal

namespace conformance {

absl::Status LoadBpfObserver() { return internal::BpfObserver::Get().status(); }

absl::StatusOr<Observation> Run(const RunRequest& req) {
  Observation obs;
  obs.timeout = req.timeout;
  internal::Tracer tracer(req, &obs);
  absl::Status s = tracer.Run();
  if (!s.ok()) return s;
  return obs;
}

}  // namespace conformance
