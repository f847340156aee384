#include "conformance/runner/tracer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <limits.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/exit_status.h"
#include "mp/internal/fd.h"

namespace conformance {
namespace {

using mp::internal::UniqueFd;

// Bounds against hostile programs (the others are in RunRequest).
constexpr size_t kMaxWriteRecords = size_t{1} << 20;
// Reads from a capture: up to kBatch runs of up to kPiece bytes per call.
constexpr size_t kBatch = 64;
constexpr size_t kPiece = 4096;
// How long killed processes may take to die before the runner gives up.
constexpr absl::Duration kReapLimit = absl::Seconds(10);
// How long the captures may stay open after every process is gone.
constexpr absl::Duration kDrainLimit = absl::Seconds(1);

// ---------------------------------------------------------------------------
// The seccomp filter.

// The system calls that can open a path. Each stops the tracee at entry, so
// that reopening a captured stream (/dev/stdout, /proc/self/fd/1, ...), which
// fails with ENXIO on a socket, can be turned into a dup of the fd
// (HandleSeccomp). Writes never stop: the captures attribute them
// (ReceiveCaptures).
constexpr int kOpenSyscalls[] = {SYS_open, SYS_openat, SYS_openat2, SYS_creat};

std::vector<sock_filter> BuildFilter() {
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
  for (int nr : kOpenSyscalls) jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), label(kTrace), -1);
  for (int nr : {SYS_io_uring_setup, SYS_io_setup, SYS_clone3}) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), label(kEnosys), -1);
  }
  jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, label(kCloneCheck), -1);
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

// The filter of an untraced program: only the opens, as user notifications
// to the runner (HandleNotification), so that reopening a capture works
// without ptrace too.
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

// ---------------------------------------------------------------------------
// Small /proc and memory helpers.

std::string ReadSmallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "";
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) break;
  }
  return out;
}

// The thread group of `tid`, from /proc; 0 if it is gone.
pid_t TgidOf(pid_t tid) {
  std::string status = ReadSmallFile(absl::StrCat("/proc/", tid, "/status"));
  size_t at = status.find("\nTgid:");
  if (at == std::string::npos) return 0;
  return static_cast<pid_t>(std::strtol(status.c_str() + at + 6, nullptr, 10));
}

std::string Argv0Of(pid_t pid) {
  std::string cmdline = ReadSmallFile(absl::StrCat("/proc/", pid, "/cmdline"));
  return std::string(cmdline.c_str());  // Up to the first NUL.
}

// Reads [addr, addr+len) of `tid`'s memory into `out`. process_vm_readv
// first; PTRACE_PEEKDATA (allowed to the tracer even when the tracee made
// itself non-dumpable) when that is refused.
bool ReadMemory(pid_t tid, uint64_t addr, size_t len, std::string* out) {
  size_t old = out->size();
  out->resize(old + len);
  struct iovec local = {out->data() + old, len};
  struct iovec remote = {reinterpret_cast<void*>(addr), len};
  ssize_t n = ::process_vm_readv(tid, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(len)) return true;
  for (size_t i = 0; i < len; i += sizeof(long)) {
    errno = 0;
    long word = ::ptrace(PTRACE_PEEKDATA, tid, addr + i, nullptr);
    if (errno != 0) {
      out->resize(old);
      return false;
    }
    std::memcpy(out->data() + old + i, &word, std::min(sizeof(long), len - i));
  }
  return true;
}

// A socket, as stat() of /proc/<pid>/fd/<n> names it.
struct SockId {
  dev_t dev = 0;
  ino_t ino = 0;
};

// The NUL-terminated path at `addr` in `tid`, if it is shorter than `max`
// bytes; "" otherwise. Reads at most up to the end of the page first, so that
// a short path at the end of the last mapped page is still read.
std::string ReadPath(pid_t tid, uint64_t addr, size_t max) {
  constexpr uint64_t kPage = 4096;
  std::string out;
  size_t first = std::min<uint64_t>(max, kPage - addr % kPage);
  if (addr == 0 || !ReadMemory(tid, addr, first, &out)) return "";
  if (out.find('\0') == std::string::npos && first < max && !ReadMemory(tid, addr + first, max - first, &out)) {
    return "";
  }
  size_t nul = out.find('\0');
  return nul == std::string::npos ? "" : out.substr(0, nul);
}

bool AllDigits(absl::string_view s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<FdPath> ParseFdPath(absl::string_view path) {
  if (path == "/dev/stdin") return FdPath{"self", 0};
  if (path == "/dev/stdout") return FdPath{"self", 1};
  if (path == "/dev/stderr") return FdPath{"self", 2};
  FdPath out;
  if (absl::ConsumePrefix(&path, "/dev/fd/")) {
    out.proc = "self";
  } else if (absl::ConsumePrefix(&path, "/proc/")) {
    size_t at = path.find("/fd/");
    if (at == absl::string_view::npos) return std::nullopt;
    absl::string_view dir = path.substr(0, at);
    path.remove_prefix(at + 4);
    // self, thread-self, <pid>, or either of the first and third followed by
    // /task/<tid>.
    absl::string_view task;
    if (size_t t = dir.find("/task/"); t != absl::string_view::npos) {
      task = dir.substr(t + 6);
      dir = dir.substr(0, t);
      if (!AllDigits(task) || dir == "thread-self") return std::nullopt;
    }
    if (dir != "self" && dir != "thread-self" && !AllDigits(dir)) return std::nullopt;
    out.proc = std::string(dir);
    if (!task.empty()) absl::StrAppend(&out.proc, "/task/", task);
  } else {
    return std::nullopt;
  }
  if (!AllDigits(path)) return std::nullopt;
  out.fd = std::atoi(std::string(path).c_str());
  return out;
}

namespace {

// Our children, from /proc (they include orphans reparented to us).
std::vector<pid_t> OwnChildren() {
  std::vector<pid_t> out;
  std::string dir = absl::StrCat("/proc/", ::getpid(), "/task");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string kids = ReadSmallFile(absl::StrCat(dir, "/", e->d_name, "/children"));
    for (absl::string_view k : absl::StrSplit(kids, ' ', absl::SkipWhitespace())) {
      out.push_back(static_cast<pid_t>(std::strtol(std::string(k).c_str(), nullptr, 10)));
    }
  }
  ::closedir(d);
  return out;
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

// ---------------------------------------------------------------------------
// The child, between fork and exec: async-signal-safe calls only.

// Messages from the child on the report socket (SOCK_SEQPACKET: one message
// per write): a tag byte and an int.
enum ReportTag : char {
  kReportNetwork = 'N',   // 1: isolated.
  kReportSeccomp = 'S',   // errno of a failed seccomp().
  kReportChdir = 'C',     // errno.
  kReportExec = 'E',      // errno.
  kReportListener = 'L',  // The seccomp listener, as SCM_RIGHTS (untraced).
};

void Report(int fd, char tag, int value) {
  char msg[1 + sizeof(int)];
  msg[0] = tag;
  std::memcpy(msg + 1, &value, sizeof(int));
  mp::internal::signal_safe::WriteAll(fd, msg, sizeof(msg));
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
};

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
  } else {
    // Untraced: where seccomp user notification is allowed, reopening a
    // capture still works (the runner answers); elsewhere it fails (ENXIO).
    long listener = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, c.notify_filter);
    if (listener < 0 && errno == EACCES) {
      ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      listener = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, c.notify_filter);
    }
    if (listener >= 0) {
      // Sent before exec: the program's first open waits for the runner.
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
      int fd = static_cast<int>(listener);
      std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
      (void)!::sendmsg(report, &m, MSG_NOSIGNAL);
      ::close(fd);
    }
  }
  if (c.envp != nullptr) {
    ::execve(c.path, c.argv, c.envp);
  } else {
    ::execv(c.path, c.argv);
  }
  Report(report, kReportExec, errno);
  ::_exit(127);
}

// ---------------------------------------------------------------------------
// The tracer.

class Tracer {
 public:
  Tracer(const RunRequest& req, Observation* obs) : req_(req), obs_(obs) {}

  absl::Status Run();

 private:
  absl::Duration Since() const { return absl::Now() - start_; }

  ProcessRecord* Proc(pid_t tgid) {
    auto it = procs_.find(tgid);
    return it == procs_.end() ? nullptr : &obs_->processes[it->second];
  }
  // Records a process seen for the first time.
  ProcessRecord* AddProcess(pid_t tgid, pid_t forked_by);
  // Learns about `tid` (first stop, or a fork event naming it).
  void Discover(pid_t tid, pid_t forker_tgid, bool is_fork_event);
  void HandleStatus(pid_t tid, int status);
  void HandleStop(pid_t tid, int status);
  void HandleSeccomp(pid_t tid);
  void HandleNotification();
  // What an open(2)-family call of `tid` reopens: one of its fds that is a
  // capture (then the call must become a dup of it), or nothing.
  struct Reopen {
    int fd = 0;
    bool cloexec = false;
    std::string path;
  };
  std::optional<Reopen> ReopenOf(pid_t tid, uint64_t nr, const uint64_t* args);
  // The fd of `tid` that opening `path` would reopen, if it is a capture and
  // the same fd number of `tid` is that capture too.
  std::optional<int> ReopenedCapture(pid_t tid, const std::string& path);
  // Kills every process of the run still alive, and from now on every new
  // one, with SIGKILL, marking them killed_by_runner.
  void KillAll();
  // Reads everything the captures hold now, without blocking, into writes.
  // Called at every event the Observation records, before recording it: so
  // a process's writes (all returned before it reached its exit stop) come
  // before its end, and nothing caused by an event comes before it.
  void ReceiveCaptures();
  void Receive(int stream);
  // Appends `len` bytes read from `stream`, written by `pid`, to the
  // Observation (up to the caps); `continues`: to the last record. Returns
  // whether anything was recorded.
  bool Record(int stream, std::optional<pid_t> pid, const char* data, size_t len, bool continues);
  // Takes what the child reported before exec (report_r_), without blocking.
  void ReadReports();
  void Finish();

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
  size_t process_count_ = 0;

  // The runner's ends of the captures (index 1: stdout, 2: stderr), and the
  // program's ends as /proc/<pid>/fd shows them.
  UniqueFd cap_[3];
  bool open_[3] = {false, false, false};
  SockId ids_[3];
  std::string* captured_[3] = {nullptr, nullptr, nullptr};
  std::vector<char> buf_;
  // Untraced: the seccomp user-notification listener of the program's
  // filter, once the child has sent it.
  UniqueFd listener_;
  UniqueFd report_r_;
  bool report_open_ = true;
  int seccomp_errno_ = 0, chdir_errno_ = 0, exec_errno_ = 0;
  // Writers that were not traced processes, and bytes without credentials.
  absl::flat_hash_set<pid_t> unknown_writers_;
  size_t anonymous_bytes_ = 0;
};

ProcessRecord* Tracer::AddProcess(pid_t tgid, pid_t forked_by) {
  ProcessRecord rec;
  rec.pid = tgid;
  rec.forked_by = forked_by;
  rec.started = Since();
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
    return;
  }
  pid_t tgid = is_fork_event ? tid : TgidOf(tid);
  if (tgid == 0) tgid = tid;
  threads_[tid] = tgid;
  if (tgid != tid) return;  // A thread of a known process.
  ProcessRecord* existing = Proc(tgid);
  if (existing != nullptr && !existing->ended) return;
  AddProcess(tgid, forker_tgid);
}

std::optional<int> Tracer::ReopenedCapture(pid_t tid, const std::string& path) {
  std::optional<FdPath> fp = ParseFdPath(path);
  if (!fp) return std::nullopt;
  auto it = threads_.find(tid);
  pid_t tgid = it != threads_.end() ? it->second : tid;
  std::string proc = fp->proc == "self"          ? absl::StrCat(tgid)
                     : fp->proc == "thread-self" ? absl::StrCat(tgid, "/task/", tid)
                     : absl::StartsWith(fp->proc, "self/") ? absl::StrCat(tgid, fp->proc.substr(4))
                                                          : fp->proc;
  auto capture = [&](const std::string& p) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
    for (int s = 1; s <= 2; ++s) {
      if (st.st_ino == ids_[s].ino && st.st_dev == ids_[s].dev) return true;
    }
    return false;
  };
  // The path may name another process's fd: the dup is only the same file
  // when the caller's fd with that number is the same capture (a child
  // opening /proc/<parent>/fd/1, as bash's /proc/$$/fd/1 does in a subshell).
  std::string own = absl::StrCat("/proc/", tid, "/fd/", fp->fd);
  if (!capture(own)) return std::nullopt;
  std::string named = absl::StrCat("/proc/", proc, "/fd/", fp->fd);
  if (named != absl::StrCat("/proc/", tgid, "/fd/", fp->fd) && named != own) {
    struct stat a, b;
    if (::stat(own.c_str(), &a) != 0 || ::stat(named.c_str(), &b) != 0 || a.st_ino != b.st_ino ||
        a.st_dev != b.st_dev) {
      return std::nullopt;
    }
  }
  return fp->fd;
}

// A seccomp stop is an open(2) family call (kOpenSyscalls). Opening a Unix
// socket through /proc fails with ENXIO where a pipe would reopen: a program
// that writes to /dev/stdout (bash's `echo x > /dev/stderr`) would fail under
// the runner only. When the path names one of the caller's fds that is a
// capture, the call becomes fcntl(fd, F_DUPFD[_CLOEXEC], 0): the lowest free
// fd, as open() returns, on the same capture. Unlike a reopened pipe, the new
// fd shares the open file description (its O_APPEND/O_NONBLOCK flags).
std::optional<Tracer::Reopen> Tracer::ReopenOf(pid_t tid, uint64_t nr, const uint64_t* args) {
  uint64_t path_at = 0, flags = 0;
  bool refuse_magic = false;
  switch (nr) {
    case SYS_open:
      path_at = args[0];
      flags = args[1];
      break;
    case SYS_creat:
      path_at = args[0];
      flags = O_CREAT | O_WRONLY | O_TRUNC;
      break;
    case SYS_openat:
      path_at = args[1];
      flags = args[2];
      break;
    case SYS_openat2: {
      // struct open_how: flags, mode, resolve (u64 each). Unreadable or
      // too small: the call fails by itself, and must go on failing.
      std::string how;
      if (args[3] < 24 || !ReadMemory(tid, args[2], 24, &how)) break;
      path_at = args[1];
      uint64_t resolve = 0;
      std::memcpy(&flags, how.data(), 8);
      std::memcpy(&resolve, how.data() + 16, 8);
      // RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT:
      // the open fails there, and must go on failing.
      refuse_magic = (resolve & 0x1e) != 0;
      break;
    }
    default:
      break;
  }
  // O_PATH opens a socket fine; O_DIRECTORY fails on it, and O_CREAT|O_EXCL
  // on anything that exists, as on a pipe.
  bool fails_anyway = (flags & O_DIRECTORY) != 0 || ((flags & O_CREAT) != 0 && (flags & O_EXCL) != 0);
  if (path_at == 0 || refuse_magic || (flags & O_PATH) != 0 || fails_anyway) return std::nullopt;
  // The paths that can name an fd are short; 64 bytes rule out the rest.
  std::string path = ReadPath(tid, path_at, 64);
  if (path.empty() || !(absl::StartsWith(path, "/dev/") || absl::StartsWith(path, "/proc/"))) return std::nullopt;
  std::optional<int> fd = ReopenedCapture(tid, path);
  if (!fd) return std::nullopt;
  return Reopen{*fd, (flags & O_CLOEXEC) != 0, std::move(path)};
}

// A seccomp stop is an open(2) family call (kOpenSyscalls). Opening a Unix
// socket through /proc fails with ENXIO where a pipe would reopen: a program
// that writes to /dev/stdout (bash's `echo x > /dev/stderr`) would fail under
// the runner only. When the path names one of the caller's fds that is a
// capture, the call becomes fcntl(fd, F_DUPFD[_CLOEXEC], 0): the lowest free
// fd, as open() returns, on the same capture. Unlike a reopened pipe, the new
// fd shares the open file description (its O_APPEND/O_NONBLOCK flags).
void Tracer::HandleSeccomp(pid_t tid) {
  struct __ptrace_syscall_info info;
  if (::ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(info), &info) > 0 && info.op == PTRACE_SYSCALL_INFO_SECCOMP) {
    std::optional<Reopen> r =
        ReopenOf(tid, info.seccomp.nr, reinterpret_cast<const uint64_t*>(info.seccomp.args));
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

// Untraced, the same opens reach the runner as seccomp user notifications
// (the program's filter has SECCOMP_RET_USER_NOTIF for them): a reopened
// capture gets the caller's own fd back through SECCOMP_IOCTL_NOTIF_ADDFD,
// which also completes the call with the new fd (the lowest free one);
// anything else continues as if there were no filter.
void Tracer::HandleNotification() {
  static const struct seccomp_notif_sizes sizes = [] {
    struct seccomp_notif_sizes s = {};
    if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) != 0) s = {};
    return s;
  }();
  std::vector<char> req_buf(std::max<size_t>(sizes.seccomp_notif, sizeof(struct seccomp_notif)));
  std::vector<char> resp_buf(std::max<size_t>(sizes.seccomp_notif_resp, sizeof(struct seccomp_notif_resp)));
  auto* req = reinterpret_cast<struct seccomp_notif*>(req_buf.data());
  if (::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_RECV, req) != 0) {
    // ENOENT: the caller died meanwhile; EINTR: try again when polled.
    if (errno != ENOENT && errno != EINTR) listener_.reset();
    return;
  }
  pid_t tid = static_cast<pid_t>(req->pid);
  std::optional<Reopen> r = ReopenOf(tid, static_cast<uint64_t>(req->data.nr),
                                     reinterpret_cast<const uint64_t*>(req->data.args));
  if (r && ::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) == 0) {
    // The caller's own fd: its fd table, not ours, holds the capture's
    // program end. PIDFD_THREAD (O_EXCL): the caller may be any thread.
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, tid, O_EXCL)));
    if (!pidfd.valid()) pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, tid, 0)));
    UniqueFd src(pidfd.valid() ? static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), r->fd, 0)) : -1);
    if (src.valid()) {
      struct seccomp_notif_addfd add = {};
      add.id = req->id;
      add.flags = SECCOMP_ADDFD_FLAG_SEND;
      add.srcfd = static_cast<uint32_t>(src.get());
      add.newfd_flags = r->cloexec ? O_CLOEXEC : 0;
      if (::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &add) >= 0 || errno == ENOENT) return;
    }
  }
  auto* resp = reinterpret_cast<struct seccomp_notif_resp*>(resp_buf.data());
  resp->id = req->id;
  resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  (void)::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND, resp);
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
        p->execs.push_back(Argv0Of(tgid));
        p->exec_at.push_back(Since());
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
  if (p == nullptr) p = AddProcess(tgid, 0);  // Reparented to us, never traced.
  p->ended = Since();
  p->exit = mp::ExitStatus::FromWaitStatus(status);
  if (tgid == root_ && !root_ended_) {
    root_ended_ = true;
    if (!kill_at_) kill_at_ = absl::Now() + req_.leak_grace;
  }
}

void Tracer::KillAll() {
  if (!killing_) killed_at_ = absl::Now();
  killing_ = true;
  for (ProcessRecord& p : obs_->processes) {
    if (p.ended || p.killed_by_runner) continue;
    ::kill(p.pid, SIGKILL);
    p.killed_by_runner = !exiting_.contains(p.pid);
  }
  // Orphans we did not trace (untraced runs) were reparented to us.
  for (pid_t kid : OwnChildren()) {
    ProcessRecord* p = Proc(kid);
    if (p != nullptr && p->ended) continue;  // A zombie we reap next.
    if (p == nullptr) p = AddProcess(kid, 0);  // Killed there.
    if (!p->killed_by_runner) {
      ::kill(kid, SIGKILL);
      p->killed_by_runner = true;
    }
  }
}

void Tracer::ReceiveCaptures() {
  for (int s = 1; s <= 2; ++s) Receive(s);
}

// SO_PASSCRED on the runner's end makes each read return the bytes of one
// writer only (unix_stream_read_generic never glues data from different
// senders then), with an SCM_CREDENTIALS message naming its thread group, as
// a pid of the runner's pid namespace; and the receive queue holds the
// writes in the order they happened. So every run of bytes read is
// attributed and ordered by the kernel, and writers never stop.
//
// The pid is the writer's at the time of the write (the queued bytes hold a
// reference to its struct pid), translated when read. The ProcessRecord it
// names is unambiguous in a traced run: a traced process's pid is freed only
// after the runner, its tracer, has reaped it, and the captures are drained
// right then, before recording its end (and at its exit stop), so every byte
// it wrote is read before its pid can be reused. Untraced, a grandchild is
// reaped by its parent, not the runner, and its pid may be reused before its
// last bytes are read; then they name the new process (the tree is unknown
// there anyway).
void Tracer::Receive(int s) {
  // recvmmsg: one system call reads up to kBatch runs (a read stops at each
  // change of writer, so runs are short when many processes write at once).
  constexpr size_t kControl = CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int));
  struct mmsghdr msgs[kBatch];
  struct iovec iovs[kBatch];
  alignas(struct cmsghdr) char control[kBatch][kControl];
  while (open_[s]) {
    for (size_t i = 0; i < kBatch; ++i) {
      iovs[i] = {buf_.data() + i * kPiece, kPiece};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = control[i];
      msgs[i].msg_hdr.msg_controllen = kControl;
    }
    int got = ::recvmmsg(cap_[s].get(), msgs, kBatch, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, nullptr);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        obs_->anomalies.push_back(absl::StrCat("reading the captured ", s == 1 ? "stdout" : "stderr",
                                               " failed: ", ::strerror(errno)));
        open_[s] = false;
      }
      return;
    }
    std::optional<pid_t> last;  // The writer of the previous piece of this batch, if recorded.
    for (int i = 0; i < got; ++i) {
      struct msghdr& m = msgs[i].msg_hdr;
      std::optional<pid_t> pid;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
          struct ucred u;
          std::memcpy(&u, CMSG_DATA(c), sizeof(u));
          pid = u.pid;
        } else if (c->cmsg_type == SCM_RIGHTS) {
          // fds a program sent to its stdout are nobody's business here.
          size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (size_t k = 0; k < count; ++k) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
            ::close(fd);
          }
        }
      }
      if (msgs[i].msg_len == 0) {  // EOF (every later piece is empty too).
        open_[s] = false;
        return;
      }
      // Consecutive pieces of one batch from the same writer are one run:
      // no other writer's bytes came between them.
      bool recorded = Record(s, pid, buf_.data() + static_cast<size_t>(i) * kPiece, msgs[i].msg_len,
                             pid && pid == last);
      last = recorded ? pid : std::nullopt;
    }
    if (got < static_cast<int>(kBatch)) return;  // Nothing more now.
  }
}

bool Tracer::Record(int s, std::optional<pid_t> pid, const char* data, size_t len, bool continues) {
  if (!pid) anonymous_bytes_ += len;
  // A traced tree cannot write before its process is known: a new process
  // starts stopped, and runs only once Discover() has recorded it.
  if (pid && traced_ && !procs_.contains(*pid)) unknown_writers_.insert(*pid);
  std::string* dst = captured_[s];
  size_t room = req_.max_output_bytes - std::min(req_.max_output_bytes, dst->size());
  if (!continues && obs_->writes.size() >= kMaxWriteRecords) room = 0;
  size_t keep = std::min(len, room);
  if (keep < len) obs_->output_truncated = true;
  if (keep == 0) return false;  // Past a cap: read on, so that writers never block, and drop.
  dst->append(data, keep);
  if (continues && !obs_->writes.empty() && obs_->writes.back().stream == s) {
    obs_->writes.back().data.append(data, keep);
    return true;
  }
  WriteRecord w;
  w.pid = pid.value_or(0);
  w.stream = s;
  w.data.assign(data, keep);
  w.at = Since();
  obs_->writes.push_back(std::move(w));
  return true;
}

void Tracer::ReadReports() {
  while (report_r_.valid()) {
    char msg[1 + sizeof(int)];
    struct iovec iov = {msg, sizeof(msg)};
    alignas(struct cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
    struct msghdr m = {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(report_r_.get(), &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // 0: the child exec'd or died, and nothing more can come.
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) report_open_ = false;
      return;
    }
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < count; ++k) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
        if (msg[0] == kReportListener && !listener_.valid()) {
          listener_.reset(fd);
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
        obs_->network_isolated = value == 1;
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

void Tracer::Finish() {
  if (anonymous_bytes_ != 0) {
    obs_->anomalies.push_back(
        absl::StrCat(anonymous_bytes_, " captured bytes came without the writer's credentials (pid 0)"));
  }
  if (!unknown_writers_.empty()) {
    std::vector<pid_t> pids(unknown_writers_.begin(), unknown_writers_.end());
    std::sort(pids.begin(), pids.end());
    obs_->anomalies.push_back(absl::StrCat("writes from pids the runner did not trace: ", absl::StrJoin(pids, " ")));
  }
  // The records and the captured bytes come from the same reads; this checks
  // the bookkeeping (the caps), not the kernel.
  std::string concat[3];
  for (const WriteRecord& w : obs_->writes) concat[w.stream] += w.data;
  for (int s = 1; s <= 2; ++s) {
    const std::string& cap = *captured_[s];
    if (concat[s] == cap) continue;
    size_t i = 0;
    while (i < cap.size() && i < concat[s].size() && cap[i] == concat[s][i]) ++i;
    absl::StrAppend(&obs_->attribution_mismatch, obs_->attribution_mismatch.empty() ? "" : "; ",
                    s == 1 ? "stdout" : "stderr", ": ", cap.size(), " bytes captured, ", concat[s].size(),
                    " attributed, first difference at byte ", i);
  }
}

// A capture: a Unix stream socketpair, `mine` the runner's end (SO_PASSCRED:
// see Receive) and `theirs` the program's stdout or stderr, shut for reading
// (a program that reads its stdout gets EOF instead of blocking forever).
// `id` names `theirs` as /proc/<pid>/fd shows it.
absl::Status MakeCapture(UniqueFd* mine, UniqueFd* theirs, SockId* id) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return mp::PyOSError(errno, "socketpair()");
  mine->reset(sv[0]);
  theirs->reset(sv[1]);
  int one = 1;
  if (::setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0) {
    return mp::PyOSError(errno, "setsockopt(SO_PASSCRED)");
  }
  // Every write queues a buffer of ~1 KiB or more against the sender's
  // SO_SNDBUF, shared by all writers: the default (~200 KiB) would block the
  // program after a few hundred short lines while the runner handles a stop.
  // SO_SNDBUFFORCE passes net.core.wmem_max where allowed.
  int size = 4 << 20;
  if (::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0) {
    (void)::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
  if (::shutdown(sv[1], SHUT_RD) != 0) return mp::PyOSError(errno, "shutdown(SHUT_RD)");
  struct stat st;
  if (::fstat(sv[1], &st) != 0) return mp::PyOSError(errno, "fstat");
  *id = {st.st_dev, st.st_ino};
  return absl::OkStatus();
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

absl::Status Tracer::Run() {
  if (req_.argv.empty()) return mp::PyError(mp::PyExc::kValueError, "RunRequest.argv is empty");

  // Everything the child needs, prepared before fork.
  std::string path = ResolveProgram(req_.argv[0], req_.env);
  std::vector<char*> argv;
  for (const std::string& a : req_.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env = TraceeEnvironment(req_.env);
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::vector<sock_filter> filter = BuildFilter();
  sock_fprog prog = {static_cast<unsigned short>(filter.size()), filter.data()};

  UniqueFd theirs[3];
  for (int s = 1; s <= 2; ++s) {
    absl::Status made = MakeCapture(&cap_[s], &theirs[s], &ids_[s]);
    if (!made.ok()) return made;
    open_[s] = true;
  }
  buf_.resize(kBatch * kPiece);
  absl::StatusOr<mp::internal::PipeFds> go = mp::internal::MakePipe();
  if (!go.ok()) return go.status();
  int report_sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, report_sv) != 0) {
    return mp::PyOSError(errno, "socketpair()");
  }
  report_r_.reset(report_sv[0]);
  UniqueFd report_w(report_sv[1]);
  std::vector<sock_filter> notify_filter = BuildNotifyFilter();
  sock_fprog notify_prog = {static_cast<unsigned short>(notify_filter.size()), notify_filter.data()};
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) return mp::PyOSError(errno, "open /dev/null");
  captured_[1] = &obs_->stdout_bytes;
  captured_[2] = &obs_->stderr_bytes;

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

  ChildSetup setup = {path.c_str(),
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
  std::fflush(nullptr);
  start_ = absl::Now();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    restore();
    return mp::PyOSError(e, "fork()");
  }
  if (pid == 0) ChildMain(setup);
  root_ = pid;
  theirs[1].reset();
  theirs[2].reset();
  go->read.reset();
  report_w.reset();
  devnull.reset();

  AddProcess(pid, 0);
  threads_[pid] = pid;
  if (req_.trace) {
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
  obs_->traced = traced_;
  char go_byte = traced_ ? 'T' : 'U';
  (void)!::write(go->write.get(), &go_byte, 1);
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
    struct pollfd fds[5] = {{sigfd.get(), POLLIN, 0},
                            {open_[1] ? cap_[1].get() : -1, POLLIN, 0},
                            {open_[2] ? cap_[2].get() : -1, POLLIN, 0},
                            {report_open_ ? report_r_.get() : -1, POLLIN, 0},
                            {listener_.valid() ? listener_.get() : -1, POLLIN, 0}};
    int r = ::poll(fds, 5, timeout_ms);
    if (r > 0) {
      if (fds[0].revents) {
        // One read: poll is level-triggered, so anything left wakes us again.
        struct signalfd_siginfo si[16];
        (void)!::read(sigfd.get(), si, sizeof(si));
      }
      if (fds[1].revents || fds[2].revents) ReceiveCaptures();
      if (fds[3].revents) ReadReports();
      if (fds[4].revents & POLLIN) {
        HandleNotification();
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
  while ((open_[1] || open_[2]) && absl::Now() < drain_until) {
    struct pollfd fds[2] = {{open_[1] ? cap_[1].get() : -1, POLLIN, 0}, {open_[2] ? cap_[2].get() : -1, POLLIN, 0}};
    ::poll(fds, 2, 50);
    ReceiveCaptures();
  }
  if (open_[1] || open_[2]) obs_->anomalies.push_back("a capture stayed open after every process was gone");
  restore();

  // What the child reported before exec.
  ReadReports();
  listener_.reset();
  report_r_.reset();
  if (seccomp_errno_ != 0) {
    obs_->anomalies.push_back(absl::StrCat("seccomp unavailable (", ::strerror(seccomp_errno_),
                                           "): clone3 and io_uring were not blocked, and reopening /dev/stdout failed"));
  }
  if (chdir_errno_ != 0) return mp::PyOSError(chdir_errno_, absl::StrCat("chdir ", req_.cwd));
  if (exec_errno_ != 0) return mp::PyOSError(exec_errno_, absl::StrCat("exec ", path));
  Finish();
  // The root first, then by start.
  std::stable_sort(obs_->processes.begin() + 1, obs_->processes.end(),
                   [](const ProcessRecord& a, const ProcessRecord& b) { return a.started < b.started; });
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Observation> Run(const RunRequest& req) {
  Observation obs;
  Tracer tracer(req, &obs);
  absl::Status s = tracer.Run();
  if (!s.ok()) return s;
  return obs;
}

}  // namespace conformance
