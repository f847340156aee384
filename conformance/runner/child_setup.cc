#include "conformance/runner/child_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/posix/fd.h"

namespace conformance::internal {
namespace {

using base::posix::UniqueFd;

// The system calls that can open a path. Each stops the tracee at entry, so
// that reopening a captured stream (/dev/stdout, /proc/self/fd/1, ...), which
// fails with ENXIO on a socket, can be turned into a dup of the fd
// (HandleSeccomp). Writes to sockets never stop: the captures attribute them
// (ReceiveCaptures); to a terminal, which names no writer, they do
// (ptrace_writes.h).
constexpr int kOpenSyscalls[] = {SYS_open, SYS_openat, SYS_openat2, SYS_creat};
// Under ptrace the execs stop at entry too, so that the tracer reads the
// file each asks to run (its exec event comes after the path is gone).
// Execs are rare: a stop each costs nothing measurable.
constexpr int kExecSyscalls[] = {SYS_execve, SYS_execveat};

// The child, between fork and exec: async-signal-safe calls only.

void Report(int fd, char tag, int value) {
  char msg[1 + sizeof(int)];
  msg[0] = tag;
  std::memcpy(msg + 1, &value, sizeof(int));
  base::posix::signal_safe::WriteAll(fd, msg, sizeof(msg));
}

// Maps the current uid/gid to themselves in a fresh user namespace, so the
// program sees the ids it would have outside.
void MapOwnIds(uid_t uid, gid_t gid) {
  char buf[64];
  auto put = [&](const char* path, const char* text) {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    (void)!::write(fd, text, ::strlen(text));
    ::close(fd);
  };
  put("/proc/self/setgroups", "deny");
  // Hand-rolled formatting: snprintf is not async-signal-safe.
  auto fmt = [&](unsigned id) {
    char digits[16];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + id % 10);
      id /= 10;
    } while (id != 0);
    int k = 0;
    for (int rep = 0; rep < 2; ++rep) {
      for (int i = n - 1; i >= 0; --i) buf[k++] = digits[i];
      buf[k++] = ' ';
    }
    buf[k++] = '1';
    buf[k++] = '\n';
    buf[k] = '\0';
  };
  fmt(uid);
  put("/proc/self/uid_map", buf);
  fmt(gid);
  put("/proc/self/gid_map", buf);
}

// Sends the listener of a seccomp filter to the runner, before exec: the
// program's first notified call waits for the runner.
void SendListener(int report, int listener) {
  char msg[1 + sizeof(int)] = {kReportListener};
  struct iovec iov = {msg, sizeof(msg)};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  struct cmsghdr* cm = CMSG_FIRSTHDR(&m);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &listener, sizeof(int));
  (void)!::sendmsg(report, &m, MSG_NOSIGNAL);
  ::close(listener);
}

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

}  // namespace

std::vector<sock_filter> BuildFilter(bool for_ptrace, bool trace_writes) {
  // Jumps are written with absolute targets and resolved at the end.
  struct Insn {
    sock_filter f;
    int jt = -1, jf = -1;  // Absolute targets; -1: next.
  };
  std::vector<Insn> p;
  auto stmt = [&](uint16_t code, uint32_t k) { p.push_back({BPF_STMT(code, k)}); };
  auto jump = [&](uint16_t code, uint32_t k, int jt, int jf) { p.push_back({BPF_JUMP(code, k, 0, 0), jt, jf}); };
  // Labels at the end of the program, counted from its end.
  enum { kAllow = 0, kTrace, kEnosys, kCloneCheck, kLabels };
  std::vector<int> jumps_to_label;  // Encoded as -(100 + label).
  auto label = [](int l) { return -(100 + l); };

  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, -1, label(kEnosys));
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u /* __X32_SYSCALL_BIT */, label(kEnosys), -1);
  for (int nr : {SYS_io_uring_setup, SYS_io_setup}) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), label(kEnosys), -1);
  }
  if (for_ptrace) {
    for (int nr : kOpenSyscalls) jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), label(kTrace), -1);
    for (int nr : kExecSyscalls) jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), label(kTrace), -1);
    if (trace_writes) {
      for (int nr : kWriteSyscalls) jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), label(kTrace), -1);
    }
    jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, label(kEnosys), -1);
    jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, label(kCloneCheck), -1);
  }
  int labels[kLabels];
  labels[kAllow] = static_cast<int>(p.size());
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  labels[kTrace] = static_cast<int>(p.size());
  stmt(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
  labels[kEnosys] = static_cast<int>(p.size());
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
  labels[kCloneCheck] = static_cast<int>(p.size());
  // x86-64 clone(flags, ...): the flags' low word is the first argument's.
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0]));
  // Classic BPF jumps only forward and must end in a return.
  jump(BPF_JMP | BPF_JSET | BPF_K, CLONE_UNTRACED, static_cast<int>(p.size()) + 2, -1);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);

  std::vector<sock_filter> out;
  for (size_t i = 0; i < p.size(); ++i) {
    sock_filter f = p[i].f;
    auto resolve = [&](int t) -> uint8_t {
      if (t == -1) return 0;
      int target = t <= -100 ? labels[-(t + 100)] : t;
      return static_cast<uint8_t>(target - static_cast<int>(i) - 1);
    };
    if (BPF_CLASS(f.code) == BPF_JMP) {
      f.jt = resolve(p[i].jt);
      f.jf = resolve(p[i].jf);
    }
    out.push_back(f);
  }
  return out;
}

std::vector<sock_filter> BuildNotifyFilter() {
  constexpr uint8_t kOpens = sizeof(kOpenSyscalls) / sizeof(kOpenSyscalls[0]);
  std::vector<sock_filter> p;
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, kOpens + 1));  // Else allow.
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  for (uint8_t i = 0; i < kOpens; ++i) {
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(kOpenSyscalls[i]),
                         static_cast<uint8_t>(kOpens - i), 0));
  }
  p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF));
  return p;
}

std::string ResolveProgram(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path;
  if (env.empty()) {
    const char* p = ::getenv("PATH");
    path = p != nullptr ? p : "/usr/bin:/bin";
  } else {
    path = "/usr/bin:/bin";
    for (const std::string& e : env) {
      if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
    }
  }
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;  // exec reports ENOENT.
}

// LeakSanitizer stops the world with ptrace, which fails in a process that is
// already traced: a sanitizer build of an implementation would die at exit
// with "LeakSanitizer has encountered a fatal error". Traced programs get
// detect_leaks=0 appended (later ASan options override earlier ones).
std::vector<std::string> TraceeEnvironment(const std::vector<std::string>& requested) {
  std::vector<std::string> env = requested;
  if (env.empty()) {
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  }
  for (std::string& e : env) {
    if (absl::StartsWith(e, "ASAN_OPTIONS=")) {
      absl::StrAppend(&e, ":detect_leaks=0");
      return env;
    }
  }
  env.push_back("ASAN_OPTIONS=detect_leaks=0");
  return env;
}

[[noreturn]] void ChildMain(const ChildSetup& c) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Copies above 2 first: a runner started with closed std fds may have
  // gotten its pipes as 0..2, and dup2 onto itself would keep close-on-exec.
  int in = ::fcntl(c.devnull, F_DUPFD_CLOEXEC, 3);
  int out = ::fcntl(c.out_w, F_DUPFD_CLOEXEC, 3);
  int err = ::fcntl(c.err_w, F_DUPFD_CLOEXEC, 3);
  int report = ::fcntl(c.report_w, F_DUPFD_CLOEXEC, 3);
  if (in < 0 || out < 0 || err < 0 || report < 0) ::_exit(127);
  // Wait until the runner has attached (or decided not to).
  char go = 0;
  ssize_t n;
  do {
    n = ::read(c.go_r, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(127);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  // Not a session leader, the child can drop the runner's controlling
  // terminal without hanging it up: the program then has none (see
  // tracer.h). It stays in the runner's process group.
  int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty >= 0) {
    ::ioctl(tty, TIOCNOTTY);
    ::close(tty);
  }
  // Nothing of the runner's may leak into the program.
  ::syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
  if (c.cwd != nullptr && ::chdir(c.cwd) != 0) {
    Report(report, kReportChdir, errno);
    ::_exit(127);
  }
  if (c.isolate_network) {
    bool isolated = ::unshare(CLONE_NEWNET) == 0;
    if (!isolated && ::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
      MapOwnIds(c.uid, c.gid);
      isolated = true;
    }
    Report(report, kReportNetwork, isolated ? 1 : 0);
  }
  if (go == 'T') {
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, c.filter) != 0) {
      // Without CAP_SYS_ADMIN a filter needs no_new_privs.
      ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, c.filter) != 0) {
        Report(report, kReportSeccomp, errno);
      }
    }
    if (c.perturb_filter != nullptr) {
      // Once the runner has received a notification, only a fatal signal
      // ends the wait (5.19 and later): a signal that another thread's stop
      // or a handler brings would otherwise restart the call as a new one.
      long listener = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
                                c.perturb_filter);
      if (listener < 0) {
        listener = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, c.perturb_filter);
      }
      if (listener >= 0) SendListener(report, static_cast<int>(listener));
    }
  } else {
    // Untraced: where seccomp user notification is allowed, reopening a
    // capture still works (the runner answers); elsewhere it fails (ENXIO).
    long listener = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, c.notify_filter);
    if (listener < 0 && errno == EACCES) {
      ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      listener = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, c.notify_filter);
    }
    if (listener >= 0) SendListener(report, static_cast<int>(listener));
  }
  // Inherited by every process of the run; a CPU the runner may not use
  // leaves the program where it was.
  if (c.cpus != nullptr) (void)::sched_setaffinity(0, sizeof(cpu_set_t), c.cpus);
  if (c.envp != nullptr) {
    ::execve(c.path, c.argv, c.envp);
  } else {
    ::execv(c.path, c.argv);
  }
  Report(report, kReportExec, errno);
  // Under perturbation, not _exit: exit_group may be held by the filter for
  // the runner, which waits in vfork for this very exit. SYS_exit ends the
  // only thread, and so the process, with the same status. Otherwise
  // exit_group: under ThreadSanitizer vfork is a fork and the child may have
  // TSan's background thread, which SYS_exit would leave running (holding
  // the report socket open, so the runner never learns the exec failed).
  if (c.perturb_filter != nullptr) ::syscall(SYS_exit, 127);
  ::_exit(127);
}

// Alone in its function, so that nothing of a caller's frame can be
// clobbered by the child (which shares the stack until it execs).
pid_t VforkChild(const ChildSetup& c) {
  pid_t pid = ::vfork();
  if (pid == 0) ChildMain(c);
  return pid;
}

absl::Status ChildReports::Open(UniqueFd* child_end) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return base::posix::ErrnoError(errno, "socketpair()");
  }
  fd_.reset(sv[0]);
  child_end->reset(sv[1]);
  return absl::OkStatus();
}

void ChildReports::Read(UniqueFd* listener) {
  while (fd_.valid()) {
    char msg[1 + sizeof(int)];
    struct iovec iov = {msg, sizeof(msg)};
    alignas(struct cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
    struct msghdr m = {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd_.get(), &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // 0: the child exec'd or died, and nothing more can come.
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) open_ = false;
      return;
    }
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < count; ++k) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
        if (msg[0] == kReportListener && !listener->valid()) {
          listener->reset(fd);
        } else {
          ::close(fd);
        }
      }
    }
    if (n != static_cast<ssize_t>(sizeof(msg))) continue;
    int value;
    std::memcpy(&value, msg + 1, sizeof(int));
    switch (msg[0]) {
      case kReportNetwork:
        network_isolated_ = value == 1;
        break;
      case kReportSeccomp:
        seccomp_errno_ = value;
        break;
      case kReportChdir:
        chdir_errno_ = value;
        break;
      case kReportExec:
        exec_errno_ = value;
        break;
      default:
        break;
    }
  }
}

}  // namespace conformance::internal
