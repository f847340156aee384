// Private: how the conformance runner starts a program. Everything the child
// needs is prepared before fork (the program's path, its environment, the
// seccomp filters, a ChildSetup); between fork and exec, ChildMain() makes
// async-signal-safe calls only, and reports what went wrong (or what it
// decided) to the runner on the report socket.

#ifndef CONFORMANCE_RUNNER_CHILD_SETUP_H_
#define CONFORMANCE_RUNNER_CHILD_SETUP_H_

#include <linux/filter.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/posix/fd.h"

namespace conformance::internal {

// The system calls that can write to a capture, as the BPF observer
// (observe.bpf.c) knows them; write(2) first. pwrite64 and pwritev fail on a
// pipe, socket or terminal (ESPIPE).
inline constexpr int kWriteSyscalls[] = {SYS_write,   SYS_writev, SYS_pwritev2, SYS_vmsplice,
                                         SYS_sendfile, SYS_splice, SYS_tee,     SYS_copy_file_range};

// The seccomp filter of an observed program: makes io_uring_setup, io_setup
// and 32-bit or x32 system calls fail with ENOSYS (their writes would not be
// seen), and allows the rest. `for_ptrace`: also stops the opens and the
// execs (SECCOMP_RET_TRACE), makes clone3 fail with ENOSYS and clone with
// CLONE_UNTRACED with EPERM (so that no process escapes the tracer);
// `trace_writes` (with `for_ptrace`): stops kWriteSyscalls too.
std::vector<sock_filter> BuildFilter(bool for_ptrace, bool trace_writes = false);
// The filter of an untraced program: only the opens, as user notifications
// to the runner (AnswerNotification in reopen.h), so that reopening a capture
// works without ptrace too.
std::vector<sock_filter> BuildNotifyFilter();

// `name` as exec would find it: in the PATH of `env` ("NAME=value" entries;
// empty: the runner's environment) when it has no '/'; `name` itself when it
// is not found there (exec then reports ENOENT).
std::string ResolveProgram(const std::string& name, const std::vector<std::string>& env);

// The environment of a traced program: `requested` (empty: the runner's)
// with LeakSanitizer turned off.
std::vector<std::string> TraceeEnvironment(const std::vector<std::string>& requested);

// Messages from the child on the report socket (SOCK_SEQPACKET: one message
// per write): a tag byte and an int.
enum ReportTag : char {
  kReportNetwork = 'N',   // 1: isolated.
  kReportSeccomp = 'S',   // errno of a failed seccomp().
  kReportChdir = 'C',     // errno.
  kReportExec = 'E',      // errno.
  kReportListener = 'L',  // The seccomp listener, as SCM_RIGHTS (untraced, or perturbed).
};

// What ChildMain() needs, prepared before fork (it allocates nothing).
struct ChildSetup {
  const char* path;
  char* const* argv;
  char* const* envp;  // nullptr: inherit.
  const char* cwd;    // nullptr: stay.
  int devnull, out_w, err_w, go_r, report_w;
  bool isolate_network;
  const sock_fprog* filter;
  const sock_fprog* notify_filter;  // Untraced.
  uid_t uid;
  gid_t gid;
  // A perturbed run (perturb.h): the filter whose user notifications delay
  // calls, installed on top of `filter` (its listener is reported), and the
  // CPUs the program may run on (nullptr: any).
  const sock_fprog* perturb_filter = nullptr;
  const cpu_set_t* cpus = nullptr;
};

// The child, from fork to exec: takes 0, 1 and 2 from `c`, gives up the
// runner's controlling terminal if it has one (the program has none, so
// /dev/tty fails with ENXIO, and it stays out of the runner's terminal),
// waits for the runner's go byte on `go_r` ('T': traced, 'U': untraced),
// isolates the network, installs the filter ('T', and the perturbation
// filter, sending its listener to the runner) or the notify filter ('U',
// sending its listener), sets its CPUs and execs. Never returns: exits with
// 127 on failure.
[[noreturn]] void ChildMain(const ChildSetup& c);

// Starts ChildMain(c) with vfork: no copy of the runner's page tables, and
// the runner waits until the child has exec'd (or failed). For runs observed
// by BPF, where the go byte can be written before the child exists.
// Returns the child's pid, or -1 with errno.
pid_t VforkChild(const ChildSetup& c);

// The runner's end of the report socket: what the child reported before exec.
class ChildReports {
 public:
  // Creates the report socket; `child_end` becomes ChildSetup::report_w.
  // Errors: an errno error (base::posix::ErrnoError).
  absl::Status Open(base::posix::UniqueFd* child_end);
  // Takes what the child reported, without blocking; the seccomp listener it
  // sent goes to `listener` (when that holds none).
  void Read(base::posix::UniqueFd* listener);
  // The socket to poll while more can come; -1 after.
  int PollFd() const { return open_ ? fd_.get() : -1; }
  void Close() { fd_.reset(); }

  bool network_isolated() const { return network_isolated_; }
  // The errno of a failed seccomp(), chdir() or exec; 0 if none failed.
  int seccomp_errno() const { return seccomp_errno_; }
  int chdir_errno() const { return chdir_errno_; }
  int exec_errno() const { return exec_errno_; }

 private:
  base::posix::UniqueFd fd_;
  bool open_ = true;
  bool network_isolated_ = false;
  int seccomp_errno_ = 0, chdir_errno_ = 0, exec_errno_ = 0;
};

}  // namespace conformance::internal

#endif  // CONFORMANCE_RUNNER_CHILD_SETUP_H_
