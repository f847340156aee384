#include "mp/process.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio_ext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/exceptions.h"
#include "mp/internal/popen_fork.h"
#include "mp/os.h"

namespace mp {
namespace internal {

struct ProcessState {
  std::function<void()> target;
  std::string name;
  bool daemon = false;
  std::vector<int> identity;
  pid_t parent_pid = -1;  // -1 for MainProcess, which has no parent here.
  std::string parent_name;
  bool is_main = false;
  bool closed = false;
  std::unique_ptr<Child> child;  // Set once, by Start().
};

}  // namespace internal

namespace {

using internal::ProcessState;

// Per-process bookkeeping, CPython's module globals _current_process,
// _parent_process, _process_counter and _children. A forked child starts a
// fresh one (the old one is deliberately leaked: another parent thread may
// have held its lock at the moment of fork).
struct Registry {
  std::mutex mu;
  std::shared_ptr<ProcessState> current;
  std::optional<ParentInfo> parent;
  int counter = 0;
  std::vector<std::shared_ptr<ProcessState>> children;
  bool in_child = false;
  bool atexit_registered = false;
};

// Made on first use, so that a Process or Pool constructed during static
// initialization (a global Pool) finds it, whatever the order of
// initialization across files.
Registry*& TheRegistry() {
  static Registry* registry = new Registry;
  return registry;
}

std::shared_ptr<ProcessState> CurrentState(Registry& r) {
  // Caller holds r.mu.
  if (!r.current) {
    r.current = std::make_shared<ProcessState>();
    r.current->name = "MainProcess";
    r.current->is_main = true;
  }
  return r.current;
}

void Discard(const ProcessState* state) {
  Registry& r = *TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::erase_if(r.children, [state](const auto& c) { return c.get() == state; });
}

// Drops children that have ended, reaping them: CPython's _cleanup().
void Cleanup(Registry& r) {
  std::erase_if(r.children, [](const auto& c) { return c->child->Poll().has_value(); });
}

// CPython's util._exit_function: terminate daemonic children, then join all.
void RunExitFunction() {
  for (Process& p : ActiveChildren()) {
    if (p.daemon()) (void)p.Terminate();
  }
  for (Process& p : ActiveChildren()) (void)p.Join();
}

void AtExit() { RunExitFunction(); }

// CPython's util._close_stdin(): a child reads /dev/null, not its parent's
// stdin. C++ has no sys.stdin apart from fd 0, so fd 0 itself becomes
// /dev/null (CPython leaves fd 0 to subprocesses and only repoints
// sys.stdin), and input the parent's stdio had buffered is dropped, as
// closing sys.stdin drops its buffer.
void CloseStdin() {
  __fpurge(stdin);
  ::close(0);
  int fd = ::open("/dev/null", O_RDONLY);  // The lowest free fd: 0.
  if (fd > 0) {
    ::dup2(fd, 0);
    ::close(fd);
  }
  std::clearerr(stdin);
}

// std::exit(status) in a child, the natural port of sys.exit(status): as
// CPython's child ends with os._exit after SystemExit, the child joins its
// own children and flushes stdio, then _exits, so that no exit handler its
// parent registered (its atexit functions, the destructors of its globals:
// a global Pool's would stop the parent's pool) runs in the child.
// Registered in the child, so it runs before every handler the parent had.
void ExitInChild(int status, void*) {
  RunExitFunction();
  FlushStdio();
  ::_exit(status);
}

// Runs in the child: CPython's BaseProcess._bootstrap.
int Bootstrap(const std::shared_ptr<ProcessState>& self) {
  CloseStdin();
  Registry* r = new Registry;
  r->current = self;
  r->parent = ParentInfo{self->parent_name, self->parent_pid};
  r->in_child = true;
  TheRegistry() = r;
  ::on_exit(ExitInChild, nullptr);

  int code = 0;
  try {
    self->target();
  } catch (const SystemExit& e) {
    code = e.code;  // Python: sys.exit(n); the stack has unwound.
  } catch (...) {
    code = 1;
    internal::CaughtException e = internal::CurrentException();
    FlushStdio();
    if (e.is_std_exception) {
      std::fprintf(stderr, "Process %s:\n%s: %s\n", self->name.c_str(), e.type.c_str(), e.what.c_str());
    } else {
      std::fprintf(stderr, "Process %s:\nunknown exception (not derived from std::exception)\n", self->name.c_str());
    }
  }
  RunExitFunction();
  FlushStdio();
  return code;
}

absl::Status ClosedError() { return PyError(PyExc::kValueError, "process object is closed"); }

}  // namespace

Process::Process(std::function<void()> target, ProcessOptions options)
    : state_(std::make_shared<ProcessState>()) {
  Registry& r = *TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::shared_ptr<ProcessState> current = CurrentState(r);
  state_->target = std::move(target);
  state_->identity = current->identity;
  state_->identity.push_back(++r.counter);
  state_->name = options.name.empty() ? absl::StrCat("Process-", absl::StrJoin(state_->identity, ":"))
                                      : std::move(options.name);
  state_->daemon = options.daemon.value_or(current->daemon);
  state_->parent_pid = ::getpid();
  state_->parent_name = current->name;
}

absl::Status Process::Start() {
  if (state_->closed) return ClosedError();
  if (state_->child || state_->is_main) return PyError(PyExc::kAssertionError, "cannot start a process twice");
  if (state_->parent_pid != ::getpid()) {
    return PyError(PyExc::kAssertionError, "can only start a process object created by current process");
  }
  Registry& r = *TheRegistry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (CurrentState(r)->daemon) {
      return PyError(PyExc::kAssertionError, "daemonic processes are not allowed to have children");
    }
    Cleanup(r);
    if (!r.in_child && !r.atexit_registered) {
      r.atexit_registered = true;
      std::atexit(AtExit);
    }
  }
  const std::shared_ptr<ProcessState>& self = state_;
  absl::StatusOr<std::unique_ptr<internal::Child>> child = internal::ForkChild([&self] { return Bootstrap(self); });
  if (!child.ok()) return child.status();
  state_->child = *std::move(child);
  state_->target = nullptr;  // As CPython drops _target: free the captures now.
  std::lock_guard<std::mutex> lock(r.mu);
  r.children.push_back(state_);
  return absl::OkStatus();
}

absl::Status Process::Join(absl::Duration timeout) {
  return JoinUntil(absl::Now() + timeout);
}

absl::Status Process::JoinUntil(absl::Time deadline) {
  if (state_->closed) return ClosedError();
  if (state_->parent_pid != ::getpid()) return PyError(PyExc::kAssertionError, "can only join a child process");
  if (!state_->child) return PyError(PyExc::kAssertionError, "can only join a started process");
  absl::StatusOr<std::optional<ExitStatus>> st = state_->child->Wait(deadline);
  if (!st.ok()) return st.status();
  if (*st) Discard(state_.get());
  return absl::OkStatus();
}

absl::StatusOr<bool> Process::IsAlive() const {
  if (state_->closed) return ClosedError();
  if (state_ == CurrentProcess().state_) return true;
  if (state_->parent_pid != ::getpid()) return PyError(PyExc::kAssertionError, "can only test a child process");
  if (!state_->child) return false;
  if (!state_->child->Poll()) return true;
  Discard(state_.get());
  return false;
}

absl::Status Process::Terminate() {
  if (state_->closed) return ClosedError();
  if (!state_->child) return PyError(PyExc::kAssertionError, "can only terminate a started process");
  return state_->child->SendSignal(SIGTERM);
}

absl::Status Process::Kill() {
  if (state_->closed) return ClosedError();
  if (!state_->child) return PyError(PyExc::kAssertionError, "can only kill a started process");
  return state_->child->SendSignal(SIGKILL);
}

absl::Status Process::Close() {
  if (state_->child) {
    if (!state_->child->Poll()) {
      return PyError(PyExc::kValueError,
                     "Cannot close a process while it is still running. You should first call join() or "
                     "terminate().");
    }
    Discard(state_.get());
  }
  state_->closed = true;
  return absl::OkStatus();
}

std::optional<pid_t> Process::pid() const {
  if (state_->child) return state_->child->pid();
  if (state_ == CurrentProcess().state_) return ::getpid();
  return std::nullopt;
}

std::optional<ExitStatus> Process::exit_status() const {
  if (!state_->child) return std::nullopt;
  return state_->child->Poll();
}

std::optional<int> Process::exitcode() const {
  std::optional<ExitStatus> st = exit_status();
  if (!st) return std::nullopt;
  return st->python_returncode();
}

absl::StatusOr<int> Process::sentinel() const {
  if (state_->closed) return ClosedError();
  if (!state_->child) return PyError(PyExc::kValueError, "process not started");
  return state_->child->Sentinel();
}

const std::string& Process::name() const { return state_->name; }

void Process::set_name(std::string name) { state_->name = std::move(name); }

bool Process::daemon() const { return state_->daemon; }

absl::Status Process::set_daemon(bool daemon) {
  if (state_->child) return PyError(PyExc::kAssertionError, "process has already started");
  state_->daemon = daemon;
  return absl::OkStatus();
}

void Exit(int code) {
  bool in_child;
  {
    Registry& r = *TheRegistry();
    std::lock_guard<std::mutex> lock(r.mu);
    in_child = r.in_child;
  }
  if (!in_child) std::exit(code);
  RunExitFunction();
  FlushStdio();
  ::_exit(code);
}

Process CurrentProcess() {
  Registry& r = *TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  return Process(CurrentState(r));
}

std::optional<ParentInfo> ParentProcess() {
  Registry& r = *TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.parent;
}

std::vector<Process> ActiveChildren() {
  Registry& r = *TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  Cleanup(r);
  std::vector<Process> out;
  out.reserve(r.children.size());
  for (const auto& c : r.children) out.push_back(Process(c));
  return out;
}

int CpuCount() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int ProcessCpuCount() {
  // Machines with more CPUs than a cpu_set_t holds need a larger mask.
  for (int cpus = CPU_SETSIZE; cpus <= (1 << 16); cpus *= 2) {
    cpu_set_t* set = CPU_ALLOC(cpus);
    if (set == nullptr) break;
    const size_t size = CPU_ALLOC_SIZE(cpus);
    const int r = ::sched_getaffinity(0, size, set);
    const int n = r == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (r == 0) return n > 0 ? n : 1;
    if (errno != EINVAL) break;
  }
  return CpuCount();
}

}  // namespace mp
