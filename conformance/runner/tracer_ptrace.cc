// The ptrace observer's half of the Tracer (tracer_impl.h): what each stop
// and each wait status of a traced process means.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/proc.h"
#include "conformance/runner/reopen.h"
#include "conformance/runner/tracer_impl.h"

namespace conformance::internal {

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

// A seccomp stop is a write to a terminal capture (ptrace_writes.h), an
// exec, whose path is kept for its exec event, or an open(2)-family call:
// one that reopens a socket capture becomes a dup of it (reopen.h).
void Tracer::HandleSeccomp(pid_t tid) {
  struct __ptrace_syscall_info info;
  if (::ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(info), &info) > 0 && info.op == PTRACE_SYSCALL_INFO_SECCOMP) {
    const auto* args = reinterpret_cast<const uint64_t*>(info.seccomp.args);
    if (PtraceWrites::IsWrite(info.seccomp.nr)) {
      // A terminal capture: a write to it stops again at its exit.
      bool watch = ptrace_writes_.Entered(tid, info.seccomp.nr, args, capture_, writes_);
      ::ptrace(watch ? PTRACE_SYSCALL : PTRACE_CONT, tid, nullptr, nullptr);
      return;
    }
    if (info.seccomp.nr == SYS_execve || info.seccomp.nr == SYS_execveat) {
      exec_paths_[tid] = ExecPathOf(tid, info.seccomp.nr, args);
      ::ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      return;
    }
    std::optional<Reopen> r = internal::ReopenOf(tid, KnownTgid(tid), info.seccomp.nr, args, capture_);
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

void Tracer::HandleSyscallExit(pid_t tid) {
  struct __ptrace_syscall_info info;
  if (::ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(info), &info) > 0 && info.op == PTRACE_SYSCALL_INFO_EXIT) {
    // Stopped at its return, the writer has done nothing since: its bytes
    // come before anything it does next.
    ptrace_writes_.Returned(tid, KnownTgid(tid), info.exit.rval, Since(), &writes_);
  } else {
    ptrace_writes_.Forget(tid);
  }
  ::ptrace(PTRACE_CONT, tid, nullptr, nullptr);
}

void Tracer::HandleStop(pid_t tid, int status) {
  int sig = WSTOPSIG(status);
  int event = status >> 16;
  if (!threads_.contains(tid)) Discover(tid, 0, false);
  if (event == 0 && sig == (SIGTRAP | 0x80)) {  // PTRACE_O_TRACESYSGOOD
    HandleSyscallExit(tid);
    return;
  }
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
      pid_t by = former != 0 ? static_cast<pid_t>(former) : tid;
      std::string path;
      if (auto it = exec_paths_.find(by); it != exec_paths_.end()) {
        path = std::move(it->second);
        exec_paths_.erase(it);
      }
      pid_t tgid = threads_[tid];
      if (ProcessRecord* p = Proc(tgid)) {
        ReceiveCaptures();
        // Stopped at the event, the new program has not run yet: its
        // executable and arguments are as exec made them.
        p->execs.push_back({std::move(path), ExeOf(tgid), ArgsOf(tgid), Since()});
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
  exec_paths_.erase(tid);
  ptrace_writes_.Forget(tid);
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

}  // namespace conformance::internal
